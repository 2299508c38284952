"""Client side of datasets: an svmlight file prepared once into per-worker shards.

The destination is a directory or an ``s3://bucket/prefix``; the manifest is
written last, so a reader never sees a manifest whose shards are missing. Everything is
checked before the first shard is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

from runtime.labels import signed_labels_for
from runtime.registry import get_loss
from runtime.shard_staging import ShardStager
from runtime.shards import ShardManifest
from runtime.storage import Progress, Storage, StorageError, storage_for
from runtime.svmlight import (
    MAX_INFERRED_FEATURES,
    ZERO_BASED_CHOICES,
    ZeroBased,
    resolve_columns,
    scan_for_limit,
)
from runtime.svmlight_lines import SvmlightError
from runtime.svmlight_stream import (
    DEFAULT_BLOCK_BYTES,
    IndexBeyondLimit,
    IndexRange,
    count_samples,
    parsed_blocks,
)
from runtime.tabular_sources import (
    describe_npz,
    describe_parquet,
    npz_blocks,
    parquet_blocks,
)
from scheduler_host.solve_spec import MAX_FEATURES

#: The flag of each input a prepared data file can be refused for (DatasetError.field).
_DATA_FLAGS = {
    "data": "--data",
    "features": "--features",
    "zero_based": "--zero-based",
    "workers": "--workers",
}


#: Sources read by :mod:`runtime.tabular_sources`; any other name is an svmlight file.
TABULAR_SUFFIXES = (".npz", ".parquet", ".pq")


class DatasetError(ValueError):
    """Input that cannot be prepared; ``field`` names it (``data``, ``workers``, ...)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PreparedDataset:
    """The manifest written, and what reading the file decided (for the user)."""

    manifest: ShardManifest
    notes: tuple[str, ...]


def prepare_dataset(
    source: Path,
    destination: str,
    *,
    num_workers: int,
    num_features: int | None = None,
    zero_based: ZeroBased = "auto",
    loss: str | None = None,
    progress: Progress | None = None,
    read_progress: Progress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> PreparedDataset:
    """Stream ``source`` into W contiguous shards, a bounded block at a time: an svmlight
    file (also ``.gz``, ``.bz2``), an ``.npz`` CSR matrix with labels, or a long-form
    Parquet table (:mod:`runtime.tabular_sources`).

    One pass counts the samples, a second parses bounded blocks with scikit-learn's reader
    and routes each row to its shard (:class:`runtime.shard_staging.ShardStager`), so memory
    holds a block and a shard, never the file. ``loss``, if given, must accept the file's
    labels (a classification loss needs two classes); the check, like every other, comes
    before anything is written to ``destination``. ``progress`` is told the bytes written
    there as they go (an S3 destination takes shards of 8 MiB or more as multipart uploads),
    ``read_progress`` the bytes of text parsed.

    Raises
    ------
    DatasetError
        With ``field`` ``"data"`` (the file: unreadable, no samples, a bad line, an index
        beyond the limit, labels the loss cannot take), ``"features"``, ``"zero_based"`` or
        ``"workers"`` (a W the data cannot take).
    ValueError
        ``"destination: ..."`` for a malformed ``s3://`` URI.
    OSError
        If the destination cannot be written.
    """
    target = storage_for(destination, field="destination")
    try:
        with tempfile.TemporaryDirectory(prefix="lambda-admm-staging-") as staging:
            if source.suffix in TABULAR_SUFFIXES and source.is_file():
                return _tabular_into(
                    source,
                    target,
                    Path(staging),
                    num_workers=num_workers,
                    num_features=num_features,
                    zero_based=zero_based,
                    loss=loss,
                    progress=progress,
                )
            return _stream_into(
                source,
                target,
                Path(staging),
                num_workers=num_workers,
                num_features=num_features,
                zero_based=zero_based,
                loss=loss,
                progress=progress,
                read_progress=read_progress,
                block_bytes=block_bytes,
            )
    except SvmlightError as error:
        raise DatasetError(str(error), field=error.field) from None
    except StorageError:
        raise
    except OSError as error:  # the source: FileNotFoundError included
        raise DatasetError(
            f"cannot read {source}: {error.strerror or error}", field="data"
        ) from None


def _tabular_into(
    source: Path,
    target: Storage,
    staging: Path,
    *,
    num_workers: int,
    num_features: int | None,
    zero_based: ZeroBased,
    loss: str | None,
    progress: Progress | None,
) -> PreparedDataset:
    """An ``.npz`` CSR or a long-form Parquet source (:mod:`runtime.tabular_sources`)."""
    if zero_based != "auto":
        raise DatasetError(
            f"{source}: an .npz or Parquet source has 0-based columns (allowed: auto)",
            field="zero_based",
        )
    is_npz = source.suffix == ".npz"
    described = describe_npz(source) if is_npz else describe_parquet(source)
    if described.num_samples == 0:
        raise SvmlightError(f"no samples in {source}")
    stated = described.num_features
    if num_features is not None and stated is not None and num_features < stated:
        raise DatasetError(
            f"{source} has {stated} columns, more than --features {num_features} (allowed: "
            f"{stated} to {MAX_FEATURES:,})",
            field="features",
        )
    width = num_features or stated
    blocks = (
        npz_blocks(source, num_features=width)
        if is_npz
        else parquet_blocks(source, num_features=width)
    )
    if not 1 <= num_workers <= described.num_samples:
        raise DatasetError(
            f"must be between 1 and the number of samples ({described.num_samples}), "
            f"got {num_workers}",
            field="workers",
        )
    stager = ShardStager(
        num_samples=described.num_samples, num_workers=num_workers, staging=staging
    )
    seen = IndexRange()
    for rows in blocks:
        seen.add(rows, query_ids=False)
        stager.add(rows)
    _check_loss_labels(source, loss, stager)
    manifest = stager.finish(
        target,
        offset=0,
        num_features=width or (seen.largest or 0) + 1,
        source_name=source.name,
        zero_based=True,
        progress=progress,
    )
    return PreparedDataset(manifest=manifest, notes=())


def _check_loss_labels(source: Path, loss: str | None, stager: ShardStager) -> None:
    if loss is not None and get_loss(loss).signed_labels:
        try:
            signed_labels_for(loss, stager.label_classes)
        except ValueError as error:
            raise DatasetError(f"{source}: {error}", field="data") from None


def _stream_into(
    source: Path,
    target: Storage,
    staging: Path,
    *,
    num_workers: int,
    num_features: int | None,
    zero_based: ZeroBased,
    loss: str | None,
    progress: Progress | None,
    read_progress: Progress | None,
    block_bytes: int,
) -> PreparedDataset:
    if not source.is_file():
        raise FileNotFoundError(f"data file not found: {source}")
    samples = count_samples(source, block_bytes)
    stager = (
        ShardStager(num_samples=samples, num_workers=num_workers, staging=staging)
        if 1 <= num_workers <= samples
        else None  # the file is still read whole: its own errors come first
    )
    seen = IndexRange()
    try:
        limit = num_features or MAX_INFERRED_FEATURES
        for rows in parsed_blocks(source, index_limit=limit, seen=seen, block_bytes=block_bytes):
            if stager is not None:
                stager.add(rows)
            if read_progress is not None:
                read_progress(rows.text_bytes)
    except IndexBeyondLimit:
        seen = scan_for_limit(source, seen)
    columns = resolve_columns(source, seen, num_features=num_features, zero_based=zero_based)
    if stager is None:
        raise DatasetError(
            f"must be between 1 and the number of samples ({samples}), got {num_workers}",
            field="workers",
        )
    _check_loss_labels(source, loss, stager)
    manifest = stager.finish(
        target,
        offset=columns.offset,
        num_features=columns.num_features,
        source_name=source.name,
        zero_based=columns.zero_based,
        progress=progress,
    )
    return PreparedDataset(manifest=manifest, notes=columns.notes)


def zero_based_choice(value: str, *, flag: str = "--zero-based") -> ZeroBased:
    """``auto``, ``true`` or ``false``, else a usage error naming ``flag``."""
    for choice in ZERO_BASED_CHOICES:
        if value == choice:
            return choice
    raise typer.BadParameter(
        f"got {value!r} (allowed: {', '.join(ZERO_BASED_CHOICES)})", param_hint=flag
    )


def prepare_data_file(
    source: Path,
    destination: str,
    *,
    num_workers: int,
    num_features: int | None,
    zero_based: ZeroBased,
    loss: str | None,
    source_flag: str,
) -> PreparedDataset:
    """:func:`prepare_dataset`, its refusals as usage errors naming the flag, its notes shown."""
    from scheduler_host.cli.progress import terminal_console, transfer_progress

    if not source.is_file():
        raise typer.BadParameter(f"data file not found: {source}", param_hint=source_flag)
    compressed = source.suffix in (".gz", ".bz2")
    size = None if compressed else source.stat().st_size
    try:
        with transfer_progress(source_bytes=size, console=terminal_console()) as report:
            prepared = prepare_dataset(
                source,
                destination,
                num_workers=num_workers,
                num_features=num_features,
                zero_based=zero_based,
                loss=loss,
                progress=report.written,
                read_progress=report.read,
            )
    except DatasetError as error:
        flag = source_flag if error.field == "data" else _DATA_FLAGS[error.field]
        raise typer.BadParameter(str(error), param_hint=flag) from None
    for note in prepared.notes:
        typer.echo(f"note: {note}", err=True)
    return prepared
