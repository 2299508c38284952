"""Worker assignments for spawner tests: real ones, for a scheduler at ``front``/``broadcast``."""

from __future__ import annotations

from typing import Any

from runtime.penalty_specs import ElasticNetSpec
from runtime.specs import (
    LocalSolverSpec,
    ModelSpec,
    PaperData,
    SchedulerEndpoints,
    ShardData,
    WorkerAssignment,
)


def assignments(
    count: int,
    *,
    front: str,
    broadcast: str,
    data: PaperData | ShardData | None = None,
    **options: Any,
) -> list[WorkerAssignment]:
    """``count`` workers of solve ``s1``, 10 rows each (of the paper's generator by default)."""
    return [
        WorkerAssignment(
            solve_id="s1",
            worker_index=index,
            num_workers=count,
            row_start=index * 10,
            row_stop=index * 10 + 10,
            data=data or PaperData(samples=count * 10, features=5, density=0.5),
            model=ModelSpec(penalty=ElasticNetSpec(l1=1.0)),
            local_solver=LocalSolverSpec(),
            scheduler=SchedulerEndpoints(front=front, broadcast=broadcast),
            **options,
        )
        for index in range(count)
    ]
