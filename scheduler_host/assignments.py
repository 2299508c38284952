"""From a solve spec to the W spawn payloads (Algorithm 1's per-worker embedding)."""

from __future__ import annotations

import json
import logging
from typing import Any

from runtime.generator import row_ranges
from runtime.labels import signed_labels_for
from runtime.registry import get_loss
from runtime.shards import MANIFEST_NAME, ShardManifest, read_manifest
from runtime.specs import SchedulerEndpoints, WorkerAssignment
from runtime.storage import storage_for
from scheduler_host.solve_spec import SolveSpec

log = logging.getLogger("lambda_admm.scheduler")


def load_manifest(uri: str) -> ShardManifest:
    """The shard manifest of a prepared dataset (directory or ``s3://bucket/prefix``).

    Raises
    ------
    ValueError
        Naming the field: ``"shards: no manifest.json in <uri>"``, ``"shards: cannot read
        s3://b/k: ..."``, or ``"shards: invalid shard manifest: ..."``.
    """
    source = storage_for(uri, field="shards")
    try:
        return read_manifest(source)
    except FileNotFoundError:
        raise ValueError(f"shards: no {MANIFEST_NAME} in {uri}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"shards: {error}") from None


def _resolved_scaling(spec: SolveSpec, manifest: ShardManifest) -> str:
    """``scale_columns`` decided: 'on' or 'off' (see :class:`SolveSpec`).

    Raises
    ------
    ValueError
        ``"scale_columns: ..."`` for 'on' with a dataset that has no column statistics.
    """
    if spec.scale_columns == "off":
        return "off"
    if manifest.column_stats is None:
        reason = (
            f"the dataset at {spec.shards} carries no column statistics (it was prepared "
            "before they were written; prepare it again to have them)"
        )
        if spec.scale_columns == "on":
            raise ValueError(f"scale_columns: 'on' is impossible: {reason}")
        log.warning("column scaling is off: %s", reason)
        return "off"
    if spec.penalty is not None:  # validation refuses 'on' with such a penalty
        log.warning(
            "column scaling is off: the %s penalty is not coordinate-separable", spec.penalty.kind
        )
        return "off"
    return "on"


def resolve_dataset(spec: SolveSpec) -> tuple[SolveSpec, list[tuple[int, int]]]:
    """The spec with a shard dataset's N and d filled in and ``scale_columns`` decided ('on'
    or 'off'), and each worker's row range.

    A shard dataset's manifest is read once, here; W must match its shards, and a
    classification loss needs two label classes (refused here, before any worker starts).
    The paper's generated data is never scaled (its columns are identically distributed).
    """
    if spec.problem != "shards":  # 'auto' (validation refuses 'on') means off here
        return spec, row_ranges(spec.samples, spec.workers)
    assert spec.shards is not None
    manifest = load_manifest(spec.shards)
    if manifest.num_workers != spec.workers:
        raise ValueError(
            f"workers: the dataset at {spec.shards} is prepared for {manifest.num_workers} "
            f"workers, got {spec.workers}"
        )
    check_labels(spec.loss, manifest, uri=spec.shards)
    resolved = spec.model_copy(
        update={
            "samples": manifest.num_samples,
            "features": manifest.num_features,
            "scale_columns": _resolved_scaling(spec, manifest),
        }
    )
    return resolved, [(entry.row_start, entry.row_stop) for entry in manifest.shards]


def check_labels(loss: str, manifest: ShardManifest, *, uri: str) -> None:
    """Refuse a classification loss on data without exactly two label classes.

    Raises
    ------
    ValueError
        ``"shards: the logistic loss needs two label classes, found 3: -1, 0, 1 (...)"``, or
        ``"shards: ... records no label classes ..."`` for a manifest written before they were.
    """
    if not get_loss(loss).signed_labels:
        return
    if manifest.labels is None:
        raise ValueError(
            f"shards: the manifest at {uri} records no label classes (it predates them), "
            f"which the {loss} loss needs (allowed: prepare the data again with "
            "`lambda-admm data prepare`)"
        )
    try:
        signed_labels_for(loss, manifest.labels)
    except ValueError as error:
        raise ValueError(f"shards: {error}") from None


def build_assignment(
    spec: SolveSpec,
    *,
    solve_id: str,
    worker_index: int,
    slot_epoch: int,
    rows: tuple[int, int],
    endpoints: SchedulerEndpoints,
    worker_options: dict[str, Any],
) -> WorkerAssignment:
    """The spawn request of one worker slot (epoch > 0: a replacement)."""
    return WorkerAssignment(
        solve_id=solve_id,
        worker_index=worker_index,
        num_workers=spec.workers,
        slot_epoch=slot_epoch,
        row_start=rows[0],
        row_stop=rows[1],
        data=spec.data,
        model=spec.model,
        local_solver=spec.local_solver_spec,
        relaxation=spec.relaxation,
        anderson_memory=spec.worker_anderson_memory,
        scheduler=endpoints,
        **worker_options,
    )


def spec_as_json(spec: SolveSpec) -> dict[str, object]:
    result: dict[str, object] = json.loads(spec.model_dump_json())
    return result
