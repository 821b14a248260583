"""Where the data of an analysis came from, printed on every figure and report made from it.

A :class:`DataSource` names a released version (topic, version and the SHA-256 of its data,
from the release manifest) or a file (its name and the SHA-256 of its bytes). The CLI builds
one for every ``FILE|release:VERSION`` it reads and passes :meth:`DataSource.caption` to the
figures (a small line under the plot) and the HTML report (under the title).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["DataSource", "file_source", "release_source"]


def _ipdrepo_version() -> str:
    try:
        return metadata.version("ipdrepo")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


@dataclass(frozen=True)
class DataSource:
    """``kind`` is ``"release"`` or ``"file"``; ``sha256`` the data's hash."""

    kind: str
    name: str
    sha256: str
    topic: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "release":
            return f"release {self.topic} {self.version}"
        return f"file {self.name}"

    def caption(self) -> str:
        """``Data: release gastric-adjuvant 1.0.0, SHA-256 9321236c...; ipdrepo 0.1.0``."""
        return (f"Data: {self.label}, SHA-256 {self.sha256[:16]}\u2026; "
                f"ipdrepo {_ipdrepo_version()}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "sha256": self.sha256,
                "topic": self.topic, "version": self.version}


def file_source(path: str | Path) -> DataSource:
    p = Path(path)
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return DataSource(kind="file", name=p.name, sha256=digest.hexdigest())


def release_source(topic: str, version: str, sha256: str) -> DataSource:
    return DataSource(kind="release", name=f"{topic}@{version}", sha256=sha256, topic=topic,
                      version=version)
