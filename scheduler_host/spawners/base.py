"""The spawner interface every backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.specs import WorkerAssignment


@dataclass(frozen=True)
class SpawnFailure:
    """A worker the backend knows will not (or no longer) take part."""

    worker_index: int
    reason: str
    slot_epoch: int = 0


class Spawner(Protocol):
    """Starts workers for assignments; never waits for them to join."""

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        """Request one worker per assignment (concurrently where the backend allows)."""

    def failures(self) -> list[SpawnFailure]:
        """Workers that failed to start or died since the last call."""

    def close(self) -> None:
        """Release what the spawner holds (local workers are stopped)."""
