"""Real, badly scaled data end to end: scikit-learn's breast_cancer, unscaled (issue 9).

Its 30 columns span scales from 2.6e-3 to 5.7e2, so the x-update's ``L/ρ`` reaches ~1e9 once
residual balancing lowers ρ. The Newton-CG x-update (the default) is indifferent to that
(its CG is Jacobi-preconditioned); the paper's FISTA is not. Solved at W = 1, 2 and 4 with
the default ρ rule (spectral, with over-relaxation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_breast_cancer
from sklearn.linear_model import LogisticRegression

from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import PAPER_PENALTY_RULE, SolveSpec
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


#: Residual tolerances that, with the default ρ rule (spectral, α = 1.6), stop this problem
#: past a 1e-6 gap at W = 1, 2, 4 (720, ~3300, ~2500 iterations; its restricted Hessian has
#: condition number ~1.5e5 even with the columns scaled, so ADMM is slow here).
EPS_PRIMAL, EPS_DUAL = 3e-3, 3e-6


def _solve(tmp_path: Path, breast_cancer: tuple[np.ndarray, np.ndarray], **fields: Any):
    features, labels = breast_cancer
    dump_svmlight_file(features, labels.astype(int), str(tmp_path / "bc.svm"))
    prepare_dataset(tmp_path / "bc.svm", str(tmp_path / "shards"), num_workers=fields["workers"])
    spec = SolveSpec(  # N and d: run_solve reads them from the manifest
        problem="shards", shards=str(tmp_path / "shards"), l1=1.0, **fields
    )
    return run_solve(spec, spawner=ThreadSpawner(), options=IN_PROCESS)


#: The paper's FISTA with the paper's ρ rule, at W = 1 (slow).
PAPERS_FISTA = pytest.param(
    1,
    {"eps_primal": 1e-6, "eps_dual": 1e-6, "max_iter": 200, "local_solver": "fista"}
    | PAPER_PENALTY_RULE,
    marks=[
        pytest.mark.slow,
        pytest.mark.xfail(
            strict=True,
            reason="issue 9: FISTA's L/ρ is ~1e9 on these columns; its x-updates "
            "first run into their 10,000-step cap, then stop after one step on ε_f, "
            "and the solve is not converged after 200 iterations (gap ~7e-6)",
        ),
    ],
    id="fista-paper-rule",
)
DEFAULTS = {"eps_primal": EPS_PRIMAL, "eps_dual": EPS_DUAL, "max_iter": 5000}


@pytest.mark.parametrize(
    ("workers", "fields"), [(1, DEFAULTS), (2, DEFAULTS), (4, DEFAULTS), PAPERS_FISTA]
)
def test_unscaled_breast_cancer_reaches_liblinears_optimum(
    workers: int,
    fields: dict[str, Any],
    breast_cancer: tuple[np.ndarray, np.ndarray],
    liblinear_optimum: float,
    tmp_path: Path,
) -> None:
    result = _solve(tmp_path, breast_cancer, workers=workers, **fields)
    assert result.converged
    assert abs(result.objective - liblinear_optimum) <= 1e-6 * liblinear_optimum
