"""The storage interface: LocalStorage on real directories, S3Storage against moto's S3.

Both backends run the same contract (read back what was written, list, exists, a missing
object is FileNotFoundError), then what the dataset and manifest readers make of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.generator import generate_rows
from runtime.shards import read_manifest_column_stats, read_shard, write_shards
from runtime.storage import LocalStorage, S3Storage, Storage, StorageError, storage_for
from scheduler_host.assignments import load_manifest

BUCKET = "lambda-admm-storage-test"


@pytest.fixture
def s3(mocked_aws: None) -> Iterator[Any]:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "root")
    client = request.getfixturevalue("s3")
    return S3Storage(bucket=BUCKET, prefix="datasets/one/", client=client)


def test_objects_round_trip(storage: Storage) -> None:
    assert storage.list() == []
    assert not storage.exists("a.bin")
    storage.write_bytes("a.bin", b"\x00first")
    storage.write_bytes("sub/b.json", b"{}", content_type="application/json")
    storage.write_bytes("a.bin", b"second")  # replaced
    assert storage.read_bytes("a.bin") == b"second"
    assert storage.read_bytes("sub/b.json") == b"{}"
    assert storage.exists("a.bin") and not storage.exists("c.bin")
    assert storage.list() == ["a.bin", "sub/b.json"]


def test_a_missing_object_is_file_not_found(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError, match=rf"^no such object: {storage.uri('nope')}$"):
        storage.read_bytes("nope")


def test_uris_name_the_objects(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path).uri("m.json") == str(tmp_path / "m.json")
    s3 = S3Storage(bucket="b", prefix="/datasets/x/")
    assert s3.uri("m.json") == "s3://b/datasets/x/m.json"
    assert s3.key("m.json") == "datasets/x/m.json"
    assert S3Storage(bucket="b").uri("results/1/x.npy") == "s3://b/results/1/x.npy"


def test_storage_for_is_the_one_scheme_dispatch(tmp_path: Path) -> None:
    local = storage_for(str(tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path
    remote = storage_for("s3://bucket/datasets/x")
    assert isinstance(remote, S3Storage)
    assert (remote.bucket, remote.prefix) == ("bucket", "datasets/x")
    assert storage_for("s3://bucket").uri("k") == "s3://bucket/k"
    with pytest.raises(
        ValueError, match=r"^shards: must look like s3://bucket/prefix, got 's3:///x'$"
    ):
        storage_for("s3:///x", field="shards")


def test_a_local_file_that_cannot_be_read_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(StorageError, match=rf"^cannot read {tmp_path / 'dir.npz'}: "):
        LocalStorage(tmp_path).read_bytes("dir.npz")


def test_an_unreachable_bucket_is_a_storage_error(s3: Any) -> None:
    storage = S3Storage(bucket="no-such-bucket", prefix="p", client=s3)
    with pytest.raises(StorageError, match=r"^cannot read s3://no-such-bucket/p/k: .*NoSuchBucket"):
        storage.read_bytes("k")
    with pytest.raises(StorageError, match=r"^cannot write s3://no-such-bucket/p/k: "):
        storage.write_bytes("k", b"")


def test_shards_written_to_s3_are_read_back_by_a_worker(s3: Any) -> None:
    data = generate_rows(samples=60, features=12, density=0.2, seed=1, start=0, stop=60)
    destination = storage_for(f"s3://{BUCKET}/datasets/d", s3_client=s3)
    manifest = write_shards(data, destination, 3, source_name="synthetic")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == [
        "datasets/d/column-stats.npz",
        "datasets/d/manifest.json",
        *(f"datasets/d/shard-0000{w}.npz" for w in range(3)),
    ]
    rows = read_shard(destination, 1)
    assert rows.num_samples == manifest.shards[1].row_stop - manifest.shards[1].row_start
    assert load_manifest(f"s3://{BUCKET}/datasets/d") == manifest  # boto3's default client
    stats = read_manifest_column_stats(destination, manifest)  # verified, as a Lambda reads it
    assert stats is not None and stats.num_samples == 60


def test_load_manifest_names_the_field(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"^shards: no manifest.json in {tmp_path}$"):
        load_manifest(str(tmp_path))
    with pytest.raises(ValueError, match=rf"^shards: no manifest.json in s3://{BUCKET}/none$"):
        load_manifest(f"s3://{BUCKET}/none")
    with pytest.raises(
        ValueError, match=r"^shards: cannot read s3://no-such-bucket/d/manifest.json: "
    ):
        load_manifest("s3://no-such-bucket/d")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match=r"^shards: invalid shard manifest: 'shards'$"):
        load_manifest(str(tmp_path))


def test_a_large_object_goes_to_s3_as_a_multipart_upload_with_progress(s3: Any) -> None:
    from runtime.storage import MULTIPART_BYTES

    storage = S3Storage(bucket=BUCKET, prefix="big", client=s3)
    blob = bytes(range(256)) * (MULTIPART_BYTES * 5 // 2 // 256)  # 2.5 parts
    reported: list[int] = []
    storage.write_bytes("shard-00000.npz", blob, progress=reported.append)
    assert storage.read_bytes("shard-00000.npz") == blob
    etag = s3.head_object(Bucket=BUCKET, Key="big/shard-00000.npz")["ETag"]
    assert etag.strip('"').endswith("-3")  # S3's mark of a 3-part upload
    assert sum(reported) == len(blob) and len(reported) >= 3
    small: list[int] = []
    storage.write_bytes("manifest.json", b"{}", progress=small.append)
    assert small == [2]
    assert "-" not in s3.head_object(Bucket=BUCKET, Key="big/manifest.json")["ETag"]


def test_data_prepare_streams_a_file_into_s3(s3: Any, tmp_path: Path) -> None:
    from scheduler_host.cli.datasets import prepare_dataset

    source = tmp_path / "data.svm"
    source.write_text("".join(f"{i % 2} 1:{i} 3:0.5\n" for i in range(1, 201)))
    written: list[int] = []
    prepared = prepare_dataset(
        source, f"s3://{BUCKET}/datasets/d", num_workers=3, block_bytes=100, progress=written.append
    )
    storage = S3Storage(bucket=BUCKET, prefix="datasets/d", client=s3)
    assert storage.list() == [
        "column-stats.npz",
        "manifest.json",
        "shard-00000.npz",
        "shard-00001.npz",
        "shard-00002.npz",
    ]
    assert load_manifest(f"s3://{BUCKET}/datasets/d") == prepared.manifest
    rows = read_shard(storage, 2)
    assert rows.num_samples == 66 and rows.labels.tolist()[:2] == [1.0, 0.0]
    shard_bytes = sum(len(storage.read_bytes(f"shard-0000{w}.npz")) for w in range(3))
    assert sum(written) == shard_bytes
