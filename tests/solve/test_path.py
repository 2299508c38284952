"""Regularization paths on warm workers against scikit-learn, point by point.

The whole path runs on one set of W workers (threads over inproc://): the spawner sees W
spawns and W clean exits, whatever the number of λ values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import Lasso, LogisticRegression

from scheduler_host.estimators.backends import IN_PROCESS
from scheduler_host.solve.path import check_path_request, geometric_lambdas, run_path
from scheduler_host.spawners.threads import ThreadSpawner
from tests.solve.svmlight import spec_on_shards

TIGHT = {"eps_primal": 1e-8, "eps_dual": 1e-8, "max_iter": 3000}


def test_a_lasso_path_with_an_intercept_matches_scikit_learn_at_every_lambda(
    tmp_path: Path,
) -> None:
    features, targets = make_regression(
        n_samples=500, n_features=20, n_informative=6, noise=3.0, random_state=0
    )
    targets = targets + 10.0
    spec = spec_on_shards(
        tmp_path,
        features,
        targets,
        workers=3,
        loss="squared",
        sample_weights="uniform",
        fit_intercept=True,
        **TIGHT,
    )
    spawner = ThreadSpawner()
    result = run_path(spec, spawner=spawner, count=8, min_ratio=1e-3, options=IN_PROCESS)
    centered = features - features.mean(axis=0)
    alpha_max = np.max(np.abs(centered.T @ (targets - targets.mean()))) / len(targets)
    assert result.lambda_max == pytest.approx(alpha_max, rel=1e-9)
    assert [point.l1 for point in result.points] == pytest.approx(
        geometric_lambdas(alpha_max, count=8, min_ratio=1e-3), rel=1e-9
    )
    assert spawner.statuses == {(0, 0): "done", (1, 0): "done", (2, 0): "done"}
    assert result.workers_spawned == 3
    for point in result.points:
        reference = Lasso(alpha=point.l1, tol=1e-14, max_iter=10**6).fit(features, targets)
        assert point.converged, point.reason
        np.testing.assert_allclose(point.x, reference.coef_, rtol=0, atol=1e-6)
        assert point.intercept == pytest.approx(reference.intercept_, abs=1e-6)
    np.testing.assert_allclose(result.points[0].x, 0.0, atol=1e-6)  # λ_max: β = 0
    nonzeros = [point.nonzeros for point in result.points]
    assert nonzeros[-1] > nonzeros[1] and nonzeros[-1] >= 6


def test_an_l1_logistic_path_without_an_intercept_matches_liblinear(tmp_path: Path) -> None:
    features, classes = make_classification(
        n_samples=600, n_features=15, n_informative=5, random_state=1
    )
    spec = spec_on_shards(tmp_path, features, classes, workers=2, **TIGHT)
    result = run_path(spec, spawner=ThreadSpawner(), count=5, min_ratio=0.01, options=IN_PROCESS)
    signs = np.where(classes > 0, 1.0, -1.0)
    # ∇ Σ log(1 + exp(−b aᵀx)) at x = 0 is −Aᵀb/2.
    assert result.lambda_max == pytest.approx(np.max(np.abs(features.T @ signs)) / 2, rel=1e-12)
    for point in result.points[1:]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = LogisticRegression(
                C=1 / point.l1,
                l1_ratio=1.0,
                solver="liblinear",
                fit_intercept=False,
                tol=1e-12,
                max_iter=10**5,
            ).fit(features, signs)
        assert point.converged, point.reason
        np.testing.assert_allclose(point.x, reference.coef_.ravel(), rtol=0, atol=1e-6)


def test_explicit_values_are_solved_in_the_order_given(tmp_path: Path) -> None:
    features, classes = make_classification(n_samples=200, n_features=6, random_state=2)
    spec = spec_on_shards(tmp_path, features, classes, workers=2, **TIGHT)
    result = run_path(spec, spawner=ThreadSpawner(), l1_values=[5.0, 1.0, 0.2], options=IN_PROCESS)
    assert [point.l1 for point in result.points] == [5.0, 1.0, 0.2]
    assert result.lambda_max is None
    objectives = [point.objective for point in result.points]
    assert objectives == sorted(objectives, reverse=True)  # less penalty, lower optimum


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"l1_values": [1.0, 2.0]}, "l1_values: must be in decreasing order, got [1.0, 2.0]"),
        ({"l1_values": [-1.0]}, "l1_values: each must be a finite number >= 0, got [-1.0]"),
        ({"l1_values": []}, "l1_values: 1 to 1000 values, got 0"),
        ({"count": 0}, "count: must be between 1 and 1000, got 0"),
        ({"min_ratio": 1.0}, "min_ratio: must be in (0, 1), got 1.0"),
    ],
)
def test_a_path_no_solve_can_take_is_refused_by_name(request_: dict, message: str) -> None:
    arguments = {"l1_values": None, "count": 20, "min_ratio": 1e-3, **request_}
    with pytest.raises(ValueError) as raised:
        check_path_request(**arguments)
    assert str(raised.value) == message
