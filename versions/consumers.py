"""Reading a pinned release: :func:`load` for notebooks, ``ipdrepo release get`` for files.

A consumer needs only the release repository (a path or a git URL: a fresh ``git clone`` will
do) and access to its DVC remote: the data file is read through ``dvc.api.DVCFileSystem`` at
the release's git tag, from the local DVC cache when there is one, else from the remote. The
bytes are checked against the sha256 in the release's manifest before they are returned.

The manifest itself is checked against the tag (:func:`load_manifest`): the release's tag is
fetched on its own into a temporary repository; it must be an annotated tag whose commit holds
the manifest, and whose message carries the manifest's and the data's sha256 (trailers
``Manifest-SHA256`` and ``Data-SHA256``, written by ``release create``); the manifest must
describe that very release. An edited manifest, a moved or replaced tag, a manifest copied from
another release are refused. Tags made before the trailers existed are read with an
:class:`UnverifiedRelease` warning.

::

    import versions
    df = versions.load("gastric-adjuvant", "1.0", repo="https://git.example.org/releases.git")
    visits = versions.load("gastric-adjuvant", "1.0", repo=..., table="visits")
    every = versions.load_tables("gastric-adjuvant", "1.0", repo=...)  # name -> frame

A release of a dictionary with long tables holds each as ``tables/<name>.parquet``, checked
against the sha256 the manifest states like the participant table.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from repository.errors import NotFound, ReleaseError
from versions.dataset import read_parquet_bytes, sha256_hex
from versions.locations import check_remote_url, check_repository_location, git_environment
from versions.manifest import DATA_FILE, MANIFEST_FILE, parse_manifest
from versions.reasons import Reason

__all__ = [
    "VERSION_PATTERN",
    "check_version",
    "check_topic",
    "release_tag",
    "release_dir",
    "available_versions",
    "read_release_file",
    "load_manifest",
    "load_bytes",
    "load",
    "load_tables",
    "release_tables_listed",
    "MANIFEST_TRAILER",
    "DATA_TRAILER",
    "tag_message",
    "tag_hashes",
    "check_manifest",
    "UnverifiedRelease",
]

#: a release version: numbers separated by dots, optionally ``-label`` (1, 1.0, 2.1.3, 2.0-rc1)
VERSION_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+){0,3}(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$")
OVERRIDE_REMOTE = "ipdrepo-consumer"
#: the trailers of a release tag's message: the sha256 of the manifest's bytes and of the data
MANIFEST_TRAILER = "Manifest-SHA256"
DATA_TRAILER = "Data-SHA256"
_TRAILER = re.compile(r"^(Manifest-SHA256|Data-SHA256): ([0-9a-f]{64})$", re.M)


class UnverifiedRelease(UserWarning):
    """A release whose tag carries no hashes (made before they were written): its manifest
    could only be checked for describing the release asked for."""


def tag_message(message: str, *, manifest_sha256: str, data_sha256: str) -> str:
    """The annotated tag's message of a release: ``message`` and the two hash trailers."""
    return (f"{message.rstrip()}\n\n{MANIFEST_TRAILER}: {manifest_sha256}\n"
            f"{DATA_TRAILER}: {data_sha256}\n")


def tag_hashes(message: str) -> dict[str, str]:
    """The hash trailers of a tag message (empty for a tag made without them)."""
    return {m.group(1): m.group(2) for m in _TRAILER.finditer(message)}


def check_version(version: str) -> str:
    version = str(version).strip().removeprefix("v")
    if not VERSION_PATTERN.match(version):
        raise ReleaseError(f"release version {version!r} is not valid; use numbers separated by "
                           "dots with an optional label, e.g. 1.0, 2.1.3 or 2.0-rc1.",
                           version=version)
    return version


def check_topic(topic: str) -> str:
    """``topic`` if it is a topic slug (2-63 lower-case letters, digits and hyphens)."""
    from repository.workspace import SLUG_PATTERN

    if not SLUG_PATTERN.match(str(topic)):
        raise ReleaseError(f"{str(topic)!r} is not a valid topic: use the topic's slug (2-63 "
                           "lower-case letters, digits and hyphens, e.g. gastric-adjuvant).",
                           topic=str(topic))
    return str(topic)


def release_tag(topic: str, version: str) -> str:
    """The git tag of a release: ``<topic>/v<version>``."""
    return f"{check_topic(topic)}/v{check_version(version)}"


def release_dir(topic: str, version: str) -> str:
    """The release's directory inside the release repository: ``<topic>/<version>``."""
    return f"{check_topic(topic)}/{check_version(version)}"


def _version_key(version: str) -> tuple[Any, ...]:
    main, _, label = version.partition("-")
    return (tuple(int(p) for p in main.split(".")), label == "", label)


def _ls_remote(repo: str) -> subprocess.CompletedProcess[bytes]:
    """``git ls-remote --tags --refs -- REPO``: the location can never be read as an option
    and only the protocols of :data:`versions.gitdvc.GIT_PROTOCOLS` are spoken."""
    return subprocess.run(["git", "ls-remote", "--tags", "--refs", "--", str(repo)],
                          capture_output=True, check=False, stdin=subprocess.DEVNULL,
                          env=git_environment())


def available_versions(topic: str, *, repo: str) -> list[str]:
    """Versions of ``topic`` tagged in the release repository ``repo`` (path or git URL)."""
    check_topic(topic)
    proc = _ls_remote(check_repository_location(repo))
    if proc.returncode != 0:
        raise ReleaseError(f"cannot read the release repository {repo}: "
                           f"{proc.stderr.decode(errors='replace').strip()}; check the path or "
                           "URL and your access to it.", repo=str(repo))
    prefix = f"refs/tags/{topic}/v"
    versions = [line.split("\t", 1)[1].removeprefix(prefix)
                for line in proc.stdout.decode().splitlines()
                if "\t" in line and line.split("\t", 1)[1].startswith(prefix)]
    valid = [v for v in versions if VERSION_PATTERN.match(v)]
    return sorted(valid, key=_version_key)


def _config(remote: str | None, remote_options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if remote is None:
        return None
    check_remote_url(remote)
    endpoint = dict(remote_options or {}).get("endpointurl")
    if endpoint:
        check_remote_url(str(endpoint), what="remote endpoint URL")
    return {"core": {"remote": OVERRIDE_REMOTE},
            "remote": {OVERRIDE_REMOTE: {"url": remote, **dict(remote_options or {})}}}


def read_release_file(topic: str, version: str, name: str, *, repo: str,
                      remote: str | None = None,
                      remote_options: Mapping[str, Any] | None = None) -> bytes:
    """The bytes of ``name`` (``data.parquet`` or ``manifest.json``) of a release, read at its
    tag through DVC: git-tracked files from git, DVC-tracked ones from the cache or remote."""
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException

    tag = release_tag(topic, version)
    known = available_versions(topic, repo=str(repo))
    if check_version(version) not in known:
        raise NotFound(f"topic {topic} has no release {version} in {repo} (released: "
                       f"{', '.join(known) or 'none'}).", topic=topic, version=version,
                       repo=str(repo))
    path = f"{release_dir(topic, version)}/{name}"
    try:
        fs = DVCFileSystem(str(repo), rev=tag, config=_config(remote, remote_options))
    except DvcException as exc:
        raise ReleaseError(f"cannot open the release repository {repo} at {tag}: {exc}",
                           repo=str(repo), tag=tag) from exc
    try:
        return fs.read_bytes(path)
    except FileNotFoundError as exc:
        raise ReleaseError(
            f"{path} of release {tag} is in the release repository but its content is neither "
            f"in the local DVC cache nor in the DVC remote{' ' + remote if remote else ''}; "
            "check that you can reach the remote (and its credentials), or pass remote=URL.",
            repo=str(repo), tag=tag, path=path) from exc
    except (DvcException, OSError) as exc:
        raise ReleaseError(f"reading {path} of release {tag} failed: {exc}; check access to "
                           "the DVC remote.", repo=str(repo), tag=tag, path=path) from exc
    finally:
        fs.close()


def _fetch_tag(repo: str, tag: str, into: str) -> tuple[str, bytes | None]:
    """Fetch ``tag`` alone (depth 1) from ``repo`` into the bare repository ``into``; returns
    the tag object's type (``tag`` when annotated) and its raw text (None when it is not)."""
    env = git_environment()

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", *args], cwd=into, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, check=False)

    ref = f"refs/tags/{tag}"
    steps = (("init", "-q", "--bare", "."),
             ("fetch", "-q", "--depth=1", "--no-tags", "--", repo, f"+{ref}:{ref}"))
    for args in steps:
        proc = git(*args)
        if proc.returncode != 0:
            raise ReleaseError(f"cannot read the tag {tag} of the release repository {repo}: "
                               f"{proc.stderr.decode(errors='replace').strip()}; check the "
                               "path or URL and your access to it.", repo=repo, tag=tag)
    kind = git("cat-file", "-t", ref).stdout.decode().strip()
    return kind, (git("cat-file", "tag", ref).stdout if kind == "tag" else None)


def _absolute(repo: str) -> str:
    """A local path made absolute (git runs elsewhere); URLs and ``host:path`` as they are."""
    if "://" in repo or re.match(r"^[^/]{2,}:", repo):
        return repo
    return str(Path(repo).expanduser().resolve())


def _read_at(into: str, tag: str, path: str) -> bytes:
    proc = subprocess.run(["git", "show", "--end-of-options", f"refs/tags/{tag}:{path}"],
                          cwd=into, env=git_environment(), capture_output=True,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise ReleaseError(f"the commit of tag {tag} holds no {path}: it is not a release "
                           "made by ipdrepo, or the tag was moved. Do not use it; report it "
                           "to the curators.", tag=tag, path=path)
    return proc.stdout


def check_manifest(manifest: Mapping[str, Any], raw: bytes, *, topic: str, version: str,
                   tag_text: bytes | None, repo: str) -> None:
    """Refuse a manifest that does not belong to the tag of release ``version`` of
    ``topic`` (see the module docstring); warn when the tag carries no hashes."""
    tag = release_tag(topic, version)
    where = f"release {tag} in {repo}"
    if tag_text is None:
        raise ReleaseError(f"the tag of {where} is not an annotated release tag (it was "
                           "replaced by hand?); its manifest cannot be trusted. Do not use "
                           "it; report it to the curators.", repo=repo, tag=tag)
    expected = {"topic": topic, "version": check_version(version), "tag": tag,
                "path": release_dir(topic, version)}
    wrong = {k: manifest.get(k) for k, v in expected.items() if manifest.get(k) != v}
    if wrong:
        raise ReleaseError(f"the manifest at the tag of {where} describes another release "
                           f"({', '.join(f'{k} {v!r}' for k, v in wrong.items())}); it was "
                           "copied or edited. Do not use it; report it to the curators.",
                           repo=repo, tag=tag)
    hashes = tag_hashes(tag_text.decode(errors="replace"))
    if not hashes:
        warnings.warn(f"the tag of {where} carries no hashes (made before they were "
                      "written): its manifest could not be checked against it",
                      UnverifiedRelease, stacklevel=3)
        return
    digest = sha256_hex(raw)
    problems = []
    if hashes.get(MANIFEST_TRAILER) != digest:
        problems.append(f"the manifest's sha256 is {digest[:12]}..., the tag says "
                        f"{str(hashes.get(MANIFEST_TRAILER))[:12]}...")
    if hashes.get(DATA_TRAILER) != manifest.get("data", {}).get("sha256"):
        problems.append(f"the manifest's data sha256 "
                        f"{str(manifest.get('data', {}).get('sha256'))[:12]}... is not the "
                        f"tag's {str(hashes.get(DATA_TRAILER))[:12]}...")
    if problems:
        raise ReleaseError(f"the manifest of {where} was changed after the release: "
                           f"{'; '.join(problems)}. Do not use it; report it to the curators.",
                           repo=repo, tag=tag, problems=problems)


def load_manifest(topic: str, version: str, *, repo: str) -> dict[str, Any]:
    """The manifest of a release, read from git at its tag and checked against the tag (see
    the module docstring)."""
    repo = check_repository_location(str(repo))
    tag = release_tag(topic, version)
    known = available_versions(topic, repo=repo)
    if check_version(version) not in known:
        raise NotFound(f"topic {topic} has no release {version} in {repo} (released: "
                       f"{', '.join(known) or 'none'}).", topic=topic, version=version,
                       repo=repo)
    with tempfile.TemporaryDirectory(prefix="ipdrepo-tag-") as into:
        _kind, tag_text = _fetch_tag(_absolute(repo), tag, into)
        raw = _read_at(into, tag, f"{release_dir(topic, version)}/{MANIFEST_FILE}")
    manifest = parse_manifest(raw)
    check_manifest(manifest, raw, topic=topic, version=version, tag_text=tag_text, repo=repo)
    return manifest


def release_tables_listed(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The long tables a release's manifest lists: name -> entry."""
    return {str(t["name"]): t for t in manifest.get("tables", []) if isinstance(t, Mapping)}


def load_bytes(topic: str, version: str, *, repo: str, remote: str | None = None,
               remote_options: Mapping[str, Any] | None = None,
               manifest: Mapping[str, Any] | None = None, table: str | None = None) -> bytes:
    """The release's ``data.parquet`` bytes (or long ``table``'s), checked against the
    manifest's sha256."""
    manifest = manifest or load_manifest(topic, version, repo=repo)
    entry: Mapping[str, Any] = manifest["data"]
    name = DATA_FILE
    if table is not None:
        listed = release_tables_listed(manifest)
        if table not in listed:
            raise NotFound(f"release {version} of {topic} has no table {table!r} (its tables: "
                           f"{', '.join(listed) or 'none besides the participant table'}).",
                           topic=topic, version=version, table=table)
        entry, name = listed[table], str(listed[table]["file"])
    data = read_release_file(topic, version, name, repo=repo, remote=remote,
                             remote_options=remote_options)
    digest = sha256_hex(data)
    if digest != entry["sha256"]:
        raise ReleaseError(
            f"the data of release {release_tag(topic, version)} read from {repo} do not match "
            f"its manifest (sha256 {digest[:12]}..., manifest says "
            f"{entry['sha256'][:12]}...); the remote or cache holds damaged bytes. "
            "Do not use them; report it to the curators.", repo=str(repo))
    return data


def load(topic: str, version: str, *, repo: str | None = None, remote: str | None = None,
         remote_options: Mapping[str, Any] | None = None, server: str | None = None,
         token: str | None = None, request: str | None = None,
         table: str | None = None) -> pd.DataFrame:
    """The data frame of release ``version`` of ``topic``, pinned by its git tag: the
    participant table, or the long ``table`` (visits, events ...).

    ``repo`` is the release repository (a path or a git URL); ``remote`` overrides its DVC
    remote (a URL, with ``remote_options`` such as ``{"endpointurl": ...}``), otherwise the
    remote configured in the repository at the tag is used.

    With ``server`` (an ipdrepo server's URL) the data come from the server instead, with an
    API token (``token``, ``IPDREPO_TOKEN`` or the credentials file) and nothing else on this
    machine: an analyst receives the extract of ``version`` made for their data request (the
    only one, or ``request``), checked against its manifest; a curator the whole release.
    """
    if server is not None:
        if table is not None:
            raise ReleaseError(f"long table {table!r}: the server sends the participant table "
                               "of an extract only; load long tables from the release "
                               "repository (repo=...).", reason=Reason.TABLE)
        from repository.client import Client
        from versions.remote import fetch_release_bytes

        with Client(server, token=token) as client:
            _, data = fetch_release_bytes(client, version, request=request, topic=topic)
        return read_parquet_bytes(data)
    if repo is None:
        raise ReleaseError("give repo= (the release repository) or server= (an ipdrepo "
                           "server's URL).")
    return read_parquet_bytes(load_bytes(topic, version, repo=str(repo), remote=remote,
                                         remote_options=remote_options, table=table))


def load_tables(topic: str, version: str, *, repo: str, remote: str | None = None,
                remote_options: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Every table of a release, checked against its manifest: ``participants`` (the
    participant table) and each long table by name."""
    manifest = load_manifest(topic, version, repo=str(repo))
    out = {"participants": read_parquet_bytes(load_bytes(
        topic, version, repo=str(repo), remote=remote, remote_options=remote_options,
        manifest=manifest))}
    for name in release_tables_listed(manifest):
        out[name] = read_parquet_bytes(load_bytes(
            topic, version, repo=str(repo), remote=remote, remote_options=remote_options,
            manifest=manifest, table=name))
    return out
