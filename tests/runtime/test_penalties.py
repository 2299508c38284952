"""Penalty values and exact prox operators against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.penalties import Penalty, soft_threshold

PENALTIES = [
    Penalty.none(),
    Penalty(l1=0.7),
    Penalty(l2=1.3),
    Penalty(l1=0.4, l2=2.0),
    Penalty(lower=-0.5, upper=0.8),
    Penalty(l1=0.3, lower=0.2, upper=3.0),
    Penalty(l1=0.5, l2=0.5, lower=-1.0, upper=-0.1),
    Penalty(l1=0.2, upper=0.25),
]


def test_soft_threshold_closed_form() -> None:
    values = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(soft_threshold(values, 1.0), [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(soft_threshold(values, 0.0), values)


def test_soft_threshold_rejects_negative_threshold() -> None:
    with pytest.raises(ValueError, match=r"^threshold must be >= 0, got -1.0$"):
        soft_threshold(np.zeros(2), -1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"l1": -1.0}, r"^l1 must be >= 0, got -1.0$"),
        ({"l2": -0.5}, r"^l2 must be >= 0, got -0.5$"),
        ({"l1": math.inf}, r"^l1 must be finite, got inf$"),
        ({"l2": math.nan}, r"^l2 must be finite, got nan$"),
        ({"lower": math.nan}, r"^lower must be finite or -inf, got nan$"),
        ({"lower": math.inf}, r"^lower must be finite or -inf, got inf$"),
        ({"upper": -math.inf}, r"^upper must be finite or inf, got -inf$"),
        ({"lower": 1.0, "upper": 0.0}, r"^lower must be <= upper, got lower=1.0, upper=0.0$"),
    ],
)
def test_penalty_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Penalty(**kwargs)


def test_penalty_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Penalty(1.0)  # type: ignore[misc]


def test_value_closed_form_and_box() -> None:
    x = np.array([-0.5, 0.0, 2.0])
    assert Penalty(l1=0.5, l2=2.0).value(x) == pytest.approx(0.5 * 2.5 + 0.5 * 2.0 * 4.25)
    boxed = Penalty(l1=1.0, lower=-1.0, upper=2.0)
    assert boxed.value(x) == pytest.approx(2.5)
    assert boxed.value(np.array([2.0 + 1e-13])) == pytest.approx(2.0)  # within tolerance
    assert boxed.value(np.array([2.0 + 1e-9])) == math.inf
    assert boxed.value(np.array([-1.0 - 1e-9])) == math.inf
    assert Penalty.none().value(x) == 0.0


def test_flags() -> None:
    assert Penalty.none().is_smooth
    assert Penalty(l2=1.0).is_smooth
    assert not Penalty(l1=1.0).is_smooth
    assert not Penalty(upper=1.0).is_smooth
    assert Penalty(lower=0.0).has_box
    assert not Penalty(l1=3.0).has_box


@pytest.mark.parametrize("penalty", PENALTIES, ids=repr)
@pytest.mark.parametrize("step", [0.1, 1.0, 3.0])
def test_prox_matches_brute_force_grid(penalty: Penalty, step: float) -> None:
    points = np.linspace(-4.0, 4.0, 41)
    prox = penalty.prox(points, step)
    grid = np.linspace(-6.0, 6.0, 240_001)  # spacing 5e-5
    inside = grid[(grid >= penalty.lower) & (grid <= penalty.upper)]
    l1_term = penalty.l1 * np.abs(inside) + 0.5 * penalty.l2 * inside**2
    for point, value in zip(points, prox, strict=True):
        objective = l1_term + (inside - point) ** 2 / (2 * step)
        assert value == pytest.approx(inside[np.argmin(objective)], abs=1e-4)


@pytest.mark.parametrize("penalty", PENALTIES, ids=repr)
def test_prox_satisfies_subgradient_condition(penalty: Penalty) -> None:
    step = 0.7
    points = np.random.default_rng(3).normal(scale=2.0, size=200)
    x = penalty.prox(points, step)
    assert np.all((x >= penalty.lower) & (x <= penalty.upper))
    # 0 ∈ l1 ∂|x| + l2 x + (x - v)/step + N_box(x), coordinate by coordinate.
    smooth = penalty.l2 * x + (x - points) / step
    for xi, gi in zip(x, smooth, strict=True):
        if xi != 0:
            low = high = gi + penalty.l1 * np.sign(xi)
        else:
            low, high = gi - penalty.l1, gi + penalty.l1
        # The normal cone of the box adds [0, inf) at upper and (-inf, 0] at lower.
        if xi == penalty.upper:
            high = math.inf
        if xi == penalty.lower:
            low = -math.inf
        assert low - 1e-12 <= 0.0 <= high + 1e-12


def test_prox_closed_form_and_input_untouched() -> None:
    penalty = Penalty(l1=1.0, l2=1.0, lower=-0.5, upper=10.0)
    v = np.array([-6.0, -3.0, -1.5, 0.5, 3.0])
    original = v.copy()
    # soft_threshold(v, 2) / 3, clipped to [-0.5, 10]
    np.testing.assert_allclose(penalty.prox(v, 2.0), [-0.5, -1.0 / 3.0, 0.0, 0.0, 1.0 / 3.0])
    np.testing.assert_array_equal(v, original)
    identity = Penalty.none().prox(v, 5.0)
    np.testing.assert_array_equal(identity, v)
    assert identity is not v


@pytest.mark.parametrize("step", [0.0, -1.0, math.inf, math.nan])
def test_prox_rejects_bad_step(step: float) -> None:
    with pytest.raises(ValueError, match=r"^step must be a finite number > 0, got "):
        Penalty(l1=1.0).prox(np.zeros(3), step)


# --- the least subgradient, for the scheduler's optimality check ----------------------------


def test_min_norm_subgradient_closed_form() -> None:
    # l1 = 1 on [0, 2]: x = 0 is on the lower bound, x = 2 on the upper one.
    penalty = Penalty(l1=1.0, lower=0.0, upper=2.0)
    x = np.array([0.0, 0.0, 1.0, 2.0, 2.0, -1.0])
    gradient = np.array([-3.0, 0.5, 2.0, -5.0, 0.5, 0.0])
    least = penalty.min_norm_subgradient(x, gradient)
    # -3 + [-inf, 1] -> -2; 0.5 + [-inf, 1] ∋ 0; 2 + {1}; -5 + [1, inf) ∋ 0; 0.5 + {1}; outside.
    np.testing.assert_array_equal(least, [-2.0, 0.0, 3.0, 0.0, 1.5, math.inf])
    elastic = Penalty(l1=0.5, l2=2.0)
    np.testing.assert_array_equal(
        elastic.min_norm_subgradient(np.array([0.0, 0.0, -1.0]), np.array([0.2, -2.0, 1.0])),
        [0.0, -1.5, 1.0 - 2.0 - 0.5],
    )
    smooth = Penalty.none().min_norm_subgradient(np.array([3.0, -1.0]), np.array([0.25, -4.0]))
    np.testing.assert_array_equal(smooth, [0.25, -4.0])
    point = Penalty(lower=1.0, upper=1.0).min_norm_subgradient(np.ones(2), np.array([7.0, -7.0]))
    np.testing.assert_array_equal(point, [0.0, 0.0])  # a degenerate box: the cone is R


@pytest.mark.parametrize("penalty", PENALTIES, ids=repr)
def test_min_norm_subgradient_vanishes_at_a_prox(penalty: Penalty) -> None:
    # prox(v) minimizes h(x) + ||x - v||²/(2 step), whose smooth part has gradient (x - v)/step.
    step = 0.7
    v = np.random.default_rng(5).normal(scale=2.0, size=300)
    x = penalty.prox(v, step)
    least = penalty.min_norm_subgradient(x, (x - v) / step)
    assert np.max(np.abs(least)) <= 1e-12


@pytest.mark.parametrize("penalty", PENALTIES, ids=repr)
def test_min_norm_subgradient_is_the_limit_of_the_prox_gradient_step(penalty: Penalty) -> None:
    # Brute force: (x - prox_{t h}(x - t g)) / t tends to the least element of g + ∂h(x).
    rng = np.random.default_rng(8)
    x = penalty.prox(rng.normal(scale=2.0, size=400), 0.5)  # many at 0 and on the bounds
    gradient = rng.normal(scale=3.0, size=x.shape)
    step = 1e-9
    limit = (x - penalty.prox(x - step * gradient, step)) / step
    np.testing.assert_allclose(penalty.min_norm_subgradient(x, gradient), limit, atol=1e-5)
