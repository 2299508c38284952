"""The command line: every validation error names its flag and starts nothing."""

from __future__ import annotations

import json
import math
import shlex
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app

runner = CliRunner()
SMALL = ["--samples", "2000", "--features", "50", "--density", "0.1"]
#: What the default model prints first.
L1_LOGISTIC = "model: minimize logistic loss Σ_n log(1 + exp(−b_n·a_nᵀx)) + 1·‖x‖₁\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers: Input should be greater than or equal to 1 (got 0)"),
        (["--workers", "-3"], "--workers: Input should be greater than or equal to 1 (got -3)"),
        (
            ["--samples", "10", "--workers", "11"],
            "--workers: must be between 1 and the number of samples (10), got 11",
        ),
        (["--density", "0"], "--density: Input should be greater than 0 (got 0.0)"),
        (["--density", "1.5"], "--density: Input should be less than or equal to 1 (got 1.5)"),
        (["--l1", "-1"], "--l1: Input should be greater than or equal to 0 (got -1.0)"),
        (["--l2", "-0.5"], "--l2: Input should be greater than or equal to 0 (got -0.5)"),
        (["--box", "2,1"], "--box: the lower bound must be <= the upper bound (1.0), got 2.0"),
        (
            ["--box", "1"],
            "--box: got '1' (allowed: 'lo,hi', two numbers; inf opens a side, as in 0,inf)",
        ),
        (
            ["--box", "inf,1"],
            "--box: got 'inf,1' (allowed: -inf <= lo <= hi <= inf, with lo < inf and hi > -inf)",
        ),
        (["--data", "/nonexistent/file.svm"], "--data: data file not found: /nonexistent/file.svm"),
        (
            ["--loss", "hinge"],
            "--loss: Input should be 'logistic', 'squared' or 'squared_hinge' (got 'hinge')",
        ),
        (["--group-lasso", "0.1"], "--group-size: Field required"),
        (
            ["--group-lasso", "0", "--group-size", "2"],
            "--group-lasso: Input should be greater than 0 (got 0.0)",
        ),
        (
            ["--group-lasso", "0.1", "--group-size", "0"],
            "--group-size: Input should be greater than or equal to 1 (got 0)",
        ),
        (["--group-size", "3"], "--group-size: only with --group-lasso"),
        (
            ["--group-lasso", "0.1", "--group-size", "3", "--l1", "2"],
            "--l1: give either the flat l1, l2, box_lower, box_upper (an elastic_net penalty) "
            "or a tagged penalty (here 'group_lasso'), not both",
        ),
        (["--rho0", "0"], "--rho0: Input should be greater than 0 (got 0.0)"),
        (["--max-iter", "0"], "--max-iter: Input should be greater than or equal to 1 (got 0)"),
        (["--eps-primal", "-1"], "--eps-primal: Input should be greater than 0 (got -1.0)"),
        (["--eps-kkt", "0"], "--eps-kkt: Input should be greater than 0 (got 0.0)"),
        (["--eps-kkt", "inf"], "--eps-kkt: Input should be a finite number (got inf)"),
        (
            ["--min-local-iter", "-1"],
            "--min-local-iter: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            ["--dual-residual", "x"],
            "--dual-residual: Input should be 'paper' or 'consensus' (got 'x')",
        ),
        (["--problem", "mnist"], "--problem: got 'mnist' (allowed: paper)"),
        (["--mode", "eventual"], "--mode: Input should be 'sync' or 'async' (got 'eventual')"),
        (["--async-fraction", "0"], "--async-fraction: Input should be greater than 0 (got 0.0)"),
        (["--max-delay", "0"], "--max-delay: Input should be greater than or equal to 1 (got 0)"),
        (
            ["--scale-columns", "yes"],
            "--scale-columns: Input should be 'auto', 'on' or 'off' (got 'yes')",
        ),
        (
            ["--scale-columns", "on"],
            "--scale-columns: 'on' needs a dataset with column statistics; the paper's "
            "generated columns are homogeneous and are never scaled (use 'auto' or 'off')",
        ),
    ],
)
def test_bad_flags_name_the_flag_and_start_nothing(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", *SMALL, *flags, "--out", str(out)])
    assert result.exit_code == 2
    assert result.output == f"error: {message}\n"
    assert not out.exists()


def test_unreadable_data_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.svm"
    path.write_text("this is not svmlight\n")
    result = runner.invoke(app, ["solve", "--data", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output == f"error: --data: {path} line 1: cannot parse the label 'this'\n"


def test_solve_writes_the_result_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arguments = ["solve", "--problem", "paper", *SMALL, "--workers", "2", "--out", str(out)]
    before = datetime.now(UTC)
    result = runner.invoke(app, arguments)
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(L1_LOGISTIC + "converged in ")
    body = json.loads((out / "result.json").read_text())
    assert body["status"] == "converged"
    assert body["model"] == {
        "objective": L1_LOGISTIC.removeprefix("model: ").strip(),
        "loss": "logistic",
        "sample_weights": "none",
        "penalty": {"kind": "elastic_net", "l1": 1.0, "l2": 0.0, "box_lower": None,
                    "box_upper": None},
    }  # fmt: skip
    provenance = body["provenance"]
    assert provenance["version"] == metadata.version("lambda-admm")
    assert provenance["command"] == shlex.join(["lambda-admm", *arguments])
    started, finished = (datetime.fromisoformat(provenance[key]) for key in ("started", "finished"))
    assert provenance["started"].endswith("Z") and provenance["finished"].endswith("Z")
    assert before - timedelta(milliseconds=1) <= started <= finished <= after
    assert provenance["data"] == {
        "kind": "paper generator", "samples": 2000, "features": 50, "density": 0.1, "seed": 0
    }  # fmt: skip
    # Newton's x-updates stop at their gradient test, once per worker and iteration.
    assert body["local_stop_reasons"] == {"gradient": 2 * body["iterations"]}
    assert body["workers"][1]["local_stop"] == ["gradient"] * body["iterations"]
    for key in ("objective", "iterations", "converged", "primal_residual", "dual_residual"):
        assert key in body
    assert body["converged"] is True and body["reason"] is None
    assert body["optimality"] <= body["optimality_tolerance"] == 1e-2
    assert body["objective"] < body["objective_at_zero"]
    assert len(body["history"]) == body["iterations"]
    assert set(body["history"][0]) == {
        "iteration",
        "primal_residual",
        "dual_residual",
        "rho",
        "wall_seconds",
        "objective",
        "accelerated",
        "primal_tolerance",
        "dual_tolerance",
    }
    # the objective at each iteration's z: at z = 0 first, falling to the returned one
    assert body["history"][0]["objective"] == body["objective_at_zero"]
    assert body["history"][-1]["objective"] >= body["objective"] - 1e-9 * abs(body["objective"])
    assert [w["worker"] for w in body["workers"]] == [0, 1]
    assert len(body["workers"][0]["compute_seconds"]) == body["iterations"]
    assert body["workers"][0]["cold_start_seconds"] > 0
    assert body["spec"]["workers"] == 2
    assert np.load(out / "x.npy").shape == (50,)
    assert (out / "convergence.png").stat().st_size > 10_000


def _not_converged(out: Path, *flags: str) -> tuple[int, str, dict]:
    result = runner.invoke(
        app, ["solve", "--problem", "paper", *SMALL, "--workers", "2", *flags, "--out", str(out)]
    )
    return result.exit_code, result.output, json.loads((out / "result.json").read_text())


def test_a_solve_stopped_by_max_iter_is_not_converged_and_exits_3(tmp_path: Path) -> None:
    code, output, body = _not_converged(tmp_path / "out", "--max-iter", "2")
    assert code == 3, output
    assert body["converged"] is False
    assert body["reason"].startswith("max_iter 2 reached before the residual rule held")
    assert output.startswith(
        f"{L1_LOGISTIC}NOT converged ({body['reason']}) in 2 iterations, objective "
    )
    assert body["optimality_tolerance"] == 1e-2
    assert body["objective_at_zero"] == pytest.approx(2000 * math.log(2), rel=1e-12)


def test_a_solve_that_fails_the_check_at_the_stop_exits_3(tmp_path: Path) -> None:
    # The residual rule holds (as in test_solve_writes_the_result_directory), the check fails.
    code, output, body = _not_converged(tmp_path / "out", "--eps-kkt", "1e-12")
    assert code == 3, output
    assert body["iterations"] < 100 and body["converged"] is False
    assert body["reason"] == f"optimality {body['optimality']:.1e} > tolerance 1.0e-12"
    assert f"NOT converged (optimality {body['optimality']:.1e} > tolerance 1.0e-12) in " in output
    assert body["spec"]["eps_kkt"] == 1e-12


def test_allow_unconverged_exits_0_and_still_says_so(tmp_path: Path) -> None:
    code, output, body = _not_converged(tmp_path / "out", "--max-iter", "2", "--allow-unconverged")
    assert code == 0, output
    assert body["converged"] is False
    assert output.startswith(f"{L1_LOGISTIC}NOT converged ({body['reason']}) in 2 iterations")


@pytest.mark.parametrize(
    ("flags", "penalty"),
    [
        (["--loss", "squared_hinge", "--l1", "2"], None),
        (
            ["--loss", "squared", "--group-lasso", "20", "--group-size", "8"],
            {"kind": "group_lasso", "weight": 20.0, "group_size": 8},
        ),
    ],
)
def test_registered_models_solve_from_the_command_line(
    flags: list[str], penalty: dict[str, object] | None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", *SMALL, "--workers", "2", *flags, "--out", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads((out / "result.json").read_text())
    assert body["converged"] is True
    assert body["spec"]["loss"] == flags[1]
    assert body["spec"]["penalty"] == penalty
    assert body["spec"]["l1"] == (2.0 if penalty is None else 0.0)


def test_data_prepare_then_solve_from_shards(tmp_path: Path) -> None:
    from sklearn.datasets import dump_svmlight_file

    from runtime.generator import generate_rows

    data = generate_rows(samples=500, features=30, density=0.2, seed=2, start=0, stop=500)
    source = tmp_path / "d.svm"
    dump_svmlight_file(data.features, data.labels, str(source))
    prepared = runner.invoke(
        app, ["data", "prepare", str(source), str(tmp_path / "ds"), "--workers", "3"]
    )
    assert prepared.exit_code == 0, prepared.output
    assert "wrote 3 shards of 500 x 30" in prepared.output
    wrong = runner.invoke(app, ["solve", "--shards", str(tmp_path / "ds"), "--workers", "2"])
    assert wrong.exit_code == 2
    assert wrong.output == (
        f"error: --workers: the dataset at {tmp_path / 'ds'} is prepared for 3 workers, got 2\n"
    )
    solved = runner.invoke(app, ["solve", "--shards", str(tmp_path / "ds"), "--workers", "3"])
    assert solved.exit_code == 0, solved.output


def test_unscaled_data_is_solved_in_scaled_coordinates_and_written_in_the_original(
    tmp_path: Path,
) -> None:
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 6)) * np.array([1e-3, 1e-1, 1.0, 10.0, 1e2, 1e3])
    signs = np.where(features @ np.array([500.0, 5, 1, 0.1, 0, 0]) > 0, 1.0, -1.0)
    source = tmp_path / "wide.svm"
    dump_svmlight_file(features, signs, str(source))
    out = tmp_path / "out"
    flags = ["--data", str(source), "--workers", "2", "--eps-primal", "1e-6", "--eps-dual", "1e-6"]
    solved = runner.invoke(
        app, ["solve", *flags, "--eps-grad", "1e-8", "--max-iter", "1000", "--out", str(out)]
    )
    assert solved.exit_code == 0, solved.output
    body = json.loads((out / "result.json").read_text())
    assert body["spec"]["scale_columns"] == "on" and body["converged"]
    x = np.load(out / "x.npy")
    objective = np.sum(np.logaddexp(0.0, -signs * (features @ x))) + np.abs(x).sum()
    assert body["objective"] == pytest.approx(objective, rel=1e-12)


def _solve_with_faults(out: Path, *fault_flags: str) -> dict[str, Any]:
    """A W=3 solve of SMALL with ``--inject-faults ...``; its result.json (exit 0 asserted)."""
    arguments = ["solve", *SMALL, "--workers", "3", "--out", str(out), *fault_flags]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads((out / "result.json").read_text())
    return body


def test_injected_faults_are_survived_and_recorded(tmp_path: Path) -> None:
    flags = ("--inject-faults", "kill:worker=1:iteration=2", "--fault-seed", "5")
    body = _solve_with_faults(tmp_path / "out", *flags)
    assert body["converged"] is True and body["replacements"] == 1


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "explode",
            "'explode': kind: Input should be 'kill', 'delay', 'retire' or 'raise' (got 'explode')",
        ),
        ("kill:worker", "expected key=value, got 'worker'"),
        (
            "delay:probability=2",
            "'delay:probability=2': probability: Input should be less than or equal to 1 (got '2')",
        ),
    ],
)
def test_bad_fault_rules_name_the_flag(rule: str, message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["solve", *SMALL, "--inject-faults", rule])
    assert result.exit_code == 2
    assert result.output == f"error: --inject-faults: {message}\n"


def test_a_corrupt_shard_fails_the_solve_within_seconds_with_its_reason(tmp_path: Path) -> None:
    # Before workers reported failures: the 300 s join timeout once per replacement (~20 min).
    from sklearn.datasets import dump_svmlight_file

    from runtime.generator import generate_rows

    data = generate_rows(samples=300, features=20, density=0.2, seed=2, start=0, stop=300)
    dump_svmlight_file(data.features, data.labels, str(tmp_path / "d.svm"))
    prepared = runner.invoke(
        app, ["data", "prepare", str(tmp_path / "d.svm"), str(tmp_path / "ds"), "--workers", "2"]
    )
    assert prepared.exit_code == 0, prepared.output
    shard = tmp_path / "ds" / "shard-00001.npz"
    shard.write_bytes(shard.read_bytes()[:-9] + b"corrupted")
    started = time.monotonic()
    result = runner.invoke(app, ["solve", "--shards", str(tmp_path / "ds"), "--workers", "2"])
    assert time.monotonic() - started < 15.0
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith(
        "error: the solve failed: worker 1 failed: ValueError: shard shard-00001.npz failed its "
        "sha256 check: "
    ), line


def test_a_transient_worker_error_is_replaced(tmp_path: Path) -> None:
    body = _solve_with_faults(tmp_path / "out", "--inject-faults", "raise:worker=1:iteration=2")
    assert body["converged"] is True and body["replacements"] == 1


def test_a_one_sided_box_is_nonnegative_lasso_as_scikit_learn_solves_it(tmp_path: Path) -> None:
    from sklearn.datasets import dump_svmlight_file
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(4)
    features = rng.standard_normal((400, 12))
    targets = features @ rng.standard_normal(12) + 0.1 * rng.standard_normal(400)
    dump_svmlight_file(features, targets, str(tmp_path / "r.svm"))
    l1 = 20.0
    out = tmp_path / "out"
    flags = ["--data", str(tmp_path / "r.svm"), "--loss", "squared", "--l1", str(l1)]
    flags += ["--box", "0,inf", "--workers", "2", "--eps-primal", "1e-9", "--eps-dual", "1e-9"]
    solved = runner.invoke(app, ["solve", *flags, "--max-iter", "3000", "--out", str(out)])
    assert solved.exit_code == 0, solved.output
    body = json.loads((out / "result.json").read_text())
    assert (body["spec"]["box_lower"], body["spec"]["box_upper"]) == (0.0, None)
    # Ours: ½‖Ax − b‖² + λ‖x‖₁ with x ≥ 0; scikit-learn's: (1/2N)‖Ax − b‖² + α‖x‖₁.
    reference = Lasso(alpha=l1 / 400, positive=True, fit_intercept=False, tol=1e-12)
    reference.fit(features, targets)
    x = np.load(out / "x.npy")
    assert x.min() >= 0.0 and (reference.coef_ == 0).any()  # the bound binds somewhere
    np.testing.assert_allclose(x, reference.coef_, atol=1e-6)


def test_fit_intercept_solves_nonnegative_lasso_with_a_free_intercept(tmp_path: Path) -> None:
    from sklearn.datasets import dump_svmlight_file
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(5)
    features = rng.standard_normal((400, 10))
    targets = features @ rng.standard_normal(10) - 7.0 + 0.1 * rng.standard_normal(400)
    dump_svmlight_file(features, targets, str(tmp_path / "r.svm"))
    out = tmp_path / "out"
    flags = ["--data", str(tmp_path / "r.svm"), "--loss", "squared", "--l1", "0.2"]
    flags += ["--sample-weights", "uniform", "--box", "0,inf", "--fit-intercept", "--workers", "2"]
    flags += ["--eps-primal", "1e-9", "--eps-dual", "1e-9", "--max-iter", "3000"]
    solved = runner.invoke(app, ["solve", *flags, "--out", str(out)])
    assert solved.exit_code == 0, solved.output
    body = json.loads((out / "result.json").read_text())
    assert body["spec"]["fit_intercept"] is True
    # The box binds the coefficients only: the intercept is negative, as the data's offset.
    reference = Lasso(alpha=0.2, positive=True, tol=1e-12).fit(features, targets)
    x = np.load(out / "x.npy")
    assert x.shape == (10,) and (reference.coef_ == 0).any()
    np.testing.assert_allclose(x, reference.coef_, atol=1e-6)
    assert body["intercept"] == pytest.approx(reference.intercept_, abs=1e-6)
    assert body["intercept"] < -5
