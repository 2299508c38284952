"""The regularizer ``h`` of the consensus problem: the protocol, and the elastic net + box.

ADMM's z-update (Boyd et al. 2011, eq. 7.6) is ``z = prox_{h / (W ρ)}(mean(x_w + u_w))``,
so what the scheduler needs of a penalty is its value and its exact prox
(:class:`ProximalPenalty`); to check the answer at the stop it also needs the least element
of ``∇f(x) + ∂h(x)`` (``min_norm_subgradient``). Kinds are registered in
:mod:`runtime.registry`; this module holds the ``elastic_net`` kind,

    h(x) = l1 ||x||_1 + (l2/2) ||x||_2^2 + ι_{[lower, upper]^d}(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runtime.penalty_specs import ElasticNetSpec

#: What the z-step uses of a penalty.
SOLVER_NEEDS = ("prox", "value")
#: What the scheduler's optimality check at the stop uses of a penalty.
OPTIMALITY_NEEDS = ("min_norm_subgradient", "value")


class Proximal(Protocol):
    """What the z-step needs of a penalty: a value and an exact proximal operator."""

    def value(self, x: np.ndarray) -> float:
        """``h(x)`` for ``x`` of shape (d,); ``math.inf`` outside its domain."""
        ...

    def prox(self, v: np.ndarray, step: float) -> np.ndarray:
        """``argmin_x h(x) + ||x - v||² / (2 step)``, shape (d,), for ``step > 0``."""
        ...


class ProximalPenalty(Proximal, Protocol):
    """A registered penalty: also its least subgradient, for the check at the stop."""

    def min_norm_subgradient(self, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """An element of ``gradient + ∂h(x)`` of least ∞-norm, shape (d,).

        Its ∞-norm is ``dist_∞(-gradient, ∂h(x))``: 0 exactly when ``x`` minimizes
        ``f + h`` for a smooth convex ``f`` with ``∇f(x) = gradient``. Entries are
        ``inf`` where ``∂h(x)`` is empty (``x`` outside the domain of ``h``).
        """
        ...


# A coordinate this far outside the box (relative to the bound) still counts as inside, so
# that values computed after clipping round-trip through arithmetic without becoming +inf.
BOX_TOLERANCE = 1e-12


def check_prox_step(step: float) -> None:
    """A prox's step must be a finite number > 0."""
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"step must be a finite number > 0, got {step}")


def soft_threshold(values: np.ndarray, threshold: float) -> np.ndarray:
    """``sign(v) max(|v| - t, 0)`` elementwise: the prox of ``t ||·||_1``.

    Parameters
    ----------
    values : np.ndarray, shape (d,)
    threshold : float, ``t >= 0``
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0.0)


@dataclass(frozen=True, kw_only=True)
class Penalty:
    """``h(x) = l1 ||x||_1 + (l2/2) ||x||² + ι(lower <= x <= upper)``, separable per coordinate.

    Parameters
    ----------
    l1 : float
        Weight of the L1 norm, ``>= 0``.
    l2 : float
        Weight of the squared L2 norm (with the 1/2), ``>= 0``.
    lower, upper : float
        Box bounds applied to every coordinate; ``-inf``/``inf`` for none.
    """

    l1: float = 0.0
    l2: float = 0.0
    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self) -> None:
        for name in ("l1", "l2"):
            weight = getattr(self, name)
            if not math.isfinite(weight):
                raise ValueError(f"{name} must be finite, got {weight}")
            if weight < 0:
                raise ValueError(f"{name} must be >= 0, got {weight}")
        if math.isnan(self.lower) or self.lower == math.inf:
            raise ValueError(f"lower must be finite or -inf, got {self.lower}")
        if math.isnan(self.upper) or self.upper == -math.inf:
            raise ValueError(f"upper must be finite or inf, got {self.upper}")
        if self.lower > self.upper:
            raise ValueError(f"lower must be <= upper, got lower={self.lower}, upper={self.upper}")

    @classmethod
    def from_spec(cls, spec: ElasticNetSpec) -> Penalty:
        """The penalty of the validated ``elastic_net`` parameters (no box: infinite bounds)."""
        return cls(
            l1=spec.l1,
            l2=spec.l2,
            lower=-math.inf if spec.box_lower is None else spec.box_lower,
            upper=math.inf if spec.box_upper is None else spec.box_upper,
        )

    @classmethod
    def none(cls) -> Penalty:
        """``h = 0``."""
        return cls()

    @property
    def has_box(self) -> bool:
        """True when at least one bound is finite."""
        return math.isfinite(self.lower) or math.isfinite(self.upper)

    @property
    def is_smooth(self) -> bool:
        """True when ``h`` is differentiable everywhere (no L1 term and no box)."""
        return self.l1 == 0 and not self.has_box

    def value(self, x: np.ndarray) -> float:
        """``h(x)`` for ``x`` of shape (d,); ``math.inf`` if ``x`` leaves the box.

        A coordinate counts as outside only when it passes a bound by more than
        ``BOX_TOLERANCE · (1 + |bound|)``.
        """
        if self.has_box and np.any(self._at_bounds(x)[2]):
            return math.inf
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.sum(np.abs(x)))
        if self.l2:
            total += 0.5 * self.l2 * float(np.dot(x, x))
        return total

    def _at_bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per coordinate: on the lower bound, on the upper bound, outside the box.

        "On" a bound means within ``BOX_TOLERANCE · (1 + |bound|)`` of it, the slack that
        :meth:`value` allows outside.
        """
        on_lower = np.zeros(x.shape, dtype=bool)
        on_upper = np.zeros(x.shape, dtype=bool)
        outside = np.zeros(x.shape, dtype=bool)
        if math.isfinite(self.lower):
            slack = BOX_TOLERANCE * (1.0 + abs(self.lower))
            on_lower = np.abs(x - self.lower) <= slack
            outside |= x < self.lower - slack
        if math.isfinite(self.upper):
            slack = BOX_TOLERANCE * (1.0 + abs(self.upper))
            on_upper = np.abs(x - self.upper) <= slack
            outside |= x > self.upper + slack
        return on_lower, on_upper, outside

    def min_norm_subgradient(self, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """The least element of ``gradient + ∂h(x)``, coordinate by coordinate, shape (d,).

        ``h`` is separable, so ``∂h(x)`` is a product of intervals
        ``[low_i, high_i] = l2 x_i + l1 ∂|x_i| + N_[lower, upper](x_i)``, with
        ``∂|0| = [-1, 1]`` and the normal cone ``(-∞, 0]`` on the lower bound, ``[0, ∞)``
        on the upper one (both on a degenerate box). Coordinate ``i`` of the result is
        ``g_i + clip(-g_i, low_i, high_i)``, the least in every norm at once; ``inf``
        outside the box.

        Parameters
        ----------
        x, gradient : np.ndarray, shape (d,)
        """
        low = self.l2 * x if self.l2 else np.zeros_like(x, dtype=np.float64)
        high = low.copy()
        if self.l1:
            sign = np.sign(x)
            low += np.where(sign == 0, -self.l1, self.l1 * sign)
            high += np.where(sign == 0, self.l1, self.l1 * sign)
        on_lower, on_upper, outside = self._at_bounds(x)
        low[on_lower] = -math.inf
        high[on_upper] = math.inf
        least = gradient + np.clip(-gradient, low, high)
        least[outside] = math.inf
        return least

    def prox(self, v: np.ndarray, step: float) -> np.ndarray:
        """``prox_{step·h}(v) = argmin_x h(x) + ||x - v||² / (2 step)``, exactly.

        Closed form: ``clip(soft_threshold(v, step·l1) / (1 + step·l2), lower, upper)``.
        It is exact because the objective is separable, so each coordinate is a 1-D problem;
        on the real line ``l1|x| + (l2/2)x² + (x - v)²/(2 step)`` is minimized by the scaled
        soft threshold, and a convex 1-D function restricted to an interval is minimized by
        clipping its unconstrained minimizer to that interval.

        Parameters
        ----------
        v : np.ndarray, shape (d,)
        step : float, ``> 0``

        Returns
        -------
        np.ndarray, shape (d,)
        """
        check_prox_step(step)
        shrunk = soft_threshold(v, step * self.l1) if self.l1 else np.array(v, dtype=np.float64)
        if self.l2:
            shrunk /= 1.0 + step * self.l2
        if self.has_box:
            np.clip(shrunk, self.lower, self.upper, out=shrunk)
        return shrunk
