"""``lambda-admm predict`` and the model file, and the estimators loading that directory."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_classification, make_regression
from typer.testing import CliRunner

from scheduler_host.cli.app import app
from scheduler_host.estimators import ADMMElasticNet, ADMMLasso, ADMMLogisticRegression

runner = CliRunner()
TIGHT = ["--eps-primal", "1e-9", "--eps-dual", "1e-9", "--max-iter", "3000", "--workers", "2"]


def _classification_files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    features, classes = make_classification(n_samples=500, n_features=10, random_state=7)
    labels = np.where(classes > 0, 4.0, 2.0)  # breast-cancer style {2, 4}
    dump_svmlight_file(features[:400], labels[:400], str(tmp_path / "train.svm"))
    dump_svmlight_file(features[400:], labels[400:], str(tmp_path / "test.svm"))
    return tmp_path / "train.svm", tmp_path / "test.svm", features[400:], labels[400:]


def _solve(data: Path, out: Path, *flags: str) -> dict:
    solved = runner.invoke(app, ["solve", "--data", str(data), *TIGHT, *flags, "--out", str(out)])
    assert solved.exit_code == 0, solved.output
    return json.loads((out / "model.json").read_text())


def test_a_classifier_predicts_its_own_labels_with_probabilities(tmp_path: Path) -> None:
    train, test, features, labels = _classification_files(tmp_path)
    model = _solve(train, tmp_path / "run", "--l1", "2", "--fit-intercept")
    assert model["labels"] == {"negative": 2.0, "positive": 4.0}
    assert model["num_features"] == 10
    assert model["zero_based"] is True  # dump_svmlight_file writes 0-based indices
    assert model["loss"] == "logistic" and model["intercept"] is not None
    out = tmp_path / "predictions.csv"
    answer = runner.invoke(
        app, ["predict", "--model", str(tmp_path / "run"), "--data", str(test), "--out", str(out)]
    )
    assert answer.exit_code == 0, answer.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["prediction", "margin", "probability_4"]
    # Recomputed here from x.npy and the intercept: margin, label, probability.
    margins = features @ np.load(tmp_path / "run" / "x.npy") + model["intercept"]
    predicted = np.where(margins > 0, 4.0, 2.0)
    np.testing.assert_allclose([float(row[1]) for row in rows[1:]], margins, rtol=1e-12)
    assert [float(row[0]) for row in rows[1:]] == list(predicted)
    np.testing.assert_allclose(
        [float(row[2]) for row in rows[1:]], 1 / (1 + np.exp(-margins)), rtol=1e-12
    )
    accuracy = np.mean(predicted == labels)
    assert answer.output == f"wrote 100 predictions to {out}; accuracy {accuracy:.6g}\n"
    assert accuracy > 0.8


def test_a_regression_reports_its_rmse(tmp_path: Path) -> None:
    features, targets = make_regression(n_samples=300, n_features=6, noise=2.0, random_state=3)
    dump_svmlight_file(features[:200], targets[:200], str(tmp_path / "train.svm"))
    dump_svmlight_file(features[200:], targets[200:], str(tmp_path / "test.svm"))
    model = _solve(tmp_path / "train.svm", tmp_path / "run", "--loss", "squared", "--l1", "1")
    assert model["labels"] is None and model["intercept"] is None
    out = tmp_path / "p.csv"
    answer = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path / "run"),
            "--data",
            str(tmp_path / "test.svm"),
            "--out",
            str(out),
        ],
    )
    assert answer.exit_code == 0, answer.output
    x = np.load(tmp_path / "run" / "x.npy")
    rmse = np.sqrt(np.mean((features[200:] @ x - targets[200:]) ** 2))
    assert answer.output == f"wrote 100 predictions to {out}; RMSE {rmse:.6g}\n"


def test_bad_inputs_name_the_flag(tmp_path: Path) -> None:
    train, test, _, _ = _classification_files(tmp_path)
    empty = runner.invoke(app, ["predict", "--model", str(tmp_path), "--data", str(test)])
    assert empty.exit_code == 2
    assert (
        f"error: --model: {tmp_path} has no model.json (allowed: a result directory "
        "of `lambda-admm solve`, from this version on)" in empty.output
    )
    _solve(train, tmp_path / "run", "--l1", "2")
    wide = tmp_path / "wide.svm"
    wide.write_text("4 1:0.5 11:2\n")
    beyond = runner.invoke(app, ["predict", "--model", str(tmp_path / "run"), "--data", str(wide)])
    assert (
        f"error: --data: {wide} line 1: feature index 11 is beyond the model's "
        "number of features, 10 (allowed: indices 0 to 9)"
    ) in beyond.output
    (tmp_path / "taken.csv").write_text("mine")
    taken = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path / "run"),
            "--data",
            str(test),
            "--out",
            str(tmp_path / "taken.csv"),
        ],
    )
    assert (
        f"error: --out: {tmp_path / 'taken.csv'} exists (allowed: a new file, or "
        "--overwrite)" in taken.output
    )
    assert (tmp_path / "taken.csv").read_text() == "mine"
    x = tmp_path / "run" / "x.npy"
    x.write_bytes(x.read_bytes()[:-8] + np.float64(1.0).tobytes())
    tampered = runner.invoke(
        app, ["predict", "--model", str(tmp_path / "run"), "--data", str(test)]
    )
    assert f"error: --model: {x} failed its sha256 check: model.json says" in tampered.output


def test_the_estimator_loads_the_directory_and_refits_to_the_same_answer(tmp_path: Path) -> None:
    train, _, features, _ = _classification_files(tmp_path)
    model = _solve(train, tmp_path / "run", "--l1", "2", "--fit-intercept")
    loaded = ADMMLogisticRegression.from_model_dir(tmp_path / "run")
    # Σ ℓ + 2‖β‖₁ is scikit-learn's C Σ ℓ + ‖β‖₁ divided by C = 1/2, all of it L1.
    assert loaded.get_params()["C"] == pytest.approx(0.5, rel=1e-15) and loaded.l1_ratio == 1.0
    np.testing.assert_array_equal(loaded.classes_, [2.0, 4.0])
    margins = features @ np.load(tmp_path / "run" / "x.npy") + model["intercept"]
    np.testing.assert_allclose(loaded.decision_function(features), margins, rtol=1e-12)
    restored = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(restored.predict(features), loaded.predict(features))
    from sklearn.datasets import load_svmlight_file

    train_x, train_y = load_svmlight_file(str(train))
    refit = ADMMLogisticRegression(**{**loaded.get_params(), "tol": 1e-9}).fit(train_x, train_y)
    np.testing.assert_allclose(refit.coef_, loaded.coef_, atol=1e-6)
    np.testing.assert_allclose(refit.intercept_, loaded.intercept_, atol=1e-6)


def test_loading_refuses_another_loss_and_a_penalty_without_parameters(tmp_path: Path) -> None:
    train, _, _, _ = _classification_files(tmp_path)
    _solve(train, tmp_path / "run", "--l1", "2")
    with pytest.raises(ValueError) as raised:
        ADMMLasso.from_model_dir(tmp_path / "run")
    assert str(raised.value) == (
        f"ADMMLasso: the model in {tmp_path / 'run'} is a logistic model (allowed: squared)"
    )
    _solve(train, tmp_path / "box", "--l1", "2", "--loss", "squared", "--box", "0,inf")
    with pytest.raises(ValueError) as raised:
        ADMMElasticNet.from_model_dir(tmp_path / "box")
    assert str(raised.value) == (
        "ADMMElasticNet: the model's box constraint has no ADMMElasticNet parameters (allowed: "
        "the elastic net without a box; use lambda-admm predict)"
    )
