"""Where an estimator's workers run: threads in this process, local processes, or Lambda.

A fit writes the training rows as W shards (the same files ``lambda-admm data prepare``
writes: CSR, labels, manifest, column statistics) and runs the real solve on them: the
coordinator, the masters and one worker per shard, each reading only its own shard.

* ``threads``: the workers are threads of this process, talking over ``inproc://``
  (:class:`~scheduler_host.spawners.threads.ThreadSpawner`). No interpreter starts, so a
  small fit costs milliseconds, which is what scikit-learn's own checks (hundreds of fits
  of tiny data) and a grid search need. The workers share one GIL.
* ``processes``: one ``python -m runtime.worker`` per shard, as ``lambda-admm solve`` does;
  each costs about 0.3 s of start-up (imports), then computes in parallel.
* ``lambda``: Lambda workers of a deployed stack, through its API
  (:mod:`scheduler_host.estimators.lambda_backend`).
* ``local`` (the default): ``threads`` for data up to :data:`THREADS_UP_TO_NONZEROS`
  stored values, ``processes`` beyond. ``bench/estimator_backends.py`` measured both at
  W = 2 (L1-logistic, d = 1,000, load average 9 to 15): threads took 0.15, 0.21, 0.55 and
  0.91 of the processes' time at 10^4, 10^5, 10^6 and 4·10^6 stored values (0.36 s against
  2.4 s for the smallest: the processes' start-up); the trend crosses 1 just beyond 4·10^6.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from runtime.local_data import LocalData
from runtime.shards import write_shards
from runtime.storage import LocalStorage
from scheduler_host.results import SolveResult
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.base import Spawner

Backend = Literal["local", "threads", "processes", "lambda"]
LocalBackend = Literal["local", "threads", "processes"]

#: ``local`` runs workers on threads up to this many stored values of X, processes beyond.
THREADS_UP_TO_NONZEROS = 4_000_000

#: A solve kept in this process: no CURVE (nothing leaves the process), short silences.
IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)


@dataclass(frozen=True, kw_only=True)
class FitRequest:
    """One fit: the rows, the spec's fields besides the data, and where to start."""

    data: LocalData
    fields: dict[str, object]
    initial_x: np.ndarray | None = None


@dataclass(frozen=True)
class FitOutcome:
    """What a fit keeps of a solve, wherever it ran: x (d,), the intercept, the verdict."""

    x: np.ndarray
    intercept: float | None
    objective: float
    iterations: int
    converged: bool
    reason: str | None

    @classmethod
    def of(cls, result: SolveResult) -> FitOutcome:
        return cls(
            x=result.x,
            intercept=result.intercept,
            objective=result.objective,
            iterations=result.iterations,
            converged=result.converged,
            reason=result.reason,
        )


def resolved_backend(backend: LocalBackend, data: LocalData) -> Literal["threads", "processes"]:
    """``local`` decided by the size of the data; the others as given."""
    if backend == "local":
        return "threads" if data.nnz <= THREADS_UP_TO_NONZEROS else "processes"
    return backend


def _spawner(kind: Literal["threads", "processes"], scratch: Path) -> Spawner:
    if kind == "threads":
        from scheduler_host.spawners.threads import ThreadSpawner

        return ThreadSpawner()
    from scheduler_host.spawners.local import LocalProcessSpawner

    return LocalProcessSpawner(log_directory=scratch / "logs")


def solve_locally(request: FitRequest, *, backend: LocalBackend, workers: int) -> FitOutcome:
    """Write the rows as ``workers`` shards in a temporary directory and solve them there.

    Raises
    ------
    scheduler_host.solve.SolveFailed
        If the solve cannot finish (a worker fails the same way on every attempt).
    """
    kind = resolved_backend(backend, request.data)
    with tempfile.TemporaryDirectory(prefix="lambda-admm-fit-") as scratch:
        shards = Path(scratch) / "shards"
        write_shards(request.data, LocalStorage(shards), workers, source_name="fit")
        spec = SolveSpec(
            problem="shards",
            shards=str(shards),
            samples=request.data.num_samples,
            features=request.data.num_features,
            workers=workers,
            **request.fields,  # type: ignore[arg-type]
        )
        options = IN_PROCESS if kind == "threads" else SchedulerOptions()
        result = run_solve(
            spec,
            spawner=_spawner(kind, Path(scratch)),
            options=options,
            initial_x=request.initial_x,
        )
    return FitOutcome.of(result)
