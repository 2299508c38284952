"""What a solve's scheduler is told besides the spec, and how a solve fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.specs import FaultPlan
from scheduler_host.results import IterationRecord


class SolveFailed(RuntimeError):
    """The solve cannot finish (a slot ran out of replacements, or a deadline passed)."""


#: Worker silence timeout over the longest rebroadcast pause, at least.
SILENCE_PER_REBROADCAST = 3


class SolveCancelled(RuntimeError):
    """Raised by a progress callback to stop the solve; ``run_solve`` stops its workers."""


ProgressCallback = Callable[[IterationRecord], None]


@dataclass(frozen=True, kw_only=True)
class SchedulerOptions:
    """Where the scheduler listens, how long it waits, and how it treats failing workers.

    A worker that has not reported ``worker_deadline_factor`` times the median
    recent compute time (at least ``worker_deadline_floor_seconds``) after an
    iteration opened is declared dead and replaced, as is one that does not
    join within ``join_timeout_seconds``; each slot is replaced at most
    ``max_respawns`` times.  Workers leave after ``scheduler_silence_seconds``
    without a broadcast (at least 3 rebroadcast pauses), so a crashed scheduler's
    workers do not linger.
    """

    bind_host: str = "127.0.0.1"
    advertise_host: str | None = None
    front_port: int = 0
    broadcast_port: int = 0
    join_timeout_seconds: float = 300.0
    iteration_timeout_seconds: float = 900.0
    final_timeout_seconds: float = 300.0
    first_rebroadcast_seconds: float = 0.05
    max_rebroadcast_seconds: float = 5.0
    secure: bool = True
    #: With ``secure``: seal the broadcast once per round (runtime.sealed_broadcast) rather
    #: than CURVE-encrypting it per worker.
    sealed_broadcast: bool = True
    worker_deadline_floor_seconds: float = 60.0
    worker_deadline_factor: float = 10.0
    max_respawns: int = 3
    worker_time_limit_seconds: float | None = None
    retire_margin_seconds: float = 10.0
    handoff_lead_seconds: float = 30.0
    scheduler_silence_seconds: float = 20.0
    faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        # Workers leave after this much silence; the scheduler repeats its broadcast at
        # most every max_rebroadcast_seconds, so a healthy idle worker hears it 3 times.
        floor = SILENCE_PER_REBROADCAST * self.max_rebroadcast_seconds
        if self.scheduler_silence_seconds < floor:
            raise ValueError(
                f"scheduler_silence_seconds must be >= {SILENCE_PER_REBROADCAST} x "
                f"max_rebroadcast_seconds = {floor:g}, got {self.scheduler_silence_seconds:g}"
            )

    def worker_options(self) -> dict[str, Any]:
        """What each spawn request carries besides the spec."""
        return {
            "time_limit_seconds": self.worker_time_limit_seconds,
            "retire_margin_seconds": self.retire_margin_seconds,
            "handoff_lead_seconds": self.handoff_lead_seconds,
            "scheduler_silence_seconds": self.scheduler_silence_seconds,
            "faults": self.faults,
        }
