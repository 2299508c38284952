"""The squared hinge loss of the L2-loss linear SVM (Fan et al. 2008, LIBLINEAR, eq. (2)).

    ℓ(b, m) = max(0, 1 - b m)²,   b ∈ {-1, +1}

``∂ℓ/∂m = -2 b max(0, 1 - b m)`` is continuous and 2-Lipschitz in ``m`` (``∂²ℓ/∂m² = 2`` on
the active side ``b m < 1``, 0 beyond), so row ``n`` contributes at most ``2 w_n ‖a_n‖²``
to the curvature of ``Σ_n w_n ℓ(b_n, <a_n, x>)``.
"""

from __future__ import annotations

import numpy as np

from runtime.losses import Array, Buffer, Loss, Weights, weighted_sum


class SquaredHingeLoss(Loss):
    """``ℓ(b, m) = max(0, 1 - b m)²`` for labels ``b ∈ {-1, +1}``."""

    name = "squared_hinge"
    curvature_bound = 2.0
    signed_labels = True

    @staticmethod
    def _slack(margins: Array, labels: Array, out: Buffer) -> Array:
        """``max(0, 1 - b m)``, shape (n,)."""
        slack = np.multiply(labels, margins, out=out)
        np.subtract(1.0, slack, out=slack)
        return np.maximum(slack, 0.0, out=slack)

    def _value(self, margins: Array, labels: Array, weights: Weights, scratch: Buffer) -> float:
        """``Σ_n w_n max(0, 1 - b_n m_n)²``."""
        slack = self._slack(margins, labels, scratch)
        if weights is None:
            return float(np.dot(slack, slack))
        np.multiply(slack, slack, out=slack)
        return float(np.dot(weights, slack))

    def _derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """``-2 b_n max(0, 1 - b_n m_n)``."""
        result = self._slack(margins, labels, out)
        result *= labels
        result *= -2.0
        return result

    def _value_and_derivative(
        self, margins: Array, labels: Array, weights: Weights, out: Buffer, scratch: Buffer
    ) -> tuple[float, Array]:
        """Computing the slack once."""
        slack = self._slack(margins, labels, out)
        if weights is None:
            value = float(np.dot(slack, slack))
        else:
            weighted = np.multiply(slack, weights, out=scratch)
            value = float(np.dot(weighted, slack))
            slack *= weights
        slack *= labels
        slack *= -2.0
        return value, slack

    def _second_derivative(self, margins: Array, labels: Array, out: Buffer) -> Array:
        """The generalized second derivative ``2 [b_n m_n < 1]`` (as in liblinear's TRON for
        the L2-loss SVM)."""
        active = np.multiply(labels, margins) < 1.0
        return np.multiply(active, 2.0, out=out)

    def _value_change(
        self, margins: Array, delta: Array, labels: Array, weights: Weights, scratch: Buffer
    ) -> float:
        """``Σ_n w_n (p'_n - p_n)(p'_n + p_n)`` with ``p = max(0, 1 - b m)``, ``p' `` at ``m + δ``.

        Where both slacks are positive, ``p' - p = -b δ`` exactly, so a tiny step's change is
        accurate to relative precision rather than lost in the difference of two values.
        """
        before = self._slack(margins, labels, scratch)
        after = np.add(margins, delta)
        after = self._slack(after, labels, after)
        difference = np.subtract(after, before)
        both_active = (before > 0) & (after > 0)
        np.copyto(difference, -labels * delta, where=both_active)
        after += before
        difference *= after
        return weighted_sum(difference, weights)
