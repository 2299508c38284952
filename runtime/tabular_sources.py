"""Training data besides svmlight, read in bounded blocks like it: ``.npz`` CSR and Parquet.

Both give :class:`runtime.svmlight_stream.RawRows` blocks in row order (0-based column
indices), which :class:`runtime.shard_staging.ShardStager` routes to the shards.

* ``.npz``: the arrays of a CSR matrix, ``data``, ``indices``, ``indptr`` and ``shape``
  (what ``scipy.sparse.save_npz`` writes for a CSR matrix, whose ``format`` entry must then
  say ``csr``), plus ``labels`` (n,). ``indptr`` is read whole (n + 1 integers); ``data``
  and ``indices`` are read from the archive a block of rows at a time, never whole.
* Parquet in long form: one table entry per stored value, columns ``row`` (0 to N − 1, in
  non-decreasing order), ``col`` (0-based), ``value`` and ``label`` (the row's label, the same
  on each of its entries). A row without values is one entry whose ``col`` and ``value`` are
  null. Read a record batch at a time (pyarrow).

Every refusal names the file and what is wrong, e.g. ``"data.parquet: row 7 has labels 1
and 0 (allowed: one label per row)"``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from runtime.svmlight_lines import SvmlightError
from runtime.svmlight_stream import RawRows

#: Rows per block (bounded by this many stored values too).
BLOCK_VALUES = 2_000_000
NPZ_ARRAYS = {"data", "indices", "indptr", "shape", "labels"}
PARQUET_COLUMNS = ("row", "col", "value", "label")


class SourceError(SvmlightError):
    """A file that cannot be used (the same ``field`` convention as svmlight's)."""


@dataclass(frozen=True)
class TabularSource:
    """A source's size, known before its rows are read."""

    num_samples: int
    num_features: int | None  # an npz states d; long-form Parquet does not


def _member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    return archive.open(f"{name}.npy")


def _header(stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(stream)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(stream)
    if fortran and len(shape) > 1:
        raise ValueError("Fortran-ordered arrays are not supported")
    return shape, dtype


def _whole(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with _member(archive, name) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def describe_npz(path: Path) -> TabularSource:
    """N and d of a CSR ``.npz`` (from ``shape``), after checking its arrays are there.

    Raises
    ------
    SourceError
        ``"PATH: missing arrays ['labels'] (allowed: a CSR matrix's data, indices, indptr,
        shape, and labels)"``, or a ``format`` other than ``csr``.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
            missing = sorted(NPZ_ARRAYS - names)
            if missing:
                raise SourceError(
                    f"{path}: missing arrays {missing} (allowed: a CSR matrix's data, indices, "
                    "indptr, shape, and labels)"
                )
            if "format" in names:
                kind = _whole(archive, "format").item()
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind != "csr":
                    raise SourceError(f"{path}: a {kind} matrix (allowed: csr)")
            shape = _whole(archive, "shape")
    except (zipfile.BadZipFile, ValueError, KeyError) as error:
        if isinstance(error, SourceError):
            raise
        raise SourceError(f"{path}: not an .npz archive of arrays ({error})") from None
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
        raise SourceError(f"{path}: shape must be two integers >= 0, got {shape.tolist()}")
    return TabularSource(num_samples=int(shape[0]), num_features=int(shape[1]))


def npz_blocks(path: Path, *, num_features: int | None) -> Iterator[RawRows]:
    """The rows of a CSR ``.npz`` in blocks of at most :data:`BLOCK_VALUES` values.

    Raises
    ------
    SourceError
        Inconsistent arrays: ``indptr`` not from 0 to nnz, a column beyond d, a value or
        label that is not finite (naming the row).
    """
    with zipfile.ZipFile(path) as archive:
        indptr = _whole(archive, "indptr").astype(np.int64)
        labels = _whole(archive, "labels").astype(np.float64)
        samples = indptr.size - 1
        if labels.shape != (samples,):
            raise SourceError(f"{path}: labels has shape {labels.shape}, expected ({samples},)")
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise SourceError(f"{path}: indptr must start at 0 and never decrease")
        with _member(archive, "data") as data_stream, _member(archive, "indices") as index_stream:
            data_shape, data_dtype = _header(data_stream)
            index_shape, index_dtype = _header(index_stream)
            if data_shape != (indptr[-1],) or index_shape != (indptr[-1],):
                raise SourceError(
                    f"{path}: data and indices must hold indptr[-1] = {indptr[-1]} values"
                )
            start = 0
            while start < samples:
                stop = _block_end(indptr, start)
                count = int(indptr[stop] - indptr[start])
                rows = RawRows(
                    indptr=indptr[start : stop + 1] - indptr[start],
                    indices=_read(index_stream, index_dtype, count).astype(np.int64),
                    data=_read(data_stream, data_dtype, count).astype(np.float64),
                    labels=labels[start:stop],
                    first_sample=start,
                )
                _check_block(path, rows, num_features, what="row")
                yield rows
                start = stop


def _block_end(indptr: np.ndarray, start: int) -> int:
    """The end of a block of rows from ``start``: at least one row, at most BLOCK_VALUES
    values (unless one row alone has more)."""
    limit = indptr[start] + BLOCK_VALUES
    stop = int(np.searchsorted(indptr, limit, side="right")) - 1
    return min(max(stop, start + 1), indptr.size - 1)


def _read(stream: IO[bytes], dtype: np.dtype, count: int) -> np.ndarray:
    raw = stream.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise SourceError("the archive ends early")
    return np.frombuffer(raw, dtype=dtype)


def _check_block(path: Path, rows: RawRows, num_features: int | None, *, what: str) -> None:
    """Values and labels finite, columns in [0, d); refusals name the row."""
    for name, values, per_row in (("label", rows.labels, True), ("value", rows.data, False)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            where = bad[0] if per_row else np.searchsorted(rows.indptr, bad[0], side="right") - 1
            raise SourceError(
                f"{path}: {what} {rows.first_sample + int(where)}: the {name} "
                f"{values[bad[0]]} is not finite"
            )
    if rows.indices.size and (
        rows.indices.min() < 0 or (num_features is not None and rows.indices.max() >= num_features)
    ):
        bad = np.flatnonzero((rows.indices < 0) | (rows.indices >= (num_features or 2**62)))[0]
        row = rows.first_sample + int(np.searchsorted(rows.indptr, bad, side="right") - 1)
        raise SourceError(
            f"{path}: {what} {row}: column {rows.indices[bad]} is outside 0 to "
            f"{(num_features or 0) - 1}"
        )


def _parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as error:  # pyarrow's own error types: ArrowInvalid, OSError
        raise SourceError(f"{path}: not a Parquet file ({error})") from None
    names = table.schema_arrow.names
    missing = [name for name in PARQUET_COLUMNS if name not in names]
    if missing:
        raise SourceError(
            f"{path}: missing columns {missing} (allowed: long form with columns row, col, "
            "value, label)"
        )
    return table


def describe_parquet(path: Path) -> TabularSource:
    """N of a long-form Parquet file: its largest ``row`` + 1, read a batch at a time."""
    table = _parquet(path)
    largest = -1
    for batch in table.iter_batches(columns=["row"], batch_size=BLOCK_VALUES):
        rows = batch.column(0).to_numpy(zero_copy_only=False)
        if rows.size:
            largest = max(largest, int(rows.max()))
    return TabularSource(num_samples=largest + 1, num_features=None)


def parquet_blocks(path: Path, *, num_features: int | None) -> Iterator[RawRows]:
    """The rows of a long-form Parquet file, a record batch at a time, in row order.

    A batch may end inside a row: its entries are held back and joined to the next batch's.

    Raises
    ------
    SourceError
        ``"PATH: row 7 comes after row 9 (allowed: rows in non-decreasing order)"``, a row
        missing, a row with two labels, a value that is not finite.
    """
    table = _parquet(path)
    held: dict[str, np.ndarray] | None = None
    next_row = 0
    for batch in table.iter_batches(columns=list(PARQUET_COLUMNS), batch_size=BLOCK_VALUES):
        part = {name: _column(path, batch, name) for name in PARQUET_COLUMNS}
        if held is not None:
            part = {name: np.concatenate([held[name], part[name]]) for name in PARQUET_COLUMNS}
        if part["row"].size == 0:
            continue
        last = part["row"][-1]
        keep = part["row"] == last  # the last row may go on in the next batch
        held = {name: values[keep] for name, values in part.items()}
        complete = {name: values[~keep] for name, values in part.items()}
        if complete["row"].size:
            rows = _rows_of(path, complete, first=next_row, num_features=num_features)
            next_row += rows.num_samples
            yield rows
    if held is not None and held["row"].size:
        yield _rows_of(path, held, first=next_row, num_features=num_features)


def _column(path: Path, batch: Any, name: str) -> np.ndarray:
    column = batch.column(batch.schema.get_field_index(name))
    if name == "col":  # null: a row without values; -1 marks it (a given -1 is refused)
        present = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        given = column.fill_null(0).to_numpy(zero_copy_only=False)
        if np.any(present & (given < 0)):
            raise SourceError(f"{path}: col must be >= 0 (null for a row without values)")
        return column.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if name == "value":
        return column.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    if column.null_count:
        raise SourceError(f"{path}: {name} must not be null")
    dtype = np.int64 if name == "row" else np.float64
    return column.to_numpy(zero_copy_only=False).astype(dtype)


def _rows_of(
    path: Path, part: dict[str, np.ndarray], *, first: int, num_features: int | None
) -> RawRows:
    """The complete rows of one batch as CSR parts, checked."""
    order = np.lexsort((part["col"], part["row"]))  # stable for rows already in order
    if np.any(np.diff(part["row"]) < 0):
        order = np.arange(part["row"].size)  # keep the file's order: refused below
    part = {name: values[order] for name, values in part.items()}
    repeated = (np.diff(part["row"]) == 0) & (np.diff(part["col"]) == 0) & (part["col"][1:] >= 0)
    if np.any(repeated):
        at = int(np.flatnonzero(repeated)[0])
        raise SourceError(
            f"{path}: row {part['row'][at]} has column {part['col'][at]} twice "
            "(allowed: one value per row and column)"
        )
    row_ids = part["row"]
    if np.any(np.diff(row_ids) < 0) or row_ids[0] < first:
        bad = np.flatnonzero(np.diff(row_ids) < 0)
        after, before = (
            (row_ids[bad[0]], row_ids[bad[0] + 1]) if bad.size else (first - 1, row_ids[0])
        )
        raise SourceError(
            f"{path}: row {before} comes after row {after} (allowed: rows in non-decreasing order)"
        )
    starts = np.flatnonzero(np.r_[True, np.diff(row_ids) != 0])
    distinct = row_ids[starts]
    expected = np.arange(first, first + distinct.size)
    if not np.array_equal(distinct, expected):
        missing = int(expected[np.flatnonzero(distinct != expected)[0]])
        raise SourceError(f"{path}: row {missing} is missing (allowed: rows 0 to N - 1, each)")
    labels = part["label"][starts]
    per_entry = np.repeat(labels, np.diff(np.r_[starts, row_ids.size]))
    if np.any(part["label"] != per_entry):
        mixed = int(np.flatnonzero(part["label"] != per_entry)[0])
        low, high = sorted((float(per_entry[mixed]), float(part["label"][mixed])))
        raise SourceError(
            f"{path}: row {row_ids[mixed]} has labels {low:g} and {high:g} (allowed: one "
            "label per row)"
        )
    stored = part["col"] >= 0
    counts = np.bincount(
        np.searchsorted(starts, np.flatnonzero(stored), side="right") - 1, minlength=distinct.size
    )
    indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    rows = RawRows(
        indptr=indptr,
        indices=part["col"][stored],
        data=part["value"][stored],
        labels=labels,
        first_sample=first,
    )
    _check_block(path, rows, num_features, what="row")
    return rows
