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
from scheduler_host.solve import SchedulerOptions, SolveFailed, run_solve
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
        self.outcomes: dict[tuple[int, int], dict[str, Any]] = {}
        self._reported: set[tuple[int, int]] = set()
        self._threads: list[threading.Thread] = []

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        for assignment in assignments:
            event = json.loads(
                assignment.model_dump_json()
            )  # the POST body, as API Gateway passes it
            self.events.append(event)
            key = (assignment.worker_index, assignment.slot_epoch)
            thread = threading.Thread(target=self._invoke, args=(key, event))
            thread.start()
            self._threads.append(thread)

    def _invoke(self, index: tuple[int, int], event: dict[str, Any]) -> None:
        try:
            outcome = handler(event, FakeLambdaContext(timeout_seconds=self.timeout_seconds))
        except Exception as error:  # an invocation error, as Lambda would log it
            outcome = {"status": "error", "error": repr(error)}
        self.outcomes[index] = outcome

    def failures(self) -> list[SpawnFailure]:
        """Invocations that raised (retired and refused workers ended normally)."""
        found = [
            SpawnFailure(worker_index=index, slot_epoch=epoch, reason=str(outcome))
            for (index, epoch), outcome in self.outcomes.items()
            if outcome["status"] in ("error", "failed") and (index, epoch) not in self._reported
        ]
        self._reported.update((f.worker_index, f.slot_epoch) for f in found)
        return found

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)


def test_workers_run_through_the_handler_solve_the_problem() -> None:
    spec = SolveSpec(samples=1200, features=30, density=0.2, workers=3, l1=0.5)
    spawner = HandlerThreadSpawner()
    through_handler = run_solve(spec, spawner=spawner)
    assert through_handler.converged
    assert [outcome["status"] for _, outcome in sorted(spawner.outcomes.items())] == ["done"] * 3
    assert spawner.outcomes[0, 0]["iterations"] == through_handler.iterations
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
        # Workers left waiting when the solve gives up exit after 2 s of silence.
        options = SchedulerOptions(
            max_respawns=1, scheduler_silence_seconds=2.0, max_rebroadcast_seconds=0.5
        )
        run_solve(spec, spawner=spawner, options=options)
    statuses = {key: outcome["status"] for key, outcome in spawner.outcomes.items()}
    assert {statuses[index, 0] for index in range(2)} == {"retired"}
    # A replacement still waiting when the solve gave up is told to stop (the terminate that
    # run_solve broadcasts on every early exit: "done" after 0 iterations), or, if it joined
    # too late to hear it, leaves after 2 s of silence.
    for outcome in spawner.outcomes.values():
        stopped = outcome["status"] == "done" and outcome["iterations"] == 0
        silent = "SchedulerSilent" in outcome.get("error", "")
        assert outcome["status"] == "retired" or stopped or silent, spawner.outcomes
