"""Client side of datasets: an svmlight file prepared once into per-worker shards.

The destination is a directory or an ``s3://bucket/prefix``; the manifest is
written last, so a reader never sees a manifest whose shards are missing. Everything is
checked before the first shard is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from runtime.labels import LabelClasses, signed_labels_for
from runtime.registry import get_loss
from runtime.shards import ShardManifest, write_shards
from runtime.storage import storage_for
from runtime.svmlight import ZERO_BASED_CHOICES, SvmlightError, ZeroBased, read_svmlight

#: The flag of each input a prepared data file can be refused for (DatasetError.field).
_DATA_FLAGS = {
    "data": "--data",
    "features": "--features",
    "zero_based": "--zero-based",
    "workers": "--workers",
}


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
) -> PreparedDataset:
    """Load ``source`` with scikit-learn's svmlight reader and write W contiguous shards.

    ``loss``, if given, must accept the file's labels (a classification loss needs two
    classes); the check, like every other, comes before anything is written.

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
        loaded = read_svmlight(source, num_features=num_features, zero_based=zero_based)
    except SvmlightError as error:
        raise DatasetError(str(error), field=error.field) from None
    except OSError as error:  # FileNotFoundError included
        raise DatasetError(
            f"cannot read {source}: {error.strerror or error}", field="data"
        ) from None
    data = loaded.data
    if not 1 <= num_workers <= data.num_samples:
        raise DatasetError(
            f"must be between 1 and the number of samples ({data.num_samples}), got {num_workers}",
            field="workers",
        )
    if loss is not None and get_loss(loss).signed_labels:
        try:
            signed_labels_for(loss, LabelClasses.of(data.labels))
        except ValueError as error:
            raise DatasetError(f"{source}: {error}", field="data") from None
    manifest = write_shards(
        data, target, num_workers, source_name=source.name, zero_based=loaded.zero_based
    )
    return PreparedDataset(manifest=manifest, notes=loaded.notes)


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
    if not source.is_file():
        raise typer.BadParameter(f"data file not found: {source}", param_hint=source_flag)
    try:
        prepared = prepare_dataset(
            source,
            destination,
            num_workers=num_workers,
            num_features=num_features,
            zero_based=zero_based,
            loss=loss,
        )
    except DatasetError as error:
        flag = source_flag if error.field == "data" else _DATA_FLAGS[error.field]
        raise typer.BadParameter(str(error), param_hint=flag) from None
    for note in prepared.notes:
        typer.echo(f"note: {note}", err=True)
    return prepared
