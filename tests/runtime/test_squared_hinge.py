"""The squared hinge loss: closed form, finite differences, exact value changes.

Its labels are mapped to ±1 like every classification loss's: tests/runtime/test_labels.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.registry import get_loss
from runtime.squared_hinge import SquaredHingeLoss

LOSS = SquaredHingeLoss()


def _margins_labels_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    margins = rng.normal(scale=2.0, size=200)
    # Keep away from the kink b m = 1, where the second derivative jumps.
    labels = rng.choice([-1.0, 1.0], size=200)
    margins[np.abs(1.0 - labels * margins) < 1e-3] += 0.01
    return margins, labels, rng.uniform(0.1, 2.0, size=200)


def test_is_registered_with_its_curvature_and_label_kind() -> None:
    loss = get_loss("squared_hinge")
    assert isinstance(loss, SquaredHingeLoss)
    assert loss.name == "squared_hinge"
    assert loss.curvature_bound == 2.0
    assert loss.signed_labels


@pytest.mark.parametrize("weighted", [False, True])
def test_value_matches_the_closed_form(weighted: bool) -> None:
    margins, labels, weights = _margins_labels_weights()
    w = weights if weighted else None
    per_sample = np.maximum(0.0, 1.0 - labels * margins) ** 2
    expected = float(np.sum(per_sample if w is None else w * per_sample))
    assert LOSS.value(margins, labels, w) == pytest.approx(expected, rel=1e-14)
    assert LOSS.value(margins, labels, w, workspace=np.empty(200)) == pytest.approx(expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_derivative_matches_central_differences(weighted: bool) -> None:
    margins, labels, weights = _margins_labels_weights(1)
    w = weights if weighted else np.ones(200)
    step = 1e-6
    numeric = np.array(
        [
            (
                LOSS.value(margins[i : i + 1] + step, labels[i : i + 1], w[i : i + 1])
                - LOSS.value(margins[i : i + 1] - step, labels[i : i + 1], w[i : i + 1])
            )
            / (2 * step)
            for i in range(200)
        ]
    )
    analytic = LOSS.derivative(margins, labels, weights if weighted else None)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    value, both = LOSS.value_and_derivative(
        margins, labels, weights if weighted else None, out=np.empty(200), workspace=np.empty(200)
    )
    np.testing.assert_allclose(both, analytic, rtol=1e-15)
    assert value == pytest.approx(LOSS.value(margins, labels, weights if weighted else None))


def test_gradient_in_x_matches_finite_differences() -> None:
    rng = np.random.default_rng(2)
    features = sp.random(80, 12, density=0.4, random_state=3, format="csr")
    labels = rng.choice([-1.0, 1.0], size=80)
    x = rng.normal(size=12)

    def objective(point: np.ndarray) -> float:
        return LOSS.value(features @ point, labels, None)

    gradient = features.T @ LOSS.derivative(features @ x, labels, None)
    step = 1e-6
    numeric = np.array(
        [
            (objective(x + step * unit) - objective(x - step * unit)) / (2 * step)
            for unit in np.eye(12)
        ]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-7)


def test_derivative_is_two_lipschitz_in_the_margin() -> None:
    rng = np.random.default_rng(4)
    first, second = rng.normal(scale=3.0, size=(2, 1000))
    labels = rng.choice([-1.0, 1.0], size=1000)
    change = np.abs(LOSS.derivative(first, labels, None) - LOSS.derivative(second, labels, None))
    assert np.all(change <= LOSS.curvature_bound * np.abs(first - second) + 1e-12)
    # The bound is attained on the active side b m < 1.
    active = (labels * first < 1) & (labels * second < 1)
    np.testing.assert_allclose(change[active], 2.0 * np.abs(first - second)[active])


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-9])
def test_value_change_is_the_difference_of_values_without_cancellation(scale: float) -> None:
    margins, labels, weights = _margins_labels_weights(5)
    delta = np.random.default_rng(6).normal(scale=scale, size=200)
    change = LOSS.value_change(margins, delta, labels, weights, workspace=np.empty(200))
    # Exact per sample: (p' - p)(p' + p), with p' - p = -b δ on rows active at both points.
    before = np.maximum(0.0, 1.0 - labels * margins)
    after = np.maximum(0.0, 1.0 - labels * (margins + delta))
    exact = np.where((before > 0) & (after > 0), -labels * delta, after - before) * (after + before)
    assert change == pytest.approx(float(np.dot(weights, exact)), rel=1e-12)
    if scale == 1.0:
        difference = LOSS.value(margins + delta, labels, weights) - LOSS.value(
            margins, labels, weights
        )
        assert change == pytest.approx(difference, rel=1e-12)
