"""Load exactly one worker's rows, from the generator or from its prepared shard."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from runtime.column_scaling import ColumnScaling
from runtime.generator import generate_rows
from runtime.intercept import with_intercept_column
from runtime.labels import signed_labels_for
from runtime.local_data import LocalData
from runtime.registry import get_loss
from runtime.shards import (
    ShardManifest,
    read_manifest_column_stats,
    read_shard_and_manifest,
    shard_file_name,
)
from runtime.specs import ModelSpec, PaperData, ShardData, WorkerAssignment
from runtime.storage import storage_for

log = logging.getLogger("lambda_admm.worker")


def _read_shard_rows(
    data: ShardData, assignment: WorkerAssignment
) -> tuple[LocalData, ShardManifest]:
    """The manifest and this worker's shard only, verified against the manifest; with
    ``scale_columns``, also the column statistics, and the rows scaled to ``A_w D^{-1}``."""
    source = storage_for(data.uri, field="shards")
    index = assignment.worker_index
    rows, manifest = read_shard_and_manifest(source, index)
    log.info("worker %d read %s", index, source.uri(shard_file_name(index)))
    if not data.scale_columns:
        return rows, manifest
    stats = read_manifest_column_stats(source, manifest)
    if stats is None:
        raise ValueError(f"scale_columns: the dataset at {data.uri} carries no column statistics")
    return ColumnScaling.from_stats(stats).scale_rows(rows), manifest


def _signed_labels(rows: LocalData, model: ModelSpec, manifest: ShardManifest) -> LocalData:
    """Classification labels as ±1, by the whole data set's mapping (the manifest's classes).

    Which losses classify is theirs to say (``signed_labels``, e.g. logistic, squared hinge).
    The client has refused anything but two classes before spawning (``resolve_dataset``);
    the mapping is never decided from one shard's labels.
    """
    if not get_loss(model.loss).signed_labels:
        return rows
    if manifest.labels is None:
        raise ValueError(f"the {model.loss} loss needs the label classes of the shard manifest")
    mapping = signed_labels_for(model.loss, manifest.labels)
    return replace(rows, labels=mapping.apply(rows.labels))


def load_rows(assignment: WorkerAssignment) -> LocalData:
    """The rows ``[row_start, row_stop)`` of the assignment, ready for the local solver
    (with a last column of ones when the model fits an intercept)."""
    data = assignment.data
    if isinstance(data, PaperData):
        rows = generate_rows(
            samples=data.samples,
            features=data.features,
            density=data.density,
            seed=data.seed,
            start=assignment.row_start,
            stop=assignment.row_stop,
        )
    else:
        rows, manifest = _read_shard_rows(data, assignment)
        expected = assignment.row_stop - assignment.row_start
        if rows.num_samples != expected or rows.num_features != data.features:
            raise ValueError(
                f"shard {assignment.worker_index} has shape {rows.features.shape}, "
                f"expected ({expected}, {data.features})"
            )
        rows = _signed_labels(rows, assignment.model, manifest)  # the generator's are ±1
    if assignment.model.sample_weights == "uniform":
        weights = np.full(rows.num_samples, 1.0 / data.num_samples)
        if rows.weights is not None:
            weights = weights * rows.weights
        rows = replace(rows, weights=weights)
    if assignment.model.fit_intercept:  # after the scaling: the intercept is never scaled
        rows = with_intercept_column(rows)
    return rows


def split_holdout(rows: LocalData, *, folds: int, fold: int) -> tuple[LocalData, LocalData]:
    """``(training rows, held-out rows)``: a row is held out when its place in the shard is
    ``fold`` modulo ``folds``."""
    held = np.arange(rows.num_samples) % folds == fold
    return _subset(rows, ~held), _subset(rows, held)


def _subset(rows: LocalData, keep: np.ndarray) -> LocalData:
    return LocalData(
        features=rows.features[keep],
        labels=rows.labels[keep],
        weights=None if rows.weights is None else rows.weights[keep],
    )
