"""One solve's controller: coordinator, membership, masters, update slots, transport, z-step."""

from scheduler_host.solve.options import ProgressCallback, SchedulerOptions, SolveFailed
from scheduler_host.solve.run import run_solve

__all__ = ["ProgressCallback", "SchedulerOptions", "SolveFailed", "run_solve"]
