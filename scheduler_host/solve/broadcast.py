"""The PUB side: (ρ, z) for the next iteration, or terminate, to every worker of a solve."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq

from runtime.protocol import Broadcast, Iterate, Terminate, encode_broadcast
from runtime.sealed_broadcast import BroadcastSeal
from runtime.vector_codec import Base, encode_vector, encoding_of
from scheduler_host.solve.front import bind

#: A broadcast is first repeated after this many typical rounds (see :class:`Broadcaster`).
REPEAT_AFTER_ROUNDS = 2.0
#: Rounds whose median is the typical round.
ROUNDS_REMEMBERED = 5


@dataclass
class BroadcastTraffic:
    """What the PUB socket was given: broadcasts (first sends and repeats) and their bytes.
    Each goes to every subscriber, so the bytes on the wire are these times the workers."""

    broadcasts: int = 0
    repeats: int = 0
    sent_bytes: int = 0
    encodings: dict[str, int] = field(default_factory=dict)  # of z, in first sends

    def count(self, frames: list[bytes]) -> None:
        self.broadcasts += 1
        self.sent_bytes += sum(len(frame) for frame in frames)


class Broadcaster:
    """Owns the PUB socket; remembers the last broadcast so it can be repeated.

    PUB/SUB drops messages to subscribers that are not connected yet (the slow
    joiner), so the current broadcast is repeated while the coordinator waits
    (:meth:`repeat_if_due`), then at doubling pauses up to ``max_repeat_seconds``;
    workers ignore iterations they have already computed.

    The first pause is ``first_repeat_seconds``, or :data:`REPEAT_AFTER_ROUNDS` times the
    median of the last rounds (the time from one iteration's broadcast to the next's)
    when that is longer: a repeat goes out only once an iteration takes twice as long as
    usual, as one does whose z a worker missed.  A fixed 50 ms would repeat every
    round of a large solve several times (six at W = 1,024, each copy encrypted per
    subscriber under CURVE and decoded by every worker), loading the very round it waits for.
    Terminate keeps the short first pause (see :meth:`first_pause`).

    With ``seal`` the body is sealed once per broadcast (:mod:`runtime.sealed_broadcast`)
    and ``configure`` should be None: the PUB then sends the same ciphertext to every
    subscriber instead of encrypting it once per CURVE connection.
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
        seal: BroadcastSeal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._solve_id = solve_id
        self._seal = seal
        self._first_pause = first_repeat_seconds
        self._max_pause = max_repeat_seconds
        self._pause = first_repeat_seconds
        self._sock = context.socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 100)
        if configure is not None:
            configure(self._sock)
        self.endpoint = bind(self._sock, bind_address)
        self._frames: list[bytes] | None = None  # what a repeat sends (never a delta)
        self._base: Base | None = None  # the last iterate's z: the workers hold it
        self.traffic = BroadcastTraffic()
        self._requested = False
        self._clock = clock
        self._iteration: int | None = None
        self._terminating = False
        self._sent_first_at = 0.0  # when the current broadcast went out first
        self._rounds: deque[float] = deque(maxlen=ROUNDS_REMEMBERED)
        self.last_sent = 0.0

    def send(self, message: Broadcast) -> None:
        now = self._clock()
        if self._iteration is not None and self._iteration >= 1:
            # Iteration 0 is the keep-alive while workers join: not a round.
            self._rounds.append(now - self._sent_first_at)
        base = self._base
        if base is not None and base.iteration != message.iteration - 1:
            base = None  # a delta only against the z every worker computed with
        self._iteration, self._sent_first_at = message.iteration, now
        self._terminating = isinstance(message, Terminate)
        first = encode_broadcast(message, solve_id=self._solve_id, seal=self._seal, base=base)
        # A worker that missed the base (a slow joiner, a replacement) needs a repeat it can
        # decode alone.
        self._frames = (
            first
            if base is None
            else encode_broadcast(message, solve_id=self._solve_id, seal=self._seal)
        )
        encoding = encoding_of(encode_vector(message.z, base=base))
        self.traffic.encodings[encoding] = self.traffic.encodings.get(encoding, 0) + 1
        if isinstance(message, Iterate):
            self._base = Base(iteration=message.iteration, vector=message.z)
        self._pause = self.first_pause()
        self._send(first)

    def first_pause(self) -> float:
        """Seconds from a broadcast to its first repeat (see the class); terminate, sent once a
        solve, keeps the short pause, so that no worker that missed it lingers."""
        if not self._rounds or self._terminating:
            return self._first_pause
        typical = REPEAT_AFTER_ROUNDS * statistics.median(self._rounds)
        return min(self._max_pause, max(self._first_pause, typical))

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
        if self._clock() - self.last_sent > self._pause:
            self.repeat()
            self._pause = min(2 * self._pause, self._max_pause)
        elif self._requested:
            self.repeat()

    def repeat(self) -> None:
        self._requested = False
        if self._frames is not None:
            self.traffic.repeats += 1
            self._send(self._frames)

    def _send(self, frames: list[bytes]) -> None:
        self._sock.send_multipart(frames)
        self.last_sent = self._clock()
        self.traffic.count(frames)

    def close(self) -> None:
        self._sock.close()
