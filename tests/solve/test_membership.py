"""Membership's state machine as a unit: joins, refusals, replacements, deadlines, hand-offs.

The spawner here records requests instead of starting workers (the interface is the
spawner; the process-starting backends are tested in tests/solve/test_fault_tolerance.py).
"""

from __future__ import annotations

import time

import pytest

from runtime.protocol import Header, Join, MessageType, Refuse, Welcome
from scheduler_host.solve.masters import UpdateArrived
from scheduler_host.solve.membership import Membership, OpenIteration
from scheduler_host.solve.options import SchedulerOptions, SolveFailed
from scheduler_host.solve.slots import SlotRegistry, SlotState
from scheduler_host.spawners.base import SpawnFailure

SOLVE = "m" * 32


class RecordingSpawner:
    def __init__(self) -> None:
        self.requests: list[tuple[int, int]] = []
        self.pending_failures: list[SpawnFailure] = []

    def spawn(self, assignments) -> None:
        self.requests.extend(assignments)

    def failures(self) -> list[SpawnFailure]:
        found, self.pending_failures = self.pending_failures, []
        return found

    def close(self) -> None:
        pass


class Harness:
    def __init__(self, *, num_workers: int = 2, **options) -> None:
        self.registry = SlotRegistry(num_workers=num_workers)
        self.spawner = RecordingSpawner()
        self.sent: list[tuple[bytes, Welcome | Refuse]] = []
        self.repeats = 0
        self.membership = Membership(
            registry=self.registry,
            spawner=self.spawner,
            assign=lambda index, epoch: (index, epoch),  # type: ignore[arg-type,return-value]
            send=lambda peer, message: self.sent.append((peer, message)),
            welcome_for=lambda index: Welcome(last_iteration=index),
            on_welcomed=self._repeat,
            options=SchedulerOptions(**options),
        )

    def _repeat(self) -> None:
        self.repeats += 1

    def join(self, index: int, epoch: int, peer: bytes) -> None:
        header = Header(
            type=MessageType.JOIN, solve_id=SOLVE, worker_index=index, iteration=0, slot_epoch=epoch
        )
        self.membership.on_join(Join(header=header, row_start=0, row_stop=1), peer)

    def update(self, index: int, *, retiring: bool = False, final: bool = False) -> None:
        self.membership.on_update(
            UpdateArrived(
                worker_index=index,
                iteration=1,
                compute_seconds=0.01,
                idle_seconds=0.0,
                local_iterations=1,
                retiring=retiring,
                final=final,
            )
        )


def test_joins_are_welcomed_and_a_second_holder_refused() -> None:
    harness = Harness()
    harness.membership.spawn_all()
    assert harness.spawner.requests == [(0, 0), (1, 0)]
    harness.join(0, 0, b"a")
    harness.join(1, 0, b"b")
    harness.join(1, 0, b"twin")
    assert harness.membership.all_joined()
    assert harness.sent == [
        (b"a", Welcome(last_iteration=0)),
        (b"b", Welcome(last_iteration=1)),
        (b"twin", Refuse(reason="slot 1 is held by another worker (epoch 0)")),
    ]
    assert harness.repeats == 2
    assert harness.registry.admits(1, 0, b"b") is None
    assert len(harness.membership.cold_start_seconds()) == 2


def test_a_dead_worker_is_replaced_until_its_slot_runs_out_of_respawns() -> None:
    harness = Harness(max_respawns=1)
    harness.membership.spawn_all()
    harness.join(0, 0, b"a")
    harness.spawner.pending_failures = [SpawnFailure(worker_index=0, slot_epoch=0, reason="gone")]
    harness.membership.check(None)
    assert harness.spawner.requests[-1] == (0, 1)
    assert harness.registry.slots[0].state is SlotState.VACANT
    assert harness.registry.admits(0, 0, b"a") == "message from a worker that does not hold slot 0"
    harness.join(0, 1, b"a2")  # the successor is promoted at once and welcomed
    assert harness.registry.slots[0].state is SlotState.JOINED
    assert harness.sent[-1] == (b"a2", Welcome(last_iteration=0))
    harness.spawner.pending_failures = [SpawnFailure(worker_index=0, slot_epoch=1, reason="again")]
    with pytest.raises(SolveFailed, match=r"^worker 0: again; gave up after 1 replacements$"):
        harness.membership.check(None)
    assert harness.membership.replacements == 1


def test_a_worker_that_never_joins_is_replaced() -> None:
    harness = Harness(join_timeout_seconds=0.01)
    harness.membership.spawn_all()
    harness.join(1, 0, b"b")
    time.sleep(0.02)
    harness.membership.check(None)
    assert harness.spawner.requests[-1] == (0, 1)
    assert harness.registry.slots[1].state is SlotState.JOINED


def test_a_worker_past_its_compute_deadline_is_replaced() -> None:
    harness = Harness(worker_deadline_floor_seconds=0.01)
    harness.membership.spawn_all()
    harness.join(0, 0, b"a")
    harness.join(1, 0, b"b")
    opened = OpenIteration(iteration=4, opened_at=time.monotonic(), arrived={0})
    time.sleep(0.02)
    harness.membership.check(opened)
    assert harness.spawner.requests[2:] == [(1, 1)]  # worker 0 had reported; worker 1 had not
    assert harness.registry.slots[1].state is SlotState.VACANT


def test_a_retiring_worker_hands_over_to_its_successor() -> None:
    harness = Harness()
    harness.membership.spawn_all()
    harness.join(0, 0, b"a")
    harness.update(0, retiring=True)
    assert harness.registry.slots[0].state is SlotState.RETIRING
    assert harness.spawner.requests[-1] == (0, 1)
    harness.join(0, 1, b"a2")  # waits: the holder still computes its last iteration
    assert harness.registry.admits(0, 0, b"a") is None
    harness.update(0, final=True)
    assert harness.registry.admits(0, 1, b"a2") is None
    assert harness.sent[-1] == (b"a2", Welcome(last_iteration=0))
    assert harness.registry.slots[0].respawns == 0  # planned hand-offs are not failures
