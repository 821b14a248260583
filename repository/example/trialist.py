"""A simulated trialist: answers a query workbook from the example's ground truth.

The demo and the end-to-end tests need the trials' answers to the queries that the checks
raise. A real trial team would look up their case report forms; here :func:`answer_workbook`
looks up ``truth/planted.yaml``, which says for every planted problem how the trial answers
(a typing error and the right value, a value that is missing and now found, a value confirmed
correct, or a re-delivery). Queries about anything else are left unanswered - in the example
there are none, which is what the tests check.

The workbook is read and written with openpyxl only, the way a trialist's spreadsheet program
would: protected cells are left alone, only the answer cells are filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Answered", "answer_workbook", "load_answers"]

#: the workbook headers this module reads and writes (docs/query-workbook.md)
HEADERS = {"participant": "Participant ID", "columns": "Your column(s)",
           "question": "Question", "response": "Response (choose)",
           "corrected": "Corrected value", "comment": "Comment"}
WHOLE_TRIAL = "(whole trial)"
LABELS = {"typographical_error": "Typographical error", "data_missing": "Data missing",
          "confirmed_correct": "Confirmed correct", "wrong_source": "Wrong source",
          "other": "Other"}


@dataclass(frozen=True)
class Answered:
    trial: str
    answered: int
    left_blank: int
    path: Path


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
    return [c.strip() for c in re.split(r"[\n;,]", text) if c.strip()]


def _choose(entries: list[dict[str, Any]], question: str) -> dict[str, Any] | None:
    """The planted answer a query is about; for a repeated ID, the row the question names."""
    if len(entries) == 1:
        return entries[0]
    row = re.search(r"row (\d+)", question or "")
    for entry in entries:
        if row and entry.get("delivery_row") == int(row.group(1)):
            return entry
    return entries[0]


def _answer(entry: dict[str, Any], columns: list[str]) -> tuple[str, str | None, str]:
    response = entry["response"]
    code = response["code"]
    comment = response.get("comment") or ""
    if code == "redelivery":
        return "other", None, f"{comment} ({entry.get('redelivery')})"
    if code == "confirmed_correct":
        return code, None, comment
    value = _text(response["value"])
    source = entry["source_column"]
    if columns == [source]:
        return code, value, comment
    if source in columns:
        return code, f"{source}={value}", comment
    # the query is about other columns of a participant whose problem lies elsewhere
    return "other", None, f"see the correction of {source}: {comment}"


def answer_workbook(workbook: Path, example_dir: Path, out: Path | None = None) -> Answered:
    """Fill in the answers to ``workbook`` (written by ``ipdrepo queries export``)."""
    import openpyxl

    answers = load_answers(example_dir)
    book = openpyxl.load_workbook(workbook)
    sheet = book["Queries"] if "Queries" in book.sheetnames else book.worksheets[0]
    header = [c.value for c in sheet[1]]
    col = {key: header.index(name) + 1 for key, name in HEADERS.items()}
    trial = _trial_of(book)
    answered = blank = 0
    for r in range(2, sheet.max_row + 1):
        participant = sheet.cell(r, col["participant"]).value
        if participant is None:
            continue
        question = str(sheet.cell(r, col["question"]).value or "")
        entries = answers.get((trial, _text(participant)), [])
        if not entries:  # a query about the whole trial, or about nothing planted
            trial_level = _trial_level(answers, trial, question)
            if trial_level is None or str(participant) != WHOLE_TRIAL:
                blank += 1
                continue
            entries = [trial_level]
        entry = _choose(entries, question)
        assert entry is not None
        code, value, comment = _answer(entry, _columns(sheet.cell(r, col["columns"]).value))
        sheet.cell(r, col["response"]).value = LABELS[code]
        sheet.cell(r, col["corrected"]).value = value
        sheet.cell(r, col["comment"]).value = comment
        answered += 1
    target = out or workbook.with_name(workbook.stem + "-answered.xlsx")
    book.save(target)
    return Answered(trial=trial, answered=answered, left_blank=blank, path=target)


def _trial_level(answers: Mapping[tuple[str, str], list[dict[str, Any]]], trial: str,
                 question: str) -> dict[str, Any] | None:
    """A trial-level query (no participant) about a planted arm imbalance: answered by the
    re-delivery."""
    for (t, _), entries in answers.items():
        for entry in entries:
            if t == trial and entry["kind"] == "arm_imbalance":
                return entry
    return None


def _trial_of(book: Any) -> str:
    for name in book.sheetnames:
        ws = book[name]
        if ws.sheet_state != "visible" and name != "Queries":
            for row in ws.iter_rows(values_only=True):
                if row and str(row[0]).strip().lower() == "trial":
                    return str(row[1])
    raise ValueError("the workbook does not say which trial it is for")
