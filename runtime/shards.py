"""Training data prepared once into per-worker CSR shards, plus a manifest that checks them.

Layout of a shard directory or ``s3://`` prefix (any :class:`~runtime.storage.Storage`)::

    manifest.json        ShardManifest.to_json()  (with the label classes: runtime.labels)
    shard-00000.npz      worker 0's rows: CSR arrays, labels, optional weights
    shard-00001.npz      ...
    column-stats.npz     Σ_n a_nj² over all rows (runtime.column_stats); older datasets lack it

A worker reads the manifest and only its own shard, and verifies the shard's sha256 against
the manifest before use. Shards are plain ``np.savez`` archives read with
``allow_pickle=False``: nothing is unpickled. Reading the svmlight source file
(:mod:`runtime.svmlight`) is the client's job; it needs scikit-learn, which workers lack.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from runtime.column_stats import (
    ColumnStats,
    ColumnStatsEntry,
    read_column_stats,
    write_column_stats,
)
from runtime.generator import row_ranges
from runtime.labels import LabelClasses
from runtime.local_data import LocalData
from runtime.storage import Storage

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_SHARD_KEYS = {"data", "indices", "indptr", "shape", "labels"}


def shard_file_name(worker_index: int) -> str:
    """``shard-00000.npz`` for worker 0, and so on."""
    return f"shard-{worker_index:05d}.npz"


def shard_to_bytes(data: LocalData) -> bytes:
    """Serialize ``data`` as an ``.npz`` archive (CSR arrays, labels, weights if any)."""
    matrix = data.features
    arrays = {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "shape": np.array(matrix.shape, dtype=np.int64),
        "labels": data.labels,
    }
    if data.weights is not None:
        arrays["weights"] = data.weights
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def shard_from_bytes(blob: bytes) -> LocalData:
    """Parse a shard written by :func:`shard_to_bytes`.

    Raises
    ------
    ValueError
        ``"not a lambda-admm shard: ..."`` if the bytes are not such an archive or its arrays
        are inconsistent.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            names = set(archive.files)
            missing = _SHARD_KEYS - names
            if missing:
                raise ValueError(f"missing arrays {sorted(missing)}")
            unexpected = names - _SHARD_KEYS - {"weights"}
            if unexpected:
                raise ValueError(f"unexpected arrays {sorted(unexpected)}")
            arrays = {name: archive[name] for name in names}
        shape = arrays["shape"]
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
            raise ValueError(f"bad shape array {shape!r}")
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]),
            shape=(int(shape[0]), int(shape[1])),
        )
        matrix.check_format(full_check=True)
        return LocalData(features=matrix, labels=arrays["labels"], weights=arrays.get("weights"))
    except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"not a lambda-admm shard: {error}") from error


@dataclass(frozen=True)
class ShardEntry:
    """One worker's shard: file name, its rows ``[row_start, row_stop)``, nnz and sha256."""

    file_name: str
    row_start: int
    row_stop: int
    nnz: int
    sha256: str


@dataclass(frozen=True)
class ShardManifest:
    """What a shard directory holds; ``shards[w]`` is worker ``w``'s.

    ``column_stats`` names the column statistics sidecar; None in a manifest written before
    they were (such a dataset still loads, and is solved without column scaling).
    ``labels`` are the whole data set's label classes (None in manifests written before they
    were recorded). The JSON also states their ±1 mapping, for a reader; it is derived from
    the classes (:attr:`runtime.labels.LabelClasses.binary`), never read back.
    ``zero_based`` is how the source file's feature indices were read (None: not from an
    svmlight file, or prepared before it was recorded); a model trained on the dataset reads
    its test files the same way.
    """

    format_version: int
    num_samples: int
    num_features: int
    num_workers: int
    shards: tuple[ShardEntry, ...]
    source_name: str
    column_stats: ColumnStatsEntry | None = None
    labels: LabelClasses | None = None
    zero_based: bool | None = None

    def __post_init__(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"unsupported shard format_version {self.format_version} "
                f"(this code reads {FORMAT_VERSION})"
            )
        if len(self.shards) != self.num_workers:
            raise ValueError(
                f"manifest lists {len(self.shards)} shards for {self.num_workers} workers"
            )
        expected_start = 0
        for entry in self.shards:
            if entry.row_start != expected_start or entry.row_stop < entry.row_start:
                raise ValueError(f"manifest shard {entry.file_name} has a bad row range")
            expected_start = entry.row_stop
        if expected_start != self.num_samples:
            raise ValueError(
                f"manifest shards cover {expected_start} rows, not num_samples={self.num_samples}"
            )

    def to_json(self) -> str:
        """The manifest as indented JSON text."""
        document = asdict(self)
        document["shards"] = [asdict(entry) for entry in self.shards]
        if self.column_stats is None:
            del document["column_stats"]  # the form older readers know
        document["labels"] = None if self.labels is None else _labels_document(self.labels)
        return json.dumps(document, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ShardManifest:
        """Parse :meth:`to_json`'s output; ``ValueError("invalid shard manifest: ...")``."""
        try:
            document = json.loads(text)
            entries = tuple(
                ShardEntry(
                    file_name=str(entry["file_name"]),
                    row_start=int(entry["row_start"]),
                    row_stop=int(entry["row_stop"]),
                    nnz=int(entry["nnz"]),
                    sha256=str(entry["sha256"]),
                )
                for entry in document["shards"]
            )
            stats = document.get("column_stats")
            return cls(
                format_version=int(document["format_version"]),
                num_samples=int(document["num_samples"]),
                num_features=int(document["num_features"]),
                num_workers=int(document["num_workers"]),
                shards=entries,
                source_name=str(document["source_name"]),
                column_stats=None
                if stats is None
                else ColumnStatsEntry(str(stats["file_name"]), str(stats["sha256"])),
                labels=_labels_from_document(document.get("labels")),
                zero_based=_optional_bool(document.get("zero_based")),
            )
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"invalid shard manifest: {error}") from error


def _optional_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"zero_based must be true, false or null, got {value!r}")


def _labels_document(labels: LabelClasses) -> dict[str, object]:
    binary = labels.binary
    mapping = None if binary is None else {"-1": binary.negative, "+1": binary.positive}
    return {"classes": list(labels.listed), "count": labels.count, "mapping": mapping}


def _labels_from_document(document: dict[str, object] | None) -> LabelClasses | None:
    if document is None:
        return None
    listed = document["classes"]
    if not isinstance(listed, list):
        raise TypeError(f"labels.classes must be a list, got {listed!r}")
    return LabelClasses(
        listed=tuple(float(value) for value in listed), count=int(str(document["count"]))
    )


def write_shards(
    data: LocalData,
    destination: Storage,
    num_workers: int,
    *,
    source_name: str,
    zero_based: bool | None = None,
) -> ShardManifest:
    """Cut ``data`` into ``num_workers`` contiguous row shards and write them plus the manifest.

    Rows are split by :func:`runtime.generator.row_ranges`. The column statistics of all
    rows go to their sidecar. The manifest is written last, so a reader never sees a
    manifest whose shards or statistics are missing.
    """
    entries = []
    for worker_index, (start, stop) in enumerate(row_ranges(data.num_samples, num_workers)):
        piece = LocalData(
            features=data.features[start:stop],
            labels=data.labels[start:stop].copy(),
            weights=None if data.weights is None else data.weights[start:stop].copy(),
        )
        blob = shard_to_bytes(piece)
        name = shard_file_name(worker_index)
        destination.write_bytes(name, blob)
        entries.append(ShardEntry(name, start, stop, piece.nnz, hashlib.sha256(blob).hexdigest()))
    stats_entry = write_column_stats(ColumnStats.of(data), destination)
    manifest = ShardManifest(
        format_version=FORMAT_VERSION,
        num_samples=data.num_samples,
        num_features=data.num_features,
        num_workers=num_workers,
        shards=tuple(entries),
        source_name=source_name,
        column_stats=stats_entry,
        labels=LabelClasses.of(data.labels),
        zero_based=zero_based,
    )
    destination.write_bytes(
        MANIFEST_NAME, manifest.to_json().encode(), content_type="application/json"
    )
    return manifest


def read_manifest(source: Storage) -> ShardManifest:
    """The manifest of the shards in ``source``.

    Raises
    ------
    FileNotFoundError
        ``"shard manifest not found: <uri>"``.
    StorageError
        ``"cannot read <uri>: ..."`` if the storage fails otherwise.
    """
    try:
        text = source.read_bytes(MANIFEST_NAME)
    except FileNotFoundError:
        raise FileNotFoundError(f"shard manifest not found: {source.uri(MANIFEST_NAME)}") from None
    return ShardManifest.from_json(text.decode())


def shard_from_verified_bytes(blob: bytes, manifest: ShardManifest, worker_index: int) -> LocalData:
    """Parse worker ``worker_index``'s shard after checking it against the manifest.

    Raises
    ------
    ValueError
        ``"shard <name> failed its sha256 check: manifest says <x>, file has <y>"``, or if its
        shape or nnz disagree with the manifest.
    """
    if not 0 <= worker_index < manifest.num_workers:
        raise ValueError(f"worker_index must be in [0, {manifest.num_workers}), got {worker_index}")
    entry = manifest.shards[worker_index]
    actual = hashlib.sha256(blob).hexdigest()
    if actual != entry.sha256:
        raise ValueError(
            f"shard {entry.file_name} failed its sha256 check: "
            f"manifest says {entry.sha256}, file has {actual}"
        )
    data = shard_from_bytes(blob)
    expected_shape = (entry.row_stop - entry.row_start, manifest.num_features)
    if data.features.shape != expected_shape or data.nnz != entry.nnz:
        raise ValueError(
            f"shard {entry.file_name} holds shape {data.features.shape} with {data.nnz} "
            f"nonzeros; manifest says {expected_shape} with {entry.nnz}"
        )
    return data


def read_manifest_column_stats(source: Storage, manifest: ShardManifest) -> ColumnStats | None:
    """The verified column statistics of the dataset, or None if its manifest has none."""
    if manifest.column_stats is None:
        return None
    return read_column_stats(
        source,
        manifest.column_stats,
        num_samples=manifest.num_samples,
        num_features=manifest.num_features,
    )


def read_shard(source: Storage, worker_index: int) -> LocalData:
    """Worker ``worker_index``'s rows, reading only the manifest and that one shard."""
    return read_shard_and_manifest(source, worker_index)[0]


def read_shard_and_manifest(source: Storage, worker_index: int) -> tuple[LocalData, ShardManifest]:
    """:func:`read_shard`, and the manifest it was checked against."""
    manifest = read_manifest(source)
    if not 0 <= worker_index < manifest.num_workers:
        raise ValueError(f"worker_index must be in [0, {manifest.num_workers}), got {worker_index}")
    blob = source.read_bytes(manifest.shards[worker_index].file_name)
    return shard_from_verified_bytes(blob, manifest, worker_index), manifest
