"""The group lasso penalty: value, and its prox against the closed form and a numerical argmin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from runtime.group_lasso import GroupLasso
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
