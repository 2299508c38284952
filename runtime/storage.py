"""One storage interface for datasets and results: a local directory or an S3 prefix.

Code that reads or writes shards, manifests or result objects names them relative to a
:class:`Storage` (``"manifest.json"``, ``"shard-00003.npz"``) and never looks at the URI
itself; :func:`storage_for` is the one place that tells ``s3://bucket/prefix`` from a
directory (after Lithops' ``storage/backends/{localhost,aws_s3}``).

Both backends raise :class:`FileNotFoundError` for a missing object and
:class:`StorageError` (an :class:`OSError`) naming the URI for anything else, so callers
handle one kind of failure whatever the backend. The module is stdlib-only; boto3 is
imported on first use of an S3 prefix (the Lambda runtime provides it).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

S3_SCHEME = "s3://"
#: Objects this large or larger go to S3 as multipart uploads, in parts of this size.
MULTIPART_BYTES = 8 * 2**20
#: Told the number of bytes written, as they are written (a progress bar's advance).
Progress = Callable[[int], None]


class StorageError(OSError):
    """An object could not be read or written: ``"cannot read s3://b/k: <cause>"``."""


class Storage(Protocol):
    """Named byte objects under one root (names use ``/`` and are relative to the root)."""

    def read_bytes(self, name: str) -> bytes:
        """The object's bytes; :class:`FileNotFoundError` if there is none."""
        ...

    def write_bytes(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Create or replace the object; ``progress(n)`` is told each ``n`` bytes written."""
        ...

    def exists(self, name: str) -> bool: ...

    def list(self) -> list[str]:
        """The names of every object under the root, sorted."""
        ...

    def uri(self, name: str = "") -> str:
        """Where the object lives, for messages and for other programs (``s3://b/k``)."""
        ...


class LocalStorage:
    """Objects as files under ``root`` (created on the first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / name if name else self.root

    def uri(self, name: str = "") -> str:
        return str(self._path(name))

    def read_bytes(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"no such object: {path}") from None
        except OSError as error:
            raise StorageError(f"cannot read {path}: {error}") from error

    def write_bytes(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error}") from error
        if progress is not None:
            progress(len(data))

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        files = (path for path in self.root.rglob("*") if path.is_file())
        return sorted(path.relative_to(self.root).as_posix() for path in files)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"


class S3Storage:
    """Objects under ``s3://bucket/prefix`` (``client``: a boto3 S3 client, made on first use)."""

    def __init__(self, *, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def key(self, name: str) -> str:
        return "/".join(part for part in (self.prefix, name) if part)

    def uri(self, name: str = "") -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key(name)}"

    def read_bytes(self, name: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
            body: bytes = answer["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"no such object: {self.uri(name)}") from None
            raise StorageError(f"cannot read {self.uri(name)}: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"cannot read {self.uri(name)}: {error}") from error
        return body

    def write_bytes(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """One PUT below :data:`MULTIPART_BYTES`; above, boto3's managed transfer, a multipart
        upload in parts of that size (retried part by part), reporting each part's bytes."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        try:
            if len(data) < MULTIPART_BYTES:
                self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, **extra)
                if progress is not None:
                    progress(len(data))
                return
            from boto3.s3.transfer import TransferConfig

            config = TransferConfig(
                multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES
            )
            self.client.upload_fileobj(
                io.BytesIO(data),
                self.bucket,
                self.key(name),
                ExtraArgs=extra or None,
                Config=config,
                Callback=progress,
            )
        except (BotoCoreError, ClientError, S3UploadFailedError) as error:
            raise StorageError(f"cannot write {self.uri(name)}: {error}") from error

    def exists(self, name: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise StorageError(f"cannot read {self.uri(name)}: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"cannot read {self.uri(name)}: {error}") from error
        return True

    def list(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        start = self.key("") + "/" if self.prefix else ""
        names: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            for page in pages:
                names += [item["Key"].removeprefix(start) for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot list {self.uri()}: {error}") from error
        return sorted(names)

    def __repr__(self) -> str:
        return f"S3Storage({self.uri()!r})"


def storage_for(uri: str, *, field: str = "uri", s3_client: Any = None) -> Storage:
    """The storage at ``uri``: ``s3://bucket/prefix`` or a directory.

    Raises
    ------
    ValueError
        ``"<field>: must look like s3://bucket/prefix, got '<uri>'"`` for an S3 URI
        without a bucket.
    """
    if not uri.startswith(S3_SCHEME):
        return LocalStorage(Path(uri))
    bucket, _, prefix = uri.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise ValueError(f"{field}: must look like s3://bucket/prefix, got {uri!r}")
    return S3Storage(bucket=bucket, prefix=prefix, client=s3_client)
