"""Progress of a solve on a terminal: the residuals against their targets, shown only on a TTY.

A bar over ``--max-iter`` stays nearly empty, since a solve usually stops long before it.
What tells a user how far a solve is are its residuals r and s against the stopping
tolerances ε_r and ε_s: the bar fills as the residuals close the (logarithmic) distance from
where they started to their targets, the line shows r, s, ρ and the objective (when the
scheduler has it), and an estimate of the iterations left comes from the residuals' trend.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console

    from scheduler_host.results import IterationRecord
    from scheduler_host.solve import ProgressCallback

#: How many recent iterations the trend is fitted to.
TREND_WINDOW = 5
#: A fall of log r by less than this per iteration is no trend (rounding, a stall).
STALLED = 1e-6


def iterations_left(residuals: Sequence[float], target: float) -> int | None:
    """Iterations until ``residuals`` reach ``target``, from a log-linear fit of their last
    :data:`TREND_WINDOW` positive values; 0 once there, None without a falling trend."""
    if residuals and residuals[-1] <= target:
        return 0
    recent = [value for value in residuals[-TREND_WINDOW:] if value > 0]
    if len(recent) < 2:
        return None
    logs = np.log(recent)
    slope = float(np.polyfit(np.arange(len(logs)), logs, 1)[0])  # log r per iteration
    if slope > -STALLED:
        return None
    return max(1, math.ceil((math.log(target) - logs[-1]) / slope))


def closed_fraction(residuals: Sequence[float], target: float) -> float:
    """How much of the way, in log scale, from the first positive residual to ``target``."""
    positive = [value for value in residuals if value > 0]
    if not positive:
        return 0.0
    first, last = positive[0], residuals[-1]
    if last <= target:
        return 1.0
    if first <= target:
        return 0.0
    return min(1.0, max(0.0, math.log(first / last) / math.log(first / target)))


@dataclass
class ResidualProgress:
    """The residuals so far against their targets, and what they say."""

    eps_primal: float
    eps_dual: float
    primal: list[float]
    dual: list[float]

    def record(self, record: IterationRecord) -> None:
        self.primal.append(record.primal_residual)
        self.dual.append(record.dual_residual)
        # the relative stopping rule's targets move with the iterates: the latest ones count
        if record.primal_tolerance is not None and record.dual_tolerance is not None:
            self.eps_primal, self.eps_dual = record.primal_tolerance, record.dual_tolerance

    def fraction(self) -> float:
        """The bar: the lesser of the two residuals' closed fractions."""
        return min(
            closed_fraction(self.primal, self.eps_primal), closed_fraction(self.dual, self.eps_dual)
        )

    def left(self) -> str:
        """``~N left`` (the slower residual's estimate), or ``?`` without a falling trend."""
        estimates = [
            iterations_left(self.primal, self.eps_primal),
            iterations_left(self.dual, self.eps_dual),
        ]
        if None in estimates:
            return "? left"
        most = max(e for e in estimates if e is not None)
        return "at target" if most == 0 else f"~{most} left"


def describe(record: IterationRecord, progress: ResidualProgress) -> str:
    """The line beside the bar: r, s against their targets, ρ, the objective if known."""
    parts = [
        f"it {record.iteration}",
        f"r {record.primal_residual:.2e}/{progress.eps_primal:.0e}",
        f"s {record.dual_residual:.2e}/{progress.eps_dual:.0e}",
        f"ρ {record.rho:.3g}",
    ]
    if record.objective is not None:
        parts.append(f"f {record.objective:.6g}")
    parts.append(progress.left())
    return "  ".join(parts)


def terminal_console() -> Console | None:
    """rich's console on stderr when stderr is a terminal, else None (rich not imported)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def iteration_progress(
    *, eps_primal: float, eps_dual: float, console: Console | None
) -> Iterator[ProgressCallback]:
    """A callback for :func:`run_solve`; draws on a terminal and nothing otherwise."""
    if console is None or not console.is_terminal:
        yield lambda record: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("ADMM"),
        BarColumn(),
        TextColumn("{task.fields[residuals]}"),
        TimeElapsedColumn(),
    )
    progress = ResidualProgress(eps_primal=eps_primal, eps_dual=eps_dual, primal=[], dual=[])
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("solve", total=1.0, residuals="waiting for the workers")

        def update(record: IterationRecord) -> None:
            progress.record(record)
            bar.update(task, completed=progress.fraction(), residuals=describe(record, progress))

        yield update


@dataclass(frozen=True)
class TransferCallbacks:
    """What a data preparation reports: bytes of text parsed, bytes of shards written."""

    read: Callable[[int], None]
    written: Callable[[int], None]


@contextmanager
def transfer_progress(
    *, source_bytes: int | None, console: Console | None
) -> Iterator[TransferCallbacks]:
    """Two bars on a terminal (parsing the source, writing the shards: to S3 by multipart
    parts), nothing otherwise; ``source_bytes`` None for a compressed source (no total)."""
    if console is None or not console.is_terminal:
        yield TransferCallbacks(read=lambda count: None, written=lambda count: None)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        reading = progress.add_task("parse", total=source_bytes)
        writing = progress.add_task("write", total=None)
        yield TransferCallbacks(
            read=lambda count: progress.advance(reading, count),
            written=lambda count: progress.advance(writing, count),
        )
