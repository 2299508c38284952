"""A scheduler host that crashes mid-solve loses nothing: SQS delivers the job again.

The service is SIGKILLed while its Lambda workers iterate, then started again with the same
settings (as systemd's ``Restart=always`` would). The job was never deleted, so once its lease
(``VISIBILITY_SECONDS``) runs out SQS delivers it again and the new process re-runs the solve
from the start, to the same answer. The stale workers of the first run hold the old solve keys,
so they cannot join the new run (CURVE); they give up on their own when the scheduler stays
silent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler_host.cli.remote import submit_spec
from scheduler_host.jobs import SolveStatus
from tests.integration import evidence
from tests.integration.deployed import DeployedStack
from tests.integration.scheduler_service import (
    free_port,
    host_settings,
    local_settings,
    start_service,
)
from tests.integration.specs import LONG

pytestmark = pytest.mark.integration

VISIBILITY_S = 10


def test_solve_survives_a_scheduler_crash(
    deployed_stack: DeployedStack, api_credentials: None, tmp_path: Path
) -> None:
    stack = deployed_stack
    # One configuration for both processes, as for a service restarted by systemd.
    settings = host_settings(stack, front_port=free_port(), broadcast_port=free_port())
    settings |= local_settings(stack, health_port=free_port(), visibility_seconds=VISIBILITY_S)

    first = start_service(settings, tmp_path / "first.log")
    try:
        first.wait_healthy()
        solve_id = submit_spec(LONG, api=stack.api_url, region=stack.region)

        def iterating() -> SolveStatus | None:
            status = evidence.read_status(stack, solve_id)
            return status if status.status == "running" and status.iteration is not None else None

        running = evidence.wait_for(iterating, timeout_s=240, what="workers iterating", every_s=0.2)
        first.kill()
    finally:
        first.stop()
    crashed = evidence.read_status(stack, solve_id)
    assert crashed.status == "running", f"the solve ended before the crash: {crashed}"
    first_log = first.log_messages()
    assert f"received solve {solve_id} from the queue (delivery 1)" in first_log
    assert not any(f"solve {solve_id} done" in message for message in first_log)

    second = start_service(settings, tmp_path / "second.log")
    try:
        second.wait_healthy()
        status = evidence.wait_finished(stack, solve_id, timeout_s=300)
    finally:
        second.stop()
    second_log = second.log_messages()
    assert f"received solve {solve_id} from the queue (delivery 2)" in second_log, second_log
    assert status.status == "done", status
    assert status.started_at != running.started_at, "the solve must run again"

    reference = evidence.solve_locally(LONG, tmp_path / "local")
    assert status.objective == pytest.approx(reference.objective, rel=1e-9, abs=0)
    assert status.iterations == reference.iterations and status.converged
    # Only the new run's workers took part: the old run's hold the old keys, and each worker
    # was invoked once (no update was a duplicate or stale).
    result = evidence.read_result(stack, solve_id)
    assert result["dropped_messages"] == 0
    # Deleted once its outcome was stored: nothing visible, in flight or dead-lettered.
    empty = {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0}
    assert evidence.queue_counts(stack) == empty
    assert evidence.queue_counts(stack, evidence.dead_letter_queue_url(stack)) == empty
