"""Solves with an intercept (``fit_intercept``) against scikit-learn and scipy optima.

The data go the way a user's do: svmlight, prepared into shards (with column statistics, so
``scale_columns='auto'`` scales the columns but never the intercept), solved by the real
coordinator and worker loop on threads over ``inproc://``. Coefficients and intercept must
agree with the references to 1e-6.

scikit-learn's ``LogisticRegression(solver="liblinear")`` is no reference with an intercept:
liblinear appends a constant feature and penalizes its weight like any other (scikit-learn
documents ``intercept_scaling`` for that), so on the logistic data below its intercept is off
by 0.8 from the unpenalized optimum. The logistic reference is scipy's L-BFGS-B on the split
problem (``tests.reference.intercept_optimum``), cross-checked against ``saga`` at a tiny tol,
which leaves the intercept unpenalized as we do.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

from runtime.local_data import LocalData
from runtime.registry import get_loss
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.threads import ThreadSpawner
from tests.reference import intercept_optimum
from tests.solve.svmlight import spec_on_shards

IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)
TIGHT = {"eps_primal": 1e-8, "eps_dual": 1e-8, "max_iter": 5000, "fit_intercept": True}


def _regression() -> tuple[np.ndarray, np.ndarray]:
    """A regression with an offset of 30 and one column in units 100 times larger."""
    features, targets = make_regression(
        n_samples=600, n_features=20, n_informative=8, noise=5.0, random_state=0
    )
    features[:, 3] *= 100.0
    return features, targets + 30.0


def _solve(spec: SolveSpec):
    result = run_solve(spec, spawner=ThreadSpawner(), options=IN_PROCESS)
    assert result.converged, result.reason
    assert result.intercept is not None and result.x.shape == (spec.features,)
    return result


def test_lasso_with_an_intercept_matches_scikit_learn(tmp_path: Path) -> None:
    features, targets = _regression()
    alpha = 0.5  # Lasso's (1/2N)‖y − Xβ − β₀‖² + α‖β‖₁ is ours with w_n = 1/N and λ1 = α
    spec = spec_on_shards(
        tmp_path,
        features,
        targets,
        workers=3,
        loss="squared",
        l1=alpha,
        sample_weights="uniform",
        **TIGHT,
    )
    result = _solve(spec)
    reference = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(features, targets)
    np.testing.assert_allclose(result.x, reference.coef_, rtol=0, atol=1e-6)
    assert result.intercept == pytest.approx(reference.intercept_, abs=1e-6)
    assert abs(reference.intercept_) > 10  # the intercept carries the offset of 30


def test_elastic_net_with_an_intercept_matches_scikit_learn(tmp_path: Path) -> None:
    features, targets = _regression()
    alpha, l1_ratio = 0.8, 0.3
    spec = spec_on_shards(
        tmp_path,
        features,
        targets,
        workers=2,
        loss="squared",
        l1=alpha * l1_ratio,
        l2=alpha * (1 - l1_ratio),
        sample_weights="uniform",
        **TIGHT,
    )
    result = _solve(spec)
    reference = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=1_000_000).fit(
        features, targets
    )
    np.testing.assert_allclose(result.x, reference.coef_, rtol=0, atol=1e-6)
    assert result.intercept == pytest.approx(reference.intercept_, abs=1e-6)


def test_l1_logistic_with_an_intercept_matches_the_split_reference_and_saga(
    tmp_path: Path,
) -> None:
    features, classes = make_classification(
        n_samples=800, n_features=15, n_informative=6, weights=[0.8, 0.2], random_state=0
    )
    features[:, 2] += 3.0
    C = 0.5
    spec = spec_on_shards(
        tmp_path, features, classes, workers=3, loss="logistic", l1=1 / C, **TIGHT
    )
    result = _solve(spec)
    signs = np.where(classes > 0, 1.0, -1.0)
    beta, intercept, optimum = intercept_optimum(
        LocalData.from_arrays(features, signs), get_loss("logistic"), l1=1 / C
    )
    np.testing.assert_allclose(result.x, beta, rtol=0, atol=1e-6)
    assert result.intercept == pytest.approx(intercept, abs=1e-6)
    assert result.objective == pytest.approx(optimum, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's ConvergenceWarning at tol 1e-12
        saga = LogisticRegression(
            C=C, l1_ratio=1.0, solver="saga", tol=1e-12, max_iter=100_000
        ).fit(features, classes)
    np.testing.assert_allclose(result.x, saga.coef_.ravel(), rtol=0, atol=1e-6)
    assert result.intercept == pytest.approx(saga.intercept_[0], abs=1e-6)


def test_an_intercept_on_the_paper_generator_matches_the_reference() -> None:
    from runtime.generator import generate_rows

    spec = SolveSpec(samples=2000, features=30, density=0.2, seed=4, l1=2.0, workers=2, **TIGHT)
    result = _solve(spec)
    data = generate_rows(samples=2000, features=30, density=0.2, seed=4, start=0, stop=2000)
    beta, intercept, _ = intercept_optimum(data, get_loss("logistic"), l1=2.0)
    np.testing.assert_allclose(result.x, beta, rtol=0, atol=1e-6)
    assert result.intercept == pytest.approx(intercept, abs=1e-6)
    assert spec.dimension == 31


def test_the_group_lasso_leaves_the_intercept_unpenalized(tmp_path: Path) -> None:
    features, targets = _regression()
    features[:, 3] /= 100.0  # the group lasso is solved unscaled (no closed-form scaled prox)
    spec = spec_on_shards(
        tmp_path,
        features,
        targets,
        workers=2,
        loss="squared",
        sample_weights="uniform",
        penalty={"kind": "group_lasso", "weight": 3.0, "group_size": 4},
        **TIGHT,
    )
    result = _solve(spec)
    residual = features @ result.x + result.intercept - targets
    # Unpenalized: the intercept's own optimality condition is Σ_n residual_n = 0.
    assert abs(residual.mean()) <= 1e-6 * np.abs(targets).mean()
    assert result.intercept == pytest.approx(np.mean(targets - features @ result.x), abs=1e-6)
