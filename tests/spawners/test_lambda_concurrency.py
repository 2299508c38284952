"""The concurrency check before a Lambda solve, against moto's Lambda API.

moto implements ``GetFunctionConcurrency`` and ``PutFunctionConcurrency`` but not
``GetAccountSettings`` ("Not yet implemented"): the account path is tested against
LocalStack (``tests/integration/test_lambda_concurrency.py``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app
from scheduler_host.spawners.lambda_concurrency import (
    ConcurrencyExceeded,
    ConcurrencyLimit,
    check_concurrency,
)


@pytest.fixture
def lambda_client(mocked_aws: None) -> Iterator[Any]:
    role = boto3.client("iam").create_role(RoleName="worker", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    client = boto3.client("lambda")
    client.create_function(
        FunctionName="admm-worker",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    yield client


def test_workers_within_the_reserved_concurrency_pass(lambda_client: Any) -> None:
    lambda_client.put_function_concurrency(
        FunctionName="admm-worker", ReservedConcurrentExecutions=1024
    )
    found = check_concurrency(lambda_client, function_name="admm-worker", workers=1024)
    assert found == ConcurrencyLimit(limit=1024, source="reserved")


def test_workers_above_the_reserved_concurrency_are_refused(lambda_client: Any) -> None:
    lambda_client.put_function_concurrency(
        FunctionName="admm-worker", ReservedConcurrentExecutions=600
    )
    with pytest.raises(ConcurrencyExceeded) as raised:
        check_concurrency(lambda_client, function_name="admm-worker", workers=1024)
    assert str(raised.value) == (
        "workers: 1024 workers cannot run at once: the reserved concurrency of function "
        "'admm-worker' is 600 (raise it with `aws lambda put-function-concurrency`) "
        "(allowed: 1 to 600)"
    )


def test_the_cli_refuses_before_spawning(lambda_client: Any, tmp_path: Any) -> None:
    lambda_client.put_function_concurrency(
        FunctionName="admm-worker", ReservedConcurrentExecutions=8
    )
    result = CliRunner().invoke(
        app,
        [
            "solve",
            *("--samples", "200", "--features", "10", "--workers", "16"),
            *("--backend", "lambda", "--api", "https://api.invalid/prod"),
            *("--advertise-host", "10.0.0.5", "--function", "admm-worker"),
            *("--out", str(tmp_path / "out")),
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --workers: 16 workers cannot run at once: the reserved "
        "concurrency of function 'admm-worker' is 8 (raise it with `aws lambda "
        "put-function-concurrency`) (allowed: 1 to 8)"
    )
