"""The group lasso on contiguous feature groups (Yuan & Lin 2006), the ``group_lasso`` kind.

    h(x) = λ Σ_g ‖x_g‖₂,   groups [0, G), [G, 2G), ..., the last one shorter if G ∤ d.

Its prox is block soft thresholding, group by group (the groups do not overlap, so the
prox separates): ``prox_{t h}(v)_g = v_g · max(0, 1 - t λ / ‖v_g‖₂)``.  Its subdifferential
separates too: ``∂h(x)_g = {λ x_g / ‖x_g‖₂}`` for ``x_g ≠ 0`` and the ball ``λ B₂`` for
``x_g = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.penalties import check_prox_step
from runtime.penalty_specs import GroupLassoSpec


@dataclass(frozen=True, kw_only=True)
class GroupLasso:
    """``h(x) = weight · Σ_g ‖x_g‖₂`` over contiguous groups of ``group_size`` features.

    Parameters
    ----------
    weight : float
        ``λ > 0``.
    group_size : int
        ``G >= 1``; a last group of ``d mod G`` features takes the remainder.
    """

    weight: float
    group_size: int

    def __post_init__(self) -> None:
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"weight must be a finite number > 0, got {self.weight}")
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")

    @classmethod
    def from_spec(cls, spec: GroupLassoSpec) -> GroupLasso:
        """The penalty of the validated ``group_lasso`` parameters."""
        return cls(weight=spec.weight, group_size=spec.group_size)

    def group_starts(self, dimension: int) -> np.ndarray:
        """First coordinate of each group, shape (⌈d/G⌉,)."""
        return np.arange(0, dimension, self.group_size)

    def group_norms(self, x: np.ndarray) -> np.ndarray:
        """``‖x_g‖₂`` per group, shape (⌈d/G⌉,), for ``x`` of shape (d,) with ``d >= 1``."""
        return np.sqrt(np.add.reduceat(x * x, self.group_starts(x.shape[0])))

    def value(self, x: np.ndarray) -> float:
        """``weight · Σ_g ‖x_g‖₂`` for ``x`` of shape (d,)."""
        return self.weight * float(np.sum(self.group_norms(x)))

    def min_norm_subgradient(self, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """An element of ``gradient + ∂h(x)`` of least ∞-norm, group by group, shape (d,).

        A group with ``x_g ≠ 0`` has the one element ``g_g + λ x_g/‖x_g‖``. A zero group
        has ``g_g + s`` for any ``‖s‖₂ <= λ``; the least ∞-norm ``t`` is the smallest with
        ``Σ_i max(|g_i| - t, 0)² <= λ²`` (the box ``-g_g ± t`` must reach the ball), found by
        :func:`_distance_to_ball`, and ``sign(g_i) min(|g_i|, t)`` attains it.

        Parameters
        ----------
        x, gradient : np.ndarray, shape (d,)
        """
        dimension = x.shape[0]
        starts = self.group_starts(dimension)
        sizes = np.diff(np.append(starts, dimension))
        norms = self.group_norms(x)
        nonzero = norms > 0
        least = gradient + self.weight * x / np.repeat(np.where(nonzero, norms, 1.0), sizes)
        zero_groups = np.flatnonzero(~nonzero)
        if zero_groups.size:
            # One row per group, the last one padded with zeros (which φ does not see).
            blocks = np.zeros((starts.size, self.group_size))
            blocks.reshape(-1)[:dimension] = gradient
            zero_blocks = blocks[zero_groups]
            reach = _distance_to_ball(np.abs(zero_blocks), self.weight)
            blocks[zero_groups] = np.sign(zero_blocks) * np.minimum(
                np.abs(zero_blocks), reach[:, None]
            )
            in_zero_group = np.repeat(~nonzero, sizes)
            least[in_zero_group] = blocks.reshape(-1)[:dimension][in_zero_group]
        return least

    def prox(self, v: np.ndarray, step: float) -> np.ndarray:
        """``prox_{step·h}(v)`` of ``v`` (shape (d,)) for ``step > 0``: each group scaled by
        ``max(0, 1 - step·weight/‖v_g‖)``; shape (d,)."""
        check_prox_step(step)
        v = np.asarray(v, dtype=np.float64)
        norms = self.group_norms(v)
        threshold = step * self.weight
        scale = np.zeros_like(norms)
        kept = norms > threshold  # the others (including all-zero groups) go to 0
        scale[kept] = 1.0 - threshold / norms[kept]
        sizes = np.diff(np.append(self.group_starts(v.shape[0]), v.shape[0]))
        return v * np.repeat(scale, sizes)


def _distance_to_ball(magnitudes: np.ndarray, radius: float) -> np.ndarray:
    """Per row ``a``: the least ``t >= 0`` with ``Σ_i max(a_i - t, 0)² <= radius²``, shape (rows,).

    That is the ∞-distance from ``a`` to the ball of the given radius.  With ``a`` sorted
    descending, ``φ(t) = Σ_i max(a_i - t, 0)²`` is convex and decreasing, and
    ``φ(a_k) = Σ_{i<=k} (a_i - a_k)²`` grows with ``k``; on the last piece ``[a_{k+1}, a_k]``
    that starts inside (``φ(a_k) <= radius²``), ``φ(t) = k t² - 2 S_k t + Q_k`` with the sums
    ``S_k``, ``Q_k`` of the ``k`` largest ``a_i`` and their squares, and ``t`` is its smaller
    root, written without cancellation as ``(Q_k - radius²) / (S_k + sqrt(S_k² - k (Q_k -
    radius²)))``.

    Parameters
    ----------
    magnitudes : np.ndarray, shape (rows, G), entries >= 0 (zero padding is harmless)
    radius : float, > 0
    """
    ordered = -np.sort(-magnitudes, axis=1)
    sums = np.cumsum(ordered, axis=1)
    squares = np.cumsum(ordered * ordered, axis=1)
    counts = np.arange(1, ordered.shape[1] + 1)
    at_knots = squares - 2.0 * ordered * sums + counts * ordered * ordered
    radius_sq = radius * radius
    active = np.maximum(np.sum(at_knots <= radius_sq, axis=1), 1)  # φ(a_1) = 0: at least 1
    rows = np.arange(ordered.shape[0])
    total, total_sq = sums[rows, active - 1], squares[rows, active - 1]
    excess = total_sq - radius_sq
    root = np.sqrt(np.maximum(total * total - active * excess, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = excess / (total + root)
    inside = squares[:, -1] <= radius_sq  # the whole row is in the ball: t = 0
    return np.where(inside | (total + root == 0), 0.0, np.maximum(reach, 0.0))
