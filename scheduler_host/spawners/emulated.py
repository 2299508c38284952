"""Emulated backend: many workers in one or a few helper processes (``runtime.emulated``).

For measuring the scheduler itself at W in the hundreds or thousands: each
emulated worker speaks the real protocol over its own sockets and keys, but its
x-update is free (a closed-form prox, see :mod:`runtime.emulated`), so the CPU
goes to the scheduler and the transport, not to W processes.  Assignments go
to the helpers' stdin as JSON lines (a local pipe, as for local workers);
replacements are sent to the helper of their slot.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from runtime.specs import WorkerAssignment
from scheduler_host.spawners.base import SpawnFailure

STOP_GRACE_SECONDS = 10.0
#: Replacements a helper can take on beyond its share of the slots.
SPARE_WORKERS = 16


class EmulatedSpawner:
    """Starts ``processes`` emulator processes at the first spawn; slot w goes to helper
    ``w % processes``.

    ``missed`` maps a worker slot to iterations whose first broadcast it acts as if it
    never received (a slow joiner, for tests of the scheduler's repeats).
    """

    def __init__(
        self,
        *,
        processes: int = 1,
        log_directory: Path | None = None,
        python: str = sys.executable,
        missed: Mapping[int, tuple[int, ...]] | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self._count = processes
        self._python = python
        self._log_directory = Path(log_directory or tempfile.mkdtemp(prefix="lambda-admm-emu-"))
        self._log_directory.mkdir(parents=True, exist_ok=True)
        self._missed = dict(missed or {})
        self._helpers: list[subprocess.Popen[bytes]] = []
        self._given: list[list[tuple[int, int]]] = []
        self._reported: set[int] = set()

    @property
    def log_directory(self) -> Path:
        return self._log_directory

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        for assignment in assignments:
            kinds = sorted({rule.kind for rule in assignment.faults.rules} - {"raise"})
            if kinds:
                # kill would take every worker of the helper, delay would stall them all.
                raise ValueError(f"faults: only 'raise' applies to emulated workers, got {kinds}")
        if not self._helpers:
            self._start(share=-(-len(assignments) // self._count) + SPARE_WORKERS)
        batches: dict[int, list[bytes]] = {}
        for assignment in assignments:
            helper = assignment.worker_index % self._count
            batches.setdefault(helper, []).append(assignment.model_dump_json().encode() + b"\n")
            self._given[helper].append((assignment.worker_index, assignment.slot_epoch))
        for helper, lines in batches.items():
            stdin = self._helpers[helper].stdin
            assert stdin is not None
            stdin.write(b"".join(lines))
            stdin.flush()

    def _start(self, *, share: int) -> None:
        for helper in range(self._count):
            misses = [
                f"{worker}:{iteration}"
                for worker, iterations in self._missed.items()
                if worker % self._count == helper
                for iteration in iterations
            ]
            command = [self._python, "-m", "runtime.emulated", "--workers", str(share)]
            command += [argument for miss in misses for argument in ("--miss", miss)]
            with (self._log_directory / f"emulator-{helper}.log").open("wb") as log_file:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log_file
                )
            self._helpers.append(process)
            self._given.append([])

    def failures(self) -> list[SpawnFailure]:
        """Every worker of a helper that exited abnormally (once)."""
        found = []
        for helper, process in enumerate(self._helpers):
            code = process.poll()
            if code in (None, 0) or helper in self._reported:
                continue
            self._reported.add(helper)
            reason = f"emulator {helper} exited with code {code}: " + self._tail(helper)
            found += [
                SpawnFailure(worker_index=index, slot_epoch=epoch, reason=reason)
                for index, epoch in self._given[helper]
            ]
        return found

    def _tail(self, helper: int) -> str:
        log_path = self._log_directory / f"emulator-{helper}.log"
        lines = log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:])

    @property
    def pids(self) -> list[int]:
        """The helper processes' ids (for benchmarks that read their CPU time)."""
        return [process.pid for process in self._helpers]

    def exit_codes(self) -> list[int | None]:
        return [process.poll() for process in self._helpers]

    def close(self) -> None:
        """Close the helpers' stdin (they exit once their workers have ended), then stop them."""
        for process in self._helpers:
            if process.stdin is not None and not process.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
        for process in self._helpers:
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait()
