"""Column scaling: its statistics sidecar, the change of variables, and the weighted prox."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.column_scaling import ColumnScaling
from runtime.column_stats import COLUMN_STATS_NAME, ColumnStats
from runtime.group_lasso import GroupLasso
from runtime.local_data import LocalData
from runtime.losses import LogisticLoss, data_objective
from runtime.penalties import Penalty
from runtime.scaled_penalty import penalty_in_scaled_coordinates, weighted_soft_threshold
from runtime.shards import (
    MANIFEST_NAME,
    read_manifest,
    read_manifest_column_stats,
    write_shards,
)
from runtime.storage import LocalStorage


def _unscaled(rows: int = 60, columns: int = 6, seed: int = 0) -> LocalData:
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((rows, columns)) * 10.0 ** rng.uniform(-3, 3, columns)
    dense[:, 2] = 0.0  # an all-zero column
    dense[rng.random((rows, columns)) < 0.3] = 0.0
    labels = np.where(rng.random(rows) < 0.5, 1.0, -1.0)
    return LocalData.from_arrays(dense, labels)


def test_scale_is_the_column_rms_relative_to_their_geometric_mean() -> None:
    data = _unscaled()
    scaling = ColumnScaling.from_stats(ColumnStats.of(data))
    dense = data.features.toarray()
    rms = np.sqrt(np.mean(dense**2, axis=0))
    nonzero = np.array([0, 1, 3, 4, 5])
    expected = rms / np.exp(np.mean(np.log(rms[nonzero])))
    expected[2] = 1.0  # the all-zero column
    np.testing.assert_allclose(scaling.scale, expected, rtol=1e-13)
    scaled = scaling.scale_rows(data).features.toarray()
    scaled_rms = np.sqrt(np.mean(scaled**2, axis=0))
    np.testing.assert_allclose(scaled_rms[nonzero], scaled_rms[0], rtol=1e-12)  # all alike
    assert scaled_rms[2] == 0.0


def test_columns_of_one_scale_are_left_alone() -> None:
    rng = np.random.default_rng(3)
    column_rms = np.full(4, 7.5)
    dense = rng.choice([-1.0, 1.0], size=(50, 4)) * column_rms  # every column's RMS is 7.5
    scaling = ColumnScaling.from_stats(ColumnStats.of(LocalData.from_arrays(dense, dense[:, 0])))
    np.testing.assert_allclose(scaling.scale, 1.0, rtol=1e-14)


def test_the_change_of_variables_keeps_the_objective_and_maps_gradients() -> None:
    data = _unscaled()
    scaling = ColumnScaling.from_stats(ColumnStats.of(data))
    scaled = scaling.scale_rows(data)
    loss, penalty = LogisticLoss(), Penalty(l1=0.7, l2=0.3, lower=-2.0, upper=3.0)
    x = np.random.default_rng(1).uniform(-1e-3, 1e-3, data.num_features)
    y = scaling.from_original(x)
    np.testing.assert_allclose(scaling.to_original(y), x, rtol=1e-15)
    assert math.isclose(
        data_objective(scaled, loss, y), data_objective(data, loss, x), rel_tol=1e-12
    )
    scaled_penalty = penalty_in_scaled_coordinates(penalty, scaling)
    assert math.isclose(scaled_penalty.value(y), penalty.value(x), rel_tol=1e-12)
    # ∇_x f(x) = D ∇_y f(D^{-1} y): the gradient of the loss in y, mapped, is the one in x.
    margins = scaled.features @ y
    gradient_y = scaled.features.T @ loss.derivative(margins, data.labels, None)
    gradient_x = data.features.T @ loss.derivative(data.features @ x, data.labels, None)
    np.testing.assert_allclose(scaling.gradient_to_original(gradient_y), gradient_x, rtol=1e-10)


def test_the_weighted_prox_is_the_brute_force_minimizer() -> None:
    rng = np.random.default_rng(2)
    scaling = ColumnScaling(scale=10.0 ** rng.uniform(-3, 3, 8))
    original = Penalty(l1=0.8, l2=0.5, lower=-1.5, upper=0.4)
    penalty = penalty_in_scaled_coordinates(original, scaling)
    v = rng.normal(0.0, 2.0, 8) * scaling.scale
    step = 0.7
    got = penalty.prox(v, step)
    for j in range(8):

        def objective(t: float, j: int = j) -> float:
            point = np.zeros(8)
            point[j] = t
            return original.value(scaling.to_original(point)) + (t - v[j]) ** 2 / (2 * step)

        lower, upper = original.lower * scaling.scale[j], original.upper * scaling.scale[j]
        grid = np.linspace(lower, upper, 4001)
        values = np.array([objective(t) for t in grid])
        best = grid[np.argmin(values)]
        assert abs(got[j] - best) <= (upper - lower) / 4000
        assert objective(got[j]) <= values.min() + 1e-12 * (1 + abs(values.min()))


def test_weighted_soft_threshold_per_coordinate() -> None:
    got = weighted_soft_threshold(np.array([3.0, -3.0, 0.5, -0.2]), np.array([1.0, 2.0, 1.0, 0.0]))
    np.testing.assert_array_equal(got, [2.0, -1.0, 0.0, -0.2])


def test_a_penalty_that_couples_coordinates_is_refused() -> None:
    scaling = ColumnScaling(scale=np.ones(4))
    message = (
        "^column scaling needs a coordinate-separable penalty; GroupLasso couples coordinates "
        r"\(its prox in scaled coordinates has no closed form\)$"
    )
    with pytest.raises(ValueError, match=message):
        penalty_in_scaled_coordinates(GroupLasso(weight=1.0, group_size=2), scaling)


def test_shards_carry_verified_column_statistics(tmp_path: Path) -> None:
    data = _unscaled(rows=50)
    storage = LocalStorage(tmp_path)
    manifest = write_shards(data, storage, 3, source_name="x.svm")
    assert manifest.column_stats is not None
    assert manifest.column_stats.file_name == COLUMN_STATS_NAME
    stats = read_manifest_column_stats(storage, read_manifest(storage))
    assert stats is not None and stats.num_samples == 50
    expected = np.sum(data.features.toarray() ** 2, axis=0)
    np.testing.assert_allclose(stats.sum_of_squares, expected, rtol=1e-14)


def test_a_corrupt_statistics_sidecar_is_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    manifest = write_shards(_unscaled(), storage, 2, source_name="x.svm")
    assert manifest.column_stats is not None
    path = tmp_path / COLUMN_STATS_NAME
    blob = bytearray(path.read_bytes())
    blob[-40] ^= 0xFF
    path.write_bytes(bytes(blob))
    actual = hashlib.sha256(bytes(blob)).hexdigest()
    message = (
        f"^column statistics {COLUMN_STATS_NAME} failed its sha256 check: "
        f"manifest says {manifest.column_stats.sha256}, file has {actual}$"
    )
    with pytest.raises(ValueError, match=message):
        read_manifest_column_stats(storage, read_manifest(storage))


def test_a_manifest_without_statistics_still_loads(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    write_shards(_unscaled(), storage, 2, source_name="x.svm")
    document = json.loads((tmp_path / MANIFEST_NAME).read_text())
    del document["column_stats"]  # as written before the statistics were
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(document))
    manifest = read_manifest(storage)
    assert manifest.column_stats is None
    assert read_manifest_column_stats(storage, manifest) is None
    assert "column_stats" not in manifest.to_json()


def test_scaled_rows_stay_csr_float64() -> None:
    scaled = ColumnScaling(scale=np.array([2.0, 4.0])).scale_rows(
        LocalData.from_arrays(sp.csr_matrix([[2.0, 0.0], [0.0, 8.0]]), np.array([1.0, -1.0]))
    )
    assert scaled.features.format == "csr" and scaled.features.dtype == np.float64
    np.testing.assert_array_equal(scaled.features.toarray(), [[1.0, 0.0], [0.0, 2.0]])


def test_a_scale_must_be_positive_and_finite() -> None:
    for bad in ([1.0, 0.0], [1.0, np.inf], [[1.0]]):
        with pytest.raises(ValueError, match=r"^scale must be a vector of finite numbers > 0$"):
            ColumnScaling(scale=np.array(bad))
