"""The intercept: an unpenalized last coordinate of x, and the column of ones it multiplies.

With ``fit_intercept`` the model is ``Σ_n w_n ℓ(b_n, <a_n, β> + β₀) + h(β)``. Each worker
appends a constant column of ones to its rows (:func:`with_intercept_column`, after any
column scaling, so the intercept is never scaled by the data), x holds ``d + 1`` entries
``(β, β₀)``, and the penalty sees only β (:class:`FreeIntercept`): its prox leaves β₀ at the
point it is given, and its least subgradient at β₀ is the gradient itself, since ``∂h`` is
``{0}`` along a coordinate ``h`` does not depend on. That holds for every registered penalty
(elastic net, box, group lasso: the groups are formed over the d features only), because
``h(β) + 0·β₀`` is separable between β and β₀, so its prox is the pair of the two proxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import scipy.sparse as sp

from runtime.local_data import LocalData
from runtime.penalties import Proximal, ProximalPenalty


def with_intercept_column(data: LocalData) -> LocalData:
    """The rows ``[A, 1]`` (n, d + 1) with labels and weights unchanged."""
    ones = sp.csr_matrix(np.ones((data.num_samples, 1)))
    features = sp.hstack([data.features, ones], format="csr", dtype=np.float64)
    return replace(data, features=features)


def split_intercept(x: np.ndarray, *, fit_intercept: bool) -> tuple[np.ndarray, float | None]:
    """``(β, β₀)`` of a solve's x (shape (d + 1,) with an intercept, else (d,) and None)."""
    if not fit_intercept:
        return x, None
    return x[:-1].copy(), float(x[-1])


@dataclass(frozen=True, eq=False)
class FreeIntercept:
    """``h(β)`` of ``x = (β, β₀)``: a penalty over all coordinates of x but the last.

    Parameters
    ----------
    inner : Proximal
        The penalty of β (shape (d,)); for :meth:`min_norm_subgradient` it must also be a
        :class:`~runtime.penalties.ProximalPenalty` (the z-step's scaled penalties need not).
    """

    inner: Proximal

    def value(self, x: np.ndarray) -> float:
        """``h(β)`` for ``x`` of shape (d + 1,)."""
        return self.inner.value(x[:-1])

    def prox(self, v: np.ndarray, step: float) -> np.ndarray:
        """``(prox_{step·h}(v[:-1]), v[-1])``, shape (d + 1,)."""
        result = np.empty_like(v, dtype=np.float64)
        result[:-1] = self.inner.prox(v[:-1], step)
        result[-1] = v[-1]
        return result

    def min_norm_subgradient(self, x: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """The least element of ``gradient + ∂h(x)``: the inner penalty's on β, and the
        gradient itself at β₀; shape (d + 1,)."""
        inner = cast(ProximalPenalty, self.inner)
        result = np.empty_like(gradient, dtype=np.float64)
        result[:-1] = inner.min_norm_subgradient(x[:-1], gradient[:-1])
        result[-1] = gradient[-1]
        return result
