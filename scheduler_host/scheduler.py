"""Algorithm 1: spawn W workers, then iterate global steps until the stopping rule holds."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.specs import FaultPlan
from scheduler_host.assignments import resolve_dataset
from scheduler_host.coordinator import Coordinator, SolveFailed
from scheduler_host.results import IterationRecord, SolveResult
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner
from scheduler_host.transport import SolveTransport

__all__ = ["ProgressCallback", "SchedulerOptions", "SolveFailed", "run_solve"]

log = logging.getLogger("lambda_admm.scheduler")

ProgressCallback = Callable[[IterationRecord], None]


@dataclass(frozen=True, kw_only=True)
class SchedulerOptions:
    """Where the scheduler listens, how long it waits, and how it treats failing workers.

    A worker that has not reported ``worker_deadline_factor`` times the median
    recent compute time (at least ``worker_deadline_floor_seconds``) after an
    iteration opened is declared dead and replaced, as is one that does not
    join within ``join_timeout_seconds``; each slot is replaced at most
    ``max_respawns`` times.
    """

    bind_host: str = "127.0.0.1"
    advertise_host: str | None = None
    front_port: int = 0
    broadcast_port: int = 0
    join_timeout_seconds: float = 300.0
    iteration_timeout_seconds: float = 900.0
    final_timeout_seconds: float = 300.0
    first_rebroadcast_seconds: float = 0.05
    max_rebroadcast_seconds: float = 5.0
    secure: bool = True
    worker_deadline_floor_seconds: float = 60.0
    worker_deadline_factor: float = 10.0
    max_respawns: int = 3
    worker_time_limit_seconds: float | None = None
    retire_margin_seconds: float = 10.0
    handoff_lead_seconds: float = 30.0
    scheduler_silence_seconds: float = 120.0
    faults: FaultPlan = field(default_factory=FaultPlan)

    def worker_options(self) -> dict[str, Any]:
        """What each spawn request carries besides the spec."""
        return {
            "time_limit_seconds": self.worker_time_limit_seconds,
            "retire_margin_seconds": self.retire_margin_seconds,
            "handoff_lead_seconds": self.handoff_lead_seconds,
            "scheduler_silence_seconds": self.scheduler_silence_seconds,
            "faults": self.faults,
        }


def run_solve(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    options: SchedulerOptions | None = None,
    solve_id: str | None = None,
    on_iteration: ProgressCallback | None = None,
) -> SolveResult:
    """Run one distributed solve to the end; the spawner is closed when it returns.

    Raises :class:`SolveFailed` if a slot runs out of replacements or a deadline passes.
    """
    options = options or SchedulerOptions()
    solve_id = solve_id or uuid.uuid4().hex
    try:
        try:
            spec, rows = resolve_dataset(spec)
        except (ValueError, OSError) as error:  # the dataset is missing or does not fit
            raise SolveFailed(str(error)) from None
        with SolveTransport(
            solve_id=solve_id,
            num_workers=spec.workers,
            workers_per_master=spec.workers_per_master,
            num_features=spec.features,
            max_iteration=spec.max_iter,
            bind_host=options.bind_host,
            advertise_host=options.advertise_host or options.bind_host,
            front_port=options.front_port,
            broadcast_port=options.broadcast_port,
            secure=options.secure,
            max_delay=spec.staleness_bound,
        ) as transport:
            coordinator = Coordinator(
                spec=spec,
                rows=rows,
                solve_id=solve_id,
                transport=transport,
                spawner=spawner,
                options=options,
                on_iteration=on_iteration,
            )
            return coordinator.run()
    finally:
        spawner.close()
