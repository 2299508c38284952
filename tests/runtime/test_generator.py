"""The closed-form instance generator: worker-count invariance and its distribution."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.generator import BLOCK_ROWS, generate_rows, nonzeros_per_row, row_ranges
from runtime.local_data import LocalData

SAMPLES = 2 * BLOCK_ROWS + 1234  # two full blocks and a partial one
FEATURES = 1000
DENSITY = 0.008  # k = 8
SEED = 42


def _instance_digest(pieces: list[LocalData]) -> str:
    features = sp.vstack([piece.features for piece in pieces], format="csr")
    labels = np.concatenate([piece.labels for piece in pieces])
    digest = hashlib.sha256()
    for array in (features.data, features.indices, features.indptr, labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _generate(num_workers: int, **overrides: float) -> list[LocalData]:
    arguments = {"samples": SAMPLES, "features": FEATURES, "density": DENSITY, "seed": SEED}
    arguments.update(overrides)
    samples = int(arguments["samples"])
    return [
        generate_rows(**arguments, start=start, stop=stop)  # type: ignore[arg-type]
        for start, stop in row_ranges(samples, num_workers)
    ]


@pytest.fixture(scope="module")
def whole() -> LocalData:
    return _generate(1)[0]


def test_instance_is_identical_for_any_worker_count(whole: LocalData) -> None:
    digests = {_instance_digest(_generate(workers)) for workers in (1, 3, 8)}
    assert digests == {_instance_digest([whole])}


def test_dense_path_is_identical_for_any_worker_count() -> None:
    overrides = {"samples": BLOCK_ROWS + 100, "features": 20, "density": 0.5}  # k = 10 > d/4
    digests = {_instance_digest(_generate(workers, **overrides)) for workers in (1, 3, 8)}
    assert len(digests) == 1
    data = _generate(1, **overrides)[0]
    _assert_rows_have_distinct_sorted_indices(data, 10)


def test_arbitrary_ranges_slice_the_same_instance(whole: LocalData) -> None:
    for start, stop in [
        (0, 1),
        (BLOCK_ROWS - 3, BLOCK_ROWS + 3),
        (100, 100),
        (SAMPLES - 7, SAMPLES),
    ]:
        piece = generate_rows(
            samples=SAMPLES, features=FEATURES, density=DENSITY, seed=SEED, start=start, stop=stop
        )
        assert piece.num_samples == stop - start
        assert (piece.features != whole.features[start:stop]).nnz == 0
        np.testing.assert_array_equal(piece.labels, whole.labels[start:stop])


def test_seed_changes_the_instance(whole: LocalData) -> None:
    other = generate_rows(
        samples=SAMPLES, features=FEATURES, density=DENSITY, seed=SEED + 1, start=0, stop=SAMPLES
    )
    assert _instance_digest([other]) != _instance_digest([whole])


def _assert_rows_have_distinct_sorted_indices(data: LocalData, per_row: int) -> None:
    matrix = data.features
    np.testing.assert_array_equal(np.diff(matrix.indptr), per_row)
    indices = matrix.indices.reshape(-1, per_row)
    assert np.all(np.diff(indices, axis=1) > 0)  # sorted and distinct
    assert indices.min() >= 0
    assert indices.max() < matrix.shape[1]


def test_rows_have_exactly_k_distinct_sorted_columns(whole: LocalData) -> None:
    assert whole.features.shape == (SAMPLES, FEATURES)
    assert whole.features.dtype == np.float64
    assert whole.weights is None
    _assert_rows_have_distinct_sorted_indices(whole, 8)


def test_columns_are_uniform(whole: LocalData) -> None:
    counts = np.bincount(whole.features.indices, minlength=FEATURES)
    expected = SAMPLES * 8 / FEATURES
    chi_square = float(np.sum((counts - expected) ** 2 / expected))
    # chi² with 999 degrees of freedom: mean 999, sd ≈ 44.7; allow 5 sd.
    assert abs(chi_square - (FEATURES - 1)) < 5 * np.sqrt(2 * (FEATURES - 1))


def test_labels_are_balanced_plus_minus_one(whole: LocalData) -> None:
    assert set(np.unique(whole.labels)) == {-1.0, 1.0}
    positives = int(np.sum(whole.labels > 0))
    assert abs(positives - SAMPLES / 2) <= 4 * np.sqrt(SAMPLES / 4)


def test_value_means_follow_the_label(whole: LocalData) -> None:
    values = whole.features.data.reshape(-1, 8)
    row_means = values.mean(axis=1)
    positive = whole.labels > 0
    # A row's mean is ν + N(0, 1/k): E = ±1/2, Var = 1/12 + 1/8.
    sd = np.sqrt(1 / 12 + 1 / 8)
    for mask, mean in ((positive, 0.5), (~positive, -0.5)):
        count = int(mask.sum())
        assert abs(row_means[mask].mean() - mean) < 4 * sd / np.sqrt(count)
    # Within a row, values scatter around ν with unit variance.
    within = values - row_means[:, None]
    degrees_of_freedom = values.shape[0] * 7
    noise_variance = float(np.sum(within**2)) / degrees_of_freedom
    assert abs(noise_variance - 1.0) < 4 * np.sqrt(2 / degrees_of_freedom)


def test_nonzeros_per_row_rounds_with_a_floor_of_one() -> None:
    assert nonzeros_per_row(10_000, 0.001) == 10
    assert nonzeros_per_row(100, 0.0001) == 1
    assert nonzeros_per_row(100, 1.0) == 100
    full = generate_rows(samples=5, features=7, density=1.0, seed=0, start=0, stop=5)
    np.testing.assert_array_equal(
        full.features.indices.reshape(5, 7), np.tile(np.arange(7), (5, 1))
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0}, r"^samples must be >= 1, got 0$"),
        ({"features": 0}, r"^features must be >= 1, got 0$"),
        ({"density": 0.0}, r"^density must be in \(0, 1\], got 0.0$"),
        ({"density": 1.5}, r"^density must be in \(0, 1\], got 1.5$"),
        ({"seed": -1}, r"^seed must be >= 0, got -1$"),
        ({"start": 5, "stop": 4}, r"^need 0 <= start <= stop <= samples, got start=5, stop=4, "),
        ({"stop": 11}, r"^need 0 <= start <= stop <= samples, got start=0, stop=11, samples=10$"),
    ],
)
def test_generate_rows_validation(kwargs: dict[str, float], message: str) -> None:
    arguments = {"samples": 10, "features": 5, "density": 0.5, "seed": 0, "start": 0, "stop": 10}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        generate_rows(**arguments)  # type: ignore[arg-type]


def test_row_ranges_are_contiguous_and_near_equal() -> None:
    assert row_ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert row_ranges(5, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert row_ranges(7, 1) == [(0, 7)]
    ranges = row_ranges(600_000, 64)
    sizes = {stop - start for start, stop in ranges}
    assert sizes == {9375}
    assert ranges[0][0] == 0
    assert ranges[-1][1] == 600_000


def test_row_ranges_validation() -> None:
    with pytest.raises(ValueError, match=r"^num_workers must be >= 1, got 0$"):
        row_ranges(10, 0)
    with pytest.raises(
        ValueError,
        match=r"^num_workers must be <= num_samples, got num_workers=11, num_samples=10$",
    ):
        row_ranges(10, 11)
