"""AWS Lambda entry point: a thin adapter over :func:`runtime.worker.run_worker`.

API Gateway's ``POST /workers`` invokes the function asynchronously with the
request body (one :class:`WorkerAssignment`) as the event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from runtime.specs import WorkerAssignment
from runtime.worker import run_worker

log = logging.getLogger("lambda_admm.worker")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        )


def _setup_logging() -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(_JsonFormatter())
    root.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one worker; returns a summary (visible in logs, ignored by async invokes)."""
    _setup_logging()
    body = json.loads(event["body"]) if isinstance(event.get("body"), str) else event
    try:
        assignment = WorkerAssignment.model_validate(body)
    except ValidationError as error:
        log.error("invalid worker assignment: %s", error)
        return {"status": "rejected", "error": str(error)}
    log.info("worker %d of solve %s starting", assignment.worker_index, assignment.solve_id)
    time_left = None
    if context is not None:
        time_left = lambda: context.get_remaining_time_in_millis() / 1000.0  # noqa: E731
    try:
        report = run_worker(assignment, time_left=time_left)
    except Exception as error:  # already reported to the scheduler as ``failed``
        log.exception("worker %d of solve %s failed", assignment.worker_index, assignment.solve_id)
        return {
            "status": "failed",
            "solve_id": assignment.solve_id,
            "worker_index": assignment.worker_index,
            "error": f"{type(error).__name__}: {error}",
        }
    return {
        "status": report.status,
        "solve_id": assignment.solve_id,
        "worker_index": report.worker_index,
        "iterations": report.iterations,
    }
