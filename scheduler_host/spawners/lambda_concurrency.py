"""Before a Lambda solve: can the worker function run W copies at once?

A consensus ADMM iteration needs all W workers alive together.  Lambda throttles
invocations beyond the function's reserved concurrency, or, with none reserved, beyond
what the account leaves unreserved; an asynchronous invoke that is throttled is retried
by Lambda for up to six hours, so a solve asking for more would hang half-spawned until
its join deadline.  Lithops and PyWren users meet this at 600 to 1,000 functions.  So the
host asks first (``GetFunctionConcurrency``, else ``GetAccountSettings``) and refuses a
W above the limit with an error naming ``workers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConcurrencyExceeded(ValueError):
    """W exceeds the number of worker functions that may run at once."""


@dataclass(frozen=True)
class ConcurrencyLimit:
    """How many copies of the function may run at once, and where that number comes from."""

    limit: int
    source: str  # "reserved" or "account"


def concurrency_limit(lambda_client: Any, *, function_name: str) -> ConcurrencyLimit:
    """The function's reserved concurrency, or (none reserved) the account's unreserved one."""
    reserved = lambda_client.get_function_concurrency(FunctionName=function_name).get(
        "ReservedConcurrentExecutions"
    )
    if reserved is not None:
        return ConcurrencyLimit(limit=int(reserved), source="reserved")
    account = lambda_client.get_account_settings()["AccountLimit"]
    return ConcurrencyLimit(limit=int(account["UnreservedConcurrentExecutions"]), source="account")


def check_concurrency(lambda_client: Any, *, function_name: str, workers: int) -> ConcurrencyLimit:
    """The limit, or :class:`ConcurrencyExceeded` if ``workers`` is above it."""
    found = concurrency_limit(lambda_client, function_name=function_name)
    if workers <= found.limit:
        return found
    if found.source == "reserved":
        where = (
            f"the reserved concurrency of function {function_name!r} is {found.limit} "
            "(raise it with `aws lambda put-function-concurrency`)"
        )
    else:
        where = (
            f"function {function_name!r} has no reserved concurrency and the account leaves "
            f"{found.limit} unreserved (reserve concurrency for it, or ask AWS for a higher "
            "account limit)"
        )
    raise ConcurrencyExceeded(
        f"workers: {workers} workers cannot run at once: {where} (allowed: 1 to {found.limit})"
    )
