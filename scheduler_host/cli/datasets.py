"""Client side of datasets: an svmlight file prepared once into per-worker shards.

The destination is a directory or an ``s3://bucket/prefix``; the manifest is
written last, so a reader never sees a manifest whose shards are missing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from runtime.rows import split_s3_uri
from runtime.shards import ShardManifest, load_svmlight, write_shards


def prepare_dataset(source: Path, destination: str, *, num_workers: int) -> ShardManifest:
    """Load ``source`` with scikit-learn's svmlight reader and write W contiguous shards."""
    data = load_svmlight(source)
    if not 1 <= num_workers <= data.num_samples:
        raise ValueError(
            f"workers: must be between 1 and the number of samples ({data.num_samples}), "
            f"got {num_workers}"
        )
    if not destination.startswith("s3://"):
        return write_shards(data, Path(destination), num_workers, source_name=source.name)
    with tempfile.TemporaryDirectory(prefix="lambda-admm-shards-") as scratch:
        manifest = write_shards(data, Path(scratch), num_workers, source_name=source.name)
        upload_directory(Path(scratch), destination, last="manifest.json")
    return manifest


def upload_directory(directory: Path, destination: str, *, last: str) -> None:
    import boto3

    bucket, prefix = split_s3_uri(destination, field="destination")
    s3 = boto3.client("s3")
    files = sorted(directory.iterdir(), key=lambda path: path.name == last)
    for path in files:
        s3.upload_file(str(path), bucket, f"{prefix}/{path.name}")
