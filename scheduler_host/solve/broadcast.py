"""The PUB side: (ρ, z) for the next iteration, or terminate, to every worker of a solve."""

from __future__ import annotations

import time
from collections.abc import Callable

import zmq

from runtime.protocol import Broadcast, encode_broadcast
from scheduler_host.solve.front import bind


class Broadcaster:
    """Owns the PUB socket; remembers the last broadcast so it can be repeated.

    PUB/SUB drops messages to subscribers that are not connected yet (the slow
    joiner), so the current broadcast is repeated while the coordinator waits
    (:meth:`repeat_if_due`), after ``first_repeat_seconds`` and then at doubling
    pauses up to ``max_repeat_seconds``; workers ignore iterations they have
    already computed.
    """

    def __init__(
        self,
        *,
        context: zmq.Context,
        bind_address: str,
        solve_id: str,
        first_repeat_seconds: float = 0.05,
        max_repeat_seconds: float = 5.0,
        configure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self._solve_id = solve_id
        self._first_pause = first_repeat_seconds
        self._max_pause = max_repeat_seconds
        self._pause = first_repeat_seconds
        self._sock = context.socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 100)
        if configure is not None:
            configure(self._sock)
        self.endpoint = bind(self._sock, bind_address)
        self._frames: list[bytes] | None = None
        self._requested = False
        self.last_sent = 0.0

    def send(self, message: Broadcast) -> None:
        self._frames = encode_broadcast(message, solve_id=self._solve_id)
        self._pause = self._first_pause
        self.repeat()

    def request_repeat(self) -> None:
        """Repeat the current broadcast at the next :meth:`repeat_if_due` (a worker was just
        welcomed): the welcomes of one batch of joins share one repeat, where a repeat per
        welcome would send W² copies while W workers join."""
        self._requested = True

    def repeat_if_due(self) -> None:
        """Repeat the current broadcast if requested, or if the pause since the last one has
        passed."""
        if self._frames is None:
            return
        if time.monotonic() - self.last_sent > self._pause:
            self.repeat()
            self._pause = min(2 * self._pause, self._max_pause)
        elif self._requested:
            self.repeat()

    def repeat(self) -> None:
        self._requested = False
        if self._frames is not None:
            self._sock.send_multipart(self._frames)
            self.last_sent = time.monotonic()

    def close(self) -> None:
        self._sock.close()
