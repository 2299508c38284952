"""The scheduler service on the host: long-poll the job queue, run each solve, store results.

Every job ends ``done``, ``failed`` with a reason, or ``cancelled``:

- a solve that fails (:class:`SolveFailed`: bad data, a slot out of replacements, a deadline)
  is recorded ``failed`` with its reason, and the job is deleted;
- a cancel request (``DELETE /solves/{id}`` leaves ``results/<id>/cancel``) is noticed between
  iterations, or before the solve starts; the solve stops its workers and ends ``cancelled``;
- anything else that goes wrong while a job is handled (a ZMQ bind error, an S3 error while
  writing the result, a bug) is a crash of that delivery: the status goes back to ``queued``
  with the crash as its reason, and the message is left for SQS to deliver again after
  ``retry_delay_seconds``.  The last delivery (``ApproximateReceiveCount`` >= the queue's
  ``maxReceiveCount``, passed as ``max_receives``) records ``failed``: "gave up after N
  deliveries: <reason>", and deletes the job rather than let SQS dead-letter it unrecorded.

A job is deleted from the queue only after its outcome is in S3, so a crash of the process or
the instance makes SQS deliver it again and the solve is re-run from the start.  While a solve
runs, :class:`~scheduler_host.service.watch.JobWatch` extends the message's visibility.  The
service outlives every job: :meth:`JobRunner.run_forever` backs off on repeated receive errors.

S3 layout per solve (:func:`scheduler_host.jobs.results_key`): ``status.json`` (a
:class:`SolveStatus`), ``cancel`` (a :class:`~scheduler_host.jobs.CancelRequest`), ``result.json``
and ``x.npy``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scheduler_host.jobs import JobMessageError, SolveState, SolveStatus, now, read_job_message
from scheduler_host.results import IterationRecord
from scheduler_host.service.store import StatusStore
from scheduler_host.service.watch import JobWatch
from scheduler_host.solve import SchedulerOptions, SolveCancelled, SolveFailed, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.service")

#: Pauses between failed receives: doubling from the first to the last.
RECEIVE_BACKOFF_SECONDS = (1.0, 30.0)
CANCELLED_BY_REQUEST = "cancelled by request"
CANCELLED_BEFORE_START = "cancelled before it started"


class ServiceConfig(BaseModel):
    """What the host's systemd unit passes (environment variables of the same names)."""

    model_config = ConfigDict(frozen=True)

    queue_url: str = Field(min_length=1)
    bucket: str = Field(min_length=3)
    api_url: str = Field(min_length=1, description="stage URL of the trigger API")
    region: str = Field(min_length=1)
    advertise_host: str = Field(min_length=1, description="address Lambda workers connect to")
    bind_host: str = "0.0.0.0"  # Lambda workers connect from the VPC
    front_port: int = Field(default=5555, ge=0, le=65535, description="0 picks a free port")
    broadcast_port: int = Field(default=5556, ge=0, le=65535)
    poll_wait_seconds: int = Field(default=10, ge=0, le=20)
    #: The job's lease, renewed every third of it while a solve runs; short leases make a
    #: crashed host's job come back sooner (the end-to-end tests use 10 s).
    visibility_seconds: int = Field(default=300, ge=5, le=43_200)
    #: The job queue's ``maxReceiveCount`` (stacks/intake.py, through bootstrap.env): the
    #: delivery that reaches it is the last, and a crash there fails the job for good.
    max_receives: int = Field(ge=1, le=1000)
    #: How long a crashed delivery's message stays invisible before SQS delivers it again.
    retry_delay_seconds: int = Field(default=30, ge=0, le=43_200)
    cancel_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    join_timeout_seconds: float = Field(default=300.0, gt=0)
    status_interval_seconds: float = Field(default=2.0, ge=0)
    secure: bool = True

    @property
    def workers_url(self) -> str:
        return self.api_url.rstrip("/") + "/workers"


class JobRunner:
    """One job at a time (the ZMQ ports are fixed by the security group)."""

    def __init__(
        self,
        *,
        config: ServiceConfig,
        sqs: Any,
        store: StatusStore,
        make_spawner: Callable[[], Spawner],
    ) -> None:
        self.config = config
        self._sqs = sqs
        self._store = store
        self._make_spawner = make_spawner
        self.current_solve: str | None = None
        self.solves_finished = 0

    def run_forever(self, stop: threading.Event) -> None:
        """Run jobs until ``stop``; a failed receive is retried after a growing pause."""
        failures = 0
        first, last = RECEIVE_BACKOFF_SECONDS
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as error:
                pause = min(last, first * 2**failures)
                failures += 1
                log.error(
                    "receiving from the job queue failed (%d in a row), retrying in %g s: %s",
                    failures,
                    pause,
                    error,
                )
                stop.wait(pause)
            else:
                failures = 0

    def run_once(self) -> bool:
        """Receive at most one job and handle it; False if the queue was empty.

        Raises only if receiving fails: whatever happens to the job is handled.
        """
        answer = self._sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=self.config.poll_wait_seconds,
            VisibilityTimeout=self.config.visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = answer.get("Messages", [])
        for message in messages:
            self._handle(message)
        return bool(messages)

    def _delete(self, message: dict[str, Any]) -> None:
        self._sqs.delete_message(
            QueueUrl=self.config.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def _handle(self, message: dict[str, Any]) -> None:
        body = message.get("Body", "")
        spec_problem: str | None = None
        try:
            job = read_job_message(body)
        except JobMessageError as error:
            if error.solve_id is None:
                log.error("dropping a malformed job message: %s; body: %.200s", error.reason, body)
                self._delete(message)
                return
            solve_id, spec, spec_problem = error.solve_id, None, error.reason
        else:
            solve_id, spec = job.solve_id, job.spec
        delivery = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        log.info("received solve %s from the queue (delivery %d)", solve_id, delivery)
        try:
            self._start(solve_id, spec, spec_problem, message)
        except Exception as error:
            self._crashed(solve_id, message, delivery, error)
        finally:
            self.current_solve = None

    def _start(
        self,
        solve_id: str,
        spec: SolveSpec | None,
        spec_problem: str | None,
        message: dict[str, Any],
    ) -> None:
        """Run the job unless it has ended already, cannot run, or was cancelled."""
        previous = self._store.read_status(solve_id)
        if previous is not None and previous.finished:
            log.info("solve %s already %s; removing the job", solve_id, previous.status)
            self._delete(message)
            return
        status = previous or SolveStatus(solve_id=solve_id, status=SolveState.QUEUED, spec=spec)
        if spec is None or self._store.cancel_requested(solve_id):
            state, reason = (
                (SolveState.FAILED, spec_problem)
                if spec is None
                else (SolveState.CANCELLED, CANCELLED_BEFORE_START)
            )
            self._store.write_status(status.advance(status=state, reason=reason, finished_at=now()))
            log.info("solve %s %s: %s", solve_id, state, reason)
            self._delete(message)
            return
        self._run(status, spec, message)
        self._delete(message)  # only now: the outcome is stored
        self.solves_finished += 1

    def _run(self, queued: SolveStatus, spec: SolveSpec, message: dict[str, Any]) -> None:
        solve_id = queued.solve_id
        self.current_solve = solve_id
        if not self.config.secure:
            log.warning("running solve %s WITHOUT CURVE (insecure mode)", solve_id)
        # A re-delivered job starts afresh: progress of an earlier, crashed run is cleared.
        running = queued.advance(
            status=SolveState.RUNNING,
            started_at=now(),
            reason=None,
            iteration=None,
            primal_residual=None,
            dual_residual=None,
            rho=None,
        )
        self._store.write_status(running)
        with JobWatch(
            sqs=self._sqs,
            queue_url=self.config.queue_url,
            receipt_handle=message["ReceiptHandle"],
            visibility_seconds=self.config.visibility_seconds,
            cancel_requested=lambda: self._store.cancel_requested(solve_id),
            cancel_poll_seconds=self.config.cancel_poll_seconds,
        ) as watch:
            try:
                result = run_solve(
                    spec,
                    spawner=self._make_spawner(),
                    options=SchedulerOptions(
                        bind_host=self.config.bind_host,
                        advertise_host=self.config.advertise_host,
                        front_port=self.config.front_port,
                        broadcast_port=self.config.broadcast_port,
                        join_timeout_seconds=self.config.join_timeout_seconds,
                        secure=self.config.secure,
                    ),
                    solve_id=solve_id,
                    on_iteration=self._progress_writer(running, watch.cancelled),
                )
            except (SolveFailed, SolveCancelled) as error:
                state = (
                    SolveState.FAILED if isinstance(error, SolveFailed) else SolveState.CANCELLED
                )
                final = running.advance(status=state, reason=str(error), finished_at=now())
                log.warning("solve %s %s: %s", solve_id, state, error)
            else:
                final = running.advance(
                    status=SolveState.DONE,
                    finished_at=now(),
                    objective=result.objective,
                    iterations=result.iterations,
                    converged=result.converged,
                    **result.check_fields(),
                    primal_residual=result.primal_residual,
                    dual_residual=result.dual_residual,
                    **self._store.write_result(solve_id, result, spec),
                )
                log.info("solve %s done: %s", solve_id, result.summary())
        self._store.write_status(final)

    def _crashed(
        self, solve_id: str, message: dict[str, Any], delivery: int, error: Exception
    ) -> None:
        """Record a crashed delivery: queued again for SQS to retry, or, if last, failed."""
        reason = f"{type(error).__name__}: {error}"
        last = delivery >= self.config.max_receives
        log.error(
            "solve %s crashed on delivery %d of %d: %s",
            solve_id,
            delivery,
            self.config.max_receives,
            reason,
            exc_info=error,
        )
        try:
            current = self._store.read_status(solve_id) or SolveStatus(
                solve_id=solve_id, status=SolveState.QUEUED
            )
            if current.finished:  # the outcome was stored; only the delete failed
                self._delete(message)
                return
            if last:
                self._store.write_status(
                    current.advance(
                        status=SolveState.FAILED,
                        reason=f"gave up after {delivery} deliveries: {reason}",
                        finished_at=now(),
                    )
                )
                self._delete(message)
                return
            self._store.write_status(
                current.advance(
                    status=SolveState.QUEUED,
                    reason=reason,
                    started_at=None,
                    iteration=None,
                    primal_residual=None,
                    dual_residual=None,
                    rho=None,
                )
            )
            self._sqs.change_message_visibility(
                QueueUrl=self.config.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self.config.retry_delay_seconds,
            )
        except Exception as second:
            log.error("could not record the crash of solve %s: %s", solve_id, second)

    def _progress_writer(
        self, running: SolveStatus, cancelled: threading.Event
    ) -> Callable[[IterationRecord], None]:
        last_write = [0.0]

        def write(record: IterationRecord) -> None:
            if cancelled.is_set():
                raise SolveCancelled(CANCELLED_BY_REQUEST)
            if time.monotonic() - last_write[0] < self.config.status_interval_seconds:
                return
            last_write[0] = time.monotonic()
            try:
                self._store.write_status(
                    running.advance(
                        iteration=record.iteration,
                        primal_residual=record.primal_residual,
                        dual_residual=record.dual_residual,
                        rho=record.rho,
                    )
                )
            except Exception as error:
                log.warning("could not write the progress of solve %s: %s", running.solve_id, error)

        return write
