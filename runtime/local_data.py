"""One worker's share of the training data: a sparse design matrix, labels and weights.

The local objective of worker ``w``, ``f_w(x) = Σ_{n∈w} w_n ℓ(b_n, <a_n, x>)`` (the
consensus ADMM split of README "How it works"), is built from

    A_w ∈ R^{n×d}  (``features``, CSR),  b_w ∈ R^n  (``labels``),  w ∈ R^n_{≥0}  (``weights``).

Nothing here depends on the loss; the loss objects in :mod:`runtime.losses` interpret labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class LocalData:
    """A worker's rows: ``A`` (n, d) CSR float64, ``b`` (n,) float64, optional ``w`` (n,).

    Parameters
    ----------
    features : scipy.sparse.csr_matrix, shape (n, d), float64
        The design matrix ``A``; row ``a_n`` is sample ``n``. All stored values finite.
    labels : np.ndarray, shape (n,), float64
        The targets ``b_n`` (raw; ±1 for the logistic loss, any real for squared).
    weights : np.ndarray, shape (n,), float64, or None
        Non-negative sample weights ``w_n``; None means every ``w_n = 1``.

    Notes
    -----
    Equality is identity (``eq=False``): comparing arrays field by field is ambiguous.
    The transpose ``A^T`` is cached as CSR on first use (:attr:`features_transposed`), so the
    solver's ``A^T r`` products are row-gathers rather than column scatters; the instance is
    frozen, so the cache can never go stale.
    """

    features: sp.csr_matrix
    labels: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        features = self.features
        if not (sp.issparse(features) and features.format == "csr"):
            raise ValueError(f"features must be a scipy.sparse CSR matrix, got {type(features)}")
        if features.dtype != np.float64:
            raise ValueError(f"features must have dtype float64, got {features.dtype}")
        if not np.all(np.isfinite(features.data)):
            raise ValueError("features must be finite (found NaN or inf)")
        num_samples = features.shape[0]
        _check_vector("labels", self.labels, num_samples)
        if self.weights is not None:
            _check_vector("weights", self.weights, num_samples)
            if np.any(self.weights < 0):
                raise ValueError("weights must be >= 0")

    @classmethod
    def from_arrays(
        cls,
        features: Any,
        labels: Any,
        weights: Any = None,
    ) -> LocalData:
        """Build from anything array-like, converting to CSR / float64 first.

        Parameters
        ----------
        features : array_like or sparse matrix, shape (n, d)
        labels : array_like, shape (n,)
        weights : array_like, shape (n,), optional
        """
        matrix = sp.csr_matrix(features, dtype=np.float64)
        label_array = np.asarray(labels, dtype=np.float64)
        weight_array = None if weights is None else np.asarray(weights, dtype=np.float64)
        return cls(features=matrix, labels=label_array, weights=weight_array)

    @property
    def num_samples(self) -> int:
        """``n``, the number of rows."""
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        """``d``, the number of columns (the length of ``x``)."""
        return int(self.features.shape[1])

    @property
    def nnz(self) -> int:
        """Stored entries of ``A``."""
        return int(self.features.nnz)

    @cached_property
    def features_transposed(self) -> sp.csr_matrix:
        """``A^T`` (d, n) as CSR, computed once and cached on the instance."""
        return sp.csr_matrix(self.features.T)

    @property
    def max_weight(self) -> float:
        """``max_n w_n`` (1 when unweighted, 0 when there are no rows)."""
        if self.num_samples == 0:
            return 0.0
        return 1.0 if self.weights is None else float(np.max(self.weights))


def _check_vector(name: str, values: object, length: int) -> None:
    if not isinstance(values, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(values).__name__}")
    if values.dtype != np.float64:
        raise ValueError(f"{name} must have dtype float64, got {values.dtype}")
    if values.shape != (length,):
        raise ValueError(
            f"{name} must have shape ({length},) to match features, got {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
