"""Progress on a terminal, shown only on a TTY: a solve (iteration, r, s and ρ), and a data
preparation (bytes parsed, bytes written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

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


@dataclass(frozen=True)
class TransferCallbacks:
    """What a data preparation reports: bytes of text parsed, bytes of shards written."""

    read: Callable[[int], None]
    written: Callable[[int], None]


@contextmanager
def transfer_progress(*, source_bytes: int | None, console: Console) -> Iterator[TransferCallbacks]:
    """Two bars on a terminal (parsing the source, writing the shards: to S3 by multipart
    parts), nothing otherwise; ``source_bytes`` None for a compressed source (no total)."""
    if not console.is_terminal:
        yield TransferCallbacks(read=lambda count: None, written=lambda count: None)
        return
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
