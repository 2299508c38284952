"""A worker's consensus-ADMM state and Algorithm 2's step on it.

The real worker (:mod:`runtime.worker`) and the emulated one (:mod:`runtime.emulated`) hold
their iterates here and differ only in how they compute the x-update, so the dual
arithmetic, over-relaxation and Anderson acceleration are written once.

One step, on ``iterate(k, ρ, ρ_prev, z, mix, restart)`` (README "How it works"):

1. ``r = x - z``;
2. the base: plainly ``u ← (u + r)·ρ_prev/ρ`` (Algorithm 2; Boyd et al. 2011, §3.4.1 for
   the rescaling), or, when the scheduler sends Anderson coefficients ``mix``,
   ``u ← (Σ_i mix_i T^i - z)·ρ_prev/ρ`` (:mod:`runtime.anderson`);
3. ``x ← argmin f_w(x) + (ρ/2)‖x - z + u‖²``, warm-started at the previous x;
4. with over-relaxation α ≠ 1 (Boyd et al. §3.4.3): ``u ← u + (α - 1)(x - z)``;
5. send ``ω = x + u`` with ``q = ‖r‖²``, and the scales of the relative stopping rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from runtime.anderson import AndersonHistory
from runtime.protocol import Iterate

#: ``(ρ, center, x0) -> x``: the x-update ``argmin f_w(x) + (ρ/2)‖x - center‖²`` from x0.
XUpdateFunction = Callable[[float, np.ndarray, np.ndarray], np.ndarray]

_NO_GRAM = np.zeros(0)
_NO_TERMS = np.zeros(0)


@dataclass(frozen=True)
class StepOutcome:
    """What one step sends (besides timings).

    Attributes
    ----------
    omega : np.ndarray, shape (d,)
        ``ω = x + u``, the point ``T`` of the fixed-point iteration.
    primal_sq : float
        ``‖x_prev - z‖²``.
    x_sq : float
        ``‖x_prev‖²``, the scale of the primal residual in the relative stopping rule.
    dual_sq : float
        ``‖u‖²`` after step 2 (the scaled dual of the z that was sent), the scale of the
        dual residual in the relative stopping rule.
    gram : np.ndarray, shape (n,)
        ``⟨g, g^i⟩`` over this worker's Anderson window (empty without acceleration).
    curvature : np.ndarray, shape (6,) or (0,)
        At a snapshot, this worker's terms of the spectral ρ rule's two secant estimates
        (:mod:`scheduler_host.solve.penalty_rule`) since its last snapshot:
        ``(⟨Δx, Δg⟩, ‖Δg‖², ‖Δx‖², ⟨Δz, Δy⟩, ‖Δy‖², ‖Δz‖²)`` with ``g = ∇f_w(x) =
        ρ(z - u - x)`` (the x-update's optimality condition) and ``y = ρ_prev(p - z)``, the
        worker's share of ``∂h(z)`` (the z-step's: ``Σ_w y_w ∈ ∂h(z)`` for the base p it took
        z from). Both are exact (sub)gradients whatever the base, so the secants stay valid
        under Anderson acceleration. Empty otherwise, and at a worker's first snapshot.
    """

    omega: np.ndarray
    primal_sq: float
    x_sq: float
    dual_sq: float
    gram: np.ndarray
    curvature: np.ndarray = field(default_factory=lambda: _NO_TERMS)


class AdmmState:
    """``x``, the scaled dual ``u`` (as sent: after over-relaxation), the ρ of the last step,
    and the Anderson window.

    Parameters
    ----------
    dimension : int
        d.
    relaxation : float
        α in (0, 2).
    memory : int
        Anderson memory m (0: the window stays empty and no Gram row is sent).
    """

    def __init__(self, dimension: int, *, relaxation: float, memory: int) -> None:
        self.x = np.zeros(dimension)
        self.dual = np.zeros(dimension)
        self.relaxation = relaxation
        self.memory = memory
        self.rho_last: float | None = None  # the ρ of this worker's previous step
        self.history = AndersonHistory(memory)
        self._snapshot: tuple[np.ndarray, ...] | None = None  # x, g, z, y at the last one

    def resume(self, x: np.ndarray, dual: np.ndarray) -> None:
        """Take over a slot's ``(x, u)`` (a replacement's welcome); the window and the
        snapshot start empty."""
        self.x, self.dual = x.copy(), dual.copy()
        self.history.clear()
        self._snapshot = None

    def step(self, message: Iterate, x_update: XUpdateFunction) -> StepOutcome:
        z, rho = message.z, message.rho
        # u is scaled by the ρ it was last updated with: this worker's own previous ρ (in
        # sync mode that is the broadcast's ρ_prev; in async mode iterations may be skipped).
        rho_last = message.rho_prev if self.rho_last is None else self.rho_last
        primal = self.x - z
        if self.history.can_mix(message.mix):
            base_offset = self.history.combine(message.mix) - z  # p - z
        else:  # the plain step (also a replacement's, whose window is empty)
            base_offset = self.dual + primal
        dual = base_offset * (rho_last / rho)
        if message.restart:
            self.history.clear()
        self.rho_last = rho
        x_sq = float(self.x @ self.x)
        self.x = x_update(rho, z - dual, self.x)
        alpha = self.relaxation
        self.dual = dual + (alpha - 1.0) * (self.x - z) if alpha != 1.0 else dual
        omega = self.x + self.dual
        gram = self.history.record(omega, alpha * (self.x - z)) if self.memory > 0 else _NO_GRAM
        return StepOutcome(
            omega=omega,
            primal_sq=float(primal @ primal),
            x_sq=x_sq,
            dual_sq=float(dual @ dual),
            gram=gram,
            curvature=(
                self._curvature(
                    gradient=rho * (z - dual - self.x),
                    z=z,
                    subgradient=rho_last * base_offset,
                )
                if message.snapshot
                else _NO_TERMS
            ),
        )

    def _curvature(
        self, *, gradient: np.ndarray, z: np.ndarray, subgradient: np.ndarray
    ) -> np.ndarray:
        """This step's curvature terms against the last snapshot, which this step replaces."""
        current = (self.x.copy(), gradient, z, subgradient)
        last, self._snapshot = self._snapshot, current
        if last is None:
            return _NO_TERMS
        step_x, change_g = current[0] - last[0], current[1] - last[1]
        step_z, change_y = current[2] - last[2], current[3] - last[3]
        return np.array(
            [
                float(step_x @ change_g),
                float(change_g @ change_g),
                float(step_x @ step_x),
                float(step_z @ change_y),
                float(change_y @ change_y),
                float(step_z @ step_z),
            ]
        )
