"""Fixtures of the integration tests: one LocalStack per test session, started on demand.

The ``localstack`` fixture is session-scoped but only requested by integration tests, so a run
that selects none of them (``pytest -m "not integration"``) never starts LocalStack.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.integration import localstack as localstack_server
from tests.integration.deployed import DeployedStack, deploy
from tests.integration.scheduler_service import (
    ServiceProcess,
    free_port,
    host_settings,
    local_settings,
    start_service,
)


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn a SIGTERM of the test runner into the KeyboardInterrupt pytest already handles, so
    # that fixture teardown (stopping LocalStack) runs.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory must be marked, so ``-m "not integration"`` skips it."""
    here = Path(__file__).parent
    unmarked = [
        item.nodeid
        for item in items
        if here in item.path.parents and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests under tests/integration need `pytestmark = pytest.mark.integration`: "
            + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def localstack() -> Iterator[localstack_server.LocalStack]:
    """A LocalStack on 127.0.0.1:$LOCALSTACK_PORT (4566) with the local Lambda executor.

    It is stopped at session end, whatever happens.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    instance: localstack_server.LocalStack | None = None
    try:
        instance = localstack_server.start(
            int(os.environ.get("LOCALSTACK_PORT", localstack_server.DEFAULT_PORT))
        )
        yield instance
    finally:
        if instance is not None:
            instance.stop()
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def deployed_stack(localstack: localstack_server.LocalStack) -> DeployedStack:
    """The real CDK app, bootstrapped and deployed into the session's LocalStack with cdklocal."""
    return deploy(localstack)


@pytest.fixture
def api_credentials(monkeypatch: pytest.MonkeyPatch, deployed_stack: DeployedStack) -> None:
    """LocalStack's endpoint and test credentials in this process's environment, for boto3
    and for SigV4-signing calls to the deployed API (as ``lambda-admm submit`` does)."""
    for key, value in deployed_stack.aws_env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def service(deployed_stack: DeployedStack, tmp_path: Path) -> Iterator[ServiceProcess]:
    """``lambda-admm serve`` configured as on the host; stopped (then killed) afterwards."""
    settings = host_settings(deployed_stack, front_port=free_port(), broadcast_port=free_port())
    settings |= local_settings(deployed_stack, health_port=free_port())
    process = start_service(settings, tmp_path / "service.log")
    try:
        assert process.wait_healthy()["status"] == "ok"
        yield process
    finally:
        process.stop()
