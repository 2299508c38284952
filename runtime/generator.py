"""The paper's synthetic classification instance, generated in closed form, any row range.

Sample ``n`` of an ``N × d`` instance with density ``p``:

* ``k = max(1, round(p d))`` column indices, uniform without replacement, sorted;
* label ``b_n = ±1`` with probability 1/2 each;
* ``ν_n ~ U[0, 1]`` if ``b_n = +1``, else ``U[-1, 0]``;
* the row's ``k`` values ``~ N(ν_n, 1)`` independently.

Rows are produced in blocks of :data:`BLOCK_ROWS`; block ``j`` draws everything from
``np.random.default_rng([seed, j])`` in a fixed order, so the instance is the same whatever
row ranges it is cut into (one worker or many).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from runtime.local_data import LocalData

BLOCK_ROWS = 4096
# Above k > d / _DENSE_DIVISOR, rejection of duplicate indices gets slow; use random keys.
_DENSE_DIVISOR = 4
# Rows of random keys drawn at once in the dense path (bounds memory at ~32 MB of keys).
_KEY_ELEMENTS = 4_000_000


def nonzeros_per_row(features: int, density: float) -> int:
    """``k = max(1, round(p d))``, the number of stored entries in every row."""
    return max(1, round(density * features))


def row_ranges(num_samples: int, num_workers: int) -> list[tuple[int, int]]:
    """Split rows ``[0, N)`` into ``W`` contiguous ranges; the first ``N mod W`` get one more.

    Raises
    ------
    ValueError
        If ``W < 1`` or ``W > N``.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if num_workers > num_samples:
        raise ValueError(
            f"num_workers must be <= num_samples, got num_workers={num_workers}, "
            f"num_samples={num_samples}"
        )
    base, extra = divmod(num_samples, num_workers)
    ranges = []
    start = 0
    for worker in range(num_workers):
        stop = start + base + (1 if worker < extra else 0)
        ranges.append((start, stop))
        start = stop
    return ranges


def generate_rows(
    *, samples: int, features: int, density: float, seed: int, start: int, stop: int
) -> LocalData:
    """Rows ``[start, stop)`` of the ``samples × features`` instance with the given seed.

    Parameters
    ----------
    samples : int
        ``N >= 1``, the rows of the whole instance.
    features : int
        ``d >= 1``.
    density : float
        ``p ∈ (0, 1]``.
    seed : int
        ``>= 0``.
    start, stop : int
        ``0 <= start <= stop <= N``.

    Returns
    -------
    LocalData
        ``A`` of shape (stop - start, d) with exactly ``k`` sorted entries per row, labels ±1,
        no weights.
    """
    _check_arguments(
        samples=samples, features=features, density=density, seed=seed, start=start, stop=stop
    )
    per_row = nonzeros_per_row(features, density)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    first_block = start // BLOCK_ROWS
    last_block = (stop - 1) // BLOCK_ROWS if stop > start else first_block - 1
    for block in range(first_block, last_block + 1):
        block_start = block * BLOCK_ROWS
        block_rows = min(BLOCK_ROWS, samples - block_start)
        labels, indices, values = _generate_block(seed, block, block_rows, features, per_row)
        lo = max(start, block_start) - block_start
        hi = min(stop, block_start + block_rows) - block_start
        pieces.append((labels[lo:hi], indices[lo:hi], values[lo:hi]))

    num_rows = stop - start
    index_dtype = np.int32 if features <= np.iinfo(np.int32).max else np.int64
    if pieces:
        labels = np.concatenate([piece[0] for piece in pieces])
        indices = np.concatenate([piece[1] for piece in pieces]).astype(index_dtype).ravel()
        values = np.concatenate([piece[2] for piece in pieces]).ravel()
    else:
        labels = np.zeros(0)
        indices = np.zeros(0, dtype=index_dtype)
        values = np.zeros(0)
    indptr = np.arange(0, num_rows * per_row + 1, per_row, dtype=np.int64)
    matrix: sp.csr_matrix = sp.csr_matrix(
        (values, indices, indptr),  # type: ignore[arg-type]  # the stubs cannot see float64
        shape=(num_rows, features),
    )
    return LocalData(features=matrix, labels=labels)


def _generate_block(
    seed: int, block: int, block_rows: int, features: int, per_row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``block_rows`` rows of block ``block``: labels (B,), indices (B, k), values (B, k).

    Fixed-size draws come first (labels, ν, noise) and the variable-length index rejection
    last, so the stream is a deterministic function of ``(seed, block)`` alone.
    """
    rng = np.random.default_rng([seed, block])
    labels = np.where(rng.integers(0, 2, size=block_rows) == 1, 1.0, -1.0)
    nu = labels * rng.random(block_rows)  # U[0, 1] for +1, U[-1, 0] for -1
    values = nu[:, None] + rng.standard_normal((block_rows, per_row))
    if per_row * _DENSE_DIVISOR <= features:
        indices = _sparse_indices(rng, block_rows, features, per_row)
    else:
        indices = _dense_indices(rng, block_rows, features, per_row)
    return labels, indices, values


def _sparse_indices(rng: np.random.Generator, rows: int, features: int, per_row: int) -> np.ndarray:
    """Sorted distinct indices per row by rejection: redraw rows with a repeat until none."""
    indices = np.sort(rng.integers(0, features, size=(rows, per_row)), axis=1)
    while True:
        repeated = np.flatnonzero(np.any(indices[:, 1:] == indices[:, :-1], axis=1))
        if repeated.size == 0:
            return indices
        redrawn = rng.integers(0, features, size=(repeated.size, per_row))
        indices[repeated] = np.sort(redrawn, axis=1)


def _dense_indices(rng: np.random.Generator, rows: int, features: int, per_row: int) -> np.ndarray:
    """Sorted distinct indices per row: the ``k`` smallest of ``d`` random keys."""
    indices = np.empty((rows, per_row), dtype=np.int64)
    chunk = max(1, _KEY_ELEMENTS // features)
    for first in range(0, rows, chunk):
        keys = rng.random((min(chunk, rows - first), features))
        if per_row < features:
            chosen = np.argpartition(keys, per_row - 1, axis=1)[:, :per_row]
        else:
            chosen = np.broadcast_to(np.arange(features), keys.shape)
        indices[first : first + keys.shape[0]] = np.sort(chosen, axis=1)
    return indices


def _check_arguments(
    *, samples: int, features: int, density: float, seed: int, start: int, stop: int
) -> None:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if features < 1:
        raise ValueError(f"features must be >= 1, got {features}")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not 0 <= start <= stop <= samples:
        raise ValueError(
            f"need 0 <= start <= stop <= samples, got start={start}, stop={stop}, samples={samples}"
        )
