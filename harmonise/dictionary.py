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

from harmonise.expressions import Expression, infer_kind, parse_expression
from harmonise.yamlio import ProblemCollector, load_schema, read_yaml, schema_problems, suggest
from repository.errors import DictionaryError, SpecError

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
        out: dict[str, Any] = {"name": self.name}
        if self.label is not None:
            out["label"] = self.label
        if self.description is not None:
            out["description"] = self.description
        out["type"] = self.type
        for key in ("role", "group"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.required:
            out["required"] = True
        if self.unique:
            out["unique"] = True
        if self.unit is not None:
            out["unit"] = self.unit
        if self.analyte is not None:
            out["analyte"] = self.analyte
        if self.categories:
            out["categories"] = [c.to_dict() for c in self.categories]
        if self.ordered:
            out["ordered"] = True
        if self.range is not None:
            out["range"] = self.range.to_dict()
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
        out: dict[str, Any] = {"name": self.name}
        for key in ("label", "description"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["kind"] = self.kind
        for key in self._REFS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


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
        out: dict[str, Any] = {"id": self.id}
        for key in ("label", "description"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
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

    # -- lookups --
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise DictionaryError(f"the dictionary {self.topic} {self.version} has no variable "
                              f"{name!r}{suggest(name, self.names)}.", variable=name)

    def __contains__(self, name: object) -> bool:
        return any(v.name == name for v in self.variables)

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def kinds(self) -> dict[str, str]:
        return {v.name: v.kind for v in self.variables}

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
        out["variables"] = [v.to_dict() for v in self.variables]
        if self.outcomes:
            out["outcomes"] = [o.to_dict() for o in self.outcomes]
        if self.rules:
            out["rules"] = [r.to_dict() for r in self.rules]
        return out

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "<dictionary>",
                  lines: Mapping[tuple[Any, ...], int] | None = None) -> Dictionary:
        """Build a dictionary from plain data; raises :class:`DictionaryError` listing every
        problem (with lines when ``lines`` maps key paths to line numbers)."""
        collector = ProblemCollector(file=file, data=data, lines=lines)
        return _build(data, collector, source=None if file.startswith("<") else file)

    # -- presentation --
    @property
    def summary(self) -> pd.DataFrame:
        """One row per variable: name, label, type, role, unit, required, categories, range."""
        rows = []
        for v in self.variables:
            rows.append({
                "name": v.name, "label": v.label or "", "type": v.type, "role": v.role or "",
                "unit": v.unit or "", "required": v.required,
                "categories": "; ".join(f"{c.code}={c.label}" + (" (missing)" if c.missing else "")
                                        for c in v.categories),
                "range": v.range.describe() if v.range else "",
            })
        return pd.DataFrame(rows, columns=["name", "label", "type", "role", "unit", "required",
                                           "categories", "range"])

    def __repr__(self) -> str:
        return (f"<Dictionary {self.topic} {self.version}: {len(self.variables)} variables, "
                f"{len(self.outcomes)} outcomes, {len(self.rules)} rules>")

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
    doc = read_yaml(path, error=DictionaryError)
    collector = ProblemCollector(doc)
    return _build(doc.data, collector, source=str(path))


# --- building and checking ----------------------------------------------------------------------

def _fail(collector: ProblemCollector) -> DictionaryError:
    n = len(collector)
    return DictionaryError(
        f"{collector.file}: {n} problem{'s' if n != 1 else ''} in the dictionary; fix "
        f"{'them all' if n != 1 else 'it'} and run `ipdrepo dictionary check` again.",
        collector.sorted(), file=collector.file)


def _text(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def _build(data: Any, col: ProblemCollector, *, source: str | None) -> Dictionary:
    schema_problems(data, load_schema("dictionary"), col.add)
    if not isinstance(data, dict):
        if not col:
            col.add((), "a dictionary file must be a mapping with format, topic, title, "
                        "version and variables")
        raise _fail(col)
    variables = _variables(data.get("variables"), col)
    by_name = {v.name: v for v in variables}
    outcomes = _outcomes(data.get("outcomes"), by_name, col)
    rules = _rules(data.get("rules"), by_name, col)
    changelog = _changelog(data.get("changelog"), col)
    version = _text(data, "version") or ""
    listed = {c.get("version") for c in data.get("changelog") or [] if isinstance(c, dict)} \
        if isinstance(data.get("changelog"), list) else set()
    if isinstance(data.get("changelog"), list) and version and version not in listed:
        col.add(("changelog",), f"no changelog entry for the current version {version}; add "
                                f"one saying what changed")
    elif "changelog" not in data and version:
        col.add(("version",), f"the dictionary has no changelog; add `changelog:` with an entry "
                              f"for version {version}")
    if col:
        raise _fail(col)
    return Dictionary(topic=data["topic"], title=data["title"], version=version,
                      description=_text(data, "description"), variables=tuple(variables),
                      changelog=tuple(changelog), outcomes=tuple(outcomes), rules=tuple(rules),
                      source=source)


def _variables(items: Any, col: ProblemCollector) -> list[Variable]:
    if not isinstance(items, list):
        return []
    out: list[Variable] = []
    first_line: dict[str, int | None] = {}
    for i, item in enumerate(items):
        path = ("variables", i)
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                item.get("type") not in VARIABLE_TYPES:
            continue  # the schema has reported it
        name = item["name"]
        if name in first_line:
            col.add(path + ("name",), f"variable {name!r} is defined twice (first on line "
                                      f"{first_line[name]}); names must be unique")
            continue
        first_line[name] = col.line(path)
        var = _variable(item, path, col)
        if var is not None:
            out.append(var)
    roles = {"id": "participant_id", "trial": "trial"}
    for role, wanted in roles.items():
        having = [(i, it) for i, it in enumerate(items)
                  if isinstance(it, dict) and it.get("role") == role]
        if not having:
            col.add(("variables",), f"no variable has role {role!r}; add `{wanted}` with "
                                    f"`role: {role}` (type {'id' if role == 'id' else 'text'})")
        for i, _ in having[1:]:
            col.add(("variables", i, "role"), f"only one variable can have role {role!r}")
        for i, it in having[:1]:
            if it.get("name") != wanted:
                col.add(("variables", i, "name"), f"the variable with role {role!r} must be "
                                                  f"named {wanted!r} (harmonised tables of every "
                                                  "topic share these keys)")
    return out


def _variable(item: dict[str, Any], path: tuple[Any, ...], col: ProblemCollector) -> Variable | None:
    vtype = item["type"]
    name = item["name"]
    categories: list[Category] = []
    raw_cats = item.get("categories")
    if raw_cats is not None and vtype != "categorical":
        col.add(path + ("categories",), f"{name} has type {vtype}; only categorical variables "
                                        "have categories (use type: categorical)")
    if vtype == "categorical":
        if not isinstance(raw_cats, list) or not raw_cats:
            if raw_cats is None:
                col.add(path, f"categorical variable {name} needs `categories:` (code and label "
                              "of every category)")
        else:
            categories = _categories(raw_cats, path + ("categories",), name, col)
    if item.get("ordered") and vtype != "categorical":
        col.add(path + ("ordered",), "`ordered` only applies to categorical variables")
    unit = _text(item, "unit")
    analyte = _text(item, "analyte")
    if unit is not None:
        if vtype not in ("integer", "decimal"):
            col.add(path + ("unit",), f"{name} has type {vtype}; only integer and decimal "
                                      "variables carry a unit")
        else:
            from harmonise import units

            try:
                u = units.unit(unit)
                if analyte is not None:
                    units.analyte(analyte)
                    if u.dimension not in ("mass_concentration", "amount_concentration"):
                        col.add(path + ("analyte",), f"an analyte only applies to "
                                                     f"concentrations, not {u.dimension}")
            except SpecError as exc:
                col.add(path + ("analyte" if "analyte" in exc.problems[0].key else "unit",),
                        exc.problems[0].message)
    elif analyte is not None:
        col.add(path + ("analyte",), "an analyte needs a `unit:` (e.g. g/dL)")
    rng = None
    if isinstance(item.get("range"), dict):
        rng = _range(item["range"], path + ("range",), name, vtype, col)
    role = item.get("role") if item.get("role") in ROLES else None
    if role == "id" and vtype != "id":
        col.add(path + ("type",), f"the participant ID variable must have type id, not {vtype}")
    if role == "trial" and vtype not in ("text", "id"):
        col.add(path + ("type",), f"the trial variable must have type text, not {vtype}")
    return Variable(
        name=name, type=vtype, label=_text(item, "label"),
        description=_text(item, "description"), role=role, group=_text(item, "group"),
        required=item.get("required") is True, unique=item.get("unique") is True,
        unit=unit, analyte=analyte, categories=tuple(categories),
        ordered=item.get("ordered") is True, range=rng)


def _categories(items: list[Any], path: tuple[Any, ...], name: str,
                col: ProblemCollector) -> list[Category]:
    out: list[Category] = []
    seen_codes: dict[Any, int] = {}
    seen_labels: dict[str, int] = {}
    kinds = set()
    for j, c in enumerate(items):
        if not isinstance(c, dict) or "code" not in c or not isinstance(c.get("label"), str):
            continue
        code = c["code"]
        if isinstance(code, bool) or not isinstance(code, (int, str)):
            continue
        kinds.add(type(code))
        key = str(code)
        if key in seen_codes:
            col.add(path + (j, "code"), f"code {code!r} of {name} is listed twice")
            continue
        if c["label"] in seen_labels:
            col.add(path + (j, "label"), f"label {c['label']!r} of {name} is used for two codes "
                                         f"({items[seen_labels[c['label']]].get('code')!r} and "
                                         f"{code!r})")
        seen_codes[key] = j
        seen_labels[c["label"]] = j
        if isinstance(code, str) and not code.strip():
            col.add(path + (j, "code"), "a category code cannot be blank")
        out.append(Category.from_dict(c))
    if len(kinds) > 1:
        col.add(path, f"the codes of {name} mix numbers and texts; use whole numbers for all "
                      "codes or quoted texts for all")
    return out


def _range(data: dict[str, Any], path: tuple[Any, ...], name: str, vtype: str,
           col: ProblemCollector) -> Range | None:
    lo, hi = data.get("min"), data.get("max")
    if vtype in ("integer", "decimal"):
        for key, v in (("min", lo), ("max", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                col.add(path + (key,), f"the range of {name} ({vtype}) needs numbers, not "
                                       f"{v!r}")
                return None
        if lo is not None and hi is not None and lo > hi:
            col.add(path, f"the range of {name} is empty: min {lo} > max {hi}")
        return Range(lo, hi)
    if vtype in ("date", "datetime"):
        parsed = {}
        for key, v in (("min", lo), ("max", hi)):
            if v is None:
                continue
            try:
                if not isinstance(v, str):
                    raise ValueError
                parsed[key] = dt.date.fromisoformat(v)
            except ValueError:
                col.add(path + (key,), f"the range of {name} (a date) needs ISO dates "
                                       f"(YYYY-MM-DD), not {v!r}")
                return None
        if len(parsed) == 2 and parsed["min"] > parsed["max"]:
            col.add(path, f"the range of {name} is empty: min {lo} > max {hi}")
        return Range(lo, hi)
    col.add(path, f"{name} has type {vtype}; a range only applies to integer, decimal and date "
                  "variables")
    return None


def _outcomes(items: Any, by_name: Mapping[str, Variable], col: ProblemCollector) -> list[Outcome]:
    if not isinstance(items, list):
        return []
    out: list[Outcome] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = ("outcomes", i)
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                item.get("kind") not in OUTCOME_KINDS:
            continue
        name, kind = item["name"], item["kind"]
        if name in seen:
            col.add(path + ("name",), f"outcome {name!r} is defined twice")
            continue
        seen.add(name)
        refs: dict[str, str] = {k: item[k] for k in Outcome._REFS if isinstance(item.get(k), str)}
        for key, ref in refs.items():
            if ref not in by_name:
                col.add(path + (key,), f"outcome {name}: {key} refers to {ref!r}, which is not a "
                                       f"dictionary variable{suggest(ref, by_name)}")
        allowed = {"time_to_event": {"time", "event", "origin", "event_date", "censor_date"},
                   "binary": {"variable"}, "count": {"variable"},
                   "continuous": {"variable", "baseline"}}[kind]
        for key in refs:
            if key not in allowed:
                col.add(path + (key,), f"a {kind} outcome has no {key!r}; use "
                                       f"{', '.join(sorted(allowed))}")

        def var(key: str, refs: dict[str, Any] = refs) -> Variable | None:
            return by_name.get(refs.get(key, ""))

        if kind == "time_to_event":
            has_pair = "time" in refs and "event" in refs
            has_dates = "origin" in refs and "event_date" in refs
            if not (has_pair or has_dates):
                col.add(path, f"time-to-event outcome {name} needs `time` and `event` variables, "
                              "or `origin` and `event_date` (plus `censor_date`) dates")
            if ("time" in refs) != ("event" in refs):
                col.add(path, f"outcome {name}: give both `time` and `event`, or neither")
            t = var("time")
            if t is not None and t.type not in ("integer", "decimal"):
                col.add(path + ("time",), f"{t.name} is {t.type}; a time must be a number")
            e = var("event")
            if e is not None and not _is_binary(e):
                col.add(path + ("event",), f"{e.name} must be boolean or have the codes 0 and 1 "
                                           "to be an event indicator")
            for key in ("origin", "event_date", "censor_date"):
                d = var(key)
                if d is not None and d.type not in ("date", "datetime"):
                    col.add(path + (key,), f"{d.name} is {d.type}; {key} must be a date")
        else:
            if "variable" not in refs:
                col.add(path, f"{kind} outcome {name} needs `variable`")
            v = var("variable")
            if v is not None:
                if kind == "binary" and not _is_binary(v):
                    col.add(path + ("variable",), f"{v.name} must be boolean or a 0/1 "
                                                  "categorical to be a binary outcome")
                if kind in ("continuous", "count") and v.type not in ("integer", "decimal"):
                    col.add(path + ("variable",), f"{v.name} is {v.type}; a {kind} outcome "
                                                  "needs a number")
            b = var("baseline")
            if b is not None and b.type not in ("integer", "decimal"):
                col.add(path + ("baseline",), f"{b.name} is {b.type}; a baseline must be a "
                                              "number")
        out.append(Outcome(name=name, kind=kind, label=_text(item, "label"),
                           description=_text(item, "description"), **refs))
    return out


def _is_binary(v: Variable) -> bool:
    if v.type == "boolean":
        return True
    if v.type in ("categorical", "integer"):
        codes = {c.code for c in v.categories if not c.missing}
        return v.type == "integer" or codes == {0, 1}
    return False


def _rules(items: Any, by_name: Mapping[str, Variable], col: ProblemCollector) -> list[CrossRule]:
    if not isinstance(items, list):
        return []
    kinds = {n: v.kind for n, v in by_name.items()}
    out: list[CrossRule] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = ("rules", i)
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or \
                not isinstance(item.get("assert"), str):
            continue
        rid = item["id"]
        if rid in seen:
            col.add(path + ("id",), f"rule id {rid!r} is used twice")
            continue
        seen.add(rid)
        exprs: dict[str, Expression] = {}
        for key in ("when", "assert"):
            text = item.get(key)
            if not isinstance(text, str):
                continue
            try:
                expr = parse_expression(text)
            except SpecError as exc:
                col.add(path + (key,), exc.problems[0].message)
                continue
            if expr.columns:
                col.add(path + (key,), f"rule {rid} reads raw column(s) "
                                       f"{', '.join('$' + c for c in expr.columns)}; dictionary "
                                       "rules only see harmonised variables (write their names "
                                       "without $)")
            unknown = [v for v in expr.variables if v not in by_name]
            for v in unknown:
                col.add(path + (key,), f"rule {rid} refers to {v!r}, which is not a dictionary "
                                       f"variable{suggest(v, by_name)}")
            if not unknown:
                kind, clashes = infer_kind(expr, kinds)
                for message in clashes:
                    col.add(path + (key,), f"rule {rid}: {message}")
                if not clashes and kind not in ("bool", "any"):
                    col.add(path + (key,), f"rule {rid} must be a condition (true/false), but "
                                           f"`{text}` gives a {kind}")
            exprs[key] = expr
        if "assert" not in exprs:
            continue
        out.append(CrossRule(id=rid, expression=exprs["assert"], when=exprs.get("when"),
                             label=_text(item, "label"), description=_text(item, "description"),
                             severity=item.get("severity", "error")
                             if item.get("severity") in ("error", "warning") else "error"))
    return out


def _changelog(items: Any, col: ProblemCollector) -> list[ChangelogEntry]:
    if not isinstance(items, list):
        return []
    out: list[ChangelogEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = ("changelog", i)
        if not isinstance(item, dict) or not isinstance(item.get("version"), str) or \
                not isinstance(item.get("date"), str) or not isinstance(item.get("changes"), list):
            continue
        try:
            date = dt.date.fromisoformat(item["date"])
        except ValueError:
            col.add(path + ("date",), f"{item['date']!r} is not a real date (YYYY-MM-DD)")
            continue
        if item["version"] in seen:
            col.add(path + ("version",), f"version {item['version']} has two changelog entries")
        seen.add(item["version"])
        out.append(ChangelogEntry(version=item["version"], date=date,
                                  changes=tuple(str(c) for c in item["changes"])))
    return out


def variables_of_role(dictionary: Dictionary, roles: Sequence[str]) -> tuple[Variable, ...]:
    return tuple(v for v in dictionary.variables if v.role in roles)
