"""The subprocess that hosts one execution environment, and its output.

The worker's stdout and stderr both go, unbuffered, to one file. The executor reads it from
an offset: what the worker wrote since the previous read is the current invocation's log.
Because the bootstrap flushes before it posts a result, the output of an invocation is in the
file by the time LocalStack hears its result; no reader thread and no pipe is needed.

The worker stays in LocalStack's process group, so signalling that group (as the test fixture
does) ends the workers too; the bootstrap also exits by itself if LocalStack goes away.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path

LOG = logging.getLogger(__name__)

#: At most this much of the output is kept in memory once the worker is stopped.
MAX_RETAINED_LOG_BYTES = 64 * 1024


class WorkerProcess:
    """One bootstrap subprocess with its output file.

    Parameters
    ----------
    argv
        The command line (interpreter and bootstrap script).
    env
        The complete environment of the worker; nothing is inherited.
    cwd
        Working directory (the function code, as ``/var/task`` on Lambda).
    log_path
        File receiving the worker's stdout and stderr.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._read_offset = 0

    @property
    def pid(self) -> int | None:
        """Process id, or None before :meth:`start`."""
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Spawn the worker; its output is appended to :attr:`log_path`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as output:
            self._read_offset = output.tell()
            self._process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        LOG.debug("Started local Lambda worker pid %s: %s", self._process.pid, self.argv)

    def is_alive(self) -> bool:
        """Whether the worker has been started and not yet exited."""
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        """The worker's exit status, or None while it runs (or before it starts)."""
        return self._process.poll() if self._process else None

    def kill(self) -> None:
        """Kill the worker at once (Lambda does not let a timed-out runtime clean up either)."""
        if self._process is None or self._process.poll() is not None:
            return
        try:
            self._process.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            LOG.warning("Local Lambda worker %s did not die after SIGKILL", self._process.pid)

    def read_new_output(self) -> str:
        """Return what the worker wrote since the previous call."""
        try:
            with open(self.log_path, "rb") as output:
                output.seek(self._read_offset)
                data = output.read()
        except FileNotFoundError:
            return ""
        self._read_offset += len(data)
        return data.decode("utf-8", errors="replace")

    def read_tail(self, limit: int = MAX_RETAINED_LOG_BYTES) -> str:
        """Return the last ``limit`` bytes of everything the worker wrote."""
        try:
            with open(self.log_path, "rb") as output:
                size = output.seek(0, os.SEEK_END)
                output.seek(max(0, size - limit))
                return output.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def peak_memory_mb(self) -> int | None:
        """Peak resident memory of the worker (VmHWM), for the REPORT log line."""
        if not self.is_alive() or self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        return None
