"""What a solve returns (frozen) and how it is written to a result directory."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np


@dataclass(frozen=True)
class IterationRecord:
    """One ADMM iteration as seen by the scheduler."""

    iteration: int
    primal_residual: float
    dual_residual: float
    rho: float
    wall_seconds: float


@dataclass(frozen=True)
class WorkerIteration:
    """The paper's per-worker timings for one iteration, measured by the worker.

    ``compute_seconds``: z received -> update sent; ``idle_seconds``: previous
    update sent -> this z received (0 for the first iteration).
    """

    worker_index: int
    iteration: int
    compute_seconds: float
    idle_seconds: float
    local_iterations: int


def finite_or_none(value: float) -> float | None:
    """``value``, or None where JSON has no number for it (``inf``, NaN)."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SolveResult:
    """A finished solve.

    ``converged`` holds only when the residual rule stopped the iterations *and* the returned
    x passed the check at the stop (:mod:`scheduler_host.solve.optimality`): ``optimality``
    (``max_i |r_i| / max(1, |∂_i f(0)|)`` for the least subgradient ``r ∈ ∇f(x) + ∂h(x)``) at
    most ``optimality_tolerance`` (``eps_kkt``), and ``objective`` not above
    ``objective_at_zero``. Otherwise ``reason`` says which of these failed.

    ``x`` holds the d coefficients; a model fitted with an intercept has it in ``intercept``
    (None without one).
    """

    solve_id: str
    x: np.ndarray = field(repr=False)
    objective: float
    iterations: int
    converged: bool
    reason: str | None
    optimality: float
    optimality_tolerance: float
    objective_at_zero: float
    primal_residual: float
    dual_residual: float
    rho: float
    history: tuple[IterationRecord, ...]
    worker_iterations: tuple[WorkerIteration, ...]
    cold_start_seconds: tuple[float, ...]
    setup_seconds: float
    solve_seconds: float
    dropped_messages: int
    replacements: int = 0
    intercept: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """``result.json``'s content (x itself goes to ``x.npy``)."""
        workers = []
        for index, cold_start in enumerate(self.cold_start_seconds):
            mine = [w for w in self.worker_iterations if w.worker_index == index]
            mine.sort(key=lambda w: w.iteration)
            workers.append(
                {
                    "worker": index,
                    "cold_start_seconds": cold_start,
                    "compute_seconds": [w.compute_seconds for w in mine],
                    "idle_seconds": [w.idle_seconds for w in mine],
                    "local_iterations": [w.local_iterations for w in mine],
                }
            )
        return {
            "solve_id": self.solve_id,
            "objective": self.objective,
            "iterations": self.iterations,
            "converged": self.converged,
            "intercept": self.intercept,
            **self.check_fields(),
            "primal_residual": self.primal_residual,
            "dual_residual": self.dual_residual,
            "rho": self.rho,
            "nonzeros": int(np.count_nonzero(self.x)),
            "setup_seconds": self.setup_seconds,
            "solve_seconds": self.solve_seconds,
            "dropped_messages": self.dropped_messages,
            "replacements": self.replacements,
            "history": [asdict(record) for record in self.history],
            "workers": workers,
        }

    def check_fields(self) -> dict[str, Any]:
        """The check at the stop, as JSON has it (result.json and the service status)."""
        return {
            "reason": self.reason,
            "optimality": finite_or_none(self.optimality),
            "optimality_tolerance": self.optimality_tolerance,
            "objective_at_zero": finite_or_none(self.objective_at_zero),
        }

    def summary(self) -> str:
        state = "converged" if self.converged else f"NOT converged ({self.reason})"
        return (
            f"{state} in {self.iterations} iterations, objective {self.objective:.10g}, "
            f"optimality {self.optimality:.1e} (tolerance {self.optimality_tolerance:.1e}), "
            f"r={self.primal_residual:.3g}, s={self.dual_residual:.3g}, "
            f"{self.solve_seconds:.2f} s (+{self.setup_seconds:.2f} s start-up)"
        )


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename.

    A reader sees the old file or the whole new one, never part of it; if anything fails,
    the temporary file is removed and the error propagates.
    """
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except OSError as error:  # said of the destination, not of the temporary file
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_result(directory: Path, result: SolveResult, *, spec: dict[str, Any]) -> Path:
    """Write ``result.json`` (with the spec) and ``x.npy``, each atomically; returns the
    directory."""
    directory.mkdir(parents=True, exist_ok=True)
    body = {"spec": spec, **result.to_json_dict()}
    text = (json.dumps(body, indent=2) + "\n").encode()
    write_atomically(directory / "result.json", lambda stream: stream.write(text))
    write_atomically(directory / "x.npy", lambda stream: np.save(stream, result.x))
    return directory
