"""Losses against closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.local_data import LocalData
from runtime.losses import (
    LogisticLoss,
    Loss,
    SquaredLoss,
    data_objective,
    data_objective_and_gradient,
)
from runtime.registry import get_loss

RNG_SEED = 20261124


def _margins_labels_weights(size: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    margins = rng.normal(scale=3.0, size=size)
    labels = np.where(rng.random(size) < 0.5, -1.0, 1.0)
    weights = rng.uniform(0.1, 2.0, size=size)
    return margins, labels, weights


def _per_sample_values(loss: Loss, margins: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array(
        [loss.value(margins[i : i + 1], labels[i : i + 1], None) for i in range(len(margins))]
    )


def test_get_loss_returns_named_losses() -> None:
    assert isinstance(get_loss("logistic"), LogisticLoss)
    assert isinstance(get_loss("squared"), SquaredLoss)
    assert get_loss("logistic").name == "logistic"
    assert get_loss("squared").name == "squared"
    assert get_loss("logistic").curvature_bound == 0.25
    assert get_loss("squared").curvature_bound == 1.0


def test_get_loss_rejects_unknown_name() -> None:
    with pytest.raises(
        ValueError, match=r"^loss must be one of 'logistic', 'squared', 'squared_hinge', got 'x'$"
    ):
        get_loss("x")


def test_logistic_value_matches_closed_form() -> None:
    margins, labels, weights = _margins_labels_weights()
    expected = np.logaddexp(0.0, -labels * margins)
    loss = LogisticLoss()
    assert loss.value(margins, labels, None) == pytest.approx(expected.sum(), rel=1e-14)
    assert loss.value(margins, labels, weights) == pytest.approx(weights @ expected, rel=1e-14)
    assert _per_sample_values(loss, margins, labels) == pytest.approx(expected, rel=1e-13)


def test_logistic_derivative_matches_closed_form() -> None:
    margins, labels, weights = _margins_labels_weights()
    expected = -labels / (1.0 + np.exp(labels * margins))
    loss = LogisticLoss()
    np.testing.assert_allclose(loss.derivative(margins, labels, None), expected, rtol=1e-14)
    np.testing.assert_allclose(
        loss.derivative(margins, labels, weights), weights * expected, rtol=1e-14
    )


def test_logistic_is_stable_for_huge_margins() -> None:
    margins = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    labels = np.ones_like(margins)
    loss = LogisticLoss()
    with np.errstate(all="raise"):
        per_sample = _per_sample_values(loss, margins, labels)
        derivative = loss.derivative(margins, labels, None)
    np.testing.assert_allclose(per_sample, np.logaddexp(0.0, -margins), rtol=1e-15)
    assert per_sample[0] == 1e4  # log(1 + e^{1e4}) = 1e4 to double precision
    assert per_sample[-1] == 0.0
    assert per_sample[4] == pytest.approx(np.exp(-40.0), rel=1e-12)  # no log(1+tiny) loss
    np.testing.assert_allclose(derivative, [-1.0, -1.0, -1.0, -0.5, -np.exp(-40.0), 0.0, 0.0])


def test_squared_value_and_derivative_match_closed_form() -> None:
    margins, labels, weights = _margins_labels_weights()
    loss = SquaredLoss()
    residual = margins - labels
    assert loss.value(margins, labels, None) == pytest.approx(0.5 * residual @ residual)
    assert loss.value(margins, labels, weights) == pytest.approx(0.5 * weights @ residual**2)
    np.testing.assert_allclose(loss.derivative(margins, labels, weights), weights * residual)


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
@pytest.mark.parametrize("weighted", [False, True])
def test_derivative_matches_finite_differences(loss: Loss, weighted: bool) -> None:
    margins, labels, weights = _margins_labels_weights()
    sample_weights = weights if weighted else None
    derivative = loss.derivative(margins, labels, sample_weights)
    step = 1e-6
    for index in range(len(margins)):
        plus, minus = margins.copy(), margins.copy()
        plus[index] += step
        minus[index] -= step
        numeric = (
            loss.value(plus, labels, sample_weights) - loss.value(minus, labels, sample_weights)
        ) / (2 * step)
        assert derivative[index] == pytest.approx(numeric, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
def test_curvature_bound_holds_and_is_tight(loss: Loss) -> None:
    margins = np.linspace(-10, 10, 2001)
    labels = np.ones_like(margins)
    step = 1e-5
    second = (
        loss.derivative(margins + step, labels, None)
        - loss.derivative(margins - step, labels, None)
    ) / (2 * step)
    assert np.max(second) <= loss.curvature_bound + 1e-8
    assert np.max(second) == pytest.approx(loss.curvature_bound, rel=1e-6)


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
@pytest.mark.parametrize("weighted", [False, True])
def test_buffers_give_same_results_and_leave_inputs_alone(loss: Loss, weighted: bool) -> None:
    margins, labels, weights = _margins_labels_weights()
    sample_weights = weights if weighted else None
    inputs = (margins.copy(), labels.copy(), weights.copy())
    value = loss.value(margins, labels, sample_weights)
    derivative = loss.derivative(margins, labels, sample_weights)

    out = np.full_like(margins, np.nan)
    workspace = np.full_like(margins, np.nan)
    combined_value, combined = loss.value_and_derivative(
        margins, labels, sample_weights, out=out, workspace=workspace
    )
    assert combined is out
    assert combined_value == pytest.approx(value, rel=1e-15)
    np.testing.assert_array_equal(combined, derivative)
    assert loss.value(margins, labels, sample_weights, workspace=workspace) == value
    plain_value, plain = loss.value_and_derivative(margins, labels, sample_weights)
    assert plain_value == pytest.approx(value, rel=1e-15)
    np.testing.assert_array_equal(plain, derivative)
    for before, after in zip(inputs, (margins, labels, weights), strict=True):
        np.testing.assert_array_equal(before, after)


def test_unit_weights_equal_no_weights() -> None:
    margins, labels, _ = _margins_labels_weights()
    ones = np.ones_like(margins)
    for loss in (LogisticLoss(), SquaredLoss()):
        assert loss.value(margins, labels, ones) == pytest.approx(
            loss.value(margins, labels, None), rel=1e-15
        )


def test_data_objective_sums_losses_of_margins() -> None:
    rng = np.random.default_rng(RNG_SEED)
    features = sp.random(30, 8, density=0.4, format="csr", random_state=rng)
    labels = np.where(rng.random(30) < 0.5, -1.0, 1.0)
    weights = rng.uniform(0.5, 1.5, size=30)
    data = LocalData(features=features, labels=labels, weights=weights)
    x = rng.normal(size=8)
    expected = weights @ np.logaddexp(0.0, -labels * (features.toarray() @ x))
    assert data_objective(data, LogisticLoss(), x) == pytest.approx(expected, rel=1e-13)


def test_data_objective_checks_the_shape_of_x() -> None:
    data = LocalData(features=sp.csr_matrix(np.ones((2, 3))), labels=np.ones(2))
    with pytest.raises(ValueError, match=r"^x must have shape \(3,\), got \(4,\)$"):
        data_objective(data, SquaredLoss(), np.zeros(4))
    with pytest.raises(ValueError, match=r"^x must have shape \(3,\), got \(2,\)$"):
        data_objective_and_gradient(data, SquaredLoss(), np.zeros(2))


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
def test_the_gradient_of_the_data_term_is_a_transpose_r(loss: Loss) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    features = sp.random(40, 6, density=0.5, format="csr", random_state=rng)
    labels = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    data = LocalData(features=features, labels=labels, weights=rng.uniform(0.5, 1.5, size=40))
    x = rng.normal(size=6)
    value, gradient = data_objective_and_gradient(data, loss, x)
    assert value == data_objective(data, loss, x)  # the reported objective, bit for bit
    step = 1e-6
    central = [
        (data_objective(data, loss, x + step * e) - data_objective(data, loss, x - step * e))
        / (2 * step)
        for e in np.eye(6)
    ]
    np.testing.assert_allclose(gradient, central, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_change_equals_difference_of_values(loss: Loss, weighted: bool) -> None:
    margins, labels, weights = _margins_labels_weights()
    sample_weights = weights if weighted else None
    delta = np.random.default_rng(1).normal(scale=2.0, size=margins.size)
    expected = loss.value(margins + delta, labels, sample_weights) - loss.value(
        margins, labels, sample_weights
    )
    workspace = np.empty_like(margins)
    change = loss.value_change(margins, delta, labels, sample_weights, workspace=workspace)
    assert change == pytest.approx(expected, rel=1e-12)
    assert loss.value_change(margins, delta, labels, sample_weights) == change


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda loss: loss.name)
def test_value_change_is_accurate_for_tiny_steps(loss: Loss) -> None:
    margins, labels, weights = _margins_labels_weights()
    direction = np.random.default_rng(2).normal(size=margins.size)
    delta = 1e-9 * direction
    first_order = float(loss.derivative(margins, labels, weights) @ delta)
    change = loss.value_change(margins, delta, labels, weights)
    # The second-order term is ~1e-18 · curvature: the change matches the first-order term
    # to ~1e-8 relative, far below the 1e-16 · value a difference of values could resolve.
    assert change == pytest.approx(first_order, rel=1e-7)
    assert change != 0.0


def test_logistic_value_change_survives_overflow() -> None:
    margins = np.array([-800.0, 800.0, 0.0])
    delta = np.array([1600.0, -1600.0, 1e-3])
    labels = np.ones(3)
    loss = LogisticLoss()
    with np.errstate(all="raise"):
        change = loss.value_change(margins, delta, labels, None)
    expected = float(np.sum(np.logaddexp(0.0, -(margins + delta)) - np.logaddexp(0.0, -margins)))
    assert change == pytest.approx(expected, rel=1e-12)
