"""Findings on rows of long tables (adverse events, visits) as questions about the trial's own
rows.

:func:`~harmonise.pipeline.checking.check_trials` validates each long table and checks its
integrity (:mod:`harmonise.checks.tables`); this module turns every failure - a value out of
range or not a code of the dictionary, a required value missing, a rule of the table, a code
the mapping cannot recode, an event dated before randomisation, a visit outside its window, a
repeated or orphan row key - into a :class:`~harmonise.queries.questions.Finding` pointing at
the trial's own row: the delivered dataset (``ae``), its 1-based row, the participant, the
row's key as the trial wrote it (``AESEQ=3``; the finding's ``record``, so the question keeps
its identity when a re-delivery re-orders the rows) and the trial's columns behind the value.

Findings are grouped into one question per root cause like the participant table's (shared
raw cells, shared unmatched codes), and worded in the trial's terms by the participant table's
wording (:func:`~harmonise.pipeline.wording.word_group`, given the table's own mapping, rows
and columns), prefixed with where the row is: ``ae, row 17 (USUBJID 01-701-1015, AESEQ 3)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.checks.integrity import IntegrityFinding
from harmonise.checks.tables import TableChecks, origin_of, with_context
from harmonise.checks.validation import checks_run
from harmonise.dictionary.tables import Table
from harmonise.mapping.harmonised import HarmonisedTrial
from harmonise.pipeline.findings import CheckedTrial
from harmonise.queries.questions import Cell, Finding, Group, Wording
from harmonise.values.cells import canonical_text
from harmonise.values.problems import REASONS

__all__ = ["LongTable", "TableFindings", "long_tables", "table_findings"]

_WHERE = {"en": "{dataset}, row {row} ({key}): ", "fr": "{dataset}, ligne {row} ({key}) : "}
_WINDOW = {"en": "{what} is day {day} from {origin}, outside the window of this visit "
                 "(planned day {planned}, -{before}/+{after} days). Please check the date.",
           "fr": "{what} est au jour {day} depuis {origin}, hors de la fenêtre de cette visite "
                 "(jour prévu {planned}, -{before}/+{after} jours). Merci de vérifier la date."}
_BEFORE = {"en": "{what} is before {origin}, the participant's date of randomisation (or the "
                 "table's origin). Please check these dates.",
           "fr": "{what} est antérieur à {origin}, la date de randomisation du participant (ou "
                 "l'origine de la table). Merci de vérifier ces dates."}
_KEYS = {"en": "this row repeats {key} of another row of the participant (row(s) {rows}), or "
               "its participant is not in the participant dataset. Which is right?",
         "fr": "cette ligne répète {key} d'une autre ligne du participant (ligne(s) {rows}), "
               "ou son participant n'est pas dans le fichier des participants. Laquelle est "
               "juste ?"}


@dataclass(frozen=True, eq=False)
class LongTable:
    """One long table of a checked trial, as the findings and their wording see it: a
    :class:`CheckedTrial` of the table (its view of the dictionary, its mapping, its rows with
    the participant variables it is checked against, and the delivered dataset aligned so
    that ``raw.iat[row - 1]`` is delivered row ``row``)."""

    name: str
    dataset: str
    checked: CheckedTrial
    key_columns: tuple[str, ...]
    id_column: str | None
    table: Table
    #: the participant date the table's days count from (randomisation)
    origin: str | None
    participants: CheckedTrial

    def origin_text(self, row: int) -> str:
        """The participant's origin date as the trial wrote it: ``RANDDT 03/02/2021``, else
        the dictionary's label and the harmonised date."""
        who, t = self.participant(row), self.participants
        if self.origin is None or who is None:
            return "-"
        hit = np.flatnonzero((t.data["participant_id"] == who).to_numpy())
        if not len(hit):
            return "-"
        base_row = t.row_of(int(hit[0]))
        rule = t.mapping.rule(self.origin) if self.origin in t.mapping else None
        column = getattr(rule, "column", None)
        if column is not None and column in t.raw.columns:
            return f"{column} {canonical_text(t.raw[column].iat[base_row - 1])}"
        var = t.dictionary.variable(self.origin) if self.origin in t.dictionary else None
        label = var.label if var is not None and var.label else self.origin
        return f"{label} {canonical_text(t.data[self.origin].iat[int(hit[0])])}"

    def date_text(self, row: int) -> str:
        """The row's date as the trial wrote it: ``AESTDT 15/01/2021``."""
        t, date = self.checked, self.table.date
        column = next((c for c in t.mapping.source_columns(date) if c in t.raw.columns),
                      None) if date else None
        if column is None:
            return date or "-"
        return f"{column} {canonical_text(t.raw[column].iat[row - 1])}"

    def key_text(self, row: int) -> str:
        """The row's key as the trial wrote it: ``AESEQ=3`` (``row N`` without a key); a key
        the participant repeats on several rows gets the row's place among them (``#2``)."""
        raw = self.checked.raw
        columns = [c for c in self.key_columns if c in raw.columns]
        if not columns:
            return f"row {row}"

        def key(r: int) -> tuple[str | None, ...]:
            return tuple(canonical_text(raw[c].iat[r - 1]) for c in columns)

        text = ", ".join(f"{c}={v}" for c, v in zip(columns, key(row)))
        data, who = self.checked.data, self.participant(row)
        same = [int(r) for r in data.loc[data["participant_id"] == who, "_row"]
                if key(int(r)) == key(row)] if who is not None else []
        return text if len(same) <= 1 else f"{text}#{sorted(same).index(row) + 1}"

    def where(self, row: int, language: str) -> str:
        raw = self.checked.raw
        shown = [f"{c} {canonical_text(raw[c].iat[row - 1])}"
                 for c in ([self.id_column] if self.id_column else []) + list(self.key_columns)
                 if c in raw.columns]
        words = _WHERE.get(language, _WHERE["en"])
        return words.format(dataset=self.dataset, row=row, key=", ".join(shown) or "-")

    def participant(self, row: int) -> str | None:
        data = self.checked.data
        hit = np.flatnonzero(data["_row"].to_numpy() == row)
        if not len(hit):
            return None
        pid = data["participant_id"].iat[int(hit[0])]
        return None if pd.isna(pid) else str(pid)

    def sequence(self, row: int) -> int | None:
        """Which of the participant's rows of the table this is (1-based, delivered order)."""
        data, who = self.checked.data, self.participant(row)
        if who is None:
            return None
        rows = sorted(int(r) for r in data.loc[data["participant_id"] == who, "_row"])
        return rows.index(row) + 1 if row in rows else None

    def cells(self, variables: Sequence[str], row: int) -> tuple[Cell, ...]:
        raw, mapping = self.checked.raw, self.checked.mapping
        cols = [c for v in variables for c in mapping.source_columns(v) if c in raw.columns]
        return tuple(Cell(row=row, column=c, dataset=self.dataset)
                     for c in dict.fromkeys(cols))


def _aligned(h: HarmonisedTrial) -> pd.DataFrame:
    """The table's raw rows placed at their delivered row numbers (1-based position)."""
    rows = h.data["_row"].to_numpy(dtype=np.int64)
    raw = h.raw.reset_index(drop=True)
    if not len(rows) or len(raw) != len(rows):
        return raw
    return raw.set_axis(pd.Index(rows)).reindex(pd.RangeIndex(1, int(rows.max()) + 1))


def long_tables(trial: CheckedTrial, tables: Mapping[str, HarmonisedTrial]) -> dict[str, LongTable]:
    """Each delivered long table of ``trial`` as a :class:`LongTable`."""
    out = {}
    for name, h in tables.items():
        if not h.dataset or h.data.empty:
            continue
        table = trial.dictionary.table(name)
        origin = origin_of(trial.dictionary, table)
        data = with_context(h.data, trial.data, [origin] if origin else [])
        key_columns = tuple(dict.fromkeys(c for k in table.key
                                          for c in h.mapping.source_columns(k)))
        checked = CheckedTrial(trial=trial.trial, dictionary=h.dictionary, mapping=h.mapping,
                               raw=_aligned(h), data=data, id_column=h.mapping.id_column or "",
                               context=None, language=trial.language)
        out[name] = LongTable(name=name, dataset=h.dataset, checked=checked,
                              key_columns=key_columns, id_column=h.mapping.id_column,
                              table=table, origin=origin, participants=trial)
    return out


def _finding(lt: LongTable, row: int, *, check: str, source: str, message: str,
             variables: Sequence[str], facts: dict[str, Any], **kw: Any) -> Finding:
    cells = kw.pop("cells", None) or lt.cells(variables, row)
    cols = tuple(dict.fromkeys(c.column for c in cells))
    t = lt.checked
    return Finding(trial=t.trial, check_id=f"{lt.name}/{check}", source=source, message=message,
                   participant=lt.participant(row), rows=(row,), source_columns=cols,
                   raw_values=t.raw_values(cols, row), cells=cells, dataset=lt.dataset,
                   sequence=lt.sequence(row), record=lt.key_text(row),
                   facts={**facts, "table": lt.name, "variables": list(variables)}, **kw)


def _validation(lt: LongTable, failures: pd.DataFrame) -> list[Finding]:
    out = []
    for f in failures.itertuples(index=False):
        if pd.isna(f.row):
            continue
        variables = [v.strip() for v in str(f.variable).split(",")]
        kind, _, name = str(f.check).partition(":")
        out.append(_finding(lt, int(f.row), check=str(f.check), source="validation",
                            message=str(f.message), variables=variables,
                            facts={"kind": kind, "name": name}, variable=f.variable,
                            severity=f.severity, value=f.value,
                            order=lt.checked.order(str(f.check))))
    return out


def _mapping(lt: LongTable, problems: pd.DataFrame) -> list[Finding]:
    out = []
    for p in problems.itertuples(index=False):
        if pd.isna(p.row):
            continue
        row = int(p.row)
        cols = [c.strip() for c in str(p.columns or "").split(",") if c.strip()]
        value = None if pd.isna(p.value) else str(p.value)
        cells = tuple(Cell(row=row, column=c, dataset=lt.dataset) for c in cols
                      if c in lt.checked.raw.columns)
        out.append(_finding(lt, row, check=f"mapping:{p.reason}", source="mapping",
                            message=str(p.message), variables=[p.variable], cells=cells,
                            facts={"kind": "mapping", "reason": p.reason}, variable=p.variable,
                            value=value, audience="curator", order=-1,
                            links=(f"code:{lt.name}.{p.variable}:{p.reason}:{value}",)))
    return out


def _window_text(lt: LongTable, row: int) -> str:
    t, w = lt.checked, lt.table.window
    assert w is not None and lt.table.date is not None and lt.origin is not None
    hit = np.flatnonzero(t.data["_row"].to_numpy() == row)[0]
    days = int((t.data[lt.table.date].iat[hit] - t.data[lt.origin].iat[hit]).days)
    words = _WINDOW.get(t.language, _WINDOW["en"])
    return words.format(what=lt.date_text(row), day=days + (w.origin_day if days >= 0 else 0),
                        origin=lt.origin_text(row), before=w.before, after=w.after,
                        planned=canonical_text(t.data[w.planned_day].iat[hit]))


def _integrity(lt: LongTable, f: IntegrityFinding) -> list[Finding]:
    t, table, origin = lt.checked, lt.table, lt.origin
    out = []
    for row in f.rows:
        row = int(row)
        if f.check == "table-dates" and table.date:
            variables, facts = [table.date], {"kind": "before_origin", "rand": origin}
            message = _BEFORE.get(t.language, _BEFORE["en"]).format(
                what=lt.date_text(row), origin=lt.origin_text(row))
        elif f.check == "visits-in-window" and table.date:
            variables, facts = [table.date], {"kind": "visit_window"}
            message = _window_text(lt, row)
        else:
            key = list(table.key)
            others = t.data.loc[t.data["participant_id"] == lt.participant(row), "_row"]
            variables, facts = key or ["participant_id"], {"kind": "table_key"}
            message = _KEYS.get(t.language, _KEYS["en"]).format(
                key=", ".join(lt.key_columns) or "participant",
                rows=", ".join(str(int(r)) for r in others if int(r) != row) or "-")
        out.append(_finding(lt, row, check=f.check, source="integrity", message=message,
                            variables=variables, facts=facts, variable=f.variable,
                            severity=f.severity, order=t.order(f.check)))
    return out


@dataclass(frozen=True)
class TableFindings:
    """The long tables' findings of one checked trial, the checks that ran on them (only these
    may close a question), and the wording of their questions."""

    findings: tuple[Finding, ...]
    checks_run: tuple[str, ...]
    tables: Mapping[str, LongTable]

    def wording(self, participants: Callable[[Group], Wording]) -> Callable[[Group], Wording]:
        """A wording of every group: a long table's row in its table's terms, prefixed with
        where the row is; any other group by ``participants``."""
        by_dataset = {lt.dataset: lt for lt in self.tables.values()}

        def word(group: Group) -> Wording:
            p = group.primary
            lt = by_dataset.get(p.dataset)
            if lt is None or p.row is None or p.check_id.split("/", 1)[0] != lt.name:
                return participants(group)
            from harmonise.pipeline.wording import word_group

            words = word_group(group, lt.checked)
            prefix = lt.where(p.row, words.language)
            return Wording(text=prefix + words.text, consequences=words.consequences,
                           hint=words.hint, language=words.language)

        return word


def table_findings(trial: CheckedTrial, tables: Mapping[str, HarmonisedTrial],
                   checks: Mapping[str, TableChecks]) -> TableFindings:
    """Every failure on the rows of ``trial``'s long ``tables`` (``checks``: each table's
    validation and integrity) as findings (see the module docstring)."""
    views = long_tables(trial, tables)
    findings: list[Finding] = []
    ran: list[str] = []
    for name, lt in views.items():
        ran += [f"{name}/mapping:{reason}" for reason in REASONS]
        findings += _mapping(lt, tables[name].problems)
        tc = checks.get(name)
        if tc is None:
            continue
        if tc.validation is not None:
            ran += [f"{name}/{c}" for c in checks_run(tc.validation)]
            findings += _validation(lt, tc.failures)
        for f in tc.integrity:
            if f.status != "skipped":
                ran.append(f"{name}/{f.check}")
            if f.failed:
                findings += _integrity(lt, f)
    return TableFindings(findings=tuple(findings), checks_run=tuple(ran), tables=views)
