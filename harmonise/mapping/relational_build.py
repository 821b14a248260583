"""Building the relational parts of a mapping from YAML: ``datasets:``, ``tables:`` and
``aggregate`` rules, and checking them (against each other and against the dictionary).

Called by the mapping loader (:mod:`harmonise.mapping.spec`) with its rule builder; every problem
goes to the builder's collector, located by key path (the formats are documented in
:mod:`harmonise.mapping.datasets` and docs/mapping-format.md).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.expressions.kinds import infer_kind
from harmonise.mapping.datasets import JOINS, DatasetSpec, TableMapping
from harmonise.mapping.rule_checks import check_against
from harmonise.mapping.rules import (
    COMBINABLE,
    STATUSES,
    TAKES,
    Aggregate,
    AggregateSource,
    ColumnRef,
    IdCreation,
    Rule,
    VariableRef,
)
from harmonise.yamlio import suggest

if TYPE_CHECKING:
    from harmonise.mapping.spec import Source, _Builder

__all__ = ["build_datasets", "build_tables", "build_aggregate", "check_references",
           "check_tables"]

_SOURCE_KEYS = ("dataset", "table", "value", "where", "order_by", "at", "on_or_after",
                "on_or_before")


def _text(d: MappingABC[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def build_datasets(b: _Builder, data: Any, source: Source) -> list[DatasetSpec]:
    """The ``datasets:`` block."""
    out: list[DatasetSpec] = []
    if not isinstance(data, dict):
        return out
    for name, item in data.items():
        path = ("datasets", name)
        if not isinstance(name, str) or not isinstance(item, dict):
            continue  # the schema has reported it
        if name == source.dataset:
            b.col.add(path, f"{name} is the base dataset (source.dataset); it needs no entry "
                            "under datasets:")
            continue
        join = item.get("join", "one-to-many")
        if join not in JOINS:
            continue
        where = b.expression(item.get("where"), path + ("where",)) if "where" in item else None
        if where is not None and where.variables:
            b.col.add(path + ("where",), f"the where of dataset {name} reads harmonised "
                                         f"variables ({', '.join(where.variables)}); it selects "
                                         "rows by their raw columns ($COLUMN)")
        key = item.get("key") or []
        out.append(DatasetSpec(name=name, dataset=_text(item, "dataset") or name, join=join,
                               id_column=_text(item, "id_column"),
                               key=tuple(k for k in key if isinstance(k, str)), where=where))
    return out


def build_tables(b: _Builder, data: Any, datasets: Sequence[DatasetSpec],
                 source: Source) -> list[TableMapping]:
    """The ``tables:`` block: each long table's dataset, row filter and rules."""
    if not isinstance(data, dict):
        return []
    known = {d.name for d in datasets} | {source.dataset}
    return [_table_mapping(b, name, item, known) for name, item in data.items()
            if isinstance(name, str) and isinstance(item, dict)]


def _table_mapping(b: _Builder, name: str, item: dict[str, Any], known: set[str]
                   ) -> TableMapping:
    path = ("tables", name)
    status = item.get("status", "complete")
    status = status if status in STATUSES else "complete"
    dataset = _text(item, "dataset")
    if status == "impossible":
        if dataset is not None or item.get("variables"):
            b.col.add(path, f"table {name} is marked impossible (not delivered); remove its "
                            "dataset and variables, or the status")
        return TableMapping(table=name, status=status, comment=_text(item, "comment"))
    if dataset is None:
        b.col.add(path, f"table {name} needs `dataset:` (the dataset whose rows become its "
                        "rows), or `status: impossible` if the trial did not deliver it")
    elif dataset not in known:
        b.col.add(path + ("dataset",), f"table {name} reads dataset {dataset!r}, which is "
                                       f"not declared under datasets:"
                                       f"{suggest(dataset, known)}")
    where = b.expression(item.get("where"), path + ("where",)) if "where" in item else None
    previous, b.prefix = b.prefix, path
    try:
        rules = b.rules(item.get("variables") or {})
    finally:
        b.prefix = previous
    for r in rules:
        if r.dataset is not None:
            b.col.add(path + ("variables", r.variable, "dataset"),
                      "a rule of a long table reads its table's dataset; remove `dataset:`")
        if isinstance(r, Aggregate):
            b.col.add(path + ("variables", r.variable, "rule"),
                      "aggregate rules make participant variables; a long table's row "
                      "comes from one row of its dataset")
    return TableMapping(table=name, dataset=dataset, where=where, rules=tuple(rules),
                        status=status, comment=_text(item, "comment"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _source(b: _Builder, item: MappingABC[str, Any], path: tuple[Any, ...]) -> AggregateSource | None:
    refs: dict[str, Any] = {}
    ok = True
    for key in ("value", "order_by", "at", "on_or_after", "on_or_before"):
        if key in item:
            ref = b.ref(item[key], path + (key,))
            ok = ok and ref is not None
            refs[key] = ref
    where = None
    if "where" in item:
        where = b.expression(item["where"], path + ("where",))
        ok = ok and where is not None
    dataset, table = _text(item, "dataset"), _text(item, "table")
    if dataset is not None and table is not None:
        b.col.add(path, "read either a `dataset` (raw columns) or a `table` (harmonised "
                        "variables), not both")
        ok = False
    if not ok:
        return None
    return AggregateSource(dataset=dataset, table=table, where=where, **refs)


def build_aggregate(b: _Builder, name: str, data: MappingABC[str, Any],
                    common: dict[str, Any], path: tuple[Any, ...]) -> Aggregate | None:
    """An ``aggregate`` rule: one source given inline, or several under ``from:``."""
    take = data.get("take")
    if take not in TAKES:
        return None  # the schema reports it
    sources = _aggregate_sources(b, data, path)
    if sources is None or any(s is None for s in sources) or not sources:
        return None
    srcs = tuple(s for s in sources if s is not None)
    _check_sources(b, str(take), srcs, path)
    target, within = _number(data.get("target")), _number(data.get("within"))
    if take == "nearest" and target is None:
        b.col.add(path, "take: nearest needs `target:` (the time aimed at, e.g. 365)")
    if (target is not None or within is not None) and take != "nearest":
        b.col.add(path, "target and within apply to take: nearest")
    other = data.get("else")
    rnd = data.get("round")
    return Aggregate(take=str(take), sources=srcs, target=target, within=within,
                     otherwise=other if isinstance(other, (int, float, str, bool)) else None,
                     round=rnd if isinstance(rnd, int) and not isinstance(rnd, bool) else None,
                     **common)


def _aggregate_sources(b: _Builder, data: MappingABC[str, Any], path: tuple[Any, ...]
                       ) -> list[AggregateSource | None] | None:
    """The sources of an aggregate (None where one could not be built; None for all when
    they are given both ways)."""
    items = data.get("from")
    inline = {k: data[k] for k in _SOURCE_KEYS if k in data}
    if not isinstance(items, list):
        return [_source(b, inline, path)]
    if inline:
        b.col.add(path, f"give the rows to read either under from: or inline "
                        f"({', '.join(inline)}), not both")
        return None
    return [_source(b, item, path + ("from", i)) for i, item in enumerate(items)
            if isinstance(item, dict)]


def _check_sources(b: _Builder, take: str, srcs: tuple[AggregateSource, ...],
                   path: tuple[Any, ...]) -> None:
    """Each source gives what ``take`` needs."""
    if len(srcs) > 1 and take not in COMBINABLE:
        b.col.add(path + ("from",), f"take: {take} reads one dataset or table; several under "
                                    f"from: can be combined by {', '.join(COMBINABLE)}")
    for i, s in enumerate(srcs):
        where = path + (("from", i) if len(srcs) > 1 else ())
        if s.dataset is None and s.table is None and (s.where is not None or len(srcs) == 1):
            b.col.add(where, "an aggregate reads the rows of a `dataset` or a `table`")
        if s.value is None and take not in ("count", "any"):
            b.col.add(where, f"take: {take} needs `value:` (what is taken from each row)")
        if take == "nearest" and s.at is None:
            b.col.add(where, "take: nearest needs `at:` (each row's time, e.g. the days from "
                             "randomisation to the visit)")
        if s.order_by is not None and take not in ("first", "last"):
            b.col.add(where + ("order_by",), "order_by applies to take: first and last")


def check_references(b: _Builder, rules: Sequence[Rule], datasets: Sequence[DatasetSpec],
                     tables: Sequence[TableMapping], source: Source) -> None:
    """Rules name declared datasets: ``dataset:`` a one-to-one dataset, aggregates any."""
    declared = {d.name: d for d in datasets}
    known = set(declared) | {source.dataset}
    for rule in rules:
        path = ("variables", rule.variable)
        if rule.dataset is not None:
            spec = declared.get(rule.dataset)
            if rule.dataset == source.dataset:
                b.col.add(path + ("dataset",), f"{rule.dataset} is the base dataset; rules read "
                                               "its columns without `dataset:`")
            elif spec is None:
                b.col.add(path + ("dataset",), f"dataset {rule.dataset!r} is not declared under "
                                               f"datasets:{suggest(rule.dataset, declared)}")
            elif not spec.one_to_one:
                b.col.add(path + ("dataset",), f"{rule.dataset} is joined one-to-many: read it "
                                               "with an aggregate rule (first, count, max ...), "
                                               "or declare it `join: one-to-one`")
        if isinstance(rule, Aggregate):
            for i, s in enumerate(rule.sources):
                if s.dataset is not None and s.dataset not in known:
                    where = path + (("from", i, "dataset") if len(rule.sources) > 1
                                    else ("dataset",))
                    b.col.add(where, f"dataset {s.dataset!r} is not declared under datasets:"
                                     f"{suggest(s.dataset, known)}")


def check_tables(b: _Builder, data: MappingABC[str, Any], rules: Sequence[Rule],
                 tables: Sequence[TableMapping], dictionary: Dictionary) -> None:
    """Long tables against the dictionary: known tables, every table variable mapped, rule
    types fit; aggregate rules read known tables and their variables."""
    names = [t.name for t in dictionary.tables]
    for t in tables:
        if t.table not in names:
            b.col.add(("tables", t.table), f"{t.table!r} is not a long table of the dictionary"
                                           f"{suggest(t.table, names)} (its tables: "
                                           f"{', '.join(names) or 'none'})")
            continue
        if t.status == "impossible" or t.dataset is None:
            continue
        view = dictionary.view(t.table)
        rules = list(t.rules)
        if not any(isinstance(r, IdCreation) for r in rules):
            rules.insert(0, IdCreation(variable=view.id_variable.name, column="(dataset ID)"))
        raw = (data.get("tables") or {}).get(t.table) or {}
        table_data = {"dictionary": data.get("dictionary"),
                      "dictionary_version": data.get("dictionary_version"),
                      "variables": {**(raw.get("variables") or {}),
                                    view.id_variable.name: {}}}
        check_against(table_data, rules, view, _Prefixed(b.col, ("tables", t.table)))  # type: ignore[arg-type]
    for rule in rules:
        if isinstance(rule, Aggregate) and rule.variable in dictionary:
            _check_aggregate(b, rule, dictionary)


def _check_aggregate(b: _Builder, rule: Aggregate, d: Dictionary) -> None:
    path = ("variables", rule.variable)
    var = d.variable(rule.variable)
    tables = {t.name: t for t in d.tables}
    kinds = {v.name: v.kind for v in d.all_variables}
    for i, s in enumerate(rule.sources):
        where = path + (("from", i) if len(rule.sources) > 1 else ())
        if s.table is not None and s.table not in tables:
            b.col.add(where + ("table",), f"{s.table!r} is not a long table of the "
                                          f"dictionary{suggest(s.table, tables)}")
            continue
        if s.table is not None:
            _check_table_source(b, s, set(tables[s.table].names) | set(d.names), where)
        else:
            for name in s.variables():
                if name not in d.names:
                    b.col.add(where, f"{name!r} is not a participant variable"
                                     f"{suggest(name, d.names)}; a dataset source reads raw "
                                     "columns ($COLUMN) and participant variables")
        if s.where is not None:
            k, clashes = infer_kind(s.where, kinds)
            for m in clashes:
                b.col.add(where + ("where",), m)
            if not clashes and k not in ("bool", "any", "null"):
                b.col.add(where + ("where",), f"`{s.where.text}` is a {k}, not a condition")
        _check_source_value(b, rule, s, var, kinds, where)
    _check_take(b, rule, var, path)


def _check_table_source(b: _Builder, s: AggregateSource, own: set[str],
                        where: tuple[Any, ...]) -> None:
    """A source that reads a long table: its variables and the participant's, no raw column."""
    for name in s.variables():
        if name not in own:
            b.col.add(where, f"{name!r} is neither a variable of table {s.table} nor a "
                             f"participant variable{suggest(name, own)}")
    for r in s.refs():
        if isinstance(r, ColumnRef):
            b.col.add(where, f"a table source reads harmonised variables; ${r.column} "
                             "is a raw column (read it from a dataset instead)")


def _check_source_value(b: _Builder, rule: Aggregate, s: AggregateSource, var: Variable,
                        kinds: dict[str, str], where: tuple[Any, ...]) -> None:
    """A value taken as it is (min, max, first, last, nearest) has the variable's kind."""
    if isinstance(s.value, VariableRef) and rule.take in ("min", "max", "first", "last",
                                                           "nearest"):
        have = kinds.get(s.value.name)
        want = "date" if var.type in ("date", "datetime") else "number" \
            if var.kind == "number" else None
        if have is not None and want is not None and have not in (want, "any"):
            b.col.add(where + ("value",), f"{s.value.name} is a {have}, but {rule.variable} "
                                          f"is {var.type}")


def _check_take(b: _Builder, rule: Aggregate, var: Variable, path: tuple[Any, ...]) -> None:
    """count gives a number, any gives 0/1."""
    if rule.take in ("count",) and var.type not in ("integer", "decimal"):
        b.col.add(path + ("take",), f"take: count gives a number; {var.name} is {var.type}")
    if rule.take == "any" and not (var.type in ("boolean", "integer") or
                                   (var.type == "categorical" and {0, 1} <= set(var.codes))):
        b.col.add(path + ("take",), f"take: any gives 1/0 (true/false); {var.name} is {var.type}")


class _Prefixed:
    """A problem collector for a part of the file (a long table's mapping)."""

    def __init__(self, col: Any, prefix: tuple[Any, ...]) -> None:
        self.col = col
        self.prefix = prefix

    def add(self, path: Sequence[Any], message: str) -> None:
        self.col.add(self.prefix + tuple(path), message)

    def line(self, path: Sequence[Any]) -> int | None:
        return self.col.line(self.prefix + tuple(path))
