"""The penalty in column-scaled coordinates, ``h(D^{-1} y)``, for the scheduler's z-step.

With ``y = D x`` (:class:`runtime.column_scaling.ColumnScaling`), the elastic net with a
box becomes, coordinate by coordinate,

    h(D^{-1} y) = Σ_j (l1/d_j) |y_j| + (l2/(2 d_j²)) y_j² + ι(l·d_j <= y_j <= u·d_j),

still separable, so its prox is exact in closed form: a weighted soft threshold, a
per-coordinate shrink and a per-coordinate clip (:class:`WeightedElasticNet`).

Penalties that couple coordinates are refused: the group lasso's ``‖x_g‖₂`` becomes
``‖D_g^{-1} y_g‖₂``, an ellipsoidal norm whose prox has no closed form (it needs a 1-D
root-find per group), so :func:`penalty_in_scaled_coordinates` raises for it and
``scale_columns='auto'`` leaves such solves unscaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np

from runtime.column_scaling import ColumnScaling
from runtime.intercept import FreeIntercept
from runtime.penalties import (
    BOX_TOLERANCE,
    Penalty,
    Proximal,
    ProximalPenalty,
    check_prox_step,
)

#: Why a penalty that couples coordinates is not solved in scaled coordinates.
NOT_SEPARABLE = (
    "column scaling needs a coordinate-separable penalty; {kind} couples coordinates "
    "(its prox in scaled coordinates has no closed form)"
)


def weighted_soft_threshold(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``sign(v_j) max(|v_j| - t_j, 0)``: the prox of ``Σ_j t_j |·_j|``; shapes (d,)."""
    return np.sign(values) * np.maximum(np.abs(values) - thresholds, 0.0)


@dataclass(frozen=True, kw_only=True, eq=False)
class WeightedElasticNet:
    """``Σ_j l1_j |y_j| + (l2_j/2) y_j² + ι(lower_j <= y_j <= upper_j)``; arrays of shape (d,)."""

    l1: np.ndarray
    l2: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def value(self, y: np.ndarray) -> float:
        """The penalty at ``y`` (shape (d,)); ``math.inf`` outside the box (with the same
        tolerance as :meth:`runtime.penalties.Penalty.value`)."""
        slack_lower = BOX_TOLERANCE * (1.0 + np.abs(self.lower))
        slack_upper = BOX_TOLERANCE * (1.0 + np.abs(self.upper))
        with np.errstate(invalid="ignore"):  # inf - inf where a bound is infinite
            if np.any(y < self.lower - slack_lower) or np.any(y > self.upper + slack_upper):
                return math.inf
        return float(np.sum(self.l1 * np.abs(y))) + 0.5 * float(np.sum(self.l2 * y * y))

    def prox(self, v: np.ndarray, step: float) -> np.ndarray:
        """``argmin_y value(y) + ‖y - v‖² / (2 step)``, exactly, coordinate by coordinate:
        ``clip(weighted_soft_threshold(v, step·l1) / (1 + step·l2), lower, upper)``."""
        check_prox_step(step)
        shrunk = weighted_soft_threshold(v, step * self.l1) / (1.0 + step * self.l2)
        return np.clip(shrunk, self.lower, self.upper)


def penalty_in_scaled_coordinates(penalty: ProximalPenalty, scaling: ColumnScaling) -> Proximal:
    """``h(D^{-1} ·)`` for an elastic net ``h``; with a free intercept (whose scale is 1,
    :meth:`ColumnScaling.with_intercept`), the same of β and the intercept left free.

    Raises
    ------
    ValueError
        ``NOT_SEPARABLE`` naming the penalty's class for any other penalty.
    """
    if isinstance(penalty, FreeIntercept):
        inner = penalty_in_scaled_coordinates(
            cast(ProximalPenalty, penalty.inner), scaling.without_intercept()
        )
        return FreeIntercept(inner)
    if not isinstance(penalty, Penalty):
        raise ValueError(NOT_SEPARABLE.format(kind=type(penalty).__name__))
    scale = scaling.scale
    return WeightedElasticNet(
        l1=penalty.l1 / scale,
        l2=penalty.l2 / (scale * scale),
        lower=penalty.lower * scale,
        upper=penalty.upper * scale,
    )
