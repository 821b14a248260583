"""Every failure of a checked trial as a :class:`~harmonise.queries.questions.Finding`, with
the raw cells behind it and the links that group findings of one cause.

* **Cells** come from the mapping's lineage (:meth:`~harmonise.mapping.spec.Mapping.
  source_columns`): a failing derived variable (a survival time worked out from dates) points
  at every raw cell it is computed from, so its failure groups with the failure of its input.
* **Links**: a dictionary rule that holds on a participant's row between two failing values
  (the body-mass index agrees with the weight, both out of range: one cause); the same
  unmatched code of a column (one question about what the code means); the rows of one
  repeated participant ID; the columns of a pattern over many participants; integrity checks
  of one topic (:attr:`~harmonise.checks.integrity.CheckSpec.topic`).
* **Scope** comes from the check's metadata: participant-level integrity checks (repeated IDs,
  dates before randomisation) give one finding per participant; trial-level ones (patterns,
  numbers) one finding with the participants they list (``affected``).
* Mapping problems go to the curator first (``audience``).

The wording of the questions is :mod:`harmonise.pipeline.wording`'s.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harmonise.checks.integrity import CHECKS, IntegrityContext, IntegrityFinding
from harmonise.checks.validation import evaluate_rule
from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.spec import Mapping
from harmonise.queries.questions import Cell, Finding
from harmonise.values.cells import canonical_text
from repository.formats import ColumnInfo

__all__ = ["CheckedTrial", "findings_for"]


@dataclass(frozen=True, eq=False)
class CheckedTrial:
    """What the findings (and their wording) need to know about one checked trial."""

    trial: str
    dictionary: Dictionary
    mapping: Mapping
    raw: pd.DataFrame  # the delivery after the accepted corrections
    data: pd.DataFrame  # harmonised, with ``_row``
    id_column: str
    context: IntegrityContext | None = None
    columns: MappingABC[str, ColumnInfo] = field(default_factory=dict)
    language: str = "en"

    def row_of(self, position: int) -> int:
        return int(self.data["_row"].iat[position])

    def cells(self, variables: Sequence[str], row: int | None) -> tuple[Cell, ...]:
        """The raw cells behind ``variables`` on delivery ``row``."""
        if row is None:
            return ()
        out: list[Cell] = []
        for v in variables:
            for c in self.mapping.source_columns(v):
                if c in self.raw.columns:
                    out.append(Cell(row=row, column=c))
        return tuple(dict.fromkeys(out))

    def raw_values(self, columns: Sequence[str], row: int | None) -> dict[str, Any]:
        if row is None:
            return {}
        return {c: canonical_text(self.raw[c].iat[row - 1]) for c in columns
                if c in self.raw.columns}

    def blank(self, column: str, row: int) -> bool:
        return column in self.raw.columns and canonical_text(self.raw[column].iat[row - 1]) \
            is None

    def order(self, check: str) -> int:
        """Rank of a check in the dictionary (variables, then rules), for choosing the
        primary finding of a group."""
        names = self.dictionary.names
        kind, _, name = check.partition(":")
        if kind == "rule":
            ids = [r.id for r in self.dictionary.rules]
            return len(names) + (ids.index(name) if name in ids else len(ids))
        if name in names:
            return names.index(name)
        return 2 * len(names) + len(self.dictionary.rules)


def _validation(t: CheckedTrial, failures: pd.DataFrame) -> list[Finding]:
    out = []
    for f in failures.itertuples(index=False):
        variables = [v.strip() for v in str(f.variable).split(",")]
        row = None if pd.isna(f.row) else int(f.row)
        cells = t.cells(variables, row)
        cols = list(dict.fromkeys(c.column for c in cells)) or [
            c for v in variables for c in t.mapping.source_columns(v)]
        kind, _, name = str(f.check).partition(":")
        out.append(Finding(
            trial=t.trial, check_id=f.check, source="validation", message=f.message,
            participant=f.participant_id, variable=f.variable, severity=f.severity,
            value=f.value, rows=(row,) if row else (), source_columns=tuple(cols),
            raw_values=t.raw_values(cols, row), cells=cells, order=t.order(str(f.check)),
            facts={"kind": kind, "name": name, "variables": variables}))
    return out


def _mapping(t: CheckedTrial, problems: pd.DataFrame) -> list[Finding]:
    out = []
    for p in problems.itertuples(index=False):
        row = None if pd.isna(p.row) else int(p.row)
        cols = [c.strip() for c in str(p.columns or "").split(",") if c.strip()]
        value = None if pd.isna(p.value) else str(p.value)
        participant = None if pd.isna(p.participant_id) else p.participant_id
        out.append(Finding(
            trial=t.trial, check_id=f"mapping:{p.reason}", source="mapping", message=p.message,
            participant=participant, variable=p.variable, value=value,
            rows=(row,) if row else (), source_columns=tuple(cols),
            raw_values=t.raw_values(cols, row),
            cells=tuple(Cell(row=row, column=c) for c in cols if c in t.raw.columns)
            if row else (),
            links=(f"code:{p.variable}:{p.reason}:{value}",), audience="curator", order=-1,
            occurrence=None if participant is not None else row,
            facts={"kind": "mapping", "reason": p.reason, "variables": [p.variable]}))
    return out


def _ids(t: CheckedTrial, f: IntegrityFinding) -> list[Finding]:
    out = []
    data, id_var = t.data, "participant_id"
    duplicated = set(f.participants)
    for pid in f.participants:
        rows = tuple(int(r) for r in data.loc[data[id_var] == pid, "_row"])
        for occurrence, row in enumerate(rows, start=1):
            out.append(Finding(
                trial=t.trial, check_id="integrity:ids", source="integrity", severity=f.severity,
                participant=pid, variable="participant_id",
                message=f"the participant ID on row {row} is also on row(s) "
                        f"{', '.join(str(r) for r in rows if r != row)}",
                rows=(row,), source_columns=(t.id_column,),
                raw_values=t.raw_values([t.id_column], row),
                cells=(Cell(row=row, column=t.id_column),), links=(f"ids:{pid}",),
                occurrence=occurrence, order=t.order("ids"),
                facts={"kind": "duplicate_id", "rows": list(rows)}))
    dup_rows = {r for pid in duplicated for r in data.loc[data[id_var] == pid, "_row"]}
    for row in f.rows:
        if row in dup_rows:
            continue
        out.append(Finding(
            trial=t.trial, check_id="integrity:ids", source="integrity", severity=f.severity,
            participant=None, variable="participant_id",
            message=f"row {row} has no participant ID", rows=(row,),
            source_columns=(t.id_column,), cells=(Cell(row=row, column=t.id_column),),
            occurrence=row, order=t.order("ids"), facts={"kind": "missing_id"}))
    return out


def _dates(t: CheckedTrial, f: IntegrityFinding) -> list[Finding]:
    ctx = t.context
    rand = ctx.rand_date if ctx is not None else None
    by_row = dict(f.details.get("by_row", {}))
    out = []
    for row_text, variables in by_row.items():
        row = int(row_text)
        position = int(np.flatnonzero(t.data["_row"].to_numpy() == row)[0])
        pid = t.data["participant_id"].iat[position]
        involved = [v for v in [rand, *variables] if v]
        cells = t.cells(involved, row)
        cols = list(dict.fromkeys(c.column for c in cells))
        out.append(Finding(
            trial=t.trial, check_id="integrity:dates-after-randomisation", source="integrity",
            severity=f.severity, participant=None if pd.isna(pid) else str(pid),
            variable=", ".join(variables),
            message=f"{', '.join(variables)} before randomisation", rows=(row,),
            source_columns=tuple(cols), raw_values=t.raw_values(cols, row), cells=cells,
            order=t.order("dates-after-randomisation"),
            facts={"kind": "before_randomisation", "variables": variables, "rand": rand}))
    return out


def _affected(t: CheckedTrial, mask: np.ndarray) -> tuple[tuple[str | None, int], ...]:
    pids = t.data["participant_id"].to_numpy(dtype=object)[mask]
    rows = t.data["_row"].to_numpy()[mask]
    return tuple((None if pd.isna(p) else str(p), int(r)) for p, r in zip(pids, rows))


def _explaining(t: CheckedTrial, columns: Sequence[str], mask: np.ndarray) -> list[str]:
    """The raw columns whose blanks explain where a variable is missing: blank where it is
    missing far more often than where it is known (last follow-up date, not the death date
    that is blank for everyone alive)."""
    if not len(columns):
        return []
    scores = {}
    for c in columns:
        if c not in t.raw.columns:
            continue
        blank = t.raw[c].map(lambda v: canonical_text(v) is None).to_numpy(dtype=bool)
        rows = t.data["_row"].to_numpy() - 1
        blank = blank[rows]
        inside = blank[mask].mean() if mask.any() else 0.0
        outside = blank[~mask].mean() if (~mask).any() else 0.0
        scores[c] = float(inside - outside)
    if not scores:
        return []
    best = max(scores.values())
    return [c for c, v in scores.items() if v > 0 and v >= best - 0.1]


def _missingness(t: CheckedTrial, f: IntegrityFinding, follow_up: set[str]) -> list[Finding]:
    out = []
    for flagged in f.details.get("flagged", []):
        variable = flagged["variable"]
        if variable not in t.data.columns:
            continue
        mask = t.data[variable].isna().to_numpy()
        affected = _affected(t, mask)
        cols = t.mapping.source_columns(variable)
        empty = _explaining(t, cols, mask) or list(cols)
        cells = tuple(Cell(row=r, column=c) for _, r in affected for c in empty
                      if t.blank(c, r))
        topic = "follow-up" if variable in follow_up else f"missing:{variable}"
        links = [f"pattern:{topic}"] + [f"pattern:missing:{c}" for c in empty] + \
            [f"cell:{c.key}" for c in cells]
        out.append(Finding(
            trial=t.trial, check_id="integrity:missingness-by-arm", source="integrity",
            severity=f.severity, variable=variable,
            message=f"{variable} missing " + ", ".join(
                f"{k} {v:.0%}" for k, v in flagged["missing_share"].items()),
            source_columns=tuple(empty), scope="trial", affected=affected,
            links=tuple(links), order=t.order(f"missing:{variable}"),
            facts={"kind": "missingness", "variable": variable, "columns": empty,
                   "missing_share": dict(flagged["missing_share"])}))
    return out


def _pattern(t: CheckedTrial, f: IntegrityFinding, follow_up: set[str]) -> Finding:
    spec = CHECKS.get(f.check)
    topic = spec.topic if spec is not None else f.check
    cols = t.mapping.source_columns(f.variable) if f.variable else ()
    affected: tuple[tuple[str | None, int], ...] = ()
    if f.check == "randomisation-weekday" and f.rows:
        mask = np.isin(t.data["_row"].to_numpy(), np.array(f.rows))
        affected = _affected(t, mask)
    if f.check == "follow-up-by-arm":
        topic = "follow-up"
    return Finding(
        trial=t.trial, check_id=f"integrity:{f.check}", source="integrity",
        severity=f.severity, variable=f.variable, message=f.message,
        rows=tuple(f.rows[:50]), source_columns=tuple(cols), scope="trial",
        affected=affected, links=(f"pattern:{topic}",), order=t.order(f.check),
        facts={"kind": f.check, "details": dict(f.details), "variable": f.variable})


def _rule_links(t: CheckedTrial, findings: list[Finding]) -> list[Finding]:
    """Link a participant's failing values that a dictionary rule holding on their row ties
    together (one is out of range because the other is: one cause)."""
    failing: dict[int, set[str]] = {}
    for f in findings:
        if f.scope == "participant" and f.row is not None:
            variables = set(f.facts.get("variables", [])) or ({f.variable} if f.variable
                                                               else set())
            failing.setdefault(f.row, set()).update(variables)
    if not failing:
        return findings
    rows = sorted(failing)
    positions = np.flatnonzero(np.isin(t.data["_row"].to_numpy(), np.array(rows)))
    sub = t.data.iloc[positions].reset_index(drop=True)
    holding: dict[int, list[tuple[str, set[str]]]] = {}
    for rule in t.dictionary.rules:
        names = set(rule.variables)
        touched = [i for i, r in enumerate(sub["_row"]) if len(names & failing[int(r)]) >= 2]
        if not touched or not names <= set(sub.columns):
            continue
        result = evaluate_rule(rule, sub.iloc[touched].reset_index(drop=True))
        for j, i in enumerate(touched):
            value = result.iat[j]
            if not pd.isna(value) and bool(value):
                holding.setdefault(int(sub["_row"].iat[i]), []).append((rule.id, names))
    out = []
    for f in findings:
        extra = []
        if f.scope == "participant" and f.row in holding:
            variables = set(f.facts.get("variables", [])) or {f.variable}
            extra = [f"holds:{rule_id}:{f.row}" for rule_id, names in holding[f.row]
                     if variables & names]
        out.append(f if not extra else _with_links(f, extra))
    return out


def _with_links(f: Finding, links: list[str]) -> Finding:
    from dataclasses import replace

    return replace(f, links=tuple(dict.fromkeys([*f.links, *links])))


def findings_for(t: CheckedTrial, failures: pd.DataFrame | None, problems: pd.DataFrame,
                 integrity: Sequence[IntegrityFinding]) -> list[Finding]:
    """Every failure of a checked trial (validation ``failures``, mapping ``problems``,
    failed ``integrity`` checks) as findings ready to group into questions."""
    findings = _mapping(t, problems)
    if failures is not None:
        findings += _validation(t, failures)
    follow_up = {v for o in t.dictionary.outcomes if o.kind == "time_to_event"
                 for v in (o.censor_date, o.time) if v}
    for f in integrity:
        if not f.failed:
            continue
        if f.check == "ids":
            findings += _ids(t, f)
        elif f.check == "dates-after-randomisation":
            findings += _dates(t, f)
        elif f.check == "missingness-by-arm":
            findings += _missingness(t, f, follow_up)
        else:
            findings.append(_pattern(t, f, follow_up))
    return _rule_links(t, findings)
