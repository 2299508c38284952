"""An svmlight file read in bounded blocks: counted in one pass, parsed in another.

A file larger than memory is read ``block_bytes`` at a time, cut at line boundaries, and
each block is parsed by scikit-learn's compiled reader (:func:`parse_block`), so memory holds
one block and its rows, never the file. :func:`count_samples` counts the sample lines first
(lines that are neither blank nor a comment, as the reader skips them), which tells every
row's shard before any is parsed (:mod:`runtime.shard_staging`).

Indices stay as the file writes them (``raw``); whether they are 0- or 1-based, and d, are
decided once the whole file has been seen (:class:`IndexRange`, :func:`runtime.svmlight.
resolve_columns`). Every refusal names the file and the line, as :func:`runtime.svmlight.
read_svmlight` always has: where scikit-learn's reader fails, the file is scanned again,
line by line, to say where (only on that failure path).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.svmlight_lines import (
    SvmlightError,
    line_of_sample,
    open_source,
    where_it_fails,
)

#: The text parsed at once: a few times this in memory while a block is parsed.
DEFAULT_BLOCK_BYTES = 16 * 2**20
#: A line that holds no sample: blank, or only a comment.
_NOT_A_SAMPLE = re.compile(rb"^[ \t\r\f\v]*(?:#[^\n]*)?\n", re.MULTILINE)


def blocks_of_lines(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines (each ends with a newline, or the file does),
    about ``block_bytes`` long (longer only by a line that does not fit)."""
    with open_source(path) as stream:
        carry = b""
        while True:
            block = stream.read(block_bytes)
            if not block:
                break
            block = carry + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: keep reading it
                carry = block
                continue
            carry = block[cut:]
            yield block[:cut]
        if carry:
            yield carry + b"\n"


def count_samples(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """The number of sample lines of ``path`` (blank and comment-only lines do not count;
    every block ends with a newline, so each line is counted by its own)."""
    total = 0
    for block in blocks_of_lines(path, block_bytes):
        total += block.count(b"\n") - len(_NOT_A_SAMPLE.findall(block))
    return total


@dataclass(frozen=True, eq=False)
class RawRows:
    """A block's rows with the file's own indices: CSR parts and labels.

    ``indptr`` (n + 1,) int64 from 0, ``indices`` and ``data`` (nnz,) int64 and float64,
    ``labels`` (n,) float64, ``first_sample`` the 0-based number of its first sample.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    labels: np.ndarray
    first_sample: int
    text_bytes: int = 0  # the length of the block of text they were parsed from

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class IndexRange:
    """What the blocks seen so far say about the indices: the least and the largest, and
    whether any line had a ``qid:``."""

    smallest: int | None = None
    largest: int | None = None
    has_query_ids: bool = False
    samples: int = field(default=0)

    def add(self, rows: RawRows, *, query_ids: bool) -> None:
        self.samples += rows.num_samples
        self.has_query_ids = self.has_query_ids or query_ids
        if rows.indices.size:
            low, high = int(rows.indices.min()), int(rows.indices.max())
            self.smallest = low if self.smallest is None else min(self.smallest, low)
            self.largest = high if self.largest is None else max(self.largest, high)


def parse_block(
    path: Path, block: bytes, *, first_sample: int, index_limit: int
) -> tuple[RawRows, bool]:
    """The rows of one block, and whether it has ``qid:`` fields.

    ``index_limit`` (d, or the largest d inferred) is what scikit-learn's failures are
    measured against, to find the line that caused them.

    Raises
    ------
    SvmlightError
        ``"PATH line N: ..."``: a line that cannot be parsed, a value or label that is not
        finite.
    """
    from sklearn.datasets import load_svmlight_file

    try:
        matrix, labels, query_ids = load_svmlight_file(
            io.BytesIO(block), zero_based=True, query_id=True, dtype=np.float64
        )
    except (ValueError, OverflowError) as error:  # OverflowError: an index beyond int64
        raise SvmlightError(where_it_fails(path, error, index_limit)) from None
    rows = RawRows(
        indptr=np.asarray(matrix.indptr, dtype=np.int64),
        indices=np.asarray(matrix.indices, dtype=np.int64),
        data=np.asarray(matrix.data, dtype=np.float64),
        labels=np.asarray(labels, dtype=np.float64),
        first_sample=first_sample,
        text_bytes=len(block),
    )
    _check_finite(path, rows)
    return rows, len(query_ids) > 0


def _check_finite(path: Path, rows: RawRows) -> None:
    """Refuse NaN and infinity, naming the line (LocalData would refuse them, unplaced)."""
    bad_labels = np.flatnonzero(~np.isfinite(rows.labels))
    if bad_labels.size:
        line = line_of_sample(path, rows.first_sample + int(bad_labels[0]))
        raise SvmlightError(
            f"{path} line {line}: the label {rows.labels[bad_labels[0]]} is not finite"
        )
    bad_values = np.flatnonzero(~np.isfinite(rows.data))
    if bad_values.size:
        row = int(np.searchsorted(rows.indptr, bad_values[0], side="right")) - 1
        line = line_of_sample(path, rows.first_sample + row)
        raise SvmlightError(
            f"{path} line {line}: the value {rows.data[bad_values[0]]} is not finite"
        )


class IndexBeyondLimit(Exception):
    """A raw index passed ``index_limit``: whatever the index base, d is exceeded. The
    caller says so in the words of its own limit, once the whole file is known."""


def parsed_blocks(
    path: Path, *, index_limit: int, seen: IndexRange, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[RawRows]:
    """Every block's rows in file order, each recorded in ``seen`` (blocks without samples
    are skipped).

    Raises
    ------
    IndexBeyondLimit
        As soon as a raw index passes ``index_limit`` (d + 1 columns even if 1-based): before
        anything of that size is allocated.
    SvmlightError
        From :func:`parse_block`.
    """
    for block in blocks_of_lines(path, block_bytes):
        rows, query_ids = parse_block(
            path, block, first_sample=seen.samples, index_limit=index_limit
        )
        seen.add(rows, query_ids=query_ids)
        if seen.largest is not None and seen.largest > index_limit:
            raise IndexBeyondLimit
        if rows.num_samples:
            yield rows
