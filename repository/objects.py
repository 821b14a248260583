"""Content-addressed, immutable object store for raw deliveries.

A file's bytes live at ``objects/sha256/<2 hex>/<64 hex>``, written once (to a temporary name,
flushed, then renamed) and made read-only. The store never modifies or deletes an object
except to undo a put whose database transaction failed (:meth:`ObjectStore.discard`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from repository.errors import StoreError

__all__ = ["ObjectStore", "StoredObject", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex digest, size in bytes) of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


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

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, source: Path, sha256: str | None = None) -> StoredObject:
        """Copy ``source`` into the store (no-op when the same bytes are already there)."""
        digest, size = sha256_file(source) if sha256 is None else (sha256, source.stat().st_size)
        target = self.path_for(digest)
        if target.is_file():
            return StoredObject(digest, size, target, created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
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
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredObject(digest, size, target, created=True)

    def discard(self, obj: StoredObject) -> None:
        """Undo a put that created ``obj`` (used when the database transaction fails)."""
        if obj.created and obj.path.is_file():
            os.chmod(obj.path, 0o644)
            obj.path.unlink()

    def verify(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        return path.is_file() and sha256_file(path)[0] == sha256

    def export(self, sha256: str, destination: Path) -> Path:
        shutil.copyfile(self.path_for(sha256), destination)
        return destination
