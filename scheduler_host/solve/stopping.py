"""When the iterations stop: the paper's absolute residual rule, Boyd's relative one, or the
objective's relative change.

* ``absolute`` (the paper's): ``r <= eps_primal`` and ``s <= eps_dual``.
* ``relative`` (Boyd et al. 2011, §3.3.1, for the consensus constraint ``x_w - z = 0`` over
  W workers and d features):

      r <= √(Wd)·tol_abs + tol_rel·max(‖x‖, √W‖z‖),   s <= √(Wd)·tol_abs + tol_rel·‖ρu‖,

  ``‖x‖² = Σ_w ‖x_w‖²`` and ``‖u‖² = Σ_w ‖u_w‖²`` as the workers report them with their
  updates.  The tolerances are relative to the iterates' size, so the rule means the same
  on data in any units.
* ``objective``: ``|F(z^k) - F(z^{k-K})| <= tol_objective·max(1, |F(z^k)|)`` over a window of
  K iterations, F the objective the workers' reported losses give at each z (sync mode only).

None of them holds at iteration 1, where ``q = 0`` by construction. Whichever rule stops
the iterations, the answer is only called converged once the check at the stop
(:mod:`scheduler_host.solve.optimality`) also passes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from scheduler_host.solve.global_step import has_converged
from scheduler_host.solve_spec import SolveSpec


@dataclass(frozen=True, kw_only=True)
class Residuals:
    """What a stopping rule sees of one global step."""

    iteration: int
    primal_residual: float
    dual_residual: float
    rho: float
    x_norm: float  # √(Σ_w ‖x_w‖²)
    z_norm: float  # ‖z‖ of the new z
    dual_norm: float  # √(Σ_w ‖u_w‖²), u scaled (y = ρu)
    objective: float | None  # F at the z the workers used in this iteration


class StopRule:
    """The rule the spec chose, with the objective history the ``objective`` rule needs."""

    def __init__(self, spec: SolveSpec) -> None:
        self._spec = spec
        self._objectives: deque[float] = deque(maxlen=spec.objective_window + 1)

    def describe(self) -> str:
        """The rule in words, for logs and results."""
        spec = self._spec
        if spec.stop_rule == "absolute":
            return f"r <= {spec.eps_primal:g} and s <= {spec.eps_dual:g}"
        if spec.stop_rule == "relative":
            return f"relative residuals (tol_abs {spec.tol_abs:g}, tol_rel {spec.tol_rel:g})"
        return (
            f"objective change over {spec.objective_window} iterations "
            f"<= {spec.tol_objective:g} (relative)"
        )

    def tolerances(self, step: Residuals) -> tuple[float, float]:
        """The primal and dual tolerances at this step (constants under ``absolute``; the
        paper's ε under ``objective``, which does not stop on them)."""
        spec = self._spec
        if spec.stop_rule != "relative":
            return spec.eps_primal, spec.eps_dual
        size = math.sqrt(spec.workers * spec.features) * spec.tol_abs
        primal = size + spec.tol_rel * max(step.x_norm, math.sqrt(spec.workers) * step.z_norm)
        dual = size + spec.tol_rel * step.rho * step.dual_norm
        return primal, dual

    @property
    def on_residuals(self) -> bool:
        """Whether the rule stops on the residuals (else on the objective)."""
        return self._spec.stop_rule != "objective"

    def met(self, step: Residuals) -> bool:
        """Whether the iterations stop after this step."""
        if step.objective is not None:
            self._objectives.append(step.objective)
        if self._spec.stop_rule == "objective":
            return step.iteration > 1 and self._objective_settled()
        primal_tolerance, dual_tolerance = self.tolerances(step)
        return has_converged(
            iteration=step.iteration,
            primal_residual=step.primal_residual,
            dual_residual=step.dual_residual,
            eps_primal=primal_tolerance,
            eps_dual=dual_tolerance,
        )

    def _objective_settled(self) -> bool:
        if len(self._objectives) <= self._spec.objective_window:
            return False
        newest, oldest = self._objectives[-1], self._objectives[0]
        return abs(newest - oldest) <= self._spec.tol_objective * max(1.0, abs(newest))
