"""The check at the stop: whether the returned z solves the problem, not only the residual rule.

The residual rule (or ``max_iter``) ends the iterations, but small residuals do not make z a
minimizer: once residual balancing has driven ρ down and the local solves stop early, x_w, z
and u stand still far from the optimum.  So the scheduler checks z itself, from what every
worker reports at the end (:class:`~runtime.protocol.LossReport`: ``f_w`` and ``∇f_w`` at z
and at 0), before it says "converged":

* optimality: the subgradient of the whole objective at z of least ∞-norm,
  ``r ∈ Σ_w ∇f_w(z) + ∂h(z)`` (:meth:`ProximalPenalty.min_norm_subgradient`), measured
  coordinate by coordinate against the data's gradient at 0,
  ``max_i |r_i| / max(1, |∂_i f(0)|)``, must be at most ``eps_kkt``.  Coordinate i of a
  subgradient scales with column i of the data, and so does ``∂_i f(0)``: the measure does not
  change when a feature is given in other units, which is what unscaled data does (a single
  scale ``‖∇f(0)‖_∞`` would be set by the largest column and hide every other one).  The 1
  keeps it absolute where the gradient at 0 is below 1;
* the objective at z may not be above the objective at 0 (beyond rounding): a solve that
  ends worse than the trivial point has not solved anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from runtime.column_scaling import ColumnScaling
from runtime.penalties import ProximalPenalty
from runtime.protocol import LossReport

#: The objective at z counts as above the objective at 0 only beyond this relative margin
#: (the rounding of two sums over all rows; never a real improvement).
OBJECTIVE_ROUNDING = 1e-9


@dataclass(frozen=True)
class StopCheck:
    """What the scheduler measured at the returned z.

    Attributes
    ----------
    objective : float
        ``Σ_w f_w(z) + h(z)``.
    objective_at_zero : float
        ``Σ_w f_w(0) + h(0)`` (``inf`` where 0 is outside the domain of ``h``).
    optimality : float
        ``max_i |r_i| / max(1, |∂_i f(0)|)`` for the least subgradient ``r`` at z.
    tolerance : float
        ``eps_kkt``.
    """

    objective: float
    objective_at_zero: float
    optimality: float
    tolerance: float

    def failures(self) -> list[str]:
        """Why z fails the check, one clause per test (empty when it passes; NaN fails)."""
        failures = []
        if not self.optimality <= self.tolerance:
            failures.append(f"optimality {self.optimality:.1e} > tolerance {self.tolerance:.1e}")
        margin = OBJECTIVE_ROUNDING * max(1.0, abs(self.objective_at_zero))
        if not self.objective <= self.objective_at_zero + margin:
            failures.append(
                f"objective {self.objective:.4g} is above the objective at 0 "
                f"({self.objective_at_zero:.4g})"
            )
        return failures


def _in_worker_order(values: Mapping[int, np.ndarray]) -> np.ndarray:
    """``Σ_w values[w]``, added in worker order (so that the check is reproducible)."""
    indices = sorted(values)
    total = np.array(values[indices[0]], dtype=np.float64)
    for index in indices[1:]:
        total += values[index]
    return total


def check_at_stop(
    *,
    z: np.ndarray,
    reports: Mapping[int, LossReport],
    penalty: ProximalPenalty,
    eps_kkt: float,
) -> StopCheck:
    """Measure z, shape (d,), from every worker's final report (keyed by worker index)."""
    gradient = _in_worker_order({index: report.gradient for index, report in reports.items()})
    gradient_at_zero = _in_worker_order(
        {index: report.gradient_at_zero for index, report in reports.items()}
    )
    least = penalty.min_norm_subgradient(z, gradient)
    relative = np.abs(least) / np.maximum(1.0, np.abs(gradient_at_zero))
    data_loss = math.fsum(reports[index].loss for index in sorted(reports))
    data_loss_at_zero = math.fsum(reports[index].loss_at_zero for index in sorted(reports))
    return StopCheck(
        objective=data_loss + penalty.value(z),
        objective_at_zero=data_loss_at_zero + penalty.value(np.zeros_like(z)),
        optimality=float(np.max(relative, initial=0.0)),
        tolerance=eps_kkt,
    )


def reports_in_original_coordinates(
    reports: Mapping[int, LossReport], scaling: ColumnScaling | None
) -> dict[int, LossReport]:
    """The workers' reports with their gradients in x, when they solved in ``y = D x``.

    Their losses are the same in either coordinates; ``∇_x f_w = D ∇_y f_w``.
    """
    if scaling is None:
        return dict(reports)
    return {
        index: replace(
            report,
            gradient=scaling.gradient_to_original(report.gradient),
            gradient_at_zero=scaling.gradient_to_original(report.gradient_at_zero),
        )
        for index, report in reports.items()
    }


def stop_reason(*, rule_met: bool, max_iter: int, check: StopCheck) -> str | None:
    """Why the solve is not converged (clauses joined by "; "), or None when it is."""
    failures = [] if rule_met else [f"max_iter {max_iter} reached before the residual rule held"]
    failures += check.failures()
    return "; ".join(failures) or None
