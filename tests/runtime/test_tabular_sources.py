"""``.npz`` CSR and long-form Parquet sources: the shards of the same rows from svmlight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

import runtime.tabular_sources as tabular
from runtime.local_data import LocalData
from runtime.shards import write_shards
from runtime.storage import LocalStorage
from scheduler_host.cli.datasets import DatasetError, prepare_dataset

ROWS = sp.random(40, 9, density=0.2, random_state=np.random.default_rng(5), format="csr")
ROWS[3] = 0  # rows without values
ROWS[39] = 0
ROWS.eliminate_zeros()
LABELS = np.where(np.arange(40) % 3 == 0, 1.0, -1.0)


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "BLOCK_VALUES", 5)  # many blocks, rows split across batches


def _reference(tmp_path: Path, workers: int) -> list[str]:
    data = LocalData.from_arrays(ROWS, LABELS)
    manifest = write_shards(data, LocalStorage(tmp_path / "ref"), workers, source_name="x")
    return [entry.sha256 for entry in manifest.shards]


def _npz(path: Path, **arrays: object) -> Path:
    parts = {
        "data": ROWS.data,
        "indices": ROWS.indices,
        "indptr": ROWS.indptr,
        "shape": np.array(ROWS.shape),
        "labels": LABELS,
        "format": np.array(b"csr"),
        **arrays,
    }
    np.savez(path, **{name: value for name, value in parts.items() if value is not None})
    return path


def _parquet(path: Path, entries: dict[str, list], row_group_size: int = 7) -> Path:
    pq.write_table(pa.table(entries), path, row_group_size=row_group_size)
    return path


def _long_form() -> dict[str, list]:
    coo = ROWS.tocoo()
    entries = {"row": [], "col": [], "value": [], "label": []}
    for row in range(40):
        mine = np.flatnonzero(coo.row == row)
        if not mine.size:
            entries["row"].append(row)
            entries["col"].append(None)
            entries["value"].append(None)
            entries["label"].append(LABELS[row])
        for k in mine[::-1]:  # columns in any order within a row
            entries["row"].append(row)
            entries["col"].append(int(coo.col[k]))
            entries["value"].append(float(coo.data[k]))
            entries["label"].append(LABELS[row])
    return entries


@pytest.mark.parametrize("workers", [1, 3])
def test_an_npz_csr_gives_the_shards_of_its_rows(tmp_path: Path, workers: int) -> None:
    source = _npz(tmp_path / "rows.npz")
    prepared = prepare_dataset(source, str(tmp_path / "out"), num_workers=workers)
    assert [e.sha256 for e in prepared.manifest.shards] == _reference(tmp_path, workers)
    assert (prepared.manifest.num_features, prepared.manifest.zero_based) == (9, True)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_long_form_parquet_gives_the_shards_of_its_rows(tmp_path: Path, workers: int) -> None:
    source = _parquet(tmp_path / "rows.parquet", _long_form())
    prepared = prepare_dataset(source, str(tmp_path / "out"), num_workers=workers, num_features=9)
    assert [e.sha256 for e in prepared.manifest.shards] == _reference(tmp_path, workers)
    stats = np.load(tmp_path / "out" / "column-stats.npz")["sum_of_squares"]
    np.testing.assert_allclose(stats, np.asarray(ROWS.multiply(ROWS).sum(axis=0)).ravel())


def _refusal(source: Path, tmp_path: Path, **options: object) -> str:
    with pytest.raises(DatasetError) as raised:
        prepare_dataset(source, str(tmp_path / "out"), num_workers=2, **options)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    return str(raised.value)


def test_bad_tabular_sources_are_named(tmp_path: Path) -> None:
    no_labels = _npz(tmp_path / "a.npz", labels=None)
    assert _refusal(no_labels, tmp_path) == (
        f"{no_labels}: missing arrays ['labels'] (allowed: a CSR matrix's data, indices, "
        "indptr, shape, and labels)"
    )
    entries = _long_form()
    second = next(i for i in range(1, 99) if entries["row"][i] == entries["row"][i - 1])
    entries["label"][second] = 7.0  # the second entry of a row disagrees with its first
    two_labels = _parquet(tmp_path / "b.parquet", entries)
    row = entries["row"][second]
    assert _refusal(two_labels, tmp_path) == (
        f"{two_labels}: row {row} has labels {LABELS[row]:g} and 7 (allowed: one label per row)"
    )
    gap = {
        name: [v for r, v in zip(_long_form()["row"], values, strict=True) if r != 10]
        for name, values in _long_form().items()
    }
    missing = _parquet(tmp_path / "c.parquet", gap)
    assert _refusal(missing, tmp_path) == (
        f"{missing}: row 10 is missing (allowed: rows 0 to N - 1, each)"
    )
    narrow = _parquet(tmp_path / "d.parquet", _long_form())
    assert _refusal(narrow, tmp_path, num_features=4).startswith(f"{narrow}: row ")
    assert _refusal(_npz(tmp_path / "e.npz"), tmp_path, num_features=4) == (
        f"{tmp_path / 'e.npz'} has 9 columns, more than --features 4 (allowed: 9 to 10,000,000)"
    )
    assert _refusal(_npz(tmp_path / "f.npz"), tmp_path, zero_based="false") == (
        f"{tmp_path / 'f.npz'}: an .npz or Parquet source has 0-based columns (allowed: auto)"
    )
