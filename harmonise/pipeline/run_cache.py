"""A per-trial cache of harmonised runs in the workspace, so that ``ipdrepo report`` re-uses a
trial's harmonised run when nothing it depends on has changed.

:func:`harmonise_cached` is :func:`~harmonise.pipeline.harmonising.harmonise_trial` (reading
only: ``write=False``) that first looks for ``<workspace>/.cache/runs/<TRIAL>.run``. An entry is
used only when its key equals the digest of everything the run depends on, computed afresh each
time (:func:`run_key`) from:

* the code: ipdrepo's version and the SHA-256 of every file of the ``harmonise`` and
  ``repository`` packages (so any change of the code invalidates every entry), and the
  versions of Python, pandas, numpy and pyarrow (the pickle's format);
* the topic dictionary file's text (``<dictionary dir>/dictionary.yaml``; the dictionary is one
  file, :func:`~harmonise.mapping.stored.load_topic_dictionary`) and its directory;
* the trial's mapping file's text (``mappings/<version>/<TRIAL>.yaml``,
  :func:`~harmonise.mapping.stored.load_trial_mapping`; a missing file is part of the key);
* the topic (its slug scopes the pseudonyms), the trial's registry row and its arms (the
  integrity checks compare with their ratios and published numbers);
* every delivery of the trial, each with all its columns (dataset, sha256 of the stored bytes,
  format, read options, ID column, whether it is current, what superseded it): the datasets
  read are the current ones (:func:`~repository.deliveries.current_delivery`,
  :func:`~harmonise.pipeline.datasets.load_datasets`);
* every correction of the trial with all its columns and status (the active ones are applied,
  :func:`~harmonise.queries.corrections.active_corrections`; a status change changes the key);
* every consent withdrawal of the trial (harmonising does not read them today; they are in the
  key so that a run never outlives one);
* the repository secret, through the signature: the pseudonyms are keyed by it, and an entry is
  signed with HMAC-SHA256 under a key derived from it (:func:`_signing_key`).

No setting besides the dictionary directory, the workspace and the secret file changes what
harmonising computes (the actor only decides whether it may: :func:`harmonise_cached` checks
the permission before it reads an entry).

An entry is the key, an HMAC-SHA256 tag and the pickled run. It is read only when the key
matches and the tag verifies (compared in constant time) - before anything is unpickled; any
other entry (stale, damaged, truncated, signed under another secret, not unpickling) is
ignored and the trial harmonised again. A trial with an active correction made on a delivery
that is no longer current is always harmonised (that run carries the correction forward), and
so is every trial when the dictionary file changed while it was being loaded. An entry is
stored only when the key computed after the run equals the one computed before it (nothing
changed meanwhile; :func:`report_runs` computes every trial's key again once, after all the
runs and their checks, :func:`run_keys` reading the store once for all trials), written to a temporary file and renamed into place; a workspace where it
cannot be written gets its report all the same. :func:`report_runs` also stores the trials'
validation and integrity results (``topic.checks``), re-used while every trial's key is the
same. Deleting ``.cache/`` is always safe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from harmonise.dictionary.spec import Dictionary
from harmonise.pipeline.harmonising import (
    Progress,
    TrialRun,
    harmonise_trial,
    load_topic_dictionary,
    replace_atomically,
)
from repository.objects import private_dir, sha256_file
from repository.roles import require
from repository.software import software_versions
from repository.store import Store
from repository.trials import get_trial

__all__ = ["harmonise_cached", "harmonise_written", "report_runs", "validate_runs",
           "trial_keys", "run_key", "run_keys", "cache_path", "code_digest", "tree_digest", "STATS"]

_MAGIC = b"ipdrepo-run-cache-1\n"
_PACKAGES = ("harmonise", "repository")

#: what this process did lately (the last :data:`_KEPT` of each): ``hits`` and ``harmonised``
#: (the trials whose runs were read from the cache or computed), ``checks_reused`` (the number
#: of trials of each :func:`report_runs` that re-used the stored checks)
STATS: dict[str, list[Any]] = {"hits": [], "harmonised": [], "checks_reused": []}
_KEPT = 1000


def _note(kind: str, *items: Any) -> None:
    """Add ``items`` to ``STATS[kind]``, keeping its last :data:`_KEPT` (a server harmonises
    for as long as it runs)."""
    seen = STATS[kind]
    seen.extend(items)
    del seen[:-_KEPT]


def cache_path(store: Store, trial: str) -> Path:
    return store.settings.workspace / ".cache" / "runs" / f"{trial}.run"


def tree_digest(root: Path, packages: tuple[str, ...] = _PACKAGES) -> str:
    """SHA-256 over the relative path and bytes of every file under ``root``'s ``packages``
    (compiled bytecode left out)."""
    h = hashlib.sha256()
    for package in packages:
        files = sorted(p for p in (root / package).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
        for p in files:
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The digest of ipdrepo's code (:func:`tree_digest` of the harmonise and repository
    packages), ipdrepo's version and the versions of Python and the libraries a pickled run
    holds objects of."""
    h = hashlib.sha256(tree_digest(Path(__file__).resolve().parents[2]).encode())
    h.update(json.dumps([sys.version, software_versions(("ipdrepo", "pandas", "numpy",
                                                         "pyarrow"))]).encode())
    return h.hexdigest()


def _row(obj: Any) -> dict[str, Any]:
    """Every column of an ORM row."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def _file(path: Path) -> str:
    try:
        return sha256_file(path)[0]
    except FileNotFoundError:
        return "missing"


def run_key(store: Store, trial: str, dictionary: Dictionary, *,
            code: str | None = None) -> tuple[str, bool]:
    """(the digest of everything ``trial``'s harmonised run depends on (module docstring),
    whether the run must not come from the cache: an active correction was made on a delivery
    that is no longer current, or the dictionary was not loaded from a file)."""
    return run_keys(store, [trial], dictionary, code=code)[0]


def run_keys(store: Store, trials: Sequence[str], dictionary: Dictionary, *,
             code: str | None = None) -> list[tuple[str, bool]]:
    """:func:`run_key` of each of ``trials``, read in one session with one query per table."""
    settings = store.settings
    directory = settings.dictionary_dir
    dictionary_file = (directory / "dictionary.yaml") if directory is not None else None
    common: dict[str, Any] = {"code": code if code is not None else code_digest(),
                              "dictionary_dir": str(directory),
                              "workspace": str(settings.workspace),
                              "secret_file": str(settings.secret_file),
                              "dictionary_version": dictionary.version,
                              "dictionary_source": dictionary.source}
    if dictionary_file is not None:
        common["dictionary"] = _file(dictionary_file)
    if dictionary.source and Path(dictionary.source) != dictionary_file:
        common["dictionary_loaded"] = _file(Path(dictionary.source))
    out = []
    for trial, parts in zip(trials, _trial_rows(store, trials)):
        parts.update(common)
        stale = not dictionary.source or _carried(parts["deliveries"], parts["corrections"])
        if directory is not None:
            from harmonise.mapping.spec import mapping_path

            parts["mapping"] = _file(mapping_path(directory, dictionary.version, trial))
        text = json.dumps(parts, sort_keys=True, default=str)
        out.append((hashlib.sha256(text.encode()).hexdigest(), stale))
    return out


def _trial_rows(store: Store, trials: Sequence[str]) -> list[dict[str, Any]]:
    """Per trial, the rows of the store its run depends on (every column): the topic, the
    trial, its arms, deliveries (with whether each is current), corrections and consent
    withdrawals, each list in order of id."""
    from repository.models import Arm, Correction, Delivery, Trial, Withdrawal

    with store.reading() as session:
        topic = store.topic(session)
        found = {t.acronym: t for t in session.scalars(select(Trial).where(
            Trial.topic_id == topic.id, Trial.acronym.in_(set(trials))))}
        rows = [found.get(t) or get_trial(session, topic, t) for t in trials]  # unknown: raises
        ids = [r.id for r in rows]

        def by_trial(model: Any) -> dict[int, list[Any]]:
            grouped: dict[int, list[Any]] = {i: [] for i in ids}
            for row in session.scalars(select(model).where(model.trial_id.in_(ids))
                                       .order_by(model.id)):
                grouped[row.trial_id].append(row)
            return grouped

        arms, deliveries = by_trial(Arm), by_trial(Delivery)
        corrections, withdrawals = by_trial(Correction), by_trial(Withdrawal)
        return [{"topic": _row(topic), "trial": _row(r),
                 "arms": [_row(a) for a in arms[r.id]],
                 "deliveries": [{**_row(d), "is_current": d.is_current}
                                for d in deliveries[r.id]],
                 "corrections": [_row(c) for c in corrections[r.id]],
                 "withdrawals": [_row(w) for w in withdrawals[r.id]]} for r in rows]


def _carried(deliveries: list[dict[str, Any]], corrections: list[dict[str, Any]]) -> bool:
    """Is an active correction on a delivery that is no longer current (its dataset's)?"""
    current = {(d["dataset"], d["id"]) for d in deliveries if d["is_current"]}
    current_ids = {i for _, i in current}
    return any(c["status"] == "active" and (
        c["delivery_id"] not in current_ids or
        ((c["dataset"] or "main") != "main" and (c["dataset"], c["delivery_id"]) not in current))
        for c in corrections)


def _load_dictionary(store: Store) -> tuple[Dictionary, bool]:
    """(the topic dictionary, whether its file changed while it was loaded: then the key, which
    hashes the file's bytes after loading, might not describe what was loaded)."""
    path = store.settings.dictionary_dir
    before = _file(path / "dictionary.yaml") if path is not None else None
    dictionary = load_topic_dictionary(store)
    return dictionary, before != _file(Path(dictionary.source or "-"))


def _signing_key(store: Store) -> bytes:
    return hmac.new(store.secret, b"ipdrepo harmonised-run cache", hashlib.sha256).digest()


def _read(path: Path, key: str, signing: bytes) -> TrialRun | None:
    """The run stored at ``path`` under ``key``, or None (missing, stale or not verifying)."""
    run = _load(path, key, signing)
    return run if isinstance(run, TrialRun) and run.trial == path.stem else None


def _load(path: Path, key: str, signing: bytes) -> Any:
    """What is stored at ``path`` under ``key``, or None (missing, stale or not verifying)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = _MAGIC + key.encode() + b"\n"
    if not blob.startswith(head) or len(blob) < len(head) + 32:
        return None
    tag, payload = blob[len(head):len(head) + 32], blob[len(head) + 32:]
    if not hmac.compare_digest(tag, hmac.new(signing, head + payload, hashlib.sha256).digest()):
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # signed by us but not loadable here: computed again
        return None


def _store(path: Path, key: str, signing: bytes, value: Any) -> None:
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # what does not pickle is not cached
        return
    head = _MAGIC + key.encode() + b"\n"
    tag = hmac.new(signing, head + payload, hashlib.sha256).digest()
    try:
        private_dir(path.parent)  # the runs hold the trials' (pseudonymised) data
        replace_atomically(path, lambda tmp: tmp.write_bytes(head + tag + payload))
    except OSError:  # a workspace the cache cannot be written to: the report is made anyway
        return


def harmonise_cached(store: Store, trial: str, *, dictionary: Dictionary | None = None,
                     write: bool = False, progress: Progress | None = None,
                     known: tuple[str, bool] | None = None,
                     deferred: dict[str, TrialRun] | None = None) -> TrialRun:
    """:func:`~harmonise.pipeline.harmonising.harmonise_trial` (``write=False``) through the
    workspace's run cache (module docstring). ``known``: the trial's :func:`run_key` computed
    just before (with this ``dictionary``). ``deferred``: where to put a run harmonised here
    instead of storing it (:func:`report_runs` stores them together, after one more key each,
    :func:`_store_checked`)."""
    if write:
        raise ValueError("the run cache serves reading runs only (write=False)")
    with store.reading() as session:
        require(session, store.settings.actor, "data.read", trial=trial)
    if dictionary is None:
        dictionary, changed = _load_dictionary(store)
    else:
        changed = False
    key, stale = known if known is not None else run_key(store, trial, dictionary)
    stale = stale or changed
    path = cache_path(store, trial)
    signing = _signing_key(store)
    if not stale:
        run = _read(path, key, signing)
        if run is not None:
            _note("hits", trial)
            if progress:
                progress(f"{trial}: unchanged since the last run (cached)")
            return run
    run = harmonise_trial(store, trial, dictionary=dictionary, write=False, progress=progress)
    _note("harmonised", trial)
    if not stale and deferred is not None:
        deferred[trial] = run
    elif not stale and run_key(store, trial, dictionary)[0] == key:
        _store(path, key, signing, replace(run, carried={}, path=None))
    return run


def report_runs(store: Store, trials: Sequence[str], *,
                progress: Progress | None = None) -> list[TrialRun]:
    """The trials validated and checked for the HTML reports: :func:`check_trials
    <harmonise.pipeline.checking.check_trials>` (no query changed, no file written, no
    findings) through :func:`harmonise_cached`. When no trial's inputs changed since the
    report (or :func:`validate_runs`) that stored them (the same trials in the same order, each
    with the same :func:`run_key`), their validation and integrity results are re-used too
    (``<workspace>/.cache/runs/topic.checks``, signed like the runs): the trials are checked
    together, so one trial's change checks all of them again."""
    from harmonise.pipeline.checking import check_trials

    trials = list(trials)
    dictionary, keys = trial_keys(store, trials)
    usable = bool(trials) and not any(stale for _, stale in keys)
    key = _set_key(trials, keys)
    signing = _signing_key(store)
    if usable:
        runs = _checked(store, trials, keys, _checks_path(store), key, signing)
        if runs is not None:
            _note("checks_reused", len(runs))
            return runs
    known = dict(zip(trials, keys))
    harmonised: dict[str, TrialRun] = {}

    def harmoniser(store: Store, trial: str, **options: Any) -> TrialRun:
        return harmonise_cached(store, trial, known=known[trial], deferred=harmonised,
                                **options)

    runs = check_trials(store, trials, dictionary=dictionary, raise_queries=False, write=False,
                        progress=progress, harmoniser=harmoniser, with_findings=False)
    _store_checked(store, runs, dictionary, keys, harmonised)
    return runs


def validate_runs(store: Store, trials: Sequence[str], *, raise_queries: bool = True,
                  progress: Progress | None = None) -> list[TrialRun]:
    """``ipdrepo validate``'s :func:`check_trials
    <harmonise.pipeline.checking.check_trials>` (harmonised files written, queries synced),
    which also stores each trial's run and the trials' checks in the run cache, so that the
    report made after a validation harmonises nothing. A run is stored under the same
    conditions as in :func:`harmonise_cached` (its inputs did not change while it ran, and it
    carried no correction forward: carrying one changes the key); a run written to a file
    differs from a reading one only by the file's path, which is not stored."""
    from harmonise.pipeline.checking import check_trials

    trials = list(trials)
    dictionary, keys = trial_keys(store, trials)
    known = dict(zip(trials, keys))

    def harmoniser(store: Store, trial: str, **options: Any) -> TrialRun:
        options.pop("write", None)
        return harmonise_written(store, trial, known=known[trial], **options)

    runs = check_trials(store, trials, dictionary=dictionary, raise_queries=raise_queries,
                        write=True, progress=progress, harmoniser=harmoniser)
    _store_checked(store, runs, dictionary, keys)
    return runs


def harmonise_written(store: Store, trial: str, *, dictionary: Dictionary,
                      known: tuple[str, bool], progress: Progress | None = None) -> TrialRun:
    """:func:`~harmonise.pipeline.harmonising.harmonise_trial` writing the harmonised files
    (``ipdrepo harmonise``, ``validate``), whose run is then stored in the run cache under
    ``known`` (the trial's :func:`run_key` computed just before, with this ``dictionary``: see
    :func:`trial_keys`) when its inputs did not change while it ran. A written run differs from
    a reading one only by the file's path, which is not stored."""
    run = harmonise_trial(store, trial, dictionary=dictionary, write=True, progress=progress)
    _note("harmonised", trial)
    key, stale = known
    if not stale and run_key(store, trial, dictionary)[0] == key:
        _store(cache_path(store, trial), key, _signing_key(store),
               replace(run, carried={}, path=None))
    return run


def trial_keys(store: Store, trials: Sequence[str]) -> tuple[Dictionary, list[tuple[str, bool]]]:
    """The topic dictionary and each trial's :func:`run_key` (all stale when the dictionary
    file changed while it was loaded)."""
    dictionary, changed = _load_dictionary(store)
    keys = run_keys(store, trials, dictionary)
    return dictionary, [(k, True) for k, _ in keys] if changed else keys


def _checks_path(store: Store) -> Path:
    return store.settings.workspace / ".cache" / "runs" / "topic.checks"


def _store_checked(store: Store, runs: Sequence[TrialRun], dictionary: Dictionary,
                   keys: Sequence[tuple[str, bool]],
                   harmonised: Mapping[str, TrialRun] | None = None) -> None:
    """Store the runs ``harmonised`` (a trial's harmonised run, before its checks) and the
    runs' validation and integrity results, each when the inputs it depends on are as they
    were before the runs (``keys``; the keys computed again once, after every run)."""
    trials = [r.trial for r in runs]
    if not trials or all(stale for _, stale in keys):
        return
    after = run_keys(store, trials, dictionary)
    signing = _signing_key(store)
    for trial, (key, stale), (now, _) in zip(trials, keys, after):
        if harmonised and trial in harmonised and not stale and now == key:
            _store(cache_path(store, trial), key, signing,
                   replace(harmonised[trial], carried={}, path=None))
    if not any(stale for _, stale in keys) and _set_key(trials, after) == _set_key(trials, keys):
        _store(_checks_path(store), _set_key(trials, keys), signing,
               [(r.trial, r.validation, r.integrity) for r in runs])


def _set_key(trials: Sequence[str], keys: Sequence[tuple[str, bool]]) -> str:
    return hashlib.sha256(json.dumps([[t, k] for t, (k, _) in zip(trials, keys)]).encode()
                          ).hexdigest()


def _checked(store: Store, trials: Sequence[str], keys: Sequence[tuple[str, bool]],
             path: Path, key: str, signing: bytes) -> list[TrialRun] | None:
    """The trials' cached runs with their cached checks, or None if any is not there."""
    checks = _load(path, key, signing)
    if not isinstance(checks, list) or [c[0] for c in checks] != list(trials):
        return None
    runs = []
    for trial, (trial_key, _), (_, validation, integrity) in zip(trials, keys, checks):
        with store.reading() as session:
            require(session, store.settings.actor, "data.read", trial=trial)
        run = _read(cache_path(store, trial), trial_key, signing)
        if run is None:
            return None
        runs.append(replace(run, validation=validation, integrity=integrity))
    _note("hits", *trials)
    return runs
