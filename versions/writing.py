"""Writing a built release into the release repository, checking every byte on the way.

:func:`write_release` is steps 4 of :func:`versions.releases.create_release`: write the data and
the manifest, ``dvc add``, ``dvc push``, commit, tag. A release never says something about bytes
it did not store, so each step is checked after it ran:

* the files read back from disk are the built bytes (``data.parquet``, ``manifest.json``);
* the DVC pointer's md5 and size are those of the built data;
* the commit holds exactly the built manifest and the pointer that was written;
* the data read back *from the remote* (through an empty cache) have the manifest's sha256;
* the annotated tag's message carries the manifest's and the data's sha256
  (:func:`versions.consumers.tag_message`), which consumers check the manifest against.

A mismatch raises :class:`~repository.errors.ReleaseError` (the caller rolls back). ``step`` is
called with the name of each step as it completes (:data:`versions.gitdvc.STEPS`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path

from repository.errors import ReleaseError
from versions.consumers import tag_message
from versions.dataset import sha256_hex
from versions.gitdvc import ReleaseRepository
from versions.inputs import TABLES_DIR
from versions.manifest import DATA_FILE, MANIFEST_FILE

__all__ = ["write_release", "new_paths"]


def new_paths(repo: ReleaseRepository, path: str) -> list[Path]:
    """The highest directory of ``path`` that does not exist yet (what a rollback removes)."""
    top = repo.root / path
    while not top.parent.exists() and top.parent != repo.root:
        top = top.parent
    return [top]


def _mismatch(tag: str, what: str, detail: str) -> ReleaseError:
    return ReleaseError(f"release {tag}: {what} is not what was built ({detail}); the disk, "
                        "the DVC cache or the remote changed the bytes. Nothing was released; "
                        "check the storage and try again.", tag=tag, check=what)


def _check_file(tag: str, file: Path, expected: bytes) -> None:
    got = file.read_bytes()
    if got != expected:
        raise _mismatch(tag, f"{file.name} as written", f"sha256 {sha256_hex(got)[:12]}, "
                                                         f"built {sha256_hex(expected)[:12]}")


def _check_pointer(tag: str, repo: ReleaseRepository, pointer: str, data: bytes) -> None:
    out = repo.pointer(pointer)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if out.get("md5") != md5 or int(out.get("size", -1)) != len(data):
        raise _mismatch(tag, f"the DVC pointer {pointer}",
                        f"md5 {out.get('md5')} size {out.get('size')}, built md5 {md5} size "
                        f"{len(data)}")


def write_release(repo: ReleaseRepository, *, tag: str, path: str, data: bytes,
                  manifest: bytes, message: str,
                  step: Callable[[str], None],
                  tables: Mapping[str, bytes] | None = None) -> str:
    """Write, add, push, commit and tag one release; returns the commit. Everything written
    is checked against ``data``, the long ``tables`` (name -> parquet bytes, written to
    ``tables/<name>.parquet`` and tracked by DVC like the data) and ``manifest`` (see the
    module docstring)."""
    data_path, manifest_path = f"{path}/{DATA_FILE}", f"{path}/{MANIFEST_FILE}"
    files = {data_path: data, **{f"{path}/{TABLES_DIR}/{n}.parquet": b
                                 for n, b in (tables or {}).items()}}
    for name, content in files.items():
        repo.write(name, content)
    repo.write(manifest_path, manifest)
    for name, content in files.items():
        _check_file(tag, repo.root / name, content)
    _check_file(tag, repo.root / manifest_path, manifest)
    step("data_written")
    pointers = {}
    for name, content in files.items():
        pointers[name] = repo.dvc_add(name)
        _check_pointer(tag, repo, pointers[name], content)
    step("dvc_added")
    repo.dvc_push(list(files))
    step("pushed")
    ignores = [f"{path}/.gitignore"] + ([f"{path}/{TABLES_DIR}/.gitignore"] if tables else [])
    commit = repo.commit([*pointers.values(), manifest_path, *ignores], message)
    step("committed")
    if repo.show(commit, manifest_path) != manifest:
        raise _mismatch(tag, "the committed manifest", "git holds other bytes")
    for pointer in pointers.values():
        if repo.show(commit, pointer) != (repo.root / pointer).read_bytes():
            raise _mismatch(tag, "the committed DVC pointer", "git holds other bytes")
    for name, content in files.items():
        remote = repo.read_from_remote(commit, name)
        if remote != content:
            raise _mismatch(tag, f"{name.rsplit('/', 1)[-1]} in the DVC remote",
                            f"sha256 {sha256_hex(remote)[:12]}, built "
                            f"{sha256_hex(content)[:12]}")
    step("before_tag")
    repo.tag(tag, tag_message(message, manifest_sha256=sha256_hex(manifest),
                              data_sha256=sha256_hex(data)))
    step("tagged")
    return commit
