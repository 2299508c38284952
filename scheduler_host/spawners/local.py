"""Local backend: each worker is a child OS process, forked by one fork server.

The spawner starts ``python -m runtime.fork_server`` when it is made, so that the server's
imports (most of a worker's start-up) overlap the scheduler's own set-up; each spawn request
sends it an assignment (through its stdin, a local pipe: keys and addresses never appear on
a command line), and it forks a worker process for it and reports when that exits. Closing
the spawner closes the server's stdin: the server stops the workers still running and exits.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from runtime.specs import WorkerAssignment
from scheduler_host.spawners.base import SpawnFailure

#: How long closing waits for the fork server to stop its workers (it gives them 5 s).
STOP_GRACE_SECONDS = 8.0
#: The fork server's own log, next to the workers' logs.
SERVER_LOG = "fork-server.log"
#: A worker's exit code when the fork server is gone before it reported the worker's exit.
SERVER_GONE = -1


class LocalProcessSpawner:
    """Spawns, watches and finally stops local worker processes."""

    def __init__(self, *, log_directory: Path | None = None, python: str = sys.executable) -> None:
        self._log_directory = Path(log_directory or tempfile.mkdtemp(prefix="lambda-admm-"))
        self._log_directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._codes: dict[tuple[int, int], int | None] = {}
        self._reported: set[tuple[int, int]] = set()
        self._ready = threading.Event()
        with (self._log_directory / SERVER_LOG).open("wb") as server_log:
            self._server = subprocess.Popen(
                [python, "-m", "runtime.fork_server"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=server_log,
            )
        assert self._server.stdout is not None
        self._events = threading.Thread(
            target=self._read_events, args=(self._server.stdout,), name="fork-server-events"
        )
        self._events.start()

    @property
    def log_directory(self) -> Path:
        return self._log_directory

    def _log_path(self, index: int, epoch: int) -> Path:
        return self._log_directory / f"worker-{index:05d}-{epoch}.log"

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        requests = []
        for assignment in assignments:
            key = (assignment.worker_index, assignment.slot_epoch)
            with self._lock:
                self._codes[key] = None
            request = {
                "assignment": json.loads(assignment.model_dump_json()),
                "log": str(self._log_path(*key)),
            }
            requests.append(json.dumps(request) + "\n")
        assert self._server.stdin is not None
        try:
            self._server.stdin.write("".join(requests).encode())
            self._server.stdin.flush()
        except (BrokenPipeError, ValueError):  # the server is gone: these never start
            self._server_gone()

    def _read_events(self, events: IO[bytes]) -> None:
        """The fork server's reports (ready, exited workers), until it exits."""
        for line in events:
            event = json.loads(line)
            if "ready" in event:
                self._ready.set()
            elif "exited" in event:
                index, epoch = event["exited"]
                with self._lock:
                    self._codes[index, epoch] = event["code"]
        self._ready.set()  # gone: nobody waits for it any more
        self._server_gone()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the fork server has imported the worker (a spawn then starts at once);
        False if ``timeout`` passed first."""
        return self._ready.wait(timeout)

    def _server_gone(self) -> None:
        with self._lock:
            for key, code in self._codes.items():
                if code is None:
                    self._codes[key] = SERVER_GONE

    def failures(self) -> list[SpawnFailure]:
        """Workers that exited abnormally (retired and refused workers exit with 0)."""
        found = []
        with self._lock:
            codes = dict(self._codes)
        for (index, epoch), code in codes.items():
            if code not in (None, 0) and (index, epoch) not in self._reported:
                self._reported.add((index, epoch))
                found.append(
                    SpawnFailure(
                        worker_index=index,
                        slot_epoch=epoch,
                        reason=self._describe(index, epoch, code),
                    )
                )
        return found

    def exit_codes(self) -> dict[tuple[int, int], int | None]:
        """Each worker's exit code by (slot, epoch); None while it runs."""
        with self._lock:
            return dict(self._codes)

    def _describe(self, index: int, epoch: int, code: int) -> str:
        if code == SERVER_GONE:
            path, what = self._log_directory / SERVER_LOG, "its fork server exited"
        else:
            path, what = self._log_path(index, epoch), f"exited with code {code}"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return f"worker {index} {what}: " + " | ".join(lines[-5:])

    def close(self) -> None:
        """Stop the workers still running (the fork server does, on the end of its stdin)."""
        assert self._server.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._server.stdin.close()
        try:
            self._server.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        self._events.join()
