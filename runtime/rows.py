"""Load exactly one worker's rows, from the generator or from its prepared shard."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from runtime.generator import generate_rows
from runtime.local_data import LocalData
from runtime.registry import get_loss
from runtime.shards import ShardManifest, read_shard, shard_from_verified_bytes
from runtime.specs import ModelSpec, PaperData, ShardData, WorkerAssignment

log = logging.getLogger("lambda_admm.worker")


def split_s3_uri(uri: str, *, field: str = "shards uri") -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)`` without a trailing slash."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{field} must look like s3://bucket/prefix, got {uri!r}")
    return bucket, prefix.rstrip("/")


def read_s3_manifest(s3: Any, bucket: str, prefix: str) -> ShardManifest:
    """The manifest of the shards under ``s3://bucket/prefix`` (``s3``: a boto3 client)."""
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/manifest.json")["Body"].read()
    return ShardManifest.from_json(body.decode())


def _read_s3_shard(uri: str, worker_index: int) -> LocalData:
    """The manifest and this worker's shard only, verified against the manifest."""
    import boto3  # provided by the Lambda runtime; only needed for s3:// data

    bucket, prefix = split_s3_uri(uri)
    s3 = boto3.client("s3")
    manifest = read_s3_manifest(s3, bucket, prefix)
    if not 0 <= worker_index < manifest.num_workers:
        raise ValueError(f"worker_index must be in [0, {manifest.num_workers}), got {worker_index}")
    key = f"{prefix}/{manifest.shards[worker_index].file_name}"
    blob = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    log.info("worker %d read s3://%s/%s", worker_index, bucket, key)
    return shard_from_verified_bytes(blob, manifest, worker_index)


def _read_shard_rows(data: ShardData, assignment: WorkerAssignment) -> LocalData:
    if data.uri.startswith("s3://"):
        return _read_s3_shard(data.uri, assignment.worker_index)
    return read_shard(Path(data.uri), assignment.worker_index)


def _prepare_labels(rows: LocalData, model: ModelSpec) -> LocalData:
    """Classification labels must be ±1; the usual {0, 1} coding is mapped, others refused.

    Which losses classify is theirs to say (``signed_labels``, e.g. logistic, squared hinge).
    """
    if not get_loss(model.loss).signed_labels:
        return rows
    labels = rows.labels
    if np.isin(labels, (-1.0, 1.0)).all():
        return rows
    if np.isin(labels, (0.0, 1.0)).all():
        return replace(rows, labels=np.where(labels > 0, 1.0, -1.0))
    raise ValueError(f"{model.loss} loss needs labels in {{-1, +1}} or {{0, 1}}")


def load_rows(assignment: WorkerAssignment) -> LocalData:
    """The rows ``[row_start, row_stop)`` of the assignment, ready for the local solver."""
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
        rows = _read_shard_rows(data, assignment)
        expected = assignment.row_stop - assignment.row_start
        if rows.num_samples != expected or rows.num_features != data.features:
            raise ValueError(
                f"shard {assignment.worker_index} has shape {rows.features.shape}, "
                f"expected ({expected}, {data.features})"
            )
    rows = _prepare_labels(rows, assignment.model)
    if assignment.model.sample_weights == "uniform":
        weights = np.full(rows.num_samples, 1.0 / data.num_samples)
        if rows.weights is not None:
            weights = weights * rows.weights
        rows = replace(rows, weights=weights)
    return rows
