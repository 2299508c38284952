"""Progress of a solve on a terminal: iteration, r, s and ρ, shown only on a TTY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scheduler_host.results import IterationRecord
from scheduler_host.solve import ProgressCallback


@contextmanager
def iteration_progress(*, max_iter: int, console: Console) -> Iterator[ProgressCallback]:
    """A callback for :func:`run_solve`; draws a bar on a terminal and nothing otherwise."""
    if not console.is_terminal:
        yield lambda record: None
        return
    columns = (
        TextColumn("ADMM"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[residuals]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("solve", total=max_iter, residuals="waiting for workers")

        def update(record: IterationRecord) -> None:
            progress.update(
                task,
                completed=record.iteration,
                residuals=(
                    f"r={record.primal_residual:.3e} s={record.dual_residual:.3e} ρ={record.rho:g}"
                ),
            )

        yield update
