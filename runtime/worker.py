"""The worker loop: Algorithm 2 of Aytekin & Johansson, with the dual rescaled on ρ changes.

A worker connects out (a DEALER to the scheduler's ROUTER front, a SUB to its
PUB broadcast); nothing connects in, which is what Lambda allows.  It joins and
waits for ``welcome`` (which hands a replacement its slot's state) or
``refuse`` (another worker holds the slot).  Each received
``iterate(k, ρ, ρ_prev, z, mix, restart)`` then takes Algorithm 2's step
(:class:`runtime.admm_state.AdmmState`: the dual rescaled on ρ changes, Newton-CG or FISTA
warm-started, over-relaxation, Anderson acceleration when the scheduler asks for it) and
sends ``ω = x + u`` with ``q = ‖x - z‖²`` and ``f_w(z)``, the data term at the iteration's z
(one more product with A, for the objective's trace),
and ``terminate(z)`` makes it report ``f_w = Σ_{n∈w} f_n`` and ``∇f_w`` at z and at 0 (for
the scheduler's optimality check) and exit.  A worker
whose time runs short (Lambda's limit, or a local one) gives notice one
iteration ahead, sends its last update marked final and exits; a successor
continues from the state the scheduler keeps.  The same function runs as a
local child process (``python -m runtime.worker``, assignment on stdin) and
inside the Lambda handler.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import zmq
from pydantic import ValidationError

from runtime.admm_state import AdmmState
from runtime.connection import Connection, header_of, newest_broadcast
from runtime.faults import FaultInjector
from runtime.local_data import LocalData
from runtime.local_solver import LocalSolveReport
from runtime.losses import data_objective, data_objective_and_gradient
from runtime.protocol import (
    Failed,
    Header,
    Iterate,
    Join,
    LossReport,
    MessageType,
    ProtocolError,
    Refuse,
    Report,
    Retire,
    Terminate,
    Update,
    Welcome,
    decode_direct,
)
from runtime.registry import get_loss
from runtime.rows import load_rows, split_holdout
from runtime.specs import WorkerAssignment
from runtime.x_update import XUpdate

log = logging.getLogger("lambda_admm.worker")


#: Added to an exception the worker reported to the scheduler as ``failed`` (a spawner that
#: sees the exception too need not report it again, racing the report's reason).
REPORTED_NOTE = "reported to the scheduler as failed"


class SchedulerSilent(RuntimeError):
    """The scheduler sent nothing for longer than the assignment allows."""


@dataclass(frozen=True)
class WorkerReport:
    worker_index: int
    status: Literal["done", "retired", "refused"]
    iterations: int
    load_seconds: float


class _Worker:
    """One worker's state and its loop."""

    def __init__(
        self,
        assignment: WorkerAssignment,
        connection: Connection,
        time_left: Callable[[], float] | None,
    ) -> None:
        self.assignment = assignment
        self.connection = connection
        self.time_left = time_left
        self.faults = FaultInjector(
            assignment.faults,
            worker_index=assignment.worker_index,
            slot_epoch=assignment.slot_epoch,
        )
        started = time.perf_counter()
        self.rows = load_rows(assignment)
        self.holdout_rows: LocalData | None = None
        if assignment.holdout is not None:
            self.rows, self.holdout_rows = split_holdout(
                self.rows, folds=assignment.holdout.folds, fold=assignment.holdout.fold
            )
        self.load_seconds = time.perf_counter() - started
        self.loss = get_loss(assignment.model.loss)
        self.x_update = XUpdate(assignment.local_solver, self.loss)
        self.state = AdmmState(
            assignment.dimension,
            relaxation=assignment.relaxation,
            memory=assignment.anderson_memory,
        )
        self.last_iteration = 0
        self.sent_at: float | None = None
        self.slowest = 0.0
        self.notice_given = False
        self.local_report: LocalSolveReport | None = None  # the last x-update's
        self.reported_at: int | None = None  # the iteration of the last Report answered

    def header(self, kind: MessageType, iteration: int) -> Header:
        return header_of(self.assignment, kind, iteration)

    def report(self, status: Literal["done", "retired", "refused"]):
        return WorkerReport(
            worker_index=self.assignment.worker_index,
            status=status,
            iterations=self.last_iteration,
            load_seconds=self.load_seconds,
        )

    def join(self) -> Welcome | Refuse:
        self.connection.send(
            Join(
                header=self.header(MessageType.JOIN, 0),
                row_start=self.assignment.row_start,
                row_stop=self.assignment.row_stop,
            )
        )
        deadline = time.monotonic() + self.assignment.scheduler_silence_seconds
        while time.monotonic() < deadline:
            if not self.connection.sender.poll(timeout=100):
                continue
            try:
                answer = decode_direct(
                    self.connection.sender.recv(),
                    solve_id=self.assignment.solve_id,
                    num_features=self.assignment.dimension,
                )
            except ProtocolError as error:
                log.warning("dropped a direct message: %s", error)
                continue
            if isinstance(answer, Welcome) and answer.x is not None and answer.u is not None:
                self.state.resume(answer.x, answer.u)
                self.last_iteration = answer.last_iteration
            return answer
        raise SchedulerSilent("no answer to join from the scheduler")

    def _short_of_time(self, reserve: float) -> bool:
        return self.time_left is not None and self.time_left() < reserve

    def iterate(self, message: Iterate, received_at: float) -> bool:
        """Algorithm 2 for one iteration; True when this worker must now exit (final update)."""
        margin = self.assignment.retire_margin_seconds
        self.faults.before_compute(message.iteration)
        loss_at_z = data_objective(self.rows, self.loss, message.z)
        outcome = self.state.step(message, self._solve_x)
        self.faults.before_send(message.iteration)
        sent = time.perf_counter()
        self.slowest = max(self.slowest, sent - received_at)
        final = self.faults.retire_after(message.iteration) or self._short_of_time(
            margin + self.slowest
        )
        lead = self.assignment.handoff_lead_seconds
        notice = (
            not final
            and not self.notice_given
            and self._short_of_time(margin + 2 * self.slowest + lead)
        )
        self.connection.send(
            Update(
                header=self.header(MessageType.UPDATE, message.iteration),
                omega=outcome.omega,
                primal_sq=outcome.primal_sq,
                compute_seconds=sent - received_at,
                idle_seconds=0.0 if self.sent_at is None else received_at - self.sent_at,
                local_iterations=0 if self.local_report is None else self.local_report.iterations,
                loss_at_z=loss_at_z,
                x_sq=outcome.x_sq,
                dual_sq=outcome.dual_sq,
                gram=outcome.gram,
                curvature=outcome.curvature,
                retiring=notice,
                final=final,
                local_stop=None if self.local_report is None else self.local_report.stop_reason,
            )
        )
        self.notice_given = self.notice_given or notice
        self.sent_at, self.last_iteration = sent, message.iteration
        return final

    def _solve_x(self, rho: float, center: np.ndarray, x0: np.ndarray) -> np.ndarray:
        self.local_report = self.x_update.solve(self.rows, rho=rho, center=center, x0=x0)
        return self.local_report.x

    def final_report(self, message: Terminate | Report) -> LossReport:
        """``f_w`` and ``∇f_w`` at the final z and at 0 (two more products with A and A^T each)."""
        loss, gradient = data_objective_and_gradient(self.rows, self.loss, message.z)
        loss_at_zero, gradient_at_zero = data_objective_and_gradient(
            self.rows, self.loss, np.zeros_like(message.z)
        )
        held = self.holdout_rows
        return LossReport(
            header=self.header(MessageType.LOSS, message.iteration),
            loss=loss,
            gradient=gradient,
            loss_at_zero=loss_at_zero,
            gradient_at_zero=gradient_at_zero,
            holdout_loss=None
            if held is None
            else data_objective(replace(held, weights=None), self.loss, message.z),
        )

    def run(self) -> WorkerReport:
        answer = self.join()
        if isinstance(answer, Refuse):
            log.warning("refused by the scheduler: %s", answer.reason)
            return self.report("refused")
        silence = self.assignment.scheduler_silence_seconds
        while True:
            if not self.connection.receiver.poll(timeout=int(silence * 1000)):
                raise SchedulerSilent(f"no broadcast from the scheduler for {silence} s")
            message = newest_broadcast(self.connection, self.assignment)
            received_at = time.perf_counter()
            if message is None:
                continue
            if isinstance(message, Report):  # report at z, and stay for more iterations
                if message.iteration != self.reported_at:
                    self.connection.send(self.final_report(message))
                    self.reported_at = message.iteration
                continue
            if not isinstance(message, Iterate):
                self.connection.send(self.final_report(message))
                return self.report("done")
            if message.iteration <= self.last_iteration:
                continue  # a re-broadcast of an iteration already computed
            if self._short_of_time(self.assignment.retire_margin_seconds + self.slowest):
                self.connection.send(
                    Retire(header=self.header(MessageType.RETIRE, self.last_iteration))
                )
                return self.report("retired")
            if self.iterate(message, received_at):
                return self.report("retired")


def run_worker(
    assignment: WorkerAssignment,
    *,
    context: zmq.Context | None = None,
    time_left: Callable[[], float] | None = None,
) -> WorkerReport:
    """Take part in one solve until the scheduler says terminate, or until retiring.

    ``time_left()`` gives the seconds this worker may still run (Lambda's
    remaining time); without it, ``assignment.time_limit_seconds`` counts from
    now.  Raises :class:`SchedulerSilent` if the scheduler goes quiet for
    ``assignment.scheduler_silence_seconds`` (it re-broadcasts while it waits, so
    silence means it is gone and the worker must not linger).
    """
    if time_left is None and assignment.time_limit_seconds is not None:
        deadline = time.monotonic() + assignment.time_limit_seconds
        time_left = lambda: deadline - time.monotonic()  # noqa: E731
    # Connected before the rows load, so that bad data can be reported (Lithops' ``__end__``).
    connection = Connection(assignment, context or zmq.Context.instance())
    worker: _Worker | None = None
    try:
        worker = _Worker(assignment, connection, time_left)
        return worker.run()
    except SchedulerSilent:
        raise  # nobody is listening any more
    except Exception as error:
        # Bad data or a bad spec fail every replacement the same way; anything else may pass.
        deterministic = worker is None and isinstance(error, ValueError | ValidationError)
        last = 0 if worker is None else worker.last_iteration
        log.error("worker %d failed: %r", assignment.worker_index, error)
        connection.send(
            Failed.of(
                header_of(assignment, MessageType.FAILED, last),
                f"{type(error).__name__}: {error}",
                deterministic=deterministic,
            )
        )
        error.add_note(REPORTED_NOTE)
        raise
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
    log.info(
        "worker %d %s after %d iterations", report.worker_index, report.status, report.iterations
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
