"""Reading an svmlight/LIBSVM file on the client, with errors that name the file and line.

scikit-learn's fast loader does the reading, one bounded block at a time
(:mod:`runtime.svmlight_stream`); its errors carry no line number, so when it fails (or a
limit is hit) the file is scanned again, line by line, to say where
(:mod:`runtime.svmlight_lines`). Workers never read svmlight files (they lack scikit-learn):
the client prepares shards (:mod:`runtime.shards`, :mod:`runtime.shard_staging`).

Feature indices are 1-based in LIBSVM's own data sets and 0-based in some others;
``zero_based`` is scikit-learn's choice of ``"auto"`` (0-based exactly if some index is 0),
``"true"`` or ``"false"``, and :attr:`SvmlightFile.notes` say what ``"auto"`` decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from runtime.local_data import LocalData
from runtime.svmlight_lines import SvmlightError, first_line, sample_lines
from runtime.svmlight_stream import (
    DEFAULT_BLOCK_BYTES,
    IndexBeyondLimit,
    IndexRange,
    parsed_blocks,
)

ZeroBased = Literal["auto", "true", "false"]
ZERO_BASED_CHOICES: tuple[ZeroBased, ...] = ("auto", "true", "false")

#: The largest number of features inferred from a file's indices. A file whose largest index
#: is beyond it is refused (a stray 9,000,000 in a 3-row file once meant a 220 s, 1.75 GB
#: solve); a number of features given explicitly is honoured instead.
MAX_INFERRED_FEATURES = 1_000_000


@dataclass(frozen=True)
class SvmlightFile:
    """A file's rows, and what the reader decided or ignored on the way."""

    data: LocalData
    zero_based: bool
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Columns:
    """How a file's indices map to columns: ``column = index - offset``, ``num_features`` d."""

    zero_based: bool
    num_features: int
    notes: tuple[str, ...]

    @property
    def offset(self) -> int:
        return 0 if self.zero_based else 1


def resolve_columns(
    path: Path,
    seen: IndexRange,
    *,
    num_features: int | None,
    zero_based: ZeroBased,
    max_features: int = MAX_INFERRED_FEATURES,
    features_name: str = "--features",
) -> Columns:
    """The index base and d of a whole file, from what its blocks showed (``seen``).

    Raises
    ------
    SvmlightError
        ``"no samples in PATH"``; ``field="zero_based"`` for index 0 read as 1-based;
        ``field="data"`` or ``"features"`` for an index beyond the limit (naming the line).
    """
    if seen.samples == 0:
        raise SvmlightError(f"no samples in {path}")
    uses_index_zero = seen.smallest == 0
    if zero_based == "false" and uses_index_zero:
        line, _ = first_line(path, lambda index: index == 0)
        raise SvmlightError(
            f"{path} line {line}: feature index 0, but indices are read as 1-based "
            "(allowed: auto, true)",
            field="zero_based",
        )
    is_zero_based = uses_index_zero if zero_based == "auto" else zero_based == "true"
    offset = 0 if is_zero_based else 1
    columns_needed = seen.largest + 1 - offset if seen.largest is not None else 1
    if num_features is None:
        _check_index_limit(path, columns_needed, max_features, offset, field="data")
    else:
        _check_index_limit(
            path, columns_needed, num_features, offset, field="features", name=features_name
        )
    notes = []
    if zero_based == "auto":
        notes.append(_base_note(path, is_zero_based))
    if seen.has_query_ids:
        notes.append(f"{path}: qid: fields ignored (no query groups in these models)")
    return Columns(
        zero_based=is_zero_based, num_features=num_features or columns_needed, notes=tuple(notes)
    )


def scan_for_limit(path: Path, seen: IndexRange) -> IndexRange:
    """After :class:`IndexBeyondLimit`: the range of the whole file's indices, by a rescan
    (only the least and the largest matter for the refusal that follows)."""
    whole = IndexRange(samples=max(seen.samples, 1), has_query_ids=seen.has_query_ids)
    for _, indices in sample_lines(path):
        if indices:
            whole.smallest = min(
                indices[0], whole.smallest if whole.smallest is not None else indices[0]
            )
            whole.largest = max(
                indices[-1], whole.largest if whole.largest is not None else indices[-1]
            )
    return whole


def read_svmlight(
    path: Path | str,
    *,
    num_features: int | None = None,
    zero_based: ZeroBased = "auto",
    max_features: int = MAX_INFERRED_FEATURES,
    features_name: str = "--features",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> SvmlightFile:
    """Read ``path`` into (n, d) CSR rows with their raw labels (no mapping to ±1).

    Parameters
    ----------
    num_features : int, optional
        d, the length of x: trailing all-zero columns are kept. Default: inferred from the
        largest index, at most ``max_features``.
    zero_based : "auto", "true" or "false"
        Whether index 0 is the first column (``"auto"``: if the file uses index 0).
    features_name : str
        What an index beyond ``num_features`` is said to pass (``"--features"``).

    Raises
    ------
    FileNotFoundError
        ``"data file not found: PATH"``.
    SvmlightError
        ``"no samples in PATH"``, ``"PATH line 3: ..."`` for a line that cannot be parsed or
        whose index is beyond the limit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    seen = IndexRange()
    blocks = []
    try:
        limit = num_features or max_features
        blocks = list(parsed_blocks(path, index_limit=limit, seen=seen, block_bytes=block_bytes))
    except IndexBeyondLimit:
        seen = scan_for_limit(path, seen)
    columns = resolve_columns(
        path,
        seen,
        num_features=num_features,
        zero_based=zero_based,
        max_features=max_features,
        features_name=features_name,
    )
    indptr = np.concatenate(
        [[0], *(block.indptr[1:] + start for block, start in _starts(blocks))]
    ).astype(np.int64)
    indices = np.concatenate([block.indices for block in blocks]) - columns.offset
    features = sp.csr_matrix(
        (np.concatenate([block.data for block in blocks]), indices, indptr),
        shape=(seen.samples, columns.num_features),
    )
    labels = np.concatenate([block.labels for block in blocks])
    return SvmlightFile(
        data=LocalData(features=features, labels=labels),
        zero_based=columns.zero_based,
        notes=columns.notes,
    )


def _starts(blocks: list) -> list:
    """Each block with the number of values before it."""
    found, total = [], 0
    for block in blocks:
        found.append((block, total))
        total += int(block.indptr[-1])
    return found


def _check_index_limit(
    path: Path, needed: int, limit: int, offset: int, *, field: str, name: str = "--features"
) -> None:
    if needed <= limit:
        return
    largest = limit - 1 + offset
    line, index = first_line(path, lambda index: index > largest)
    if field == "features":
        raise SvmlightError(
            f"{path} line {line}: feature index {index} is beyond {name} {limit} "
            f"(allowed: indices {offset} to {largest})",
            field=field,
        )
    raise SvmlightError(
        f"{path} line {line}: feature index {index:,} is beyond the limit of {limit:,} "
        f"features (allowed: indices {offset} to {largest:,}, or more with --features N)",
        field=field,
    )


def _base_note(path: Path, is_zero_based: bool) -> str:
    if is_zero_based:
        line, _ = first_line(path, lambda index: index == 0)
        return f"{path}: feature indices read as 0-based (--zero-based auto: line {line} has 0)"
    return f"{path}: feature indices read as 1-based (--zero-based auto: no index 0 in the file)"
