"""How ρ changes between iterations: residual balancing, or the spectral (Barzilai–Borwein) rule.

``balance`` is the paper's rule (Boyd et al. 2011, §3.4.1), computed by
:func:`scheduler_host.solve.global_step.next_rho`.

``spectral`` is adaptive ADMM with spectral penalty selection (Z. Xu, M. Figueiredo and
T. Goldstein, "Adaptive ADMM with spectral penalty parameter selection", AISTATS 2017),
for the consensus problem ``x_w - z = 0`` with one ρ for all workers. Every
:data:`SPECTRAL_PERIOD` iterations it compares the iterates with those of the last estimate:

* ``α``, the curvature of ``Σ_w f_w``, from ``Δx_w`` and ``Δŷ_w`` (``ŷ_w = ρ(ω_w - z_prev)``,
  the dual before the z-step, so ``-ŷ_w ∈ ∂f_w(x_w)``): inner products that each worker
  computes against its own snapshot and sends with its update (``Update.curvature``, summed
  by the slots), so the scheduler never needs the workers' x (which it could not rebuild
  under Anderson acceleration) and never stacks W of them;
* ``β``, the curvature of ``h``, from ``Δz`` and ``Δy_w`` (``y_w = ρ(ω_w - z)``, so
  ``Σ_w y_w ∈ ∂h(z)``), from the ω's the scheduler holds;

each as a Barzilai–Borwein step (the steepest-descent and minimum-gradient estimates,
hybridized as the paper does). The next ρ is ``√(αβ)``, or the one estimate whose
correlation ``⟨Δ, Δ'⟩ / (‖Δ‖‖Δ'‖)`` exceeds :data:`SPECTRAL_MIN_CORRELATION`, or ρ unchanged
when neither does (or an estimate is negative, zero, or not finite). Safeguards: the change
is at most ``1 + C/k²`` either way (the paper's condition for convergence), it is rounded to
a power of ``2^(1/4)`` times ρ (so rounding noise in the iterates never changes ρ: a
replaced worker's run keeps the fault-free run's ρ), and ρ stays within the
:class:`~scheduler_host.solve.global_step.RhoBounds`.

The iterations with an estimate (and the first) are snapshots: the broadcast says so
(``Iterate.snapshot``), so the workers' snapshots and the scheduler's are of one iteration.
A worker without a snapshot of its own (a replacement) sends no terms, and that estimate
of α is missing (as one that does not correlate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scheduler_host.solve.global_step import GlobalStep, RhoBounds
from scheduler_host.solve_spec import RhoRuleName

#: Iterations between spectral estimates (T_f of Xu et al.).
SPECTRAL_PERIOD = 2
#: ε_cor of Xu et al.: an estimate is used only if its two differences correlate this well.
SPECTRAL_MIN_CORRELATION = 0.2
#: C_cg of Xu et al.: ρ changes by at most a factor 1 + C/k² at iteration k. With 1e4 the
#: limit falls under the rounding step (2^(1/8)) after about 330 iterations, so ρ settles
#: and Anderson acceleration, which every change of ρ restarts, keeps its window. Measured on
#: breast_cancer unscaled at W = 2 / 4 (iterations to a 1e-6 gap, Anderson on): 311 / 357
#: with 1e4 against 581 / 544 with Xu et al.'s 1e10.
SPECTRAL_CHANGE_CONSTANT = 1e4
#: ρ moves in steps of 2^(1/SPECTRAL_STEPS_PER_OCTAVE).
SPECTRAL_STEPS_PER_OCTAVE = 4


@dataclass(frozen=True)
class SpectralInputs:
    """What one global step gives the spectral rule."""

    curvature: np.ndarray | None  # Σ_w (⟨Δx_w, Δĝ_w⟩, ‖Δĝ_w‖², ‖Δx_w‖²); None: incomplete
    omega: np.ndarray  # ω_w sent (x_w plus the dual before the z-step), shape (W, d)
    z: np.ndarray  # the global step's new z, shape (d,)


@dataclass(frozen=True)
class _Snapshot:
    dual: np.ndarray
    z: np.ndarray


@dataclass(frozen=True)
class CurvatureEstimate:
    """A Barzilai–Borwein estimate and how well its two differences correlate."""

    value: float | None  # None: not positive and finite
    correlation: float


def curvature_estimate(*, inner: float, gradient_sq: float, step_sq: float) -> CurvatureEstimate:
    """The hybrid BB estimate from ``⟨Δv, Δg⟩``, ``‖Δg‖²``, ``‖Δv‖²`` (Xu et al., eq. 14-16).

    ``steepest = ‖Δg‖²/⟨Δv, Δg⟩``, ``min_gradient = ⟨Δv, Δg⟩/‖Δv‖²``; the value is
    ``min_gradient`` if ``2·min_gradient > steepest``, else ``steepest - min_gradient/2``.
    """
    terms = (inner, gradient_sq, step_sq)
    if not all(math.isfinite(term) for term in terms) or min(terms) <= 0:
        return CurvatureEstimate(value=None, correlation=0.0)
    steepest, min_gradient = gradient_sq / inner, inner / step_sq
    value = min_gradient if 2 * min_gradient > steepest else steepest - min_gradient / 2
    correlation = inner / math.sqrt(gradient_sq * step_sq)
    return CurvatureEstimate(
        value=value if math.isfinite(value) and value > 0 else None, correlation=correlation
    )


def spectral_choice(rho: float, *, f: CurvatureEstimate, h: CurvatureEstimate) -> float:
    """``√(αβ)``, else the one estimate that correlates, else ``rho``."""
    f_ok = f.value is not None and f.correlation > SPECTRAL_MIN_CORRELATION
    h_ok = h.value is not None and h.correlation > SPECTRAL_MIN_CORRELATION
    if f_ok and h_ok:
        assert f.value is not None and h.value is not None
        return math.sqrt(f.value * h.value)
    if f_ok:
        assert f.value is not None
        return f.value
    if h_ok:
        assert h.value is not None
        return h.value
    return rho


def safeguarded(rho: float, proposal: float, *, iteration: int, bounds: RhoBounds | None) -> float:
    """``proposal`` limited to a ``1 + C/k²`` change, rounded to a power of ``2^(1/4)``
    times ``rho``, within ``bounds``."""
    if not (math.isfinite(proposal) and proposal > 0):
        return rho
    limit = 1.0 + SPECTRAL_CHANGE_CONSTANT / iteration**2
    proposal = min(max(proposal, rho / limit), rho * limit)
    steps = round(SPECTRAL_STEPS_PER_OCTAVE * math.log2(proposal / rho))
    rho_next = rho * 2.0 ** (steps / SPECTRAL_STEPS_PER_OCTAVE) if steps else rho
    return rho_next if bounds is None else bounds.clip(rho_next)


class SpectralPenalty:
    """The spectral rule's state: the iterates of its last estimate."""

    def __init__(self, *, bounds: RhoBounds | None) -> None:
        self._bounds = bounds
        self._last: _Snapshot | None = None

    def snapshot_due(self, iteration: int) -> bool:
        """Whether :meth:`next_rho` takes a snapshot at ``iteration`` (the broadcast says so)."""
        return self._last is None or iteration % SPECTRAL_PERIOD == 0

    def next_rho(self, *, iteration: int, rho: float, inputs: SpectralInputs | None) -> float:
        """ρ for the next iteration, from this iteration's iterates (computed at ``rho``);
        ``inputs`` only at a snapshot (:meth:`snapshot_due`), else ρ stays."""
        if inputs is None:
            return rho
        current = _Snapshot(dual=rho * (inputs.omega - inputs.z), z=inputs.z)
        last, due = self._last, iteration % SPECTRAL_PERIOD == 0
        if last is None or due:
            self._last = current
        if last is None or not due:
            return rho
        num_workers = inputs.omega.shape[0]
        step_z, gradient_h = current.z - last.z, current.dual - last.dual
        terms = inputs.curvature
        f = (
            CurvatureEstimate(value=None, correlation=0.0)
            if terms is None
            else curvature_estimate(inner=terms[0], gradient_sq=terms[1], step_sq=terms[2])
        )
        h = curvature_estimate(
            inner=float(np.dot(step_z, gradient_h.sum(axis=0))),
            gradient_sq=float(np.vdot(gradient_h, gradient_h)),
            step_sq=num_workers * float(np.dot(step_z, step_z)),
        )
        proposal = spectral_choice(rho, f=f, h=h)
        return safeguarded(rho, proposal, iteration=iteration, bounds=self._bounds)


class PenaltyRule:
    """The chosen rule: ``balance`` takes the global step's ρ, ``spectral`` estimates one."""

    def __init__(self, name: RhoRuleName, *, bounds: RhoBounds | None) -> None:
        self.name = name
        self._spectral = SpectralPenalty(bounds=bounds) if name == "spectral" else None

    def snapshot_due(self, iteration: int) -> bool:
        """Whether the workers report their curvature terms at ``iteration``."""
        return self._spectral is not None and self._spectral.snapshot_due(iteration)

    def next_rho(
        self, *, iteration: int, rho: float, step: GlobalStep, inputs: SpectralInputs | None
    ) -> float:
        if self._spectral is None:
            return step.rho_next
        return self._spectral.next_rho(iteration=iteration, rho=rho, inputs=inputs)
