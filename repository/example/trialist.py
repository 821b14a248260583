"""A simulated trialist: answers a query workbook from the example's ground truth.

The demo and the end-to-end tests need the trials' answers to the questions that the checks
raise. A real trial team would look up their case report forms; here :func:`answer_workbook`
looks up ``truth/planted.yaml``, which says for every planted problem how the trial answers
(a typing error and the right value, a value that is missing and now found, a value confirmed
correct, or a re-delivery). Each question is answered once, on its row of the questions sheet;
the values of a question about several participants go on its own sheet, one per participant.
Questions about anything else are left unanswered - in the example there are none, which is
what the tests check.

The workbook is read and written with openpyxl only, the way a trialist's spreadsheet program
would: protected cells are left alone, only the answer cells are filled in. The columns are
found by their place (docs/query-workbook.md), so the simulation reads workbooks in any of
their languages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Answered", "answer_workbook", "load_answers"]

#: the questions sheet, by column: 1-based positions (docs/query-workbook.md)
QUESTIONS = {"query": 1, "participant": 2, "columns": 3, "delivered": 4, "question": 5,
             "response": 9, "corrected": 10, "comment": 11}
#: a participant sheet of a question about several participants
LISTED = {"participant": 1, "columns": 2, "corrected": 4, "comment": 5}
#: the response labels of the drop-down, per workbook language
LABELS = {
    "en": {"typographical_error": "Typographical error", "data_missing": "Data missing",
           "confirmed_correct": "Confirmed correct", "wrong_source": "Wrong source",
           "other": "Other"},
    "fr": {"typographical_error": "Erreur de saisie", "data_missing": "Donnée manquante",
           "confirmed_correct": "Confirmée correcte", "wrong_source": "Mauvaise source",
           "other": "Autre"},
}


@dataclass(frozen=True)
class Answered:
    trial: str
    answered: int  # questions answered (rows of the questions sheet)
    left_blank: int
    path: Path
    values: int = 0  # values written on participant sheets


def load_answers(example_dir: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(trial, participant ID as the trial writes it) -> the planted problems' answers."""
    planted = yaml.safe_load((Path(example_dir) / "truth" / "planted.yaml").read_text())
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for problem in planted["problems"]:
        for p in problem.get("participants") or []:
            key = (problem["trial"], str(p.get("delivered_value") if problem["kind"] ==
                                         "duplicate_id" else p["participant_id"]))
            out.setdefault(key, []).append({**p, "kind": problem["kind"],
                                            "source_column": problem["source_column"],
                                            "redelivery": problem.get("redelivery")})
    return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _columns(cell: Any) -> list[str]:
    text = "" if cell is None else str(cell)
    return [c.strip() for c in re.split(r"[\n;]", text) if c.strip()]


def _choose(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The planted answer a question is about: of a repeated ID's rows, the wrong one."""
    wrong = [e for e in entries if e["response"]["code"] != "confirmed_correct"]
    return (wrong or entries)[0]


def _labelled(entry: dict[str, Any], columns: list[str], value: str) -> str | None:
    """``value`` written for the question's cells: plain for one column, ``LABEL=value``."""
    source = entry["source_column"]
    if columns == [source]:
        return value
    if source in columns:
        return f"{source}={value}"
    row = entry.get("delivery_row")
    for label in columns:
        if row is not None and re.fullmatch(rf"\D+ {row}", label):
            return f"{label}={value}"
    return None


def _answer(entry: dict[str, Any], columns: list[str]) -> tuple[str, str | None, str]:
    response = entry["response"]
    code = response["code"]
    comment = response.get("comment") or ""
    if code == "redelivery":
        return "other", None, f"{comment} ({entry.get('redelivery')})"
    if code == "confirmed_correct":
        return code, None, comment
    written = _labelled(entry, columns, _text(response["value"]))
    if written is None:  # about other columns of a participant whose problem lies elsewhere
        return "other", None, f"see the correction of {entry['source_column']}: {comment}"
    return code, written, comment


def _meta(book: Any) -> dict[str, str]:
    for name in book.sheetnames:
        ws = book[name]
        if ws.sheet_state != "visible":
            return {str(r[0]).strip().lower(): str(r[1]) for r in ws.iter_rows(values_only=True)
                    if r and r[0] is not None}
    raise ValueError("the workbook does not say which trial it is for")


def _listed(book: Any, sheet: str, trial: str,
            answers: Mapping[tuple[str, str], list[dict[str, Any]]]) -> tuple[str | None, int]:
    """Fill in a question's participant sheet; (the response code, values written)."""
    ws = book[sheet]
    codes: list[str] = []
    written = 0
    for r in range(2, ws.max_row + 1):
        participant = ws.cell(r, LISTED["participant"]).value
        entries = answers.get((trial, _text(participant)), []) if participant else []
        if not entries:
            continue
        entry = _choose(entries)
        code, value, comment = _answer(entry, _columns(ws.cell(r, LISTED["columns"]).value))
        codes.append(code)
        if value is not None:
            ws.cell(r, LISTED["corrected"]).value = value
            written += 1
    if not codes:
        return None, 0
    return max(set(codes), key=codes.count), written


def answer_workbook(workbook: Path, example_dir: Path, out: Path | None = None) -> Answered:
    """Fill in the answers to ``workbook`` (written by ``ipdrepo queries export``)."""
    import openpyxl

    answers = load_answers(example_dir)
    book = openpyxl.load_workbook(workbook)
    meta = _meta(book)
    trial, labels = meta["trial"], LABELS.get(meta.get("language", "en"), LABELS["en"])
    sheet = book.worksheets[0]
    answered = blank = values = 0
    for r in range(2, sheet.max_row + 1):
        query = sheet.cell(r, QUESTIONS["query"]).value
        if query is None:
            continue
        listed = f"Q{int(query)}"
        if listed in book.sheetnames:
            code, n = _listed(book, listed, trial, answers)
            if code is None:
                blank += 1
                continue
            sheet.cell(r, QUESTIONS["response"]).value = labels[code]
            values += n
            answered += 1
            continue
        participant = str(sheet.cell(r, QUESTIONS["participant"]).value or "")
        entries = answers.get((trial, participant), [])
        if not entries:  # a question about the whole trial, or about nothing planted
            trial_level = _trial_level(answers, trial) if participant.startswith("(") else None
            if trial_level is None:
                blank += 1
                continue
            entries = [trial_level]
        code, value, comment = _answer(_choose(entries),
                                       _columns(sheet.cell(r, QUESTIONS["columns"]).value))
        sheet.cell(r, QUESTIONS["response"]).value = labels[code]
        sheet.cell(r, QUESTIONS["corrected"]).value = value
        sheet.cell(r, QUESTIONS["comment"]).value = comment
        answered += 1
    target = out or workbook.with_name(workbook.stem + "-answered.xlsx")
    book.save(target)
    return Answered(trial=trial, answered=answered, left_blank=blank, path=target,
                    values=values)


def _trial_level(answers: Mapping[tuple[str, str], list[dict[str, Any]]],
                 trial: str) -> dict[str, Any] | None:
    """A question about the whole trial on a planted arm imbalance: answered by the
    re-delivery."""
    for (t, _), entries in answers.items():
        for entry in entries:
            if t == trial and entry["kind"] == "arm_imbalance":
                return entry
    return None
