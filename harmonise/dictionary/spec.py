"""The topic data dictionary: spec objects and their loader.

A dictionary (``dictionaries/<topic>/dictionary.yaml``, format ``ipdrepo-dictionary/1``,
documented in docs/dictionary-format.md, JSON Schema in
``harmonise/schemas/dictionary.schema.json``) declares the harmonised variables every trial is
mapped onto, the topic's outcomes, cross-variable rules, and a changelog.

``Dictionary.from_dict`` / ``to_dict`` are a pure pair on frozen dataclasses;
:func:`load_dictionary` is the thin file wrapper. Loading collects *every* problem (structure
via the JSON Schema, then meaning: duplicate names, bad ranges and categories, unknown units,
references to unknown variables, unparseable rule expressions) and raises one
:class:`~repository.errors.DictionaryError` listing them with file, line and key.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harmonise.dictionary.tables import PARTICIPANTS, Table
from harmonise.expressions.language import Expression
from harmonise.yamlio import ProblemCollector, given_fields, read_yaml, suggest
from repository.errors import DictionaryError

__all__ = [
    "FORMAT",
    "VARIABLE_TYPES",
    "ROLES",
    "OUTCOME_KINDS",
    "Category",
    "Range",
    "Variable",
    "Outcome",
    "CrossRule",
    "ChangelogEntry",
    "Dictionary",
    "load_dictionary",
    "dictionary_path",
]

FORMAT = "ipdrepo-dictionary/1"
VARIABLE_TYPES = ("integer", "decimal", "boolean", "categorical", "date", "datetime", "text", "id")
ROLES = ("id", "trial", "treatment", "outcome", "covariate", "stratifier", "design")
OUTCOME_KINDS = ("time_to_event", "binary", "continuous", "count")

#: dictionary type -> pandas dtype of the harmonised column (categorical: by its codes)
_DTYPES = {"integer": "Int64", "decimal": "Float64", "boolean": "boolean",
           "date": "datetime64[ns]", "datetime": "datetime64[ns]", "text": "string",
           "id": "string"}

Code = int | str


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v is not False}


@dataclass(frozen=True)
class Category:
    """One category of a categorical variable; ``missing`` marks codes meaning 'unknown'."""

    code: Code
    label: str
    missing: bool = False
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_empty({"code": self.code, "label": self.label, "missing": self.missing,
                            "description": self.description})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Category:
        return cls(code=data["code"], label=data["label"], missing=bool(data.get("missing", False)),
                   description=data.get("description"))


@dataclass(frozen=True)
class Range:
    """Allowed values, inclusive: numbers for numeric variables, ISO dates for dates."""

    min: float | int | str | None = None
    max: float | int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Range:
        return cls(min=data.get("min"), max=data.get("max"))

    def describe(self, unit: str | None = None) -> str:
        u = f" {unit}" if unit else ""
        if self.min is not None and self.max is not None:
            return f"{self.min}-{self.max}{u}"
        if self.min is not None:
            return f">= {self.min}{u}"
        return f"<= {self.max}{u}"


@dataclass(frozen=True)
class Variable:
    """One harmonised variable."""

    name: str
    type: str
    label: str | None = None
    description: str | None = None
    role: str | None = None
    group: str | None = None
    required: bool = False
    unique: bool = False
    unit: str | None = None
    analyte: str | None = None
    categories: tuple[Category, ...] = ()
    ordered: bool = False
    range: Range | None = None
    #: the long table the variable belongs to (None: the participant table)
    table: str | None = None

    @property
    def dtype(self) -> str:
        """The pandas dtype of the harmonised column."""
        if self.type == "categorical":
            return "Int64" if self.codes_are_integers else "string"
        return _DTYPES[self.type]

    @property
    def codes_are_integers(self) -> bool:
        return all(isinstance(c.code, int) and not isinstance(c.code, bool)
                   for c in self.categories)

    @property
    def codes(self) -> tuple[Code, ...]:
        return tuple(c.code for c in self.categories)

    @property
    def missing_codes(self) -> tuple[Code, ...]:
        return tuple(c.code for c in self.categories if c.missing)

    @property
    def kind(self) -> str:
        """The expression kind (number, date, bool, text) of this variable's values."""
        if self.type in ("integer", "decimal"):
            return "number"
        if self.type == "categorical":
            return "number" if self.codes_are_integers else "text"
        if self.type in ("date", "datetime"):
            return "date"
        if self.type == "boolean":
            return "bool"
        return "text"

    def category(self, code: Any) -> Category | None:
        for c in self.categories:
            if c.code == code or str(c.code) == str(code):
                return c
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **given_fields(self, ("label", "description")),
                               "type": self.type, **given_fields(self, ("role", "group"))}
        if self.required:
            out["required"] = True
        if self.unique:
            out["unique"] = True
        out.update(given_fields(self, ("unit", "analyte")))
        if self.categories:
            out["categories"] = [c.to_dict() for c in self.categories]
        if self.ordered:
            out["ordered"] = True
        if self.range is not None:
            out["range"] = self.range.to_dict()
        if self.table is not None:
            out["table"] = self.table
        return out


@dataclass(frozen=True)
class Outcome:
    """An outcome of the topic: time to event (time + event variables, or derived from dates),
    binary, continuous (with an optional baseline) or count."""

    name: str
    kind: str
    label: str | None = None
    description: str | None = None
    time: str | None = None
    event: str | None = None
    origin: str | None = None
    event_date: str | None = None
    censor_date: str | None = None
    variable: str | None = None
    baseline: str | None = None

    _REFS = ("time", "event", "origin", "event_date", "censor_date", "variable", "baseline")

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(getattr(self, k) for k in self._REFS if getattr(self, k) is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **given_fields(self, ("label", "description")),
                "kind": self.kind, **given_fields(self, self._REFS)}


@dataclass(frozen=True)
class CrossRule:
    """A row-wise rule over harmonised variables, e.g. ``death_date >= rand_date``.

    A row is tested where the assertion (and ``when``, if given) evaluates to true or false; where
    it evaluates to missing (an input is missing) the row is *not tested*. Rows where ``when``
    is false are not tested either.
    """

    id: str
    expression: Expression
    label: str | None = None
    description: str | None = None
    when: Expression | None = None
    severity: str = "error"

    @property
    def variables(self) -> tuple[str, ...]:
        names = list(self.expression.variables)
        if self.when is not None:
            names += [v for v in self.when.variables if v not in names]
        return tuple(names)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **given_fields(self, ("label", "description"))}
        if self.when is not None:
            out["when"] = self.when.text
        out["assert"] = self.expression.text
        if self.severity != "error":
            out["severity"] = self.severity
        return out


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    date: dt.date
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "date": self.date.isoformat(),
                "changes": list(self.changes)}


@dataclass(frozen=True)
class Dictionary:
    """A topic data dictionary (immutable). Build with :meth:`from_dict` or
    :func:`load_dictionary`; never mutate, publish a new version instead."""

    topic: str
    title: str
    version: str
    variables: tuple[Variable, ...]
    description: str | None = None
    changelog: tuple[ChangelogEntry, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    rules: tuple[CrossRule, ...] = ()
    source: str | None = field(default=None, compare=False)
    #: the long tables (harmonise.dictionary.tables); the participant table is ``variables``
    tables: tuple[Table, ...] = ()
    #: in a table view (harmonise.dictionary.tables.table_view): the participant variables a
    #: long table's rules may read
    context: tuple[Variable, ...] = ()
    #: which table this dictionary describes: ``participants``, or a long table's view
    table_name: str = PARTICIPANTS

    # -- lookups --
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        for v in self.context:
            if v.name == name:
                return v
        raise DictionaryError(f"the dictionary {self.topic} {self.version} has no variable "
                              f"{name!r}{suggest(name, self.names)}.", variable=name)

    # -- tables --
    @property
    def table_names(self) -> tuple[str, ...]:
        """``participants`` and the long tables, in dictionary order."""
        return (PARTICIPANTS,) + tuple(t.name for t in self.tables)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise DictionaryError(f"the dictionary {self.topic} {self.version} has no table "
                              f"{name!r}{suggest(name, [t.name for t in self.tables])}; its "
                              f"tables: {', '.join(self.table_names)}.", table=name)

    def view(self, name: str) -> Dictionary:
        """Table ``name`` as a dictionary of its own (harmonise.dictionary.tables.table_view)."""
        from harmonise.dictionary.tables import table_view

        return table_view(self, name)

    @property
    def all_variables(self) -> tuple[Variable, ...]:
        """The variables of every table (participant table first)."""
        return self.variables + tuple(v for t in self.tables for v in t.variables)

    def table_of(self, name: str) -> str | None:
        """The table holding variable ``name`` (None when there is no such variable)."""
        if any(v.name == name for v in self.variables):
            return self.table_name
        for t in self.tables:
            if any(v.name == name for v in t.variables):
                return t.name
        return None

    def __contains__(self, name: object) -> bool:
        return any(v.name == name for v in self.variables)

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def kinds(self) -> dict[str, str]:
        """Expression kinds of the variables (and, in a table view, of the context)."""
        return {v.name: v.kind for v in (*self.context, *self.variables)}

    def with_role(self, role: str) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.role == role)

    @property
    def id_variable(self) -> Variable:
        return self.with_role("id")[0]

    @property
    def trial_variable(self) -> Variable:
        return self.with_role("trial")[0]

    # -- serialisation --
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "topic": self.topic, "title": self.title}
        if self.description is not None:
            out["description"] = self.description
        out["version"] = self.version
        if self.changelog:
            out["changelog"] = [c.to_dict() for c in self.changelog]
        if self.tables:
            out["tables"] = [t.to_dict() for t in self.tables]
        out["variables"] = [v.to_dict() for v in self.all_variables]
        if self.outcomes:
            out["outcomes"] = [o.to_dict() for o in self.outcomes]
        rules = self.rules + tuple(r for t in self.tables for r in t.rules)
        if rules:
            out["rules"] = [r.to_dict() for r in rules]
        return out

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "<dictionary>",
                  lines: Mapping[tuple[Any, ...], int] | None = None) -> Dictionary:
        """Build a dictionary from plain data; raises :class:`DictionaryError` listing every
        problem (with lines when ``lines`` maps key paths to line numbers)."""
        from harmonise.dictionary.build import build

        collector = ProblemCollector(file=file, data=data, lines=lines)
        return build(data, collector, source=None if file.startswith("<") else file)

    # -- presentation --
    @property
    def summary(self) -> pd.DataFrame:
        """One row per variable: name, label, type, role, unit, required, categories, range
        (with long tables, a last column ``table`` says where each variable lives)."""
        rows = []
        for v in self.all_variables:
            rows.append({
                "name": v.name, "label": v.label or "", "type": v.type, "role": v.role or "",
                "unit": v.unit or "", "required": v.required,
                "categories": "; ".join(f"{c.code}={c.label}" + (" (missing)" if c.missing else "")
                                        for c in v.categories),
                "range": v.range.describe() if v.range else "",
                "table": v.table or self.table_name,
            })
        columns = ["name", "label", "type", "role", "unit", "required", "categories", "range"]
        return pd.DataFrame(rows, columns=columns + ["table"])[
            columns + (["table"] if self.tables else [])]

    def __repr__(self) -> str:
        tables = f", {len(self.tables)} long tables" if self.tables else ""
        return (f"<Dictionary {self.topic} {self.version}: {len(self.variables)} variables, "
                f"{len(self.outcomes)} outcomes, {len(self.rules)} rules{tables}>")

    def _repr_html_(self) -> str:
        head = (f"<p><b>{html.escape(self.title)}</b> ({html.escape(self.topic)} "
                f"{html.escape(self.version)})</p>")
        return head + self.summary.to_html(index=False, escape=True)


def dictionary_path(location: Path | str) -> Path:
    """``location`` itself if it is a file, else ``location/dictionary.yaml``."""
    p = Path(location)
    return p / "dictionary.yaml" if p.is_dir() else p


def load_dictionary(location: Path | str) -> Dictionary:
    """Load ``dictionary.yaml`` (or the file given); raises :class:`DictionaryError` with every
    problem located by file, line and key."""
    path = dictionary_path(location)
    from harmonise.dictionary.build import build

    doc = read_yaml(path, error=DictionaryError)
    collector = ProblemCollector(doc)
    return build(doc.data, collector, source=str(path))


def variables_of_role(dictionary: Dictionary, roles: Sequence[str]) -> tuple[Variable, ...]:
    return tuple(v for v in dictionary.variables if v.role in roles)
