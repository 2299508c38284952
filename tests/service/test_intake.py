"""The intake Lambda against moto's S3 and SQS, with hand-built API Gateway proxy events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scheduler_host.jobs import JobMessage, SolveState, SolveStatus, status_key
from scheduler_host.service import intake as intake_api
from scheduler_host.solve_spec import SolveSpec

BUCKET = "lambda-admm-test-data"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        sqs = boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        monkeypatch.setenv("BUCKET_NAME", BUCKET)
        monkeypatch.setenv("QUEUE_URL", queue_url)
        intake_api._clients.clear()  # clients made outside this mock would reach real AWS
        yield {"s3": s3, "sqs": sqs, "queue_url": queue_url}
        intake_api._clients.clear()


def post_solves(body: str | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    return {
        "resource": "/solves",
        "path": "/solves",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "pathParameters": None,
        "queryStringParameters": None,
        "requestContext": {"stage": "prod", "identity": {"userArn": "arn:aws:iam::1:user/t"}},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def get_solve(solve_id: str) -> dict[str, Any]:
    return {
        "resource": "/solves/{id}",
        "path": f"/solves/{solve_id}",
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": {"id": solve_id},
        "queryStringParameters": None,
        "requestContext": {"stage": "prod"},
        "body": None,
        "isBase64Encoded": False,
    }


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = intake_api.handler(event, None)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_good_spec_is_queued_with_a_queued_status(aws: dict[str, Any]) -> None:
    status, body = call(post_solves(json.dumps({"workers": 8, "samples": 1000, "l1": 0.5})))

    assert status == 202
    solve_id = body["solve_id"]
    assert intake_api.SOLVE_ID.match(solve_id)
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)
    (message,) = messages["Messages"]
    job = JobMessage.model_validate_json(message["Body"])
    assert job.version == 1 and job.solve_id == solve_id
    assert job.spec == SolveSpec(workers=8, samples=1000, l1=0.5)
    stored = aws["s3"].get_object(Bucket=BUCKET, Key=status_key(solve_id))
    record = SolveStatus.model_validate_json(stored["Body"].read())
    assert record.status is SolveState.QUEUED and record.version == 1
    assert record.solve_id == solve_id and record.spec == job.spec
    assert record.submitted_at is not None and record.updated_at == record.submitted_at
    assert record.started_at is None and record.iteration is None

    status, current = call(get_solve(solve_id))
    assert status == 200
    assert SolveStatus.model_validate(current) == record
    assert current == record.model_dump(mode="json", exclude_none=True)
    assert "started_at" not in current  # unset fields are left out


def test_status_is_served_as_the_host_wrote_it(aws: dict[str, Any]) -> None:
    solve_id = "e" * 32
    running = {
        "solve_id": solve_id,
        "status": "running",
        "started_at": "2026-12-01T23:00:00Z",
        "iteration": 7,
        "primal_residual": 0.5,
        "dual_residual": 0.25,
        "rho": 2.0,
    }
    aws["s3"].put_object(Bucket=BUCKET, Key=status_key(solve_id), Body=json.dumps(running))
    status, current = call(get_solve(solve_id))
    assert status == 200
    assert current == {**running, "version": 1}


def test_an_invalid_stored_status_is_a_server_error(aws: dict[str, Any]) -> None:
    solve_id = "f" * 32
    body = json.dumps({"solve_id": solve_id, "status": "done"})  # no outcome
    aws["s3"].put_object(Bucket=BUCKET, Key=status_key(solve_id), Body=body)
    assert call(get_solve(solve_id)) == (
        500,
        {"error": "invalid status object", "detail": "objective: required when status is 'done'"},
    )


def test_base64_body_is_decoded(aws: dict[str, Any]) -> None:
    import base64

    encoded = base64.b64encode(json.dumps({"workers": 2}).encode()).decode()
    status, _ = call(post_solves(encoded, base64_encoded=True))
    assert status == 202


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"workers": 0}, "workers"),
        ({"wrokers": 4}, "wrokers"),
        ({"problem": "shards"}, "shards"),
        ({"samples": 10, "workers": 11}, "workers"),
        ({"l1": "lots"}, "l1"),
        ({"l1": 2, "penalty": {"kind": "group_lasso", "weight": 1, "group_size": 4}}, "l1"),
        ({"penalty": {"kind": "group_lasso", "weight": 1}}, "penalty.group_lasso.group_size"),
        ({"loss": "hinge"}, "loss"),
    ],
)
def test_bad_spec_is_rejected_naming_the_field(
    aws: dict[str, Any], spec: dict[str, Any], field: str
) -> None:
    status, body = call(post_solves(json.dumps(spec)))

    assert status == 400
    assert body["error"] == "invalid solve spec"
    assert body["detail"].startswith(f"{field}:"), body["detail"]
    assert "Messages" not in aws["sqs"].receive_message(QueueUrl=aws["queue_url"])
    assert aws["s3"].list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_unknown_field_says_so(aws: dict[str, Any]) -> None:
    _, body = call(post_solves(json.dumps({"wrokers": 4})))
    assert body["detail"] == "wrokers: unknown field"


@pytest.mark.parametrize("raw", ["[1, 2]", '"workers"', "not json", "", None, "\xff"])
def test_non_object_body_is_rejected(aws: dict[str, Any], raw: str | None) -> None:
    assert call(post_solves(raw)) == (400, {"error": "body must be a JSON object"})


def test_unknown_solve_is_404(aws: dict[str, Any]) -> None:
    assert call(get_solve("0" * 32)) == (404, {"error": "unknown solve id"})


@pytest.mark.parametrize("solve_id", ["abc", "0" * 31, "0" * 33, "G" * 32, "../" + "0" * 29])
def test_malformed_solve_id_is_400(aws: dict[str, Any], solve_id: str) -> None:
    status, body = call(get_solve(solve_id))
    assert status == 400
    assert "solve id" in body["error"]


def test_unknown_route_is_404(aws: dict[str, Any]) -> None:
    event = {**get_solve("0" * 32), "httpMethod": "PUT"}
    status, body = call(event)
    assert status == 404
    assert "PUT /solves/{id}" in body["error"]


def delete_solve(solve_id: str) -> dict[str, Any]:
    return {**get_solve(solve_id), "httpMethod": "DELETE"}


def test_cancel_a_queued_solve_at_once_and_refuse_an_ended_or_unknown_one(
    aws: dict[str, Any],
) -> None:
    _, body = call(post_solves(json.dumps({"workers": 2, "samples": 100})))
    solve_id = body["solve_id"]
    assert call(delete_solve(solve_id)) == (202, {"solve_id": solve_id, "status": "cancelled"})
    code, shown = call(get_solve(solve_id))
    assert (
        code == 200
        and shown["status"] == "cancelled"
        and shown["reason"] == "cancelled before it started"
    )
    marker = aws["s3"].get_object(Bucket=BUCKET, Key=f"results/{solve_id}/cancel")
    assert json.loads(marker["Body"].read())["solve_id"] == solve_id
    assert call(delete_solve(solve_id)) == (409, {"error": "the solve already ended: cancelled"})
    assert call(delete_solve("0" * 32)) == (404, {"error": "unknown solve id"})
