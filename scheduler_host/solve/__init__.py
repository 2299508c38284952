"""One solve's controller: coordinator, membership, masters, update slots, transport, z-step."""

from scheduler_host.solve.interrupted import SolveInterrupted
from scheduler_host.solve.options import (
    ProgressCallback,
    SchedulerOptions,
    SolveCancelled,
    SolveFailed,
)
from scheduler_host.solve.run import run_solve

__all__ = [
    "ProgressCallback",
    "SchedulerOptions",
    "SolveCancelled",
    "SolveFailed",
    "SolveInterrupted",
    "run_solve",
]
