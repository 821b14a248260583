"""Released data through an ipdrepo server: what ``versions.load(..., server=URL)`` and
``ipdrepo --server URL release get`` use, with nothing but an API token on the machine.

A curator receives the release's data.parquet, checked against the release's recorded
sha256. An analyst receives the extract of that release made for their data request (the
only one, or ``request=CODE``), checked against the extract's manifest; the server refuses it
once the request has expired, and logs every download.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from repository.errors import NotFound, ReleaseError

__all__ = ["fetch_release_bytes"]


def _check(data: bytes, expected: str, what: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ReleaseError(f"{what} received from the server does not match its recorded "
                           f"sha256 ({actual[:12]}... instead of {expected[:12]}...); do not "
                           "use it, and tell the curators.", expected=expected, actual=actual)


def fetch_release_bytes(client: Any, version: str, *, request: str | None = None,
                        topic: str | None = None) -> tuple[str, bytes]:
    """(file name, parquet bytes) of release ``version`` as the token's user may receive it."""
    me = client.json("GET", "/auth/me")
    if me["role"] == "curator" and request is None:
        info = client.json("GET", f"/releases/{version}")
        if topic is not None and info["topic"] != topic:
            raise NotFound(f"the server's topic is {info['topic']}, not {topic}.", topic=topic)
        data = client.get_bytes(f"/releases/{version}/data")
        _check(data, info["data_sha256"], f"release {version}")
        return f"{info['topic']}-{version}.parquet", data
    candidates = []
    for req in client.json("GET", "/requests"):
        if request is not None and req["code"] != request:
            continue
        for extract in req["extracts"]:
            if extract.get("release") == version:
                candidates.append((req["code"], extract["id"]))
    if not candidates:
        raise NotFound(f"none of your data requests{' (' + request + ')' if request else ''} "
                       f"has an extract of release {version}; ask the curators.",
                       version=version, request=request)
    if len(candidates) > 1 and request is None:
        codes = ", ".join(sorted({c for c, _ in candidates}))
        raise ReleaseError(f"several of your requests have extracts of release {version} "
                           f"({codes}); choose one with request=CODE (--request).",
                           version=version)
    code, extract_id = candidates[-1]  # the latest extract of that request
    base = f"/requests/{code}/extracts/{extract_id}/files"
    manifest = json.loads(client.get_bytes(f"{base}/manifest.json"))
    if topic is not None and manifest["release"]["topic"] != topic:
        raise NotFound(f"the extract is of topic {manifest['release']['topic']}, not {topic}.",
                       topic=topic)
    entry = next(f for f in manifest["files"] if f["name"] == "data.parquet")
    data = client.get_bytes(f"{base}/data.parquet")
    _check(data, entry["sha256"], f"extract {extract_id} of {code}")
    return f"{code}-{version}.parquet", data
