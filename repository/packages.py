"""Deliveries of several datasets: files, a directory, a zip, a workbook's sheets, CDISC packages.

A trial often sends its data as several datasets at once: a baseline file, a visits file and an
events file; the sheets of one workbook; the members of a zip; a CDISC submission (SDTM or ADaM
``.xpt`` files with their ``define.xml``). :func:`ingest_package` takes them together, in one
transaction, as :func:`repository.deliveries.ingest` takes one file:

* every dataset is read, its participant-ID column found (a dataset without one is refused
  unless it is trial-level: CDISC ``TA``, ``TS``, ... or named with ``trial_level``);
* a *long* dataset (several rows per participant: visits, events) is declared with
  ``keys={"visits": ["VISIT"]}`` (its rows identified by participant and key) or
  ``long=["events"]`` (rows only ordered); CDISC datasets get their keys from define.xml and the
  domain conventions (:mod:`repository.cdisc.domains`). Duplicate IDs in a participant-level
  dataset, duplicate keys in a long one and blank IDs are refused unless accepted with a reason
  (they become data queries);
* the identifier gate runs on *every* dataset (and every other sheet of a workbook);
* every dataset is stored byte for byte (content-addressed) with its sha256 as its own
  :class:`~repository.models.Delivery` (``dataset`` = its name), superseding the trial's current
  delivery of that dataset; a dataset whose bytes the trial already delivered is left as it is;
* ``define.xml`` is stored too; its labels, types, lengths, codelists and decodes go into each
  dataset's column metadata (the codebook: ``ipdrepo codebook``), its dataset keys into the
  delivery's row key.

Dataset names are the file names without extension (``ae.xpt`` -> ``ae``), or the sheet names,
lower-cased. A zip is unpacked into a private temporary directory within
:data:`MAX_PACKAGE_DATASETS` members and :data:`MAX_PACKAGE_BYTES` bytes; members in
sub-directories, absolute paths and ``..`` are refused.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from repository import audit
from repository.deliveries import StoredDataset
from repository.errors import DirectIdentifiers, IdentifierProblem, UnreadableDelivery, format_rows
from repository.models import Delivery, Participant
from repository.names import check_name, check_text
from repository.objects import private_dir, sha256_file
from repository.pseudonyms import normalise_raw_id
from repository.reasons import Reason
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial, lock_trial

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from repository.cdisc.define import Define
    from repository.formats import RawTable

__all__ = ["MAX_PACKAGE_DATASETS", "MAX_PACKAGE_BYTES", "DatasetSource", "DatasetIngest",
           "PackageResult", "ingest_package", "dataset_name"]

#: most datasets (files, members, sheets) in one delivery
MAX_PACKAGE_DATASETS = 500
#: most bytes a zip may unpack to (all members together)
MAX_PACKAGE_BYTES = 20 * 2**30
_EXTENSIONS = (".csv", ".txt", ".tsv", ".tab", ".dat", ".xlsx", ".xlsm", ".sas7bdat", ".xpt",
               ".xport", ".dta", ".sav", ".zsav", ".parquet", ".pq")
_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def dataset_name(text: str) -> str:
    """A dataset name from a file stem or sheet name: lower case, other characters as ``_``."""
    name = re.sub(r"[^a-z0-9._-]+", "_", text.strip().lower()).strip("._-")[:64]
    return name or "main"


@dataclass(frozen=True)
class DatasetSource:
    """One dataset of a package: its name, the file holding it (and the sheet), how to read it,
    and what kind of dataset it is (``row_key``: the columns identifying a long dataset's rows
    within a participant, () for ordered rows, None for one row per participant; ``trial_level``
    for a dataset about the trial, without participants)."""

    name: str
    path: Path
    format: str | None = None
    read_options: Mapping[str, Any] = field(default_factory=dict)
    member: str | None = None
    row_key: tuple[str, ...] | None = None
    trial_level: bool = False


@dataclass(frozen=True, kw_only=True)
class DatasetIngest(StoredDataset):
    """What happened to one dataset of a package."""

    dataset: str
    row_key: tuple[str, ...] | None

    def to_dict(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k not in ("dataset", "row_key")}
        return {"dataset": self.dataset, **fields,
                "row_key": None if self.row_key is None else list(self.row_key)}


@dataclass(frozen=True)
class PackageResult:
    """What :func:`ingest_package` did: one :class:`DatasetIngest` per dataset."""

    trial: str
    package: str
    datasets: tuple[DatasetIngest, ...]
    metadata: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        states = {d.status for d in self.datasets}
        return states.pop() if len(states) == 1 else "partly ingested"

    @property
    def summary(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([d.to_dict() for d in self.datasets],
                            columns=["dataset", "status", "file_name", "format", "n_rows",
                                     "n_columns", "id_column", "row_key", "delivery_id",
                                     "superseded", "new_participants", "sha256"])

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "package": self.package, "status": self.status,
                "datasets": [d.to_dict() for d in self.datasets],
                "metadata": list(self.metadata), "notes": list(self.notes)}

    def __repr__(self) -> str:
        return (f"<PackageResult {self.trial} {self.package}: {len(self.datasets)} datasets, "
                f"{self.status}>")

    def _repr_html_(self) -> str:
        return f"<p><b>{self.trial}</b>: {self.package}</p>" + self.summary.to_html(index=False)


# -- what a package holds --------------------------------------------------------------------

@contextmanager
def _unpacked(paths: Sequence[Path]) -> Iterator[tuple[list[Path], dict[str, Any]]]:
    """The files of a package (a zip unpacked into a private temporary directory)."""
    if len(paths) == 1 and paths[0].is_file() and zipfile.is_zipfile(paths[0]) and \
            paths[0].suffix.lower() == ".zip":
        archive = paths[0]
        digest, size = sha256_file(archive)
        with tempfile.TemporaryDirectory(prefix="ipdrepo-package-") as tmp:
            root = private_dir(Path(tmp) / "members")
            members = _extract(archive, root)
            yield members, {"file": archive.name, "sha256": digest, "size_bytes": size,
                          "kind": "zip"}
        return
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            files.append(p)
        else:
            raise UnreadableDelivery(f"{p} does not exist.", file=str(p), reason=Reason.MISSING)
    label = paths[0].name if len(paths) == 1 else f"{len(paths)} files"
    yield files, {"file": label, "kind": "directory" if paths[0].is_dir() else "files"}


def _extract(archive: Path, root: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_PACKAGE_DATASETS:
            raise UnreadableDelivery(f"{archive.name} holds {len(infos)} files; a delivery may "
                                     f"hold at most {MAX_PACKAGE_DATASETS}.", file=str(archive),
                                     reason=Reason.TOO_MANY_MEMBERS)
        total = sum(i.file_size for i in infos)
        if total > MAX_PACKAGE_BYTES:
            raise UnreadableDelivery(f"{archive.name} unpacks to {total / 2**30:.1f} GiB; at "
                                     f"most {MAX_PACKAGE_BYTES // 2**30} GiB are read.",
                                     file=str(archive), reason=Reason.TOO_LARGE)
        out = []
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or "/" in name.strip("/") \
                    or "\\" in name:
                if name.startswith("__MACOSX/"):
                    continue
                raise UnreadableDelivery(f"{archive.name}: member {name!r} is in a directory or "
                                         "leaves the archive; deliver the datasets at the top "
                                         "level of the zip.", file=str(archive),
                                         reason=Reason.MEMBER_PATH)
            target = root / name
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if target.stat().st_size != info.file_size:
                raise UnreadableDelivery(f"{archive.name}: member {name} is damaged.",
                                         file=str(archive), reason=Reason.DAMAGED)
            out.append(target)
    return sorted(out)


def _is_define(path: Path) -> bool:
    if path.suffix.lower() != ".xml":
        return False
    from repository.cdisc.define import looks_like_define

    with path.open("rb") as fh:
        return looks_like_define(fh.read(4096))


def _split_files(files: Sequence[Path], *, all_sheets: bool
                 ) -> tuple[list[DatasetSource], list[Path], list[str]]:
    """The datasets among ``files`` (sheets of workbooks with ``all_sheets``), the metadata
    files (define.xml) and notes about files left aside."""
    datasets: list[DatasetSource] = []
    metadata: list[Path] = []
    notes: list[str] = []
    for f in files:
        if _is_define(f):
            metadata.append(f)
        elif f.suffix.lower() not in _EXTENSIONS:
            notes.append(f"{f.name} is not a dataset (unknown extension); left aside")
        elif all_sheets and f.suffix.lower() in (".xlsx", ".xlsm"):
            from repository.formats import read_delivery

            first = read_delivery(f, all_sheets=True)
            sheets = [str(first.read_options.get("sheet"))] + list(first.other_sheets)
            for sheet in sheets:
                datasets.append(DatasetSource(dataset_name(sheet), f, "xlsx", {"sheet": sheet}))
        else:
            datasets.append(DatasetSource(dataset_name(f.stem), f))
    return datasets, metadata, notes


def _check_dataset_names(names: Sequence[str], named: Sequence[str]) -> None:
    """Refuse two datasets of one name, too many datasets, and options naming none."""
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UnreadableDelivery(f"two files of the delivery would both be dataset "
                                 f"{', '.join(dupes)}; rename one of them.", reason=Reason.DATASET)
    if len(names) > MAX_PACKAGE_DATASETS:
        raise UnreadableDelivery(f"{len(names)} datasets in one delivery; at most "
                                 f"{MAX_PACKAGE_DATASETS}.", reason=Reason.TOO_MANY_MEMBERS)
    for name in named:
        if name not in names:
            raise UnreadableDelivery(f"--key/--long/--trial-level name dataset {name!r}, which the "
                                     f"delivery does not hold (its datasets: "
                                     f"{', '.join(names)}).", reason=Reason.DATASET)


def _sources(files: Sequence[Path], *, all_sheets: bool, select: Sequence[str] | None,
             keys: Mapping[str, Sequence[str]], long: Sequence[str],
             trial_level: Sequence[str]) -> tuple[list[DatasetSource], list[Path], list[str]]:
    """The datasets among ``files`` (sheets of workbooks with ``all_sheets``), the metadata
    files (define.xml) and notes about files left aside."""
    datasets, metadata, notes = _split_files(files, all_sheets=all_sheets)
    if select:
        unknown = [s for s in select if s not in {d.name for d in datasets}]
        if unknown:
            raise UnreadableDelivery(f"the delivery has no dataset {', '.join(unknown)}; its "
                                     f"datasets: {', '.join(d.name for d in datasets)}.",
                                     reason=Reason.DATASET)
        datasets = [d for d in datasets if d.name in select]
    names = [d.name for d in datasets]
    _check_dataset_names(names, [*keys, *long, *trial_level])
    out = []
    for d in datasets:
        row_key = tuple(keys[d.name]) if d.name in keys else (() if d.name in long else None)
        out.append(DatasetSource(d.name, d.path, d.format, d.read_options, d.member, row_key,
                                 d.name in trial_level))
    return out, metadata, notes


# -- reading and checking ----------------------------------------------------------------------

@dataclass
class _Read:
    source: DatasetSource
    table: RawTable
    digest: str
    size: int
    id_column: str
    row_key: tuple[str, ...] | None
    ids: list[str | None]
    columns: list[dict[str, Any]]
    define: dict[str, Any]
    findings: list[Any]
    id_problems: dict[str, Any] | None


def _define(metadata: Sequence[Path]) -> Define | None:
    from repository.cdisc.define import read_define

    defines = [read_define(p) for p in metadata]
    if not defines:
        return None
    if len(defines) == 1:
        return defines[0]
    from dataclasses import replace

    merged = defines[0]
    for d in defines[1:]:
        merged = replace(merged, datasets=merged.datasets + d.datasets,
                         codelists={**merged.codelists, **d.codelists})
    return merged


def _columns(table: RawTable, name: str, define: Define | None) -> list[dict[str, Any]]:
    out = [c.to_dict() for c in table.columns]
    if define is None:
        return out
    meta = define.columns(name)
    for col in out:
        extra = meta.get(str(col["name"]).upper())
        if not extra:
            continue
        if extra.get("label") and not col.get("label"):
            col["label"] = extra["label"]
        if extra.get("value_labels") and not col.get("value_labels"):
            col["value_labels"] = extra["value_labels"]
        col["define"] = extra["define"]
    return out


def _id_column(store_trial: Any, source: DatasetSource, table: RawTable,
               requested: str | None, cdisc: bool) -> str | None:
    """The dataset's participant-ID column (None: a trial-level dataset)."""
    from repository.cdisc.domains import SUBJECT_ID, is_trial_level
    from repository.deliveries import _choose_id_column

    names = [c.name for c in table.columns]
    if source.trial_level:
        return None
    if cdisc and requested is None:
        if is_trial_level(names):
            return None
        return next(n for n in names if n.upper() == SUBJECT_ID)
    return _choose_id_column(source.path, store_trial, table, requested)


def _check_long_ids(source: DatasetSource, trial: str, table: RawTable, id_column: str,
                    row_key: tuple[str, ...], allow: str | None
                    ) -> tuple[list[str | None], dict[str, Any] | None]:
    """Blank IDs, and rows sharing ID and key, of a long dataset."""
    import numpy as np

    frame = table.frame
    missing_key = [k for k in row_key if k not in frame.columns]
    if missing_key:
        raise UnreadableDelivery(f"{source.path.name} (dataset {source.name} of trial {trial}) "
                                 f"has no key column(s) {', '.join(missing_key)}; columns are "
                                 f"{', '.join(map(str, frame.columns))}.", file=str(source.path),
                                 trial=trial, reason=Reason.KEY_COLUMN)
    raw = [normalise_raw_id(v) for v in frame[id_column].tolist()]
    blank_rows = [i + 1 for i, v in enumerate(raw) if v is None]
    dup_rows: list[int] = []
    if row_key:
        import pandas as pd

        keyed = pd.DataFrame({"_id": raw, **{k: frame[k].astype(object) for k in row_key}})
        dup = keyed["_id"].notna() & keyed.duplicated(keep=False)
        dup_rows = (np.flatnonzero(dup.to_numpy()) + 1).tolist()
    if not blank_rows and not dup_rows:
        return raw, None
    parts = []
    if dup_rows:
        parts.append(f"rows sharing participant and {', '.join(row_key)} on "
                     f"{format_rows(dup_rows)}")
    if blank_rows:
        parts.append(f"blank IDs on {format_rows(blank_rows)}")
    override = {"duplicate_rows": dup_rows, "blank_rows": blank_rows, "key": list(row_key),
                "justification": allow}
    if allow:
        return raw, override
    raise IdentifierProblem(
        f"{source.path.name} (dataset {source.name} of trial {trial}), ID column {id_column!r}: "
        + "; ".join(parts) + ". Ask the trial to correct the rows and deliver again, or accept "
        "the delivery as it is with --allow-id-problems 'REASON' so that the problems are "
        "raised as data queries.", file=str(source.path), trial=trial, column=id_column,
        duplicate_rows=dup_rows, blank_rows=blank_rows)


def _gate(reads: Sequence[_Read], trial: str, accept: Sequence[str],
          justification: str | None) -> None:
    """The identifier gate over every dataset; ``accept`` names columns (``DATASET:COLUMN``
    for one dataset's column, ``COLUMN`` for that column wherever it occurs)."""
    from repository.identifiers import scan_table

    if accept and not (justification and justification.strip()):
        raise DirectIdentifiers("accepting identifier columns needs a recorded justification; "
                                "add --justification 'WHY'.", trial=trial)
    used: set[str] = set()
    refused: list[tuple[str, Any]] = []
    for r in reads:
        findings = scan_table(r.table, id_column=r.id_column or None)
        kept = []
        for f in findings:
            names = (f.key, f"{r.source.name}:{f.key}")
            hit = next((n for n in names if n in accept), None)
            if hit is None:
                refused.append((r.source.name, f))
            else:
                used.add(hit)
                kept.append(f)
        r.findings = kept
    unknown = [a for a in accept if a not in used and not any(
        a in {c.name for c in r.table.columns} or
        a == f"{r.source.name}:{c.name}" for r in reads for c in r.table.columns)]
    if unknown:
        raise UnreadableDelivery(f"--accept-identifiers names column(s) in no dataset of the "
                                 f"delivery: {', '.join(unknown)} (DATASET:COLUMN for one "
                                 "dataset's column).", trial=trial)
    if refused:
        lines = "\n".join(f"  - dataset {name}: {f}" for name, f in refused)
        raise DirectIdentifiers(
            f"the delivery of trial {trial} still carries direct identifiers and was not "
            f"accepted:\n{lines}\nNothing was stored. Ask the trial to remove these columns "
            "and send the delivery again. If a column is not an identifier, a curator can "
            "accept it with --accept-identifiers DATASET:COLUMN --justification 'WHY'.",
            trial=trial, findings=[{"dataset": n, **f.to_dict()} for n, f in refused])


def _read(source: DatasetSource, trial_row: Any, *, id_column: str | None,
          define: Define | None, allow: str | None, digest: str, size: int) -> _Read:
    from repository.cdisc.domains import looks_like_cdisc, row_key
    from repository.deliveries import _check_ids
    from repository.formats import read_delivery

    table = read_delivery(source.path, format=source.format, options=dict(source.read_options),
                          id_column=id_column, all_sheets=True)
    cdisc = source.path.suffix.lower() in (".xpt", ".xport", ".sas7bdat") and \
        looks_like_cdisc([c.name for c in table.columns])
    id_col = _id_column(trial_row, source, table, id_column, cdisc)
    key = source.row_key
    ids: list[str | None] = []
    problems = None
    ds_define = define.dataset(source.name) if define is not None else None
    if id_col is not None:
        if key is None and cdisc:
            key = row_key(source.name, table.frame, id_column=id_col, define=ds_define)
        if key is None:
            ids, problems = _check_ids(source.path, trial_row.acronym, table, id_col, allow)
        else:
            ids, problems = _check_long_ids(source, trial_row.acronym, table, id_col, key, allow)
    from repository.cdisc.domains import describe

    return _Read(source=source, table=table, digest=digest, size=size, id_column=id_col or "",
                 row_key=key, ids=ids, columns=_columns(table, source.name, define),
                 define=describe(ds_define), findings=[], id_problems=problems)


def _check_supplements(reads: Sequence[_Read]) -> None:
    """A SUPPxx dataset must pivot onto its parent (refused at ingest, not at harmonising)."""
    from repository.cdisc.domains import is_supplemental, parent_of, pivot_supplemental

    by_name = {r.source.name: r for r in reads}
    for r in reads:
        cols = [c.name for c in r.table.columns]
        if is_supplemental(r.source.name, cols) and parent_of(r.source.name) in by_name:
            parent = by_name[parent_of(r.source.name)]
            pivot_supplemental(parent.table.frame, r.table.frame, parent_name=parent.source.name,
                               supp_name=r.source.path.name)


# -- ingesting ---------------------------------------------------------------------------------

def ingest_package(store: Store, trial_acronym: str, paths: Sequence[Path] | Path, *,
                   id_column: str | None = None, all_sheets: bool = False,
                   datasets: Sequence[str] | None = None,
                   keys: Mapping[str, Sequence[str]] | None = None,
                   long: Sequence[str] = (), trial_level: Sequence[str] = (),
                   received_from: str | None = None, received_at: date | None = None,
                   accept_identifiers: Sequence[str] = (), justification: str | None = None,
                   allow_id_problems: str | None = None, topic: str | None = None,
                   on_stage: Any = None) -> PackageResult:
    """Ingest a delivery of several datasets (see the module docstring); all or nothing."""
    stage = on_stage or (lambda _s: None)
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if received_from is not None:
        check_name(received_from, what="received-from")
    for what, value in (("justification", justification),
                        ("--allow-id-problems reason", allow_id_problems)):
        if value is not None:
            check_text(value, what=what)
    actor = store.settings.actor
    with store.reading() as session:
        require(session, actor, "store.write")
        topic_row = store.topic(session, topic)
        trial = get_trial(session, topic_row, trial_acronym)
        topic_slug, trial_id, acronym = topic_row.slug, trial.id, trial.acronym
        with _unpacked(paths) as (files, package):
            sources, metadata, notes = _sources(files, all_sheets=all_sheets, select=datasets,
                                                keys=dict(keys or {}), long=long,
                                                trial_level=trial_level)
            for s in sources:
                check_name(s.name, what="dataset", pattern=_DATASET,
                           rule="1-64 letters, digits, '.', '_' or '-'")
            if not sources:
                raise UnreadableDelivery(f"the delivery of trial {acronym} holds no dataset "
                                         f"({', '.join(f.name for f in files) or 'no files'}).",
                                         trial=acronym, reason=Reason.EMPTY)
            stage("hashing")
            digests = {s.name: sha256_file(s.path) for s in sources}
            delivered = {(d.dataset, d.sha256) for d in trial.deliveries}
            fresh = [s for s in sources if (s.name, digests[s.name][0]) not in delivered]
            if not fresh:
                return _unchanged(trial, sources, digests, package)
            stage("reading")
            define = _define(metadata)
            reads = [_read(s, trial, id_column=id_column, define=define,
                           allow=allow_id_problems, digest=digests[s.name][0],
                           size=digests[s.name][1]) for s in fresh]
            notes += [f"dataset {s.name}: these bytes were already delivered; left as they are"
                      for s in sources if s not in fresh]
            stage("scanning for identifiers")
            _gate(reads, acronym, accept_identifiers, justification)
            _check_supplements(reads)
            stage("pseudonymising")
            pseudonymiser = store.pseudonymiser(topic_slug)
            pseudonyms: set[str] = set()
            for r in reads:
                pseudonyms |= set(pseudonymiser.many(acronym, [i for i in r.ids if i is not None]))
            meta = [{"file": p.name, "sha256": digest, "size_bytes": size, "kind": "define-xml",
                     "version": define.version if define else None}
                    for p, (digest, size) in ((p, sha256_file(p)) for p in metadata)]
            stage("storing")
            return _store(store, trial_id, acronym, topic_slug, reads, metadata, meta, package,
                          pseudonyms, received_from=received_from, received_at=received_at,
                          justification=justification, notes=notes)


def _store(store: Store, trial_id: int, acronym: str, topic_slug: str, reads: list[_Read],
           metadata: list[Path], meta: list[dict[str, Any]], package: dict[str, Any],
           pseudonyms: set[str], *, received_from: str | None, received_at: date | None,
           justification: str | None, notes: list[str]) -> PackageResult:
    actor = store.settings.actor
    objects = []
    try:
        for r in reads:
            objects.append(store.objects.put(r.source.path, r.digest))
        for path, m in zip(metadata, meta):
            objects.append(store.objects.put(path, m["sha256"]))
        with store.transaction() as session:
            lock_trial(session, trial_id)
            package_id = hashlib.sha256("".join(sorted(r.digest for r in reads)).encode()
                                        ).hexdigest()[:16]
            record = {**package, "id": package_id, "datasets": [r.source.name for r in reads],
                      "metadata": meta}
            results: list[DatasetIngest] = []
            first_new: int | None = None
            for r in reads:
                same = session.scalar(select(Delivery).where(
                    Delivery.trial_id == trial_id, Delivery.dataset == r.source.name,
                    Delivery.sha256 == r.digest))
                if same is not None:
                    results.append(_result(same, "unchanged"))
                    continue
                delivery, previous = _insert(session, trial_id, r, record, received_from,
                                             received_at, justification, actor)
                first_new = first_new or delivery.id
                results.append(_result(delivery, "ingested", previous))
            known = set(session.scalars(select(Participant.pseudonym)
                                        .where(Participant.trial_id == trial_id)))
            new = sorted(pseudonyms - known)
            if new and first_new is not None:
                session.execute(insert(Participant), [
                    {"trial_id": trial_id, "pseudonym": p, "first_delivery_id": first_new}
                    for p in new])
                results = [r if r.delivery_id != first_new else
                           DatasetIngest(**{**r.__dict__, "new_participants": len(new)})
                           for r in results]
            if any(r.status == "ingested" for r in results):
                audit.append(session, actor=actor, action="delivery.ingest_package",
                             topic=topic_slug, entity_type="trial", entity_id=acronym,
                             details={"trial": acronym, "package": record,
                                      "datasets": [r.to_dict() for r in results],
                                      "new_participants": len(new),
                                      "accepted_identifiers": sorted(
                                          {f"{r.source.name}:{f.key}" for r in reads
                                           for f in r.findings})})
    except BaseException:
        from repository.deliveries import _recorded

        for obj in objects:
            if not _recorded(store, obj.sha256) and not _package_object(store, obj.sha256):
                store.objects.discard(obj)
        raise
    return PackageResult(trial=acronym, package=str(package.get("file")),
                         datasets=tuple(results), metadata=tuple(meta), notes=tuple(notes))


def _unchanged(trial: Any, sources: Sequence[DatasetSource],
               digests: Mapping[str, tuple[str, int]], package: dict[str, Any]) -> PackageResult:
    by_key = {(d.dataset, d.sha256): d for d in trial.deliveries}
    return PackageResult(
        trial=trial.acronym, package=str(package.get("file")),
        datasets=tuple(_result(by_key[(s.name, digests[s.name][0])], "unchanged")
                       for s in sources),
        notes=("these bytes were already delivered for every dataset; nothing changed",))


def _package_object(store: Store, digest: str) -> bool:
    """Whether a committed delivery lists ``digest`` among its package's metadata files."""
    try:
        with store.reading() as session:
            for pkg in session.scalars(select(Delivery.package).where(
                    Delivery.package.is_not(None))):
                if any(m.get("sha256") == digest for m in (pkg or {}).get("metadata", [])):
                    return True
    except Exception:
        return True
    return False


def _insert(session: Any, trial_id: int, r: _Read, record: dict[str, Any],
            received_from: str | None, received_at: date | None, justification: str | None,
            actor: str) -> tuple[Delivery, int | None]:
    from repository.deliveries import add_superseding, current_of

    previous = current_of(session, trial_id, r.source.name)
    accepted = sorted({f.key for f in r.findings})
    options = dict(r.table.read_options)
    delivery = Delivery(
        trial_id=trial_id, dataset=r.source.name, file_name=r.source.path.name,
        format=r.table.format, sha256=r.digest, size_bytes=r.size, n_rows=r.table.n_rows,
        n_columns=len(r.table.columns), columns=r.columns, read_options=options,
        id_column=r.id_column, received_at=received_at, received_from=received_from,
        ingested_by=actor,
        identifier_override=({"columns": accepted, "justification": justification, "by": actor,
                              "findings": [f.to_dict() for f in r.findings]}
                             if accepted else None),
        id_override=r.id_problems,
        row_key=None if r.row_key is None else list(r.row_key),
        package={**record, **({"define": r.define} if r.define else {}),
                 "trial_level": not r.id_column})
    add_superseding(session, delivery, previous)
    return delivery, previous.id if previous is not None else None


def _result(d: Delivery, status: str, superseded: int | None = None) -> DatasetIngest:
    return DatasetIngest(dataset=d.dataset, delivery_id=d.id, status=status,
                         file_name=d.file_name, format=d.format, sha256=d.sha256,
                         n_rows=d.n_rows, n_columns=d.n_columns, id_column=d.id_column,
                         row_key=None if d.row_key is None else tuple(d.row_key),
                         superseded=superseded)
