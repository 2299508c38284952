"""Where a result came from: the version, the command line, when it ran, and which data.

``result.json``'s ``provenance``: the package version, the command line as typed (shell
quoted), the start and end of the command as ISO 8601 UTC timestamps, and the data source:
the svmlight file (its path and sha256), the prepared shards (their location and the sha256
of their manifest, which holds every shard's sha256), or the paper's generator and its
parameters.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler_host.solve_spec import SolveSpec

#: The distribution whose version a result records.
DISTRIBUTION = "lambda-admm"
#: How a file is read for its hash.
CHUNK_BYTES = 1 << 20


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond, e.g. ``2026-12-03T18:52:06.475Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def data_source(spec: SolveSpec, *, data_file: Path | None = None) -> dict[str, Any]:
    """What the solve read: ``data_file`` (``--data``), the spec's shards, or the generator."""
    if data_file is not None:
        return {
            "kind": "svmlight",
            "path": str(data_file.resolve()),
            "sha256": file_sha256(data_file),
        }
    if spec.problem == "shards":
        from runtime.shards import MANIFEST_NAME
        from runtime.storage import storage_for

        assert spec.shards is not None
        manifest = storage_for(spec.shards, field="shards").read_bytes(MANIFEST_NAME)
        return {
            "kind": "shards",
            "uri": spec.shards,
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        }
    return {
        "kind": "paper generator",
        "samples": spec.samples,
        "features": spec.features,
        "density": spec.density,
        "seed": spec.seed,
    }


@dataclass(frozen=True)
class Provenance:
    """What is known when the command starts; :meth:`to_json` adds the end."""

    command: tuple[str, ...]
    data: dict[str, Any]
    started: datetime = field(default_factory=utc_now)

    def to_json(self, *, finished: datetime | None = None) -> dict[str, Any]:
        return {
            "version": metadata.version(DISTRIBUTION),
            "command": shlex.join(self.command),
            "started": iso(self.started),
            "finished": iso(finished or utc_now()),
            "data": self.data,
        }
