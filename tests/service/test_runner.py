"""The host's job runner: real solves with local workers; S3 and SQS from moto.

The same runner is exercised against LocalStack (real SQS re-delivery, Lambda
workers) in tests/integration; here it is its bookkeeping that is checked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from runtime.storage import S3Storage
from scheduler_host.jobs import JobMessage, SolveState, SolveStatus, results_key, status_key
from scheduler_host.service.runner import JobRunner, ServiceConfig
from scheduler_host.service.store import StatusStore
from scheduler_host.solve import run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner

BUCKET = "lambda-admm-test"
SPEC = {"samples": 1500, "features": 40, "density": 0.1, "workers": 3, "l1": 0.5}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        yield {"s3": s3, "sqs": sqs, "queue_url": queue_url}


def _runner(aws: dict[str, Any], tmp_path: Path) -> JobRunner:
    config = ServiceConfig(
        queue_url=aws["queue_url"],
        bucket=BUCKET,
        api_url="https://unused.example/prod",
        region="us-east-1",
        advertise_host="127.0.0.1",
        bind_host="127.0.0.1",
        front_port=0,
        broadcast_port=0,
        poll_wait_seconds=0,
        max_receives=3,
        retry_delay_seconds=0,
    )
    return JobRunner(
        config=config,
        sqs=aws["sqs"],
        store=StatusStore(storage=S3Storage(bucket=BUCKET, client=aws["s3"])),
        make_spawner=lambda: LocalProcessSpawner(log_directory=tmp_path),
    )


def _enqueue(aws: dict[str, Any], body: object) -> None:
    if isinstance(body, JobMessage):
        text = body.model_dump_json()
    else:
        text = body if isinstance(body, str) else json.dumps(body)
    aws["sqs"].send_message(QueueUrl=aws["queue_url"], MessageBody=text)


def _status(aws: dict[str, Any], solve_id: str) -> SolveStatus:
    body = aws["s3"].get_object(Bucket=BUCKET, Key=status_key(solve_id))["Body"]
    return SolveStatus.model_validate_json(body.read())


def _queue_is_empty(aws: dict[str, Any]) -> bool:
    attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=aws["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return set(attributes.values()) == {"0"}


def test_a_job_is_solved_stored_and_only_then_deleted(aws: dict[str, Any], tmp_path: Path) -> None:
    solve_id = "a" * 32
    _enqueue(aws, JobMessage(solve_id=solve_id, spec=SolveSpec.model_validate(SPEC)))
    runner = _runner(aws, tmp_path)
    assert runner.run_once()
    status = _status(aws, solve_id)
    assert status.status is SolveState.DONE and status.converged is True
    assert status.reason is None and status.optimality_tolerance == 1e-2
    assert status.optimality is not None and status.optimality <= 1e-2
    assert status.x == f"s3://{BUCKET}/results/{solve_id}/x.npy"
    assert status.result == f"s3://{BUCKET}/results/{solve_id}/result.json"
    assert status.spec == SolveSpec.model_validate(
        SPEC
    )  # no queued status: the job's spec is recorded
    assert status.started_at is not None and status.finished_at is not None
    assert status.updated_at is not None and status.started_at <= status.finished_at
    stored = aws["s3"].get_object(Bucket=BUCKET, Key=results_key(solve_id, "x.npy"))
    x = np.load(io.BytesIO(stored["Body"].read()))
    direct = run_solve(
        SolveSpec.model_validate(SPEC), spawner=LocalProcessSpawner(log_directory=tmp_path)
    )
    np.testing.assert_array_equal(x, direct.x)  # the same deterministic computation
    assert status.objective == direct.objective
    assert status.objective_at_zero == direct.objective_at_zero
    assert status.iterations == direct.iterations
    assert status.primal_residual == direct.primal_residual
    result = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=results_key(solve_id, "result.json"))["Body"].read()
    )
    assert result["spec"]["workers"] == 3 and len(result["history"]) == status.iterations
    assert _queue_is_empty(aws)
    assert runner.solves_finished == 1 and runner.current_solve is None


def test_a_done_solve_that_is_not_converged_says_why(aws: dict[str, Any], tmp_path: Path) -> None:
    solve_id = "c" * 32
    spec = SolveSpec.model_validate({**SPEC, "max_iter": 2})
    _enqueue(aws, JobMessage(solve_id=solve_id, spec=spec))
    assert _runner(aws, tmp_path).run_once()
    status = _status(aws, solve_id)
    assert status.status is SolveState.DONE and status.converged is False
    assert status.reason is not None
    assert status.reason.startswith("max_iter 2 reached before the residual rule held; ")
    assert status.iterations == 2 and status.optimality is not None


def test_the_queued_status_is_advanced_not_replaced(aws: dict[str, Any], tmp_path: Path) -> None:
    solve_id = "9" * 32
    store = StatusStore(storage=S3Storage(bucket=BUCKET, client=aws["s3"]))
    queued = SolveStatus(
        solve_id=solve_id,
        status=SolveState.QUEUED,
        spec=SolveSpec.model_validate(SPEC),
        submitted_at=datetime(2026, 12, 1, 22, 0, tzinfo=UTC),
    )
    store.write_status(queued)
    _enqueue(aws, JobMessage(solve_id=solve_id, spec=SolveSpec.model_validate(SPEC)))
    _runner(aws, tmp_path).run_once()
    status = _status(aws, solve_id)
    assert status.status is SolveState.DONE
    assert status.submitted_at == queued.submitted_at and status.spec == queued.spec


def test_an_invalid_spec_fails_the_job_with_the_field_named(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    _enqueue(aws, {"version": 1, "solve_id": "b" * 32, "spec": {**SPEC, "workers": 0}})
    _runner(aws, tmp_path).run_once()
    status = _status(aws, "b" * 32)
    assert status.status is SolveState.FAILED
    assert status.reason == (
        "invalid solve spec: workers: Input should be greater than or equal to 1 (got 0)"
    )
    assert status.finished_at is not None
    assert _queue_is_empty(aws)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{not json", "Invalid JSON: key must be a string at line 1 column 2"),
        ({"no": "solve id"}, "solve_id: Field required; spec: Field required; no: unknown field"),
        (
            {"version": 2, "solve_id": "a" * 32, "spec": SPEC},
            "version: Input should be 1 (got 2)",
        ),
        (
            {"solve_id": "../../etc", "spec": SPEC},
            "solve_id: String should match pattern '^[0-9a-f]{32}$' (got '../../etc')",
        ),
    ],
)
def test_a_malformed_message_is_logged_and_removed_without_crashing(
    aws: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, body: object, detail: str
) -> None:
    _enqueue(aws, body)
    runner = _runner(aws, tmp_path)
    with caplog.at_level("ERROR", logger="lambda_admm.service"):
        assert runner.run_once()
    (record,) = caplog.records
    assert record.getMessage().startswith(f"dropping a malformed job message: {detail}")
    assert not runner.run_once()
    assert _queue_is_empty(aws)
    assert aws["s3"].list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_a_redelivered_finished_job_is_not_run_again(aws: dict[str, Any], tmp_path: Path) -> None:
    solve_id = "c" * 32
    store = StatusStore(storage=S3Storage(bucket=BUCKET, client=aws["s3"]))
    done = SolveStatus(
        solve_id=solve_id,
        status=SolveState.DONE,
        objective=1.0,
        iterations=3,
        converged=True,
        x="s3://b/x.npy",
        result="s3://b/result.json",
    )
    store.write_status(done)
    _enqueue(aws, JobMessage(solve_id=solve_id, spec=SolveSpec.model_validate(SPEC)))
    runner = _runner(aws, tmp_path)
    runner.run_once()
    assert _status(aws, solve_id).objective == 1.0
    assert runner.solves_finished == 0
    assert _queue_is_empty(aws)


def test_a_failing_solve_is_reported_with_its_reason(aws: dict[str, Any], tmp_path: Path) -> None:
    spec = SolveSpec.model_validate(
        {**SPEC, "problem": "shards", "shards": str(tmp_path / "missing")}
    )
    _enqueue(aws, JobMessage(solve_id="d" * 32, spec=spec))
    _runner(aws, tmp_path).run_once()
    status = _status(aws, "d" * 32)
    assert status.status is SolveState.FAILED
    assert status.reason == f"shards: no manifest.json in {tmp_path / 'missing'}"
    assert status.started_at is not None and status.finished_at is not None
    assert _queue_is_empty(aws)


def test_the_status_model_refuses_an_incomplete_outcome() -> None:
    with pytest.raises(ValueError, match=r"objective: required when status is 'done'"):
        SolveStatus(solve_id="a" * 32, status=SolveState.DONE)
    with pytest.raises(ValueError, match=r"reason: required when status is 'failed'"):
        SolveStatus(solve_id="a" * 32, status="failed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Input should be 'queued', 'running', 'done'"):
        SolveStatus(solve_id="a" * 32, status="finished")  # type: ignore[arg-type]


def test_a_crashing_delivery_is_retried_then_given_up_and_the_service_stays_up(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    import socket

    solve_id = "e" * 32
    with socket.socket() as taken:  # the front port is in use: the solve cannot bind
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = _runner(aws, tmp_path)
        runner.config = runner.config.model_copy(update={"front_port": port})
        _enqueue(aws, JobMessage(solve_id=solve_id, spec=SolveSpec.model_validate(SPEC)))
        assert runner.run_once()
        queued = _status(aws, solve_id)
        assert queued.status is SolveState.QUEUED
        assert queued.reason == f"ZMQError: Address already in use (addr='tcp://127.0.0.1:{port}')"
        assert not _queue_is_empty(aws)  # left for SQS to deliver again
        assert runner.run_once() and runner.run_once()  # deliveries 2 and 3 (the last)
    failed = _status(aws, solve_id)
    assert failed.status is SolveState.FAILED
    assert failed.reason == f"gave up after 3 deliveries: {queued.reason}"
    assert _queue_is_empty(aws)
    # The service is still up: the next job runs.
    runner.config = runner.config.model_copy(update={"front_port": 0})
    _enqueue(aws, JobMessage(solve_id="f" * 32, spec=SolveSpec.model_validate(SPEC)))
    assert runner.run_once()
    assert _status(aws, "f" * 32).status is SolveState.DONE


def test_a_job_cancelled_before_it_starts_ends_cancelled_without_running(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    solve_id = "1" * 32
    aws["s3"].put_object(Bucket=BUCKET, Key=f"results/{solve_id}/cancel", Body=b"{}")
    _enqueue(aws, JobMessage(solve_id=solve_id, spec=SolveSpec.model_validate(SPEC)))
    runner = _runner(aws, tmp_path)
    assert runner.run_once()
    status = _status(aws, solve_id)
    assert status.status is SolveState.CANCELLED
    assert status.reason == "cancelled before it started" and status.started_at is None
    assert runner.solves_finished == 0 and _queue_is_empty(aws)


def test_a_running_solve_is_cancelled_between_iterations_and_its_workers_stop(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    import threading
    import time

    solve_id = "2" * 32
    endless = {**SPEC, "samples": 20000, "eps_primal": 1e-300, "eps_dual": 1e-300}
    _enqueue(
        aws,
        JobMessage(
            solve_id=solve_id, spec=SolveSpec.model_validate(endless | {"max_iter": 100000})
        ),
    )
    runner = _runner(aws, tmp_path)
    spawners: list[LocalProcessSpawner] = []

    def make_spawner() -> LocalProcessSpawner:
        spawners.append(LocalProcessSpawner(log_directory=tmp_path))
        return spawners[-1]

    runner._make_spawner = make_spawner
    runner.config = runner.config.model_copy(update={"status_interval_seconds": 0.0})
    worker = threading.Thread(target=runner.run_once)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"results/{solve_id}/")
        if body.get("KeyCount") and _status(aws, solve_id).iteration is not None:
            break
        time.sleep(0.1)
    aws["s3"].put_object(Bucket=BUCKET, Key=f"results/{solve_id}/cancel", Body=b"{}")
    cancelled_at = time.monotonic()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 5
    status = _status(aws, solve_id)
    assert status.status is SolveState.CANCELLED and status.reason == "cancelled by request"
    (spawner,) = spawners
    assert all(code is not None for code in spawner.exit_codes().values())
    assert _queue_is_empty(aws)
