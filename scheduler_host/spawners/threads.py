"""In-process backend: each worker runs :func:`runtime.worker.run_worker` on a thread.

For a solve kept in one process (``bind_host="inproc"``): the workers share the
process's ``zmq.Context.instance()`` with the scheduler and talk over ``inproc://``.
No process is started, so the scheduler's state machines can be exercised in
fast tests with the real worker loop and real sockets.
"""

from __future__ import annotations

import logging
import threading

from runtime.specs import WorkerAssignment
from runtime.worker import REPORTED_NOTE, run_worker
from scheduler_host.spawners.base import SpawnFailure

log = logging.getLogger("lambda_admm.spawner")

JOIN_SECONDS = 10.0


class ThreadSpawner:
    """Runs workers on daemon threads; a worker that raises without having reported its
    failure to the scheduler is reported as failed."""

    def __init__(self) -> None:
        self._threads: dict[tuple[int, int], threading.Thread] = {}
        self._errors: dict[tuple[int, int], BaseException] = {}
        self._reported: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        self.statuses: dict[tuple[int, int], str] = {}

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        for assignment in assignments:
            if any(rule.kind == "kill" for rule in assignment.faults.rules):
                raise ValueError("faults: 'kill' would kill this process; use local processes")
            key = (assignment.worker_index, assignment.slot_epoch)
            thread = threading.Thread(
                target=self._run, args=(key, assignment), name=f"worker-{key[0]}.{key[1]}"
            )
            thread.daemon = True
            self._threads[key] = thread
            thread.start()

    def _run(self, key: tuple[int, int], assignment: WorkerAssignment) -> None:
        try:
            report = run_worker(assignment)
        except Exception as error:
            log.warning("worker %d.%d raised: %r", *key, error)
            if REPORTED_NOTE in getattr(error, "__notes__", ()):
                return  # the scheduler has the reason from the worker itself
            with self._lock:
                self._errors[key] = error
            return
        with self._lock:
            self.statuses[key] = report.status

    def failures(self) -> list[SpawnFailure]:
        with self._lock:
            new = [key for key in self._errors if key not in self._reported]
            self._reported.update(new)
            return [
                SpawnFailure(
                    worker_index=index,
                    slot_epoch=epoch,
                    reason=f"worker {index} raised {self._errors[index, epoch]!r}",
                )
                for index, epoch in new
            ]

    def close(self) -> None:
        for thread in self._threads.values():
            thread.join(timeout=JOIN_SECONDS)
