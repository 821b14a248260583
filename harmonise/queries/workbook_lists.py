"""The participant list of a question about several participants: its own sheet of the
workbook, checked when the workbook comes back.

A question about a pattern (missing follow-up in one arm, randomisations on weekends) or about
one code on many rows is one row of the Queries sheet; the participants it concerns are listed
on a sheet named after the query (``Q12``), one row each: the trial's participant ID, the
column(s) and value(s) in the trial's data, and two answer cells (corrected value, comment).
The response is chosen once, on the question's row.

Pure like :mod:`harmonise.queries.workbook_checks`: :func:`check_list` sees the rows read back
and what the export recorded (:class:`ListRow`), and returns the corrected cells and every
problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmonise.queries.workbook_checks import (
    ColumnRule,
    ListAnswers,
    SheetRow,
    WorkbookProblem,
    cell_value_text,
    split_corrected_value,
)

__all__ = ["LIST_KEYS", "LIST_PROTECTED", "LIST_ANSWER", "ListRow", "list_sheet", "check_list"]

LIST_PROTECTED = ("participant", "columns", "delivered")
LIST_ANSWER = ("corrected", "comment")
LIST_KEYS = LIST_PROTECTED + LIST_ANSWER


def list_sheet(query: int) -> str:
    """The name of a question's participant sheet."""
    return f"Q{query}"


@dataclass(frozen=True)
class ListRow:
    """One participant row of a list sheet, as recorded at export."""

    row: int  # the sheet's row (2 for the first participant)
    participant: str | None  # pseudonym
    data_row: int | None  # the participant's row in the delivery
    shown: Mapping[str, str | None]  # protected cells (participant left out: the pseudonym)
    columns: tuple[ColumnRule, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "participant": self.participant, "data_row": self.data_row,
                "shown": dict(self.shown), "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ListRow:
        return cls(row=int(data["row"]), participant=data.get("participant"),
                   data_row=None if data.get("data_row") is None else int(data["data_row"]),
                   shown=dict(data.get("shown", {})),
                   columns=tuple(ColumnRule.from_dict(c) for c in data.get("columns", [])))


def _short(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "(empty)"
    text = text.replace("\n", " / ")
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def check_list(sheet: str, rows: Sequence[SheetRow], sent: Sequence[ListRow], *, query: int,
               letters: Mapping[str, str], headers: Mapping[str, str],
               pseudonym: Callable[[str], str]) -> ListAnswers:
    """Check a list sheet read back against what was sent; the corrected cells (each checked
    against its column and written the trial's way) and the comments by participant ID."""
    problems: list[WorkbookProblem] = []
    by_row = {r.row: r for r in rows}

    def problem(row: int, key: str | None, message: str) -> WorkbookProblem:
        if key is None:
            return WorkbookProblem(message, sheet=sheet, row=row, query=query)
        return WorkbookProblem(message, sheet=sheet, row=row, column=headers[key],
                               cell=f"{letters[key]}{row}", query=query)

    expected = {s.row for s in sent}
    for r in rows:
        if r.row not in expected:
            problems.append(problem(r.row, None, "this row was added; the sheet must keep one "
                                    "row per participant, as sent: delete it, and write "
                                    "anything else in Comment."))
        for key, value in r.extra.items():
            problems.append(WorkbookProblem(
                f"{_short(cell_value_text(value))} was typed right of the answer columns, where "
                "it would be lost; move it into Comment.", sheet=sheet, row=r.row, column=key,
                cell=f"{key}{r.row}", query=query))
    cells: list[dict[str, Any]] = []
    comments: list[str] = []
    for s in sent:
        found = by_row.get(s.row)
        if found is None:
            problems.append(problem(s.row, None, "the row of this participant was deleted; "
                                    "put it back from the workbook we sent."))
            continue
        r = found
        problems += _protected(r, s, problem, pseudonym)
        value = cell_value_text(r.cells.get("corrected"))
        note = cell_value_text(r.cells.get("comment"))
        who = cell_value_text(r.cells.get("participant")) or f"row {s.data_row}"
        if note:
            comments.append(f"{who}: {note}")
        if value is None:
            continue
        try:
            parsed = _corrected(r.cells.get("corrected"), s.columns)
        except ValueError as exc:
            problems.append(problem(s.row, "corrected", f"{exc}."))
            continue
        for column, new in parsed.items():
            cells.append({"participant": s.participant, "row": s.data_row, "dataset": "main",
                          "column": column, "value": new})
    return ListAnswers(cells=tuple(cells), comments=tuple(comments),
                       problems=tuple(problems))


def _protected(r: SheetRow, s: ListRow,
               problem: Callable[[int, str | None, str], WorkbookProblem],
               pseudonym: Callable[[str], str]) -> list[WorkbookProblem]:
    out = []
    for key in LIST_PROTECTED:
        now = cell_value_text(r.cells.get(key))
        if key == "participant" and s.participant is not None:
            if now is not None and pseudonym(now) == s.participant:
                continue
            out.append(problem(r.row, key, f"the participant ID was changed to {_short(now)}; "
                               "this cell is protected. Put back the ID we sent."))
            continue
        if now != s.shown.get(key):
            out.append(problem(r.row, key, f"this cell is protected and was changed from "
                               f"{_short(s.shown.get(key))} to {_short(now)}. Put back what we "
                               "sent; write corrections in Corrected value."))
    return out


def _corrected(raw: Any, rules: Sequence[ColumnRule]) -> dict[str, str | None]:
    """A list row's corrected value: {column: value written the trial's way, None = empty}."""
    if len(rules) == 1 and not isinstance(raw, str):
        return {rules[0].column: _one(rules[0], raw)}
    text = cell_value_text(raw) or ""
    parts = split_corrected_value(text, [r.column for r in rules])
    by_name = {r.column: r for r in rules}
    return {name: (_one(by_name[name], value) if value else None)
            for name, value in parts.items()}


def _one(rule: ColumnRule, value: Any) -> str:
    try:
        return rule.normalise(value)
    except ValueError as exc:
        text = cell_value_text(value)
        raise ValueError(f"{_short(text)} is not valid for your column {rule.column}: {exc}; "
                         f"write {rule.describe()}") from exc

