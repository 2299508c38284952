"""The concurrency check before a Lambda solve, against LocalStack's Lambda API.

moto has no ``GetAccountSettings``; LocalStack has both calls the check makes, so the account
path and the reserved path run here against a real implementation of the API.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from scheduler_host.spawners.lambda_concurrency import (
    ConcurrencyExceeded,
    ConcurrencyLimit,
    check_concurrency,
    concurrency_limit,
)
from tests.integration.localstack import LocalStack

pytestmark = pytest.mark.integration

FUNCTION = "admm-concurrency-check"


def _create_function(localstack: LocalStack) -> None:
    role = localstack.client("iam").create_role(
        RoleName=f"{FUNCTION}-role", AssumeRolePolicyDocument="{}"
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    localstack.client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )


def test_the_account_limit_then_the_reserved_one_bound_the_workers(
    localstack: LocalStack,
) -> None:
    _create_function(localstack)
    client = localstack.client("lambda")
    try:
        account = concurrency_limit(client, function_name=FUNCTION)
        assert account.source == "account" and account.limit > 0
        assert check_concurrency(client, function_name=FUNCTION, workers=account.limit) == account
        with pytest.raises(ConcurrencyExceeded) as raised:
            check_concurrency(client, function_name=FUNCTION, workers=account.limit + 1)
        assert str(raised.value) == (
            f"workers: {account.limit + 1} workers cannot run at once: function "
            f"'{FUNCTION}' has no reserved concurrency and the account leaves {account.limit} "
            "unreserved (reserve concurrency for it, or ask AWS for a higher account limit) "
            f"(allowed: 1 to {account.limit})"
        )
        client.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=64)
        assert check_concurrency(client, function_name=FUNCTION, workers=64) == (
            ConcurrencyLimit(limit=64, source="reserved")
        )
        with pytest.raises(ConcurrencyExceeded, match=r"\(allowed: 1 to 64\)$"):
            check_concurrency(client, function_name=FUNCTION, workers=65)
    finally:
        client.delete_function(FunctionName=FUNCTION)
