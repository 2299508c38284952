"""Reading an svmlight/LIBSVM file on the client, with errors that name the file and line.

scikit-learn's fast loader does the reading; its errors carry no line number, so when it
fails (or a limit is hit) the file is scanned again, line by line, to say where. Workers
never read svmlight files (they lack scikit-learn): the client prepares shards
(:mod:`runtime.shards`).

Feature indices are 1-based in LIBSVM's own data sets and 0-based in some others;
``zero_based`` is scikit-learn's choice of ``"auto"`` (0-based exactly if some index is 0),
``"true"`` or ``"false"``, and :attr:`SvmlightFile.notes` say what ``"auto"`` decided.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import numpy as np
import scipy.sparse as sp

from runtime.local_data import LocalData

ZeroBased = Literal["auto", "true", "false"]
ZERO_BASED_CHOICES: tuple[ZeroBased, ...] = ("auto", "true", "false")

#: The largest number of features inferred from a file's indices. A file whose largest index
#: is beyond it is refused (a stray 9,000,000 in a 3-row file once meant a 220 s, 1.75 GB
#: solve); a number of features given explicitly is honoured instead.
MAX_INFERRED_FEATURES = 1_000_000


class SvmlightError(ValueError):
    """A file that cannot be used; ``field`` says which input is to blame.

    ``"data"``: the file itself; ``"features"``: the number of features given;
    ``"zero_based"``: the index base given.
    """

    def __init__(self, message: str, *, field: str = "data") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SvmlightFile:
    """A file's rows, and what the reader decided or ignored on the way."""

    data: LocalData
    zero_based: bool
    notes: tuple[str, ...]


def read_svmlight(
    path: Path | str,
    *,
    num_features: int | None = None,
    zero_based: ZeroBased = "auto",
    max_features: int = MAX_INFERRED_FEATURES,
    features_name: str = "--features",
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
    from sklearn.datasets import load_svmlight_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    try:
        raw, labels, query_ids = load_svmlight_file(
            str(path), zero_based=True, query_id=True, dtype=np.float64
        )
    except (ValueError, OverflowError) as error:  # OverflowError: an index beyond int64
        raise SvmlightError(_where_it_fails(path, error, num_features or max_features)) from None
    if raw.shape[0] == 0:
        raise SvmlightError(f"no samples in {path}")
    raw = sp.csr_matrix(raw, dtype=np.float64)
    _check_finite(path, raw, labels)
    uses_index_zero = raw.nnz > 0 and int(raw.indices.min()) == 0
    if zero_based == "false" and uses_index_zero:
        line, _ = _first_line(path, lambda index: index == 0)
        raise SvmlightError(
            f"{path} line {line}: feature index 0, but indices are read as 1-based "
            "(allowed: auto, true)",
            field="zero_based",
        )
    is_zero_based = uses_index_zero if zero_based == "auto" else zero_based == "true"
    offset = 0 if is_zero_based else 1
    columns_needed = int(raw.indices.max()) + 1 - offset if raw.nnz else 1
    if num_features is None:
        _check_index_limit(path, columns_needed, max_features, offset, field="data")
    else:
        _check_index_limit(
            path, columns_needed, num_features, offset, field="features", name=features_name
        )
    features = sp.csr_matrix(
        (raw.data, raw.indices - offset, raw.indptr),
        shape=(raw.shape[0], num_features or columns_needed),
    )
    notes = []
    if zero_based == "auto":
        notes.append(_base_note(path, is_zero_based))
    if len(query_ids):
        notes.append(f"{path}: qid: fields ignored (no query groups in these models)")
    return SvmlightFile(
        data=LocalData(features=features, labels=np.asarray(labels, dtype=np.float64)),
        zero_based=is_zero_based,
        notes=tuple(notes),
    )


def _check_index_limit(
    path: Path, needed: int, limit: int, offset: int, *, field: str, name: str = "--features"
) -> None:
    if needed <= limit:
        return
    largest = limit - 1 + offset
    line, index = _first_line(path, lambda index: index > largest)
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


def _check_finite(path: Path, raw: sp.csr_matrix, labels: np.ndarray) -> None:
    """Refuse NaN and infinity, naming the line (LocalData would refuse them, unplaced)."""
    bad_labels = np.flatnonzero(~np.isfinite(labels))
    if bad_labels.size:
        line = _line_of_sample(path, int(bad_labels[0]))
        raise SvmlightError(f"{path} line {line}: the label {labels[bad_labels[0]]} is not finite")
    bad_values = np.flatnonzero(~np.isfinite(raw.data))
    if bad_values.size:
        row = int(np.searchsorted(raw.indptr, bad_values[0], side="right")) - 1
        value = raw.data[bad_values[0]]
        raise SvmlightError(
            f"{path} line {_line_of_sample(path, row)}: the value {value} is not finite"
        )


def _line_of_sample(path: Path, sample: int) -> int:
    """The line number of sample ``sample`` (0-based; comments and blank lines skipped)."""
    for count, (number, _) in enumerate(_lines(path)):
        if count == sample:
            return number
    raise AssertionError(f"scikit-learn read more samples from {path} than a rescan finds")


def _base_note(path: Path, is_zero_based: bool) -> str:
    if is_zero_based:
        line, _ = _first_line(path, lambda index: index == 0)
        return f"{path}: feature indices read as 0-based (--zero-based auto: line {line} has 0)"
    return f"{path}: feature indices read as 1-based (--zero-based auto: no index 0 in the file)"


def _open(path: Path) -> IO[bytes]:
    """The file as scikit-learn opens it (``.gz`` and ``.bz2`` are decompressed)."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def _lines(path: Path) -> Iterator[tuple[int, list[int]]]:
    """(line number, feature indices) of every sample line; ``SvmlightError`` at a bad one."""
    with _open(path) as stream:
        for number, raw_line in enumerate(stream, start=1):
            text = raw_line.split(b"#", 1)[0].decode(errors="replace").strip()
            if not text:
                continue
            indices = _parse_line(text)
            if isinstance(indices, str):
                raise SvmlightError(f"{path} line {number}: {indices}")
            yield number, indices


def _parse_line(text: str) -> list[int] | str:
    """The indices of one line, or what is wrong with it."""
    label, *pairs = text.split()
    try:
        [float(part) for part in label.split(",")]
    except ValueError:
        return f"cannot parse the label {label!r}"
    if pairs and pairs[0].startswith("qid:"):
        if not pairs[0][4:].isdigit():
            return f"cannot parse {pairs[0]!r} as qid:N"
        pairs = pairs[1:]
    indices: list[int] = []
    for pair in pairs:
        index_text, _, value_text = pair.partition(":")
        try:
            index, _value = int(index_text), float(value_text)
        except ValueError:
            return f"cannot parse {pair!r} as index:value"
        if index < 0:
            return f"negative feature index {index}"
        if indices and index <= indices[-1]:
            return f"feature indices must be sorted and unique, got {index} after {indices[-1]}"
        indices.append(index)
    return indices


def _first_line(path: Path, wanted: Callable[[int], bool]) -> tuple[int, int]:
    """The first line with an index for which ``wanted`` holds, and that index."""
    for number, indices in _lines(path):
        for index in indices:
            if wanted(index):
                return number, index
    raise AssertionError(f"scikit-learn read an index of {path} that a rescan does not find")


def _where_it_fails(path: Path, error: Exception, limit: int) -> str:
    """The first line that cannot be parsed or has an index beyond ``limit`` (too large for
    scikit-learn to read), else scikit-learn's own words."""
    try:
        for number, indices in _lines(path):
            beyond = [index for index in indices if index > limit]
            if beyond:
                return (
                    f"{path} line {number}: feature index {beyond[0]:,} is beyond the limit of "
                    f"{limit:,} features"
                )
    except SvmlightError as located:
        return str(located)
    return f"cannot parse {path}: {error}"
