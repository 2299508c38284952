"""Algorithm 1: spawn W workers, then iterate global steps until the stopping rule holds."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from runtime.protocol import LossReport, Terminate
from scheduler_host.assignments import resolve_dataset
from scheduler_host.results import SolveResult
from scheduler_host.solve.conditioning import Conditioning, conditioning_of
from scheduler_host.solve.coordinator import Coordinator
from scheduler_host.solve.interrupted import SolveInterrupted, interrupted_result
from scheduler_host.solve.options import ProgressCallback, SchedulerOptions, SolveFailed
from scheduler_host.solve.transport import SolveTransport
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.scheduler")

#: How long a solve that stops early waits for its workers to acknowledge ``terminate``.
STOP_GRACE_SECONDS = 1.0

Outcome = TypeVar("Outcome")
CoordinatorType = TypeVar("CoordinatorType", bound=Coordinator)


def run_solve(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    options: SchedulerOptions | None = None,
    solve_id: str | None = None,
    on_iteration: ProgressCallback | None = None,
    initial_x: np.ndarray | None = None,
) -> SolveResult:
    """Run one distributed solve to the end; the spawner is closed when it returns.

    Raises :class:`SolveFailed` if a slot runs out of replacements or a deadline passes.
    Whatever ends it early (that, :class:`SolveCancelled` from ``on_iteration``, Ctrl-C, a
    bug) first broadcasts ``terminate``, so that no worker lingers, then propagates; an
    interrupt (Ctrl-C, or a SIGTERM the caller raises as one) propagates as
    :class:`SolveInterrupted`, carrying the latest iterate.
    ``initial_x`` (shape ``(spec.dimension,)``, the intercept last) warm-starts z and every
    worker's x there.
    """
    started = time.monotonic()

    def latest(coordinator: Coordinator, reports: dict[int, LossReport]) -> SolveResult | None:
        return _latest_iterate(coordinator, reports=reports, started=started)

    return run_coordinated(
        spec,
        spawner=spawner,
        drive=Coordinator.run,
        options=options,
        solve_id=solve_id,
        on_iteration=on_iteration,
        initial_x=initial_x,
        on_interrupt=latest,
    )


def run_coordinated(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    drive: Callable[[CoordinatorType], Outcome],
    coordinator_class: type[CoordinatorType] = Coordinator,  # type: ignore[assignment]
    options: SchedulerOptions | None = None,
    solve_id: str | None = None,
    on_iteration: ProgressCallback | None = None,
    initial_x: np.ndarray | None = None,
    max_iteration: int | None = None,
    on_interrupt: Callable[[CoordinatorType, dict[int, LossReport]], SolveResult | None]
    | None = None,
) -> Outcome:
    """:func:`run_solve`'s frame around any coordinator: the dataset resolved, the sockets
    open, ``drive(coordinator)`` run, the workers told to stop if it raises, the spawner
    closed. ``max_iteration`` bounds the iterations updates may name (default
    ``spec.max_iter``; a path of λ values runs more). On an interrupt, ``on_interrupt``
    assembles the latest iterate from the coordinator and the losses the workers sent on
    their way out; it travels in :class:`SolveInterrupted`."""
    options = options or SchedulerOptions()
    solve_id = solve_id or uuid.uuid4().hex
    try:
        try:
            spec, rows = resolve_dataset(spec)
            conditioning = conditioning_of(spec)
        except (ValueError, OSError) as error:  # the dataset is missing or does not fit
            raise SolveFailed(str(error)) from None
        with _transport_for(
            spec,
            options=options,
            solve_id=solve_id,
            conditioning=conditioning,
            max_iteration=max_iteration,
        ) as transport:
            coordinator = coordinator_class(
                spec=spec,
                rows=rows,
                solve_id=solve_id,
                transport=transport,
                spawner=spawner,
                options=options,
                on_iteration=on_iteration,
                conditioning=conditioning,
                initial_x=initial_x,
            )
            try:
                return drive(coordinator)
            except BaseException as error:
                reports = _stop_workers(
                    transport,
                    iteration=coordinator.iteration,
                    z=coordinator.z,
                    reason=f"stopped: {type(error).__name__}",
                    num_workers=spec.workers,
                )
                if isinstance(error, KeyboardInterrupt) and on_interrupt is not None:
                    reports = {**coordinator.reports, **reports}
                    raise SolveInterrupted(
                        on_interrupt(coordinator, reports), interrupt=error
                    ) from error
                raise
    finally:
        spawner.close()


def _transport_for(
    spec: SolveSpec,
    *,
    options: SchedulerOptions,
    solve_id: str,
    conditioning: Conditioning,
    max_iteration: int | None = None,
) -> SolveTransport:
    """The sockets of one solve (``max_iteration``: the last iteration an update may name,
    ``spec.max_iter`` by default; a path of λ values takes more)."""
    return SolveTransport(
        solve_id=solve_id,
        num_workers=spec.workers,
        workers_per_master=spec.workers_per_master,
        num_features=spec.dimension,
        max_iteration=max_iteration or spec.max_iter,
        bind_host=options.bind_host,
        advertise_host=options.advertise_host or options.bind_host,
        front_port=options.front_port,
        broadcast_port=options.broadcast_port,
        secure=options.secure,
        sealed_broadcast=options.sealed_broadcast,
        max_delay=spec.staleness_bound,
        rho0=conditioning.initial_rho(spec.rho0),
        relaxation=spec.relaxation,
        first_rebroadcast_seconds=options.first_rebroadcast_seconds,
        max_rebroadcast_seconds=options.max_rebroadcast_seconds,
    )


def _latest_iterate(
    coordinator: Coordinator, *, reports: dict[int, LossReport], started: float
) -> SolveResult | None:
    try:
        return interrupted_result(coordinator, reports=reports, started=started)
    except Exception:  # the interrupt matters more; the caller saves nothing
        log.exception("could not assemble the latest iterate of the interrupted solve")
        return None


def _stop_workers(
    transport: SolveTransport, *, iteration: int, z: np.ndarray, reason: str, num_workers: int
) -> dict[int, LossReport]:
    """Broadcast ``terminate`` and wait up to :data:`STOP_GRACE_SECONDS` for the workers' losses.

    Joined workers leave on it (a worker still computing sees it when its step ends), instead
    of waiting out their scheduler-silence timeout; the wait lets the broadcast go out before
    the sockets close.  Dead workers are not replaced any more.  Returns the losses that came,
    by worker (those at z, for an interrupted solve's objective).
    """
    left: dict[int, LossReport] = {}
    try:
        transport.broadcaster.send(Terminate(iteration=iteration, z=z, reason=reason))
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while len(left) < num_workers and (remaining := deadline - time.monotonic()) > 0:
            transport.broadcaster.repeat_if_due()
            for event in transport.events.take(timeout=min(0.05, remaining)):
                if isinstance(event, LossReport):
                    left.setdefault(event.header.worker_index, event)
        log.info("solve stopped early (%s); %d of %d workers left", reason, len(left), num_workers)
    except Exception:  # the original error matters more than a failed goodbye
        log.exception("could not tell the workers to stop")
    return left
