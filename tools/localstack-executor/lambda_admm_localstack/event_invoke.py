"""Asynchronous (``Event``) invocations as Lambda runs them: once each, many at a time.

LocalStack (2026.3) runs each Event invocation from a per-function poller that calls ``Invoke``
(``RequestResponse``) on itself, on a thread pool. Two of its settings break long-running async
functions such as an ADMM worker, which lives as long as its solve:

- the poller's boto3 client has botocore's defaults: a 60 s read timeout and up to 4 retries.
  An invocation that runs longer than a minute is invoked again (same request id) while the
  first one still runs, up to 5 times, and then re-queued as a "system error". Lambda runs an
  Event invocation once and retries only function errors (``MaximumRetryAttempts``);
- the pool has ``min(32, CPUs + 4)`` threads, so on a 2-core machine at most 6 Event
  invocations of one function run at once and the rest wait, however long; Lambda's limit is
  the account's concurrency.

This hook, run at LocalStack's start, gives each poller a client whose read timeout is the
function's timeout plus :data:`READ_MARGIN_S`, with no retries, and a pool of
:data:`EVENT_CONCURRENCY` threads (``LOCAL_LAMBDA_EVENT_CONCURRENCY`` overrides it).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from localstack.aws.connect import connect_to
from localstack.runtime import hooks
from localstack.services.lambda_.invocation import event_manager

LOG = logging.getLogger(__name__)
READ_MARGIN_S = 60
EVENT_CONCURRENCY = 64


def _concurrency() -> int:
    value = os.environ.get("LOCAL_LAMBDA_EVENT_CONCURRENCY", "")
    return int(value) if value.isdigit() and int(value) > 0 else EVENT_CONCURRENCY


def patch_poller(poller_class: Any) -> None:
    """Wrap ``Poller.__init__`` to replace its client and thread pool (idempotent)."""
    original = poller_class.__init__
    if getattr(original, "lambda_admm_patched", False):
        return

    def patched_init(self: Any, version_manager: Any, event_queue_url: str) -> None:
        original(self, version_manager, event_queue_url)
        function_version = version_manager.function_version
        function_id = function_version.id
        config = Config(
            connect_timeout=5,
            read_timeout=int(function_version.config.timeout) + READ_MARGIN_S,
            retries={"max_attempts": 0},
        )
        self.lambda_client = connect_to(
            aws_access_key_id=function_id.account, region_name=function_id.region, config=config
        ).lambda_
        self.invoker_pool.shutdown(wait=False)
        self.invoker_pool = ThreadPoolExecutor(
            max_workers=_concurrency(),
            thread_name_prefix=f"lambda-invoker-{function_id.function_name}:"
            f"{function_id.qualifier}",
        )

    patched_init.lambda_admm_patched = True  # type: ignore[attr-defined]
    poller_class.__init__ = patched_init


@hooks.on_infra_start()
def run_event_invocations_once() -> None:
    """Patch LocalStack's Event-invocation poller (see the module docstring)."""
    poller = getattr(event_manager, "Poller", None)
    if poller is None or "invoker_pool" not in poller.__annotations__:
        LOG.warning("LocalStack's event_manager.Poller changed: Event invocations left unpatched")
        return
    patch_poller(poller)
