"""The data container, per-worker shard files, their manifest (svmlight: test_svmlight.py)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.column_stats import COLUMN_STATS_NAME
from runtime.generator import generate_rows
from runtime.local_data import LocalData
from runtime.shards import (
    MANIFEST_NAME,
    ShardManifest,
    read_manifest,
    read_shard,
    shard_file_name,
    shard_from_bytes,
    shard_from_verified_bytes,
    shard_to_bytes,
    write_shards,
)
from runtime.storage import LocalStorage


def _data(*, weighted: bool) -> LocalData:
    data = generate_rows(samples=103, features=40, density=0.1, seed=3, start=0, stop=103)
    if not weighted:
        return data
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=103)
    return LocalData(features=data.features, labels=data.labels, weights=weights)


def _assert_same(left: LocalData, right: LocalData) -> None:
    assert left.features.shape == right.features.shape
    np.testing.assert_array_equal(left.features.indptr, right.features.indptr)
    np.testing.assert_array_equal(left.features.indices, right.features.indices)
    np.testing.assert_array_equal(left.features.data, right.features.data)
    np.testing.assert_array_equal(left.labels, right.labels)
    if left.weights is None:
        assert right.weights is None
    else:
        assert right.weights is not None
        np.testing.assert_array_equal(left.weights, right.weights)


# LocalData


def test_local_data_properties() -> None:
    data = _data(weighted=False)
    assert (data.num_samples, data.num_features, data.nnz) == (103, 40, 412)
    assert data.max_weight == 1.0
    converted = LocalData.from_arrays([[1, 0], [0, 2]], [1, -1], [0.5, 3])
    assert converted.features.format == "csr"
    assert converted.max_weight == 3.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": np.ones((2, 2))}, r"^features must be a scipy.sparse CSR matrix, got "),
        ({"features": sp.csc_matrix(np.ones((2, 2)))}, r"^features must be a scipy.sparse CSR"),
        (
            {"features": sp.csr_matrix(np.ones((2, 2), dtype=np.float32))},
            r"dtype float64, got float32$",
        ),
        ({"features": sp.csr_matrix([[np.nan, 1.0], [0.0, 1.0]])}, r"^features must be finite"),
        ({"labels": [1.0, -1.0]}, r"^labels must be a numpy array, got list$"),
        ({"labels": np.ones(2, dtype=np.int64)}, r"^labels must have dtype float64, got int64$"),
        ({"labels": np.ones(3)}, r"^labels must have shape \(2,\) to match features, got \(3,\)$"),
        ({"weights": np.array([1.0, -1.0])}, r"^weights must be >= 0$"),
        ({"weights": np.array([1.0, np.inf])}, r"^weights must be finite \(found NaN or inf\)$"),
    ],
)
def test_local_data_validation(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "features": sp.csr_matrix(np.eye(2)),
        "labels": np.ones(2),
        "weights": None,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LocalData(**arguments)  # type: ignore[arg-type]


# Shard bytes


@pytest.mark.parametrize("weighted", [False, True])
def test_shard_bytes_round_trip(weighted: bool) -> None:
    data = _data(weighted=weighted)
    _assert_same(data, shard_from_bytes(shard_to_bytes(data)))


def test_shard_from_bytes_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"^not a lambda-admm shard: "):
        shard_from_bytes(b"this is not a zip file")


def test_shard_from_bytes_rejects_foreign_archives() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, something=np.arange(3))
    with pytest.raises(ValueError, match=r"^not a lambda-admm shard: missing arrays \['data', "):
        shard_from_bytes(buffer.getvalue())


def test_shard_from_bytes_rejects_inconsistent_arrays() -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        data=np.ones(2),
        indices=np.array([0, 9], dtype=np.int32),  # column 9 of a 2-column matrix
        indptr=np.array([0, 1, 2], dtype=np.int32),
        shape=np.array([2, 2]),
        labels=np.ones(2),
    )
    with pytest.raises(ValueError, match=r"^not a lambda-admm shard: "):
        shard_from_bytes(buffer.getvalue())


def test_shard_from_bytes_refuses_pickled_objects() -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        data=np.array([object()], dtype=object),
        indices=np.zeros(1, dtype=np.int32),
        indptr=np.array([0, 1]),
        shape=np.array([1, 1]),
        labels=np.ones(1),
    )
    with pytest.raises(ValueError, match=r"^not a lambda-admm shard: .*allow_pickle"):
        shard_from_bytes(buffer.getvalue())


# Shard directories


@pytest.fixture
def shard_directory(tmp_path: Path) -> tuple[Path, LocalData, ShardManifest]:
    data = _data(weighted=True)
    manifest = write_shards(data, LocalStorage(tmp_path / "shards"), 4, source_name="synthetic-103")
    return tmp_path / "shards", data, manifest


def test_write_shards_layout_and_manifest(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    directory, data, manifest = shard_directory
    names = sorted(path.name for path in directory.iterdir())
    assert names == [COLUMN_STATS_NAME, MANIFEST_NAME] + [shard_file_name(w) for w in range(4)]
    assert shard_file_name(3) == "shard-00003.npz"
    assert (manifest.num_samples, manifest.num_features, manifest.num_workers) == (103, 40, 4)
    assert manifest.source_name == "synthetic-103"
    assert [(s.row_start, s.row_stop) for s in manifest.shards] == [
        (0, 26),
        (26, 52),
        (52, 78),
        (78, 103),
    ]
    assert sum(entry.nnz for entry in manifest.shards) == data.nnz
    for entry in manifest.shards:
        blob = (directory / entry.file_name).read_bytes()
        assert entry.sha256 == hashlib.sha256(blob).hexdigest()
    assert read_manifest(LocalStorage(directory)) == manifest
    assert ShardManifest.from_json(manifest.to_json()) == manifest


def test_read_shard_returns_each_workers_rows(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    directory, data, manifest = shard_directory
    for worker, entry in enumerate(manifest.shards):
        expected = LocalData(
            features=data.features[entry.row_start : entry.row_stop],
            labels=data.labels[entry.row_start : entry.row_stop],
            weights=data.weights[entry.row_start : entry.row_stop],  # type: ignore[index]
        )
        _assert_same(expected, read_shard(LocalStorage(directory), worker))


def test_read_shard_reads_only_its_own_file(
    shard_directory: tuple[Path, LocalData, ShardManifest],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory, _, manifest = shard_directory
    for other in (0, 1, 3):
        (directory / manifest.shards[other].file_name).write_bytes(b"corrupted")
    opened: list[str] = []
    original = Path.read_bytes

    def recording_read_bytes(path: Path) -> bytes:
        opened.append(path.name)
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", recording_read_bytes)
    data = read_shard(LocalStorage(directory), 2)
    assert data.num_samples == 26
    assert opened == [MANIFEST_NAME, "shard-00002.npz"]


def test_read_shard_detects_a_modified_file(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    directory, _, manifest = shard_directory
    path = directory / "shard-00001.npz"
    blob = bytearray(path.read_bytes())
    blob[-30] ^= 0xFF
    path.write_bytes(bytes(blob))
    expected = manifest.shards[1].sha256
    actual = hashlib.sha256(bytes(blob)).hexdigest()
    message = (
        f"^shard shard-00001.npz failed its sha256 check: manifest says {expected}, "
        f"file has {actual}$"
    )
    with pytest.raises(ValueError, match=message):
        read_shard(LocalStorage(directory), 1)


def test_verified_bytes_checks_shape_against_manifest(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    _, _, manifest = shard_directory
    wrong = shard_to_bytes(_data(weighted=False))  # all 103 rows, not worker 0's 26
    entry = manifest.shards[0]
    forged = ShardManifest.from_json(
        manifest.to_json().replace(entry.sha256, hashlib.sha256(wrong).hexdigest())
    )
    with pytest.raises(ValueError, match=r"^shard shard-00000.npz holds shape \(103, 40\)"):
        shard_from_verified_bytes(wrong, forged, 0)


def test_read_shard_rejects_bad_worker_index(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    directory, _, _ = shard_directory
    with pytest.raises(ValueError, match=r"^worker_index must be in \[0, 4\), got 4$"):
        read_shard(LocalStorage(directory), 4)


def test_missing_and_invalid_manifests(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^shard manifest not found: "):
        read_manifest(LocalStorage(tmp_path))
    (tmp_path / MANIFEST_NAME).write_text('{"format_version": 1}')
    with pytest.raises(ValueError, match=r"^invalid shard manifest: 'shards'$"):
        read_manifest(LocalStorage(tmp_path))
    (tmp_path / MANIFEST_NAME).write_text("not json")
    with pytest.raises(ValueError, match=r"^invalid shard manifest: "):
        read_manifest(LocalStorage(tmp_path))


def test_manifest_rejects_other_versions_and_gaps(
    shard_directory: tuple[Path, LocalData, ShardManifest],
) -> None:
    _, _, manifest = shard_directory
    text = manifest.to_json()
    with pytest.raises(ValueError, match=r"unsupported shard format_version 2"):
        ShardManifest.from_json(text.replace('"format_version": 1', '"format_version": 2'))
    with pytest.raises(ValueError, match=r"shards cover 103 rows, not num_samples=104$"):
        ShardManifest.from_json(text.replace('"num_samples": 103', '"num_samples": 104'))
