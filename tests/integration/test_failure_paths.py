"""The service's failure paths against the deployed stack: cancel, and a delivery that crashes.

- ``lambda-admm cancel`` (``DELETE /solves/{id}``) of a running solve: the host notices the
  marker between iterations, stops the Lambda workers and records ``cancelled``; a second cancel
  is refused (409), as is one of an unknown solve (404).
- A queued solve is cancelled by the intake at once; the host then drops the job unrun.
- A delivery that crashes (here: the front port is taken, so the ZMQ bind fails) goes back to
  ``queued`` for SQS to deliver again; the last delivery records ``failed``: "gave up after N
  deliveries: <reason>", and the job leaves the queue without being dead-lettered unrecorded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_host.cli.remote import submit_spec
from scheduler_host.jobs import SolveStatus
from tests.integration import evidence
from tests.integration.deployed import DeployedStack
from tests.integration.scheduler_service import (
    LAMBDA_ADMM,
    ServiceProcess,
    free_port,
    host_settings,
    local_settings,
    queue_max_receives,
    start_service,
)
from tests.integration.specs import LONG, SMALL

pytestmark = pytest.mark.integration

EMPTY_QUEUE = {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0}


def _settings(stack: DeployedStack, *, front_port: int | None = None) -> dict[str, str]:
    settings = host_settings(
        stack, front_port=front_port or free_port(), broadcast_port=free_port()
    )
    return settings | local_settings(stack, health_port=free_port())


@pytest.fixture
def service(deployed_stack: DeployedStack, tmp_path: Path) -> Iterator[ServiceProcess]:
    process = start_service(_settings(deployed_stack), tmp_path / "service.log")
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()


def _cancel(stack: DeployedStack, solve_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAMBDA_ADMM, "cancel", solve_id, "--api", stack.api_url, "--region", stack.region],
        env={**os.environ, **stack.aws_env(), "COLUMNS": "300"},  # rich wraps no message
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _iterating(stack: DeployedStack, solve_id: str) -> SolveStatus:
    def check() -> SolveStatus | None:
        status = evidence.read_status(stack, solve_id)
        assert not status.finished, f"the solve ended before the cancel: {status}"
        return status if status.status == "running" and status.iteration is not None else None

    running: SolveStatus = evidence.wait_for(
        check, timeout_s=240, what="workers iterating", every_s=0.2
    )
    return running


def test_a_running_solve_is_cancelled_through_the_api(
    deployed_stack: DeployedStack, service: ServiceProcess, api_credentials: None
) -> None:
    stack = deployed_stack
    solve_id = submit_spec(LONG, api=stack.api_url, region=stack.region)
    running = _iterating(stack, solve_id)

    answer = _cancel(stack, solve_id)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == f"solve {solve_id}: cancelling\n"
    status = evidence.wait_finished(stack, solve_id, timeout_s=60)
    assert status.status == "cancelled", status
    assert status.reason == "cancelled by request"
    assert status.finished_at is not None and running.updated_at is not None
    assert status.iterations is None and status.x is None  # nothing half-written as a result
    messages = service.log_messages()
    assert f"solve {solve_id} cancelled: cancelled by request" in messages, messages
    evidence.wait_for(
        lambda: evidence.queue_counts(stack) == EMPTY_QUEUE, timeout_s=30, what="an empty queue"
    )

    again = _cancel(stack, solve_id)
    assert again.returncode == 2
    assert "the API answered 409: the solve already ended: cancelled" in again.stderr
    unknown = _cancel(stack, uuid.uuid4().hex)
    assert unknown.returncode == 2
    assert "the API answered 404: " in unknown.stderr


def test_a_queued_solve_is_cancelled_at_once_and_never_runs(
    deployed_stack: DeployedStack, api_credentials: None, tmp_path: Path
) -> None:
    stack = deployed_stack
    solve_id = submit_spec(SMALL, api=stack.api_url, region=stack.region)  # no host is serving
    answer = _cancel(stack, solve_id)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == f"solve {solve_id}: cancelled\n"
    status = evidence.read_status(stack, solve_id)
    assert (status.status, status.reason) == ("cancelled", "cancelled before it started")

    process = start_service(_settings(stack), tmp_path / "service.log")
    try:
        process.wait_healthy()
        evidence.wait_for(
            lambda: evidence.queue_counts(stack) == EMPTY_QUEUE, timeout_s=60, what="the job gone"
        )
    finally:
        process.stop()
    assert f"solve {solve_id} already cancelled; removing the job" in process.log_messages()
    assert evidence.read_status(stack, solve_id) == status  # untouched: it never ran


def test_a_crashing_delivery_is_retried_then_given_up_with_its_reason(
    deployed_stack: DeployedStack, api_credentials: None, tmp_path: Path
) -> None:
    stack = deployed_stack
    deliveries = queue_max_receives(stack)
    with socket.socket() as squatter:  # the front port is taken: every bind of the solve fails
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = _settings(stack, front_port=port) | {"RETRY_DELAY_SECONDS": "1"}
        process = start_service(settings, tmp_path / "service.log")
        try:
            process.wait_healthy()
            solve_id = submit_spec(SMALL, api=stack.api_url, region=stack.region)
            status = evidence.wait_finished(stack, solve_id, timeout_s=120)
        finally:
            process.stop()

    crash = f"ZMQError: Address already in use (addr='tcp://127.0.0.1:{port}')"
    assert status.status == "failed", status
    assert status.reason == f"gave up after {deliveries} deliveries: {crash}"
    messages = process.log_messages()
    for delivery in range(1, deliveries + 1):
        assert f"received solve {solve_id} from the queue (delivery {delivery})" in messages
        assert f"solve {solve_id} crashed on delivery {delivery} of {deliveries}: {crash}" in (
            messages
        )
    # Deleted with its outcome recorded: nothing visible, in flight or dead-lettered.
    assert evidence.queue_counts(stack) == EMPTY_QUEUE
    assert evidence.queue_counts(stack, evidence.dead_letter_queue_url(stack)) == EMPTY_QUEUE
