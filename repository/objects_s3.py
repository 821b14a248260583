"""The object store on S3 (AWS, MinIO, any S3-compatible service), for team deployments where
several server workers share nothing but the database and the object store.

Same interface and guarantees as :class:`repository.objects.ObjectStore`: content-addressed
keys ``<prefix>/sha256/<2 hex>/<64 hex>``, written once (an object already there is never
rewritten), and every read hashed against its key (:class:`~repository.errors.CorruptObject`
when the bytes changed). Reads that need a file (:meth:`verified_path`, for the format readers)
download into a private cache directory of this process, checked on every use.

Credentials come from the usual AWS settings (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
a profile, an instance role); the endpoint of a non-AWS service from ``s3_endpoint_url``. They
are never written into ``ipdrepo.toml``.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from repository.errors import ConfigError, CorruptObject, NotFound, StoreError
from repository.objects import StoredObject, sha256_file

__all__ = ["S3ObjectStore", "parse_s3_url"]

_CHUNK = 1 << 20


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"object store {url!r} is not an s3://BUCKET/PREFIX URL.",
                          setting="object_store")
    return parts.netloc, parts.path.strip("/")


class S3ObjectStore:
    def __init__(self, url: str, *, endpoint_url: str | None = None,
                 client: Any | None = None) -> None:
        self.url = url.rstrip("/")
        self.bucket, self.prefix = parse_s3_url(url)
        if client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - boto3 is in ipdrepo[server]
                raise ConfigError("an s3:// object store needs boto3: pip install "
                                  "'ipdrepo[server]'.") from exc
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self._cache: Path | None = None

    # -- names ------------------------------------------------------------------------------
    def key_for(self, sha256: str) -> str:
        name = f"sha256/{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def location(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key_for(sha256)}"

    def path_for(self, sha256: str) -> Path:
        """Where the object is, for messages (not a local file)."""
        return Path(self.location(sha256))

    # -- writing ----------------------------------------------------------------------------
    def has(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(exc, "checking for") from exc

    def _error(self, exc: Exception, doing: str) -> StoreError:
        return StoreError(f"the object store {self.url} failed while {doing} an object: {exc}; "
                          "check its endpoint, bucket and credentials.", url=self.url)

    def put(self, source: Path, sha256: str | None = None) -> StoredObject:
        digest, size = sha256_file(source) if sha256 is None else (sha256,
                                                                   source.stat().st_size)
        if self.has(digest):
            return StoredObject(digest, size, self.path_for(digest), created=False)
        data = source.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"{source} changed while it was being stored (hash mismatch); "
                             "deliver it again once it is complete.", file=str(source))
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key_for(digest), Body=data,
                                   ChecksumSHA256=_b64(digest))
        except Exception as exc:
            raise self._error(exc, "writing") from exc
        return StoredObject(digest, size, self.path_for(digest), created=True)

    def put_bytes(self, data: bytes) -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        if self.has(digest):
            return StoredObject(digest, len(data), self.path_for(digest), created=False)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key_for(digest), Body=data,
                                   ChecksumSHA256=_b64(digest))
        except Exception as exc:
            raise self._error(exc, "writing") from exc
        return StoredObject(digest, len(data), self.path_for(digest), created=True)

    def discard(self, obj: StoredObject) -> None:
        if obj.created:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_for(obj.sha256))

    # -- reading ----------------------------------------------------------------------------
    def _get(self, sha256: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, "reading") from exc
        return bytes(response["Body"].read())

    def actual_sha256(self, sha256: str, progress: Any = None) -> str | None:
        data = self._get(sha256)
        if data is None:
            return None
        if progress is not None:
            progress(len(data))
        return hashlib.sha256(data).hexdigest()

    def verify(self, sha256: str) -> bool:
        return self.actual_sha256(sha256) == sha256

    def read_bytes(self, sha256: str, *, what: str, **context: Any) -> bytes:
        data = self._get(sha256)
        where = self.location(sha256)
        if data is None:
            raise NotFound(f"the file of {what} is missing from the object store ({where}); "
                           "restore it from the bucket's versions or a backup, then run "
                           "`ipdrepo verify`.", file=where, expected_sha256=sha256, **context)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise CorruptObject(f"the file of {what} was changed after it was stored: {where} "
                                f"should have sha256 {sha256} but has {actual}. Nothing was "
                                "read from it; restore it and run `ipdrepo verify`.",
                                file=where, expected_sha256=sha256, actual_sha256=actual,
                                **context)
        return data

    def _cache_dir(self) -> Path:
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="ipdrepo-objects-"))
            os.chmod(self._cache, 0o700)
            atexit.register(shutil.rmtree, self._cache, True)
        return self._cache

    def verified_path(self, sha256: str, *, what: str, **context: Any) -> Path:
        """A local file holding object ``sha256``, checked against it."""
        path = self._cache_dir() / sha256
        data = self.read_bytes(sha256, what=what, **context)
        fd = os.open(path.with_suffix(".part"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(path.with_suffix(".part"), path)
        return path

    def export(self, sha256: str, destination: Path, *, what: str | None = None) -> Path:
        data = self.read_bytes(sha256, what=what or f"object {sha256[:12]}")
        destination.write_bytes(data)
        return destination

    def stored(self) -> list[str]:
        names = []
        paginator = self.client.get_paginator("list_objects_v2")
        start = f"{self.prefix}/sha256/" if self.prefix else "sha256/"
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", ()):
                name = item["Key"].rsplit("/", 1)[-1]
                if len(name) == 64:
                    names.append(name)
        return sorted(names)


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode()
