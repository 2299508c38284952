"""Ctrl-C of ``lambda-admm solve``: a real CLI process interrupted mid-solve keeps its latest
iterate and leaves no process behind.

The CLI runs in a session of its own, so every process it starts (its local workers) carries
its session id; the test looks for them in /proc from the signal on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
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
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # this checkout's code

pytestmark = pytest.mark.slow


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def _solve(out: Path, *, output: int, arguments: list[str] = ENDLESS) -> subprocess.Popen[bytes]:
    """The real CLI solving into ``out`` (ENDLESS by default), in a session of its own."""
    return subprocess.Popen(
        [LAMBDA_ADMM, "solve", *arguments, "--out", str(out)],
        cwd=REPO_ROOT,
        env=ENVIRONMENT,
        stdout=output,
        stderr=output,
        start_new_session=True,
    )


def _forked(cli: subprocess.Popen[bytes]) -> list[int]:
    """The CLI's fork server and the workers it forked (all run runtime.fork_server)."""
    return [pid for pid, cmd in _session_members(cli.pid).items() if "runtime.fork_server" in cmd]


@contextmanager
def _killed_at_the_end(cli: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever the test asserts, no process of the CLI's session outlives it."""
    try:
        yield
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
        for pid in _session_members(cli.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("whom", "signum", "exit_code"),
    [
        ("the CLI", signal.SIGINT, 130),  # kill -INT <pid>: the CLI must stop its workers itself
        ("the process group", signal.SIGINT, 130),  # a terminal's Ctrl-C: workers get it too
        ("the CLI", signal.SIGTERM, 143),  # kill <pid>: handled like Ctrl-C (was: orphans)
    ],
)
def test_an_interrupt_mid_solve_saves_the_latest_iterate_stops_the_workers_and_exits_128_plus(
    whom: str, signum: signal.Signals, exit_code: int, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cli = _solve(out, output=subprocess.PIPE)
    with _killed_at_the_end(cli):
        _wait_until(lambda: len(_forked(cli)) == 3, timeout_s=60, what="two worker processes")
        time.sleep(3.0)  # they generate their rows, join and iterate
        assert cli.poll() is None, cli.communicate()
        signalled_at = time.monotonic()
        if whom == "the CLI":
            os.kill(cli.pid, signum)
        else:
            os.killpg(cli.pid, signum)
        _wait_until(lambda: not _forked(cli), timeout_s=5, what="no worker left")
        reaped_after = time.monotonic() - signalled_at
        stdout, stderr = cli.communicate(timeout=30)
        _wait_until(lambda: not _session_members(cli.pid), timeout_s=2, what="no process left")
    assert reaped_after < 1.5, reaped_after
    assert cli.returncode == exit_code, stderr.decode()
    errors = stderr.decode()
    assert "Traceback" not in errors, errors
    body = json.loads((out / "result.json").read_text())
    assert body["status"] == "interrupted" and body["converged"] is False
    iterations = body["iterations"]
    assert iterations >= 1 and len(body["history"]) == iterations
    assert body["reason"].startswith(f"interrupted after iteration {iterations}")
    assert errors.strip().splitlines()[-1] == (
        f"{INTERRUPTED}; its iterate after iteration {iterations} is saved in {out}/ "
        "(status interrupted)"
    )
    summary = stdout.decode().splitlines()[1]  # after the model
    assert summary.startswith(f"INTERRUPTED ({body['reason']}) in {iterations} iterations")
    assert body["provenance"]["command"].startswith("lambda-admm solve --samples 100000 ")
    assert np.load(out / "x.npy").shape == (1000,)
    if body["objective"] is not None:  # every worker answered within the 1 s grace
        assert body["reason"] == f"interrupted after iteration {iterations}"
        assert body["objective"] < body["objective_at_zero"] and body["optimality"] > 0
    else:  # a worker still computing (a loaded machine) was stopped before it answered
        assert re.fullmatch(
            rf"interrupted after iteration {iterations}; [01] of 2 workers reported, so no "
            "objective",
            body["reason"],
        ), body["reason"]


def test_the_saved_iterate_is_the_solves_z_after_that_many_iterations(tmp_path: Path) -> None:
    """The iterate an interrupt saves is exactly what --max-iter K returns (sync is
    deterministic): the latest z, mapped as a finished solve's x is."""
    interrupted = tmp_path / "interrupted"
    cli = _solve(interrupted, output=subprocess.DEVNULL)
    with _killed_at_the_end(cli):
        _wait_until(
            lambda: (interrupted / "logs").exists() and cli.poll() is None,
            timeout_s=60,
            what="the solve to start",
        )
        time.sleep(5.0)
        os.kill(cli.pid, signal.SIGTERM)
        assert cli.wait(timeout=30) == 143
    iterations = json.loads((interrupted / "result.json").read_text())["iterations"]
    capped = tmp_path / "capped"
    flags = [*ENDLESS, "--max-iter", str(iterations), "--allow-unconverged", "--out", str(capped)]
    completed = subprocess.run(
        [LAMBDA_ADMM, "solve", *flags],
        cwd=REPO_ROOT,
        env=ENVIRONMENT,
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    np.testing.assert_array_equal(np.load(interrupted / "x.npy"), np.load(capped / "x.npy"))


def test_an_interrupt_before_the_first_iteration_saves_nothing_and_says_so(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    # Two million rows to generate: the workers are forked well before their first update.
    big = ["--samples", "2000000", "--features", "1000", "--workers", "2"]
    cli = _solve(out, output=subprocess.PIPE, arguments=big)
    with _killed_at_the_end(cli):
        _wait_until(lambda: len(_forked(cli)) == 3, timeout_s=60, what="two worker processes")
        os.kill(cli.pid, signal.SIGTERM)
        stdout, stderr = cli.communicate(timeout=30)
        _wait_until(lambda: not _session_members(cli.pid), timeout_s=2, what="no process left")
    assert cli.returncode == 143
    assert stderr.decode() == f"{INTERRUPTED}, before its first iteration: nothing to save\n"
    assert stdout.decode().startswith("model: ")
    assert sorted(path.name for path in out.iterdir()) == ["logs"]
