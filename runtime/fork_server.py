"""Local workers from one interpreter: import the worker once, fork a process per worker.

A local worker process spends most of its start-up importing (numpy, scipy, zmq, pydantic:
about 0.45 s of CPU each on a quiet machine, so 1.8 s for W = 4 on 2 cores). ``python -m
runtime.fork_server`` pays that once: it imports :mod:`runtime.worker`, then reads requests
on stdin, one JSON line each, ``{"assignment": {...}, "log": "<path>"}``, and forks a child
per request that runs the assignment exactly as ``python -m runtime.worker`` does, its
stderr to the log. On stdout it reports one JSON line per event: ``{"ready": PID}`` once
imported, ``{"started": [index, epoch], "pid": PID}``, and ``{"exited": [index, epoch],
"code": CODE}`` (CODE as ``subprocess`` gives it: negative for a signal). At the end of
stdin (the spawner closed it, or its process died) it sends SIGTERM to the children still
running, SIGKILL to any left after :data:`STOP_GRACE_SECONDS`, reports them and exits.

Forking is safe because this process never creates a ZMQ context or a thread of its own
(each child makes its own context), and numpy's OpenBLAS shuts its thread pool down across
``fork``. SIGINT is ignored here and in the children: a terminal's Ctrl-C reaches the
scheduler too, which tells its workers to stop (and so still gets their last reports).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import signal
import sys
import time
import traceback
from typing import Any, NoReturn

import zmq

import runtime.connection
import runtime.worker

#: How long stopped children get between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 5.0
#: How often the server looks for exited children while it waits for requests.
POLL_SECONDS = 0.05


class _Children:
    """The children forked so far (pid -> worker slot and epoch), and the event stream."""

    def __init__(self, events: io.TextIOBase) -> None:
        self.events = events
        self.running: dict[int, tuple[int, int]] = {}

    def report(self, event: dict[str, Any]) -> None:
        try:
            self.events.write(json.dumps(event) + "\n")
            self.events.flush()
        except (BrokenPipeError, ValueError):  # the spawner is gone; its children still stop
            pass

    def fork(self, request: dict[str, Any]) -> None:
        assignment = request["assignment"]
        slot = (int(assignment["worker_index"]), int(assignment.get("slot_epoch", 0)))
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(json.dumps(assignment), request["log"])
        self.running[pid] = slot
        self.report({"started": list(slot), "pid": pid})

    def reap(self) -> None:
        """Report every child that has exited."""
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = self.running.pop(pid, None)
            if slot is not None:
                self.report({"exited": list(slot), "code": os.waitstatus_to_exitcode(status)})

    def stop(self) -> None:
        """SIGTERM the children still running, SIGKILL them after the grace, report all."""
        for pid in list(self.running):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.running and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            self.reap()
        for pid in list(self.running):
            _signal(pid, signal.SIGKILL)
        while self.running:
            pid, status = os.waitpid(-1, 0)
            slot = self.running.pop(pid, None)
            if slot is not None:
                self.report({"exited": list(slot), "code": os.waitstatus_to_exitcode(status)})


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited meanwhile; reaped next
        os.kill(pid, number)


def _run_child(assignment_json: str, log_path: str) -> NoReturn:
    """In the child: stdio as a worker process has it, then the worker; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = io.StringIO(assignment_json)  # what runtime.worker.main reads
        code = runtime.worker.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        # os._exit skips the interpreter's shutdown, which would have terminated the ZMQ
        # context: do it here, or the worker's last messages (its loss report) are dropped.
        zmq.Context.instance().destroy(linger=runtime.connection.SEND_LINGER_MS)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)


def serve(requests: int = 0, events: io.TextIOBase | None = None) -> int:
    """Fork a worker per request line read from the file descriptor ``requests``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children = _Children(events or sys.stdout)  # type: ignore[arg-type]
    children.report({"ready": os.getpid()})  # the worker's imports are done
    pending = b""
    while True:
        readable, _, _ = select.select([requests], [], [], POLL_SECONDS)
        children.reap()
        if not readable:
            continue
        chunk = os.read(requests, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                children.fork(json.loads(line))
    children.stop()
    return 0


if __name__ == "__main__":
    serve()
    sys.stdout.flush()
    os._exit(0)  # nothing to tear down, and the interpreter's shutdown would take 0.1-0.2 s
