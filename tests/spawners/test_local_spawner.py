"""The local spawner's fork server: workers forked from one interpreter, reported when they
exit, stopped when the spawner closes, and failed when the server itself is gone."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.specs import PaperData, ShardData, WorkerAssignment
from scheduler_host.spawners.local import SERVER_GONE, LocalProcessSpawner
from tests.cli.helpers import descendants
from tests.spawners.assignments import assignments


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _assignments(
    count: int, *, data: PaperData | ShardData | None = None
) -> list[WorkerAssignment]:
    """Workers of a scheduler nobody runs: they wait for a welcome for a minute."""
    endpoint = f"tcp://127.0.0.1:{_unused_port()}"
    return assignments(
        count, front=endpoint, broadcast=endpoint, data=data, scheduler_silence_seconds=60.0
    )


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(0.05)


def _forked() -> dict[int, str]:
    return {
        pid: command
        for pid, command in descendants(os.getpid()).items()
        if "runtime.fork_server" in command
    }


def test_closing_stops_the_workers_still_running_and_leaves_no_process(tmp_path: Path) -> None:
    spawner = LocalProcessSpawner(log_directory=tmp_path)
    assert spawner.wait_ready(timeout=60)  # the server imported the worker; nothing forked yet
    assert len(_forked()) == 1
    spawner.spawn(_assignments(2))
    _wait_until(lambda: len(_forked()) == 3, timeout_s=30)  # the server and its two workers
    assert spawner.exit_codes() == {(0, 0): None, (1, 0): None}
    started = time.monotonic()
    spawner.close()
    assert time.monotonic() - started < 2.0
    assert spawner.exit_codes() == {(0, 0): -signal.SIGTERM, (1, 0): -signal.SIGTERM}
    assert _forked() == {}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "fork-server.log",
        "worker-00000-0.log",
        "worker-00001-0.log",
    ]


@pytest.mark.slow
def test_a_worker_that_fails_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    spawner = LocalProcessSpawner(log_directory=tmp_path)
    missing = ShardData(uri=str(tmp_path / "no-such-dataset"), samples=10, features=5)
    try:
        spawner.spawn(_assignments(1, data=missing))
        # It reports the failure to a scheduler nobody runs (5 s of linger), then exits 1.
        _wait_until(lambda: spawner.exit_codes()[0, 0] is not None, timeout_s=30)
        (failure,) = spawner.failures()
    finally:
        spawner.close()
    assert failure.worker_index == 0
    # The last 5 lines of its log: the traceback's end and the note that it told the scheduler.
    assert failure.reason.startswith("worker 0 exited with code 1: ")
    assert f"{tmp_path}/no-such-dataset/manifest.json" in failure.reason
    assert failure.reason.endswith(" | reported to the scheduler as failed")
    assert spawner.failures() == []  # each failure is reported once


def test_workers_of_a_fork_server_that_dies_are_failed(tmp_path: Path) -> None:
    spawner = LocalProcessSpawner(log_directory=tmp_path)
    spawner.spawn(_assignments(1))
    _wait_until(lambda: len(_forked()) == 2, timeout_s=30)
    orphans = _forked()
    server = min(orphans)  # the server started first
    try:
        os.kill(server, signal.SIGKILL)
        _wait_until(lambda: spawner.exit_codes()[0, 0] is not None, timeout_s=10)
        assert spawner.exit_codes() == {(0, 0): SERVER_GONE}
        (failure,) = spawner.failures()
        assert failure.reason == "worker 0 its fork server exited: "
    finally:
        spawner.close()
        for pid in orphans:  # the worker, no longer ours, waits for a welcome
            if pid != server:
                os.kill(pid, signal.SIGKILL)
