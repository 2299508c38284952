"""The serial reference solver against scikit-learn, closed forms and optimality conditions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.generator import generate_rows
from runtime.local_data import LocalData
from runtime.losses import LogisticLoss, Loss, SquaredLoss, data_objective
from runtime.penalties import Penalty
from tests.reference import reference_optimum


def _instance(seed: int = 11) -> LocalData:
    return generate_rows(samples=400, features=40, density=0.1, seed=seed, start=0, stop=400)


def _weighted(data: LocalData) -> LocalData:
    weights = np.random.default_rng(5).uniform(0.2, 2.0, size=data.num_samples)
    return LocalData(features=data.features, labels=data.labels, weights=weights)


@pytest.mark.parametrize("l1", [1.0, 25.0])  # the paper's λ1, and one that zeroes coordinates
def test_l1_logistic_matches_liblinear(l1: float) -> None:
    from sklearn.linear_model import LogisticRegression

    data = _instance()
    x, objective = reference_optimum(data, LogisticLoss(), Penalty(l1=l1))
    model = LogisticRegression(
        l1_ratio=1.0,
        C=1.0 / l1,
        fit_intercept=False,
        solver="liblinear",
        tol=1e-10,
        max_iter=10_000,
    ).fit(data.features, data.labels)
    liblinear_x = model.coef_.ravel()
    liblinear_objective = (
        data_objective(data, LogisticLoss(), liblinear_x) + l1 * np.abs(liblinear_x).sum()
    )
    assert objective <= liblinear_objective * (1 + 1e-7)
    assert objective == pytest.approx(liblinear_objective, rel=1e-7)
    np.testing.assert_allclose(x, liblinear_x, atol=1e-4)
    if l1 > 1:
        assert np.count_nonzero(liblinear_x) < data.num_features // 2
        assert np.count_nonzero(np.abs(x) > 1e-6) == np.count_nonzero(liblinear_x)


@pytest.mark.parametrize("weighted", [False, True])
def test_squared_l2_matches_closed_form_ridge(weighted: bool) -> None:
    data = _instance(12)
    if weighted:
        data = _weighted(data)
    l2 = 3.0
    x, objective = reference_optimum(data, SquaredLoss(), Penalty(l2=l2))
    dense = data.features.toarray()
    weights = np.ones(data.num_samples) if data.weights is None else data.weights
    gram = dense.T @ (weights[:, None] * dense) + l2 * np.eye(data.num_features)
    expected = np.linalg.solve(gram, dense.T @ (weights * data.labels))
    np.testing.assert_allclose(x, expected, rtol=1e-7, atol=1e-9)
    residual = dense @ expected - data.labels
    assert objective == pytest.approx(
        0.5 * weights @ residual**2 + 0.5 * l2 * expected @ expected, rel=1e-12
    )


def _prox_gradient_fixed_point_gap(
    data: LocalData, loss: Loss, penalty: Penalty, x: np.ndarray
) -> float:
    """``||x - prox_{t h}(x - t ∇f(x))|| / t``: zero exactly at a minimizer."""
    step = 1e-3
    margins = data.features @ x
    gradient = data.features.T @ loss.derivative(margins, data.labels, data.weights)
    return float(np.linalg.norm(x - penalty.prox(x - step * gradient, step)) / step)


@pytest.mark.parametrize(
    ("loss", "penalty"),
    [
        (LogisticLoss(), Penalty(l1=2.0)),
        (LogisticLoss(), Penalty(l1=0.5, l2=0.5)),
        (LogisticLoss(), Penalty(l1=0.3, lower=-0.2, upper=0.1)),
        (LogisticLoss(), Penalty(l2=1.0, lower=0.0, upper=0.3)),
        (SquaredLoss(), Penalty(l1=1.0, upper=0.05)),
        (SquaredLoss(), Penalty(lower=-0.1)),
    ],
    ids=repr,
)
@pytest.mark.parametrize("weighted", [False, True])
def test_reference_satisfies_optimality_conditions(
    loss: Loss, penalty: Penalty, weighted: bool
) -> None:
    data = _weighted(_instance(13)) if weighted else _instance(13)
    x, objective = reference_optimum(data, loss, penalty)
    # L-BFGS-B stops when F no longer decreases measurably, near ||g|| ~ sqrt(eps L |F|).
    assert _prox_gradient_fixed_point_gap(data, loss, penalty, x) < 1e-5
    assert objective == pytest.approx(data_objective(data, loss, x) + penalty.value(x))
    assert np.isfinite(objective)


def test_reference_refuses_l1_with_a_box_excluding_zero() -> None:
    data = LocalData(features=sp.csr_matrix(np.eye(2)), labels=np.ones(2))
    with pytest.raises(NotImplementedError, match=r"needs lower <= 0 <= upper when l1 > 0"):
        reference_optimum(data, SquaredLoss(), Penalty(l1=1.0, lower=0.5, upper=2.0))
