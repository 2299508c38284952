"""CPU seconds per thread of this process and per helper process, read from ``/proc``.

On a shared machine the wall time of a round moves with the load; the CPU a part of the
scheduler spends per round moves much less.  :class:`CpuSampler` reads, at each global
step, the CPU time of every thread of the scheduler (named by its Python thread name, or
libzmq's ``ZMQbg/IO/n`` for its I/O threads) and of each helper process (the emulated
workers), so a benchmark can report where a round's CPU goes.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
#: Python thread names with a running number (admm-master-12) are summed as one part.
_NUMBERED = re.compile(r"-\d+$")


def _cpu_seconds(stat_path: Path) -> float | None:
    """utime + stime of one ``/proc/.../stat`` (None once the thread or process is gone)."""
    try:
        text = stat_path.read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _thread_names() -> dict[int, str]:
    return {
        thread.native_id: _NUMBERED.sub("", thread.name)
        for thread in threading.enumerate()
        if thread.native_id is not None
    }


class CpuSampler:
    """Samples of CPU seconds by part: this process's threads, and whole helper processes."""

    def __init__(self) -> None:
        self.samples: list[dict[str, float]] = []
        self.helpers: list[int] = []

    def sample(self) -> None:
        names = _thread_names()
        parts: dict[str, float] = defaultdict(float)
        for task in Path("/proc/self/task").iterdir():
            seconds = _cpu_seconds(task / "stat")
            if seconds is None:
                continue
            tid = int(task.name)
            if tid in names:
                name = names[tid]
            else:
                comm = (task / "comm").read_text().strip() if (task / "comm").exists() else "?"
                name = comm if comm.startswith("ZMQbg") else "other native"
            parts[f"scheduler: {name}"] += seconds
        for pid in self.helpers:
            seconds = _cpu_seconds(Path(f"/proc/{pid}/stat"))
            if seconds is not None:
                parts["emulated workers"] += seconds
        self.samples.append(dict(parts))

    def per_round(self) -> dict[str, float]:
        """Median over rounds of each part's CPU seconds between consecutive samples."""
        rounds: dict[str, list[float]] = defaultdict(list)
        for earlier, later in zip(self.samples, self.samples[1:], strict=False):
            for part in later.keys() | earlier.keys():
                rounds[part].append(later.get(part, 0.0) - earlier.get(part, 0.0))
        return {part: sorted(values)[len(values) // 2] for part, values in sorted(rounds.items())}
