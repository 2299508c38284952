"""Client side of datasets: an svmlight file prepared once into per-worker shards.

The destination is a directory or an ``s3://bucket/prefix``; the manifest is
written last, so a reader never sees a manifest whose shards are missing.
"""

from __future__ import annotations

from pathlib import Path

from runtime.shards import ShardManifest, load_svmlight, write_shards
from runtime.storage import storage_for


def prepare_dataset(source: Path, destination: str, *, num_workers: int) -> ShardManifest:
    """Load ``source`` with scikit-learn's svmlight reader and write W contiguous shards.

    Raises
    ------
    ValueError
        ``"workers: ..."`` for a W the data cannot take, ``"destination: ..."`` for a
        malformed ``s3://`` URI.
    OSError
        If the source cannot be read or the destination cannot be written.
    """
    target = storage_for(destination, field="destination")
    data = load_svmlight(source)
    if not 1 <= num_workers <= data.num_samples:
        raise ValueError(
            f"workers: must be between 1 and the number of samples ({data.num_samples}), "
            f"got {num_workers}"
        )
    return write_shards(data, target, num_workers, source_name=source.name)
