"""Ctrl-C of ``lambda-admm solve``: a real CLI process interrupted mid-solve leaves nothing.

The CLI runs in a session of its own, so every process it starts (its local workers) carries
its session id; the test looks for them in /proc after the CLI has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import session_members as _session_members

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ADMM = str(Path(sys.executable).parent / "lambda-admm")
#: Tolerances it never meets, so that the solve is still iterating when interrupted.
ENDLESS = [
    "--samples", "100000", "--features", "1000", "--workers", "2",
    "--eps-primal", "1e-300", "--eps-dual", "1e-300", "--max-iter", "100000",
]  # fmt: skip
INTERRUPTED = "interrupted: the solve was stopped, and its workers with it"

pytestmark = pytest.mark.slow


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("whom", "signum", "exit_code"),
    [
        ("the CLI", signal.SIGINT, 130),  # kill -INT <pid>: the CLI must stop its workers itself
        ("the process group", signal.SIGINT, 130),  # a terminal's Ctrl-C: workers get it too
        ("the CLI", signal.SIGTERM, 143),  # kill <pid>: handled like Ctrl-C (was: orphans)
    ],
)
def test_an_interrupt_mid_solve_stops_the_workers_and_exits_128_plus_the_signal(
    whom: str, signum: signal.Signals, exit_code: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # this checkout's code
    cli = subprocess.Popen(
        [LAMBDA_ADMM, "solve", *ENDLESS, "--out", str(out)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        workers = lambda: [  # noqa: E731
            pid for pid, cmd in _session_members(cli.pid).items() if "runtime.worker" in cmd
        ]
        _wait_until(lambda: len(workers()) == 2, timeout_s=60, what="two worker processes")
        time.sleep(3.0)  # they generate their rows, join and iterate
        assert cli.poll() is None, cli.communicate()
        if whom == "the CLI":
            os.kill(cli.pid, signum)
        else:
            os.killpg(cli.pid, signum)
        stdout, stderr = cli.communicate(timeout=10)
        interrupted_at = time.monotonic()
        _wait_until(lambda: not _session_members(cli.pid), timeout_s=2, what="no process left")
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
        for pid in _session_members(cli.pid):
            os.kill(pid, signal.SIGKILL)
    assert time.monotonic() - interrupted_at < 2.0
    assert cli.returncode == exit_code, stderr.decode()
    errors = stderr.decode()
    assert errors.strip().splitlines()[-1] == INTERRUPTED, errors
    assert "Traceback" not in errors, errors
    assert stdout.decode() == ""  # no summary: the solve did not finish
    assert not (out / "result.json").exists()
