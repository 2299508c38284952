"""Anderson acceleration of consensus ADMM: the worker's share of the history.

Consensus ADMM with over-relaxation α is a fixed-point iteration on the stacked vectors the
workers send, ``p = (p_1, …, p_W)`` (relaxed Douglas–Rachford; Eckstein & Bertsekas 1992).
From a base ``p^k`` the scheduler takes ``z^k = prox_{h/(Wρ)}(mean_w p_w^k)``, and worker w

    u_w = (p_w^k - z^k)·ρ_prev/ρ,   x_w = argmin f_w(x) + (ρ/2)‖x - z^k + u_w‖²,
    T_w^k = z^k + u_w + α(x_w - z^k)   (the ω it sends),   g_w^k = α(x_w - z^k)

(``g`` is the fixed-point residual ``T(p) - p`` once ρ stays fixed). Plain ADMM takes
``p^{k+1} = T^k``. Type-II Anderson acceleration (Walker & Ni 2011; as A2DR applies it to
distributed Douglas–Rachford, Fu, Zhang & Boyd 2020) takes a combination of the last few
``T``'s instead, ``p^{k+1} = Σ_i c_i T^i`` with ``Σ_i c_i = 1`` and ``c`` minimizing
``‖Σ_i c_i g^i‖``.  That least-squares problem only needs the Gram matrix
``G_ij = Σ_w ⟨g_w^i, g_w^j⟩``, a sum over the workers: each worker keeps its own ``T`` and
``g`` of the window (this class), sends one row of inner products with each update, and
applies the coefficients the scheduler broadcasts with the next z.  No d-vector moves that
plain ADMM does not move already.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from runtime.specs import MAX_ANDERSON_MEMORY

#: The longest window a broadcast or an update may describe (memory + 1 entries).
MAX_WINDOW = MAX_ANDERSON_MEMORY + 1


class AndersonHistory:
    """The last ``memory + 1`` points ``T`` a worker sent and their residuals ``g``.

    Parameters
    ----------
    memory : int
        ``m``, how many past iterations a combination may reach back (0: no acceleration).
    """

    def __init__(self, memory: int) -> None:
        if not 0 <= memory <= MAX_ANDERSON_MEMORY:
            raise ValueError(f"memory must be in [0, {MAX_ANDERSON_MEMORY}], got {memory}")
        self._points: deque[np.ndarray] = deque(maxlen=memory + 1)
        self._residuals: deque[np.ndarray] = deque(maxlen=memory + 1)

    def __len__(self) -> int:
        return len(self._points)

    def can_mix(self, mix: np.ndarray) -> bool:
        """Whether the window holds the ``len(mix)`` newest points ``mix`` combines."""
        return 0 < mix.size <= len(self._points)

    def combine(self, mix: np.ndarray) -> np.ndarray:
        """``Σ_i mix_i T^i`` over the ``len(mix)`` newest points, oldest first; shape (d,)."""
        if not self.can_mix(mix):
            raise ValueError(f"a mix of {mix.size} points, but the window holds {len(self)}")
        newest = list(self._points)[-mix.size :]
        base = mix[0] * newest[0]
        for weight, point in zip(mix[1:], newest[1:], strict=True):
            base += weight * point
        return base

    def clear(self) -> None:
        """Forget the window (ρ changed, or the scheduler restarted the acceleration)."""
        self._points.clear()
        self._residuals.clear()

    def record(self, point: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """Add ``(T, g)``; return ``⟨g, g^i⟩`` for every residual in the window, oldest first
        (the last entry is ``‖g‖²``), shape (len(window),)."""
        self._points.append(point)
        self._residuals.append(residual)
        return np.array([float(residual @ other) for other in self._residuals])
