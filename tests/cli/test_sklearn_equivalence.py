"""Each scikit-learn equivalent the README states: the CLI's x against scikit-learn's coef_.

The README's table ("What is solved") maps each lambda-admm model to a scikit-learn
estimator with ``fit_intercept=False``: the objectives differ by a positive factor, so the
minimizers are the same. Each case solves a small file with the real CLI (tight residual
tolerances) and scikit-learn (tight tolerances), and compares the coefficients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app

pytestmark = pytest.mark.slow

runner = CliRunner()
N, D = 300, 8
#: The coefficients the data come from: half of them zero, so an L1 term zeroes some of x.
TRUTH = np.array([2.0, -1.5, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0])
TIGHT = ["--eps-primal", "1e-10", "--eps-dual", "1e-10", "--max-iter", "5000"]
TIGHT += ["--newton-tol", "1e-6", "--workers", "2"]


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    features = rng.standard_normal((N, D))
    return features, features @ TRUTH + 0.5 * rng.standard_normal(N)


def _classification() -> tuple[np.ndarray, np.ndarray]:
    """Labels {0, 1} (mapped to -1, +1 by both), noisy enough not to be separable."""
    rng = np.random.default_rng(12)
    features = rng.standard_normal((N, D))
    return features, (features @ TRUTH + rng.logistic(size=N) > 0).astype(float)


def _solve(features: np.ndarray, targets: np.ndarray, flags: list[str]) -> np.ndarray:
    from sklearn.datasets import dump_svmlight_file

    dump_svmlight_file(features, targets, "data.svm", zero_based=False)
    out = Path(f"out-{len(list(Path().glob('out-*')))}")
    solved = runner.invoke(app, ["solve", "--data", "data.svm", *flags, *TIGHT, "--out", str(out)])
    assert solved.exit_code == 0, solved.output
    assert json.loads((out / "result.json").read_text())["status"] == "converged"
    x: np.ndarray = np.load(out / "x.npy")
    return x


def _lasso(alpha: float, **options: Any) -> Any:
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1_000_000, **options)


def _elastic_net(l1: float, l2: float) -> Any:
    from sklearn.linear_model import ElasticNet

    return ElasticNet(
        alpha=(l1 + l2) / N,
        l1_ratio=l1 / (l1 + l2),
        fit_intercept=False,
        tol=1e-14,
        max_iter=1_000_000,
    )


def _ridge(alpha: float) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=alpha, fit_intercept=False, solver="cholesky")


def _logistic(c: float, l1_ratio: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    solver = "liblinear" if l1_ratio == 1 else "newton-cholesky"
    return LogisticRegression(
        C=c, l1_ratio=l1_ratio, solver=solver, fit_intercept=False, tol=1e-12, max_iter=100_000
    )


def _linear_svc(c: float, **options: Any) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(
        C=c, loss="squared_hinge", fit_intercept=False, tol=1e-9, max_iter=1_000_000, **options
    )


#: The README's rows: our flags, scikit-learn's estimator, the data.
CASES: list[tuple[str, list[str], Callable[[], Any], Callable[[], Any]]] = [
    ("lasso", ["--loss", "squared", "--l1", "40"], lambda: _lasso(40 / N), _regression),
    (
        "lasso, uniform weights",
        ["--loss", "squared", "--l1", "0.1", "--sample-weights", "uniform"],
        lambda: _lasso(0.1),
        _regression,
    ),
    (
        "nonnegative lasso",
        ["--loss", "squared", "--l1", "40", "--box", "0,inf"],
        lambda: _lasso(40 / N, positive=True),
        _regression,
    ),
    ("ridge", ["--loss", "squared", "--l1", "0", "--l2", "25"], lambda: _ridge(25), _regression),
    (
        "elastic net",
        ["--loss", "squared", "--l1", "30", "--l2", "20"],
        lambda: _elastic_net(30, 20),
        _regression,
    ),
    (
        "L1 logistic",
        ["--loss", "logistic", "--l1", "8"],
        lambda: _logistic(1 / 8, l1_ratio=1.0),
        _classification,
    ),
    (
        "L2 logistic",
        ["--loss", "logistic", "--l1", "0", "--l2", "2"],
        lambda: _logistic(1 / 2, l1_ratio=0.0),
        _classification,
    ),
    (
        "L2 squared-hinge SVM",
        ["--loss", "squared_hinge", "--l1", "0", "--l2", "5"],
        lambda: _linear_svc(1 / 5, dual=False),
        _classification,
    ),
    (
        "L1 squared-hinge SVM",
        ["--loss", "squared_hinge", "--l1", "6"],
        lambda: _linear_svc(1 / 6, penalty="l1", dual=False),
        _classification,
    ),
]


@pytest.mark.parametrize(
    ("flags", "estimator", "data"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_the_readmes_scikit_learn_equivalent_has_the_same_minimizer(
    flags: list[str], estimator: Callable[[], Any], data: Callable[[], Any]
) -> None:
    features, targets = data()
    x = _solve(features, targets, flags)
    reference = estimator().fit(features, targets)
    coefficients = np.ravel(reference.coef_)
    np.testing.assert_allclose(x, coefficients, rtol=0, atol=1e-6 * max(1.0, np.abs(x).max()))
    if "--l1" in flags and flags[flags.index("--l1") + 1] != "0":
        assert (coefficients == 0).any() and (coefficients != 0).any()  # the L1 term binds


def test_every_row_of_the_readmes_table_is_tested() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| lambda-admm | scikit-learn |")[1].split("\n\n")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    assert len(rows) == len(CASES)
