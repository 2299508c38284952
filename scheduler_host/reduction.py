"""Master threads: validate worker messages and reduce the updates of an iteration.

The front proxy hands messages round-robin (a DEALER) to ⌈W/W̄⌉ masters.  Each
master decodes and validates what it gets, claims the (worker, iteration) pair
in the shared :class:`IterationLedger` so that a replayed or stale update is
never counted, adds accepted updates into its own partial sums, and tells the
coordinator through a queue.  When all W updates of iteration k are claimed,
the coordinator takes every master's partial sums for k: one reduction per
master, then one global step.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zmq

from runtime.protocol import ProtocolError, Update, WorkerMessage

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


@dataclass
class _Partial:
    omega_sum: np.ndarray
    primal_sq_sum: float = 0.0
    count: int = 0


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
        events: queue.Queue[Event],
        num_features: int,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"admm-master-{index}", daemon=True)
        self._context = context
        self._backend_address = backend_address
        self._decode = decode
        self._ledger = ledger
        self._events = events
        self._num_features = num_features
        self._halt = stop
        self._partials: dict[int, _Partial] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def take_partial(self, iteration: int) -> tuple[np.ndarray, float, int]:
        """This master's ``(Σ ω, Σ q, count)`` for an iteration, removed from the master."""
        with self._lock:
            partial = self._partials.pop(iteration, None)
        if partial is None:
            return np.zeros(self._num_features), 0.0, 0
        return partial.omega_sum, partial.primal_sq_sum, partial.count

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
            if len(frames) != 2:
                raise ProtocolError(f"expected one body frame, got {len(frames) - 1}")
            message = self._decode(frames[1])
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

    def _reduce(self, update: Update) -> None:
        header = update.header
        refusal = self._ledger.claim(header.worker_index, header.iteration)
        if refusal is not None:
            raise ProtocolError(refusal)
        with self._lock:
            partial = self._partials.get(header.iteration)
            if partial is None:
                partial = self._partials[header.iteration] = _Partial(
                    omega_sum=np.zeros(self._num_features)
                )
            partial.omega_sum += update.omega
            partial.primal_sq_sum += update.primal_sq
            partial.count += 1
        self._events.put(
            UpdateArrived(
                worker_index=header.worker_index,
                iteration=header.iteration,
                compute_seconds=update.compute_seconds,
                idle_seconds=update.idle_seconds,
                local_iterations=update.local_iterations,
            )
        )
