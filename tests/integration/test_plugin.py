"""The local Lambda runtime executor, end to end: real LocalStack, real worker subprocesses.

One function (runtime python3.12, two layers) is created from zips built here; its handler
dispatches on ``event["action"]``, so every test reuses the same execution environment, as an
ADMM run reuses its workers.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.localstack import LocalStack

pytestmark = pytest.mark.integration

TIMEOUT_S = 2
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

HANDLER_SOURCE = (Path(__file__).parent / "plugin_handler.py").read_text()


def zipped(files: dict[str, str]) -> bytes:
    """A zip archive holding ``files`` (name -> text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def wait_for(check: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def lambda_client(localstack: LocalStack) -> Any:
    return localstack.client("lambda")


@pytest.fixture(scope="module")
def function_name(lambda_client: Any) -> Iterator[str]:
    """The test function, with layer A (``somepkg``) and layer B (overrides ``flavor``)."""
    suffix = uuid.uuid4().hex[:8]
    layer_a = lambda_client.publish_layer_version(
        LayerName=f"somepkg-{suffix}",
        Content={
            "ZipFile": zipped(
                {
                    "python/somepkg/__init__.py": "def double(x):\n    return 2 * x\n",
                    "python/somepkg/flavor.py": "NAME = 'a'\n",
                }
            )
        },
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]
    layer_b = lambda_client.publish_layer_version(
        LayerName=f"flavor-{suffix}",
        Content={"ZipFile": zipped({"python/somepkg/flavor.py": "NAME = 'b'\n"})},
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]
    name = f"plugin-test-{suffix}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.dispatch",
        Code={"ZipFile": zipped({"app.py": HANDLER_SOURCE})},
        Layers=[layer_a, layer_b],
        Timeout=TIMEOUT_S,
        Environment={"Variables": {"SOLVER_MODE": "test", "ANSWER": "42"}},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    yield name
    lambda_client.delete_function(FunctionName=name)


def invoke(client: Any, name: str, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Invoke synchronously; the response with ``Payload`` decoded from JSON."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    response["Payload"] = json.loads(response["Payload"].read() or b"null")
    return response


def test_request_response_runs_handler_with_layers(lambda_client: Any, function_name: str):
    response = invoke(lambda_client, function_name, {"action": "compute", "x": 21})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, response["Payload"]
    result = response["Payload"]
    assert result["doubled"] == 42
    assert result["flavor"] == "b", "a later layer must overwrite an earlier one, as in /opt"
    assert result["python"] == [3, 12]
    path = result["path"]
    layer_dir = next(i for i, entry in enumerate(path) if entry.endswith("/opt/python"))
    sdk_dir = next(i for i, entry in enumerate(path) if "lambda-sdk" in entry)
    assert path[0].endswith("/code") and 0 < layer_dir < sdk_dir, path
    assert "/opt/python/somepkg/" in result["somepkg_file"]
    assert "lambda-sdk" in result["boto3_file"], "boto3 must come from the runtime SDK dir"


def test_environment_reaches_handler(localstack: LocalStack, lambda_client: Any, function_name):
    names = ["SOLVER_MODE", "ANSWER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_ENDPOINT_URL"]
    names += ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    env = invoke(lambda_client, function_name, {"action": "environment", "names": names})
    env = env["Payload"]
    assert env["SOLVER_MODE"] == "test" and env["ANSWER"] == "42"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == function_name
    assert env["AWS_REGION"] == localstack.region
    assert env["AWS_ENDPOINT_URL"] == localstack.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]


def test_event_invoke_runs_handler_which_uses_boto3(
    localstack: LocalStack, lambda_client: Any, function_name: str
):
    s3 = localstack.client("s3")
    bucket = f"plugin-test-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    event = {"action": "write_object", "bucket": bucket, "key": "result.json"}
    response = lambda_client.invoke(
        FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    assert response["StatusCode"] == 202

    def written() -> dict[str, Any] | None:
        listing = s3.list_objects_v2(Bucket=bucket)
        if listing.get("KeyCount", 0) == 0:
            return None
        return json.loads(s3.get_object(Bucket=bucket, Key="result.json")["Body"].read())

    body = wait_for(written, what="the object written by the async invocation")
    assert body["request_id"]
    assert "lambda-sdk" in body["boto3_file"]


def test_timeout_is_enforced_and_environment_recovers(lambda_client: Any, function_name: str):
    started = time.monotonic()
    response = invoke(lambda_client, function_name, {"action": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started
    assert response.get("FunctionError") == "Unhandled"
    assert response["Payload"]["errorType"] == "Sandbox.Timedout"
    assert f"Task timed out after {TIMEOUT_S:.2f} seconds" in response["Payload"]["errorMessage"]
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 10
    # The killed worker is replaced by a fresh one on the next invocation.
    again = invoke(lambda_client, function_name, {"action": "sleep", "seconds": 0})
    assert "FunctionError" not in again and again["Payload"] == "slept"


def test_handler_exception_is_an_unhandled_function_error(lambda_client: Any, function_name):
    response = invoke(lambda_client, function_name, {"action": "fail", "message": "bad shard 7"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "ValueError"
    assert response["Payload"]["errorMessage"] == "bad shard 7"
    assert response["Payload"]["stackTrace"]


def test_remaining_time_counts_down_from_the_timeout(lambda_client: Any, function_name: str):
    before, after = invoke(lambda_client, function_name, {"action": "remaining"})["Payload"]
    assert 0 < before <= TIMEOUT_S * 1000
    assert 0 <= after <= before - 250, (before, after)


def test_output_goes_to_cloudwatch_logs(
    localstack: LocalStack, lambda_client: Any, function_name: str
):
    token = uuid.uuid4().hex
    response = invoke(
        lambda_client, function_name, {"action": "log", "token": token}, LogType="Tail"
    )
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"stdout {token}" in tail and f"stderr {token}" in tail
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail

    logs = localstack.client("logs")
    group = f"/aws/lambda/{function_name}"

    def logged() -> list[str]:
        try:
            events = logs.filter_log_events(logGroupName=group, filterPattern=token)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [event["message"] for event in events]

    messages = wait_for(logged, what=f"log lines with {token} in {group}")
    assert any(f"stdout {token}" in message for message in messages)
    assert any(f"stderr {token}" in message for message in messages)


def test_import_error_is_reported_as_function_error(lambda_client: Any):
    name = f"plugin-broken-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zipped({"app.py": "import not_a_module_anywhere\n"})},
        Timeout=TIMEOUT_S,
    )
    try:
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        response = invoke(lambda_client, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert response["Payload"]["errorType"] == "Runtime.ImportModuleError"
        assert "not_a_module_anywhere" in response["Payload"]["errorMessage"]
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_concurrent_invocations_run_in_separate_workers(lambda_client: Any, function_name: str):
    def run(_: int) -> dict[str, Any]:
        return invoke(lambda_client, function_name, {"action": "pid", "seconds": 1})

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(run, range(4)))
    assert all("FunctionError" not in response for response in responses), responses
    worker_pids = {response["Payload"] for response in responses}
    # Busy environments are not shared: LocalStack starts more (4 unless one finished early).
    assert len(worker_pids) >= 2, worker_pids
