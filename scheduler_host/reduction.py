"""Master threads: validate worker messages and gather the updates of an iteration.

The front proxy hands messages round-robin (a DEALER) to ⌈W/W̄⌉ masters.  Each
master decodes and validates what it gets (the costly part, done in parallel),
claims the (worker, iteration) pair in the shared :class:`IterationLedger` so
that a replayed or stale update is never counted, stores the update in that
worker's slot of :class:`UpdateSlots`, and tells the coordinator through a queue.

Summing in arrival order would make the last bits of z depend on network
timing; the slots are instead summed in worker order once all W are in, so a
solve is reproducible bit for bit whatever W̄ and the arrival order.  The price
is one d-vector per worker (W·d·8 bytes, 20 MB at W=256, d=10⁴).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zmq

from runtime.protocol import ProtocolError, Update, WorkerMessage
from scheduler_host.security import SolveKeys

log = logging.getLogger("lambda_admm.scheduler")

POLL_MS = 50


@dataclass(frozen=True)
class UpdateArrived:
    """An accepted update; its vector went into the master's partial sums."""

    worker_index: int
    iteration: int
    compute_seconds: float
    idle_seconds: float
    local_iterations: int


@dataclass(frozen=True)
class MessageDropped:
    reason: str


Event = UpdateArrived | MessageDropped | WorkerMessage


class IterationLedger:
    """Which workers' updates have been counted for the open iteration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._iteration = 0
        self._counted: set[int] = set()

    def open(self, iteration: int) -> None:
        with self._lock:
            self._iteration = iteration
            self._counted = set()

    def claim(self, worker_index: int, iteration: int) -> str | None:
        """Count this update, or say why it must be dropped."""
        with self._lock:
            if iteration != self._iteration:
                return f"stale update for iteration {iteration} (open: {self._iteration})"
            if worker_index in self._counted:
                return f"duplicate update from worker {worker_index} for iteration {iteration}"
            self._counted.add(worker_index)
            return None


class UpdateSlots:
    """One row per worker for ``ω_w`` and one entry for ``q_w``; each written once per iteration."""

    def __init__(self, *, num_workers: int, num_features: int) -> None:
        self.omega = np.zeros((num_workers, num_features))
        self.primal_sq = np.zeros(num_workers)

    def store(self, update: Update) -> None:
        self.omega[update.header.worker_index] = update.omega
        self.primal_sq[update.header.worker_index] = update.primal_sq

    def sums(self) -> tuple[np.ndarray, float]:
        """``(Σ_w ω_w, Σ_w q_w)`` in worker order; ``q`` summed exactly."""
        return self.omega.sum(axis=0), math.fsum(self.primal_sq)


class Master(threading.Thread):
    """One reducing thread; it owns its DEALER socket."""

    def __init__(
        self,
        *,
        index: int,
        context: zmq.Context,
        backend_address: str,
        decode: Callable[[bytes], WorkerMessage],
        ledger: IterationLedger,
        slots: UpdateSlots,
        events: queue.Queue[Event],
        stop: threading.Event,
        keys: SolveKeys | None,
    ) -> None:
        super().__init__(name=f"admm-master-{index}", daemon=True)
        self._context = context
        self._backend_address = backend_address
        self._decode = decode
        self._ledger = ledger
        self._events = events
        self._slots = slots
        self._keys = keys
        self._halt = stop
        self.ready = threading.Event()

    def run(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self._backend_address)
        self.ready.set()
        try:
            while not self._halt.is_set():
                if sock.poll(POLL_MS):
                    frames = sock.recv_multipart()
                    self._handle(frames)
        finally:
            sock.close()

    def _handle(self, frames: list[bytes]) -> None:
        """One message; nothing a peer sends can raise out of here."""
        try:
            if len(frames) != 3:
                raise ProtocolError(f"expected one body frame, got {len(frames) - 2}")
            message = self._decode(frames[2])
            self._check_sender(message, frames[1].decode())
            if isinstance(message, Update):
                self._reduce(message)
            else:
                self._events.put(message)
        except ProtocolError as error:
            log.warning("dropped message: %s", error)
            self._events.put(MessageDropped(reason=str(error)))
        except Exception as error:  # a bug must not kill the reduction loop
            log.exception("error handling a message")
            self._events.put(MessageDropped(reason=f"internal error: {error!r}"))

    def _check_sender(self, message: WorkerMessage, client_key: str) -> None:
        """With CURVE, a worker may speak only for its own slot."""
        if self._keys is None:
            return
        claimed = message.header.worker_index
        if self._keys.owner_of(client_key) != claimed:
            raise ProtocolError(f"a message for worker {claimed} came with another worker's key")

    def _reduce(self, update: Update) -> None:
        header = update.header
        refusal = self._ledger.claim(header.worker_index, header.iteration)
        if refusal is not None:
            raise ProtocolError(refusal)
        self._slots.store(update)
        self._events.put(
            UpdateArrived(
                worker_index=header.worker_index,
                iteration=header.iteration,
                compute_seconds=update.compute_seconds,
                idle_seconds=update.idle_seconds,
                local_iterations=update.local_iterations,
            )
        )
