"""Per-sample losses ``ℓ(b, m)`` of the margin ``m = <a_n, x>`` (the skglm "datafit" split).

The data term of a worker's objective is ``f_w(x) = Σ_n w_n ℓ(b_n, <a_n, x>)``; its gradient
is ``A^T r`` with ``r_n = w_n ∂ℓ/∂m (b_n, m_n)`` (:meth:`Loss.derivative`), and its Hessian is
bounded by ``curvature_bound · max_n w_n · A^T A``. :meth:`Loss.value_change` gives
``f(x + s) - f(x)`` from the margins and ``A s`` without the cancellation of subtracting two
values, which a line search needs near the optimum.

Losses are looked up by name in :mod:`runtime.registry` (``get_loss``).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from runtime.local_data import LocalData

#: What the local solver (FISTA with backtracking) uses of a loss.
SOLVER_NEEDS = ("curvature_bound", "value", "value_and_derivative", "value_change")


class Loss(Protocol):
    """What a solver needs from a loss: values and margin derivatives, summed with weights.

    The optional ``out`` and ``workspace`` arrays (shape (n,), float64) let a solver run
    without allocating row-sized temporaries, which on large shards cost more than the
    arithmetic (page faults of fresh megabyte buffers). ``workspace`` is scratch and is
    overwritten; ``out`` receives the derivative. Neither may alias the inputs.
    """

    name: str
    curvature_bound: float  # L of ∂ℓ/∂m: sup_m ∂²ℓ/∂m² where ℓ is twice differentiable
    signed_labels: bool  # labels must be ±1 ({0, 1} is mapped when rows are loaded)

    def value(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n ℓ(b_n, m_n)``."""
        ...

    def derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``r_n = w_n ∂ℓ/∂m (b_n, m_n)``, shape (n,)."""
        ...

    def value_and_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
        workspace: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """Both of the above."""
        ...

    def second_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``D_n = w_n ∂²ℓ/∂m² (b_n, m_n)`` (a generalized one where ℓ' has a kink), shape
        (n,): the Hessian of the data term is ``A^T diag(D) A``."""
        ...

    def value_change(
        self,
        margins: np.ndarray,
        delta: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n [ℓ(b_n, m_n + δ_n) - ℓ(b_n, m_n)]``, without cancellation for small δ."""
        ...


class LogisticLoss:
    """``ℓ(b, m) = log(1 + exp(-b m))`` for labels ``b ∈ {-1, +1}``.

    ``∂ℓ/∂m = -b σ(-b m) = -b / (1 + exp(b m))`` and ``∂²ℓ/∂m² = σ(1-σ) <= 1/4``.

    Values use the stable split ``log(1 + e^{-s}) = max(-s, 0) + log1p(exp(-|s|))`` with
    ``s = b m`` (the same identity as ``np.logaddexp(0, -s)``, but vectorized ufuncs only);
    in the derivative ``exp(b m)`` may overflow to ``inf``, giving the correct limit 0.
    """

    name = "logistic"
    curvature_bound = 0.25
    signed_labels = True

    def value(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n log(1 + exp(-b_n m_n))``; margins, labels, weights shape (n,)."""
        scratch = np.multiply(labels, margins, out=workspace)  # s = b m
        np.minimum(scratch, 0.0, out=scratch)
        total = -weighted_sum(scratch, weights)  # Σ w max(-s, 0)
        np.multiply(labels, margins, out=scratch)
        np.abs(scratch, out=scratch)
        np.negative(scratch, out=scratch)
        with np.errstate(under="ignore"):  # exp(-|s|) -> 0 is the correct limit
            np.exp(scratch, out=scratch)
        np.log1p(scratch, out=scratch)
        return total + weighted_sum(scratch, weights)

    def derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``r_n = -w_n b_n / (1 + exp(b_n m_n))``, shape (n,)."""
        result = np.multiply(labels, margins, out=out)
        with np.errstate(over="ignore", under="ignore"):  # inf and 0 give the right limits
            np.exp(result, out=result)
        result += 1.0
        np.divide(labels, result, out=result)
        np.negative(result, out=result)
        if weights is not None:
            result *= weights
        return result

    def value_and_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
        workspace: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """``(Σ_n w_n ℓ_n, r)``."""
        value = self.value(margins, labels, weights, workspace=workspace)
        return value, self.derivative(margins, labels, weights, out=out)

    def value_change(
        self,
        margins: np.ndarray,
        delta: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n [ℓ(m_n + δ_n) - ℓ(m_n)] = Σ_n w_n log1p(expm1(-b_n δ_n) / (1 + e^{b_n m_n}))``.

        Exact algebra, and accurate to relative precision however small ``δ`` is, where the
        difference of two values would lose everything below ``eps · ℓ``. When a huge margin
        or step overflows the formula, the plain difference of :meth:`value` is returned.
        """
        denominator = np.multiply(labels, margins, out=workspace)
        with np.errstate(over="ignore", under="ignore"):
            np.exp(denominator, out=denominator)
        denominator += 1.0
        ratio = np.multiply(labels, delta)
        np.negative(ratio, out=ratio)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            np.expm1(ratio, out=ratio)
            ratio /= denominator
            np.log1p(ratio, out=ratio)
        change = weighted_sum(ratio, weights)
        if math.isfinite(change):
            return change
        return self.value(margins + delta, labels, weights) - self.value(margins, labels, weights)

    def second_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``D_n = w_n σ(b_n m_n) σ(-b_n m_n) = w_n / (2 + e^{|m_n|} + e^{-|m_n|})``, shape (n,)."""
        result = np.abs(margins, out=out)
        with np.errstate(over="ignore"):  # e^{|m|} = inf gives the right limit 0
            np.exp(result, out=result)
        result += 1.0 / result
        result += 2.0
        np.reciprocal(result, out=result)
        if weights is not None:
            result *= weights
        return result


class SquaredLoss:
    """``ℓ(b, m) = (m - b)² / 2``; ``∂ℓ/∂m = m - b``, ``∂²ℓ/∂m² = 1``."""

    name = "squared"
    curvature_bound = 1.0
    signed_labels = False

    def value(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n (m_n - b_n)² / 2``; margins, labels, weights shape (n,)."""
        residual = np.subtract(margins, labels, out=workspace)
        if weights is None:
            return 0.5 * float(np.dot(residual, residual))
        np.multiply(residual, residual, out=residual)
        return 0.5 * float(np.dot(weights, residual))

    def derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``r_n = w_n (m_n - b_n)``, shape (n,)."""
        result = np.subtract(margins, labels, out=out)
        if weights is not None:
            result *= weights
        return result

    def value_and_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
        workspace: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """``(Σ_n w_n ℓ_n, r)``, computing the residual once."""
        residual = np.subtract(margins, labels, out=out)
        if weights is None:
            return 0.5 * float(np.dot(residual, residual)), residual
        weighted = np.multiply(residual, weights, out=workspace)
        value = 0.5 * float(np.dot(weighted, residual))
        residual *= weights
        return value, residual

    def value_change(
        self,
        margins: np.ndarray,
        delta: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n [ℓ(m_n + δ_n) - ℓ(m_n)] = Σ_n w_n δ_n (m_n - b_n + δ_n / 2)``."""
        change = np.multiply(delta, 0.5, out=workspace)
        change += margins
        change -= labels
        change *= delta
        return weighted_sum(change, weights)

    def second_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``D_n = w_n``, shape (n,)."""
        result = np.ones_like(margins) if out is None else out
        if out is not None:
            result.fill(1.0)
        if weights is not None:
            result *= weights
        return result


def data_objective(data: LocalData, loss: Loss, x: np.ndarray) -> float:
    """``f(x) = Σ_n w_n ℓ(b_n, <a_n, x>)`` for ``x`` of shape (d,)."""
    if x.shape != (data.num_features,):
        raise ValueError(f"x must have shape ({data.num_features},), got {x.shape}")
    margins = data.features @ x
    return loss.value(margins, data.labels, data.weights)


def weighted_sum(per_sample: np.ndarray, weights: np.ndarray | None) -> float:
    if weights is None:
        return float(np.sum(per_sample))
    return float(np.dot(weights, per_sample))
