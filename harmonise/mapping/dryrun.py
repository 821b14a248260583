"""The dry run: check a mapping against a delivery before harmonising it.

:func:`check_mapping` looks at a delivery's columns, types and distinct values and reports,
all at once and each located at the mapping's file, line and key:

* columns the mapping reads that the delivery lacks (with close matches);
* rules that cannot work with the column's type (a date rule whose format parses none of the
  observed values, numbers expected in a text column, a date column used in arithmetic ...);
* recodes that do not cover the observed values (the uncovered values with their counts);
* values that will fail to transform (they would become problems when harmonising);
* unit rules whose values look like another unit than the rule says (optional);
* rules that read variables this mapping marks impossible or undetermined, and delivery columns
  the mapping never reads (information).

With only column metadata (``ColumnInfo`` s, e.g. from a codebook before the data arrive) the
column and type checks run and value checks are skipped, which the result says.

Severities: ``error`` - the mapping is wrong for this delivery (fix it before harmonising);
``warning`` - some values will be reported as problems (they become data queries);
``info`` - worth knowing.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.engine import RuleRun, missing_columns, run_rules
from harmonise.mapping.rules import (
    Aggregate,
    DateParse,
    Direct,
    Impossible,
    Recode,
    Undetermined,
    UnitConversion,
)
from harmonise.mapping.spec import Mapping
from harmonise.values.problems import NOTES, REASONS
from harmonise.yamlio import render_key
from repository.errors import MappingError, SpecProblem
from repository.formats import ColumnInfo, RawTable

__all__ = ["CheckProblem", "MappingCheck", "check_mapping", "SEVERITIES"]

SEVERITIES = ("error", "warning", "info")

#: a parse failure rate above this means the rule does not fit the column (an error)
TYPE_MISMATCH_SHARE = 0.5
#: unit plausibility: the declared unit puts fewer than this share of values in range ...
UNIT_DECLARED_SHARE = 0.5
#: ... while another unit puts more than this share in range
UNIT_OTHER_SHARE = 0.9

_KEY_FOR_REASON = {"unmatched_code": "map", "not_a_date": "format", "not_a_number": "column",
                   "not_boolean": "column", "not_whole_number": "rule",
                   "invalid_category": "rule", "division_by_zero": "expression",
                   "invalid_operation": "expression", "missing_id": "column"}


@dataclass(frozen=True)
class CheckProblem:
    """One finding of the dry run."""

    severity: str
    kind: str
    variable: str | None
    file: str
    line: int | None
    key: str
    message: str
    values: tuple[tuple[str, int], ...] = ()  # (raw value, rows) for value problems
    #: the dataset the problem is in (a trial delivering several) and its rows (1 = the first)
    dataset: str | None = None
    rows: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "variable": self.variable,
                "file": self.file, "line": self.line, "key": self.key, "message": self.message,
                "values": [{"value": v, "rows": n} for v, n in self.values],
                "dataset": self.dataset, "rows": list(self.rows)}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.severity}: {self.message}"


@dataclass(frozen=True, eq=False)
class MappingCheck:
    """What :func:`check_mapping` found; ``ok`` when there is no error."""

    trial: str
    file: str
    delivery: str
    rows: int | None
    problems: tuple[CheckProblem, ...]
    values_checked: bool
    columns_unused: tuple[str, ...] = field(default=())

    @property
    def errors(self) -> tuple[CheckProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[CheckProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def summary(self) -> pd.DataFrame:
        """One row per finding: severity, variable, line, key, kind, message."""
        return pd.DataFrame([{"severity": p.severity, "variable": p.variable or "",
                              "line": p.line, "key": p.key, "kind": p.kind,
                              "message": p.message} for p in self.problems],
                            columns=["severity", "variable", "line", "key", "kind", "message"])

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "mapping": self.file, "delivery": self.delivery,
                "rows": self.rows, "ok": self.ok, "values_checked": self.values_checked,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "columns_unused": list(self.columns_unused),
                "problems": [p.to_dict() for p in self.problems]}

    def raise_for_errors(self) -> None:
        """Raise :class:`MappingError` listing every error (warnings are not errors)."""
        if self.ok:
            return
        problems = [SpecProblem(p.file, p.line, p.key, p.message) for p in self.errors]
        raise MappingError(
            f"the mapping of {self.trial} ({self.file}) does not fit {self.delivery}: "
            f"{len(problems)} error(s); fix them and run `ipdrepo mapping check "
            f"{self.trial}` again.", problems, trial=self.trial, file=self.file)

    def __repr__(self) -> str:
        return (f"<MappingCheck {self.trial}: {len(self.errors)} errors, "
                f"{len(self.warnings)} warnings>")

    def _repr_html_(self) -> str:
        verdict = "fits" if self.ok else "does NOT fit"
        return (f"<p>Mapping <code>{html.escape(self.file)}</code> {verdict} "
                f"{html.escape(self.delivery)}.</p>" + self.summary.to_html(index=False))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _close(name: str, columns: Sequence[str]) -> list[str]:
    """Columns the user may have meant: same letters and digits, similar spelling, or one name
    contained in the other (AGE for AGE_YEARS)."""
    key = _norm(name)
    exact = [c for c in columns if _norm(c) == key]
    similar = difflib.get_close_matches(name, [c for c in columns if c not in exact], n=3,
                                        cutoff=0.6)
    contained = [c for c in columns if c not in exact and c not in similar and
                 min(len(_norm(c)), len(key)) >= 3 and (_norm(c) in key or key in _norm(c))]
    return (exact + similar + contained)[:3]


class _Report:
    """The findings, each located in the mapping file; ``prefix`` is the key path of the table
    whose rules are being checked (``("tables", NAME)`` for a long table), ``dataset`` the
    dataset they read."""

    def __init__(self, mapping: Mapping, *, prefix: tuple[Any, ...] = (),
                 dataset: str | None = None, items: list[CheckProblem] | None = None) -> None:
        self.mapping = mapping
        self.prefix = prefix
        self.dataset = dataset
        self.items: list[CheckProblem] = [] if items is None else items
        self._data = mapping.to_dict()

    def add(self, severity: str, kind: str, variable: str | None, path: tuple[Any, ...],
            message: str, values: tuple[tuple[str, int], ...] = (), *,
            dataset: str | None = None, rows: Sequence[int] | np.ndarray = ()) -> None:
        full = self.prefix + path
        line = self.mapping.line(*full)
        self.items.append(CheckProblem(severity, kind, variable, self.mapping.file, line,
                                       render_key(full, self._data), message, values,
                                       dataset or self.dataset, tuple(int(r) for r in rows)))

    def table(self, name: str, dataset: str | None) -> _Report:
        """A report of the rules of long table ``name`` (findings go to the same list)."""
        return _Report(self.mapping, prefix=("tables", name), dataset=dataset, items=self.items)


def _rule_key(mapping: Mapping, variable: str, preferred: str) -> tuple[Any, ...]:
    rule = mapping.rule(variable)
    keys = set(rule.to_dict())
    if preferred in keys:
        return ("variables", variable, preferred)
    for k in ("column", "expression", "cases", "function"):
        if k in keys:
            return ("variables", variable, k)
    return ("variables", variable)


def check_mapping(mapping: Mapping, dictionary: Dictionary,
                  delivery: RawTable | pd.DataFrame | Sequence[ColumnInfo], *,
                  name: str | None = None, check_units: bool = True,
                  datasets: MappingABC[str, RawTable | pd.DataFrame] | None = None
                  ) -> MappingCheck:
    """Check ``mapping`` against a delivery (data, or column metadata only); see the module
    docstring. Never raises for what it finds: inspect the result (or call
    :meth:`MappingCheck.raise_for_errors`).

    A mapping that reads several datasets (``datasets:``, ``tables:``, ``aggregate`` rules)
    is checked against all of them: ``delivery`` is its base dataset (``source.dataset``) and
    ``datasets`` the others by name; the join problems are reported too
    (:mod:`harmonise.mapping.dryrun_joins`)."""
    report = _Report(mapping)
    frame: pd.DataFrame | None
    if isinstance(delivery, RawTable):
        frame, infos = delivery.frame, list(delivery.columns)
    elif isinstance(delivery, pd.DataFrame):
        frame, infos = delivery, [ColumnInfo(str(c), str(delivery[c].dtype))
                                  for c in delivery.columns]
    else:
        frame, infos = None, list(delivery)
    columns = [c.name for c in infos]
    label = name or ("the delivery" if frame is not None else "the delivery's columns")
    if frame is not None and reads_several(mapping):
        from harmonise.mapping.dryrun_joins import check_relational

        frames = {k: (v.frame if isinstance(v, RawTable) else v)
                  for k, v in (datasets or {}).items()}
        frames[mapping.source.dataset] = frame
        check_relational(report, mapping, dictionary, frames, check_units=check_units)
    else:
        _check_one(report, mapping, dictionary, frame, infos, check_units=check_units)
    _dependency_checks(report, mapping)
    used = set(mapping.columns())
    unused = tuple(c for c in columns if c not in used)
    if unused:
        report.add("info", "unused_columns", None, ("variables",),
                   f"{len(unused)} delivery column(s) not read by the mapping: "
                   f"{', '.join(unused[:20])}{' ...' if len(unused) > 20 else ''}")
    order = {s: i for i, s in enumerate(SEVERITIES)}
    problems = sorted(report.items, key=lambda p: (order[p.severity], p.line or 0, p.key))
    return MappingCheck(trial=mapping.trial, file=mapping.file, delivery=label,
                        rows=len(frame) if frame is not None else None,
                        problems=tuple(problems), values_checked=frame is not None,
                        columns_unused=unused)


def reads_several(mapping: Mapping) -> bool:
    """Whether the mapping reads more than its base dataset (other datasets, long tables,
    aggregates): the dry run then runs the relational engine."""
    return bool(mapping.datasets or mapping.tables
                or any(isinstance(r, Aggregate) for r in mapping.rules))


def _check_one(report: _Report, mapping: Mapping, dictionary: Dictionary,
               frame: pd.DataFrame | None, infos: list[ColumnInfo], *,
               check_units: bool) -> None:
    """The checks of a mapping that reads one dataset (or only its column metadata)."""
    columns = [c.name for c in infos]
    lacking = missing_columns(mapping, columns)
    missing_column_problems(report, mapping, lacking, columns)
    dtypes = {c.name: c.dtype for c in infos}
    if frame is None:
        _type_checks(report, mapping, lambda c: _dtype_kind(dtypes.get(c, "")), lacking)
        _label_checks(report, mapping, infos, lacking)
    else:
        run = run_rules(frame, mapping, dictionary, check=True)
        run_checks(report, run, dictionary, lacking, check_units=check_units)


def missing_column_problems(report: _Report, mapping: Mapping, lacking: dict[str, list[str]],
                            columns: Sequence[str], *, dataset: str | None = None,
                            strip: str = "") -> None:
    """An error per raw column a rule reads that the dataset lacks (with close matches);
    ``strip``: the ``ALIAS.`` prefix the rule's column names carry."""
    in_dataset = f" {dataset}" if dataset else ""
    for variable, cols in lacking.items():
        key = _rule_key(mapping, variable, "column")
        for c in cols:
            bare = c[len(strip):] if strip and c.startswith(strip) else c
            close = _close(bare, columns)
            hint = f"; did you mean {', '.join(repr(x) for x in close)}?" if close else ""
            where = "" if key[-1] == "column" else f" (in {key[-1]})"
            report.add("error", "missing_column", variable, key,
                       f"{variable}: the{in_dataset} delivery has no column {bare!r}{where}"
                       f"{hint}", dataset=dataset)


def run_checks(report: _Report, run: RuleRun, dictionary: Dictionary,
               lacking: dict[str, list[str]], *, check_units: bool) -> None:
    """The type, value and unit checks of one rule run (a table's rules over its rows)."""
    _type_checks(report, run.mapping, run.source.kind, lacking)
    _value_checks(report, run, lacking)
    if check_units:
        _unit_checks(report, run, dictionary, lacking)


def _dtype_kind(dtype: str) -> str:
    if dtype.startswith("datetime"):
        return "date"
    if dtype.startswith(("int", "float", "Int", "Float", "uint")):
        return "number"
    if dtype in ("bool", "boolean"):
        return "bool"
    return "text" if dtype in ("string", "str") else "unknown"


def _type_checks(report: _Report, mapping: Mapping, kind_of: Any,
                 lacking: dict[str, list[str]]) -> None:
    for rule in mapping.rules:
        if rule.variable in lacking:
            continue
        v = rule.variable
        if isinstance(rule, DateParse):
            kind = kind_of(rule.column)
            if rule.format == "native" and kind in ("number", "bool"):
                report.add("error", "type_mismatch", v, ("variables", v, "format"),
                           f"{v}: format native needs a date column, but {rule.column} holds "
                           f"{kind}s; give the format its values are written in")
            elif kind == "date" and rule.format != "native":
                report.add("info", "native_dates", v, ("variables", v, "format"),
                           f"{v}: {rule.column} already holds dates; the format "
                           f"{rule.format!r} is not needed (use native)")
        if isinstance(rule, UnitConversion) and kind_of(rule.column) == "date":
            report.add("error", "type_mismatch", v, ("variables", v, "column"),
                       f"{v}: {rule.column} holds dates, not measurements")


def _label_checks(report: _Report, mapping: Mapping, infos: list[ColumnInfo],
                  lacking: dict[str, list[str]]) -> None:
    by_name = {c.name: c for c in infos}
    for rule in mapping.rules:
        if not isinstance(rule, Recode) or rule.variable in lacking:
            continue
        info = by_name.get(rule.column)
        if info is None or not info.value_labels:
            continue
        keys = {str(k).strip().lower() if rule.ignore_case else str(k).strip()
                for k, _ in rule.map}
        keys |= {str(m) for m in (*rule.missing, *mapping.source.missing_codes)}
        uncovered = [f"{code} ({lab})" for code, lab in info.value_labels.items()
                     if (code.lower() if rule.ignore_case else code) not in keys]
        if uncovered and rule.otherwise == "error":
            report.add("warning", "uncovered_labels", rule.variable,
                       ("variables", rule.variable, "map"),
                       f"{rule.variable}: value labels of {rule.column} not in the recode: "
                       f"{', '.join(uncovered)} (only a problem if the data use them)")


def _value_counts(run: RuleRun, variable: str, mask: np.ndarray) -> tuple[tuple[str, int], ...]:
    rule = run.mapping.rule(variable)
    cols = [c for c in rule.columns() if run.source.has(c)]
    rows = np.flatnonzero(mask)
    if len(cols) == 1:
        values = run.source.display(cols[0], rows)
    elif cols:
        values = ["; ".join(f"{c}={run.source.display(c, np.array([r]))[0]}" for c in cols)
                  for r in rows[:2000]]
    else:
        return ()
    counts = pd.Series(values, dtype=object).value_counts(sort=True)
    return tuple((str(k), int(n)) for k, n in counts.items())


def _unmatched(report: _Report, variable: str, key: Any, rule: Any, mask: np.ndarray,
               share: float, counts: tuple[tuple[str, int], ...], shown: str) -> None:
    """Codes a recode (``else: error``) does not cover. On most of the rows the column holds a
    value, the recode does not fit the delivery (an error); on a few rows they are data
    problems: a warning naming the rows, which harmonising reports as cell problems (the
    curator's list of data queries)."""
    rows = np.flatnonzero(mask) + 1  # data rows as delivered, 1 = the first
    where = ", ".join(str(int(r)) for r in rows[:20]) + (
        f" and {len(rows) - 20} more" if len(rows) > 20 else "")
    columns = ", ".join(rule.columns())
    if share > TYPE_MISMATCH_SHARE:
        report.add("error", "uncovered_codes", variable, key,
                   f"{variable}: the recode of {columns} does not cover {len(counts)} observed "
                   f"value(s) on {len(rows)} row(s) ({share:.0%}): {shown}; add them to `map:` "
                   "or `missing:`, or set `else:`", counts)
        return
    report.add("warning", "uncovered_codes", variable, key,
               f"{variable}: {len(rows)} row(s) hold value(s) of {columns} that the recode does "
               f"not cover: {shown} (data rows {where}). Under `else: error` they are reported "
               "as data problems when harmonising (your list of data queries); if they are "
               "valid codes, add them to `map:` or `missing:`", counts)


def _value_checks(report: _Report, run: RuleRun, lacking: dict[str, list[str]]) -> None:
    mapping = run.mapping
    for variable, message in run.failed.items():
        report.add("error", "type_mismatch", variable, _rule_key(mapping, variable, "expression"),
                   f"{variable}: {message}")
    for variable, issues in run.issues.items():
        if variable in lacking or not issues:
            continue
        _note_checks(report, run, variable, [i for i in issues if i.is_note])
        issues = [i for i in issues if not i.is_note]
        rule = mapping.rule(variable)
        by_reason: dict[str, np.ndarray] = {}
        for issue in issues:
            if issue.reason == "duplicate_key":  # reported once, as a join problem
                continue
            m = by_reason.get(issue.reason)
            by_reason[issue.reason] = issue.mask if m is None else (m | issue.mask)
        present = _present_rows(run, rule)
        for reason, mask in by_reason.items():
            n_bad = int(mask.sum())
            counts = _value_counts(run, variable, mask)
            shown = ", ".join(f"{v!r} ({n})" for v, n in counts[:10])
            more = f" and {len(counts) - 10} more distinct values" if len(counts) > 10 else ""
            key = _rule_key(mapping, variable, _KEY_FOR_REASON.get(reason, "column"))
            share = n_bad / max(present, 1)
            if reason == "unmatched_code":
                _unmatched(report, variable, key, rule, mask, share, counts, shown + more)
            elif reason == "missing_id":
                report.add("error", "missing_ids", variable, key,
                           f"{variable}: {n_bad} row(s) have no participant ID", counts)
            elif share > TYPE_MISMATCH_SHARE and n_bad >= 1 and reason in (
                    "not_a_date", "not_a_number", "not_boolean"):
                what = {"not_a_date": "the date format does not parse",
                        "not_a_number": "numbers are expected but",
                        "not_boolean": "true/false values are expected but"}[reason]
                report.add("error", "type_mismatch", variable, key,
                           f"{variable}: {what} {n_bad} of {present} observed values "
                           f"({share:.0%}), e.g. {shown}{more}", counts)
            else:
                report.add("warning", "value_problems", variable, key,
                           f"{variable}: {n_bad} value(s) will be reported as problems "
                           f"({REASONS[reason]}): {shown}{more}", counts)


def _note_checks(report: _Report, run: RuleRun, variable: str, notes: list[Any]) -> None:
    """Cells the rule will complete as documented (partial dates imputed): information."""
    for note in notes:
        n = int(note.mask.sum())
        if n:
            report.add("info", note.reason, variable,
                       _rule_key(run.mapping, variable, "impute"),
                       f"{variable}: {n} value(s) will be completed and flagged "
                       f"({NOTES.get(note.reason, note.reason)})",
                       _value_counts(run, variable, note.mask))


def _present_rows(run: RuleRun, rule: Any) -> int:
    cols = [c for c in rule.columns() if run.source.has(c)]
    if not cols:
        return run.n
    present = np.zeros(run.n, dtype=bool)
    for c in cols:
        present |= ~run.source.missing(c, getattr(rule, "missing", ()))
    return int(present.sum())


def _unit_checks(report: _Report, run: RuleRun, dictionary: Dictionary,
                 lacking: dict[str, list[str]]) -> None:
    from harmonise.values import units

    for rule in run.mapping.rules:
        if rule.variable in lacking or rule.variable not in dictionary:
            continue
        var = dictionary.variable(rule.variable)
        if isinstance(rule, UnitConversion) and rule.round is not None and var.unit and \
                var.type == "integer" and units.completes_units(rule.source_unit, var.unit):
            report.add("warning", "rounded_duration", rule.variable,
                       ("variables", rule.variable, "round"),
                       f"{rule.variable}: `round: {rule.round}` rounds {rule.source_unit} to the "
                       f"nearest {var.unit} (60 years 8 months becomes 61); whole {var.unit} of "
                       f"an age or a duration are completed {var.unit}: remove `round:` and "
                       "ipdrepo takes the completed ones")
        if var.unit is None or var.range is None or var.range.min is None or \
                var.range.max is None or not isinstance(var.range.min, (int, float)):
            continue
        if isinstance(rule, UnitConversion):
            declared, column, analyte = rule.source_unit, rule.column, rule.analyte or var.analyte
        elif isinstance(rule, Direct):
            declared, column, analyte = var.unit, rule.column, var.analyte
        else:
            continue
        values, _bad = run.source.numbers(column, getattr(rule, "missing", ()))
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        arr = arr[~np.isnan(arr)]
        if len(arr) < 5:
            continue
        try:
            shares = dict(units.plausible_units(arr, target=var.unit, low=float(var.range.min),
                                                high=float(var.range.max), analyte_name=analyte))
        except Exception:  # noqa: BLE001 - an unknown unit is reported by the loader
            continue
        declared_sym = units.unit(declared).symbol
        mine = shares.get(declared_sym, 0.0)
        best = max(shares.items(), key=lambda kv: kv[1]) if shares else (declared_sym, mine)
        if mine < UNIT_DECLARED_SHARE and best[0] != declared_sym and best[1] > UNIT_OTHER_SHARE:
            key = ("variables", rule.variable, "from" if isinstance(rule, UnitConversion)
                   else "column")
            report.add("warning", "unit_suspect", rule.variable, key,
                       f"{rule.variable}: only {mine:.0%} of {column} fall in {var.range.describe()} "
                       f"{var.unit} when read as {declared_sym}, but {best[1]:.0%} do when read as "
                       f"{best[0]}; check the unit")


def _dependency_checks(report: _Report, mapping: Mapping) -> None:
    status = {r.variable: r for r in mapping.rules}
    for rule in mapping.rules:
        for v in rule.variables():
            dep = status.get(v)
            if isinstance(dep, (Impossible, Undetermined)):
                report.add("warning", "depends_on_unmapped", rule.variable,
                           ("variables", rule.variable),
                           f"{rule.variable} reads {v}, which this mapping marks {dep.rule}: "
                           f"{rule.variable} will be missing wherever it needs {v}")
