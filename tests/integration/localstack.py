"""Start and stop a LocalStack for the integration tests, without Docker.

LocalStack runs in host mode from its own Python 3.13 venv (``build/localstack-venv``, made by
``make localstack``), with Lambda functions executed by the ``local-python`` runtime executor
plugin from ``tools/localstack-executor``. Every instance gets a fresh state directory under
``build/localstack-state/`` and a log file under ``build/localstack-logs/``.

LocalStack is started in its own session, so that one signal to its process group reaches it
and all its Lambda workers. :meth:`LocalStack.stop` sends SIGTERM to that group, waits, then
sends SIGKILL; an ``atexit`` guard stops whatever is still running when the interpreter exits,
and the plugin's watchdog stops LocalStack if this process is killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK_VENV = REPO_ROOT / "build" / "localstack-venv"
STATE_ROOT = REPO_ROOT / "build" / "localstack-state"
LOG_ROOT = REPO_ROOT / "build" / "localstack-logs"
EXECUTOR_NAME = "local-python"
REGION = "us-east-1"
DEFAULT_PORT = 4566
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
AFTER_GATEWAY_GRACE_S = 1.5

_running: list[LocalStack] = []


class LocalStackError(RuntimeError):
    """LocalStack could not be installed, started or stopped."""


@dataclass
class LocalStack:
    """A running LocalStack instance and how to talk to it."""

    endpoint_url: str
    port: int
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    region: str = REGION
    aws_access_key_id: str = "test"
    aws_secret_access_key: str = "test"
    _stopped: bool = field(default=False, repr=False)

    @property
    def process_group(self) -> int:
        """Process group id of LocalStack and its Lambda workers (LocalStack's pid)."""
        return self.process.pid

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` talking to this instance."""
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=120)
        make_client: Any = boto3.client  # the stubs only accept literal service names
        return make_client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            config=kwargs.pop("config", config),
            **kwargs,
        )

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of LocalStack's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the process group, wait up to ``timeout_s``, then SIGKILL it. Idempotent.

        LocalStack closes its gateway only after it stopped all services. A thread still
        retrying a call against the closed gateway (e.g. the Lambda log forwarder right after
        an invocation) can keep the interpreter alive for many seconds more, so once the port
        is closed LocalStack gets :data:`AFTER_GATEWAY_GRACE_S` to exit before the SIGKILL.
        """
        if self._stopped:
            return
        _signal_group(self.process_group, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        gateway_closed_at: float | None = None
        while self.process.poll() is None and time.monotonic() < deadline:
            if gateway_closed_at is None and not port_in_use(self.port):
                gateway_closed_at = time.monotonic()
            if gateway_closed_at and time.monotonic() - gateway_closed_at > AFTER_GATEWAY_GRACE_S:
                break
            time.sleep(0.2)
        # Also ends Lambda workers that outlived LocalStack's own shutdown.
        _signal_group(self.process_group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._stopped = True
        if self in _running:
            _running.remove(self)
        if not process_group_alive(self.process_group):
            shutil.rmtree(self.state_dir, ignore_errors=True)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def process_group_alive(group: int) -> bool:
    """Whether any process is still in ``group`` (zombies included until reaped)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def ensure_installed() -> None:
    """Build LocalStack's venv with ``make localstack`` unless it is already there."""
    if (LOCALSTACK_VENV / ".installed").exists():
        return
    completed = subprocess.run(
        ["make", "localstack"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr)[-4000:]
        raise LocalStackError(f"`make localstack` failed ({completed.returncode}):\n{output}")


def _prune_leftovers(keep_logs: int = 20) -> None:
    """Remove state dirs of test runs that are gone (killed before cleanup), and old logs."""
    if STATE_ROOT.is_dir():
        for state_dir in STATE_ROOT.iterdir():
            owner = state_dir.name.split("-")[1] if state_dir.name.count("-") >= 2 else ""
            if owner.isdigit() and not _process_exists(int(owner)):
                shutil.rmtree(state_dir, ignore_errors=True)
    if LOG_ROOT.is_dir():
        logs = sorted(LOG_ROOT.glob("*.log"), key=lambda path: path.stat().st_mtime)
        for old_log in logs[:-keep_logs]:
            old_log.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _environment(port: int, state_dir: Path, extra_env: Mapping[str, str]) -> dict[str, str]:
    # Nothing of the test runner's AWS or Python settings may leak into LocalStack.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTHON", "LOCALSTACK_")) and key != "VIRTUAL_ENV"
    }
    env.update(
        OVERRIDE_IN_DOCKER="0",  # the machine has /.dockerenv
        FILESYSTEM_ROOT=str(state_dir),
        TMPDIR=str(state_dir / "tmp"),
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        DISABLE_EVENTS="1",  # without it, SIGTERM hangs for more than 30 s
        SKIP_SSL_CERT_DOWNLOAD="1",
        DNS_ADDRESS="0",
        LAMBDA_RUNTIME_EXECUTOR=EXECUTOR_NAME,
        # Many workers importing numpy at once on 2 cores can take longer than the default 20 s.
        LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT="120",
        LOCAL_LAMBDA_WATCH_PID=str(os.getpid()),
    )
    env.update(extra_env)
    return env


def start(
    port: int = DEFAULT_PORT,
    *,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> LocalStack:
    """Start LocalStack on ``127.0.0.1:port`` and wait until its health endpoint answers.

    ``extra_env`` adds or overrides LocalStack configuration variables (e.g. ``LS_LOG``).

    Raises
    ------
    LocalStackError
        The port is taken (we never attach to an unknown server), or LocalStack exited or was
        not ready within ``ready_timeout_s`` (the message holds the tail of its log).
    """
    if port_in_use(port):
        raise LocalStackError(
            f"Port {port} is already in use: another LocalStack or server is running there. "
            "Stop it (e.g. `ps aux | grep -i localstack`) instead of testing against it."
        )
    ensure_installed()
    _prune_leftovers()
    name = f"{port}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    state_dir = STATE_ROOT / name
    (state_dir / "tmp").mkdir(parents=True)
    LOG_ROOT.mkdir(parents=True, exist_ok=True)
    log_path = LOG_ROOT / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(LOCALSTACK_VENV / "bin" / "python"), "-m", "localstack.runtime.main"],
            env=_environment(port, state_dir, extra_env or {}),
            cwd=state_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    instance = LocalStack(
        endpoint_url=f"http://127.0.0.1:{port}",
        port=port,
        process=process,
        state_dir=state_dir,
        log_path=log_path,
    )
    _running.append(instance)
    try:
        _wait_until_ready(instance, ready_timeout_s)
    except BaseException:
        instance.stop()
        raise
    return instance


def _wait_until_ready(instance: LocalStack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"{instance.endpoint_url}/_localstack/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise LocalStackError(
                f"LocalStack exited with status {instance.process.returncode} during startup; "
                f"log {instance.log_path}:\n{instance.log_tail()}"
            )
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200 and "services" in json.load(response):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.25)
    raise LocalStackError(
        f"LocalStack was not ready after {timeout_s:.0f} s; log {instance.log_path}:\n"
        f"{instance.log_tail()}"
    )


def stop_all() -> None:
    """Stop every instance this process started and has not stopped yet."""
    for instance in list(_running):
        instance.stop()


atexit.register(stop_all)
