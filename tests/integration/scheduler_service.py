"""The scheduler service (``lambda-admm serve``) as a local process, configured like the host.

On EC2 the instance's user data writes ``bootstrap.env`` and ``install.sh`` runs
``lambda-admm serve`` with it (a systemd unit). The instance does not boot in LocalStack, so the
tests run the same command here, with the same variables (:func:`host_settings`) plus what a
process off AWS needs: LocalStack's endpoint and test credentials. The process gets its own
session, so that :meth:`ServiceProcess.kill` ends it and anything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.deployed import DeployedStack

LAMBDA_ADMM = str(Path(sys.executable).parent / "lambda-admm")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def queue_max_receives(stack: DeployedStack) -> int:
    """The deployed job queue's maxReceiveCount, as the user data passes it to the host."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    count: int = json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]
    return int(count)


def host_settings(stack: DeployedStack, *, front_port: int, broadcast_port: int) -> dict[str, str]:
    """The keys the instance's user data writes to ``bootstrap.env`` (see SchedulerInstance).

    ``ADVERTISE_HOST`` is the address Lambda workers dial: on EC2 the private IP, here the
    loopback, where LocalStack's (local-process) workers run.
    """
    return {
        "QUEUE_URL": stack.queue_url,
        "BUCKET": stack.bucket,
        "API_URL": stack.api_url,
        "AWS_REGION": stack.region,
        "FRONT_PORT": str(front_port),
        "BROADCAST_PORT": str(broadcast_port),
        "ADVERTISE_HOST": "127.0.0.1",
        "MAX_RECEIVES": str(queue_max_receives(stack)),
    }


def local_settings(
    stack: DeployedStack, *, health_port: int, visibility_seconds: int = 60
) -> dict[str, str]:
    """What differs from the host: LocalStack, short polls and leases, loopback-only sockets."""
    return {
        **stack.aws_env(),
        "HEALTH_PORT": str(health_port),
        "POLL_WAIT_SECONDS": "1",
        "VISIBILITY_SECONDS": str(visibility_seconds),
        "BIND_HOST": "127.0.0.1",
    }


def health(port: int) -> dict[str, Any] | None:
    """``GET /health`` of a service, or None if nothing answers."""
    try:
        with _NO_PROXY.open(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


@dataclass
class ServiceProcess:
    """A running ``lambda-admm serve``."""

    process: subprocess.Popen[bytes]
    log_path: Path
    health_port: int

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_messages(self) -> list[str]:
        """The ``message`` of each JSON log line (the service logs one JSON object a line)."""
        messages = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                messages.append(str(json.loads(line)["message"]))
        return messages

    def wait_healthy(self, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"lambda-admm serve exited ({self.process.returncode}):\n{self.log_text()}"
                )
            if (report := health(self.health_port)) is not None:
                return report
            time.sleep(0.2)
        raise AssertionError(f"no health answer in {timeout_s:.0f} s:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL the service's process group (a crash: nothing is cleaned up)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``timeout_s`` (a solve in progress finishes first), then SIGKILL.

        Returns the exit status if the service stopped on SIGTERM, None if it had to be killed.
        """
        if self.process.poll() is not None:
            return self.process.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def start_service(settings: dict[str, str], log_path: Path) -> ServiceProcess:
    """Start ``lambda-admm serve`` with exactly ``settings`` on top of a scrubbed environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [LAMBDA_ADMM, "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServiceProcess(
        process=process, log_path=log_path, health_port=int(settings["HEALTH_PORT"])
    )
