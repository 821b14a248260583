"""Checking that a release exists completely and that every hash it states holds.

:func:`verify_release` (``ipdrepo release verify V``) runs every check and reports each, without
stopping at the first failure:

``store record``
    the store's release row;
``git tag``
    the annotated tag exists and points at the commit the store recorded;
``tag hashes``
    the tag's ``Manifest-SHA256`` / ``Data-SHA256`` equal the store's hashes (releases made
    before the tag carried them report that they could not be checked);
``manifest``
    the manifest's bytes at the tag have the store's ``manifest_sha256``, and the same content;
``DVC pointer``
    the pointer is in git at the tag and states the size the manifest states;
``data in remote``
    the data read *from the remote* (through an empty cache) have the sha256 and size the
    manifest at the tag states (and the store records), and the pointer's md5;
``deliveries``
    every delivery the manifest lists is in the object store with the sha256 it states (a raw
    delivery edited after it was stored is reported here).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from repository.errors import ReleaseError
from repository.store import Store
from versions.consumers import DATA_TRAILER, MANIFEST_TRAILER, tag_hashes
from versions.dataset import sha256_hex
from versions.gitdvc import ReleaseRepository
from versions.manifest import (
    DATA_FILE,
    MANIFEST_FILE,
    differences,
    parse_manifest,
    public_manifest,
)
from versions.releases import ReleaseInfo, release_repository, show_release

__all__ = ["ReleaseCheck", "verify_release"]

Check = tuple[str, bool, str]


@dataclass(frozen=True, eq=False)
class ReleaseCheck:
    """:func:`verify_release`: one row per check (check, ok, detail) in ``summary``."""

    tag: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(self.checks, columns=["check", "ok", "detail"])

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "ok": self.ok,
                "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in self.checks]}

    def __repr__(self) -> str:
        return f"ReleaseCheck({self.tag}, ok={self.ok})"

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.tag)}</b>: {'complete' if self.ok else 'PROBLEMS'}"
                "</p>" + self.summary.to_html(index=False))


def _tag_checks(repo: ReleaseRepository, info: ReleaseInfo) -> list[Check]:
    at = repo.tag_commit(info.tag)
    kind = repo.git("cat-file", "-t", f"refs/tags/{info.tag}", check=False).stdout.decode()
    out: list[Check] = [("git tag", at == info.commit and kind.strip() == "tag",
                         f"{info.tag} -> {at[:12] if at else 'missing'}"
                         f"{'' if kind.strip() in ('tag', '') else ' (not annotated)'}, "
                         f"store says {info.commit[:12]}")]
    if at is None:
        return out
    text = repo.git("cat-file", "tag", f"refs/tags/{info.tag}", check=False).stdout.decode(
        errors="replace")
    hashes = tag_hashes(text)
    if not hashes:
        out.append(("tag hashes", False, "the tag carries no hashes (a release made before "
                                         "they were written, or a tag made by hand): the "
                                         "manifest could not be checked against it"))
    else:
        same = (hashes.get(MANIFEST_TRAILER) == info.manifest_sha256
                and hashes.get(DATA_TRAILER) == info.data_sha256)
        out.append(("tag hashes", same,
                    f"manifest {str(hashes.get(MANIFEST_TRAILER))[:12]}, data "
                    f"{str(hashes.get(DATA_TRAILER))[:12]} (store: manifest "
                    f"{info.manifest_sha256[:12]}, data {info.data_sha256[:12]})"))
    return out


def _manifest_check(repo: ReleaseRepository, info: ReleaseInfo) -> tuple[Check, Mapping[str,
                                                                                     Any]]:
    try:
        raw = repo.show(info.tag, f"{info.manifest['path']}/{MANIFEST_FILE}")
        manifest = parse_manifest(raw)
    except ReleaseError as exc:
        return ("manifest", False, exc.message), info.manifest
    digest = sha256_hex(raw)
    changed = differences(info.manifest, public_manifest(manifest))
    ok = digest == info.manifest_sha256 and not changed
    detail = (f"sha256 {digest[:12]} (store {info.manifest_sha256[:12]})"
              + (f"; differs from the store's: {', '.join(changed)}" if changed else
                 "; equal to the store's"))
    return ("manifest", ok, detail), manifest


def _data_checks(repo: ReleaseRepository, info: ReleaseInfo,
                 manifest: Mapping[str, Any]) -> list[Check]:
    path = f"{info.manifest['path']}/{DATA_FILE}"
    stated = manifest.get("data", {})
    out: list[Check] = []
    pointer: dict[str, Any] = {}
    try:
        pointer = repo.pointer(f"{path}.dvc", rev=info.tag)
        size_ok = int(pointer.get("size", -1)) == stated.get("bytes")
        out.append(("DVC pointer", size_ok,
                    f"{DATA_FILE}.dvc in git at the tag: md5 {pointer.get('md5')}, size "
                    f"{pointer.get('size')} (manifest: {stated.get('bytes')} bytes)"))
    except ReleaseError as exc:
        out.append(("DVC pointer", False, exc.message))
    try:
        data = repo.read_from_remote(info.tag, path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
        return out + [("data in remote", False, f"{type(exc).__name__}: {exc}")]
    digest = sha256_hex(data)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    ok = (digest == stated.get("sha256") == info.data_sha256
          and len(data) == stated.get("bytes") and md5 == pointer.get("md5"))
    return out + [("data in remote", ok,
                   f"sha256 {digest[:12]}, md5 {md5[:12]}, {len(data)} bytes (manifest "
                   f"{str(stated.get('sha256'))[:12]}, {stated.get('bytes')} bytes; store "
                   f"{info.data_sha256[:12]}; pointer md5 {str(pointer.get('md5'))[:12]})")]


def _delivery_check(store: Store, manifest: Mapping[str, Any]) -> Check:
    deliveries = list(manifest.get("deliveries", []))
    bad = []
    for d in deliveries:
        sha = str(d.get("sha256"))
        if not store.objects.has(sha):
            bad.append(f"{d.get('trial')} {d.get('file_name')}: not in the object store")
        elif not store.objects.verify(sha):
            bad.append(f"{d.get('trial')} {d.get('file_name')}: its bytes no longer have the "
                       f"sha256 {sha[:12]} the manifest states (edited after it was stored)")
    return ("deliveries", not bad,
            "; ".join(bad) if bad else f"{len(deliveries)} deliveries in the object store "
                                       "with the sha256 the manifest states")


def verify_release(store: Store, version: str, *, topic: str | None = None) -> ReleaseCheck:
    """Every check of the module docstring, each reported (the release is complete when all
    pass)."""
    info = show_release(store, version, topic=topic)
    repo = release_repository(store, create=False)
    checks: list[Check] = [("store record", True, f"release {info.version}")]
    checks += _tag_checks(repo, info)
    if repo.tag_commit(info.tag) is None:
        return ReleaseCheck(tag=info.tag, checks=tuple(checks))
    manifest_check, manifest = _manifest_check(repo, info)
    checks.append(manifest_check)
    checks += _data_checks(repo, info, manifest)
    checks += _table_checks(repo, info, manifest)
    checks.append(_delivery_check(store, manifest))
    return ReleaseCheck(tag=info.tag, checks=tuple(checks))


def _table_checks(repo: ReleaseRepository, info: ReleaseInfo,
                  manifest: Mapping[str, Any]) -> list[Check]:
    """Each long table read back from the DVC remote has the sha256 the manifest states."""
    out: list[Check] = []
    for t in manifest.get("tables", []):
        path = f"{info.manifest['path']}/{t.get('file')}"
        try:
            data = repo.read_from_remote(info.tag, path)
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            out.append((f"table {t.get('name')} in remote", False,
                        f"{type(exc).__name__}: {exc}"))
            continue
        digest = sha256_hex(data)
        out.append((f"table {t.get('name')} in remote", digest == t.get("sha256"),
                    f"sha256 {digest[:12]}, {len(data)} bytes (manifest "
                    f"{str(t.get('sha256'))[:12]}, {t.get('bytes')} bytes)"))
    return out
