"""LocalStack ``RuntimeExecutor`` running a Python function in a local subprocess.

One executor is one Lambda execution environment: LocalStack creates it, calls
:meth:`~LocalPythonRuntimeExecutor.start` with the environment variables it computed, sends it
one invocation at a time and stops it when the environment expires or LocalStack shuts down.

Timeouts are enforced here: when an invocation outlives the function's timeout the worker is
killed and the invocation fails with ``Sandbox.Timedout``; the next invocation re-initialises
a fresh worker, as Lambda re-initialises a timed-out sandbox. Each invocation's logs (the
worker's output framed by START/END/REPORT lines) go back to LocalStack in the
``InvocationResult``, which forwards them to CloudWatch Logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from lambda_admm_localstack import layout
from lambda_admm_localstack.endpoint import POLL_INTERVAL_S, LocalExecutorEndpoint
from lambda_admm_localstack.worker import WorkerProcess

LOG = logging.getLogger(__name__)

# Run as a script by the runtime's interpreter; never imported here (it reads its env at import).
BOOTSTRAP_SCRIPT = str(Path(__file__).resolve().with_name("bootstrap.py"))
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


class LocalPythonRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment of a python function as a local worker process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = LocalExecutorEndpoint(id)
        self.environment_dir = layout.state_root() / "environments" / id
        self.worker: WorkerProcess | None = None
        self._env_vars: dict[str, str] = {}
        self._retained_logs = ""
        self._stopped = False

    # Lifecycle
    def start(self, env_vars: dict[str, str]) -> None:
        """Spawn the worker and wait until the handler is imported."""
        self._env_vars = {key: str(value) for key, value in env_vars.items()}
        self._spawn_worker()

    def _spawn_worker(self) -> None:
        layout.merge_layers(self.function_version)  # no-op unless the dir was cleaned up
        interpreter = layout.interpreter_for(self.function_version.config.runtime)
        self.endpoint.start()
        self.worker = WorkerProcess(
            argv=[interpreter, "-S", "-u", BOOTSTRAP_SCRIPT],
            env=self._worker_env(interpreter),
            cwd=layout.code_dir(self.function_version),
            log_path=self.environment_dir / "output.log",
        )
        self.worker.start()
        if self._stopped:  # stop() ran while this thread was still preparing
            self.worker.kill()
        self.endpoint.wait_for_worker(self.worker, config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)

    def _worker_env(self, interpreter: str) -> dict[str, str]:
        """LocalStack's variables with the container paths replaced by host paths."""
        env = dict(self._env_vars)
        tmp_dir = self.environment_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        opt = layout.opt_dir(self.function_version)
        search_path = layout.python_path(self.function_version)
        if user_path := env.get("PYTHONPATH"):
            search_path.insert(0, user_path)
        # Bytecode may be cached (unlike Lambda's read-only /opt): layers are bundled with
        # --no-compile, and recompiling numpy/scipy in every new worker would cost CI minutes.
        env.update(
            PYTHONPATH=os.pathsep.join(search_path),
            PYTHONUNBUFFERED="1",
            PATH=os.pathsep.join(
                [str(Path(interpreter).parent), str(opt / "bin"), "/usr/local/bin:/usr/bin:/bin"]
            ),
            LANG="en_US.UTF-8",
            TMPDIR=str(tmp_dir),
            LAMBDA_TASK_ROOT=str(layout.code_dir(self.function_version)),
            LAMBDA_RUNTIME_DIR=str(Path(BOOTSTRAP_SCRIPT).parent),
            AWS_EXECUTION_ENV=f"AWS_Lambda_{self.function_version.config.runtime}",
            LOCAL_LAMBDA_PARENT_PID=str(os.getpid()),
        )
        return env

    def stop(self) -> None:
        """Kill the worker, unregister the endpoint and remove the environment's files."""
        self._stopped = True
        if self.worker is not None:
            self.worker.kill()
            self._retained_logs = self.worker.read_tail()
        try:
            self.endpoint.shutdown()
        except Exception as error:  # must not keep LocalStack from stopping other environments
            LOG.debug("Error shutting down the endpoint of executor %s: %s", self.id, error)
        shutil.rmtree(self.environment_dir, ignore_errors=True)

    # Invocation
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        """Run one invocation; never waits past the function's timeout."""
        request_id = payload["invoke-id"]
        if self.worker is None or not self.worker.is_alive():
            try:
                self._spawn_worker()  # the previous worker timed out or crashed
            except StatusErrorException as error:
                return self._result(
                    request_id, payload=error.payload, is_error=True, started=time.monotonic()
                )
        assert self.worker is not None
        timeout_s = float(self.function_version.config.timeout)
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        future = self.endpoint.dispatch({**payload, "deadline-ms": deadline_ms})
        outcome = self._await(future, self.worker, started + timeout_s)
        if outcome is not None:
            return self._result(
                request_id, payload=outcome.payload, is_error=outcome.is_error, started=started
            )
        self.endpoint.abandon()
        if self.worker.is_alive():
            self.worker.kill()
            message = f"Task timed out after {timeout_s:.2f} seconds"
            status = "Status: timeout"
            error_type = "Sandbox.Timedout"
        else:
            message = f"Runtime exited with error: exit status {self.worker.exit_code()}"
            status = "Status: error\tError Type: Runtime.ExitError"
            error_type = "Runtime.ExitError"
        document = {
            "errorType": error_type,
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return self._result(
            request_id,
            payload=json.dumps(document).encode(),
            is_error=True,
            started=started,
            status=status,
            note=f"{stamp} {request_id} {message}\n",
        )

    @staticmethod
    def _await(
        future: Future[InvocationResult], worker: WorkerProcess, deadline: float
    ) -> InvocationResult | None:
        """The result, or None if the deadline passed or the worker died without one."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return future.result() if future.done() else None
            try:
                return future.result(timeout=min(POLL_INTERVAL_S, remaining))
            except TimeoutError:
                pass
            # The worker posts before it can exit, so check the future once more.
            if not worker.is_alive():
                return future.result() if future.done() else None

    def _result(
        self,
        request_id: str,
        *,
        payload: bytes | None,
        is_error: bool,
        started: float,
        status: str = "",
        note: str = "",
    ) -> InvocationResult:
        """Wrap a result with the invocation's logs in Lambda's START/END/REPORT framing."""
        duration_ms = (time.monotonic() - started) * 1000
        output = self.worker.read_new_output() if self.worker else ""
        if output and not output.endswith("\n"):
            output += "\n"
        peak = self.worker.peak_memory_mb() if self.worker else None
        report = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {self.function_version.config.memory_size} MB",
            f"Max Memory Used: {peak if peak is not None else '?'} MB",
        ]
        if status:
            report.append(status)
        logs = (
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            f"{output}{note}END RequestId: {request_id}\n" + "\t".join(report) + "\n"
        )
        return InvocationResult(request_id, payload, is_error=is_error, logs=logs)

    # Addresses
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        host = config.GATEWAY_LISTEN[0].host
        return "127.0.0.1" if host in _ANY_ADDRESS else host

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        prefix = self.endpoint.get_endpoint_prefix()
        return f"http://{self.get_endpoint_from_executor()}:{port}{prefix}"

    def get_logs(self) -> str:
        if self.worker is not None and self.worker.is_alive():
            return self.worker.read_tail()
        return self._retained_logs

    # Per function version
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        layout.prepare(function_version)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        layout.cleanup(function_version)

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            layout.interpreter_for("python3.12")
        except LambdaRuntimeException as error:
            LOG.warning("Local Lambda executor: %s", error)
            return False
        return True
