"""What the end-to-end tests read back from the deployed stack to show each link of a solve.

- the solve's status through ``GET /solves/{id}`` (SigV4-signed, as ``lambda-admm status``);
- the worker function's CloudWatch log events (the handler's JSON lines, framed by the
  executor's START/REPORT lines);
- LocalStack's request log (API Gateway and Lambda calls);
- S3 objects and the job queue's counters;
- the same spec solved locally (``run_solve`` with local worker processes), for the objective.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scheduler_host.cli.remote import fetch_status
from scheduler_host.jobs import SolveStatus, results_key, status_key
from scheduler_host.results import SolveResult
from scheduler_host.solve import run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner
from tests.integration.deployed import DeployedStack


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def wait_finished(stack: DeployedStack, solve_id: str, timeout_s: float) -> SolveStatus:
    """``GET /solves/{id}`` until the solve has finished (needs AWS_* credentials set)."""

    def finished() -> SolveStatus | None:
        status = fetch_status(api=stack.api_url, solve_id=solve_id, region=stack.region)
        return status if status.finished else None

    result: SolveStatus = wait_for(
        finished, timeout_s=timeout_s, what=f"solve {solve_id} finished", every_s=1.0
    )
    return result


def read_object(stack: DeployedStack, key: str) -> bytes:
    body: bytes = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    return body


def read_status(stack: DeployedStack, solve_id: str) -> SolveStatus:
    """``results/<id>/status.json`` straight from S3 (no API call)."""
    return SolveStatus.model_validate_json(read_object(stack, status_key(solve_id)))


def read_result(stack: DeployedStack, solve_id: str) -> dict[str, Any]:
    """``results/<id>/result.json``: the spec, the outcome, the history and per-worker times."""
    result: dict[str, Any] = json.loads(read_object(stack, results_key(solve_id, "result.json")))
    return result


def read_x(stack: DeployedStack, solve_id: str) -> np.ndarray:
    x: np.ndarray = np.load(io.BytesIO(read_object(stack, results_key(solve_id, "x.npy"))))
    return x


def queue_counts(stack: DeployedStack, queue_url: str | None = None) -> dict[str, int]:
    """Visible and in-flight messages of the job queue (or of ``queue_url``)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url or stack.queue_url, AttributeNames=names
    )["Attributes"]
    return {name: int(attributes[name]) for name in names}


def dead_letter_queue_url(stack: DeployedStack) -> str:
    """The job queue's dead-letter queue, from its redrive policy."""
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])
    target = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    url: str = sqs.get_queue_url(QueueName=target.rsplit(":", 1)[1])["QueueUrl"]
    return url


def worker_log_groups(stack: DeployedStack) -> list[str]:
    """Where the worker function's logs may be: its configured group, then the default one.

    The stack gives the function its own log group (``LoggingConfig.LogGroup``); LocalStack
    (community, 2026.3) ignores that setting and writes to ``/aws/lambda/<name>``.
    """
    config = stack.client("lambda").get_function_configuration(FunctionName=stack.worker_function)
    configured = config.get("LoggingConfig", {}).get("LogGroup")
    return [*([configured] if configured else []), f"/aws/lambda/{stack.worker_function}"]


def worker_log_events(stack: DeployedStack, pattern: str) -> list[dict[str, Any]]:
    """Log events of the worker function whose message contains ``pattern``."""
    logs = stack.client("logs")
    events: list[dict[str, Any]] = []
    for group in worker_log_groups(stack):
        kwargs: dict[str, Any] = {"logGroupName": group}
        try:
            while True:
                page = logs.filter_log_events(**kwargs)
                events += [e for e in page["events"] if pattern in e["message"]]
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        except logs.exceptions.ResourceNotFoundException:
            continue
    return events


def handler_messages(events: list[dict[str, Any]]) -> list[str]:
    """The ``message`` of the handler's JSON log lines among ``events``."""
    messages = []
    for event in events:
        for line in event["message"].splitlines():
            try:
                messages.append(str(json.loads(line)["message"]))
            except (ValueError, KeyError, TypeError):
                continue
    return messages


def localstack_requests(stack: DeployedStack, needle: str) -> list[str]:
    """Lines of LocalStack's request log that contain ``needle``."""
    text = stack.localstack.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if needle in line]


def solve_locally(spec: SolveSpec, log_directory: Path) -> SolveResult:
    """The same spec with local worker processes (``lambda-admm solve``'s local backend)."""
    return run_solve(spec, spawner=LocalProcessSpawner(log_directory=log_directory))
