"""Emulated workers: many protocol-exact workers in one process, with a free x-update.

For measuring the scheduler at W = 64 … 1,024 and beyond on a machine that cannot run
W worker processes.  Each emulated worker has its own sockets and keys
(:class:`runtime.connection.Connection`, so CURVE, routing ids and message limits are the
real worker's) and speaks the protocol through the same encode and decode functions:
join, welcome or refuse, iterate -> update, terminate -> loss report, failed when its
handling raises.  Broadcasts are drained to the newest as the real worker does.

Only the x-update differs: instead of minimising the loss of its rows, worker w
minimises the quadratic ``f_w(x) = ½‖x - t_w‖²`` with the fixed target
``t_w = sin(0.01·j + w)`` (:func:`emulated_target`), whose prox is closed-form
(:func:`emulated_x_update`).  So an emulated solve is a real consensus problem
(its z converges), and a few vector operations per worker and iteration cost
next to nothing.

``python -m runtime.emulated`` reads assignments as JSON lines on stdin (the
spawner may send more at any time, for replacements), runs their workers on one
``zmq.Poller`` loop, and exits once stdin is closed and every worker has ended.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from collections.abc import Iterable

import numpy as np
import zmq

from runtime import protocol as wire
from runtime.admm_state import AdmmState
from runtime.capacity import reserve_open_files, reserve_sockets
from runtime.connection import Connection, header_of, newer_broadcast, newest_broadcast
from runtime.faults import FaultInjector
from runtime.specs import WorkerAssignment

log = logging.getLogger("lambda_admm.emulated")

#: Two sockets per worker: each an eventfd mailbox and a TCP connection.
FILES_PER_WORKER = 4
SOCKETS_PER_WORKER = 2
#: Sockets of the emulator beyond its workers'.
SPARE_SOCKETS = 64
POLL_MS = 100
READ_BYTES = 1 << 20


def emulated_target(worker_index: int, num_features: int) -> np.ndarray:
    """``t_w``, shape (d,): the point worker w's quadratic loss is centred on."""
    return np.sin(0.01 * np.arange(num_features) + worker_index)


def emulated_x_update(center: np.ndarray, rho: float, target: np.ndarray) -> np.ndarray:
    """``argmin_x ½‖x - t‖² + (ρ/2)‖x - center‖² = (t + ρ·center) / (1 + ρ)``, shape (d,)."""
    return (target + rho * center) / (1.0 + rho)


def emulated_loss(z: np.ndarray, target: np.ndarray) -> float:
    """``f_w(z) = ½‖z - t_w‖²``: what an emulated worker reports at the final z."""
    gap = z - target
    return 0.5 * float(gap @ gap)


class EmulatedWorker:
    """One worker's state; the emulator's loop calls it when one of its sockets is readable.

    ``missed`` lists iterations whose first broadcast this worker acts as if it never
    received (a slow joiner); it computes them only from a repeat.
    """

    def __init__(
        self, assignment: WorkerAssignment, context: zmq.Context, *, missed: Iterable[int] = ()
    ) -> None:
        self.assignment = assignment
        self.connection = Connection(assignment, context)
        self.faults = FaultInjector(
            assignment.faults,
            worker_index=assignment.worker_index,
            slot_epoch=assignment.slot_epoch,
        )
        dimension = assignment.dimension
        self.target = emulated_target(assignment.worker_index, dimension)
        self.state = AdmmState(
            dimension, relaxation=assignment.relaxation, memory=assignment.anderson_memory
        )
        self.last_iteration = 0
        self.welcomed = False
        self.ended = False
        self.heard_at = time.monotonic()
        self.sent_at: float | None = None
        self._missed = set(missed)
        self._held: wire.Broadcast | None = None  # read before the welcome
        self.connection.send(
            wire.Join(
                header=header_of(assignment, wire.MessageType.JOIN, 0),
                row_start=assignment.row_start,
                row_stop=assignment.row_stop,
            )
        )

    @property
    def sockets(self) -> tuple[zmq.Socket, zmq.Socket]:
        return self.connection.sender, self.connection.receiver

    def on_direct(self) -> None:
        raw = self.connection.sender.recv()
        if self.welcomed:
            return  # the real worker reads no direct message after its welcome
        try:
            answer = wire.decode_direct(
                raw,
                solve_id=self.assignment.solve_id,
                num_features=self.assignment.dimension,
            )
        except wire.ProtocolError as error:
            log.warning("dropped a direct message: %s", error)
            return
        if isinstance(answer, wire.Refuse):
            log.warning("worker %d refused: %s", self.assignment.worker_index, answer.reason)
            self.ended = True
            return
        if answer.x is not None and answer.u is not None:
            self.state.resume(answer.x, answer.u)
            self.last_iteration = answer.last_iteration
        self.welcomed = True
        self.heard_at = time.monotonic()
        if self._held is not None:
            self._act_on(self._held)

    def on_broadcast(self) -> None:
        """Drain the SUB queue to its newest broadcast; before the welcome, only keep it (the
        real worker reads its queue after the welcome)."""
        message = newer_broadcast(self._held, newest_broadcast(self.connection, self.assignment))
        if message is None:
            return
        if not self.welcomed:
            self._held = message
            return
        self._act_on(message)

    def _act_on(self, message: wire.Broadcast) -> None:
        self._held = None
        received_at = time.perf_counter()
        self.heard_at = time.monotonic()
        if isinstance(message, wire.Terminate | wire.Report):  # a report stays, as the worker
            self.connection.send(
                wire.LossReport(
                    header=self.header(wire.MessageType.LOSS, message.iteration),
                    loss=emulated_loss(message.z, self.target),
                    gradient=message.z - self.target,
                    loss_at_zero=emulated_loss(np.zeros_like(self.target), self.target),
                    gradient_at_zero=-self.target,
                )
            )
            self.ended = isinstance(message, wire.Terminate)
        elif message.iteration > self.last_iteration:
            if message.iteration in self._missed:
                self._missed.discard(message.iteration)
                return
            self._iterate(message, received_at)

    def fail(self, error: Exception) -> None:
        """Report a raised handler as the real worker does (never deterministic here)."""
        log.error("worker %d failed: %r", self.assignment.worker_index, error)
        self.connection.send(
            wire.Failed.of(
                self.header(wire.MessageType.FAILED, self.last_iteration),
                f"{type(error).__name__}: {error}",
                deterministic=False,
            )
        )
        self.ended = True

    def header(self, kind: wire.MessageType, iteration: int) -> wire.Header:
        return header_of(self.assignment, kind, iteration)

    def _iterate(self, message: wire.Iterate, received_at: float) -> None:
        """Algorithm 2's steps with the free x-update (see :func:`emulated_x_update`)."""
        self.faults.before_compute(message.iteration)
        outcome = self.state.step(
            message, lambda rho, center, _: emulated_x_update(center, rho, self.target)
        )
        sent = time.perf_counter()
        self.connection.send(
            wire.Update(
                header=self.header(wire.MessageType.UPDATE, message.iteration),
                omega=outcome.omega,
                primal_sq=outcome.primal_sq,
                compute_seconds=sent - received_at,
                idle_seconds=0.0 if self.sent_at is None else received_at - self.sent_at,
                local_iterations=1,
                loss_at_z=emulated_loss(message.z, self.target),
                x_sq=outcome.x_sq,
                dual_sq=outcome.dual_sq,
                gram=outcome.gram,
                curvature=outcome.curvature,
            )
        )
        self.sent_at, self.last_iteration = sent, message.iteration


class Emulator:
    """The loop: assignments in on a file descriptor, every worker's sockets on one Poller."""

    def __init__(
        self,
        *,
        assignments_fd: int,
        context: zmq.Context,
        missed: dict[int, frozenset[int]] | None = None,
    ) -> None:
        self._fd = assignments_fd
        self._context = context
        self._missed = missed or {}
        self._poller = zmq.Poller()
        self._poller.register(assignments_fd, zmq.POLLIN)
        self._pending = b""
        self._open = True
        self._owner: dict[zmq.Socket, EmulatedWorker] = {}
        self._workers: list[EmulatedWorker] = []

    def run(self) -> None:
        while self._open or self._workers:
            for item, _ in self._poller.poll(POLL_MS):
                if item == self._fd:
                    self._read_assignments()
                else:
                    self._dispatch(item)
            self._end_silent()

    def add(self, assignment: WorkerAssignment) -> None:
        worker = EmulatedWorker(
            assignment, self._context, missed=self._missed.get(assignment.worker_index, ())
        )
        self._workers.append(worker)
        for sock in worker.sockets:
            self._owner[sock] = worker
            self._poller.register(sock, zmq.POLLIN)

    def _read_assignments(self) -> None:
        chunk = os.read(self._fd, READ_BYTES)
        if not chunk:
            self._open = False
            self._poller.unregister(self._fd)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            try:
                self.add(WorkerAssignment.model_validate_json(line))
            except ValueError as error:
                log.error("dropped an invalid assignment: %s", error)
        # The workers' objects live as long as the loop: keep the cyclic collector from
        # scanning them again and again (12% of the emulator's samples at W = 1,024).
        gc.freeze()

    def _dispatch(self, sock: zmq.Socket) -> None:
        worker = self._owner.get(sock)
        if worker is None:
            return
        try:
            if sock is worker.connection.sender:
                worker.on_direct()
            else:
                worker.on_broadcast()
        except Exception as error:  # one worker's failure must not end the others
            worker.fail(error)
        if worker.ended:
            self._remove(worker)

    def _end_silent(self) -> None:
        """Workers leave after the assignment's silence, as the real worker does."""
        now = time.monotonic()
        for worker in list(self._workers):
            if now - worker.heard_at > worker.assignment.scheduler_silence_seconds:
                log.warning("worker %d: the scheduler went silent", worker.assignment.worker_index)
                self._remove(worker)

    def _remove(self, worker: EmulatedWorker) -> None:
        for sock in worker.sockets:
            self._poller.unregister(sock)
            del self._owner[sock]
        self._workers.remove(worker)
        worker.connection.close()


def _missed_of(pairs: list[str]) -> dict[int, frozenset[int]]:
    missed: dict[int, set[int]] = {}
    for pair in pairs:
        worker, _, iteration = pair.partition(":")
        missed.setdefault(int(worker), set()).add(int(iteration))
    return {worker: frozenset(iterations) for worker, iterations in missed.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m runtime.emulated --workers W [--miss WORKER:ITERATION ...]``."""
    parser = argparse.ArgumentParser(prog="python -m runtime.emulated")
    parser.add_argument("--workers", type=int, required=True, help="workers this process holds")
    parser.add_argument("--miss", action="append", default=[], metavar="WORKER:ITERATION")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format='{"time": "%(asctime)s", "level": "%(levelname)s", "message": "%(message)s"}',
    )
    reserve_open_files(workers=arguments.workers, files_per_worker=FILES_PER_WORKER)
    context = zmq.Context()
    reserve_sockets(
        context,
        workers=arguments.workers,
        sockets=SOCKETS_PER_WORKER * arguments.workers + SPARE_SOCKETS,
    )
    try:
        Emulator(
            assignments_fd=sys.stdin.fileno(), context=context, missed=_missed_of(arguments.miss)
        ).run()
    finally:
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
