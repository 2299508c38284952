"""Locating a line of an svmlight file: the slow, exact rescan behind every refusal.

scikit-learn's compiled reader says neither the line nor the field when it fails; these
helpers read the file again, line by line, to name the line. They run only on failure paths
(and to quote the line that decided the index base), never on every read.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


class SvmlightError(ValueError):
    """A file that cannot be used; ``field`` says which input is to blame.

    ``"data"``: the file itself; ``"features"``: the number of features given;
    ``"zero_based"``: the index base given.
    """

    def __init__(self, message: str, *, field: str = "data") -> None:
        super().__init__(message)
        self.field = field


def line_of_sample(path: Path, sample: int) -> int:
    """The line number of sample ``sample`` (0-based; comments and blank lines skipped)."""
    for count, (number, _) in enumerate(sample_lines(path)):
        if count == sample:
            return number
    raise AssertionError(f"scikit-learn read more samples from {path} than a rescan finds")


def open_source(path: Path) -> IO[bytes]:
    """The file as scikit-learn opens it (``.gz`` and ``.bz2`` are decompressed)."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def sample_lines(path: Path) -> Iterator[tuple[int, list[int]]]:
    """(line number, feature indices) of every sample line; ``SvmlightError`` at a bad one."""
    with open_source(path) as stream:
        for number, raw_line in enumerate(stream, start=1):
            text = raw_line.split(b"#", 1)[0].decode(errors="replace").strip()
            if not text:
                continue
            indices = parse_line(text)
            if isinstance(indices, str):
                raise SvmlightError(f"{path} line {number}: {indices}")
            yield number, indices


def parse_line(text: str) -> list[int] | str:
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


def first_line(path: Path, wanted: Callable[[int], bool]) -> tuple[int, int]:
    """The first line with an index for which ``wanted`` holds, and that index."""
    for number, indices in sample_lines(path):
        for index in indices:
            if wanted(index):
                return number, index
    raise AssertionError(f"scikit-learn read an index of {path} that a rescan does not find")


def where_it_fails(path: Path, error: Exception, limit: int) -> str:
    """The first line that cannot be parsed or has an index beyond ``limit`` (too large for
    scikit-learn to read), else scikit-learn's own words."""
    try:
        for number, indices in sample_lines(path):
            beyond = [index for index in indices if index > limit]
            if beyond:
                return (
                    f"{path} line {number}: feature index {beyond[0]:,} is beyond the limit of "
                    f"{limit:,} features"
                )
    except SvmlightError as located:
        return str(located)
    return f"cannot parse {path}: {error}"
