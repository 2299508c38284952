"""The API Gateway spawner against a real local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from runtime.specs import WorkerAssignment
from scheduler_host.spawners.api_gateway import ApiGatewaySpawner, RetryPolicy
from scheduler_host.spawners.base import SpawnFailure
from tests.spawners.assignments import assignments

CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "secret-key-example", "session-token")
REGION = "eu-north-1"


class _FakeTriggerApi(ThreadingHTTPServer):
    """Answers POST /workers like API Gateway would, with scripted failures."""

    def __init__(self, *, fail_first: int, fail_status: int, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.lock = threading.Lock()
        self.attempts: Counter[int] = Counter()
        self.bodies: dict[int, dict] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.bad_signatures = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/prod/workers"


class _Handler(BaseHTTPRequestHandler):
    server: _FakeTriggerApi

    def log_message(self, *args: object) -> None:
        pass

    def _signature_is_valid(self, body: bytes) -> bool:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"):
            return False
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        request = AWSRequest(
            method="POST",
            url=f"http://{self.headers['Host']}{self.path}",
            data=body,
            headers={name: self.headers[name] for name in signed if name != "host"},
        )
        request.context["timestamp"] = self.headers["X-Amz-Date"]
        signer = SigV4Auth(CREDENTIALS, "execute-api", REGION)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return authorization.endswith(f"Signature={expected}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        time.sleep(server.delay)
        assignment = json.loads(body)
        index = assignment["worker_index"]
        with server.lock:
            server.in_flight -= 1
            server.attempts[index] += 1
            failing = server.attempts[index] <= server.fail_first
            if not self._signature_is_valid(body):
                server.bad_signatures += 1
            if self.headers.get("X-Amz-Security-Token") != "session-token":
                server.bad_signatures += 1
            server.bodies[index] = assignment
        status = server.fail_status if failing else 202
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"message": "scripted"}')


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[_FakeTriggerApi]:
    server = _FakeTriggerApi(**request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _assignments(count: int) -> list[WorkerAssignment]:
    return assignments(count, front="tcp://10.0.0.1:5555", broadcast="tcp://10.0.0.1:5556")


def _spawner(api: _FakeTriggerApi, **kwargs: object) -> ApiGatewaySpawner:
    return ApiGatewaySpawner(
        workers_url=api.url, region=REGION, credentials=CREDENTIALS, seed=0, **kwargs
    )


def _failures_of_spawning(api: _FakeTriggerApi, count: int, **kwargs: object) -> list[SpawnFailure]:
    """Spawn ``count`` workers through ``api``, wait for every request, close: the failures
    by worker index."""
    spawner = _spawner(api, **kwargs)
    spawner.spawn(_assignments(count))
    spawner.wait()
    failures = sorted(spawner.failures(), key=lambda failure: failure.worker_index)
    spawner.close()
    return failures


@pytest.mark.parametrize(
    "api", [{"fail_first": 0, "fail_status": 202, "delay": 0.1}], indirect=True
)
def test_every_worker_gets_one_signed_post_with_its_assignment(api: _FakeTriggerApi) -> None:
    spawner = _spawner(api, max_concurrency=3)
    spawner.spawn(_assignments(12))
    spawner.wait()
    assert spawner.failures() == []
    spawner.close()
    assert api.bad_signatures == 0
    assert sorted(api.attempts) == list(range(12)) and set(api.attempts.values()) == {1}
    assert api.bodies[7]["row_start"] == 70 and api.bodies[7]["scheduler"]["front"].endswith(
        ":5555"
    )
    assert api.max_in_flight == 3  # bounded, and the bound is actually used


@pytest.mark.parametrize(
    "api", [{"fail_first": 2, "fail_status": 429, "delay": 0.0}], indirect=True
)
def test_throttled_requests_are_retried(api: _FakeTriggerApi) -> None:
    retry = RetryPolicy(max_attempts=5, base_seconds=0.01)
    assert _failures_of_spawning(api, 4, retry=retry) == []
    assert dict(api.attempts) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert api.bad_signatures == 0  # each retry is freshly signed


@pytest.mark.parametrize(
    "api", [{"fail_first": 99, "fail_status": 503, "delay": 0.0}], indirect=True
)
def test_a_worker_that_cannot_be_spawned_is_reported(api: _FakeTriggerApi) -> None:
    failures = _failures_of_spawning(api, 2, retry=RetryPolicy(max_attempts=3, base_seconds=0.01))
    assert [failure.worker_index for failure in failures] == [0, 1]
    assert failures[0].reason == (
        'POST /workers for worker 0 failed: HTTP 503: {"message": "scripted"}'
    )
    assert dict(api.attempts) == {0: 3, 1: 3}


@pytest.mark.parametrize(
    "api", [{"fail_first": 99, "fail_status": 403, "delay": 0.0}], indirect=True
)
def test_client_errors_are_not_retried(api: _FakeTriggerApi) -> None:
    [failure] = _failures_of_spawning(api, 1)
    assert failure.reason == 'POST /workers for worker 0 failed: HTTP 403: {"message": "scripted"}'
    assert dict(api.attempts) == {0: 1}


def test_unreachable_api_is_reported_after_bounded_retries() -> None:
    spawner = ApiGatewaySpawner(
        workers_url="http://127.0.0.1:9/prod/workers",
        region=REGION,
        credentials=CREDENTIALS,
        retry=RetryPolicy(max_attempts=2, base_seconds=0.01),
    )
    spawner.spawn(_assignments(1))
    spawner.wait()
    assert spawner.failures()[0].reason == (
        "POST /workers for worker 0 failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )
    spawner.close()
