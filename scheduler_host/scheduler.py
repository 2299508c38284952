"""Algorithm 1: spawn W workers, then iterate global steps until the stopping rule holds."""

from __future__ import annotations

import logging
import math
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.penalties import Penalty
from runtime.protocol import Iterate, Join, LossReport, Terminate
from runtime.specs import ModelSpec, WorkerAssignment
from scheduler_host.admm import global_step, has_converged
from scheduler_host.assignments import build_assignments, resolve_spec
from scheduler_host.reduction import Event, MessageDropped, UpdateArrived
from scheduler_host.results import IterationRecord, SolveResult, WorkerIteration
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner
from scheduler_host.transport import SolveTransport

log = logging.getLogger("lambda_admm.scheduler")

ProgressCallback = Callable[[IterationRecord], None]
EVENT_POLL_SECONDS = 0.05


class SolveFailed(RuntimeError):
    """The solve cannot finish (a worker died, or a deadline passed)."""


@dataclass(frozen=True, kw_only=True)
class SchedulerOptions:
    """Where the scheduler listens and how long it waits."""

    bind_host: str = "127.0.0.1"
    advertise_host: str | None = None
    front_port: int = 0
    broadcast_port: int = 0
    join_timeout_seconds: float = 300.0
    iteration_timeout_seconds: float = 900.0
    final_timeout_seconds: float = 120.0
    first_rebroadcast_seconds: float = 0.05
    max_rebroadcast_seconds: float = 5.0
    secure: bool = True


def penalty_of(model: ModelSpec) -> Penalty:
    return Penalty(
        l1=model.l1,
        l2=model.l2,
        lower=-math.inf if model.box_lower is None else model.box_lower,
        upper=math.inf if model.box_upper is None else model.box_upper,
    )


class _Coordinator:
    """Runs on the caller's thread and owns the broadcaster."""

    def __init__(
        self,
        *,
        spec: SolveSpec,
        transport: SolveTransport,
        spawner: Spawner,
        options: SchedulerOptions,
        on_iteration: ProgressCallback | None,
    ) -> None:
        self.spec = spec
        self.transport = transport
        self.spawner = spawner
        self.options = options
        self.on_iteration = on_iteration
        self.dropped = 0
        self.worker_iterations: list[WorkerIteration] = []

    def _next_event(self, deadline: float, waiting_for: str) -> Event | None:
        """One event, or None after a poll period; raises when a worker died or time ran out."""
        for failure in self.spawner.failures():
            raise SolveFailed(failure.reason)
        if time.monotonic() > deadline:
            raise SolveFailed(f"timed out waiting for {waiting_for}")
        try:
            event = self.transport.events.get(timeout=EVENT_POLL_SECONDS)
        except queue.Empty:
            return None
        if isinstance(event, MessageDropped):
            self.dropped += 1
            return None
        return event

    def _wait_for_joins(self, assignments: list[WorkerAssignment]) -> tuple[float, ...]:
        spawned_at = time.monotonic()
        self.spawner.spawn(assignments)
        cold_start: dict[int, float] = {}
        deadline = spawned_at + self.options.join_timeout_seconds
        while len(cold_start) < len(assignments):
            missing = sorted(set(range(len(assignments))) - set(cold_start))
            event = self._next_event(deadline, f"workers {missing[:10]} to join")
            if isinstance(event, Join):
                cold_start.setdefault(event.header.worker_index, time.monotonic() - spawned_at)
        return tuple(cold_start[index] for index in range(len(assignments)))

    def _gather_updates(self, iteration: int) -> None:
        """Wait until every worker's update for ``iteration`` is reduced."""
        arrived: set[int] = set()
        deadline = time.monotonic() + self.options.iteration_timeout_seconds
        pause = self.options.first_rebroadcast_seconds
        broadcaster = self.transport.broadcaster
        while len(arrived) < self.spec.workers:
            if time.monotonic() - broadcaster.last_sent > pause:
                broadcaster.repeat()  # a worker may have missed it (PUB slow joiner)
                pause = min(2 * pause, self.options.max_rebroadcast_seconds)
            event = self._next_event(deadline, f"the updates of iteration {iteration}")
            if isinstance(event, UpdateArrived) and event.iteration == iteration:
                arrived.add(event.worker_index)
                self.worker_iterations.append(
                    WorkerIteration(
                        worker_index=event.worker_index,
                        iteration=iteration,
                        compute_seconds=event.compute_seconds,
                        idle_seconds=event.idle_seconds,
                        local_iterations=event.local_iterations,
                    )
                )

    def _final_losses(self, iteration: int, z: np.ndarray, reason: str) -> float:
        self.transport.ledger.open(-1)  # no update is accepted any more
        broadcaster = self.transport.broadcaster
        broadcaster.send(Terminate(iteration=iteration, z=z, reason=reason))
        losses: dict[int, float] = {}
        deadline = time.monotonic() + self.options.final_timeout_seconds
        pause = self.options.first_rebroadcast_seconds
        while len(losses) < self.spec.workers:
            if time.monotonic() - broadcaster.last_sent > pause:
                broadcaster.repeat()
                pause = min(2 * pause, self.options.max_rebroadcast_seconds)
            event = self._next_event(deadline, "the workers' final losses")
            if isinstance(event, LossReport) and event.header.iteration == iteration:
                losses.setdefault(event.header.worker_index, event.loss)
        return math.fsum(losses[index] for index in sorted(losses))

    def run(self, *, solve_id: str, assignments: list[WorkerAssignment]) -> SolveResult:
        started = time.monotonic()
        cold_start = self._wait_for_joins(assignments)
        setup_seconds = time.monotonic() - started
        penalty = penalty_of(self.spec.model)
        z = np.zeros(self.spec.features)
        rho = rho_prev = self.spec.rho0
        history: list[IterationRecord] = []
        solve_started = time.monotonic()
        iteration = 0
        converged = False
        while not converged and iteration < self.spec.max_iter:
            iteration += 1
            self.transport.ledger.open(iteration)
            self.transport.broadcaster.send(
                Iterate(iteration=iteration, rho=rho, rho_prev=rho_prev, z=z)
            )
            self._gather_updates(iteration)
            omega_sum, primal_sq_sum = self.transport.slots.sums()
            step = global_step(
                omega_sum=omega_sum,
                primal_sq_sum=primal_sq_sum,
                z_prev=z,
                rho=rho,
                num_workers=self.spec.workers,
                penalty=penalty,
                dual_residual_form=self.spec.dual_residual,
            )
            record = IterationRecord(
                iteration=iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                rho=rho,
                wall_seconds=time.monotonic() - solve_started,
            )
            history.append(record)
            if self.on_iteration is not None:
                self.on_iteration(record)
            z = step.z
            converged = has_converged(
                iteration=iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                eps_primal=self.spec.eps_primal,
                eps_dual=self.spec.eps_dual,
            )
            rho_prev, rho = rho, step.rho_next
        reason = "converged" if converged else "max_iter"
        data_loss = self._final_losses(iteration, z, reason)
        return SolveResult(
            solve_id=solve_id,
            x=z,
            objective=data_loss + penalty.value(z),
            iterations=iteration,
            converged=converged,
            primal_residual=history[-1].primal_residual,
            dual_residual=history[-1].dual_residual,
            rho=history[-1].rho,
            history=tuple(history),
            worker_iterations=tuple(self.worker_iterations),
            cold_start_seconds=cold_start,
            setup_seconds=setup_seconds,
            solve_seconds=time.monotonic() - solve_started,
            dropped_messages=self.dropped,
        )


def run_solve(
    spec: SolveSpec,
    *,
    spawner: Spawner,
    options: SchedulerOptions | None = None,
    solve_id: str | None = None,
    on_iteration: ProgressCallback | None = None,
) -> SolveResult:
    """Run one distributed solve to the end; the spawner is closed when it returns.

    Raises :class:`SolveFailed` if a worker dies or a deadline passes.
    """
    options = options or SchedulerOptions()
    solve_id = solve_id or uuid.uuid4().hex
    try:
        try:
            spec = resolve_spec(spec)
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
        ) as transport:
            assignments = build_assignments(
                spec, solve_id=solve_id, endpoints_for=transport.endpoints_for
            )
            coordinator = _Coordinator(
                spec=spec,
                transport=transport,
                spawner=spawner,
                options=options,
                on_iteration=on_iteration,
            )
            return coordinator.run(solve_id=solve_id, assignments=assignments)
    finally:
        spawner.close()
