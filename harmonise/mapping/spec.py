"""Per-trial mappings: the mapping spec object and its loader (the rules: harmonise.mapping.rules).

A mapping (``dictionaries/<topic>/mappings/<dictionary version>/<TRIAL>.yaml``, format
``ipdrepo-mapping/1``, documented in docs/mapping-format.md, JSON Schema in
``harmonise/schemas/mapping.schema.json``) says, for every dictionary variable, how one trial's
delivery becomes that variable. The rule types cover Maelstrom's Rmonize Data Processing
Elements:

================  =====================================================  ==================
rule              what it does                                           Rmonize DPE
================  =====================================================  ==================
``id_creation``   the column holding the trial's participant IDs         id_creation
``direct``        take a column as it is (rename), typed to the variable direct_mapping
``recode``        map each raw code to a dictionary code                 recode
``case_when``     first matching condition over several inputs           case_when
``operation``     a safe arithmetic / date expression                    operation
``unit``          convert a measurement to the dictionary's unit         operation
``date``          parse a date column with an explicit format            operation
``derive``        a named derivation (days between dates, age ...)       operation
``constant``      the same value for every participant                   paste
``impossible``    the trial did not collect it                           impossible
``undetermined``  needs investigation; does not block                    undetermined
================  =====================================================  ==================

Every rule has a ``status`` (complete / impossible / undetermined; implied by the rule type
unless given) and an optional ``comment``. Loading collects every problem (structure via the JSON
Schema, then meaning against the dictionary: unknown or unmapped variables, codes outside the
dictionary's categories, impossible unit conversions, unknown derivations, expressions that do
not parse or mix types, dependency cycles) and raises one
:class:`~repository.errors.MappingError` listing them with file, line and key.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harmonise.dictionary.spec import Dictionary
from harmonise.dictionary.tables import PARTICIPANTS
from harmonise.expressions.language import Expression, parse_expression
from harmonise.mapping.datasets import DatasetSpec, TableMapping
from harmonise.mapping.derivations import DERIVATIONS, Derivation
from harmonise.mapping.relational_build import (
    build_aggregate,
    build_datasets,
    build_tables,
    check_references,
    check_tables,
)
from harmonise.mapping.rule_checks import check_against
from harmonise.mapping.rules import (
    COMBINERS,
    RULE_TYPES,
    STATUSES,
    Aggregate,
    Case,
    CaseWhen,
    ColumnRef,
    CombinedRef,
    Constant,
    DateParse,
    Derive,
    Direct,
    ExpressionRef,
    IdCreation,
    Operation,
    Recode,
    Ref,
    Rule,
    Scalar,
    UnitConversion,
    VariableRef,
)
from harmonise.values.dates import check_format
from harmonise.values.partial_dates import check_impute
from harmonise.yamlio import (
    ProblemCollector,
    line_of,
    load_schema,
    read_yaml,
    schema_problems,
    suggest,
)
from repository.errors import MappingError, SpecError

#: the rule spec objects (``Direct``, ``Recode`` ...) and value references are in
#: :mod:`harmonise.mapping.rules`
__all__ = [
    "FORMAT",
    "STATUSES",
    "RULE_TYPES",
    "Rule",
    "Source",
    "SpecOrigin",
    "DatasetSpec",
    "TableMapping",
    "Mapping",
    "load_mapping",
    "mapping_path",
    "dependency_order",
]

FORMAT = "ipdrepo-mapping/1"


# --- the mapping ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """How the trial's delivery reads: which dataset, the ID column, missing-value codes that
    apply to every column, the decimal mark and digit-group separator of numbers in text."""

    dataset: str = "main"
    id_column: str | None = None
    missing_codes: tuple[Scalar, ...] = ()
    decimal: str = "."
    thousands: str | None = None
    read_options: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset}
        if self.id_column is not None:
            out["id_column"] = self.id_column
        if self.missing_codes:
            out["missing_codes"] = list(self.missing_codes)
        if self.decimal != ".":
            out["decimal"] = self.decimal
        if self.thousands is not None:
            out["thousands"] = self.thousands
        if self.read_options:
            out["read_options"] = dict(self.read_options)
        return out


@dataclass(frozen=True)
class SpecOrigin:
    """Where a spec was read from: file and the line of every key path."""

    file: str
    lines: MappingABC[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def line(self, path: Sequence[Any]) -> int | None:
        return line_of(self.lines, path)


@dataclass(frozen=True)
class Mapping:
    """One trial's mapping onto one dictionary version (immutable)."""

    trial: str
    dictionary: str
    dictionary_version: str
    rules: tuple[Rule, ...]
    source: Source = field(default_factory=Source)
    description: str | None = None
    origin: SpecOrigin | None = field(default=None, compare=False, repr=False)
    #: the datasets read besides the base dataset (harmonise.mapping.datasets)
    datasets: tuple[DatasetSpec, ...] = ()
    #: the mappings of the dictionary's long tables
    tables: tuple[TableMapping, ...] = ()
    #: which table these rules make: ``participants``, or a long table (see :meth:`for_table`)
    table_name: str = PARTICIPANTS
    #: the key path of this table's mapping in the file (``("tables", NAME)`` for a long table)
    path_prefix: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, variable: object) -> bool:
        return any(r.variable == variable for r in self.rules)

    def rule(self, variable: str) -> Rule:
        for r in self.rules:
            if r.variable == variable:
                return r
        raise MappingError(f"the mapping of {self.trial} has no rule for {variable!r}"
                           f"{suggest(variable, [r.variable for r in self.rules])}.",
                           trial=self.trial, variable=variable)

    @property
    def id_rule(self) -> IdCreation | None:
        for r in self.rules:
            if isinstance(r, IdCreation):
                return r
        return None

    @property
    def id_column(self) -> str | None:
        rule = self.id_rule
        return rule.column if rule is not None else self.source.id_column

    @property
    def file(self) -> str:
        return self.origin.file if self.origin is not None else f"<mapping {self.trial}>"

    def line(self, *path: Any) -> int | None:
        """The line of ``variables.<name>...`` (or any key path) in the mapping file."""
        return self.origin.line(self.path_prefix + path) if self.origin is not None else None

    # -- datasets and tables --
    @property
    def drafts(self) -> tuple[Rule, ...]:
        """Rules proposed by ``ipdrepo mapping draft`` and not confirmed yet (every table)."""
        return tuple(r for r in self.rules + tuple(r for t in self.tables for r in t.rules)
                     if r.draft is not None)

    def dataset(self, name: str) -> DatasetSpec | None:
        """The declared dataset ``name`` (the base dataset as a one-to-one dataset)."""
        if name == self.source.dataset:
            return DatasetSpec(name=name, dataset=name, join="one-to-one",
                               id_column=self.id_column)
        for d in self.datasets:
            if d.name == name:
                return d
        return None

    def stored_datasets(self) -> tuple[str, ...]:
        """The trial's datasets (as delivered) this mapping reads: the base dataset first."""
        return tuple(dict.fromkeys([self.source.dataset] + [d.dataset for d in self.datasets]))

    def table(self, name: str) -> TableMapping | None:
        for t in self.tables:
            if t.table == name:
                return t
        return None

    def for_table(self, name: str) -> Mapping:
        """The mapping of long table ``name`` as a mapping of its own: its rules over its
        dataset's rows (``participant_id`` from the dataset's ID column)."""
        if name == self.table_name:
            return self
        tm = self.table(name)
        if tm is None or tm.dataset is None:
            return replace(self, rules=(), table_name=name, tables=(),
                           path_prefix=("tables", name))
        spec = self.dataset(tm.dataset)
        id_column = (spec.id_column if spec is not None and spec.id_column else self.id_column)
        rules = tm.rules
        if not any(isinstance(r, IdCreation) for r in rules):
            rules = (IdCreation(variable="participant_id", column=id_column or ""),) + rules
        return replace(self, rules=rules, tables=(), table_name=name,
                       source=replace(self.source, dataset=tm.dataset, id_column=id_column),
                       path_prefix=("tables", name))

    def columns(self) -> tuple[str, ...]:
        """Every raw column the mapping reads, in rule order."""
        return tuple(dict.fromkeys(c for r in self.rules for c in r.columns()))

    def order(self) -> tuple[Rule, ...]:
        """The rules in evaluation order (a rule after the variables it reads)."""
        return dependency_order(self.rules)

    def lineage(self, variable: str) -> tuple[str, ...]:
        """Every harmonised variable ``variable`` is computed from, through derived variables
        (nearest first; ``variable`` itself not included)."""
        out: list[str] = []
        todo = [variable]
        while todo:
            name = todo.pop(0)
            if name not in self:
                continue
            for v in self.rule(name).variables():
                if v != variable and v not in out:
                    out.append(v)
                    todo.append(v)
        return tuple(out)

    def source_columns(self, variable: str) -> tuple[str, ...]:
        """Every raw column behind a harmonised variable: those its rule reads, then those of
        the variables it is computed from (:meth:`lineage`), each once."""
        if variable not in self:
            return ()
        cols = list(self.rule(variable).columns())
        for v in self.lineage(variable):
            cols += [c for c in self.rule(v).columns() if c not in cols]
        return tuple(dict.fromkeys(cols))

    def date_format(self) -> str | None:
        """The layout the trial writes its dates in (the first text date format of its date
        rules), or None when its dates are native date cells."""
        for rule in self.rules:
            fmt = getattr(rule, "format", None)
            if isinstance(fmt, str) and fmt not in ("native", "iso") and "%" in fmt \
                    and "%d" in fmt and "%m" in fmt:
                return fmt
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "trial": self.trial,
                               "dictionary": self.dictionary,
                               "dictionary_version": self.dictionary_version}
        if self.description is not None:
            out["description"] = self.description
        out["source"] = self.source.to_dict()
        if self.datasets:
            out["datasets"] = {d.name: d.to_dict() for d in self.datasets}
        out["variables"] = {r.variable: r.to_dict() for r in self.rules}
        if self.tables:
            out["tables"] = {t.table: t.to_dict() for t in self.tables}
        return out

    @classmethod
    def from_dict(cls, data: Any, *, dictionary: Dictionary | None = None,
                  file: str = "<mapping>",
                  lines: MappingABC[tuple[Any, ...], int] | None = None,
                  drafts: bool = False) -> Mapping:
        """Build a mapping from plain data, checking it against ``dictionary`` when given;
        raises :class:`MappingError` listing every problem (rules still marked ``draft:`` are
        problems unless ``drafts``)."""
        collector = ProblemCollector(file=file, data=data, lines=lines)
        return _build(data, collector, dictionary, SpecOrigin(file, dict(lines or {})),
                      drafts=drafts)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per rule: variable, rule, status, columns, variables, description, comment."""
        rows = [{"variable": r.variable, "rule": r.rule, "status": r.status,
                 "columns": ", ".join(r.columns()), "variables": ", ".join(r.variables()),
                 "description": r.describe(), "comment": r.comment or ""} for r in self.rules]
        return pd.DataFrame(rows, columns=["variable", "rule", "status", "columns", "variables",
                                           "description", "comment"])

    def __repr__(self) -> str:
        counts = pd.Series([r.status for r in self.rules]).value_counts().to_dict()
        return (f"<Mapping {self.trial} -> {self.dictionary} {self.dictionary_version}: "
                f"{len(self.rules)} rules {counts}>")

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.trial)}</b> &rarr; {html.escape(self.dictionary)} "
                f"{html.escape(self.dictionary_version)}</p>" +
                self.summary.to_html(index=False, escape=True))


def mapping_path(dictionary_dir: Path | str, version: str, trial: str) -> Path:
    """``<dictionary_dir>/mappings/<version>/<trial>.yaml``."""
    return Path(dictionary_dir) / "mappings" / version / f"{trial}.yaml"


def load_mapping(path: Path | str, dictionary: Dictionary | None = None, *,
                 drafts: bool = False) -> Mapping:
    """Load a mapping file, checked against ``dictionary`` when given; raises
    :class:`MappingError` with every problem located by file, line and key. A rule still
    marked ``draft:`` (proposed by ``ipdrepo mapping draft``) is a problem unless ``drafts``."""
    doc = read_yaml(path, error=MappingError)
    collector = ProblemCollector(doc)
    return _build(doc.data, collector, dictionary, SpecOrigin(doc.file, dict(doc.lines)),
                  drafts=drafts)


def dependency_order(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """Rules sorted so that each comes after the rules of the variables it reads; ties keep
    the given order. Raises :class:`MappingError` on a cycle."""
    by_var = {r.variable: r for r in rules}
    deps = {r.variable: [v for v in r.variables() if v in by_var] for r in rules}
    done: list[Rule] = []
    placed: set[str] = set()
    remaining = [r.variable for r in rules]
    while remaining:
        progress = False
        for name in list(remaining):
            if all(d in placed for d in deps[name]):
                done.append(by_var[name])
                placed.add(name)
                remaining.remove(name)
                progress = True
                break
        if not progress:
            cycle = _find_cycle(deps, remaining)
            raise MappingError(f"the rules of {' -> '.join(cycle)} depend on each other in a "
                               "cycle; break it by computing one of them from raw columns.",
                               variables=cycle)
    return tuple(done)


def _find_cycle(deps: MappingABC[str, list[str]], names: Sequence[str]) -> list[str]:
    remaining = set(names)
    for start in names:
        path = [start]
        seen = {start}
        node = start
        while True:
            nxt = next((d for d in deps[node] if d in remaining), None)
            if nxt is None:
                break
            if nxt in seen:
                return path[path.index(nxt):] + [nxt]
            path.append(nxt)
            seen.add(nxt)
            node = nxt
    return list(names)


# --- building and checking --------------------------------------------------------------------

def _fail(col: ProblemCollector, trial: str | None) -> MappingError:
    n = len(col)
    who = f" of {trial}" if trial else ""
    return MappingError(
        f"{col.file}: {n} problem{'s' if n != 1 else ''} in the mapping{who}; fix "
        f"{'them all' if n != 1 else 'it'} and run `ipdrepo mapping check` again.",
        col.sorted(), file=col.file, trial=trial)


def _text(d: MappingABC[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def _scalars(value: Any) -> tuple[Scalar, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, (int, float, str, bool)))


def _round(d: MappingABC[str, Any]) -> int | None:
    v = d.get("round")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class _Builder:
    def __init__(self, col: ProblemCollector, dictionary: Dictionary | None) -> None:
        self.col = col
        self.dictionary = dictionary
        #: the key path of the rules being built: () for the participant table's ``variables``,
        #: ("tables", NAME) for a long table's
        self.prefix: tuple[Any, ...] = ()

    def expression(self, text: Any, path: tuple[Any, ...]) -> Expression | None:
        if not isinstance(text, str):
            return None
        try:
            return parse_expression(text)
        except SpecError as exc:
            self.col.add(path, exc.problems[0].message)
            return None

    def ref(self, data: Any, path: tuple[Any, ...]) -> Ref | None:
        if isinstance(data, str):
            return VariableRef(data)
        if isinstance(data, dict) and "column" in data:
            return self._column_ref(data, path)
        if isinstance(data, dict) and len(data) == 1:
            (how, inner), = data.items()
            if how in COMBINERS and isinstance(inner, list) and inner:
                refs = [self.ref(item, path + (how, i)) for i, item in enumerate(inner)]
                if any(r is None for r in refs):
                    return None
                return CombinedRef(how, tuple(refs))  # type: ignore[arg-type]
            if how == "expression":
                expr = self.expression(inner, path + ("expression",))
                return ExpressionRef(expr) if expr is not None else None
        self.col.add(path, "a value is a harmonised variable name, {column: NAME[, format: F]}, "
                           "{coalesce|earliest|latest: [...]} or {expression: \"...\"}")
        return None

    def _column_ref(self, data: dict[str, Any], path: tuple[Any, ...]) -> ColumnRef | None:
        extra = set(data) - {"column", "format", "impute"}
        if extra or not isinstance(data["column"], str):
            self.col.add(path, "a column reference is {column: NAME} with an optional "
                               "format: and impute: (for dates)")
            return None
        fmt = data.get("format")
        if fmt is not None:
            why = check_format(fmt)
            if why:
                self.col.add(path + ("format",), why)
                return None
        impute = data.get("impute")
        if impute is not None:
            why = check_impute(impute)
            if why or fmt != "iso8601":
                self.col.add(path + ("impute",), why or "impute: applies to partial "
                                                       "dates: add `format: iso8601`")
                return None
        return ColumnRef(data["column"], fmt, impute)

    def rules(self, variables: Any) -> list[Rule]:
        """The rules of a ``variables:`` block (under :attr:`prefix`) that could be built."""
        rules: list[Rule] = []
        if isinstance(variables, dict):
            for name, rule_data in variables.items():
                if isinstance(name, str) and isinstance(rule_data, dict):
                    rule = self.rule(name, rule_data)
                    if rule is not None:
                        rules.append(rule)
        return rules

    def rule(self, name: str, data: dict[str, Any]) -> Rule | None:
        path = self.prefix + ("variables", name)
        kind = data.get("rule")
        cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            return None  # reported by the schema
        status = data.get("status") if data.get("status") in STATUSES else ""
        common: dict[str, Any] = {"variable": name, "status": status,
                                  "comment": _text(data, "comment"),
                                  "draft": _text(data, "draft")}
        if cls is not Aggregate:
            common["dataset"] = _text(data, "dataset")
        self._check_status(str(kind), str(status), path)
        build = _RULE_BUILDERS.get(cls)
        try:
            if build is None:
                return cls(**common)
            return build(self, name, data, common, path)
        except TypeError:  # pragma: no cover - the schema guards the shapes
            return None

    def _check_status(self, kind: str, status: str, path: tuple[Any, ...]) -> None:
        """``status`` agrees with the rule type (impossible and undetermined rules)."""
        if kind == "impossible" and status not in ("", "impossible"):
            self.col.add(path + ("status",), "an impossible rule has status impossible")
        elif kind == "undetermined" and status not in ("", "undetermined"):
            self.col.add(path + ("status",), "an undetermined rule has status undetermined")
        elif kind not in ("impossible", "undetermined") and status == "impossible":
            self.col.add(path + ("status",), f"status impossible needs `rule: impossible` (a "
                                             f"{kind} rule maps data)")

    # each: one rule type from its YAML (``common``: the keys every rule has)
    def _id_creation(self, name: str, data: dict[str, Any], common: dict[str, Any],
                     path: tuple[Any, ...]) -> IdCreation:
        return IdCreation(column=_text(data, "column") or "", **common)

    def _direct(self, name: str, data: dict[str, Any], common: dict[str, Any],
                path: tuple[Any, ...]) -> Direct:
        return Direct(column=_text(data, "column") or "", missing=_scalars(data.get("missing")),
                      round=_round(data), **common)

    def _operation(self, name: str, data: dict[str, Any], common: dict[str, Any],
                   path: tuple[Any, ...]) -> Operation | None:
        expr = self.expression(data.get("expression"), path + ("expression",))
        return Operation(expression=expr, round=_round(data), **common) if expr else None

    def _unit(self, name: str, data: dict[str, Any], common: dict[str, Any],
              path: tuple[Any, ...]) -> UnitConversion:
        return UnitConversion(column=_text(data, "column") or "",
                              source_unit=str(data.get("from", "")),
                              target_unit=_text(data, "to"), analyte=_text(data, "analyte"),
                              missing=_scalars(data.get("missing")), round=_round(data),
                              **common)

    def _date_parse(self, name: str, data: dict[str, Any], common: dict[str, Any],
                    path: tuple[Any, ...]) -> DateParse:
        fmt = data.get("format")
        why = check_format(fmt) if fmt is not None else None
        if why:
            self.col.add(path + ("format",), why)
        impute = _text(data, "impute")
        if impute is not None and (check_impute(impute) or fmt != "iso8601"):
            self.col.add(path + ("impute",), check_impute(impute) or
                         "impute: applies to partial dates: use `format: iso8601`")
        return DateParse(column=_text(data, "column") or "", format=str(fmt or ""),
                         missing=_scalars(data.get("missing")), impute=impute, **common)

    def _aggregate(self, name: str, data: dict[str, Any], common: dict[str, Any],
                   path: tuple[Any, ...]) -> Aggregate | None:
        return build_aggregate(self, name, data, common, path)

    def _constant(self, name: str, data: dict[str, Any], common: dict[str, Any],
                  path: tuple[Any, ...]) -> Constant:
        return Constant(value=data.get("value"), **common)

    def _recode(self, name: str, data: dict[str, Any], common: dict[str, Any],
                path: tuple[Any, ...]) -> Recode | None:
        raw_map = data.get("map")
        if not isinstance(raw_map, dict):
            return None
        seen: dict[str, Any] = {}
        pairs = []
        ignore_case = data.get("ignore_case") is True
        for key, value in raw_map.items():
            canon = str(key).strip()
            canon = canon.lower() if ignore_case else canon
            if canon in seen:
                self.col.add(path + ("map", key), f"the raw code {key!r} is mapped twice "
                                                  f"(also as {seen[canon]!r})")
                continue
            seen[canon] = key
            pairs.append((key, value))
        missing = _scalars(data.get("missing"))
        overlap = [m for m in missing if (str(m).lower() if ignore_case else str(m)) in seen]
        for m in overlap:
            self.col.add(path + ("missing",), f"{m!r} is both mapped and declared missing; "
                                              "keep one")
        other = data.get("else", "error")
        otherwise, other_value = "error", None
        if other in ("error", "missing"):
            otherwise = other
        elif isinstance(other, dict) and "value" in other:
            otherwise, other_value = "value", other["value"]
        elif isinstance(other, (int, float, str, bool)):
            otherwise, other_value = "value", other
        return Recode(column=_text(data, "column") or "", map=tuple(pairs), missing=missing,
                      otherwise=otherwise, otherwise_value=other_value,
                      ignore_case=ignore_case, **common)

    def _case_when(self, name: str, data: dict[str, Any], common: dict[str, Any],
                   path: tuple[Any, ...]) -> CaseWhen | None:
        cases = []
        ok = True
        for i, item in enumerate(data.get("cases") or []):
            if not isinstance(item, dict):
                ok = False
                continue
            when = self.expression(item.get("when"), path + ("cases", i, "when"))
            if "expression" in item and "value" in item:
                self.col.add(path + ("cases", i), "give either `value` or `expression`, not both")
                ok = False
                continue
            if "expression" not in item and "value" not in item:
                self.col.add(path + ("cases", i), "a case needs `value` (a literal) or "
                                                  "`expression`")
                ok = False
                continue
            expr = None
            if "expression" in item:
                expr = self.expression(item["expression"], path + ("cases", i, "expression"))
                if expr is None:
                    ok = False
            if when is None:
                ok = False
                continue
            cases.append(Case(when=when, value=item.get("value"), expression=expr))
        other = data.get("else")
        other_expr = None
        other_value = None
        if isinstance(other, dict):
            other_expr = self.expression(other.get("expression"), path + ("else", "expression"))
            if other_expr is None:
                ok = False
        else:
            other_value = other
        if not ok or not cases:
            return None
        return CaseWhen(cases=tuple(cases), otherwise_value=other_value,
                        otherwise_expression=other_expr, **common)

    def _derive(self, name: str, data: dict[str, Any], common: dict[str, Any],
                path: tuple[Any, ...]) -> Derive | None:
        fn = data.get("function")
        derivation = DERIVATIONS.get(fn) if isinstance(fn, str) else None
        if derivation is None:
            return None  # the schema reports unknown functions
        args: list[tuple[str, Ref | str | int]] = []
        ok = True
        reserved = {"rule", "status", "comment", "function", "round", "draft", "dataset"}
        for key, value in data.items():
            if key in reserved:
                continue
            arg = self._derive_arg(derivation, key, value, path + (key,))
            if arg is None:
                ok = False
            else:
                args.append((key, arg))
        given = {k for k, _ in args}
        for p in derivation.params:
            if p.required and p.name not in given and p.name not in data:
                self.col.add(path, f"{fn} needs `{p.name}` ({p.doc})")
                ok = False
        if not ok:
            return None
        order = [p.name for p in derivation.params]
        args.sort(key=lambda kv: order.index(kv[0]))
        return Derive(function=derivation.name, args=tuple(args), round=_round(data), **common)

    def _derive_arg(self, derivation: Derivation, key: str, value: Any,
                    path: tuple[Any, ...]) -> Ref | str | int | None:
        """The argument ``key`` of a derivation, or None (the problem reported)."""
        param = derivation.param(key)
        if param is None:
            self.col.add(path, f"{derivation.name} has no parameter {key!r}"
                               f"{suggest(key, [p.name for p in derivation.params])}; "
                               f"its parameters: {', '.join(p.name for p in derivation.params)}")
            return None
        if param.kind == "option":
            if value not in param.choices:
                self.col.add(path, f"{key} must be one of {', '.join(param.choices)}, not "
                                   f"{value!r}")
                return None
            return str(value)
        if param.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                self.col.add(path, f"{key} must be a whole number, not {value!r}")
                return None
            return value
        if param.kind == "unit":
            return self._time_unit(key, value, path)
        return self.ref(value, path)

    def _time_unit(self, key: str, value: Any, path: tuple[Any, ...]) -> str | None:
        """A derivation's unit of time (``months``), or None (the problem reported)."""
        if not isinstance(value, str):
            self.col.add(path, f"{key} must be a unit such as months")
            return None
        from harmonise.values import units

        try:
            u = units.unit(value)
        except SpecError as exc:
            self.col.add(path, exc.problems[0].message)
            return None
        if u.dimension != "time":
            self.col.add(path, f"{value} is a unit of {u.dimension}, not of time")
            return None
        return value


#: how each rule type with parameters of its own is built (the others: ``cls(**common)``)
_RULE_BUILDERS: dict[type, Callable[..., Rule | None]] = {
    IdCreation: _Builder._id_creation,
    Direct: _Builder._direct,
    Recode: _Builder._recode,
    CaseWhen: _Builder._case_when,
    Operation: _Builder._operation,
    UnitConversion: _Builder._unit,
    DateParse: _Builder._date_parse,
    Aggregate: _Builder._aggregate,
    Derive: _Builder._derive,
    Constant: _Builder._constant,
}


def _build(data: Any, col: ProblemCollector, dictionary: Dictionary | None,
           origin: SpecOrigin, *, drafts: bool = False) -> Mapping:
    schema_problems(data, load_schema("mapping"), col.add)
    if not isinstance(data, dict):
        if not col:
            col.add((), "a mapping file must be a mapping with format, trial, dictionary, "
                        "dictionary_version, source and variables")
        raise _fail(col, None)
    trial = _text(data, "trial")
    builder = _Builder(col, dictionary)
    variables = data.get("variables")
    rules = builder.rules(variables)
    source = _build_source(data["source"] if isinstance(data.get("source"), dict) else {})
    datasets = build_datasets(builder, data.get("datasets"), source)
    tables = build_tables(builder, data.get("tables"), datasets, source)
    if source.thousands is not None and source.thousands == source.decimal:
        col.add(("source", "thousands"), "the digit-group separator cannot be the decimal mark")
    if isinstance(variables, dict):
        _check_id_rules(col, rules, source)
    check_references(builder, rules, datasets, tables, source)
    if not drafts:
        _check_drafts(col, trial, rules, tables)
    if dictionary is not None and isinstance(variables, dict):
        check_against(data, rules, dictionary, col)
        check_tables(builder, data, rules, tables, dictionary)
    if not col:
        _check_order(col, rules)
    if col:
        raise _fail(col, trial)
    return Mapping(trial=data["trial"], dictionary=data["dictionary"],
                   dictionary_version=str(data["dictionary_version"]), rules=tuple(rules),
                   source=source, description=_text(data, "description"), origin=origin,
                   datasets=tuple(datasets), tables=tuple(tables))


def _build_source(src: dict[str, Any]) -> Source:
    options = src.get("read_options")
    return Source(dataset=_text(src, "dataset") or "main", id_column=_text(src, "id_column"),
                  missing_codes=_scalars(src.get("missing_codes")),
                  decimal=_text(src, "decimal") or ".", thousands=_text(src, "thousands"),
                  read_options=tuple((str(k), v) for k, v in options.items())
                  if isinstance(options, dict) else ())


def _check_id_rules(col: ProblemCollector, rules: list[Rule], source: Source) -> None:
    """One id_creation rule, reading the source's ID column when it names one."""
    id_rules = [r for r in rules if isinstance(r, IdCreation)]
    if not id_rules:
        col.add(("variables",), "no id_creation rule: add `participant_id: {rule: "
                                "id_creation, column: <the ID column>}`")
    for r in id_rules[1:]:
        col.add(("variables", r.variable), "only one id_creation rule is allowed")
    if id_rules and source.id_column is not None and source.id_column != id_rules[0].column:
        col.add(("source", "id_column"), f"source.id_column {source.id_column!r} differs from "
                                         f"the id_creation column {id_rules[0].column!r}")


def _check_drafts(col: ProblemCollector, trial: str | None, rules: list[Rule],
                  tables: list[TableMapping]) -> None:
    """Every rule still marked ``draft:`` is a problem."""
    for prefix, rs in [((), rules)] + [(("tables", t.table), list(t.rules)) for t in tables]:
        for proposed in rs:
            if proposed.draft is not None:
                name = proposed.variable
                col.add(prefix + ("variables", name, "draft"),
                        f"{name}: proposed by `ipdrepo mapping draft` and not confirmed "
                        f"({proposed.draft}); check the rule, then delete its `draft:` line "
                        f"(or run `ipdrepo mapping confirm {trial or 'TRIAL'} {name}`)")


def _check_order(col: ProblemCollector, rules: list[Rule]) -> None:
    """The rules depend on each other without a cycle."""
    try:
        dependency_order(rules)
    except MappingError as exc:
        for v in exc.context.get("variables", []):
            col.add(("variables", v), exc.message)
            break
