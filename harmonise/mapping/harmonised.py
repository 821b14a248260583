"""The result of harmonising one trial: :class:`HarmonisedTrial`, and cell-level provenance.

``HarmonisedTrial.explain(variable, row=...)`` answers "why does this value differ from what the
trialist sent?": the raw input values, the rule (as written in the mapping file, with its line),
the harmonised value and any problem raised for that cell.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harmonise.values.cells import canonical_text, missing_array
from harmonise.values.problems import PROBLEM_COLUMNS
from repository.errors import HarmonisationError

if TYPE_CHECKING:
    from harmonise.dictionary.spec import Dictionary
    from harmonise.mapping.engine import RuleRun
    from harmonise.mapping.spec import Mapping

__all__ = ["HarmonisedTrial", "Explanation", "SUMMARY_COLUMNS", "IMPUTED_COLUMNS",
           "LongIssue", "build_problems", "build_summary", "build_imputed", "empty_frame"]

#: columns of :attr:`HarmonisedTrial.summary`
SUMMARY_COLUMNS = ("variable", "rule", "status", "columns", "variables", "n", "n_transformed",
                   "n_missing", "n_problems", "comment")
#: columns of :attr:`HarmonisedTrial.imputed`: every cell a rule completed as documented (a
#: partial date imputed), with the raw value and how (``precision``: D day, M month and day)
IMPUTED_COLUMNS = ("trial", "participant_id", "row", "variable", "rule", "columns", "value",
                   "precision", "message", "dataset")


@dataclass(frozen=True, eq=False)
class LongIssue:
    """Rows of another dataset (or long table) that an aggregate rule could not use: the
    dataset, its 1-based rows, each row's participant (position in the participant table) and
    raw values."""

    dataset: str
    rows: np.ndarray
    participant_pos: np.ndarray
    values: np.ndarray
    columns: str
    reason: str
    message: str


def _text(value: Any) -> str:
    t = canonical_text(value)
    return "" if t is None else t


@dataclass(frozen=True)
class Explanation:
    """How one harmonised cell came about."""

    trial: str
    row: int
    participant_id: str | None
    variable: str
    rule: str
    status: str
    description: str
    spec: dict[str, Any]
    file: str
    line: int | None
    inputs: tuple[tuple[str, str, str], ...]  # (column|variable, name, value as text)
    value: Any
    label: str | None = None
    problems: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "row": self.row, "participant_id": self.participant_id,
                "variable": self.variable, "rule": self.rule, "status": self.status,
                "description": self.description, "spec": self.spec, "file": self.file,
                "line": self.line,
                "inputs": [{"kind": k, "name": n, "value": v} for k, n, v in self.inputs],
                "value": None if self.value is None else _text(self.value), "label": self.label,
                "problems": list(self.problems)}

    def __str__(self) -> str:
        ins = ", ".join(f"{'$' if k == 'column' else ''}{n}={v!r}" for k, n, v in self.inputs)
        out = "missing" if self.value is None else _text(self.value)
        lab = f" ({self.label})" if self.label else ""
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = (f"{self.trial} row {self.row} (participant {self.participant_id}), "
                f"{self.variable}: {ins or 'no inputs'} -> {self.rule} [{self.description}] "
                f"-> {out}{lab}  ({where})")
        for p in self.problems:
            text += f"\n  problem: {p['reason']}: {p['message']}"
        return text


@dataclass(frozen=True, eq=False)
class HarmonisedTrial:
    """One trial on the dictionary: ``data``, ``problems`` and the per-variable ``summary``.

    ``data`` columns: the dictionary variables in dictionary order (``trial`` and
    ``participant_id`` included) and ``_row``. ``problems`` columns: :data:`PROBLEM_COLUMNS`.
    ``summary`` columns: :data:`SUMMARY_COLUMNS`.
    """

    trial: str
    data: pd.DataFrame
    problems: pd.DataFrame
    summary: pd.DataFrame
    mapping: Mapping = field(repr=False)
    dictionary: Dictionary = field(repr=False)
    raw: pd.DataFrame = field(repr=False)
    #: cells completed by a rule as documented (columns :data:`IMPUTED_COLUMNS`)
    imputed: pd.DataFrame = field(default_factory=lambda: _empty_imputed(), repr=False)
    #: the long tables of the dictionary made for this trial (name -> HarmonisedTrial whose
    #: ``data`` holds trial, participant_id, the table's variables and ``_row``)
    tables: dict[str, HarmonisedTrial] = field(default_factory=dict, repr=False)
    #: which table this is (``participants`` or a long table's name) and its dataset
    table: str = "participants"
    dataset: str = "main"
    #: with ``trace`` (for ``explain``): aggregate variable -> the rows each participant matched
    #: in other datasets and tables, and the one its value was taken from
    traces: dict[str, Any] = field(default_factory=dict, repr=False)

    def contributions(self, variable: str, row: int) -> list[dict[str, Any]]:
        """The rows of other datasets or tables an aggregate variable read for the participant
        on ``row`` (1-based): dataset, row, value, and whether the value was taken from it
        (empty without a trace)."""
        trace = self.traces.get(variable)
        if trace is None:
            return []
        p = row - 1
        taken = trace["taken"][p] if trace.get("taken") is not None else None
        out = []
        for part in trace["parts"]:
            hit = (part["pos"] == p) & part["mask"]
            for i in np.flatnonzero(hit):
                value = part["value"].iloc[i] if part["value"] is not None else None
                out.append({"dataset": str(part["dataset"]), "row": int(part["rows"][i]),
                            "value": None if value is None or pd.isna(value) else _text(value),
                            "taken": taken == (str(part["dataset"]), int(part["rows"][i]))})
        return out

    @property
    def n_rows(self) -> int:
        return len(self.data)

    def to_dict(self, *, data: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trial": self.trial, "rows": self.n_rows,
            "dictionary": f"{self.dictionary.topic} {self.dictionary.version}",
            "mapping": self.mapping.file,
            "summary": _records(self.summary), "problems": _records(self.problems)}
        if data:
            out["data"] = _records(self.data)
        return out

    def __repr__(self) -> str:
        return (f"<HarmonisedTrial {self.trial}: {self.n_rows} rows, "
                f"{len(self.dictionary.variables)} variables, {len(self.problems)} problems>")

    def _repr_html_(self) -> str:
        head = (f"<p><b>{html.escape(self.trial)}</b>: {self.n_rows} rows harmonised onto "
                f"{html.escape(self.dictionary.topic)} {html.escape(self.dictionary.version)}; "
                f"{len(self.problems)} problem(s).</p>")
        probs = self.problems.head(50).to_html(index=False) if len(self.problems) else ""
        return head + self.summary.to_html(index=False) + probs

    def explain(self, variable: str, *, row: int | None = None,
                participant: str | None = None) -> Explanation:
        """Raw value -> rule -> harmonised value for one cell, chosen by 1-based delivery
        ``row`` or by ``participant`` (pseudonym or, without pseudonyms, the trial's own ID)."""
        if (row is None) == (participant is None):
            raise HarmonisationError("explain needs exactly one of row= or participant=.",
                                     trial=self.trial, variable=variable)
        if variable not in self.dictionary:
            self.dictionary.variable(variable)  # raises with a suggestion
        if participant is not None:
            hits = np.flatnonzero((self.data["participant_id"] == participant)
                                  .to_numpy(dtype=bool, na_value=False))
            if len(hits) == 0:
                raise HarmonisationError(f"{self.trial} has no participant {participant!r}.",
                                         trial=self.trial, participant=participant)
            if len(hits) > 1:
                raise HarmonisationError(
                    f"{self.trial}: participant {participant!r} is on several rows "
                    f"({', '.join(str(h + 1) for h in hits)}); explain by row= instead.",
                    trial=self.trial, participant=participant)
            row = int(hits[0]) + 1
        assert row is not None
        if not 1 <= row <= self.n_rows:
            raise HarmonisationError(f"{self.trial} has rows 1 to {self.n_rows}, not {row}.",
                                     trial=self.trial, row=row)
        i = row - 1
        var = self.dictionary.variable(variable)
        value = self.data[variable].iloc[i]
        value = None if pd.isna(value) else value
        pid = self.data["participant_id"].iloc[i]
        if var.role == "trial" or variable not in self.mapping:
            rule_name, status, desc, spec, line = "(trial)", "complete", \
                "the trial's acronym", {}, None
            inputs: tuple[tuple[str, str, str], ...] = ()
        else:
            rule = self.mapping.rule(variable)
            rule_name, status, desc = rule.rule, rule.status, rule.describe()
            spec, line = rule.to_dict(), self.mapping.line("variables", variable)
            inputs = tuple(("column", c, _text(self.raw[c].iloc[i]) if c in self.raw else "")
                           for c in rule.columns())
            inputs += tuple(("variable", v, _text(self.data[v].iloc[i]) if v in self.data else "")
                            for v in rule.variables())
        cat = var.category(value) if value is not None and var.categories else None
        probs = self.problems[(self.problems["row"] == row) &
                              (self.problems["variable"] == variable)]
        return Explanation(trial=self.trial, row=row, participant_id=None if pd.isna(pid) else
                           str(pid), variable=variable, rule=rule_name, status=status,
                           description=desc, spec=spec, file=self.mapping.file, line=line,
                           inputs=inputs, value=value, label=cat.label if cat else None,
                           problems=tuple(_records(probs)))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    cols = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        rec: dict[str, Any] = {}
        for c, v in zip(cols, values):
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                rec[c] = None
            elif isinstance(v, pd.Timestamp):
                rec[c] = v.date().isoformat() if v == v.normalize() else v.isoformat()
            elif isinstance(v, np.integer):
                rec[c] = int(v)
            elif isinstance(v, np.floating):
                rec[c] = float(v)
            elif isinstance(v, np.bool_):
                rec[c] = bool(v)
            else:
                rec[c] = v
        out.append(rec)
    return out


def _display(run: RuleRun, name: str, rows: np.ndarray, *, column: bool) -> np.ndarray:
    if column:
        f = run.source.factor(name)
        codes = f.codes[rows]
        vals = f.texts[np.maximum(codes, 0)] if len(f.texts) else \
            np.full(len(rows), None, dtype=object)
        vals = np.where(codes >= 0, vals, np.full(len(rows), None, dtype=object))
    else:
        s = run.values.get(name)
        if s is None:
            return np.full(len(rows), "", dtype=object)
        vals = np.array([canonical_text(v) for v in s.iloc[rows]], dtype=object)
    return np.array(["" if v is None else str(v) for v in vals], dtype=object)


def empty_frame(columns: Sequence[str], dtypes: Sequence[str] | None = None) -> pd.DataFrame:
    """A new table with no rows and these columns, of ``dtypes`` (default: ``row`` int64, the
    others object). Every trial has several empty tables (no problems, long tables it did not
    deliver): each is a copy of one template per layout, ~20x cheaper than building it."""
    if dtypes is None:
        dtypes = ["int64" if c == "row" else "object" for c in columns]
    key = (tuple(columns), tuple(dtypes))
    template = _EMPTY_TEMPLATES.get(key)
    if template is None:
        template = pd.DataFrame({c: np.empty(0, dtype=t) if t in ("int64", "object")
                                 else missing_array(0, t) for c, t in zip(columns, dtypes)},
                                copy=False).copy()  # the copy is consolidated: copies
        _EMPTY_TEMPLATES[key] = template                     # of it need not merge blocks
    return template.copy()


#: layout -> its empty table (never handed out: :func:`empty_frame` returns copies)
_EMPTY_TEMPLATES: dict[tuple[tuple[str, ...], tuple[str, ...]], pd.DataFrame] = {}


def _empty_imputed() -> pd.DataFrame:
    return empty_frame(IMPUTED_COLUMNS)


def _cell_values(run: RuleRun, cols: list[str], vars_: list[str], rows: np.ndarray) -> np.ndarray:
    if len(cols) == 1 and not vars_:
        return _display(run, cols[0], rows, column=True)
    pieces = [np.char.add(f"{c}=", _display(run, c, rows, column=True).astype(str))
              for c in cols]
    pieces += [np.char.add(f"{v}=", _display(run, v, rows, column=False).astype(str))
               for v in vars_]
    values = pieces[0].astype(object) if pieces else np.full(len(rows), "", object)
    for p in pieces[1:]:
        values = np.char.add(np.char.add(values.astype(str), "; "), p).astype(object)
    return values


def build_imputed(run: RuleRun, trial: str, participant_ids: pd.Series,
                  rows_of: np.ndarray | None = None) -> pd.DataFrame:
    """The imputation notes of a run (columns :data:`IMPUTED_COLUMNS`)."""
    parts = []
    pids = participant_ids.to_numpy(dtype=object)
    dataset = run.mapping.source.dataset
    for variable, issues in run.issues.items():
        notes = [i for i in issues if i.is_note]
        if not notes:
            continue
        rule = run.mapping.rule(variable)
        cols = list(rule.columns())
        for note in notes:
            rows = np.flatnonzero(note.mask)
            if not len(rows):
                continue
            parts.append(pd.DataFrame({
                "trial": trial, "participant_id": pids[rows],
                "row": rows + 1 if rows_of is None else rows_of[rows], "variable": variable,
                "rule": rule.rule, "columns": ", ".join(cols),
                "value": _cell_values(run, cols[:1], [], rows), "precision": "",
                "message": note.message, "dataset": dataset}))
    if not parts:
        return _empty_imputed()
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["row", "variable"], kind="stable").reset_index(drop=True)[
        list(IMPUTED_COLUMNS)]


def build_problems(run: RuleRun, trial: str, participant_ids: pd.Series,
                   rows_of: np.ndarray | None = None) -> pd.DataFrame:
    """The problems table of a run (columns :data:`PROBLEM_COLUMNS`), sorted by row and
    dictionary order, one row per (delivery row, variable, reason). ``rows_of`` gives the
    dataset row of each row of the run (default: the run's rows are the dataset's, 1-based);
    problems an aggregate rule met in other datasets' rows point at those rows."""
    parts = []
    order = {n: i for i, n in enumerate(run.dictionary.names)}
    pids = participant_ids.to_numpy(dtype=object)
    dataset = run.mapping.source.dataset
    for variable, long in run.long_issues.items():
        rule = run.mapping.rule(variable)
        for li in long:
            if not isinstance(li, LongIssue):
                continue
            parts.append(pd.DataFrame({
                "trial": trial, "participant_id": pids[li.participant_pos],
                "row": li.rows.astype("int64"), "variable": variable, "rule": rule.rule,
                "columns": li.columns, "value": li.values, "reason": li.reason,
                "message": li.message, "dataset": li.dataset,
                "_order": order.get(variable, len(order))}))
    for variable, issues in run.issues.items():
        if not issues:
            continue
        rule = run.mapping.rule(variable)
        cols = list(rule.columns())
        vars_ = list(rule.variables())
        for issue in issues:
            if issue.is_note:
                continue
            rows = np.flatnonzero(issue.mask)
            if len(rows) == 0:
                continue
            values = _cell_values(run, cols, vars_, rows)
            parts.append(pd.DataFrame({
                "trial": trial, "participant_id": pids[rows],
                "row": rows + 1 if rows_of is None else rows_of[rows],
                "variable": variable, "rule": rule.rule, "columns": ", ".join(cols),
                "value": values, "reason": issue.reason, "message": issue.message,
                "dataset": dataset, "_order": order.get(variable, len(order))}))
    if not parts:
        return empty_frame(PROBLEM_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["_other"] = out["dataset"] != dataset
    out = out.sort_values(["_other", "dataset", "row", "_order", "reason"], kind="stable")
    out = out.drop_duplicates(["dataset", "row", "variable", "reason"], keep="first")
    out = out.drop(columns="_other")
    out = out.drop(columns="_order").reset_index(drop=True)
    out["row"] = out["row"].astype("int64")
    return out[list(PROBLEM_COLUMNS)]


def build_summary(run: RuleRun, data: pd.DataFrame) -> pd.DataFrame:
    table: dict[str, list[Any]] = {c: [] for c in SUMMARY_COLUMNS}
    rules: dict[str, Any] = {}
    for first in run.mapping.rules:
        rules.setdefault(first.variable, first)  # the first rule of a variable, as Mapping.rule
    for var in run.dictionary.variables:
        n_missing = int(data[var.name].array.isna().sum())
        if var.role == "trial":
            rule_name, status, cols, vars_, comment = "(trial)", "complete", "", "", ""
            n_problems = 0
        else:
            rule = rules.get(var.name)
            rule_name = rule.rule if rule else ""
            status = rule.status if rule else ""
            cols = ", ".join(rule.columns()) if rule else ""
            vars_ = ", ".join(rule.variables()) if rule else ""
            comment = (rule.comment or "") if rule else ""
            n_problems = _n_problems(run, var.name)
        for column, value in zip(SUMMARY_COLUMNS, (
                var.name, rule_name, status, cols, vars_, run.n, run.n - n_missing, n_missing,
                n_problems, comment)):
            table[column].append(value)
    if not table["variable"]:
        return pd.DataFrame([], columns=list(SUMMARY_COLUMNS))
    return pd.DataFrame({c: np.array(v, dtype=np.int64 if c in _COUNTS else object)
                         for c, v in table.items()}, copy=False)


_COUNTS = frozenset({"n", "n_transformed", "n_missing", "n_problems"})


def _n_problems(run: RuleRun, variable: str) -> int:
    """The rows with at least one problem (notes aside) for ``variable``."""
    issues = [i for i in run.issues.get(variable, []) if not i.is_note]
    if not issues:
        return 0
    mask = np.zeros(run.n, dtype=bool)
    for i in issues:
        mask |= i.mask
    return int(mask.sum())
