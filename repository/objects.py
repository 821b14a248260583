"""Content-addressed, immutable object store for raw deliveries.

A file's bytes live at ``objects/sha256/<2 hex>/<64 hex>``, written once (to a temporary name,
flushed, then renamed) and made read-only for its owner (0400, directories 0700). The store
never modifies or deletes an object except to undo a put whose database transaction failed
(:meth:`ObjectStore.discard`).

Every read goes through :meth:`ObjectStore.verified_path`, which hashes the bytes first and
raises :class:`~repository.errors.CorruptObject` when they no longer match their name: an object
edited in place (by hand, a faulty disk or an intruder) is never used silently.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repository.errors import CorruptObject, NotFound, StoreError

__all__ = ["ObjectStore", "StoredObject", "sha256_file", "private_dir", "FILE_MODE", "DIR_MODE",
           "open_object_store"]

_CHUNK = 1 << 20
#: modes of what the store writes: only the owner may read (objects) or enter (directories)
FILE_MODE = 0o400
DIR_MODE = 0o700

Progress = Callable[[int], None]


def sha256_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """(hex digest, size in bytes) of a file, read in chunks; ``progress(n)`` after each."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest(), size


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (whatever the umask)."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    return path


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size: int
    path: Path
    created: bool  # False when the bytes were already in the store


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def location(self, sha256: str) -> str:
        return str(self.path_for(sha256))

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, source: Path, sha256: str | None = None) -> StoredObject:
        """Copy ``source`` into the store (no-op when the same bytes are already there)."""
        digest, size = sha256_file(source) if sha256 is None else (sha256, source.stat().st_size)
        target = self.path_for(digest)
        if target.is_file():
            return StoredObject(digest, size, target, created=False)
        private_dir(target.parent)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                h = hashlib.sha256()
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != digest:
                raise StoreError(f"{source} changed while it was being stored (hash mismatch); "
                                 "deliver it again once it is complete.", file=str(source))
            os.chmod(tmp_name, FILE_MODE)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredObject(digest, size, target, created=True)

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data`` (an upload, an attachment, an extract's file)."""
        incoming = private_dir(self.root / "incoming")
        fd, tmp_name = tempfile.mkstemp(dir=incoming, prefix=".bytes-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return self.put(Path(tmp_name))
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def read_bytes(self, sha256: str, *, what: str, **context: Any) -> bytes:
        """The bytes of object ``sha256``, hashed as read: CorruptObject when they changed."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the file of {what} is missing from the object store ({path}); "
                           "restore it from a backup, then run `ipdrepo verify`.",
                           file=str(path), expected_sha256=sha256, **context) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise CorruptObject(f"the file of {what} was changed after it was stored: {path} "
                                f"should have sha256 {sha256} but has {actual}. Nothing was "
                                "read from it; restore it from a backup and run `ipdrepo "
                                "verify`.", file=str(path), expected_sha256=sha256,
                                actual_sha256=actual, **context)
        return data

    def discard(self, obj: StoredObject) -> None:
        """Undo a put that created ``obj`` (used when the database transaction fails)."""
        if obj.created and obj.path.is_file():
            obj.path.unlink()

    def actual_sha256(self, sha256: str, progress: Progress | None = None) -> str | None:
        """The sha256 of the bytes stored under ``sha256`` now (None when the file is gone)."""
        path = self.path_for(sha256)
        if not path.is_file():
            return None
        return sha256_file(path, progress)[0]

    def verify(self, sha256: str) -> bool:
        return self.actual_sha256(sha256) == sha256

    def verified_path(self, sha256: str, *, what: str, **context: Any) -> Path:
        """The path of object ``sha256`` after checking that its bytes still hash to it.

        ``what`` names the object for people (``delivery #3 (gast01.csv) of trial GAST-01``);
        ``context`` goes into the error. Raises NotFound when the file is missing and
        CorruptObject when its bytes changed.
        """
        path = self.path_for(sha256)
        actual = self.actual_sha256(sha256)
        if actual is None:
            raise NotFound(f"the raw file of {what} is missing from the object store ({path}); "
                           "restore the workspace's objects/ directory from a backup, then run "
                           "`ipdrepo verify`.", file=str(path), expected_sha256=sha256,
                           **context)
        if actual != sha256:
            raise CorruptObject(
                f"the raw file of {what} was changed after it was ingested: {path} should have "
                f"sha256 {sha256} but has {actual}. Nothing was read from it. Restore that file "
                "from a backup (or ingest the trial's original file again), then run "
                "`ipdrepo verify` to check every object.", file=str(path),
                expected_sha256=sha256, actual_sha256=actual, **context)
        return path

    def export(self, sha256: str, destination: Path, *, what: str | None = None) -> Path:
        """Copy object ``sha256`` to ``destination``; the copy is checked against the hash."""
        path = self.verified_path(sha256, what=what or f"object {sha256[:12]}")
        h = hashlib.sha256()
        try:
            with path.open("rb") as src, destination.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha256:
                raise CorruptObject(f"object {sha256} changed while it was being copied to "
                                    f"{destination}; run `ipdrepo verify`.",
                                    expected_sha256=sha256, actual_sha256=h.hexdigest())
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        return destination

    def stored(self) -> list[str]:
        """Names (sha256) of every object file in the store, sorted."""
        base = self.root / "sha256"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.glob("??/*") if p.is_file()
                      and not p.name.startswith("."))


def open_object_store(settings: Any) -> Any:
    """The object store of ``settings``: a directory (:class:`ObjectStore`) or, for
    ``s3://BUCKET/PREFIX``, :class:`repository.objects_s3.S3ObjectStore` (same interface)."""
    url = getattr(settings, "object_store", None)
    if url and str(url).startswith("s3://"):
        from repository.objects_s3 import S3ObjectStore

        return S3ObjectStore(str(url), endpoint_url=settings.s3_endpoint_url)
    return ObjectStore(settings.objects_dir)
