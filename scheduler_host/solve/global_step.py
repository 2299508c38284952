"""The scheduler's global step of consensus ADMM (Algorithm 1 of Aytekin & Johansson).

Given the reduced worker updates of iteration k, ``Σ_w ω_w`` and ``Σ_w q_w``:

* ``ω̄ = (1/W) Σ_w ω_w`` and ``z = prox_{h/(Wρ)}(ω̄)``  (Boyd et al. 2011, eq. 7.7);
* primal residual ``r = sqrt(Σ_w q_w)``;
* dual residual ``s = ρ‖z - z_prev‖`` (the paper's form) or ``s = ρ√W‖z - z_prev‖``
  (the consensus form of Boyd et al. §7.1, which is what ``‖ρ(z - z_prev)‖`` over all
  W local copies amounts to);
* residual balancing (Boyd et al. §3.4.1): ``ρ <- 2ρ`` if ``r > 10 s``,
  ``ρ <- ρ/2`` if ``s > 10 r``, safeguarded: ρ stays within :class:`RhoBounds`
  (``[κ/10⁴, κ·10⁴]`` around the data's curvature κ, see
  :mod:`scheduler_host.solve.conditioning`).  Workers rescale their scaled duals by
  ``ρ_prev/ρ`` when they see the change.  That is the ``balance`` rule's ρ; the coordinator
  asks :mod:`scheduler_host.solve.penalty_rule` for the ρ of the rule the spec chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from runtime.intercept import FreeIntercept
from runtime.penalties import OPTIMALITY_NEEDS, SOLVER_NEEDS, Proximal, ProximalPenalty
from runtime.registry import build_penalty, require
from runtime.specs import ModelSpec

DualResidualForm = Literal["paper", "consensus"]

#: Residual-balancing constants of Boyd et al. (2011), §3.4.1, as used by the paper.
BALANCE_RATIO = 10.0
RHO_FACTOR = 2.0
#: ρ is kept within this factor of the data's curvature, either way.
RHO_BOUND_FACTOR = 1e4


@dataclass(frozen=True)
class RhoBounds:
    """``[lower, upper]``, the values residual balancing may give ρ."""

    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not (0 < self.lower <= self.upper < math.inf):
            raise ValueError(f"rho bounds must satisfy 0 < lower <= upper < inf, got {self}")

    @classmethod
    def around(cls, curvature: float) -> RhoBounds:
        """``[κ / RHO_BOUND_FACTOR, κ · RHO_BOUND_FACTOR]`` for the curvature ``κ > 0``."""
        return cls(lower=curvature / RHO_BOUND_FACTOR, upper=curvature * RHO_BOUND_FACTOR)

    def clip(self, rho: float) -> float:
        return min(max(rho, self.lower), self.upper)

    def __str__(self) -> str:
        return f"[{self.lower:.3g}, {self.upper:.3g}]"


@dataclass(frozen=True)
class GlobalStep:
    """Outcome of one global step."""

    z: np.ndarray
    primal_residual: float
    dual_residual: float
    rho_next: float


def penalty_of(model: ModelSpec) -> ProximalPenalty:
    """h of the model, built by the registry from its tagged penalty, checked for the z-step
    and the optimality check at the stop; with an intercept, h of all coordinates but the
    last (:class:`runtime.intercept.FreeIntercept`).

    Raises
    ------
    TypeError
        If the penalty lacks one of :data:`runtime.penalties.SOLVER_NEEDS` or
        :data:`runtime.penalties.OPTIMALITY_NEEDS`.
    """
    penalty = build_penalty(model.penalty)
    require(penalty, SOLVER_NEEDS, role="penalty", solver="the z-step")
    require(penalty, OPTIMALITY_NEEDS, role="penalty", solver="the optimality check")
    return FreeIntercept(penalty) if model.fit_intercept else penalty


def next_rho(
    rho: float,
    *,
    primal_residual: float,
    dual_residual: float,
    bounds: RhoBounds | None = None,
) -> float:
    """Residual balancing: double or halve ρ on a tenfold imbalance, else keep it; never
    past ``bounds``."""
    if primal_residual > BALANCE_RATIO * dual_residual:
        rho = rho * RHO_FACTOR
    elif dual_residual > BALANCE_RATIO * primal_residual:
        rho = rho / RHO_FACTOR
    return rho if bounds is None else bounds.clip(rho)


def global_step(
    *,
    omega_sum: np.ndarray,
    primal_sq_sum: float,
    z_prev: np.ndarray,
    rho: float,
    num_workers: int,
    penalty: Proximal,
    dual_residual_form: DualResidualForm,
    rho_bounds: RhoBounds | None = None,
) -> GlobalStep:
    """One z-update with residuals and the next penalty parameter.

    Parameters
    ----------
    omega_sum : ndarray, shape (d,)
        ``Σ_w (x_w + u_w)`` over all W workers of this iteration.
    primal_sq_sum : float
        ``Σ_w ‖x_w - z_prev‖²`` as reported by the workers.
    z_prev : ndarray, shape (d,)
        The z the workers computed against.
    rho : float
        The ρ the workers used for this iteration.
    rho_bounds : RhoBounds, optional
        Where the next ρ must stay (None: unbounded).
    """
    omega_mean = omega_sum / num_workers
    z = penalty.prox(omega_mean, 1.0 / (num_workers * rho))
    change = float(np.linalg.norm(z - z_prev))
    scale = math.sqrt(num_workers) if dual_residual_form == "consensus" else 1.0
    primal_residual = math.sqrt(max(primal_sq_sum, 0.0))
    dual_residual = rho * scale * change
    rho_next = next_rho(
        rho, primal_residual=primal_residual, dual_residual=dual_residual, bounds=rho_bounds
    )
    return GlobalStep(
        z=z, primal_residual=primal_residual, dual_residual=dual_residual, rho_next=rho_next
    )


def has_converged(
    *,
    iteration: int,
    primal_residual: float,
    dual_residual: float,
    eps_primal: float,
    eps_dual: float,
) -> bool:
    """The paper's stopping rule, never at the first iteration (where q = 0 by construction)."""
    return iteration > 1 and primal_residual <= eps_primal and dual_residual <= eps_dual
