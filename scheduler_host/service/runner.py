"""The scheduler service on the host: long-poll the job queue, run each solve, store results.

A job is deleted from the queue only after its outcome is in S3, so a crash
(of the process or the instance) makes SQS deliver it again and the solve is
re-run from the start; after the queue's ``maxReceiveCount`` it lands in the
dead-letter queue.  While a solve runs, the message's visibility is extended.

S3 layout per solve (:func:`scheduler_host.jobs.results_key`): ``status.json`` (a
:class:`SolveStatus`: queued / running with iteration, r, s / done / failed with a
reason), ``result.json`` and ``x.npy``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.storage import S3Storage
from scheduler_host.assignments import spec_as_json
from scheduler_host.jobs import (
    JobMessageError,
    SolveState,
    SolveStatus,
    now,
    read_job_message,
    results_key,
    status_key,
)
from scheduler_host.results import IterationRecord, SolveResult
from scheduler_host.solve import SchedulerOptions, SolveFailed, run_solve
from scheduler_host.solve_spec import SolveSpec, describe_validation_error
from scheduler_host.spawners.base import Spawner

log = logging.getLogger("lambda_admm.service")


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
    join_timeout_seconds: float = Field(default=300.0, gt=0)
    status_interval_seconds: float = Field(default=2.0, ge=0)
    secure: bool = True

    @property
    def workers_url(self) -> str:
        return self.api_url.rstrip("/") + "/workers"


class StatusStore:
    """Reads and writes a solve's objects under ``results/<id>/`` of the data bucket."""

    def __init__(self, *, s3: Any, bucket: str) -> None:
        self._storage = S3Storage(bucket=bucket, client=s3)
        self.bucket = bucket

    def read_status(self, solve_id: str) -> SolveStatus | None:
        """The stored status; None if there is none or it is not a valid status object."""
        try:
            body = self._storage.read_bytes(status_key(solve_id))
        except FileNotFoundError:
            return None
        try:
            return SolveStatus.model_validate_json(body)
        except ValidationError as error:
            detail = describe_validation_error(error)
            log.warning("ignoring the invalid status of solve %s: %s", solve_id, detail)
            return None

    def write_status(self, status: SolveStatus) -> None:
        """Store ``status``, stamped ``updated_at`` now."""
        stamped = status.model_copy(update={"updated_at": now()})
        self._storage.write_bytes(
            status_key(status.solve_id), stamped.to_json().encode(), content_type="application/json"
        )

    def write_result(self, solve_id: str, result: SolveResult, spec: SolveSpec) -> dict[str, str]:
        """``x.npy`` and ``result.json``; returns their S3 URIs (``x``, ``result``)."""
        buffer = io.BytesIO()
        np.save(buffer, result.x)
        x_key, result_key = results_key(solve_id, "x.npy"), results_key(solve_id, "result.json")
        self._storage.write_bytes(x_key, buffer.getvalue())
        body = json.dumps({"spec": spec_as_json(spec), **result.to_json_dict()}, indent=2)
        self._storage.write_bytes(result_key, body.encode(), content_type="application/json")
        return {"x": self._storage.uri(x_key), "result": self._storage.uri(result_key)}


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
        while not stop.is_set():
            self.run_once()

    def run_once(self) -> bool:
        """Receive at most one job and run it; False if the queue was empty."""
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
        delivery = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        log.info("received solve %s from the queue (delivery %s)", solve_id, delivery)
        previous = self._store.read_status(solve_id)
        if previous is not None and previous.finished:
            log.info("solve %s already finished; removing the re-delivered job", solve_id)
            self._delete(message)
            return
        status = previous or SolveStatus(solve_id=solve_id, status=SolveState.QUEUED, spec=spec)
        if spec is None:
            failed = status.advance(
                status=SolveState.FAILED, reason=spec_problem, finished_at=now()
            )
            self._store.write_status(failed)
            self._delete(message)
            return
        self._run(status, spec, message)

    def _run(self, queued: SolveStatus, spec: SolveSpec, message: dict[str, Any]) -> None:
        solve_id = queued.solve_id
        self.current_solve = solve_id
        if not self.config.secure:
            log.warning("running solve %s WITHOUT CURVE (insecure mode)", solve_id)
        # A re-delivered job starts afresh: progress of an earlier, crashed run is cleared.
        running = queued.advance(
            status=SolveState.RUNNING,
            started_at=now(),
            iteration=None,
            primal_residual=None,
            dual_residual=None,
            rho=None,
        )
        self._store.write_status(running)
        keep_alive = threading.Event()
        extender = threading.Thread(target=self._extend_visibility, args=(message, keep_alive))
        extender.start()
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
                on_iteration=self._progress_writer(running),
            )
        except SolveFailed as error:
            self._store.write_status(
                running.advance(status=SolveState.FAILED, reason=str(error), finished_at=now())
            )
            log.warning("solve %s failed: %s", solve_id, error)
        else:
            locations = self._store.write_result(solve_id, result, spec)
            self._store.write_status(
                running.advance(
                    status=SolveState.DONE,
                    finished_at=now(),
                    objective=result.objective,
                    iterations=result.iterations,
                    converged=result.converged,
                    primal_residual=result.primal_residual,
                    dual_residual=result.dual_residual,
                    **locations,
                )
            )
            log.info("solve %s done: %s", solve_id, result.summary())
        finally:
            keep_alive.set()
            extender.join()
            self.current_solve = None
        self._delete(message)  # only now: the outcome is stored
        self.solves_finished += 1

    def _progress_writer(self, running: SolveStatus) -> Callable[[IterationRecord], None]:
        last_write = [0.0]

        def write(record: IterationRecord) -> None:
            if time.monotonic() - last_write[0] < self.config.status_interval_seconds:
                return
            last_write[0] = time.monotonic()
            self._store.write_status(
                running.advance(
                    iteration=record.iteration,
                    primal_residual=record.primal_residual,
                    dual_residual=record.dual_residual,
                    rho=record.rho,
                )
            )

        return write

    def _extend_visibility(self, message: dict[str, Any], done: threading.Event) -> None:
        while not done.wait(self.config.visibility_seconds / 3):
            self._sqs.change_message_visibility(
                QueueUrl=self.config.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self.config.visibility_seconds,
            )
