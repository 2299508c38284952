"""The runtime inside a local worker: imports the handler and serves invocations.

Run as a script by the runtime's interpreter (``python3.12 -S -u bootstrap.py``), so it uses
the standard library only and must not import the rest of this package. It mirrors what the
Lambda python runtime plus LocalStack's init do in a container:

1. import the handler named by ``_HANDLER`` (init phase); on failure post the error document
   to ``<LOCALSTACK_RUNTIME_ENDPOINT>/status/<id>/error`` and exit;
2. listen on a free loopback port and post it to ``.../status/<id>/ready``;
3. for each ``POST /invoke`` run ``handler(event, context)`` on the main thread and post the
   JSON result to ``.../invocations/<request id>/response``, or the error document to
   ``.../error``.

The executor enforces the timeout by killing this process, and reads stdout/stderr from a file.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The script's directory holds the plugin's other modules; user code must not see them.
_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _OWN_DIR:
    sys.path.pop(0)

ENDPOINT = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"]
RUNTIME_ID = os.environ["LOCALSTACK_RUNTIME_ID"]
PARENT_PID = int(os.environ.pop("LOCAL_LAMBDA_PARENT_PID", "0"))
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_invocations: queue.Queue[dict[str, Any]] = queue.Queue()
_request_id = threading.local()


class HandlerError(Exception):
    """An init or invoke failure, carrying Lambda's error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class LambdaContext:
    """The ``context`` argument of a handler (the attributes the python runtime provides)."""

    def __init__(self, event: dict[str, Any]) -> None:
        env = os.environ
        self.aws_request_id: str = event["invoke-id"]
        self.invoked_function_arn: str = event.get("invoked-function-arn", "")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        timeout_ms = int(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")) * 1000
        self._deadline_ms = int(event.get("deadline-ms") or time.time() * 1000 + timeout_ms)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the executor kills this invocation."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def post(path: str, body: bytes) -> None:
    """POST ``body`` to LocalStack's executor endpoint (``path`` relative to it)."""
    request = urllib.request.Request(
        f"{ENDPOINT}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    with _NO_PROXY.open(request, timeout=60) as response:
        response.read()


def error_document(error: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """Lambda's JSON error shape for an exception raised by user code."""
    error_type = error.error_type if isinstance(error, HandlerError) else type(error).__name__
    document: dict[str, Any] = {"errorMessage": str(error), "errorType": error_type}
    if request_id:
        document["requestId"] = request_id
    frames = traceback.extract_tb(error.__traceback__)
    document["stackTrace"] = [line for line in traceback.format_list(frames)]
    return document


def log_error(error: BaseException) -> None:
    """Print an error the way the python runtime logs it (``[ERROR] Type: message``)."""
    error_type = error.error_type if isinstance(error, HandlerError) else type(error).__name__
    lines = traceback.format_exception(error)
    print(f"[ERROR] {error_type}: {error}\n{''.join(lines)}", end="", flush=True)


def load_handler(spec: str) -> Any:
    """Import ``module.function`` (``dir/module.function`` too) as the python runtime does."""
    module_path, _, function_name = spec.rpartition(".")
    if not module_path or not function_name:
        raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{spec}'")
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except ImportError as error:
        message = f"Unable to import module '{module_path}': {error}"
        raise HandlerError("Runtime.ImportModuleError", message) from error
    except SyntaxError as error:
        message = f"Syntax error in module '{module_path}': {error}"
        raise HandlerError("Runtime.UserCodeSyntaxError", message) from error
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        raise HandlerError("Runtime.HandlerNotFound", message)
    return handler


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = getattr(_request_id, "value", "")
        return True


def configure_logging() -> None:
    """Root handler in the python runtime's text format; its level stays at WARNING."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)
    if level := os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
        logging.getLogger().setLevel(level.upper())


class _InvokeHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/invoke":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        _invocations.put(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access logs would end up in the function's CloudWatch logs


def run_invocation(handler: Any, event: dict[str, Any]) -> None:
    """Run one invocation and post its result or error."""
    request_id = event["invoke-id"]
    _request_id.value = request_id
    os.environ["_X_AMZN_TRACE_ID"] = event.get("trace-id") or ""
    raw_payload = event.get("payload") or "{}"
    try:
        result = handler(json.loads(raw_payload), LambdaContext(event))
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            raise HandlerError("Runtime.MarshalError", message) from error
    except Exception as error:
        log_error(error)
        sys.stderr.flush()
        document = error_document(error, request_id)
        post(f"/invocations/{request_id}/error", json.dumps(document).encode())
        return
    sys.stdout.flush()
    sys.stderr.flush()
    post(f"/invocations/{request_id}/response", body)


def watch_parent() -> None:
    """Exit if LocalStack died (the worker was re-parented): never outlive it."""
    while True:
        if PARENT_PID and os.getppid() != PARENT_PID:
            os._exit(1)
        time.sleep(1.0)


def main() -> None:
    """Init, report ready, then serve invocations one at a time."""
    threading.Thread(target=watch_parent, name="watch-parent", daemon=True).start()
    configure_logging()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as error:
        log_error(error)
        post(f"/status/{RUNTIME_ID}/error", json.dumps(error_document(error)).encode())
        sys.exit(1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InvokeHandler)
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()
    post(f"/status/{RUNTIME_ID}/ready", json.dumps({"port": server.server_address[1]}).encode())
    while True:
        run_invocation(handler, _invocations.get())


if __name__ == "__main__":
    main()
