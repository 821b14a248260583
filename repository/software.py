"""Which software is running: the versions that release manifests, analysis reports, the
server's API description and the report's run cache record."""

from __future__ import annotations

import platform
from collections.abc import Iterable

__all__ = ["software_versions", "version_of"]


def version_of(distribution: str, missing: str = "not installed") -> str:
    """The installed version of ``distribution`` (``missing`` when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return missing


def software_versions(distributions: Iterable[str]) -> dict[str, str]:
    """``{"python": ..., <each distribution>: its version or "not installed"}``."""
    return {"python": platform.python_version(), **{d: version_of(d) for d in distributions}}
