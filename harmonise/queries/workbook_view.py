"""What each question shows in the workbook: the trial's own IDs, columns and values as they
stand now (after the corrections already accepted - never a stale value), the question with
what else fails because of it, the thread so far, how to write a corrected value, the due date;
and, for a question about several participants, the rows of its own sheet.

A curator action: the trial's own IDs come from its deliveries and the repository secret.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from harmonise.queries.corrections import active_corrections, apply_corrections
from harmonise.queries.i18n import RESPONSE_WORDS, language, words
from harmonise.queries.row_corrections import apply_row_corrections
from harmonise.queries.workbook_checks import ColumnRule, infer_column_rule
from harmonise.queries.workbook_lists import ListRow, list_sheet
from harmonise.queries.workbook_render import ListSheet, cell_safe, format_date
from harmonise.values.cells import canonical_text as cell_text
from repository.deliveries import load_delivery, pseudonymised_ids
from repository.formats import ColumnInfo
from repository.models import Delivery, Query, Trial
from repository.pseudonyms import reidentify
from repository.store import Store

__all__ = ["Deliveries", "QuestionView", "view_question", "natural_key"]


class Deliveries:
    """The trial's deliveries, each read at most once; the current one also as it stands after
    the trial's active corrections."""

    def __init__(self, store: Store, session: Session, trial: Trial) -> None:
        self.store, self.session, self.trial = store, session, trial
        self.tables: dict[int, Any] = {}
        self.own_ids: dict[str, str] = {}
        self._mapped: set[int] = set()
        self._rules: dict[tuple[int | None, str], tuple[ColumnRule, ColumnInfo | None]] = {}
        self._now: dict[int, Any] = {}
        self.ordered: list[Delivery] = sorted(trial.deliveries,
                                              key=lambda d: (not d.is_current, -d.id))

    @property
    def current(self) -> Delivery | None:
        return next((d for d in self.ordered if d.is_current), None)

    def table(self, delivery: Delivery) -> Any:
        if delivery.id not in self.tables:
            self.tables[delivery.id] = load_delivery(self.store, delivery)
        return self.tables[delivery.id]

    def own_id(self, pseudonym: str) -> str | None:
        """The trial's own ID for ``pseudonym``, reading deliveries until it is found."""
        if pseudonym in self.own_ids:
            return self.own_ids[pseudonym]
        pseudonymiser = self.store.pseudonymiser(self.trial.topic.slug)
        for delivery in self.ordered:
            if delivery.id in self._mapped:
                continue
            table = self.table(delivery)
            self.own_ids.update(reidentify(pseudonymiser, self.trial.acronym,
                                           table.frame[delivery.id_column].tolist()))
            self._mapped.add(delivery.id)
            if pseudonym in self.own_ids:
                break
        return self.own_ids.get(pseudonym)

    def now(self, delivery: Delivery) -> Any:
        """``delivery``'s frame as it stands now: the current delivery with the active
        corrections applied; an older one as delivered."""
        if delivery.id not in self._now:
            frame = self.table(delivery).frame
            if delivery.is_current:
                pseudonyms = pseudonymised_ids(self.store, self.trial.topic.slug,
                                               self.trial.acronym, frame[delivery.id_column])
                active = active_corrections(self.session, self.trial)
                if delivery.row_key is not None:  # a long dataset: its rows' corrections
                    frames, _ = apply_row_corrections({delivery.dataset: frame},
                                                      {delivery.dataset: pseudonyms}, active)
                    frame = frames[delivery.dataset]
                else:
                    frame, _ = apply_corrections(frame, pseudonyms, active)
            self._now[delivery.id] = frame
        return self._now[delivery.id]

    def delivery_of(self, query: Query) -> Delivery | None:
        delivery = self.session.get(Delivery, query.delivery_id) if query.delivery_id else None
        return delivery or self.current

    def of_cell(self, cell: Mapping[str, Any], delivery: Delivery | None) -> Delivery | None:
        """The delivery a question's cell is in: the current delivery of its dataset (a row
        of a long dataset such as ``ae``), else the question's own."""
        name = cell.get("dataset")
        if not name or name == "main" or (delivery is not None and delivery.dataset == name):
            return delivery
        return next((d for d in self.ordered if d.is_current and d.dataset == name), delivery)

    def long_values_now(self, query: Query) -> dict[str, str | None]:
        """The values now (after the active corrections) of a question's cells on rows of
        long datasets (``ae`` ...), by column; empty for a participant-table question."""
        out: dict[str, str | None] = {}
        for cell in (query.detail or {}).get("cells") or []:
            if cell.get("dataset", "main") == "main" or cell.get("row") is None:
                continue
            delivery = self.of_cell(cell, None)
            if delivery is None or delivery.dataset != cell["dataset"]:
                continue
            frame, row = self.now(delivery), int(cell["row"])
            if str(cell["column"]) in frame.columns and 1 <= row <= len(frame):
                out[str(cell["column"])] = cell_text(frame[str(cell["column"])].iat[row - 1])
        return out

    def rule(self, column: str, delivery: Delivery | None) -> tuple[ColumnRule, ColumnInfo | None]:
        """How one of the trial's columns writes its values, from the delivery it is in."""
        candidates = ([delivery] if delivery is not None else []) + \
            [d for d in self.ordered if d.is_current]
        found = next((d for d in candidates if any(c.get("name") == column for c in d.columns)),
                     None)
        key = (found.id if found is not None else None, column)
        if key not in self._rules:
            if found is None:
                self._rules[key] = (infer_column_rule(column, None), None)
            else:
                table = self.table(found)
                info = table.column(column)
                self._rules[key] = (infer_column_rule(column, table.frame[column], info), info)
        return self._rules[key]


def natural_key(text: str | None) -> tuple[Any, ...]:
    if text is None:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.findall(r"\d+|\D+", text))


@dataclass(frozen=True)
class QuestionView:
    """One question as the workbook shows it."""

    query: Query
    own_id: str | None
    shown: dict[str, str | None]  # the protected cells by column key
    rules: tuple[ColumnRule, ...]
    sheet: ListSheet | None = None
    list_rows: tuple[ListRow, ...] = ()

    @property
    def sort_key(self) -> tuple[Any, ...]:
        q = self.query
        return (q.participant is not None, self.sheet is None, natural_key(self.own_id),
                [str(c) for c in q.source_columns or []], q.id)


def _display(value: Any, info: ColumnInfo | None, blank: str) -> str:
    text = cell_text(value)
    if text is None:
        return blank
    if info is not None and info.value_labels:
        label = info.value_labels.get(text)
        if label is not None:
            return f"{text} ({label})"
    return text


def _value(d: Deliveries, delivery: Delivery | None, column: str, row: int | None,
           lang: str) -> str:
    """A cell as it stands now, saying what was sent when a correction changed it."""
    w = words(lang)
    if delivery is None or row is None:
        return w["blank"]
    table = d.table(delivery)
    if column not in table.frame.columns or not 1 <= row <= len(table.frame):
        return w["blank"]
    info = table.column(column)
    sent = _display(table.frame[column].iat[row - 1], info, w["blank"])
    now = _display(d.now(delivery)[column].iat[row - 1], info, w["blank"])
    return now if now == sent else w["you_sent"].format(value=now, sent=sent)


def _history(query: Query, lang: str) -> str | None:
    """The thread as the trial reads it: their earlier answers, the curator's reasons."""
    w = words(lang)
    lines = []
    for m in query.messages:
        day = format_date(m.at.date(), lang)
        if m.kind == "response":
            label = RESPONSE_WORDS[language(lang)].get(m.response_code or "", (m.response_code
                                                                              or "", ""))[0]
            value = f", {m.corrected_value}" if m.corrected_value else (
                f", {len(m.cells)} value(s)" if m.cells else "")
            note = f" ({m.comment})" if m.comment else ""
            lines.append(w["history_response"].format(date=day, response=label, value=value,
                                                      comment=note))
        elif m.kind in ("reopen", "reask"):
            lines.append(w["history_reopen"].format(date=day, reason=m.comment or ""))
        elif m.kind == "auto-reopen" and any(x.kind == "resolve" for x in query.messages
                                             if x.id < m.id):
            lines.append(w["history_auto"].format(date=day))
        elif m.kind == "forward" and m.comment:
            lines.append(w["history_forward"].format(date=day, comment=m.comment))
        elif m.kind == "comment" and m.comment:
            lines.append(w["history_comment"].format(date=day, author=m.author,
                                                     comment=m.comment))
    return "\n".join(lines) or None


def _question(query: Query, lang: str) -> str:
    detail = dict(query.detail or {})
    text = query.question
    consequences = [c for c in detail.get("consequences", []) if c]
    if consequences:
        text += "\n\n" + words(lang)["also"] + "\n" + "\n".join(f"- {c}" for c in consequences)
    return text


def _cells(query: Query) -> list[dict[str, Any]]:
    """The question's cells: from the question's detail, else (a query raised by hand, or
    before questions were grouped) its columns on its one row."""
    detail = dict(query.detail or {})
    if "cells" in detail:
        return [dict(c) for c in detail["cells"]]
    rows = list(query.rows or [])
    row = int(rows[0]) if len(rows) == 1 else None
    return [{"row": row, "column": str(c), "label": str(c), "dataset": "main"}
            for c in query.source_columns or []]


def _expected(rules: Sequence[ColumnRule], lang: str, *, rows: bool = False) -> str | None:
    w = words(lang)
    if len(rules) == 1:
        return rules[0].describe(lang)
    if rules and rows and len({r.describe(lang) for r in rules}) == 1:
        return w["several_rows"].format(example=f"{rules[-1].column}=…") + "\n" + \
            rules[0].describe(lang)
    if rules:
        return w["several_columns"] + "\n" + "\n".join(f"{r.column}: {r.describe(lang)}"
                                                       for r in rules)
    return w["trial_hint"]


def view_question(query: Query, d: Deliveries, *, lang: str,
                  due: dt.date | None) -> QuestionView:
    """How ``query`` shows in the workbook (``lang``: the workbook's language)."""
    w = words(lang)
    detail = dict(query.detail or {})
    delivery = d.delivery_of(query)
    due_text = format_date(due, lang) if due else None
    shown: dict[str, str | None] = {"query": str(query.id), "question": _question(query, lang),
                                    "history": _history(query, lang), "due": due_text}
    participants = detail.get("participants") or []
    if participants:
        return _listed(query, d, delivery, participants, shown, lang)
    cells = _cells(query)
    rules = []
    values = []
    for cell in cells:
        source = d.of_cell(cell, delivery)
        rule, _info = d.rule(str(cell["column"]), source)
        label = str(cell.get("label") or cell["column"])
        rules.append(ColumnRule(**{**_fields(rule), "column": label}))
        row = None if cell.get("row") is None else int(cell["row"])
        values.append((label, _value(d, source, str(cell["column"]), row, lang)))
    own = d.own_id(query.participant) if query.participant is not None else None
    if query.participant is not None:
        participant: str | None = own
    elif cells and cells[0].get("row") is not None:
        participant = w["no_id"].format(row=cells[0]["row"])
    else:
        participant = w["whole_trial"]
    if len(values) == 1:
        delivered: str | None = values[0][1]
    else:
        delivered = "\n".join(f"{label} = {value}" for label, value in values) or None
    if not cells:
        delivered = None
    shown.update({"participant": participant,
                  "columns": "\n".join(label for label, _ in values) or
                  "\n".join(map(str, query.source_columns or [])) or None,
                  "delivered": delivered,
                  "expected": _expected(rules, lang, rows=len({c["column"] for c in cells}) == 1
                                        and len(cells) > 1)})
    return QuestionView(query=query, own_id=own, rules=tuple(rules),
                        shown={k: cell_safe(v) for k, v in shown.items()})


def _fields(rule: ColumnRule) -> dict[str, Any]:
    return {"column": rule.column, "kind": rule.kind, "layout": rule.layout,
            "decimal": rule.decimal, "upper": rule.upper, "labels": dict(rule.labels),
            "tokens": rule.tokens, "present": rule.present}


def _listed(query: Query, d: Deliveries, delivery: Delivery | None,
            participants: Sequence[Mapping[str, Any]], shown: dict[str, str | None],
            lang: str) -> QuestionView:
    """A question about several participants: its row, and the rows of its own sheet."""
    w = words(lang)
    name = list_sheet(query.id)
    columns = [str(c) for c in (query.detail or {}).get("columns", [])] or \
        [str(c) for c in query.source_columns or []]
    rules = [d.rule(c, delivery)[0] for c in columns]
    rows: list[dict[str, str | None]] = []
    records: list[ListRow] = []
    ordered = sorted(participants, key=lambda p: natural_key(
        (d.own_id(p["participant"]) if p.get("participant") else None) or ""))
    for i, p in enumerate(ordered, start=2):
        pseudonym = p.get("participant")
        row = None if p.get("row") is None else int(p["row"])
        own = d.own_id(pseudonym) if pseudonym else None
        values = [(c, _value(d, delivery, c, row, lang)) for c in columns]
        cells = {"participant": own if pseudonym else w["no_id"].format(row=row),
                 "columns": "\n".join(columns) or None,
                 "delivered": values[0][1] if len(values) == 1 else
                 "\n".join(f"{c} = {v}" for c, v in values) or None}
        cells = {k: cell_safe(v) for k, v in cells.items()}
        rows.append(cells)
        records.append(ListRow(row=i, participant=pseudonym, data_row=row,
                               shown={**cells, "participant": None} if pseudonym else cells,
                               columns=tuple(rules)))
    shown.update({"participant": w["several"].format(n=len(rows), sheet=name),
                  "columns": "\n".join(columns) or None, "delivered": None,
                  "expected": w["list_hint"].format(
                      sheet=name, columns="\n".join(f"{c}: {r.describe(lang)}"
                                                    for c, r in zip(columns, rules)))})
    return QuestionView(query=query, own_id=None, rules=(),
                        shown={k: cell_safe(v) for k, v in shown.items()},
                        sheet=ListSheet(name=name, query=query.id, rows=tuple(rows)),
                        list_rows=tuple(records))

