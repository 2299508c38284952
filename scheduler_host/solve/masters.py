"""Master threads: validate worker messages and gather the updates of an iteration.

The front proxy hands messages round-robin (a DEALER) to ⌈W/W̄⌉ masters, at most
:data:`~scheduler_host.solve.transport.MAX_MASTERS` (their Python shares one GIL).  Each
master decodes and validates what it gets (the costly part),
checks that the sender holds the slot it speaks for (CURVE key, slot epoch and
routing id), claims the (worker, iteration) pair in the shared
:class:`IterationLedger` so that a replayed or stale update is never counted,
stores the update in that worker's slot of :class:`UpdateSlots`, and tells the
coordinator through a queue.

Summing in arrival order would make the last bits of z depend on network
timing; the slots are instead summed in worker order once all W are in, so a
solve is reproducible bit for bit whatever W̄ and the arrival order.  The price
is a few d-vectors per worker (3·W·d·8 bytes, 60 MB at W=256, d=10⁴), which
also hold the state replacements resume from.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import zmq

from runtime.protocol import Failed, Join, ProtocolError, Update, WorkerMessage
from scheduler_host.solve.security import SolveKeys
from scheduler_host.solve.slots import SlotRegistry, UpdateSlots

log = logging.getLogger("lambda_admm.scheduler")

POLL_MS = 50
#: Messages a master takes off its socket before it hands their events on in one batch.
MAX_BATCH = 256


@dataclass(frozen=True)
class UpdateArrived:
    """An accepted update; its vector is in the update slots."""

    worker_index: int
    iteration: int
    compute_seconds: float
    idle_seconds: float
    local_iterations: int
    retiring: bool
    final: bool
    local_stop: str | None = None


@dataclass(frozen=True)
class JoinArrived:
    join: Join
    peer: bytes


class DropCounter:
    """Messages dropped by the masters: a counter, not events, so a flood of junk from a
    peer cannot grow the coordinator's queue or delay the real events behind it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


@dataclass(frozen=True)
class FailedArrived:
    """A worker's failure report; membership checks its epoch and peer (it may not have joined)."""

    failed: Failed
    peer: bytes


Event = UpdateArrived | JoinArrived | FailedArrived | WorkerMessage


class EventQueue:
    """The masters' events for the coordinator, handed over in batches.

    A master puts all the events of the messages it took off its socket at once
    (:meth:`put_all`), and the coordinator takes everything queued at once (:meth:`take`):
    one lock and one wake-up per batch, where a ``queue.Queue`` costs both per event
    (at W = 1,024, a thousand wake-ups of the coordinator per round).
    """

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._events: deque[Event] = deque()

    def put_all(self, events: Iterable[Event]) -> None:
        with self._ready:
            was_empty = not self._events
            self._events.extend(events)
            if was_empty and self._events:
                self._ready.notify_all()

    def take(self, timeout: float) -> list[Event]:
        """Every event queued, oldest first; waits up to ``timeout`` seconds for one."""
        with self._ready:
            if not self._events:
                self._ready.wait(timeout)
            taken = list(self._events)
            self._events.clear()
            return taken


class IterationLedger:
    """Which updates may still be counted.

    Sync mode (``max_delay=1``): only the open iteration's, once per worker.  Async
    mode: any of the last ``max_delay`` iterations, each worker's iterations strictly
    increasing (a worker always computes on the newest z it has).
    """

    def __init__(self, *, max_delay: int = 1) -> None:
        self._lock = threading.Lock()
        self._max_delay = max_delay
        self._iteration = -1  # nothing is accepted before the first iteration opens
        self._last: dict[int, int] = {}

    def open(self, iteration: int) -> None:
        with self._lock:
            self._iteration = iteration

    def claim(self, worker_index: int, iteration: int) -> str | None:
        """Count this update, or say why it must be dropped."""
        with self._lock:
            oldest = self._iteration - self._max_delay + 1
            if not oldest <= iteration <= self._iteration:
                return f"stale update for iteration {iteration} (open: {self._iteration})"
            if iteration <= self._last.get(worker_index, 0):
                return f"duplicate update from worker {worker_index} for iteration {iteration}"
            self._last[worker_index] = iteration
            return None


class Master(threading.Thread):
    """One validating, gathering thread; it owns its DEALER socket."""

    def __init__(
        self,
        *,
        index: int,
        context: zmq.Context,
        backend_address: str,
        decode: Callable[[bytes | memoryview], WorkerMessage],
        ledger: IterationLedger,
        slots: UpdateSlots,
        registry: SlotRegistry,
        events: EventQueue,
        drops: DropCounter,
        stop: threading.Event,
        keys: SolveKeys | None,
    ) -> None:
        super().__init__(name=f"admm-master-{index}", daemon=True)
        self._context = context
        self._backend_address = backend_address
        self._decode = decode
        self._ledger = ledger
        self._slots = slots
        self._registry = registry
        self._keys = keys
        self._events = events
        self._drops = drops
        self._halt = stop
        self.ready = threading.Event()
        self.bytes_received = 0  # message bodies taken off the socket (this thread writes it)

    def run(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self._backend_address)
        self.ready.set()
        try:
            while not self._halt.is_set():
                if sock.poll(POLL_MS):
                    self._events.put_all(self._take_batch(sock))
        finally:
            sock.close()

    def _take_batch(self, sock: zmq.Socket) -> list[Event]:
        """The events of the messages queued on the socket (up to :data:`MAX_BATCH`)."""
        events: list[Event] = []
        for _ in range(MAX_BATCH):
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            event = self._handle(frames)
            if event is not None:
                events.append(event)
        return events

    def _handle(self, frames: list[zmq.Frame]) -> Event | None:
        """One message ``[routing id, client key, body]``, received without copying the body;
        its event, or None.  Nothing a peer sends raises out."""
        try:
            if len(frames) != 3:
                raise ProtocolError(f"expected one body frame, got {len(frames) - 2}")
            peer, client_key = frames[0].bytes, frames[1].bytes
            self.bytes_received += len(frames[2])
            message = self._decode(frames[2].buffer)
            self._check_key(message, client_key.decode())
            if isinstance(message, Join):
                return JoinArrived(join=message, peer=peer)
            if isinstance(message, Failed):
                return FailedArrived(failed=message, peer=peer)
            header = message.header
            refusal = self._registry.admits(header.worker_index, header.slot_epoch, peer)
            if refusal is not None:
                raise ProtocolError(refusal)
            if isinstance(message, Update):
                return self._gather(message)
            return message
        except ProtocolError as error:
            log.warning("dropped message: %s", error)
            self._drops.add()
        except Exception:  # a bug must not kill the gathering loop
            log.exception("error handling a message")
            self._drops.add()
        return None

    def _check_key(self, message: WorkerMessage, client_key: str) -> None:
        """With CURVE, a worker may speak only for its own slot."""
        if self._keys is None:
            return
        claimed = message.header.worker_index
        if self._keys.owner_of(client_key) != claimed:
            raise ProtocolError(f"a message for worker {claimed} came with another worker's key")

    def _gather(self, update: Update) -> UpdateArrived:
        header = update.header
        refusal = self._ledger.claim(header.worker_index, header.iteration)
        if refusal is not None:
            raise ProtocolError(refusal)
        self._slots.store(update)
        return UpdateArrived(
            worker_index=header.worker_index,
            iteration=header.iteration,
            compute_seconds=update.compute_seconds,
            idle_seconds=update.idle_seconds,
            local_iterations=update.local_iterations,
            retiring=update.retiring,
            final=update.final,
            local_stop=update.local_stop,
        )
