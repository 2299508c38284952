"""Per-column statistics of a prepared dataset: the sidecar ``column-stats.npz``.

``data prepare`` (and ``solve --data``) computes, over all N rows on the client,

    S_j = Σ_n a_nj²   (shape (d,)),

and writes them next to the shards, with their sha256 in the manifest
(:attr:`runtime.shards.ShardManifest.column_stats`). The workers and the scheduler read them
through the same :class:`~runtime.storage.Storage` as the shards (a directory or an ``s3://``
prefix), so a Lambda worker's assignment stays small: it carries no d floats. Column scaling
(:mod:`runtime.column_scaling`) and the scheduler's ρ bounds are built from them.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np

from runtime.local_data import LocalData
from runtime.storage import Storage

COLUMN_STATS_NAME = "column-stats.npz"
_KEYS = {"sum_of_squares", "num_samples"}


@dataclass(frozen=True)
class ColumnStatsEntry:
    """The manifest's record of the sidecar: its file name and sha256."""

    file_name: str
    sha256: str


@dataclass(frozen=True, eq=False)
class ColumnStats:
    """``S_j = Σ_n a_nj²`` over all ``num_samples`` rows; ``sum_of_squares`` shape (d,)."""

    sum_of_squares: np.ndarray
    num_samples: int

    def __post_init__(self) -> None:
        sums = self.sum_of_squares
        if sums.ndim != 1 or sums.dtype != np.float64:
            raise ValueError(
                f"sum_of_squares must be a float64 vector, got {sums.dtype} {sums.shape}"
            )
        if not (np.all(np.isfinite(sums)) and np.all(sums >= 0)):
            raise ValueError("sum_of_squares must be finite and >= 0")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")

    @classmethod
    def of(cls, data: LocalData) -> ColumnStats:
        """The statistics of all rows of ``data``."""
        squares = data.features.multiply(data.features)
        sums = np.asarray(squares.sum(axis=0), dtype=np.float64).ravel()
        return cls(sum_of_squares=sums, num_samples=data.num_samples)

    @property
    def num_features(self) -> int:
        return int(self.sum_of_squares.shape[0])

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            sum_of_squares=self.sum_of_squares,
            num_samples=np.array(self.num_samples, dtype=np.int64),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ColumnStats:
        """Parse :meth:`to_bytes`'s output; ``ValueError("not a column statistics file: ...")``."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
                if set(archive.files) != _KEYS:
                    raise ValueError(f"arrays {sorted(archive.files)}, expected {sorted(_KEYS)}")
                sums, count = archive["sum_of_squares"], archive["num_samples"]
            if count.shape != () or count.dtype.kind not in "iu":
                raise ValueError(f"bad num_samples {count!r}")
            return cls(sum_of_squares=sums, num_samples=int(count))
        except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"not a column statistics file: {error}") from error


def write_column_stats(stats: ColumnStats, destination: Storage) -> ColumnStatsEntry:
    """Write the sidecar; the entry to record in the manifest."""
    blob = stats.to_bytes()
    destination.write_bytes(COLUMN_STATS_NAME, blob)
    return ColumnStatsEntry(COLUMN_STATS_NAME, hashlib.sha256(blob).hexdigest())


def read_column_stats(
    source: Storage, entry: ColumnStatsEntry, *, num_samples: int, num_features: int
) -> ColumnStats:
    """The sidecar of ``entry``, verified against the manifest's sha256 and its N and d.

    Raises
    ------
    ValueError
        ``"column statistics <name> failed its sha256 check: manifest says <x>, file has
        <y>"``, or if its N or d disagree with the manifest.
    FileNotFoundError
        If the sidecar is missing.
    """
    blob = source.read_bytes(entry.file_name)
    actual = hashlib.sha256(blob).hexdigest()
    if actual != entry.sha256:
        raise ValueError(
            f"column statistics {entry.file_name} failed its sha256 check: "
            f"manifest says {entry.sha256}, file has {actual}"
        )
    stats = ColumnStats.from_bytes(blob)
    if stats.num_samples != num_samples or stats.num_features != num_features:
        raise ValueError(
            f"column statistics {entry.file_name} are of {stats.num_samples} x "
            f"{stats.num_features} data; manifest says {num_samples} x {num_features}"
        )
    return stats
