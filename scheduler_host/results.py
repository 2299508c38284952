"""What a solve returns (frozen) and how it is written to a result directory."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
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
    objective: float | None = None  # at the z this iteration computed from (None: async)
    accelerated: bool = False  # computed from an Anderson combination of past points
    primal_tolerance: float | None = None  # the stopping rule's targets for r and s here
    dual_tolerance: float | None = None  # (None: the rule is not on the residuals)


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
    local_stop: str | None = None  # why its local solver stopped (None: not reported)


def finite_or_none(value: float) -> float | None:
    """``value``, or None where JSON has no number for it (``inf``, NaN)."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Traffic:
    """Bytes of the solve's messages, as the scheduler's sockets saw them (without TCP's and
    CURVE's framing).

    ``broadcast_bytes`` counts each broadcast once per worker (the PUB sends a copy to each);
    ``received_bytes`` is the bodies of every message the workers sent (updates, joins, loss
    reports); ``broadcast_encodings`` says how often z went dense, sparse or as a delta.
    """

    broadcasts: int
    broadcast_repeats: int
    broadcast_bytes: int
    received_bytes: int
    broadcast_encodings: dict[str, int]


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
    #: Stopped by Ctrl-C or SIGTERM: x is the latest z, ``reason`` says at which iteration.
    interrupted: bool = False
    traffic: Traffic | None = None
    intercept: float | None = None

    @property
    def status(self) -> str:
        """``converged``, ``not converged`` or ``interrupted``."""
        if self.interrupted:
            return "interrupted"
        return "converged" if self.converged else "not converged"

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
                    "local_stop": [w.local_stop for w in mine],
                }
            )
        return {
            "solve_id": self.solve_id,
            "status": self.status,
            "objective": finite_or_none(self.objective),
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
            "traffic": None if self.traffic is None else asdict(self.traffic),
            "history": [asdict(record) for record in self.history],
            "local_stop_reasons": self.local_stop_reasons(),
            "workers": workers,
        }

    def local_stop_reasons(self) -> dict[str, int]:
        """How often each reason stopped a worker's local solver (its x-updates), by reason."""
        return dict(
            sorted(Counter(w.local_stop for w in self.worker_iterations if w.local_stop).items())
        )

    def check_fields(self) -> dict[str, Any]:
        """The check at the stop, as JSON has it (result.json and the service status)."""
        return {
            "reason": self.reason,
            "optimality": finite_or_none(self.optimality),
            "optimality_tolerance": self.optimality_tolerance,
            "objective_at_zero": finite_or_none(self.objective_at_zero),
        }

    def summary(self) -> str:
        if self.interrupted:
            state = f"INTERRUPTED ({self.reason})"
        else:
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


def write_result(
    directory: Path,
    result: SolveResult,
    *,
    spec: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``result.json`` (the spec, ``extra``'s entries, the result) and ``x.npy``, each
    atomically; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    body = {"spec": spec, **(extra or {}), **result.to_json_dict()}
    text = (json.dumps(body, indent=2) + "\n").encode()
    write_atomically(directory / "result.json", lambda stream: stream.write(text))
    write_atomically(directory / "x.npy", lambda stream: np.save(stream, result.x))
    return directory
