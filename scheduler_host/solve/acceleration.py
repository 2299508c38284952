"""Anderson acceleration of consensus ADMM, the scheduler's half (:mod:`runtime.anderson` has
the workers' half and the derivation).

The scheduler keeps, for the last ``m + 1`` iterations, ``S^i = Σ_w T_w^i`` (the sums of the
ω's it reduces anyway) and the Gram matrix ``G_ij = Σ_w ⟨g_w^i, g_w^j⟩``, one row of which
arrives summed with every iteration's updates. From them it picks the next base,

    c = argmin_{Σc = 1} ‖Σ_i c_i g^i‖²,  solved as  (G + η·tr(G)/n·I) c = 1, c ← c / Σc,

(type-II Anderson acceleration with Tikhonov regularization η, as in A2DR, Fu, Zhang & Boyd
2020), broadcasts ``c`` with the next z, and takes that z from ``mean p = Σ_i c_i S^i / W``.

Safeguard (SCS 3's): an accelerated base is kept only if its residual ‖g‖ is no larger than
the residual of the step before it; otherwise the next base is the plain step from the base
before, ``T^{k-1}``, and the window restarts (one iteration is lost). The window also
restarts whenever the map changes (ρ changes, a worker is replaced) or the workers' rows
disagree in length (a worker that could not follow a combination): each restart is
deterministic, so all workers agree on their windows.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

#: Tikhonov weight η, relative to the mean diagonal of G.
REGULARIZATION = 1e-10
#: An accelerated base is kept while its residual is at most this factor times the residual
#: of the step before it (SCS 3's safeguard factor).
SAFEGUARD_FACTOR = 1.0

_PLAIN = np.zeros(0)


@dataclass(frozen=True)
class Mix:
    """The next base: ``coefficients`` over the newest points (empty: the plain step) and
    ``base_sum = Σ_i c_i S^i``; ``restart``: the workers forget their window after using it."""

    coefficients: np.ndarray
    base_sum: np.ndarray
    restart: bool


class AndersonMixer:
    """The window of sums and the Gram matrix; ``memory = 0`` gives plain steps only."""

    def __init__(self, *, memory: int) -> None:
        self._memory = memory
        self._sums: deque[np.ndarray] = deque(maxlen=memory + 1)
        self._gram = np.zeros((0, 0))
        self._last_residual = math.inf
        self._last_accelerated = False
        self._restart_due = False
        self.restarts = 0

    def request_restart(self) -> None:
        """Restart at the next step (a worker was replaced, or ρ is about to change)."""
        self._restart_due = True

    def next_mix(self, *, omega_sum: np.ndarray, gram_row: np.ndarray | None) -> Mix:
        """Take iteration k's ``S^k`` and Gram row; return the base of iteration k + 1."""
        previous = self._sums[-1] if self._sums else None
        self._sums.append(omega_sum)
        consistent = gram_row is not None and gram_row.shape[0] == len(self._sums)
        if self._memory == 0:
            return Mix(coefficients=_PLAIN, base_sum=omega_sum, restart=False)
        if not consistent or self._restart_due:
            return self._restart(omega_sum)
        assert gram_row is not None
        self._grow_gram(gram_row)
        residual = math.sqrt(max(float(gram_row[-1]), 0.0))
        last_residual, self._last_residual = self._last_residual, residual
        if self._last_accelerated and residual > SAFEGUARD_FACTOR * last_residual:
            # the accelerated base was no good: the plain step from the base before it
            assert previous is not None  # an accelerated step had a window
            return self._restart(previous, coefficients=np.array([1.0, 0.0]))
        coefficients = self._coefficients()
        if coefficients is None or coefficients.shape[0] == 1:
            self._last_accelerated = False
            return Mix(coefficients=_PLAIN, base_sum=omega_sum, restart=False)
        self._last_accelerated = True
        newest = list(self._sums)[-coefficients.shape[0] :]
        base_sum = coefficients[0] * newest[0]
        for weight, total in zip(coefficients[1:], newest[1:], strict=True):
            base_sum = base_sum + weight * total
        return Mix(coefficients=coefficients, base_sum=base_sum, restart=False)

    def restart_now(self, mix: Mix) -> Mix:
        """``mix`` with the window restarting after it (ρ changes with this step)."""
        if mix.restart:
            return mix
        self._clear()
        return Mix(coefficients=mix.coefficients, base_sum=mix.base_sum, restart=True)

    def _restart(self, base_sum: np.ndarray, *, coefficients: np.ndarray = _PLAIN) -> Mix:
        self._clear()
        return Mix(coefficients=coefficients, base_sum=base_sum, restart=True)

    def _clear(self) -> None:
        self._sums.clear()
        self._gram = np.zeros((0, 0))
        self._last_accelerated = False
        self._restart_due = False
        self.restarts += 1

    def _grow_gram(self, row: np.ndarray) -> None:
        size = row.shape[0]
        kept = self._gram[-(size - 1) :, -(size - 1) :] if size > 1 else np.zeros((0, 0))
        gram = np.empty((size, size))
        gram[: size - 1, : size - 1] = kept
        gram[size - 1, :] = row
        gram[:, size - 1] = row
        self._gram = gram

    def _coefficients(self) -> np.ndarray | None:
        gram = self._gram
        size = gram.shape[0]
        if size < 2:
            return None
        scale = float(np.trace(gram)) / size
        if not (scale > 0 and math.isfinite(scale)):
            return None
        try:
            solution = np.linalg.solve(gram + REGULARIZATION * scale * np.eye(size), np.ones(size))
        except np.linalg.LinAlgError:
            return None
        total = float(solution.sum())
        if not (math.isfinite(total) and abs(total) > 0):
            return None
        coefficients = solution / total
        return coefficients if bool(np.all(np.isfinite(coefficients))) else None
