"""The group lasso on contiguous feature groups (Yuan & Lin 2006), the ``group_lasso`` kind.

    h(x) = λ Σ_g ‖x_g‖₂,   groups [0, G), [G, 2G), ..., the last one shorter if G ∤ d.

Its prox is block soft thresholding, group by group (the groups do not overlap, so the
prox separates): ``prox_{t h}(v)_g = v_g · max(0, 1 - t λ / ‖v_g‖₂)``.
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
