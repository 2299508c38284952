"""The intake Lambda: ``POST /solves`` and ``GET /solves/{id}`` (API Gateway REST proxy events).

``POST /solves`` validates the body as a :class:`SolveSpec` (errors name the field), records
a queued :class:`SolveStatus` at ``results/<id>/status.json`` and sends a :class:`JobMessage`
to the job queue that the scheduler host consumes.  ``GET /solves/{id}`` returns that status
object, validated, as the host keeps it up to date.  Environment: ``BUCKET_NAME``, ``QUEUE_URL``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import uuid
from typing import Any

from pydantic import ValidationError

from scheduler_host.jobs import (
    SOLVE_ID_PATTERN,
    CancelRequest,
    JobMessage,
    SolveState,
    SolveStatus,
    cancel_key,
    now,
    status_key,
)
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

log = logging.getLogger("lambda_admm.intake")
log.setLevel(logging.INFO)

SOLVE_ID = re.compile(SOLVE_ID_PATTERN)
_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    """One boto3 client per service and container; boto3 is imported on first use."""
    if service not in _clients:
        import boto3

        _clients[service] = boto3.client(service)  # type: ignore[call-overload]
    return _clients[service]


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def submit(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return _response(400, {"error": "body must be a JSON object"})
    try:
        spec = SolveSpec.model_validate(body)
    except ValidationError as error:
        detail = describe_validation_error(error)
        log.info("rejected solve spec", extra={"detail": detail})
        return _response(400, {"error": "invalid solve spec", "detail": detail})

    solve_id = uuid.uuid4().hex
    submitted_at = now()
    status = SolveStatus(
        solve_id=solve_id,
        status=SolveState.QUEUED,
        spec=spec,
        submitted_at=submitted_at,
        updated_at=submitted_at,
    )
    # Status first: a job the host receives always has a status object to update.
    _client("s3").put_object(
        Bucket=os.environ["BUCKET_NAME"],
        Key=status_key(solve_id),
        Body=status.to_json().encode(),
        ContentType="application/json",
    )
    _client("sqs").send_message(
        QueueUrl=os.environ["QUEUE_URL"],
        MessageBody=JobMessage(solve_id=solve_id, spec=spec).model_dump_json(),
    )
    log.info("queued solve", extra={"solve_id": solve_id, "workers": spec.workers})
    return _response(202, {"solve_id": solve_id})


def status(solve_id: str | None) -> dict[str, Any]:
    if solve_id is None or not SOLVE_ID.match(solve_id):
        return _response(400, {"error": "solve id must be 32 lowercase hex characters"})
    s3 = _client("s3")
    try:
        answer = s3.get_object(Bucket=os.environ["BUCKET_NAME"], Key=status_key(solve_id))
    except s3.exceptions.NoSuchKey:
        return _response(404, {"error": "unknown solve id"})
    try:
        current = SolveStatus.model_validate_json(answer["Body"].read())
    except ValidationError as error:
        detail = describe_validation_error(error)
        log.error("invalid status object", extra={"solve_id": solve_id, "detail": detail})
        return _response(500, {"error": "invalid status object", "detail": detail})
    return _response(200, current.model_dump(mode="json", exclude_none=True))


def cancel(solve_id: str | None) -> dict[str, Any]:
    """Leave a cancel marker for the host (202); a queued solve is cancelled here at once."""
    answer = status(solve_id)
    if answer["statusCode"] != 200:
        return answer
    current = SolveStatus.model_validate_json(answer["body"])
    if current.finished:
        return _response(409, {"error": f"the solve already ended: {current.status}"})
    bucket, s3 = os.environ["BUCKET_NAME"], _client("s3")
    request = CancelRequest(solve_id=current.solve_id, requested_at=now())
    s3.put_object(Bucket=bucket, Key=cancel_key(current.solve_id), Body=request.model_dump_json())
    if current.status is not SolveState.QUEUED:
        return _response(202, {"solve_id": current.solve_id, "status": "cancelling"})
    cancelled = current.advance(
        status=SolveState.CANCELLED,
        reason="cancelled before it started",
        finished_at=now(),
        updated_at=now(),
    )
    s3.put_object(Bucket=bucket, Key=status_key(current.solve_id), Body=cancelled.to_json())
    return _response(202, {"solve_id": current.solve_id, "status": "cancelled"})


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Route a REST API proxy event by its resource template and method."""
    route = (event.get("httpMethod"), event.get("resource"))
    if route == ("POST", "/solves"):
        return submit(event)
    if route == ("GET", "/solves/{id}"):
        return status((event.get("pathParameters") or {}).get("id"))
    if route == ("DELETE", "/solves/{id}"):
        return cancel((event.get("pathParameters") or {}).get("id"))
    return _response(404, {"error": f"no route for {route[0]} {route[1]}"})
