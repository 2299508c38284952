"""Local backend: each worker is a child OS process running ``python -m runtime.worker``.

The assignment goes through the child's stdin (a local pipe), so keys and
addresses never appear on a command line.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from runtime.specs import WorkerAssignment
from scheduler_host.spawners.base import SpawnFailure

STOP_GRACE_SECONDS = 5.0


class LocalProcessSpawner:
    """Spawns, watches and finally stops local worker processes."""

    def __init__(self, *, log_directory: Path | None = None, python: str = sys.executable) -> None:
        self._python = python
        self._log_directory = Path(log_directory or tempfile.mkdtemp(prefix="lambda-admm-"))
        self._log_directory.mkdir(parents=True, exist_ok=True)
        self._processes: dict[tuple[int, int], subprocess.Popen[bytes]] = {}
        self._reported: set[tuple[int, int]] = set()

    @property
    def log_directory(self) -> Path:
        return self._log_directory

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        for assignment in assignments:
            index = assignment.worker_index
            log_path = self._log_directory / f"worker-{index:05d}-{assignment.slot_epoch}.log"
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [self._python, "-m", "runtime.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log_file,
                )
            assert process.stdin is not None
            process.stdin.write(assignment.model_dump_json().encode())
            process.stdin.close()
            self._processes[index, assignment.slot_epoch] = process

    def failures(self) -> list[SpawnFailure]:
        """Workers that exited abnormally (retired and refused workers exit with 0)."""
        found = []
        for (index, epoch), process in self._processes.items():
            code = process.poll()
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
        return {key: process.poll() for key, process in self._processes.items()}

    def _describe(self, index: int, epoch: int, code: int) -> str:
        log_path = self._log_directory / f"worker-{index:05d}-{epoch}.log"
        lines = (
            log_path.read_text(errors="replace").strip().splitlines() if log_path.exists() else []
        )
        return f"worker {index} exited with code {code}: " + " | ".join(lines[-5:])

    def close(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
