"""Per-sample losses ``ℓ(b, m)`` of the margin ``m = <a_n, x>`` (the skglm "datafit" split).

The data term of a worker's objective is ``f_w(x) = Σ_n w_n ℓ(b_n, <a_n, x>)``; its gradient
is ``A^T r`` with ``r_n = w_n ∂ℓ/∂m (b_n, m_n)`` (:meth:`Loss.derivative`), and its Hessian is
``A^T diag(D) A`` (:meth:`Loss.second_derivative`), bounded by
``curvature_bound · max_n w_n · A^T A``. :meth:`Loss.value_change` gives ``f(x + s) - f(x)``
from the margins and ``A s`` without the cancellation of subtracting two values, which a line
search needs near the optimum.

Losses are looked up by name in :mod:`runtime.registry` (``get_loss``).
"""

from __future__ import annotations

import math

import numpy as np

from runtime.local_data import LocalData

#: What the local solver (FISTA with backtracking) uses of a loss.
SOLVER_NEEDS = ("curvature_bound", "value", "value_and_derivative", "value_change")

Array = np.ndarray
#: Per-sample weights ``w_n`` of shape (n,), or None for all ones.
Weights = np.ndarray | None
#: A caller's optional buffer of shape (n,), float64: scratch, or where a result goes.
Buffer = np.ndarray | None


class Loss:
    """What a solver needs from a loss: values and margin derivatives, summed with weights.

    The optional ``out`` and ``workspace`` arrays (shape (n,), float64) let a solver run
    without allocating row-sized temporaries, which on large shards cost more than the
    arithmetic (page faults of fresh megabyte buffers). ``workspace`` is scratch and is
    overwritten; ``out`` receives the derivative. Neither may alias the inputs.

    A loss subclasses this and defines its per-sample formulas in the ``_`` methods, whose
    buffers are positional; the weights of the derivatives are applied here, once.
    """

    name: str
    curvature_bound: float  # L of ∂ℓ/∂m: sup_m ∂²ℓ/∂m² where ℓ is twice differentiable
    signed_labels: bool  # labels must be ±1 (two classes are mapped once: runtime.labels)

    def value(
        self,
        margins: Array,
        labels: Array,
        weights: Weights,
        *,
        workspace: Buffer = None,
    ) -> float:
        """``Σ_n w_n ℓ(b_n, m_n)``; margins, labels, weights shape (n,)."""
        return self._value(margins, labels, weights, workspace)

    def derivative(
        self, margins: Array, labels: Array, weights: Weights, *, out: Buffer = None
    ) -> Array:
        """``r_n = w_n ∂ℓ/∂m (b_n, m_n)``, shape (n,)."""
        return _weighted(self._derivative(margins, labels, out), weights)

    def value_and_derivative(
        self,
        margins: Array,
        labels: Array,
        weights: Weights,
        *,
        out: Buffer = None,
        workspace: Buffer = None,
    ) -> tuple[float, np.ndarray]:
        """``(Σ_n w_n ℓ_n, r)``."""
        return self._value_and_derivative(margins, labels, weights, out, workspace)

    def second_derivative(
        self, margins: Array, labels: Array, weights: Weights, *, out: Buffer = None
    ) -> Array:
        """``D_n = w_n ∂²ℓ/∂m² (b_n, m_n)`` (a generalized one where ℓ' has a kink), shape
        (n,): the Hessian of the data term is ``A^T diag(D) A``."""
        return _weighted(self._second_derivative(margins, labels, out), weights)

    def value_change(
        self,
        margins: Array,
        delta: Array,
        labels: Array,
        weights: Weights,
        *,
        workspace: Buffer = None,
    ) -> float:
        """``Σ_n w_n [ℓ(b_n, m_n + δ_n) - ℓ(b_n, m_n)]``, without cancellation for small δ."""
        return self._value_change(margins, delta, labels, weights, workspace)

    # A loss's formulas: the weighted sums, and the unweighted per-sample derivatives.
    def _value(self, margins: Array, labels: Array, weights: Weights, scratch: Buffer) -> float:
        raise NotImplementedError

    def _derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``∂ℓ/∂m (b_n, m_n)``, unweighted, into ``out`` when given."""
        raise NotImplementedError

    def _second_derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``∂²ℓ/∂m² (b_n, m_n)``, unweighted, into ``out`` when given."""
        raise NotImplementedError

    def _value_change(
        self, margins: Array, delta: Array, labels: Array, weights: Weights, scratch: Buffer
    ) -> float:
        raise NotImplementedError

    def _value_and_derivative(
        self, margins: Array, labels: Array, weights: Weights, out: Buffer, scratch: Buffer
    ) -> tuple[float, Array]:
        """Both sums; a loss overrides it where the two share work."""
        value = self._value(margins, labels, weights, scratch)
        return value, self.derivative(margins, labels, weights, out=out)


def _weighted(per_sample: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is not None:
        per_sample *= weights
    return per_sample


class LogisticLoss(Loss):
    """``ℓ(b, m) = log(1 + exp(-b m))`` for labels ``b ∈ {-1, +1}``.

    ``∂ℓ/∂m = -b σ(-b m) = -b / (1 + exp(b m))`` and ``∂²ℓ/∂m² = σ(1-σ) <= 1/4``.

    Values use the stable split ``log(1 + e^{-s}) = max(-s, 0) + log1p(exp(-|s|))`` with
    ``s = b m`` (the same identity as ``np.logaddexp(0, -s)``, but vectorized ufuncs only);
    in the derivative ``exp(b m)`` may overflow to ``inf``, giving the correct limit 0.
    """

    name = "logistic"
    curvature_bound = 0.25
    signed_labels = True

    def _value(self, margins: Array, labels: Array, weights: Weights, scratch: Buffer) -> float:
        """``Σ_n w_n log(1 + exp(-b_n m_n))``."""
        scratch = np.multiply(labels, margins, out=scratch)  # s = b m
        np.minimum(scratch, 0.0, out=scratch)
        total = -weighted_sum(scratch, weights)  # Σ w max(-s, 0)
        np.multiply(labels, margins, out=scratch)
        np.abs(scratch, out=scratch)
        np.negative(scratch, out=scratch)
        with np.errstate(under="ignore"):  # exp(-|s|) -> 0 is the correct limit
            np.exp(scratch, out=scratch)
        np.log1p(scratch, out=scratch)
        return total + weighted_sum(scratch, weights)

    def _derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``-b_n / (1 + exp(b_n m_n))``."""
        result = np.multiply(labels, margins, out=out)
        with np.errstate(over="ignore", under="ignore"):  # inf and 0 give the right limits
            np.exp(result, out=result)
        result += 1.0
        np.divide(labels, result, out=result)
        return np.negative(result, out=result)

    def _value_change(
        self, margins: Array, delta: Array, labels: Array, weights: Weights, scratch: Buffer
    ) -> float:
        """``Σ_n w_n log1p(expm1(-b_n δ_n) / (1 + e^{b_n m_n}))``.

        Exact algebra, and accurate to relative precision however small ``δ`` is, where the
        difference of two values would lose everything below ``eps · ℓ``. When a huge margin
        or step overflows the formula, the plain difference of :meth:`value` is returned.
        """
        denominator = np.multiply(labels, margins, out=scratch)
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

    def _second_derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``σ(b_n m_n) σ(-b_n m_n) = 1 / (2 + e^{|m_n|} + e^{-|m_n|})``."""
        result = np.abs(margins, out=out)
        with np.errstate(over="ignore"):  # e^{|m|} = inf gives the right limit 0
            np.exp(result, out=result)
        result += 1.0 / result
        result += 2.0
        return np.reciprocal(result, out=result)


class SquaredLoss(Loss):
    """``ℓ(b, m) = (m - b)² / 2``; ``∂ℓ/∂m = m - b``, ``∂²ℓ/∂m² = 1``."""

    name = "squared"
    curvature_bound = 1.0
    signed_labels = False

    def _value(self, margins: Array, labels: Array, weights: Weights, scratch: Buffer) -> float:
        """``Σ_n w_n (m_n - b_n)² / 2``."""
        residual = np.subtract(margins, labels, out=scratch)
        if weights is None:
            return 0.5 * float(np.dot(residual, residual))
        np.multiply(residual, residual, out=residual)
        return 0.5 * float(np.dot(weights, residual))

    def _derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``m_n - b_n``."""
        return np.subtract(margins, labels, out=out)

    def _value_and_derivative(
        self, margins: Array, labels: Array, weights: Weights, out: Buffer, scratch: Buffer
    ) -> tuple[float, Array]:
        """Computing the residual once."""
        residual = np.subtract(margins, labels, out=out)
        if weights is None:
            return 0.5 * float(np.dot(residual, residual)), residual
        weighted = np.multiply(residual, weights, out=scratch)
        value = 0.5 * float(np.dot(weighted, residual))
        residual *= weights
        return value, residual

    def _value_change(
        self, margins: Array, delta: Array, labels: Array, weights: Weights, scratch: Buffer
    ) -> float:
        """``Σ_n w_n δ_n (m_n - b_n + δ_n / 2)``."""
        change = np.multiply(delta, 0.5, out=scratch)
        change += margins
        change -= labels
        change *= delta
        return weighted_sum(change, weights)

    def _second_derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``1``."""
        if out is None:
            return np.ones_like(margins)
        out.fill(1.0)
        return out


def _margins(data: LocalData, x: np.ndarray) -> np.ndarray:
    """``A x``, shape (n,), for ``x`` of shape (d,)."""
    if x.shape != (data.num_features,):
        raise ValueError(f"x must have shape ({data.num_features},), got {x.shape}")
    margins: np.ndarray = data.features @ x
    return margins


def data_objective(data: LocalData, loss: Loss, x: np.ndarray) -> float:
    """``f(x) = Σ_n w_n ℓ(b_n, <a_n, x>)`` for ``x`` of shape (d,)."""
    return loss.value(_margins(data, x), data.labels, data.weights)


def data_objective_and_gradient(
    data: LocalData, loss: Loss, x: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(f(x), ∇f(x))`` for ``x`` of shape (d,): ``∇f(x) = A^T r`` (d,), ``r`` of
    :meth:`Loss.derivative`; ``f(x)`` is exactly :func:`data_objective`'s."""
    margins = _margins(data, x)
    value = loss.value(margins, data.labels, data.weights)
    derivative = loss.derivative(margins, data.labels, data.weights)
    gradient: np.ndarray = data.features_transposed @ derivative
    return value, gradient


def weighted_sum(per_sample: np.ndarray, weights: np.ndarray | None) -> float:
    if weights is None:
        return float(np.sum(per_sample))
    return float(np.dot(weights, per_sample))
