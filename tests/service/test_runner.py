"""The host's job runner: real solves with local workers; S3 and SQS from moto.

The same runner is exercised against LocalStack (real SQS re-delivery, Lambda
workers) in tests/integration; here it is its bookkeeping that is checked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from scheduler_host.service.runner import JobRunner, ServiceConfig, StatusStore
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
    )
    return JobRunner(
        config=config,
        sqs=aws["sqs"],
        store=StatusStore(s3=aws["s3"], bucket=BUCKET),
        make_spawner=lambda: LocalProcessSpawner(log_directory=tmp_path),
    )


def _enqueue(aws: dict[str, Any], body: object) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    aws["sqs"].send_message(QueueUrl=aws["queue_url"], MessageBody=text)


def _status(aws: dict[str, Any], solve_id: str) -> dict[str, Any]:
    body = aws["s3"].get_object(Bucket=BUCKET, Key=f"results/{solve_id}/status.json")["Body"]
    status: dict[str, Any] = json.loads(body.read())
    return status


def _queue_is_empty(aws: dict[str, Any]) -> bool:
    attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=aws["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return set(attributes.values()) == {"0"}


def test_a_job_is_solved_stored_and_only_then_deleted(aws: dict[str, Any], tmp_path: Path) -> None:
    _enqueue(aws, {"solve_id": "a" * 32, "spec": SPEC})
    runner = _runner(aws, tmp_path)
    assert runner.run_once()
    status = _status(aws, "a" * 32)
    assert status["status"] == "done" and status["converged"] is True
    assert status["x"] == f"s3://{BUCKET}/results/{'a' * 32}/x.npy"
    stored = aws["s3"].get_object(Bucket=BUCKET, Key=f"results/{'a' * 32}/x.npy")["Body"].read()
    x = np.load(io.BytesIO(stored))
    direct = run_solve(SolveSpec(**SPEC), spawner=LocalProcessSpawner(log_directory=tmp_path))
    np.testing.assert_array_equal(x, direct.x)  # the same deterministic computation
    assert status["objective"] == direct.objective
    result = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=f"results/{'a' * 32}/result.json")["Body"].read()
    )
    assert result["spec"]["workers"] == 3 and len(result["history"]) == status["iterations"]
    assert _queue_is_empty(aws)
    assert runner.solves_finished == 1 and runner.current_solve is None


def test_an_invalid_spec_fails_the_job_with_the_field_named(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    _enqueue(aws, {"solve_id": "b" * 32, "spec": {**SPEC, "workers": 0}})
    _runner(aws, tmp_path).run_once()
    status = _status(aws, "b" * 32)
    assert status["status"] == "failed"
    assert status["reason"] == (
        "invalid solve spec: workers: Input should be greater than or equal to 1 (got 0)"
    )
    assert _queue_is_empty(aws)


def test_a_malformed_message_is_removed_without_crashing(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    _enqueue(aws, "{not json")
    _enqueue(aws, {"no": "solve id"})
    runner = _runner(aws, tmp_path)
    assert runner.run_once() and runner.run_once()
    assert not runner.run_once()
    assert _queue_is_empty(aws)


def test_a_redelivered_finished_job_is_not_run_again(aws: dict[str, Any], tmp_path: Path) -> None:
    store = StatusStore(s3=aws["s3"], bucket=BUCKET)
    store.write_status("c" * 32, {"status": "done", "objective": 1.0})
    _enqueue(aws, {"solve_id": "c" * 32, "spec": SPEC})
    runner = _runner(aws, tmp_path)
    runner.run_once()
    assert _status(aws, "c" * 32)["objective"] == 1.0
    assert runner.solves_finished == 0
    assert _queue_is_empty(aws)


def test_a_failing_solve_is_reported_with_its_reason(aws: dict[str, Any], tmp_path: Path) -> None:
    spec = {**SPEC, "problem": "shards", "shards": str(tmp_path / "missing")}
    _enqueue(aws, {"solve_id": "d" * 32, "spec": spec})
    _runner(aws, tmp_path).run_once()
    status = _status(aws, "d" * 32)
    assert status["status"] == "failed"
    assert status["reason"] == f"shards: no manifest.json in {tmp_path / 'missing'}"
    assert _queue_is_empty(aws)
