"""What a release is made from: :class:`ReleaseInputs`.

The harmonisation pipeline builds one from the store
(``versions.store_inputs.release_inputs(store, topic)``); :func:`versions.create_release` turns
it into an immutable release. Everything a release's manifest says comes from here, so the same
inputs always give the same release bytes.

Fields
------
``topic``
    The topic slug, e.g. ``"gastric-adjuvant"``.
``frame``
    The harmonised and corrected topic dataset: one row per participant record, columns
    ``trial`` (the trial acronym), ``participant_id`` (the *repository pseudonym*, never the
    trial's own ID) and then every other dictionary variable, in dictionary order, with the
    dtype the dictionary gives it (``harmonise.dictionary.spec.Variable.dtype``). ``(trial,
    participant_id)`` is unique. Releases never modify it.
``dictionary``
    ``name`` (usually the topic slug; ``topic`` is accepted as a synonym), ``version``,
    ``sha256`` (of the dictionary file), ``variables`` (a list of ``{name, type, label, role,
    unit, categories, range, ...}`` as ``harmonise.dictionary.spec.Variable.to_dict`` writes
    them), ``outcomes`` (``Outcome.to_dict``: ``name``, ``kind`` and the variables it uses:
    ``time``, ``event``, ``variable``, ``origin``, ``event_date``, ``censor_date``,
    ``baseline``) and ``changelog`` (``[{version, date, changes}]``).
``deliveries``
    The current delivery of every trial that the frame was built from: ``{trial, delivery_id,
    file_name, sha256, rows}`` (``dataset`` optional).
``mappings``
    Every per-trial mapping file used: ``{trial, path, sha256}`` (``version`` optional).
``corrections``
    Every active correction applied: ``{id, trial, participant, variable, source_column,
    old_value, new_value, query_id, reason, created_by, created_at}``; ``participant`` is the
    repository pseudonym.
``checks``
    ``{"validation": {...}, "integrity": {...}, "open_queries": {trial: n}}``: the validation
    summary, the integrity-check summary (counts by status and by severity) and the queries
    still open per trial, as the pipeline reports them.
``software``
    ``{"ipdrepo": ..., "python": ..., "pandas": ..., "pyarrow": ..., ...}``; see
    :func:`software_versions`.
``tables``
    The dictionary's long tables (visits, events ...): name -> a frame with ``trial``,
    ``participant_id`` and the table's variables (dictionary order), one row per row of the
    table (the dictionary's ``tables`` and its variables' ``table`` say which they are).

All fields but ``frame`` are plain JSON data; they are normalised (JSON round trip, lists of
records sorted by their key) on construction, so that equal inputs give equal manifests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repository.errors import ReleaseError
from repository.software import software_versions as versions_of

__all__ = ["ReleaseInputs", "software_versions", "KEY_COLUMNS", "RECORD_KEYS", "INPUTS_FILE",
           "FRAME_FILE", "TABLES_DIR"]

#: the two columns every release starts with, and its row key
KEY_COLUMNS: tuple[str, str] = ("trial", "participant_id")
INPUTS_FILE = "release-inputs.json"
FRAME_FILE = "frame.parquet"
#: where the long tables go, in saved inputs and in a release: ``tables/<name>.parquet``
TABLES_DIR = "tables"

#: the keys every record of these fields must have
RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "deliveries": ("trial", "delivery_id", "file_name", "sha256", "rows"),
    "mappings": ("trial", "path", "sha256"),
    "corrections": ("id", "trial", "participant", "variable", "source_column", "old_value",
                    "new_value", "query_id", "reason", "created_by", "created_at"),
}


def software_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Versions of the software that writes release bytes (ipdrepo, python, pandas, pyarrow,
    numpy, dvc, plus ``extra`` distributions)."""
    return versions_of(("ipdrepo", "pandas", "pyarrow", "numpy", "dvc", *extra))


def _plain(value: Any) -> Any:
    """A JSON-ready deep copy (dates as ISO text, tuples as lists)."""
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def _sort_key(record: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    """Numbers in numeric order before text in text order, field by field."""
    out: list[Any] = []
    for k in keys:
        value = record.get(k)
        if isinstance(value, bool) or value is None:
            out.append((2, 0, str(value)))
        elif isinstance(value, (int, float)):
            out.append((0, value, ""))
        else:
            out.append((1, 0, str(value)))
    return tuple(out)


def _columns_against(have: Sequence[str], want: Sequence[str], *,
                     missing: Callable[[str], str], extra: Callable[[str], str]) -> list[str]:
    """The message for the columns of ``want`` not in ``have`` and the one for those of
    ``have`` not in ``want`` (each given the columns, comma-separated), when there are any."""
    lacking = [c for c in want if c not in have]
    stray = [c for c in have if c not in want]
    return ([missing(", ".join(lacking))] if lacking else []) + \
        ([extra(", ".join(stray))] if stray else [])


@dataclass(frozen=True, eq=False)
class ReleaseInputs:
    """Everything one release of a topic is made from (see the module docstring)."""

    topic: str
    frame: pd.DataFrame = field(repr=False)
    dictionary: Mapping[str, Any]
    deliveries: tuple[Mapping[str, Any], ...] = ()
    mappings: tuple[Mapping[str, Any], ...] = ()
    corrections: tuple[Mapping[str, Any], ...] = ()
    checks: Mapping[str, Any] = field(default_factory=dict)
    software: Mapping[str, str] = field(default_factory=software_versions)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", dict(self.tables))
        if not isinstance(self.frame, pd.DataFrame):
            raise ReleaseError(f"release inputs of topic {self.topic}: frame must be a pandas "
                               f"DataFrame, not {type(self.frame).__name__}.", topic=self.topic)
        dictionary = _plain(dict(self.dictionary))
        if "name" not in dictionary and "topic" in dictionary:
            dictionary["name"] = dictionary["topic"]
        object.__setattr__(self, "dictionary", dictionary)
        for name, order in (("deliveries", ("trial", "delivery_id")),
                            ("mappings", ("trial", "path")), ("corrections", ("id",))):
            records = [_plain(dict(r)) for r in getattr(self, name)]
            records.sort(key=lambda r, o=order: _sort_key(r, o))  # type: ignore[misc]
            object.__setattr__(self, name, tuple(records))
        object.__setattr__(self, "checks", _plain(dict(self.checks)))
        object.__setattr__(self, "software", {str(k): str(v) for k, v in
                                              sorted(dict(self.software).items())})

    # -- shape -----------------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        """The participant table's variable names in dictionary order."""
        return tuple(str(v["name"]) for v in self.dictionary.get("variables", ())
                     if isinstance(v, Mapping) and "name" in v and not v.get("table"))

    @property
    def table_names(self) -> tuple[str, ...]:
        """The dictionary's long tables, in dictionary order."""
        return tuple(str(t["name"]) for t in self.dictionary.get("tables", ())
                     if isinstance(t, Mapping) and "name" in t)

    def table_key(self, name: str) -> tuple[str, ...]:
        """A long table's key variables (besides trial and participant_id)."""
        for t in self.dictionary.get("tables", ()):
            if isinstance(t, Mapping) and t.get("name") == name:
                return tuple(str(k) for k in t.get("key", ()))
        return ()

    def table_columns(self, name: str) -> tuple[str, ...]:
        """A long table's columns: ``trial``, ``participant_id``, then its variables."""
        return KEY_COLUMNS + tuple(str(v["name"]) for v in self.dictionary.get("variables", ())
                                   if isinstance(v, Mapping) and v.get("table") == name)

    @property
    def columns(self) -> tuple[str, ...]:
        """The release's columns: ``trial``, ``participant_id``, then the other variables."""
        return KEY_COLUMNS + tuple(v for v in self.variables if v not in KEY_COLUMNS)

    def problems(self) -> list[str]:
        """Every way these inputs cannot make a release (empty when they can)."""
        out = self._record_problems() + self._frame_problems()
        cols = [str(c) for c in self.frame.columns]
        if all(k in cols for k in KEY_COLUMNS):
            out += self._key_problems()
        return out + self._table_problems()

    def _record_problems(self) -> list[str]:
        """What the dictionary and the provenance records lack."""
        out: list[str] = []
        d = self.dictionary
        for key in ("name", "version", "sha256", "variables"):
            if not d.get(key):
                out.append(f"the dictionary has no {key!r}")
        for name, keys in RECORD_KEYS.items():
            for i, record in enumerate(getattr(self, name)):
                absent = [k for k in keys if k not in record]
                if absent:
                    out.append(f"{name}[{i}] has no {', '.join(absent)}")
        names = self.variables
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            out.append(f"the dictionary lists {', '.join(dupes)} more than once")
        return out

    def _frame_problems(self) -> list[str]:
        """The frame's columns against the key and the dictionary's variables."""
        out: list[str] = []
        cols = [str(c) for c in self.frame.columns]
        for key in KEY_COLUMNS:
            if key not in cols:
                out.append(f"the frame has no {key!r} column")
        if self.variables:
            out += _columns_against(
                cols, self.columns,
                missing=lambda c: f"the frame lacks dictionary variables {c}",
                extra=lambda c: f"the frame has columns that are not dictionary variables: {c} "
                                "(add them to the dictionary or drop them)")
        return out

    def _table_problems(self) -> list[str]:
        """The long tables against the dictionary's tables and their variables."""
        out: list[str] = []
        for name, table in self.tables.items():
            if name not in self.table_names:
                out.append(f"table {name!r} is not a long table of the dictionary")
                continue
            out += self._table_columns_problems(name, [str(c) for c in table.columns])
        return out

    def _table_columns_problems(self, name: str, have: list[str]) -> list[str]:
        return _columns_against(
            have, self.table_columns(name), missing=lambda c: f"table {name} lacks {c}",
            extra=lambda c: f"table {name} has columns that are not its variables: {c}")

    def _key_problems(self) -> list[str]:
        """Blank and duplicate ``(trial, participant_id)`` keys (vectorised with Arrow)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out: list[str] = []
        keys = pa.table({k: pa.array(self.frame[k].astype("string"), type=pa.string())
                         for k in KEY_COLUMNS})
        for key in KEY_COLUMNS:
            column = keys[key]
            blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
            n_blank = pc.sum(blank).as_py() or 0
            if n_blank:
                rows = (pc.indices_nonzero(blank).to_numpy()[:10] + 1).tolist()
                out.append(f"{n_blank} rows have a blank {key} (frame rows "
                           f"{', '.join(map(str, rows))})")
        counts = keys.group_by(list(KEY_COLUMNS)).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts["count_all"], 1))
        if dup.num_rows:
            shown = "; ".join(f"{t} {p}" for t, p in zip(dup[KEY_COLUMNS[0]].to_pylist()[:10],
                                                          dup[KEY_COLUMNS[1]].to_pylist()[:10]))
            out.append(f"{dup.num_rows} participants appear more than once ({shown}); "
                       "resolve the duplicate records with a data query before releasing")
        return out

    def validate(self) -> None:
        """Raise :class:`~repository.errors.ReleaseError` listing every problem."""
        problems = self.problems()
        if problems:
            raise ReleaseError(
                f"the release inputs of topic {self.topic} cannot be released:\n"
                + "\n".join(f"  - {p}" for p in problems)
                + "\nFix the harmonisation (or the dictionary) and build the inputs again.",
                topic=self.topic, problems=problems)

    # -- serialisation ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """All fields but the frame, as JSON data."""
        out = {"topic": self.topic, "dictionary": self.dictionary,
               "deliveries": list(self.deliveries), "mappings": list(self.mappings),
               "corrections": list(self.corrections), "checks": self.checks,
               "software": dict(self.software)}
        if self.tables:
            out["tables"] = sorted(self.tables)
        return out

    def write(self, directory: str | Path) -> Path:
        """Save to ``directory`` (``release-inputs.json`` + ``frame.parquet``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / INPUTS_FILE).write_text(
            json.dumps(self.metadata(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8")
        self.frame.to_parquet(directory / FRAME_FILE, index=False)
        for name, table in self.tables.items():
            (directory / TABLES_DIR).mkdir(exist_ok=True)
            table.to_parquet(directory / TABLES_DIR / f"{name}.parquet", index=False)
        return directory

    @classmethod
    def read(cls, directory: str | Path) -> ReleaseInputs:
        """Load inputs saved by :meth:`write`."""
        directory = Path(directory)
        meta_file, frame_file = directory / INPUTS_FILE, directory / FRAME_FILE
        for f in (meta_file, frame_file):
            if not f.is_file():
                raise ReleaseError(f"{f} is missing; release inputs are a directory holding "
                                   f"{INPUTS_FILE} and {FRAME_FILE} (written by "
                                   "ReleaseInputs.write).", file=str(f))
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"{meta_file} is not valid JSON ({exc}); write the inputs "
                               "again.", file=str(meta_file)) from exc
        frame = pd.read_parquet(frame_file)
        tables = {name: pd.read_parquet(directory / TABLES_DIR / f"{name}.parquet")
                  for name in meta.get("tables", ())}
        return cls(topic=meta["topic"], frame=frame, dictionary=meta["dictionary"],
                   deliveries=tuple(meta.get("deliveries", ())),
                   mappings=tuple(meta.get("mappings", ())),
                   corrections=tuple(meta.get("corrections", ())),
                   checks=meta.get("checks", {}), software=meta.get("software", {}),
                   tables=tables)

    def __repr__(self) -> str:
        return (f"ReleaseInputs(topic={self.topic!r}, rows={len(self.frame)}, "
                f"variables={len(self.variables)}, dictionary="
                f"{self.dictionary.get('version')!r}, deliveries={len(self.deliveries)}, "
                f"corrections={len(self.corrections)})")
