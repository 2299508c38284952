"""LocalStack's executor endpoint, adapted to a local subprocess.

The protocol is the one LocalStack's Docker executor speaks with its init binary:

- the worker posts ``<runtime endpoint>/status/<id>/ready`` once the handler is imported (or
  ``.../status/<id>/error`` with an error document if that failed);
- LocalStack posts each invocation to ``http://<worker>/invoke``;
- the worker posts the result to ``.../invocations/<request id>/response`` or ``.../error``.

Differences from the stock endpoint: the worker listens on a port it picks itself and reports
in its ready message (no port race), waiting never blocks on a dead worker, results for a
request other than the current one are refused, and the caller enforces the timeout.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import CancelledError, Future
from http import HTTPStatus

from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    InvokeSendError,
    ShutdownDuringStartup,
)
from localstack.services.lambda_.invocation.lambda_models import InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException
from werkzeug import Request

from lambda_admm_localstack.worker import WorkerProcess

POLL_INTERVAL_S = 0.1


class LocalExecutorEndpoint(ExecutorEndpoint):
    """Executor endpoint of one local worker (see the module docstring)."""

    startup_future: Future[bool] | None
    invocation_future: Future[InvocationResult] | None

    def __init__(self, executor_id: str) -> None:
        super().__init__(executor_id, container_address="127.0.0.1", container_port=None)
        self._lock = threading.Lock()
        self._current_request_id: str | None = None

    # Routes called by the worker (through LocalStack's gateway).
    def status_ready(self, request: Request, executor_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        port = body.get("port")
        if not isinstance(port, int):
            return Response("ready message without a port", status=HTTPStatus.BAD_REQUEST)
        self.container_port = port
        return super().status_ready(request, executor_id)

    def invocation_response(self, request: Request, req_id: str) -> Response:
        return self._complete(req_id, request.data, is_error=False)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        return self._complete(req_id, request.data, is_error=True)

    def _complete(self, req_id: str, payload: bytes, *, is_error: bool) -> Response:
        with self._lock:
            future = self.invocation_future
            if req_id != self._current_request_id or future is None or future.done():
                return Response(f"no invocation {req_id} pending", status=HTTPStatus.CONFLICT)
            future.set_result(InvocationResult(req_id, payload, is_error=is_error, logs=None))
        return Response(status=HTTPStatus.ACCEPTED)

    # Calls made by the executor.
    def wait_for_worker(self, worker: WorkerProcess, timeout_s: float) -> None:
        """Block until the worker reported ready, failed, died or ``timeout_s`` passed.

        Raises
        ------
        StatusErrorException
            The worker reported an init error (its payload is the error document).
        ShutdownDuringStartup
            The environment was stopped meanwhile.
        LambdaRuntimeException
            The worker exited without a word, or did not get ready in time.
        """
        future = self.startup_future
        if future is None:
            raise LambdaRuntimeException("wait_for_worker called before start")
        waited = 0.0
        while True:
            try:
                future.result(timeout=POLL_INTERVAL_S)
                return
            except CancelledError as error:
                raise ShutdownDuringStartup("Local worker stopped during startup") from error
            except TimeoutError:
                waited += POLL_INTERVAL_S
            # The worker posts its init error before it exits, so a finished future wins.
            if not worker.is_alive() and not future.done():
                raise LambdaRuntimeException(
                    f"Local worker exited during startup (status {worker.exit_code()}):\n"
                    f"{worker.read_tail(4000)}"
                )
            if waited >= timeout_s and not future.done():
                raise LambdaRuntimeException(f"Local worker not ready after {timeout_s:.0f} s")

    def dispatch(self, payload: dict[str, object]) -> Future[InvocationResult]:
        """Send one invocation to the worker and return the future of its result."""
        future: Future[InvocationResult] = Future()
        with self._lock:
            self.invocation_future = future
            self._current_request_id = str(payload["invoke-id"])
        url = f"http://{self.container_address}:{self.container_port}/invoke"
        response = self._perform_invoke(
            invocation_url=url, proxies={"http": "", "https": ""}, payload=payload
        )
        if not response.ok:
            raise InvokeSendError(f"Local worker refused the invocation: {response.status_code}")
        return future

    def abandon(self) -> None:
        """Forget the current invocation: a late result for it is refused."""
        with self._lock:
            self._current_request_id = None
            self.invocation_future = None

    def shutdown(self) -> None:
        """Unregister from the router and cancel whatever is still waited for."""
        if self.startup_future is None:
            self.startup_future = Future()
        with contextlib.suppress(KeyError):  # never registered: start() was not reached
            super().shutdown()
