"""``ipdrepo mapping draft`` and ``confirm`` at the store's edge: the trial's current deliveries
(with their stored column metadata and define.xml codelists) handed to the pure proposer
(:mod:`harmonise.mapping.drafting`), and the mapping file written or confirmed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.drafting import DatasetInfo, MappingDraft, confirm_drafts, draft_mapping
from harmonise.mapping.spec import load_mapping, mapping_path
from harmonise.pipeline.datasets import load_datasets
from harmonise.pipeline.harmonising import load_topic_dictionary
from repository.cdisc.domains import is_supplemental
from repository.errors import MappingError, NotFound
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial

__all__ = ["draft_for_trial", "write_draft", "confirm_mapping"]


def draft_for_trial(store: Store, trial: str, *,
                    dictionary: Dictionary | None = None) -> MappingDraft:
    """Propose a mapping for ``trial`` from its current deliveries (every dataset)."""
    dictionary = dictionary or load_topic_dictionary(store)
    with store.reading() as session:
        require(session, store.settings.actor, "mappings.check", trial=trial)
        row = get_trial(session, store.topic(session), trial)
        names = sorted({d.dataset for d in row.deliveries if d.is_current})
        names = [n for n in names if not is_supplemental(n, [])] or names
        if not names:
            raise NotFound(f"trial {trial} has no delivery to draft a mapping from; ingest "
                           "its datasets first (`ipdrepo ingest`).", trial=trial)
        loaded = load_datasets(store, dictionary.topic, row, names)
        infos = [DatasetInfo(name=n, id_column=d.id_column or None,
                             row_key=None if d.row_key is None else tuple(d.row_key),
                             columns=tuple(_merged(d.columns, loaded.tables[n].columns)),
                             frame=loaded.tables[n].frame)
                 for n, d in loaded.deliveries.items()]
    try:
        return draft_mapping(dictionary, trial, infos)
    except ValueError as exc:
        raise MappingError(f"{exc}; ingest the trial's participant-level dataset first.",
                           trial=trial) from exc


def _merged(stored: Sequence[dict], read: Sequence[object]) -> list[dict]:
    """The stored column metadata, plus the columns added when reading (pivoted SUPPxx)."""
    out = [dict(c) for c in stored]
    known = {c.get("name") for c in out}
    for c in read:
        name = getattr(c, "name", None)
        if name not in known:
            out.append({"name": name, "dtype": getattr(c, "dtype", "object"),
                        "label": getattr(c, "label", None)})
    return out


def write_draft(store: Store, draft: MappingDraft, out: Path | None, *,
                force: bool = False) -> Path:
    """Write the draft to ``out`` (default: the trial's mapping file); never over an existing
    file unless ``force``. The written file loads as a mapping with drafts."""
    dictionary = load_topic_dictionary(store)
    directory = _directory(store)
    path = out or mapping_path(directory, dictionary.version, draft.trial)
    if path.exists() and not force:
        raise MappingError(f"{path} exists; a draft never overwrites a mapping: give --out FILE, "
                           "or --force to replace it.", trial=draft.trial, file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".draft-tmp")
    tmp.write_text(draft.to_yaml(), encoding="utf-8")
    try:
        load_mapping(tmp, dictionary, drafts=True)
    except MappingError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return path


def confirm_mapping(store: Store, trial: str, variables: Sequence[str] | None, *,
                    mapping_file: Path | None = None) -> tuple[Path, list[str], list[str]]:
    """Delete the ``draft:`` lines of ``variables`` (None: all) from ``trial``'s mapping file;
    the file must still load. Returns the file, the variables confirmed and those still draft."""
    dictionary = load_topic_dictionary(store)
    directory = _directory(store)
    with store.reading() as session:
        require(session, store.settings.actor, "mappings.check", trial=trial)
        get_trial(session, store.topic(session), trial)
    path = mapping_file or mapping_path(directory, dictionary.version, trial)
    if not path.is_file():
        raise MappingError(f"no mapping for {trial} at {path}; draft one with `ipdrepo mapping "
                           f"draft {trial}`.", trial=trial, file=str(path))
    before = load_mapping(path, dictionary, drafts=True)
    pending = {r.variable for r in before.drafts}
    if variables is not None:
        unknown = [v for v in variables if v not in pending]
        if unknown:
            raise MappingError(f"{trial}: {', '.join(unknown)} not marked draft in {path} "
                               f"(draft: {', '.join(sorted(pending)) or 'none'}).",
                               trial=trial, file=str(path))
    text, confirmed = confirm_drafts(path.read_text(encoding="utf-8"), variables)
    tmp = path.with_name(path.name + ".confirm-tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        after = load_mapping(tmp, dictionary, drafts=True)
    except MappingError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return path, confirmed, sorted(r.variable for r in after.drafts)


def _directory(store: Store) -> Path:
    directory = store.settings.dictionary_dir
    assert directory is not None  # load_topic_dictionary found it
    return Path(directory)
