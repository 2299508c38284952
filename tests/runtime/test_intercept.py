"""The intercept's pieces: the column of ones, and the penalty that leaves the last coordinate
free (its value, its prox, its least subgradient), in original and in scaled coordinates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.column_scaling import ColumnScaling
from runtime.group_lasso import GroupLasso
from runtime.intercept import FreeIntercept, split_intercept, with_intercept_column
from runtime.local_data import LocalData
from runtime.penalties import Penalty
from runtime.scaled_penalty import penalty_in_scaled_coordinates

RNG = np.random.default_rng(0)


def test_the_column_of_ones_is_appended_and_nothing_else_changes() -> None:
    data = LocalData.from_arrays(sp.random(5, 3, density=0.5, random_state=1), np.arange(5.0))
    extended = with_intercept_column(data)
    assert extended.features.format == "csr" and extended.features.shape == (5, 4)
    np.testing.assert_array_equal(extended.features.toarray()[:, :3], data.features.toarray())
    np.testing.assert_array_equal(extended.features.toarray()[:, 3], np.ones(5))
    assert extended.labels is data.labels


def test_split_intercept() -> None:
    x = np.array([1.0, -2.0, 0.5])
    coefficients, intercept = split_intercept(x, fit_intercept=True)
    np.testing.assert_array_equal(coefficients, [1.0, -2.0])
    assert intercept == 0.5
    same, none = split_intercept(x, fit_intercept=False)
    assert same is x and none is None


@pytest.mark.parametrize(
    "inner",
    [
        Penalty(l1=0.7, l2=0.3),
        Penalty(l1=0.2, lower=-0.1, upper=0.4),
        GroupLasso(weight=0.9, group_size=2),
    ],
    ids=["elastic_net", "box", "group_lasso"],
)
def test_the_last_coordinate_is_left_alone(inner: Penalty | GroupLasso) -> None:
    penalty = FreeIntercept(inner)
    v = RNG.normal(size=6) * 3
    proxed = penalty.prox(v, 0.8)
    np.testing.assert_array_equal(proxed[:-1], inner.prox(v[:-1], 0.8))
    assert proxed[-1] == v[-1]
    assert penalty.value(v) == inner.value(v[:-1])
    x = np.append(inner.prox(v[:-1], 0.8), 5.0)
    gradient = RNG.normal(size=6)
    least = penalty.min_norm_subgradient(x, gradient)
    np.testing.assert_array_equal(least[:-1], inner.min_norm_subgradient(x[:-1], gradient[:-1]))
    assert least[-1] == gradient[-1]  # ∂h is {0} along the intercept


def test_the_prox_is_the_minimizer_of_the_prox_objective() -> None:
    # prox_{t h}(v) = argmin h(x) + ‖x − v‖²/(2t), checked against perturbations of the answer.
    penalty = FreeIntercept(Penalty(l1=1.0, l2=0.5))
    v, step = RNG.normal(size=5) * 2, 0.7
    best = penalty.prox(v, step)

    def objective(x: np.ndarray) -> float:
        return penalty.value(x) + float((x - v) @ (x - v)) / (2 * step)

    for _ in range(200):
        assert objective(best) <= objective(best + RNG.normal(size=5) * 1e-3) + 1e-15


def test_in_scaled_coordinates_the_intercept_stays_free_and_unscaled() -> None:
    scale = np.array([2.0, 0.5, 10.0])
    scaling = ColumnScaling(scale=scale).with_intercept()
    np.testing.assert_array_equal(scaling.scale, [2.0, 0.5, 10.0, 1.0])
    original = FreeIntercept(Penalty(l1=1.0, l2=0.2, lower=-1.0, upper=3.0))
    scaled = penalty_in_scaled_coordinates(original, scaling)
    assert isinstance(scaled, FreeIntercept)
    y = np.array([0.3, -0.2, 4.0, -7.0])
    # h(D^{-1} y) with the intercept's entry of D equal to 1, evaluated both ways.
    assert scaled.value(y) == pytest.approx(original.value(scaling.to_original(y)), rel=1e-14)
    assert scaled.prox(y, 0.5)[-1] == -7.0
    assert math.isinf(scaled.value(np.array([0.3, -0.2, 40.0, 0.0])))  # 40/10 > upper
    np.testing.assert_array_equal(scaling.without_intercept().scale, scale)
