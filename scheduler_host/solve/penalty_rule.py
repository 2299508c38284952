"""How ρ changes between iterations: residual balancing, or the spectral (Barzilai–Borwein) rule.

``balance`` is the paper's rule (Boyd et al. 2011, §3.4.1), computed by
:func:`scheduler_host.solve.global_step.next_rho`.

``spectral`` is adaptive ADMM with spectral penalty selection (Z. Xu, M. Figueiredo and
T. Goldstein, "Adaptive ADMM with spectral penalty parameter selection", AISTATS 2017),
for the consensus problem ``x_w - z = 0`` with one ρ for all workers. Every
:data:`SPECTRAL_PERIOD` iterations it takes two secant estimates since the last one:

* ``α``, the curvature of ``Σ_w f_w``, from ``Δx_w`` and ``Δ∇f_w(x_w)``;
* ``β``, the curvature of ``h``, from ``Δz`` and ``Δy_w``, ``Σ_w y_w ∈ ∂h(z)``;

each as a Barzilai–Borwein step (the steepest-descent and minimum-gradient estimates,
hybridized as the paper does). The workers compute the inner products against their own
snapshots and send them with their updates (``Update.curvature``, summed by the slots;
:class:`runtime.admm_state.AdmmState` says which gradients): the scheduler holds nothing
of size W·d for it, and the gradients are exact at whatever base the step took, so the
secants stay valid under Anderson acceleration. The next ρ is ``√(αβ)``, or the one
estimate whose correlation ``⟨Δ, Δ'⟩ / (‖Δ‖‖Δ'‖)`` exceeds :data:`SPECTRAL_MIN_CORRELATION`,
or ρ unchanged when neither does (or an estimate is negative, zero, or not finite).
Safeguards: the change is at most ``1 + C/k²`` either way (the paper's condition for
convergence), it is rounded to a power of ``2^(1/4)`` times ρ (so rounding noise in the
iterates never changes ρ), and ρ stays within the
:class:`~scheduler_host.solve.global_step.RhoBounds`.

The snapshot iterations (the first, then every :data:`SPECTRAL_PERIOD`-th) are the same on
every side: the broadcast says so (``Iterate.snapshot``). A worker without a snapshot of
its own (a replacement) sends no terms, and that estimate is skipped (ρ stays).
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
    """The spectral rule: stateless but for its bounds (the snapshots are the workers')."""

    def __init__(self, *, bounds: RhoBounds | None) -> None:
        self._bounds = bounds

    @staticmethod
    def snapshot_due(iteration: int) -> bool:
        """Whether the workers snapshot (and report their terms) at ``iteration``."""
        return iteration == 1 or iteration % SPECTRAL_PERIOD == 0

    def next_rho(self, *, iteration: int, rho: float, terms: np.ndarray | None) -> float:
        """ρ for the next iteration from the workers' summed secant terms (None: not every
        worker sent them, or not a snapshot iteration: ρ stays)."""
        if terms is None or not self.snapshot_due(iteration):
            return rho
        f = curvature_estimate(inner=terms[0], gradient_sq=terms[1], step_sq=terms[2])
        h = curvature_estimate(inner=terms[3], gradient_sq=terms[4], step_sq=terms[5])
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
        self, *, iteration: int, rho: float, step: GlobalStep, terms: np.ndarray | None
    ) -> float:
        """The next ρ: the global step's (balance), or the spectral estimate from ``terms``."""
        if self._spectral is None:
            return step.rho_next
        return self._spectral.next_rho(iteration=iteration, rho=rho, terms=terms)
