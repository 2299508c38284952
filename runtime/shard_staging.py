"""Writing W shards from rows that arrive in order, a bounded amount at a time.

:class:`ShardStager` takes blocks of rows (:class:`runtime.svmlight_stream.RawRows`, with
the file's own indices) in file order. It knows each shard's rows from the start (the
sample count, then :func:`runtime.generator.row_ranges`), so it routes every row as it
arrives and sets a shard aside, in a staging directory on local disk, the moment its last
row is in. Meanwhile it sums the columns' squares and collects the label classes, so no
second pass over the rows is needed for the manifest.

Only once the whole input has been read, and the index base and d are known, are the staged
shards turned into the final ones (:meth:`ShardStager.finish`), one at a time, and written
to the destination, then the column statistics, then the manifest: a destination never
holds a manifest whose shards are missing, and nothing is written there at all if the input
is refused. Memory holds one shard and one block at a time, plus d floats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from runtime.column_stats import ColumnStats, write_column_stats
from runtime.generator import row_ranges
from runtime.labels import LabelClasses
from runtime.local_data import LocalData
from runtime.shards import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    ShardEntry,
    ShardManifest,
    shard_file_name,
    shard_to_bytes,
)
from runtime.storage import Progress, Storage
from runtime.svmlight_stream import RawRows

#: Distinct labels are counted exactly up to this many (a regression's targets are mostly
#: distinct: past it, the count says "at least" and the memory stays bounded).
MAX_COUNTED_LABELS = 1_000_000


@dataclass
class _LabelSet:
    distinct: np.ndarray = field(default_factory=lambda: np.empty(0))
    saturated: bool = False

    def add(self, labels: np.ndarray) -> None:
        if self.saturated:
            return
        self.distinct = np.union1d(self.distinct, labels)
        self.saturated = self.distinct.size > MAX_COUNTED_LABELS

    def classes(self) -> LabelClasses:
        return LabelClasses.of(self.distinct)


@dataclass
class _OpenShard:
    """The rows of one shard received so far (raw indices)."""

    index: int
    expected: int
    lengths: list[np.ndarray] = field(default_factory=list)
    indices: list[np.ndarray] = field(default_factory=list)
    data: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    received: int = 0


class ShardStager:
    """Routes rows to W shards as they arrive; see the module docstring.

    Parameters
    ----------
    num_samples : int
        N, the number of rows that will arrive (counted beforehand).
    num_workers : int
        W, one shard per worker, ``1 <= W <= N``.
    staging : Path
        A local directory of the caller's, for the staged shards (removed by the caller).
    """

    def __init__(self, *, num_samples: int, num_workers: int, staging: Path) -> None:
        self.ranges = row_ranges(num_samples, num_workers)
        self.num_samples = num_samples
        self.staging = staging
        self._shard = _OpenShard(index=0, expected=self.ranges[0][1] - self.ranges[0][0])
        self._sum_of_squares = np.zeros(0)
        self._labels = _LabelSet()
        self._received = 0

    def add(self, rows: RawRows) -> None:
        """The next rows in order (``rows.first_sample`` must follow the last ones)."""
        if rows.first_sample != self._received:
            raise ValueError(f"rows must arrive in order: expected sample {self._received}")
        if self._received + rows.num_samples > self.num_samples:
            raise ValueError(
                f"more rows arrived than were counted ({self.num_samples}): the count and the "
                "parser disagree on a line"
            )
        squares = np.bincount(rows.indices, weights=rows.data * rows.data)
        if squares.size > self._sum_of_squares.size:
            self._sum_of_squares = np.pad(
                self._sum_of_squares, (0, squares.size - self._sum_of_squares.size)
            )
        self._sum_of_squares[: squares.size] += squares
        self._labels.add(rows.labels)
        lengths = np.diff(rows.indptr)
        start = 0
        while start < rows.num_samples:
            shard = self._shard
            take = min(shard.expected - shard.received, rows.num_samples - start)
            low, high = int(rows.indptr[start]), int(rows.indptr[start + take])
            shard.lengths.append(lengths[start : start + take])
            shard.indices.append(rows.indices[low:high])
            shard.data.append(rows.data[low:high])
            shard.labels.append(rows.labels[start : start + take])
            shard.received += take
            start += take
            if shard.received == shard.expected:
                self._stage(shard)
        self._received += rows.num_samples

    def _stage(self, shard: _OpenShard) -> None:
        np.savez(
            self.staging / f"staged-{shard.index:05d}.npz",
            lengths=np.concatenate(shard.lengths),
            indices=np.concatenate(shard.indices),
            data=np.concatenate(shard.data),
            labels=np.concatenate(shard.labels),
        )
        following = shard.index + 1
        if following < len(self.ranges):
            start, stop = self.ranges[following]
            self._shard = _OpenShard(index=following, expected=stop - start)

    @property
    def label_classes(self) -> LabelClasses:
        """The distinct labels of every row received."""
        return self._labels.classes()

    def finish(
        self,
        destination: Storage,
        *,
        offset: int,
        num_features: int,
        source_name: str,
        zero_based: bool | None,
        progress: Progress | None = None,
    ) -> ShardManifest:
        """Write the final shards (column ``index - offset`` of ``num_features``), the column
        statistics and, last, the manifest, to ``destination``."""
        if self._received != self.num_samples:
            raise ValueError(f"{self._received} rows arrived, expected {self.num_samples}")
        entries = []
        for worker, (start, stop) in enumerate(self.ranges):
            staged = self.staging / f"staged-{worker:05d}.npz"
            with np.load(staged, allow_pickle=False) as parts:
                indptr = np.concatenate([[0], np.cumsum(parts["lengths"])])
                matrix = sp.csr_matrix(
                    (parts["data"], parts["indices"] - offset, indptr),
                    shape=(stop - start, num_features),
                )
                piece = LocalData(features=matrix, labels=parts["labels"])
            staged.unlink()
            blob = shard_to_bytes(piece)
            name = shard_file_name(worker)
            destination.write_bytes(name, blob, progress=progress)
            entries.append(
                ShardEntry(name, start, stop, piece.nnz, hashlib.sha256(blob).hexdigest())
            )
        sums = np.zeros(num_features)
        known = self._sum_of_squares[offset : offset + num_features]
        sums[: known.size] = known
        stats_entry = write_column_stats(
            ColumnStats(sum_of_squares=sums, num_samples=self.num_samples), destination
        )
        manifest = ShardManifest(
            format_version=FORMAT_VERSION,
            num_samples=self.num_samples,
            num_features=num_features,
            num_workers=len(self.ranges),
            shards=tuple(entries),
            source_name=source_name,
            column_stats=stats_entry,
            labels=self.label_classes,
            zero_based=zero_based,
        )
        destination.write_bytes(
            MANIFEST_NAME, manifest.to_json().encode(), content_type="application/json"
        )
        return manifest
