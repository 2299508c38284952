"""The Lambda handler, driven by hand-built API Gateway -> Lambda async events.

``POST /workers`` is an AWS integration with ``X-Amz-Invocation-Type: 'Event'``
and no mapping template, so the function's event is the request body itself.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from runtime.handler import handler
from runtime.specs import WorkerAssignment
from scheduler_host.scheduler import SchedulerOptions, SolveFailed, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import SpawnFailure


class FakeLambdaContext:
    """What the handler uses of Lambda's context object."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "lambda-admm-worker"
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


class HandlerThreadSpawner:
    """Runs each worker through ``runtime.handler.handler`` on a thread, as Lambda would."""

    def __init__(self, *, timeout_seconds: float = 900.0) -> None:
        self.timeout_seconds = timeout_seconds
        self.events: list[dict[str, Any]] = []
        self.outcomes: dict[int, dict[str, Any]] = {}
        self._threads: list[threading.Thread] = []

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        for assignment in assignments:
            event = json.loads(
                assignment.model_dump_json()
            )  # the POST body, as API Gateway passes it
            self.events.append(event)
            thread = threading.Thread(target=self._invoke, args=(assignment.worker_index, event))
            thread.start()
            self._threads.append(thread)

    def _invoke(self, index: int, event: dict[str, Any]) -> None:
        self.outcomes[index] = handler(
            event, FakeLambdaContext(timeout_seconds=self.timeout_seconds)
        )

    def failures(self) -> list[SpawnFailure]:
        return [
            SpawnFailure(worker_index=index, reason=str(outcome))
            for index, outcome in self.outcomes.items()
            if outcome["status"] != "done"
        ]

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)


def test_workers_run_through_the_handler_solve_the_problem() -> None:
    spec = SolveSpec(samples=1200, features=30, density=0.2, workers=3, l1=0.5)
    spawner = HandlerThreadSpawner()
    through_handler = run_solve(spec, spawner=spawner)
    assert through_handler.converged
    assert [outcome["status"] for _, outcome in sorted(spawner.outcomes.items())] == ["done"] * 3
    assert spawner.outcomes[0]["iterations"] == through_handler.iterations
    from scheduler_host.spawners.local import LocalProcessSpawner

    as_processes = run_solve(spec, spawner=LocalProcessSpawner())
    assert through_handler.objective == as_processes.objective  # bit for bit


def test_an_invalid_event_is_rejected_without_running() -> None:
    outcome = handler({"solve_id": "x", "worker_index": 0}, FakeLambdaContext(timeout_seconds=5))
    assert outcome["status"] == "rejected"
    assert "num_workers" in outcome["error"] and "Field required" in outcome["error"]


def test_a_worker_without_time_for_an_iteration_retires_and_is_replaced() -> None:
    spec = SolveSpec(samples=1200, features=30, density=0.2, workers=2, l1=0.5)
    spawner = HandlerThreadSpawner(timeout_seconds=5.0)  # below the 10 s safety margin
    with pytest.raises(
        SolveFailed, match=r"worker \d: retired before computing; gave up after 1 replacements"
    ):
        run_solve(spec, spawner=spawner, options=SchedulerOptions(max_respawns=1))
    assert {outcome["status"] for outcome in spawner.outcomes.values()} == {"retired"}
