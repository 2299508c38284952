"""Membership and liveness: keep every worker slot held, from spawn to the last update.

The one owner of the slots' state machine (:class:`~scheduler_host.solve.slots.Slot`):
it spawns the W workers, admits or refuses joins, welcomes a holder, replaces a
worker whose process died, that missed its compute deadline or that never joined
(through the same spawner, at most ``max_respawns`` times per slot after
failures), and promotes a successor when a holder retires.  The coordinator
reports what arrived (:meth:`Membership.on_join`, :meth:`Membership.on_update`,
:meth:`Membership.on_retire`, :meth:`Membership.on_failed`) and asks
:meth:`Membership.check` on each wake-up;
masters read the holders through the registry's lock.

Like ipyparallel's heart monitor, it keeps membership out of the iteration loop:
what a welcome carries is the caller's business (``welcome_for``).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from runtime.protocol import Failed, Join, Refuse, Welcome
from runtime.specs import WorkerAssignment
from scheduler_host.solve.masters import UpdateArrived
from scheduler_host.solve.options import SchedulerOptions, SolveFailed
from scheduler_host.solve.slots import Slot, SlotRegistry, SlotState
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.scheduler")

#: The slots are scanned against their deadlines at most this often; a deadline is also
#: checked no later than a tenth of the shortest timeout after it passes.
MAX_SCAN_PERIOD_SECONDS = 0.25
SCAN_PERIOD_PER_TIMEOUT = 0.1

#: ``assign(worker_index, slot_epoch)``: the spawn request of a slot's holder at that epoch.
AssignFn = Callable[[int, int], WorkerAssignment]
#: ``send(peer, message)``: a direct message to one connected worker.
SendFn = Callable[[bytes, Welcome | Refuse], None]


@dataclass(frozen=True, kw_only=True)
class OpenIteration:
    """What the deadline check needs of the iteration in progress."""

    iteration: int
    opened_at: float
    arrived: Collection[int]


class Membership:
    """Spawns, admits, welcomes, replaces and retires the holders of W worker slots.

    Parameters
    ----------
    registry : SlotRegistry
        The slots; masters ask it who holds each.
    spawner : Spawner
        Starts workers; replacements go through it too.
    assign : callable
        The spawn request for ``(worker_index, slot_epoch)``.
    send : callable
        Sends a welcome or refusal to a peer.
    welcome_for : callable
        The welcome for a slot's new holder (the state it resumes from).
    on_welcomed : callable
        Called after each welcome (the coordinator repeats its current broadcast).
    options : SchedulerOptions
        Join timeout, replacement bound and compute deadlines.
    """

    def __init__(
        self,
        *,
        registry: SlotRegistry,
        spawner: Spawner,
        assign: AssignFn,
        send: SendFn,
        welcome_for: Callable[[int], Welcome],
        on_welcomed: Callable[[], None],
        options: SchedulerOptions,
    ) -> None:
        self._registry = registry
        self._slots = registry.slots
        self._spawner = spawner
        self._assign = assign
        self._send = send
        self._welcome_for = welcome_for
        self._on_welcomed = on_welcomed
        self._options = options
        self._cold_start: dict[int, float] = {}
        self.replacements = 0
        self._next_scan = 0.0
        self._scan_period = min(
            MAX_SCAN_PERIOD_SECONDS,
            SCAN_PERIOD_PER_TIMEOUT * options.join_timeout_seconds,
            SCAN_PERIOD_PER_TIMEOUT * options.worker_deadline_floor_seconds,
        )

    # -- what the coordinator asks ---------------------------------------------------------
    def spawn_all(self) -> None:
        started = time.monotonic()
        for slot in self._slots:
            slot.spawned_at = started
        self._spawner.spawn([self._assign(slot.index, 0) for slot in self._slots])

    def all_joined(self) -> bool:
        return all(slot.state is SlotState.JOINED for slot in self._slots)

    def cold_start_seconds(self) -> tuple[float, ...]:
        """Per slot: spawn request to the first holder's join."""
        return tuple(self._cold_start[index] for index in range(len(self._slots)))

    # -- what arrived ----------------------------------------------------------------------
    def on_join(self, join: Join, peer: bytes) -> None:
        header = join.header
        slot = self._slots[header.worker_index]
        if header.slot_epoch == slot.epoch and slot.state is SlotState.SPAWNED:
            self._registry.set_holder(slot, epoch=slot.epoch, peer=peer, state=SlotState.JOINED)
            self._cold_start.setdefault(slot.index, time.monotonic() - slot.spawned_at)
            self._welcome(slot)
        elif header.slot_epoch == slot.successor_epoch and slot.successor_peer is None:
            slot.successor_peer = peer
            if slot.state is SlotState.VACANT:
                self._promote(slot)
        else:
            reason = f"slot {slot.index} is held by another worker (epoch {slot.epoch})"
            log.warning("refused a join for worker %d: %s", slot.index, reason)
            self._send(peer, Refuse(reason=reason))

    def on_update(self, event: UpdateArrived) -> None:
        """An accepted update: its compute time, and a retirement it announces."""
        slot = self._slots[event.worker_index]
        slot.recent_compute.append(event.compute_seconds)
        if event.final:
            self._vacate(slot, "retired (time limit)", failure=False)
        elif event.retiring:
            self._registry.set_holder(
                slot, epoch=slot.epoch, peer=slot.peer, state=SlotState.RETIRING
            )
            self._replace(slot, "gave notice of retirement", failure=False)

    def on_retire(self, worker_index: int) -> None:
        """A holder left before computing: counted like a failure, so a time limit below the
        retirement margin cannot respawn workers forever."""
        self._vacate(self._slots[worker_index], "retired before computing")

    def on_failed(self, failed: Failed, peer: bytes) -> None:
        """A worker reported that it raised, maybe before it joined.

        Deterministic (bad data or spec): every replacement would fail alike, so the
        solve fails now.  Otherwise the slot's holder or pending successor is replaced.
        A report from a peer other than the one holding that epoch is ignored.
        """
        header = failed.header
        slot = self._slots[header.worker_index]
        epoch = header.slot_epoch
        if epoch not in (slot.epoch, slot.successor_epoch):
            return
        if failed.deterministic:
            raise SolveFailed(f"worker {slot.index} failed: {failed.reason}")
        if epoch == slot.epoch and (
            slot.state is SlotState.SPAWNED
            or (slot.state is not SlotState.VACANT and peer == slot.peer)
        ):
            self._vacate(slot, f"failed: {failed.reason}")
        elif epoch == slot.successor_epoch and slot.successor_peer in (None, peer):
            slot.successor_epoch = slot.successor_peer = None
            self._replace(slot, f"replacement failed: {failed.reason}", failure=True)

    # -- liveness ----------------------------------------------------------------------------
    def check(self, open_iteration: OpenIteration | None) -> None:
        """Replace what the spawner reports dead, and slots past their join or compute deadline
        (those looked at every ``scan period``: a tenth of the shortest timeout, 0.25 s at most).

        ``open_iteration`` is None while no iteration is being computed.
        """
        now = time.monotonic()
        for failure in self._spawner.failures():
            slot = self._slots[failure.worker_index]
            if failure.slot_epoch == slot.epoch and slot.state is not SlotState.VACANT:
                self._vacate(slot, failure.reason)
            elif failure.slot_epoch == slot.successor_epoch:
                slot.successor_epoch = slot.successor_peer = None
                self._replace(slot, f"replacement failed: {failure.reason}", failure=True)
        if now >= self._next_scan:
            self._next_scan = now + self._scan_period
            self._scan(open_iteration, now)

    def _scan(self, open_iteration: OpenIteration | None, now: float) -> None:
        """Every slot against its join or compute deadline: O(W), and a median of 5·W compute
        times, so :meth:`check` runs it on a timer, not on every wake-up (at W = 1,024 that
        took 0.5-1 s of a round).  No deadline is shorter than ten periods."""
        join_timeout = self._options.join_timeout_seconds
        deadline = self._compute_deadline()
        for slot in self._slots:
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
                open_iteration is not None
                and slot.state in (SlotState.JOINED, SlotState.RETIRING)
                and slot.index not in open_iteration.arrived
                and now - max(open_iteration.opened_at, slot.active_since) > deadline
            ):
                self._vacate(
                    slot,
                    f"missed its {deadline:.3g} s deadline in iteration {open_iteration.iteration}",
                )

    def _compute_deadline(self) -> float:
        recent = [seconds for slot in self._slots for seconds in slot.recent_compute]
        typical = statistics.median(recent) if recent else 0.0
        return max(
            self._options.worker_deadline_floor_seconds,
            self._options.worker_deadline_factor * typical,
        )

    # -- replacing and welcoming -------------------------------------------------------------
    def _replace(self, slot: Slot, reason: str, *, failure: bool) -> None:
        """Make sure a successor is on its way for this slot.

        Replacements after failures are bounded by ``max_respawns`` per slot;
        planned hand-offs (retirement at a time limit) are not.
        """
        if slot.successor_epoch is not None:
            return
        if failure:
            if slot.respawns >= self._options.max_respawns:
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
        self._spawner.spawn([self._assign(slot.index, slot.successor_epoch)])

    def _vacate(self, slot: Slot, reason: str, *, failure: bool = True) -> None:
        """The holder is gone (retired, dead or given up on): hand the slot on."""
        self._registry.set_holder(slot, epoch=slot.epoch, peer=None, state=SlotState.VACANT)
        self._replace(slot, reason, failure=failure)
        if slot.successor_peer is not None:
            self._promote(slot)

    def _promote(self, slot: Slot) -> None:
        assert slot.successor_epoch is not None
        self._registry.set_holder(
            slot, epoch=slot.successor_epoch, peer=slot.successor_peer, state=SlotState.JOINED
        )
        slot.successor_epoch = slot.successor_peer = None
        self._cold_start.setdefault(slot.index, time.monotonic() - slot.successor_spawned_at)
        self._welcome(slot)

    def _welcome(self, slot: Slot) -> None:
        assert slot.peer is not None
        slot.active_since = time.monotonic()
        self._send(slot.peer, self._welcome_for(slot.index))
        self._on_welcomed()
