"""``lambda-admm path``: the files it writes, and its refusals naming the flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_regression
from sklearn.linear_model import Lasso
from typer.testing import CliRunner

from scheduler_host.cli.app import app

runner = CliRunner()


def _data(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    features, targets = make_regression(n_samples=300, n_features=8, noise=1.0, random_state=4)
    dump_svmlight_file(features, targets, str(tmp_path / "r.svm"))
    return tmp_path / "r.svm", features, targets


def test_path_writes_the_path_its_coefficients_and_a_plot(tmp_path: Path) -> None:
    data, features, targets = _data(tmp_path)
    out = tmp_path / "path"
    flags = ["--data", str(data), "--loss", "squared", "--sample-weights", "uniform"]
    flags += ["--fit-intercept", "--workers", "2", "--n-lambdas", "5", "--l1-min-ratio", "0.01"]
    flags += ["--eps-primal", "1e-9", "--eps-dual", "1e-9", "--max-iter", "2000"]
    answer = runner.invoke(app, ["path", *flags, "--out", str(out)])
    assert answer.exit_code == 0, answer.output
    body = json.loads((out / "path.json").read_text())
    coefficients = np.load(out / "coefficients.npy")
    assert coefficients.shape == (5, 8) and (out / "path.png").stat().st_size > 10_000
    assert body["points"][0]["l1"] == pytest.approx(body["lambda_max"])
    assert body["workers_spawned"] == 2
    for row, point in zip(coefficients, body["points"], strict=True):
        reference = Lasso(alpha=point["l1"], tol=1e-14, max_iter=10**6).fit(features, targets)
        np.testing.assert_allclose(row, reference.coef_, atol=1e-6)
        assert point["nonzeros"] == np.count_nonzero(row) and point["converged"]
    assert "5 values of λ1 in " in answer.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--l1", "2"],
            "error: --l1: a path takes --l1-max, --n-lambdas, --l1-min-ratio or --l1-values",
        ),
        (
            ["--l1-values", "1,3"],
            "error: --l1-values: must be in decreasing order, got [1.0, 3.0]",
        ),
        (
            ["--l1-values", "1,x"],
            "error: --l1-values: must be numbers separated by commas, got '1,x'",
        ),
        (
            ["--l1-max", "big"],
            "error: --l1-max: must be 'auto' or a finite number > 0, got 'big'",
        ),
        (["--n-lambdas", "0"], "error: --n-lambdas: must be between 1 and 1000, got 0"),
        (["--l1-min-ratio", "2"], "error: --l1-min-ratio: must be in (0, 1), got 2.0"),
    ],
)
def test_bad_path_flags_name_the_flag_and_start_nothing(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    data, _, _ = _data(tmp_path)
    answer = runner.invoke(app, ["path", "--data", str(data), *flags, "--out", str(tmp_path / "o")])
    assert answer.exit_code == 2
    assert message in answer.output
    assert not (tmp_path / "o").exists()


def test_cv_reports_glmnet_s_lambda_min_and_lambda_1se(tmp_path: Path) -> None:
    data, _, _ = _data(tmp_path)
    out = tmp_path / "cv"
    flags = ["--data", str(data), "--loss", "squared", "--sample-weights", "uniform"]
    flags += ["--workers", "2", "--n-lambdas", "6", "--l1-min-ratio", "0.001", "--cv", "3"]
    answer = runner.invoke(app, ["path", *flags, "--out", str(out)])
    assert answer.exit_code == 0, answer.output
    body = json.loads((out / "path.json").read_text())["cv"]
    lambdas = [point["l1"] for point in json.loads((out / "path.json").read_text())["points"]]
    assert body["folds"] == 3 and len(body["cvm"]) == len(body["cvsd"]) == 6
    best = int(np.argmin(body["cvm"]))
    assert body["lambda_min"] == lambdas[best]
    assert body["lambda_1se"] >= body["lambda_min"]
    assert np.shape(body["fold_errors"]) == (3, 6)
    assert f"3-fold cross-validation: λ_min={body['lambda_min']:.6g}" in answer.output


def test_one_fold_is_refused(tmp_path: Path) -> None:
    data, _, _ = _data(tmp_path)
    answer = runner.invoke(
        app, ["path", "--data", str(data), "--cv", "1", "--out", str(tmp_path / "o")]
    )
    assert "error: --cv: must be 0 or between 2 and 100, got 1" in answer.output
