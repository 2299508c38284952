"""Preparing an svmlight file block by block: the same shards as reading it whole.

The streaming reader cuts the file into blocks of whole lines; with blocks of a few bytes
every line boundary, comment and blank line falls on a cut somewhere, so these tests cover
the cuts, not only the whole-file case.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from runtime.shards import read_manifest, read_shard, write_shards
from runtime.storage import LocalStorage
from runtime.svmlight import read_svmlight
from runtime.svmlight_stream import count_samples
from scheduler_host.cli.datasets import DatasetError, prepare_dataset

TEXT = (
    "# a header comment\n"
    "1 1:0.5 3:2.0 # trailing comment\n"
    "\n"
    "-1 2:-1.5\r\n"
    "   \n"
    "1 qid:3 3:4.0 7:1e-3\n"
    "-1\n"  # a row without features
    "1 1:1 2:2 3:3 4:4 5:5 6:6 7:7\n"
    "\t# indented comment\n"
    "-1 5:0.25"  # no final newline
)


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 2**20])
@pytest.mark.parametrize("workers", [1, 2, 3, 6])
def test_blocks_of_any_size_give_the_shards_of_the_whole_file(
    tmp_path: Path, block_bytes: int, workers: int
) -> None:
    source = tmp_path / "data.svm"
    source.write_bytes(TEXT.encode())
    assert count_samples(source, block_bytes) == 6
    prepared = prepare_dataset(
        source, str(tmp_path / "streamed"), num_workers=workers, block_bytes=block_bytes
    )
    whole = read_svmlight(source)  # the reference: the file in memory at once
    reference = write_shards(
        whole.data, LocalStorage(tmp_path / "whole"), workers, source_name="data.svm"
    )
    manifest = prepared.manifest
    assert [entry.sha256 for entry in manifest.shards] == [
        entry.sha256 for entry in reference.shards
    ]
    assert (manifest.num_samples, manifest.num_features, manifest.zero_based) == (6, 7, False)
    assert manifest.labels == reference.labels
    assert prepared.notes == whole.notes
    assert read_manifest(LocalStorage(tmp_path / "streamed")) == manifest
    for worker in range(workers):
        streamed = read_shard(LocalStorage(tmp_path / "streamed"), worker)
        np.testing.assert_array_equal(
            streamed.features.toarray(),
            whole.data.features[slice(*reference_range(reference, worker))].toarray(),
        )
    stats = np.load(tmp_path / "streamed" / "column-stats.npz")["sum_of_squares"]
    expected = np.asarray(whole.data.features.multiply(whole.data.features).sum(axis=0)).ravel()
    np.testing.assert_allclose(stats, expected, rtol=1e-15)


def reference_range(manifest, worker: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    entry = manifest.shards[worker]
    return entry.row_start, entry.row_stop


def test_a_gzipped_file_streams_like_the_plain_one(tmp_path: Path) -> None:
    (tmp_path / "d.svm").write_bytes(TEXT.encode())
    with gzip.open(tmp_path / "d.svm.gz", "wb") as stream:
        stream.write(TEXT.encode())
    plain = prepare_dataset(tmp_path / "d.svm", str(tmp_path / "a"), num_workers=2, block_bytes=5)
    packed = prepare_dataset(tmp_path / "d.svm.gz", str(tmp_path / "b"), num_workers=2)
    assert [e.sha256 for e in plain.manifest.shards] == [e.sha256 for e in packed.manifest.shards]


def test_a_bad_line_in_a_late_block_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "data.svm"
    source.write_text("1 1:1\n" * 50 + "1 2:x\n")
    with pytest.raises(DatasetError) as raised:
        prepare_dataset(source, str(tmp_path / "out"), num_workers=2, block_bytes=16)
    assert str(raised.value) == f"{source} line 51: cannot parse '2:x' as index:value"
    assert not (tmp_path / "out").exists()


def test_an_index_beyond_the_limit_is_refused_before_it_is_allocated(tmp_path: Path) -> None:
    source = tmp_path / "data.svm"
    source.write_text("1 1:1\n" * 20 + "1 900000000:1\n")
    with pytest.raises(DatasetError) as raised:
        prepare_dataset(source, str(tmp_path / "out"), num_workers=2, block_bytes=8)
    assert str(raised.value) == (
        f"{source} line 21: feature index 900,000,000 is beyond the limit of 1,000,000 features "
        "(allowed: indices 1 to 1,000,000, or more with --features N)"
    )


def test_many_distinct_regression_targets_are_counted(tmp_path: Path) -> None:
    source = tmp_path / "data.svm"
    source.write_text("".join(f"{value} 1:1\n" for value in np.linspace(0, 1, 30)))
    manifest = prepare_dataset(source, str(tmp_path / "out"), num_workers=3, block_bytes=40)
    assert manifest.manifest.labels is not None and manifest.manifest.labels.count == 30
