"""The squared hinge loss of the L2-loss linear SVM (Fan et al. 2008, LIBLINEAR, eq. (2)).

    ℓ(b, m) = max(0, 1 - b m)²,   b ∈ {-1, +1}

``∂ℓ/∂m = -2 b max(0, 1 - b m)`` is continuous and 2-Lipschitz in ``m`` (``∂²ℓ/∂m² = 2`` on
the active side ``b m < 1``, 0 beyond), so row ``n`` contributes at most ``2 w_n ‖a_n‖²``
to the curvature of ``Σ_n w_n ℓ(b_n, <a_n, x>)``.
"""

from __future__ import annotations

import numpy as np

from runtime.losses import weighted_sum


class SquaredHingeLoss:
    """``ℓ(b, m) = max(0, 1 - b m)²`` for labels ``b ∈ {-1, +1}``."""

    name = "squared_hinge"
    curvature_bound = 2.0
    signed_labels = True

    @staticmethod
    def _slack(margins: np.ndarray, labels: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``max(0, 1 - b m)``, shape (n,)."""
        slack = np.multiply(labels, margins, out=out)
        np.subtract(1.0, slack, out=slack)
        return np.maximum(slack, 0.0, out=slack)

    def value(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n max(0, 1 - b_n m_n)²``; margins, labels, weights shape (n,)."""
        slack = self._slack(margins, labels, workspace)
        if weights is None:
            return float(np.dot(slack, slack))
        np.multiply(slack, slack, out=slack)
        return float(np.dot(weights, slack))

    def derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``r_n = -2 w_n b_n max(0, 1 - b_n m_n)``, shape (n,)."""
        result = self._slack(margins, labels, out)
        result *= labels
        result *= -2.0
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
        """``(Σ_n w_n ℓ_n, r)``, computing the slack once."""
        slack = self._slack(margins, labels, out)
        if weights is None:
            value = float(np.dot(slack, slack))
        else:
            weighted = np.multiply(slack, weights, out=workspace)
            value = float(np.dot(weighted, slack))
            slack *= weights
        slack *= labels
        slack *= -2.0
        return value, slack

    def second_derivative(
        self,
        margins: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """The generalized second derivative ``D_n = 2 w_n [b_n m_n < 1]``, shape (n,)
        (as in liblinear's TRON for the L2-loss SVM)."""
        active = np.multiply(labels, margins) < 1.0
        result = np.multiply(active, 2.0, out=out)
        if weights is not None:
            result *= weights
        return result

    def value_change(
        self,
        margins: np.ndarray,
        delta: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        *,
        workspace: np.ndarray | None = None,
    ) -> float:
        """``Σ_n w_n (p'_n - p_n)(p'_n + p_n)`` with ``p = max(0, 1 - b m)``, ``p' `` at ``m + δ``.

        Where both slacks are positive, ``p' - p = -b δ`` exactly, so a tiny step's change is
        accurate to relative precision rather than lost in the difference of two values.
        """
        before = self._slack(margins, labels, workspace)
        after = np.add(margins, delta)
        after = self._slack(after, labels, after)
        difference = np.subtract(after, before)
        both_active = (before > 0) & (after > 0)
        np.copyto(difference, -labels * delta, where=both_active)
        after += before
        difference *= after
        return weighted_sum(difference, weights)
