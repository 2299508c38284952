"""Rows written to an svmlight file and prepared into shards, as a user's data would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.datasets import dump_svmlight_file

from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve_spec import SolveSpec


def spec_on_shards(
    tmp_path: Path, features: Any, labels: Any, *, workers: int, **fields: Any
) -> SolveSpec:
    """A spec for the rows ``features`` (n, d) and ``labels`` (n,), prepared into W shards."""
    path = tmp_path / "data.svm"
    dump_svmlight_file(features, labels, str(path))
    manifest = prepare_dataset(path, str(tmp_path / "shards"), num_workers=workers).manifest
    return SolveSpec(
        problem="shards",
        shards=str(tmp_path / "shards"),
        samples=manifest.num_samples,
        features=manifest.num_features,
        workers=workers,
        **fields,
    )
