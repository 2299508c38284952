"""The group lasso penalty: value, and its prox against the closed form and a numerical argmin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from runtime.group_lasso import GroupLasso
from runtime.penalties import Penalty
from runtime.penalty_specs import GroupLassoSpec
from runtime.registry import build_penalty


def _groups(dimension: int, group_size: int) -> list[slice]:
    return [slice(start, start + group_size) for start in range(0, dimension, group_size)]


def _block_soft_threshold(v: np.ndarray, threshold: float, group_size: int) -> np.ndarray:
    """The closed form, one group at a time."""
    result = np.zeros_like(v)
    for group in _groups(v.shape[0], group_size):
        norm = float(np.linalg.norm(v[group]))
        if norm > threshold:
            result[group] = v[group] * (1.0 - threshold / norm)
    return result


def test_value_sums_the_group_norms_with_a_shorter_last_group() -> None:
    x = np.array([3.0, 4.0, 0.0, 0.0, 1.0, -2.0, 2.0])  # groups of 3: [3,4,0], [0,1,-2], [2]
    penalty = GroupLasso(weight=0.5, group_size=3)
    assert penalty.value(x) == pytest.approx(0.5 * (5.0 + math.sqrt(5.0) + 2.0), rel=1e-15)
    np.testing.assert_allclose(penalty.group_norms(x), [5.0, math.sqrt(5.0), 2.0])
    assert GroupLasso(weight=2.0, group_size=1).value(x) == pytest.approx(2.0 * np.abs(x).sum())
    assert GroupLasso(weight=1.0, group_size=50).value(x) == pytest.approx(np.linalg.norm(x))


@pytest.mark.parametrize(("dimension", "group_size"), [(12, 3), (13, 4), (7, 1), (5, 9)])
@pytest.mark.parametrize("seed", range(4))
def test_prox_is_block_soft_thresholding(dimension: int, group_size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=dimension)
    penalty = GroupLasso(weight=rng.uniform(0.2, 1.5), group_size=group_size)
    step = rng.uniform(0.3, 2.0)
    expected = _block_soft_threshold(v, step * penalty.weight, group_size)
    np.testing.assert_allclose(penalty.prox(v, step), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_prox_is_the_numerical_argmin(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    v = rng.normal(size=10)
    penalty, step = GroupLasso(weight=0.8, group_size=3), 0.9

    def objective(x: np.ndarray) -> float:
        return penalty.value(x) + float(np.sum((x - v) ** 2)) / (2 * step)

    prox = penalty.prox(v, step)
    numerical = minimize(objective, v, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14})
    assert objective(prox) <= numerical.fun + 1e-12  # no point found does better
    np.testing.assert_allclose(prox, numerical.x, atol=1e-5)


def test_prox_zeroes_weak_groups_and_keeps_zero_groups_at_zero() -> None:
    v = np.array([0.1, -0.1, 0.0, 0.0, 3.0, 4.0])
    result = GroupLasso(weight=1.0, group_size=2).prox(v, 1.0)
    np.testing.assert_allclose(result, [0.0, 0.0, 0.0, 0.0, 3.0 * 0.8, 4.0 * 0.8])


def test_is_built_by_the_registry_from_its_spec() -> None:
    penalty = build_penalty(GroupLassoSpec(weight=0.25, group_size=4))
    assert penalty == GroupLasso(weight=0.25, group_size=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": 0.0, "group_size": 2}, "weight must be a finite number > 0, got 0.0"),
        ({"weight": math.inf, "group_size": 2}, "weight must be a finite number > 0, got inf"),
        ({"weight": 1.0, "group_size": 0}, "group_size must be >= 1, got 0"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        GroupLasso(**kwargs)  # type: ignore[arg-type]


def test_prox_refuses_a_bad_step() -> None:
    with pytest.raises(ValueError, match=r"^step must be a finite number > 0, got -1.0$"):
        GroupLasso(weight=1.0, group_size=2).prox(np.zeros(4), -1.0)


def _least_sup_norm_in_ball(gradient: np.ndarray, radius: float) -> float:
    """Brute force: min_t over (s, t) with |g_i + s_i| <= t and ||s||₂ <= radius (SLSQP)."""
    size = gradient.shape[0]
    constraints = [
        {"type": "ineq", "fun": lambda w: w[-1] - (gradient + w[:-1])},
        {"type": "ineq", "fun": lambda w: w[-1] + (gradient + w[:-1])},
        {"type": "ineq", "fun": lambda w: radius**2 - float(w[:-1] @ w[:-1])},
    ]
    start = np.append(np.zeros(size), np.max(np.abs(gradient)))
    found = minimize(
        lambda w: w[-1],
        start,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-13, "maxiter": 500},
    )
    return float(found.x[-1])


@pytest.mark.parametrize("seed", range(8))
def test_min_norm_subgradient_of_a_zero_group_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    group_size = int(rng.integers(1, 6))
    gradient = rng.normal(scale=rng.choice([0.3, 1.0, 3.0]), size=group_size)
    weight = float(rng.uniform(0.2, 2.0))
    penalty = GroupLasso(weight=weight, group_size=group_size)
    least = penalty.min_norm_subgradient(np.zeros(group_size), gradient)
    assert np.linalg.norm(least - gradient) <= weight * (1 + 1e-12)  # in g + λ B₂
    assert np.max(np.abs(least)) == pytest.approx(
        _least_sup_norm_in_ball(gradient, weight), abs=1e-7
    )


def test_min_norm_subgradient_closed_form() -> None:
    penalty = GroupLasso(weight=0.5, group_size=3)
    x = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0])  # groups [0,0,0], [1,2,0], [0]
    gradient = np.array([0.1, -0.2, 3.0, 0.5, 0.5, 1.0, -1.0])
    least = penalty.min_norm_subgradient(x, gradient)
    # Zero group: only coordinate 2 reaches beyond the ball, max(3 - t, 0) = 0.5 at t = 2.5.
    # Nonzero group: g + 0.5 x/√5. Last group (of one): -1 + [-0.5, 0.5] -> -0.5.
    unit = np.array([1.0, 2.0, 0.0]) / math.sqrt(5.0)
    expected = np.concatenate([[0.1, -0.2, 2.5], [0.5, 0.5, 1.0] + 0.5 * unit, [-0.5]])
    np.testing.assert_allclose(least, expected, rtol=1e-15)
    inside = penalty.min_norm_subgradient(np.zeros(3), np.array([0.3, 0.0, -0.4]))
    np.testing.assert_array_equal(inside, np.zeros(3))  # ||g|| = λ: 0 is optimal


@pytest.mark.parametrize(("dimension", "group_size"), [(12, 3), (13, 4), (7, 1), (5, 9)])
def test_min_norm_subgradient_vanishes_at_a_prox(dimension: int, group_size: int) -> None:
    rng = np.random.default_rng(dimension)
    v = rng.normal(size=dimension)
    v[:group_size] *= 0.1  # a group the prox zeroes
    penalty, step = GroupLasso(weight=0.6, group_size=group_size), 0.8
    x = penalty.prox(v, step)
    assert np.max(np.abs(penalty.min_norm_subgradient(x, (x - v) / step))) <= 1e-12


def test_with_groups_of_one_it_is_the_lasso_s() -> None:
    x = np.array([0.0, 0.0, 1.5, -2.0])
    gradient = np.array([0.3, -1.7, 0.2, 4.0])
    np.testing.assert_allclose(
        GroupLasso(weight=0.9, group_size=1).min_norm_subgradient(x, gradient),
        Penalty(l1=0.9).min_norm_subgradient(x, gradient),
        rtol=1e-15,
    )
