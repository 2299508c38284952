"""Real, badly scaled data end to end: scikit-learn's breast_cancer, unscaled (issue 9).

Its 30 columns span scales from 2.6e-3 to 5.7e2, so the x-update's ``L/ρ`` reaches ~1e9 once
residual balancing lowers ρ. The Newton-CG x-update (the default) is indifferent to that
(its CG is Jacobi-preconditioned); the paper's FISTA is not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_breast_cancer
from sklearn.linear_model import LogisticRegression

from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.threads import ThreadSpawner

IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    features, labels = load_breast_cancer(return_X_y=True)
    return features, np.where(labels > 0, 1.0, -1.0)


@pytest.fixture(scope="module")
def liblinear_optimum(breast_cancer: tuple[np.ndarray, np.ndarray]) -> float:
    """``Σ log(1 + exp(-b a·x)) + ||x||_1`` at liblinear's tight optimum (59.7837476444848)."""
    features, labels = breast_cancer
    model = LogisticRegression(
        l1_ratio=1.0, C=1.0, fit_intercept=False, solver="liblinear", tol=1e-10, max_iter=10_000
    ).fit(features, labels)
    x = model.coef_.ravel()
    return float(np.logaddexp(0.0, -labels * (features @ x)).sum() + np.abs(x).sum())


@pytest.mark.parametrize(
    "local_solver",
    [
        "newton",
        pytest.param(
            "fista",
            marks=[
                pytest.mark.slow,
                pytest.mark.xfail(
                    strict=True,
                    reason="issue 9: FISTA's L/ρ is ~1e9 on these columns; its x-updates "
                    "first run into their 10,000-step cap, then stop after one step on ε_f, "
                    "and the solve is not converged after 200 iterations (gap ~7e-6)",
                ),
            ],
        ),
    ],
)
def test_unscaled_breast_cancer_reaches_liblinears_optimum(
    local_solver: str,
    breast_cancer: tuple[np.ndarray, np.ndarray],
    liblinear_optimum: float,
    tmp_path: Path,
) -> None:
    features, labels = breast_cancer
    dump_svmlight_file(features, labels.astype(int), str(tmp_path / "bc.svm"))
    prepare_dataset(tmp_path / "bc.svm", str(tmp_path / "shards"), num_workers=1)
    spec = SolveSpec(  # N and d: run_solve reads them from the manifest
        problem="shards",
        shards=str(tmp_path / "shards"),
        workers=1,
        l1=1.0,
        eps_primal=1e-6,
        eps_dual=1e-6,
        max_iter=200,
        local_solver=local_solver,  # type: ignore[arg-type]
    )
    result = run_solve(spec, spawner=ThreadSpawner(), options=IN_PROCESS)
    assert result.converged
    assert abs(result.objective - liblinear_optimum) <= 1e-6 * liblinear_optimum
