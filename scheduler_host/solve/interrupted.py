"""A solve stopped by Ctrl-C or SIGTERM: its latest iterate, as a result with status interrupted.

When an interrupt ends a solve midway, :func:`~scheduler_host.solve.run.run_solve` tells the
workers to stop with the latest z, as it does for any early end; they answer with their
losses and gradients at that z, as at a normal stop. From those (when every worker answered
within the grace period) the latest z gets the objective and the optimality check a finished
solve gets; either way it is returned, mapped to the original coordinates as a finished
solve's x is, in :class:`SolveInterrupted`, which the caller can save.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from runtime.protocol import LossReport
from scheduler_host.results import SolveResult
from scheduler_host.solve.optimality import check_at_stop, reports_in_original_coordinates

if TYPE_CHECKING:
    from scheduler_host.solve.coordinator import Coordinator


class SolveInterrupted(KeyboardInterrupt):
    """Raised by ``run_solve`` in place of the interrupt that stopped it (its ``__cause__``).

    ``result`` is the latest iterate with ``interrupted=True`` (None if the interrupt came
    before the first iteration ended); the workers were told to stop.
    """

    def __init__(self, result: SolveResult | None, *, interrupt: KeyboardInterrupt) -> None:
        super().__init__(*interrupt.args)
        self.result = result
        self.interrupt = interrupt


def interrupted_result(
    coordinator: Coordinator, *, reports: Mapping[int, LossReport], started: float
) -> SolveResult | None:
    """The latest z of ``coordinator`` as a result (None before the first iteration ended).

    ``reports`` are the workers' answers to the terminate that stopped them (all W give the
    objective and the check at z; fewer leave them NaN); ``started`` is the solve's start on
    the ``time.monotonic`` clock.
    """
    history = tuple(coordinator.history)
    if not history:
        return None
    spec, scaling = coordinator.spec, coordinator.scaling
    x = coordinator.z if scaling is None else scaling.to_original(coordinator.z)
    reason = f"interrupted after iteration {len(history)}"
    objective = optimality = objective_at_zero = math.nan
    if len(reports) == spec.workers:
        check = check_at_stop(
            z=x,
            reports=reports_in_original_coordinates(reports, scaling),
            penalty=coordinator.penalty,
            eps_kkt=spec.eps_kkt,
        )
        objective, optimality = check.objective, check.optimality
        objective_at_zero = check.objective_at_zero
    else:
        reason += f"; {len(reports)} of {spec.workers} workers reported, so no objective"
    solve_seconds = history[-1].wall_seconds
    return SolveResult(
        solve_id=coordinator.solve_id,
        x=x,
        objective=objective,
        iterations=len(history),
        converged=False,
        reason=reason,
        optimality=optimality,
        optimality_tolerance=spec.eps_kkt,
        objective_at_zero=objective_at_zero,
        primal_residual=history[-1].primal_residual,
        dual_residual=history[-1].dual_residual,
        rho=history[-1].rho,
        history=history,
        worker_iterations=tuple(coordinator.worker_iterations),
        cold_start_seconds=coordinator.membership.cold_start_seconds(),
        setup_seconds=max(0.0, time.monotonic() - started - solve_seconds),
        solve_seconds=solve_seconds,
        dropped_messages=coordinator.transport.drops.count,
        replacements=coordinator.membership.replacements,
        interrupted=True,
    )
