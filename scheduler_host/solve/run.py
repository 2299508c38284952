"""Algorithm 1: spawn W workers, then iterate global steps until the stopping rule holds."""

from __future__ import annotations

import logging
import uuid

from scheduler_host.assignments import resolve_dataset
from scheduler_host.results import SolveResult
from scheduler_host.solve.coordinator import Coordinator
from scheduler_host.solve.options import ProgressCallback, SchedulerOptions, SolveFailed
from scheduler_host.solve.transport import SolveTransport
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.scheduler")


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
            rho0=spec.rho0,
            first_rebroadcast_seconds=options.first_rebroadcast_seconds,
            max_rebroadcast_seconds=options.max_rebroadcast_seconds,
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
