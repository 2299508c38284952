"""The worker loop: Algorithm 2 of Aytekin & Johansson, with the dual rescaled on ρ changes.

A worker connects out (a DEALER to the scheduler's ROUTER front, a SUB to its
PUB broadcast); nothing connects in, which is what Lambda allows.  Each received
``iterate(k, ρ, ρ_prev, z)`` runs

1. ``r = x - z``
2. ``u <- (u + r) · ρ_prev / ρ``  (scaled dual; rescaling per Boyd et al. 2011, §3.4.1)
3. ``x <- argmin Σ_{n∈w} f_n(x) + (ρ/2)‖x - z + u‖²``  (FISTA, warm-started)
4. send ``q = ‖r‖²`` and ``ω = x + u``

and ``terminate(z)`` makes it report ``Σ_{n∈w} f_n(z)`` and exit.  The same
function runs as a local child process (``python -m runtime.worker`` reading the
assignment on stdin) and inside the Lambda handler.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zmq

from runtime.local_solver import LocalSolverOptions, solve_local
from runtime.losses import data_objective, get_loss
from runtime.protocol import (
    Header,
    Iterate,
    Join,
    LossReport,
    MessageType,
    ProtocolError,
    Update,
    WorkerMessage,
    decode_broadcast,
    encode_worker_message,
    max_message_bytes,
)
from runtime.rows import load_rows
from runtime.specs import WorkerAssignment

log = logging.getLogger("lambda_admm.worker")

#: How long a worker waits for its final messages to leave before closing.
SEND_LINGER_MS = 5_000


class SchedulerSilent(RuntimeError):
    """The scheduler sent nothing for longer than the assignment allows."""


class TimeLimitReached(RuntimeError):
    """Too little time is left to finish another iteration (Lambda's 15-minute limit)."""


@dataclass(frozen=True)
class WorkerReport:
    worker_index: int
    iterations: int
    final_loss: float
    load_seconds: float


class _Connection:
    """The worker's two sockets; it owns them and closes them."""

    def __init__(self, assignment: WorkerAssignment, context: zmq.Context) -> None:
        self._assignment = assignment
        endpoints = assignment.scheduler
        self.sender = context.socket(zmq.DEALER)
        self.receiver = context.socket(zmq.SUB)
        for sock in (self.sender, self.receiver):
            sock.setsockopt(zmq.LINGER, SEND_LINGER_MS)
            if endpoints.server_public_key:
                sock.curve_serverkey = endpoints.server_public_key.encode()
                sock.curve_publickey = (endpoints.client_public_key or "").encode()
                sock.curve_secretkey = (endpoints.client_secret_key or "").encode()
        self.receiver.setsockopt(zmq.MAXMSGSIZE, max_message_bytes(assignment.data.num_features))
        self.receiver.setsockopt(zmq.SUBSCRIBE, assignment.solve_id.encode())
        self.receiver.connect(endpoints.broadcast)
        self.sender.connect(endpoints.front)

    def send(self, message: WorkerMessage) -> None:
        self.sender.send(encode_worker_message(message))

    def receive(self, timeout_seconds: float) -> list[bytes] | None:
        if not self.receiver.poll(timeout=int(timeout_seconds * 1000)):
            return None
        return self.receiver.recv_multipart()

    def close(self) -> None:
        self.sender.close()
        self.receiver.close(linger=0)


def _header(assignment: WorkerAssignment, kind: MessageType, iteration: int) -> Header:
    return Header(
        type=kind,
        solve_id=assignment.solve_id,
        worker_index=assignment.worker_index,
        iteration=iteration,
        slot_epoch=assignment.slot_epoch,
    )


def run_worker(
    assignment: WorkerAssignment,
    *,
    context: zmq.Context | None = None,
    scheduler_silence_seconds: float = 120.0,
    time_left: Callable[[], float] | None = None,
    time_margin_seconds: float = 10.0,
) -> WorkerReport:
    """Take part in one solve until the scheduler says terminate.

    Raises :class:`SchedulerSilent` if no valid broadcast arrives for
    ``scheduler_silence_seconds`` (the scheduler re-broadcasts while it waits,
    so silence means it is gone and the worker must not linger), and
    :class:`TimeLimitReached` when ``time_left()`` (seconds) drops below the
    margin plus the slowest iteration so far, before starting another one.
    """
    started = time.perf_counter()
    rows = load_rows(assignment)
    loss = get_loss(assignment.model.loss)
    spec = assignment.local_solver
    options = LocalSolverOptions(
        min_iterations=spec.min_iterations,
        grad_tol=spec.grad_tol,
        rel_tol=spec.rel_tol,
        max_iterations=spec.max_iterations,
    )
    load_seconds = time.perf_counter() - started
    dimension = assignment.data.num_features
    x = np.zeros(dimension)
    scaled_dual = np.zeros(dimension)
    lipschitz: float | None = None
    last_iteration = 0
    sent_at: float | None = None
    slowest = 0.0

    connection = _Connection(assignment, context or zmq.Context.instance())
    try:
        connection.send(
            Join(
                header=_header(assignment, MessageType.JOIN, 0),
                row_start=assignment.row_start,
                row_stop=assignment.row_stop,
            )
        )
        while True:
            frames = connection.receive(scheduler_silence_seconds)
            if frames is None:
                raise SchedulerSilent(
                    f"no broadcast from the scheduler for {scheduler_silence_seconds} s"
                )
            received_at = time.perf_counter()
            try:
                message = decode_broadcast(
                    frames, solve_id=assignment.solve_id, num_features=dimension
                )
            except ProtocolError as error:
                log.warning("dropped broadcast: %s", error)
                continue
            if not isinstance(message, Iterate):
                final_loss = data_objective(rows, loss, message.z)
                connection.send(
                    LossReport(
                        header=_header(assignment, MessageType.LOSS, message.iteration),
                        loss=final_loss,
                    )
                )
                return WorkerReport(
                    worker_index=assignment.worker_index,
                    iterations=last_iteration,
                    final_loss=final_loss,
                    load_seconds=load_seconds,
                )
            if message.iteration <= last_iteration:
                continue  # a re-broadcast of an iteration already computed
            if time_left is not None and time_left() < time_margin_seconds + slowest:
                raise TimeLimitReached(
                    f"{time_left():.1f} s left, iterations take up to {slowest:.1f} s"
                )
            primal = x - message.z
            scaled_dual = (scaled_dual + primal) * (message.rho_prev / message.rho)
            report = solve_local(
                rows,
                loss,
                rho=message.rho,
                center=message.z - scaled_dual,
                x0=x,
                options=options,
                lipschitz0=lipschitz,
            )
            x, lipschitz = report.x, report.lipschitz
            sent = time.perf_counter()
            connection.send(
                Update(
                    header=_header(assignment, MessageType.UPDATE, message.iteration),
                    omega=x + scaled_dual,
                    primal_sq=float(primal @ primal),
                    compute_seconds=sent - received_at,
                    idle_seconds=0.0 if sent_at is None else received_at - sent_at,
                    local_iterations=report.iterations,
                )
            )
            sent_at, last_iteration = sent, message.iteration
            slowest = max(slowest, sent - received_at)
    finally:
        connection.close()


def main() -> int:
    """``python -m runtime.worker``: read one JSON assignment on stdin and run it."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format='{"time": "%(asctime)s", "level": "%(levelname)s", "message": "%(message)s"}',
    )
    assignment = WorkerAssignment.model_validate(json.loads(sys.stdin.read()))
    report = run_worker(assignment)
    log.info("worker %d done after %d iterations", report.worker_index, report.iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
