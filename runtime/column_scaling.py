"""Diagonal preconditioning by column scaling: the one owner of the change of variables.

Unscaled data (columns whose magnitudes differ by orders of magnitude) leaves no scalar ρ
that suits every coordinate of the consensus problem. With ``D = diag(d_1, ..., d_d)``,
``d_j`` the root mean square of column ``j`` over all N rows relative to the others,

    d_j = sqrt(S_j / N) / g,  S_j = Σ_n a_nj²  (d_j = 1 for an all-zero column),

``g`` the geometric mean of the nonzero columns' RMS,

the change of variables ``y = D x`` turns ``Σ_n ℓ(b_n, a_n·x) + h(x)`` into
``Σ_n ℓ(b_n, (a_n D^{-1})·y) + h(D^{-1} y)``: the same problem, whose columns all have the
same RMS. Workers solve their x-update with the rows ``A_w D^{-1}``
(:meth:`ColumnScaling.scale_rows`), the z-step uses ``h(D^{-1} ·)``
(:func:`runtime.scaled_penalty.penalty_in_scaled_coordinates`), and the solve's result is
mapped back with :meth:`ColumnScaling.to_original`. Every other piece of code that crosses
between the coordinates (e.g. gradients reported at z, whose original form is
``∇_x = D ∇_y``) goes through this class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from runtime.column_stats import ColumnStats
from runtime.local_data import LocalData


@dataclass(frozen=True, eq=False)
class ColumnScaling:
    """``y = D x`` with ``D = diag(scale)``, ``scale`` of shape (d,), every entry > 0."""

    scale: np.ndarray

    def __post_init__(self) -> None:
        scale = np.array(self.scale, dtype=np.float64)  # a read-only copy of its own
        if scale.ndim != 1 or not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scale must be a vector of finite numbers > 0")
        scale.setflags(write=False)
        object.__setattr__(self, "scale", scale)

    @classmethod
    def from_stats(cls, stats: ColumnStats) -> ColumnScaling:
        """``d_j = rms_j / g``: each column's RMS ``sqrt(S_j / N)`` relative to their geometric
        mean ``g`` over the nonzero columns; 1 for an all-zero column.

        Dividing by ``g`` equalizes the columns without rescaling the data as a whole: columns
        of one scale (the paper's generator, standardized data) give ``D = I``, the problem
        itself, so ρ0 and the residual tolerances keep their meaning.
        """
        rms = np.sqrt(stats.sum_of_squares / stats.num_samples)
        nonzero = rms > 0
        if not np.any(nonzero):
            return cls(scale=np.ones_like(rms))
        geometric_mean = float(np.exp(np.mean(np.log(rms[nonzero]))))
        return cls(scale=np.where(nonzero, rms / geometric_mean, 1.0))

    @property
    def num_features(self) -> int:
        return int(self.scale.shape[0])

    def with_intercept(self) -> ColumnScaling:
        """The scaling of ``x = (β, β₀)``: ``D`` on β and 1 on the intercept β₀, which
        multiplies a column of ones that is never scaled (:mod:`runtime.intercept`)."""
        return ColumnScaling(scale=np.append(self.scale, 1.0))

    def without_intercept(self) -> ColumnScaling:
        """The scaling of β alone: :meth:`with_intercept` undone."""
        return ColumnScaling(scale=self.scale[:-1])

    def to_original(self, y: np.ndarray) -> np.ndarray:
        """``x = D^{-1} y``; shape (d,) in, shape (d,) out."""
        return y / self.scale

    def from_original(self, x: np.ndarray) -> np.ndarray:
        """``y = D x``; shape (d,) in, shape (d,) out."""
        return x * self.scale

    def gradient_to_original(self, gradient: np.ndarray) -> np.ndarray:
        """``∇_x f = D ∇_y f`` for ``f(x) = g(D x)``: a gradient (or subgradient) in y, mapped."""
        return gradient * self.scale

    def scale_rows(self, data: LocalData) -> LocalData:
        """The rows ``A D^{-1}``, with labels and weights unchanged."""
        features = sp.csr_matrix(data.features @ sp.diags(1.0 / self.scale), dtype=np.float64)
        return replace(data, features=features)

    def sum_of_squares(self, stats: ColumnStats) -> np.ndarray:
        """The column sums of squares of ``A D^{-1}``: ``S_j / d_j²``, shape (d,)."""
        return stats.sum_of_squares / (self.scale * self.scale)
