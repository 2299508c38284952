"""Algorithm 1's control loop, with slot liveness, replacement and hand-off.

Runs on the caller's thread and owns the broadcaster and the direct outbox.
Every wait goes through :meth:`Coordinator._poll`, which handles whatever
arrives (joins, updates, notices, losses) and checks liveness: a worker whose
process died, that missed its compute deadline, or that never joined is
replaced through the same spawner, with bounded retries; the replacement
resumes from the slot's state (see :mod:`scheduler_host.solve.slots`).

Two schedules share the loop.  Sync is the paper's Algorithm 1: a global step
once all W updates of the iteration are in.  Async is bounded-delay asynchronous
consensus ADMM (R. Zhang and J. Kwok, "Asynchronous Distributed ADMM for
Consensus Optimization", ICML 2014): a global step once a quorum of
⌈fraction·W⌉ fresh updates is in and no worker's latest contribution is more
than τ iterations old, so a straggler no longer holds every iteration back.
"""

from __future__ import annotations

import logging
import math
import queue
import statistics
import time

import numpy as np

from runtime.protocol import (
    Iterate,
    LossReport,
    Refuse,
    Retire,
    Terminate,
    Welcome,
    encode_direct,
)
from runtime.specs import WorkerAssignment
from scheduler_host.assignments import build_assignment
from scheduler_host.results import IterationRecord, SolveResult, WorkerIteration
from scheduler_host.solve.global_step import global_step, has_converged, penalty_of
from scheduler_host.solve.masters import Event, JoinArrived, UpdateArrived
from scheduler_host.solve.options import ProgressCallback, SchedulerOptions, SolveFailed
from scheduler_host.solve.slots import Slot, SlotState
from scheduler_host.solve.transport import SolveTransport
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.scheduler")

EVENT_POLL_SECONDS = 0.05
MAX_EVENTS_PER_POLL = 1000


class Coordinator:
    def __init__(
        self,
        *,
        spec: SolveSpec,
        rows: list[tuple[int, int]],
        solve_id: str,
        transport: SolveTransport,
        spawner: Spawner,
        options: SchedulerOptions,
        on_iteration: ProgressCallback | None,
    ) -> None:
        self.spec, self.solve_id = spec, solve_id
        self.transport, self.spawner, self.options = transport, spawner, options
        self.on_iteration = on_iteration
        self.rows = rows
        self.penalty = penalty_of(spec.model)
        self.slots = transport.registry.slots
        self.replacements = 0
        self.worker_iterations: list[WorkerIteration] = []
        self.cold_start: dict[int, float] = {}
        self.phase = "joining"
        self.iteration = 0
        self.z = np.zeros(spec.features)
        self.rho = self.rho_prev = spec.rho0
        # The z and ρ of the iterations workers may still be answering (state of a slot).
        self.z_of: dict[int, np.ndarray] = {}
        self.rho_of: dict[int, float] = {0: spec.rho0}
        self.arrived: set[int] = set()
        self.opened_at = 0.0
        self.losses: dict[int, float] = {}
        self.pause = options.first_rebroadcast_seconds

    # -- spawning, replacing, welcoming ------------------------------------------------
    def _assignment(self, index: int, epoch: int) -> WorkerAssignment:
        return build_assignment(
            self.spec,
            solve_id=self.solve_id,
            worker_index=index,
            slot_epoch=epoch,
            rows=self.rows[index],
            endpoints=self.transport.endpoints_for(index, new_keys=epoch > 0),
            worker_options=self.options.worker_options(),
        )

    def _replace(self, slot: Slot, reason: str, *, failure: bool) -> None:
        """Make sure a successor is on its way for this slot.

        Replacements after failures are bounded by ``max_respawns`` per slot;
        planned hand-offs (retirement at a time limit) are not.
        """
        if slot.successor_epoch is not None:
            return
        if failure:
            if slot.respawns >= self.options.max_respawns:
                raise SolveFailed(
                    f"worker {slot.index}: {reason}; gave up after {slot.respawns} replacements"
                )
            slot.respawns += 1
        self.replacements += 1
        slot.successor_epoch = max(slot.epoch, slot.spawn_epoch) + 1
        slot.spawn_epoch = slot.successor_epoch
        slot.successor_spawned_at = time.monotonic()
        log.warning(
            "worker %d: %s; spawning replacement epoch %d", slot.index, reason, slot.successor_epoch
        )
        self.spawner.spawn([self._assignment(slot.index, slot.successor_epoch)])

    def _vacate(self, slot: Slot, reason: str, *, failure: bool = True) -> None:
        """The holder is gone (retired, dead or given up on): hand the slot on."""
        self.transport.registry.set_holder(
            slot, epoch=slot.epoch, peer=None, state=SlotState.VACANT
        )
        self._replace(slot, reason, failure=failure)
        if slot.successor_peer is not None:
            self._promote(slot)

    def _promote(self, slot: Slot) -> None:
        assert slot.successor_epoch is not None
        self.transport.registry.set_holder(
            slot, epoch=slot.successor_epoch, peer=slot.successor_peer, state=SlotState.JOINED
        )
        slot.successor_epoch = slot.successor_peer = None
        self.cold_start.setdefault(slot.index, time.monotonic() - slot.successor_spawned_at)
        self._welcome(slot)

    def _welcome(self, slot: Slot) -> None:
        assert slot.peer is not None
        slot.active_since = time.monotonic()
        if self.phase == "joining":
            welcome = Welcome(last_iteration=0)
        else:
            last, x, u = self.transport.slots.state_of(
                slot.index, z_of=self.z_of, rho_of=self.rho_of
            )
            welcome = Welcome(last_iteration=last, x=x, u=u)
        self.transport.send_direct(slot.peer, encode_direct(welcome, solve_id=self.solve_id))
        self.transport.broadcaster.repeat()  # the current iterate (or terminate) at once

    def _on_join(self, event: JoinArrived) -> None:
        header = event.join.header
        slot = self.slots[header.worker_index]
        if header.slot_epoch == slot.epoch and slot.state is SlotState.SPAWNED:
            self.transport.registry.set_holder(
                slot, epoch=slot.epoch, peer=event.peer, state=SlotState.JOINED
            )
            self.cold_start.setdefault(slot.index, time.monotonic() - slot.spawned_at)
            self._welcome(slot)
        elif header.slot_epoch == slot.successor_epoch and slot.successor_peer is None:
            slot.successor_peer = event.peer
            if slot.state is SlotState.VACANT:
                self._promote(slot)
        else:
            reason = f"slot {slot.index} is held by another worker (epoch {slot.epoch})"
            log.warning("refused a join for worker %d: %s", slot.index, reason)
            self.transport.send_direct(
                event.peer, encode_direct(Refuse(reason=reason), solve_id=self.solve_id)
            )

    # -- events and liveness --------------------------------------------------------------
    def _on_update(self, event: UpdateArrived) -> None:
        """An update the ledger accepted (sync: this iteration's; async: at most τ old)."""
        slot = self.slots[event.worker_index]
        self.arrived.add(event.worker_index)
        slot.recent_compute.append(event.compute_seconds)
        self.worker_iterations.append(
            WorkerIteration(
                worker_index=event.worker_index,
                iteration=event.iteration,
                compute_seconds=event.compute_seconds,
                idle_seconds=event.idle_seconds,
                local_iterations=event.local_iterations,
            )
        )
        if event.final:
            self._vacate(slot, "retired (time limit)", failure=False)
        elif event.retiring:
            self.transport.registry.set_holder(
                slot, epoch=slot.epoch, peer=slot.peer, state=SlotState.RETIRING
            )
            self._replace(slot, "gave notice of retirement", failure=False)

    def _compute_deadline(self) -> float:
        recent = [seconds for slot in self.slots for seconds in slot.recent_compute]
        typical = statistics.median(recent) if recent else 0.0
        return max(
            self.options.worker_deadline_floor_seconds,
            self.options.worker_deadline_factor * typical,
        )

    def _check_liveness(self) -> None:
        now = time.monotonic()
        for failure in self.spawner.failures():
            slot = self.slots[failure.worker_index]
            if failure.slot_epoch == slot.epoch and slot.state is not SlotState.VACANT:
                self._vacate(slot, failure.reason)
            elif failure.slot_epoch == slot.successor_epoch:
                slot.successor_epoch = slot.successor_peer = None
                self._replace(slot, f"replacement failed: {failure.reason}", failure=True)
        join_timeout = self.options.join_timeout_seconds
        deadline = self._compute_deadline()
        for slot in self.slots:
            if slot.state is SlotState.SPAWNED and now - slot.spawned_at > join_timeout:
                self._vacate(slot, f"did not join within {join_timeout:g} s")
            elif (
                slot.successor_epoch is not None
                and slot.successor_peer is None
                and now - slot.successor_spawned_at > join_timeout
            ):
                slot.successor_epoch = None
                self._replace(
                    slot, f"replacement did not join within {join_timeout:g} s", failure=True
                )
            elif (
                self.phase == "iterating"
                and slot.state in (SlotState.JOINED, SlotState.RETIRING)
                and slot.index not in self.arrived
                and now - max(self.opened_at, slot.active_since) > deadline
            ):
                self._vacate(
                    slot, f"missed its {deadline:.3g} s deadline in iteration {self.iteration}"
                )

    def _poll(self, deadline: float, waiting_for: str) -> None:
        """Handle the events that arrived, repeat the broadcast when due, check liveness."""
        if time.monotonic() > deadline:
            raise SolveFailed(f"timed out waiting for {waiting_for}")
        broadcaster = self.transport.broadcaster
        if self.phase != "joining" and time.monotonic() - broadcaster.last_sent > self.pause:
            broadcaster.repeat()  # a worker may have missed it (PUB slow joiner)
            self.pause = min(2 * self.pause, self.options.max_rebroadcast_seconds)
        self._check_liveness()
        try:
            event = self.transport.events.get(timeout=EVENT_POLL_SECONDS)
        except queue.Empty:
            return
        for _ in range(MAX_EVENTS_PER_POLL):
            self._handle(event)
            try:
                event = self.transport.events.get_nowait()
            except queue.Empty:
                return
        self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, JoinArrived):
            self._on_join(event)
        elif isinstance(event, UpdateArrived):
            self._on_update(event)
        elif isinstance(event, Retire):
            # It made no progress: counted like a failure, so a time limit below the
            # retirement margin cannot respawn workers forever.
            self._vacate(self.slots[event.header.worker_index], "retired before computing")
        elif isinstance(event, LossReport) and self.phase == "finishing":
            self.losses.setdefault(event.header.worker_index, event.loss)

    def _broadcast(self, message: Iterate | Terminate) -> None:
        self.pause = self.options.first_rebroadcast_seconds
        self.transport.broadcaster.send(message)

    # -- the three phases -----------------------------------------------------------------
    def _join_all(self) -> None:
        started = time.monotonic()
        for slot in self.slots:
            slot.spawned_at = started
        self.spawner.spawn([self._assignment(slot.index, 0) for slot in self.slots])
        # Replacements during start-up are bounded by max_respawns x join timeout.
        deadline = started + self.options.join_timeout_seconds * (self.options.max_respawns + 1)
        while any(slot.state is not SlotState.JOINED for slot in self.slots):
            self._poll(deadline, "workers to join")

    def _iterate(self) -> tuple[list[IterationRecord], bool]:
        history: list[IterationRecord] = []
        started = time.monotonic()
        converged = False
        slots = self.transport.slots
        while not converged and self.iteration < self.spec.max_iter:
            self.iteration += 1
            self.arrived = set()
            self.z_of[self.iteration], self.rho_of[self.iteration] = self.z, self.rho
            self.transport.ledger.open(self.iteration)
            self.opened_at = time.monotonic()
            self._broadcast(
                Iterate(iteration=self.iteration, rho=self.rho, rho_prev=self.rho_prev, z=self.z)
            )
            deadline = self.opened_at + self.options.iteration_timeout_seconds
            # Sync: all W updates of this iteration.  Async (Zhang & Kwok 2014): a quorum of
            # fresh updates, and no contribution older than τ iterations.
            oldest_allowed = self.iteration - self.spec.staleness_bound + 1
            while len(self.arrived) < self.spec.quorum or slots.oldest_iteration() < oldest_allowed:
                self._poll(deadline, f"the updates of iteration {self.iteration}")
            omega_sum, primal_sq_sum = slots.scaled_sums(
                rho=self.rho, z_of=self.z_of, rho_of=self.rho_of
            )
            step = global_step(
                omega_sum=omega_sum,
                primal_sq_sum=primal_sq_sum,
                z_prev=self.z,
                rho=self.rho,
                num_workers=self.spec.workers,
                penalty=self.penalty,
                dual_residual_form=self.spec.dual_residual,
            )
            record = IterationRecord(
                iteration=self.iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                rho=self.rho,
                wall_seconds=time.monotonic() - started,
            )
            history.append(record)
            if self.on_iteration is not None:
                self.on_iteration(record)
            converged = has_converged(
                iteration=self.iteration,
                primal_residual=step.primal_residual,
                dual_residual=step.dual_residual,
                eps_primal=self.spec.eps_primal,
                eps_dual=self.spec.eps_dual,
            )
            self.z = step.z
            self.rho_prev, self.rho = self.rho, step.rho_next
            for old in [k for k in self.z_of if k < slots.oldest_iteration()]:
                del self.z_of[old]
        return history, converged

    def _finish(self, reason: str) -> float:
        self.phase = "finishing"
        self.transport.ledger.open(-1)  # no update is accepted any more
        self._broadcast(Terminate(iteration=self.iteration, z=self.z, reason=reason))
        deadline = time.monotonic() + self.options.final_timeout_seconds
        while len(self.losses) < self.spec.workers:
            self._poll(deadline, "the workers' final losses")
        return math.fsum(self.losses[index] for index in sorted(self.losses))

    def run(self) -> SolveResult:
        started = time.monotonic()
        self._join_all()
        setup_seconds = time.monotonic() - started
        self.phase = "iterating"
        solve_started = time.monotonic()
        history, converged = self._iterate()
        data_loss = self._finish("converged" if converged else "max_iter")
        return SolveResult(
            solve_id=self.solve_id,
            x=self.z,
            objective=data_loss + self.penalty.value(self.z),
            iterations=self.iteration,
            converged=converged,
            primal_residual=history[-1].primal_residual,
            dual_residual=history[-1].dual_residual,
            rho=history[-1].rho,
            history=tuple(history),
            worker_iterations=tuple(self.worker_iterations),
            cold_start_seconds=tuple(self.cold_start[index] for index in range(self.spec.workers)),
            setup_seconds=setup_seconds,
            solve_seconds=time.monotonic() - solve_started,
            dropped_messages=self.transport.drops.count,
            replacements=self.replacements,
        )
