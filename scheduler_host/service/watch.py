"""While a job runs: keep its SQS lease and watch for a cancel request, on a thread of its own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger("lambda_admm.service")


class JobWatch:
    """Renews the message's visibility every third of ``visibility_seconds`` and asks
    ``cancel_requested()`` every ``cancel_poll_seconds``; :attr:`cancelled` is set once it
    says yes.  An error of either call is logged and tried again at the next turn: the lease
    has two more renewals to go, and a cancel is noticed a little later.
    """

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        receipt_handle: str,
        visibility_seconds: int,
        cancel_requested: Callable[[], bool],
        cancel_poll_seconds: float,
    ) -> None:
        self._sqs, self._queue_url, self._receipt = sqs, queue_url, receipt_handle
        self._visibility = visibility_seconds
        self._cancel_requested = cancel_requested
        self._poll = cancel_poll_seconds
        self.cancelled = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-watch", daemon=True)

    def __enter__(self) -> JobWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        renew_at = time.monotonic() + self._visibility / 3
        while not self._done.wait(min(self._poll, max(0.0, renew_at - time.monotonic()))):
            if time.monotonic() >= renew_at:
                renew_at = time.monotonic() + self._visibility / 3
                try:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue_url,
                        ReceiptHandle=self._receipt,
                        VisibilityTimeout=self._visibility,
                    )
                except Exception as error:
                    log.warning("could not renew the job's lease: %s", error)
            if not self.cancelled.is_set():
                try:
                    if self._cancel_requested():
                        self.cancelled.set()
                except Exception as error:
                    log.warning("could not check for a cancel request: %s", error)
