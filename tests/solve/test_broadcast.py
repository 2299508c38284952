"""The broadcaster's repeats (slow joiners) on a clock the test moves: proportional to the
round time, so a large solve's round is not re-sent several times while it runs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from runtime.protocol import Iterate, Terminate
from scheduler_host.solve.broadcast import Broadcaster


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked() -> Iterator[tuple[Broadcaster, Clock]]:
    clock = Clock()
    broadcaster = Broadcaster(
        context=zmq.Context.instance(),
        bind_address="inproc://broadcast-test",
        solve_id="b",
        first_repeat_seconds=0.05,
        max_repeat_seconds=5.0,
        clock=clock,
    )
    yield broadcaster, clock
    broadcaster.close()


def _iterate(iteration: int) -> Iterate:
    return Iterate(iteration=iteration, rho=1.0, rho_prev=1.0, z=np.zeros(3))


def _repeated_at(broadcaster: Broadcaster, clock: Clock, seconds: float) -> bool:
    """Advance the clock to ``seconds`` after the last send; True if a repeat went out."""
    clock.now = broadcaster.last_sent + seconds
    before = broadcaster.last_sent
    broadcaster.repeat_if_due()
    return broadcaster.last_sent != before


def test_without_rounds_behind_it_a_broadcast_is_repeated_after_the_first_pause(
    clocked: tuple[Broadcaster, Clock],
) -> None:
    broadcaster, clock = clocked
    broadcaster.send(_iterate(0))  # the keep-alive while workers join
    clock.now += 30.0  # joining took 30 s: not a round
    broadcaster.send(_iterate(1))
    assert broadcaster.first_pause() == 0.05
    assert not _repeated_at(broadcaster, clock, 0.04)
    assert _repeated_at(broadcaster, clock, 0.06)
    assert not _repeated_at(broadcaster, clock, 0.09)  # the pause doubled
    assert _repeated_at(broadcaster, clock, 0.11)


def test_the_first_repeat_waits_for_twice_the_median_round(
    clocked: tuple[Broadcaster, Clock],
) -> None:
    broadcaster, clock = clocked
    for iteration, seconds in enumerate([1.0, 1.2, 0.8, 1.0], start=1):
        broadcaster.send(_iterate(iteration))
        clock.now += seconds
    broadcaster.send(_iterate(5))
    assert broadcaster.first_pause() == 2.0
    assert not _repeated_at(broadcaster, clock, 1.9)
    assert _repeated_at(broadcaster, clock, 2.1)  # the round is late: a worker may have missed z
    assert not _repeated_at(broadcaster, clock, 3.9)
    assert _repeated_at(broadcaster, clock, 4.1)


def test_long_rounds_are_repeated_at_the_longest_pause(clocked: tuple[Broadcaster, Clock]) -> None:
    broadcaster, clock = clocked
    for iteration in (1, 2):
        broadcaster.send(_iterate(iteration))
        clock.now += 60.0
    broadcaster.send(_iterate(3))
    assert broadcaster.first_pause() == 5.0  # workers' silence timeout covers 3 of these


def test_terminate_is_repeated_soon_whatever_the_rounds(
    clocked: tuple[Broadcaster, Clock],
) -> None:
    broadcaster, clock = clocked
    for iteration in (1, 2, 3):
        broadcaster.send(_iterate(iteration))
        clock.now += 1.0
    broadcaster.send(Terminate(iteration=3, z=np.zeros(3), reason="max_iter"))
    assert broadcaster.first_pause() == 0.05
    assert _repeated_at(broadcaster, clock, 0.06)


def test_a_requested_repeat_goes_out_at_the_next_wake_up(
    clocked: tuple[Broadcaster, Clock],
) -> None:
    broadcaster, clock = clocked
    broadcaster.send(_iterate(1))
    broadcaster.request_repeat()
    broadcaster.request_repeat()  # two welcomes in one batch share the repeat
    assert _repeated_at(broadcaster, clock, 0.01)
    assert not _repeated_at(broadcaster, clock, 0.01)
