"""Distributed solves of the registry's newer models against independent optima.

* squared hinge + L1 (an L1-regularized L2-loss linear SVM) against LIBLINEAR through
  scikit-learn's ``LinearSVC``, whose objective ``‖w‖₁ + C Σ max(0, 1 - y <a, w>)²`` is ours
  divided by λ1 when ``C = 1/λ1``;
* squared loss + group lasso against a long FISTA run (``tests.reference``) and the
  optimality conditions of the group lasso.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, make_classification
from sklearn.svm import LinearSVC

from runtime.generator import generate_rows
from runtime.registry import get_loss
from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve import run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner
from tests.reference import group_lasso_optimum

TIGHT = {"eps_primal": 1e-6, "eps_dual": 1e-6, "eps_grad": 1e-9, "max_iter": 1000}


def _svm_objective(features: sp.csr_matrix, signs: np.ndarray, w: np.ndarray, l1: float) -> float:
    """``Σ_n max(0, 1 - y_n <a_n, w>)² + λ1 ‖w‖₁``, written out independently."""
    slack = np.maximum(0.0, 1.0 - signs * (features @ w))
    return float(slack @ slack) + l1 * float(np.abs(w).sum())


def test_squared_hinge_l1_svm_matches_liblinear_at_two_workers(tmp_path: Path) -> None:
    dense, classes = make_classification(
        n_samples=800, n_features=30, n_informative=8, n_redundant=4, random_state=0
    )
    features = sp.csr_matrix(dense)
    path = tmp_path / "svm.svm"
    dump_svmlight_file(features, classes, str(path))  # {0, 1} labels, mapped to ±1
    manifest = prepare_dataset(path, str(tmp_path / "shards"), num_workers=2).manifest
    l1 = 5.0
    spec = SolveSpec(
        problem="shards",
        shards=str(tmp_path / "shards"),
        samples=manifest.num_samples,
        features=manifest.num_features,
        loss="squared_hinge",
        l1=l1,
        workers=2,
        **{**TIGHT, "max_iter": 3000},  # ADMM's linear rate is slow here: ~1,300 iterations
    )
    result = run_solve(spec, spawner=LocalProcessSpawner(log_directory=tmp_path / "logs"))
    signs = np.where(classes > 0, 1.0, -1.0)
    svc = LinearSVC(
        penalty="l1",
        loss="squared_hinge",
        dual=False,
        C=1.0 / l1,
        fit_intercept=False,
        tol=1e-10,
        max_iter=1_000_000,
    ).fit(dense, signs)
    liblinear = _svm_objective(features, signs, svc.coef_.ravel(), l1)
    ours = _svm_objective(features, signs, result.x, l1)
    gap = (ours - liblinear) / liblinear
    print(f"squared hinge W=2: ADMM {ours!r}, LIBLINEAR {liblinear!r}, relative gap {gap:.3e}")
    assert result.converged
    assert abs(gap) <= 1e-6
    assert result.objective == pytest.approx(ours, rel=1e-12)
    assert 0 < np.count_nonzero(np.abs(result.x) > 1e-8) < spec.features  # L1 zeroes some


def test_group_lasso_squared_loss_matches_a_proximal_gradient_reference(tmp_path: Path) -> None:
    weight, group_size = 190.0, 7  # 120 features: 17 groups of 7 and a last one of 1
    spec = SolveSpec(
        samples=3000,
        features=120,
        density=0.05,
        seed=3,
        loss="squared",
        penalty={"kind": "group_lasso", "weight": weight, "group_size": group_size},
        workers=3,
        **TIGHT,
    )
    data = generate_rows(samples=3000, features=120, density=0.05, seed=3, start=0, stop=3000)
    result = run_solve(spec, spawner=LocalProcessSpawner(log_directory=tmp_path / "logs"))
    reference, optimum = group_lasso_optimum(
        data, get_loss("squared"), weight=weight, group_size=group_size
    )
    gap = (result.objective - optimum) / optimum
    print(f"group lasso W=3: ADMM {result.objective!r}, FISTA {optimum!r}, gap {gap:.3e}")
    assert result.converged
    assert abs(gap) <= 1e-6
    np.testing.assert_allclose(result.x, reference, atol=1e-4)
    # Optimality: ∇f_g + weight x_g/‖x_g‖ = 0 on nonzero groups, ‖∇f_g‖ <= weight on zero ones.
    gradient = data.features.T @ (data.features @ result.x - data.labels)
    zero_groups = 0
    for start in range(0, spec.features, group_size):
        group = slice(start, start + group_size)
        norm = float(np.linalg.norm(result.x[group]))
        if norm > 1e-6:
            stationarity = gradient[group] + weight * result.x[group] / norm
            assert np.linalg.norm(stationarity) <= 1e-3 * weight
        else:
            zero_groups += 1
            assert np.linalg.norm(gradient[group]) <= weight * (1 + 1e-4)
    assert 0 < zero_groups < 18  # the penalty is active but does not zero everything
