"""Label classes: found once for the whole data set, mapped to ±1 by one rule, else refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from runtime.labels import LabelClasses, signed_labels_for
from runtime.local_data import LocalData
from runtime.rows import _signed_labels
from runtime.shards import ShardManifest, read_manifest, read_shard, write_shards
from runtime.specs import ModelSpec
from runtime.storage import LocalStorage


def _data(labels: list[float]) -> LocalData:
    return LocalData(features=sp.csr_matrix(np.ones((len(labels), 2))), labels=np.array(labels))


def _prepared(tmp_path: Path, labels: list[float], workers: int) -> LocalStorage:
    storage = LocalStorage(tmp_path / "shards")
    write_shards(_data(labels), storage, workers, source_name="labels.svm")
    return storage


@pytest.mark.parametrize(
    ("labels", "negative", "positive"),
    [([0.0, 1.0], 0.0, 1.0), ([1.0, -1.0], -1.0, 1.0), ([4.0, 2.0, 4.0], 2.0, 4.0)],
)
def test_two_classes_map_the_smaller_to_minus_one(
    labels: list[float], negative: float, positive: float
) -> None:
    mapping = signed_labels_for("logistic", LabelClasses.of(np.array(labels)))
    assert (mapping.negative, mapping.positive) == (negative, positive)
    expected = [1.0 if label == positive else -1.0 for label in labels]
    np.testing.assert_array_equal(mapping.apply(np.array(labels)), expected)


@pytest.mark.parametrize(
    ("labels", "found"),
    [
        ([-1.0, 0.0, 1.0], "3: -1, 0, 1"),
        ([1.0, 2.0, 3.0, 4.0], "4: 1, 2, 3, 4"),
        ([1.0, 1.0], "1: 1"),
        ([float(v) for v in range(12)], "12: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ..."),
    ],
)
def test_anything_but_two_classes_is_refused_naming_them(labels: list[float], found: str) -> None:
    with pytest.raises(ValueError) as raised:
        signed_labels_for("logistic", LabelClasses.of(np.array(labels)))
    assert str(raised.value) == (
        f"the logistic loss needs two label classes, found {found} "
        "(allowed: any two classes; the smaller becomes -1, the larger +1)"
    )


def test_the_manifest_records_the_classes_and_the_mapping(tmp_path: Path) -> None:
    storage = _prepared(tmp_path, [2.0, 4.0, 4.0, 2.0], workers=2)
    text = (tmp_path / "shards" / "manifest.json").read_text()
    assert '"classes": [\n      2.0,\n      4.0\n    ]' in text
    assert '"mapping": {\n      "-1": 2.0,\n      "+1": 4.0\n    }' in text
    assert read_manifest(storage).labels == LabelClasses(listed=(2.0, 4.0), count=2)


def test_an_old_manifest_without_labels_still_loads(tmp_path: Path) -> None:
    storage = _prepared(tmp_path, [0.0, 1.0, 1.0], workers=1)
    manifest = read_manifest(storage)
    document = json.loads(manifest.to_json())
    del document["labels"]  # as written before the label classes were recorded
    restored = ShardManifest.from_json(json.dumps(document))
    assert restored.labels is None and restored.shards == manifest.shards
    rows = read_shard(storage, 0)
    with pytest.raises(ValueError) as raised:
        _signed_labels(rows, ModelSpec(loss="squared_hinge"), restored)
    assert str(raised.value) == (
        "the squared_hinge loss needs the label classes of the shard manifest"
    )


@pytest.mark.parametrize("loss", ["logistic", "squared_hinge"])
def test_each_worker_maps_by_the_whole_data_set_not_its_shard(tmp_path: Path, loss: str) -> None:
    # Shard 0 holds only 2s, shard 1 only 4s: alone, neither could tell which is +1.
    storage = _prepared(tmp_path, [2.0, 2.0, 4.0, 4.0], workers=2)
    manifest = read_manifest(storage)
    for worker, expected in [(0, [-1.0, -1.0]), (1, [1.0, 1.0])]:
        rows = _signed_labels(read_shard(storage, worker), ModelSpec(loss=loss), manifest)
        np.testing.assert_array_equal(rows.labels, expected)


def test_regression_labels_are_kept(tmp_path: Path) -> None:
    storage = _prepared(tmp_path, [0.5, 1.5, 2.5], workers=1)
    rows = _signed_labels(read_shard(storage, 0), ModelSpec(loss="squared"), read_manifest(storage))
    np.testing.assert_array_equal(rows.labels, [0.5, 1.5, 2.5])
