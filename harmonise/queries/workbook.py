"""The query workbook: a trial's open queries out to its team, their answers back in.

:func:`export_workbook` writes one Excel workbook per trial (a curator action: participants
are shown by the trial's own IDs, which needs the repository secret)::

    Queries        one row per query: the trial's participant ID, its own column(s) and
                   values as delivered (with value labels), the value as we read it, the
                   question, how to write a correction; then the three answer columns
                   (response drop-down, corrected value, comment), the only unlocked cells
    Instructions   how to answer, what each response means, what not to edit
    _ipdrepo       very hidden: export token, trial, export id, when, by whom, query ids

The export is recorded (:class:`~repository.models.QueryExport`: token, file hash and, per
query, what the protected cells showed) and its queries are marked sent. The workbook's bytes
are a function of the queries, the deliveries, the token and the time.

:func:`import_workbook` reads an answered workbook, checks *everything* first
(:mod:`harmonise.queries.workbook_checks`) and, only if nothing is wrong, records every answer in
one transaction. Otherwise it raises one :class:`~repository.errors.WorkbookError` listing every
problem with sheet, cell and what to do; nothing is imported. What a trialist sees is
described in docs/query-workbook.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
import re
import secrets
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.queries.lifecycle import last_response, mark_sent, respond
from harmonise.queries.workbook_checks import (
    ANSWER,
    PROTECTED,
    RESPONSES,
    CheckOutcome,
    ColumnRule,
    QueryState,
    SentQuery,
    SheetRow,
    WorkbookProblem,
    cell_value_text,
    check_answers,
    infer_column_rule,
)
from harmonise.values.cells import canonical_text as cell_text
from repository import audit
from repository.deliveries import load_delivery
from repository.errors import NotFound, QueryError, WorkbookError
from repository.formats import ColumnInfo, sniff_format
from repository.models import Delivery, Participant, Query, QueryExport, Topic, Trial, utcnow
from repository.pseudonyms import normalise_raw_id, reidentify
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial

__all__ = [
    "SHEET",
    "INSTRUCTIONS",
    "META",
    "COLUMNS",
    "Column",
    "WorkbookMeta",
    "ExportResult",
    "ImportResult",
    "ImportPlan",
    "render_workbook",
    "read_workbook",
    "export_workbook",
    "import_workbook",
    "check_import",
    "apply_import",
]

SHEET = "Queries"
INSTRUCTIONS = "Instructions"
META = "_ipdrepo"
FORMAT = "ipdrepo query workbook"
FORMAT_VERSION = "1"
#: the statuses of queries a workbook carries (answered ones wait for the curator)
EXPORTED_STATUSES = ("open", "reopened", "sent")
WHOLE_TRIAL = "(whole trial)"
BLANK = "(blank)"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int
    answer: bool = False  # unlocked, for the trial to fill in


COLUMNS: tuple[Column, ...] = (
    Column("query", "Query", 8),
    Column("participant", "Participant ID", 15),
    Column("columns", "Your column(s)", 15),
    Column("delivered", "Value(s) you sent", 22),
    Column("harmonised", "Value as we read it", 14),
    Column("question", "Question", 46),
    Column("expected", "How to write a corrected value", 30),
    Column("response", "Response (choose)", 21, answer=True),
    Column("corrected", "Corrected value", 20, answer=True),
    Column("comment", "Comment", 40, answer=True),
)
assert tuple(c.key for c in COLUMNS) == PROTECTED + ANSWER
_LETTERS = {c.key: chr(ord("A") + i) for i, c in enumerate(COLUMNS)}
_HEADERS = {c.key: c.header for c in COLUMNS}


# --- rendering (pure) -------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkbookMeta:
    """What the hidden sheet records (never pseudonyms, never the secret)."""

    token: str
    topic: str
    trial: str
    export_id: int
    created_at: dt.datetime  # UTC
    created_by: str
    id_column: str | None
    query_ids: tuple[int, ...]
    contact: str | None = None

    def items(self) -> list[tuple[str, str]]:
        return [("format", FORMAT), ("format_version", FORMAT_VERSION), ("token", self.token),
                ("topic", self.topic), ("trial", self.trial), ("export_id", str(self.export_id)),
                ("created_at", self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
                ("created_by", self.created_by), ("id_column", self.id_column or ""),
                ("queries", ",".join(map(str, self.query_ids)))]


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL = 32000  # Excel holds at most 32,767 characters in a cell


def cell_safe(text: str | None) -> str | None:
    """Text as it can be written to a cell (control characters replaced, length capped)."""
    if text is None:
        return None
    text = _ILLEGAL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > _MAX_CELL:
        text = text[:_MAX_CELL - 3] + "..."
    return text or None


def _write(cell: Any, value: Any) -> None:
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula


def _row_height(texts: Sequence[tuple[str | None, int]]) -> float:
    lines = 1
    for text, width in texts:
        if text:
            per_line = max(1, int(width * 1.1))
            lines = max(lines, sum(max(1, math.ceil(len(part) / per_line))
                                   for part in text.split("\n")))
    return 15.0 * min(lines, 20)


def render_workbook(rows: Sequence[Mapping[str, str | None]], meta: WorkbookMeta) -> bytes:
    """The workbook's bytes: rows are the protected cells by column key (``query`` the id).

    Deterministic: the same rows and meta give the same bytes (zip times are the export's).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill, Protection
    from openpyxl.workbook.protection import WorkbookProtection
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    top = Alignment(wrap_text=True, vertical="top")
    sent = NamedStyle("ipdrepo sent", fill=PatternFill("solid", fgColor="E7E6E6"),
                      alignment=top)
    answer = NamedStyle("ipdrepo answer", fill=PatternFill("solid", fgColor="FFF2CC"),
                        alignment=top, protection=Protection(locked=False),
                        number_format="@")  # what is typed stays text (no 3/4 -> 3 April)
    wb.add_named_style(sent)
    wb.add_named_style(answer)
    for i, col in enumerate(COLUMNS, start=1):
        cell = ws.cell(1, i)
        _write(cell, col.header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFD966" if col.answer else "BFBFBF")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[_LETTERS[col.key]].width = col.width
    ws.row_dimensions[1].height = 30
    for r, row in enumerate(rows, start=2):
        for i, col in enumerate(COLUMNS, start=1):
            cell = ws.cell(r, i)
            if col.answer:
                cell.style = "ipdrepo answer"
            else:
                value = row.get(col.key)
                _write(cell, int(value) if col.key == "query" and value else value)
                cell.style = "ipdrepo sent"
        ws.row_dimensions[r].height = _row_height(
            [(row.get(c.key), c.width) for c in COLUMNS if not c.answer])
    last = len(rows) + 1
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{_LETTERS['comment']}{last}"
    _instructions(wb, meta, len(rows))
    choices = DataValidation(
        type="list", formula1="ResponseCodes", allow_blank=True, showErrorMessage=True,
        showInputMessage=True, errorTitle="Response", promptTitle="Response",
        error="Choose one of the responses in the list (see the Instructions sheet).",
        prompt="Choose a response; the Instructions sheet says what each one means.")
    ws.add_data_validation(choices)
    if rows:
        choices.add(f"{_LETTERS['response']}2:{_LETTERS['response']}{last}")
    protection = ws.protection
    protection.sheet = True
    protection.formatColumns = False  # widening columns and rows is fine
    protection.formatRows = False
    protection.autoFilter = False
    hidden = wb.create_sheet(META)
    for r, (key, value) in enumerate(meta.items(), start=1):
        _write(hidden.cell(r, 1), key)
        _write(hidden.cell(r, 2), value)
    hidden.sheet_state = "veryHidden"
    hidden.protection.sheet = True
    wb.active = 0
    wb.security = WorkbookProtection(lockStructure=True)
    naive = meta.created_at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.creator = "ipdrepo"
    wb.properties.lastModifiedBy = "ipdrepo"
    wb.properties.title = f"Data queries for trial {meta.trial}"
    wb.properties.created = naive
    wb.properties.modified = naive
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_times(buffer.getvalue(), naive)


def _fixed_times(data: bytes, when: dt.datetime) -> bytes:
    """The same zip with every entry dated ``when`` (zip stores local times to 2 s)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute,
             when.second - when.second % 2)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def _instructions(wb: Any, meta: WorkbookMeta, n_rows: int) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.workbook.defined_name import DefinedName

    ws = wb.create_sheet(INSTRUCTIONS)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 22
    wrap = Alignment(wrap_text=True, vertical="top")
    when = meta.created_at.strftime("%d %B %Y")
    id_note = (f" (your column {meta.id_column})" if meta.id_column else "")
    lines: list[tuple[str, str | None]] = [
        (f"Data queries for trial {meta.trial}", "title"),
        (f"{n_rows} question(s) about the data you sent for the {meta.topic} individual "
         f"participant data meta-analysis. Sent on {when} by {meta.created_by}.", None),
        ("", None),
        ("How to answer", "heading"),
        ("1. On the Queries sheet, each row is one question about your data: the participant "
         f"by your own participant ID{id_note}, your own column name(s), the value(s) you sent "
         "and how we read them.", None),
        ("2. In the yellow column Response, choose one answer from the list (see the table "
         "below).", None),
        ("3. If the value you sent was wrong or missing, write the right value in Corrected "
         "value, the way the column How to write a corrected value says (e.g. dates as "
         "DD/MM/YYYY if that is how your data write them; a code or its label for coded "
         "columns).", None),
        ("4. If a question is about several of your columns, write each as COLUMN=value, "
         "separated by ';', e.g. SEX=2; AGE=64. Leave out columns that were right. To say a "
         "value should be empty, write COLUMN= with nothing after the =.", None),
        ("5. Questions about the whole trial (Participant ID says (whole trial)) are answered "
         "in Comment; use Corrected value only if the question names a column.", None),
        ("6. Anything else you want us to know goes in Comment.", None),
        ("7. Leave a row empty if you cannot answer it yet: it stays open and comes back in "
         "the next workbook. You may send the workbook back with only some rows answered.",
         None),
        ("8. Save the file as an Excel Workbook (.xlsx), under any name, and send it back. "
         "Do not save it as CSV: the answers could not be read back.", None),
        ("", None),
        ("Responses", "heading"),
    ]
    r = 1
    for text, style in lines:
        cell = ws.cell(r, 1)
        _write(cell, text or None)
        if style == "title":
            cell.font = Font(bold=True, size=14)
        elif style == "heading":
            cell.font = Font(bold=True, size=12)
        else:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
            cell.alignment = wrap
            ws.row_dimensions[r].height = _row_height([(text, 112)])
        r += 1
    head = PatternFill("solid", fgColor="BFBFBF")
    for c, title in enumerate(("Response", "What it means", "Corrected value"), start=1):
        cell = ws.cell(r, c)
        _write(cell, title)
        cell.font = Font(bold=True)
        cell.fill = head
    r += 1
    first = r
    for response in RESPONSES:
        for c, value in enumerate((response.label, response.meaning,
                                   response.corrected_value), start=1):
            cell = ws.cell(r, c)
            _write(cell, value)
            cell.alignment = wrap
        ws.row_dimensions[r].height = _row_height([(response.meaning, 70)])
        r += 1
    wb.defined_names["ResponseCodes"] = DefinedName(
        "ResponseCodes", attr_text=f"'{INSTRUCTIONS}'!$A${first}:$A${r - 1}")
    r += 1
    tail = [
        ("What not to edit", "heading"),
        ("The grey columns (Query to How to write a corrected value) are protected: they are "
         "what we sent and are checked when the workbook comes back. Do not add, delete or "
         "reorder rows, and do not rename, hide or add sheets.", None),
        ("When the workbook comes back, every row is checked before anything is recorded. If "
         "anything is wrong (a protected cell changed, a response not from the list, a "
         "corrected value that does not fit your column) we send you the list of problems and "
         "record nothing, so that no answer is half-recorded.", None),
        ("Only the latest workbook we sent can be answered: an older one is refused.", None),
    ]
    for text, style in tail:
        cell = ws.cell(r, 1)
        _write(cell, text)
        if style == "heading":
            cell.font = Font(bold=True, size=12)
        else:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
            cell.alignment = wrap
            ws.row_dimensions[r].height = _row_height([(text, 112)])
        r += 1
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


# --- what a query shows -----------------------------------------------------------------------

def _display(raw: Any, info: ColumnInfo | None) -> str:
    text = cell_text(raw)
    if text is None:
        return BLANK
    if info is not None and info.value_labels:
        label = info.value_labels.get(text)
        if label is not None:
            return f"{text} ({label})"
    return text


def _shown(query: Query, own_id: str | None, rules: Sequence[ColumnRule],
           infos: Mapping[str, ColumnInfo]) -> dict[str, str | None]:
    columns = [str(c) for c in query.source_columns or []]
    raw = dict(query.raw_values or {})
    if len(columns) == 1:
        delivered: str | None = _display(raw.get(columns[0]), infos.get(columns[0]))
        expected = rules[0].describe()
    elif columns:
        delivered = "\n".join(f"{c} = {_display(raw.get(c), infos.get(c))}" for c in columns)
        expected = ("COLUMN=value; COLUMN=value, for the columns that change\n" +
                    "\n".join(f"{r.column}: {r.describe()}" for r in rules))
    else:
        delivered = "\n".join(f"{k} = {_display(v, None)}" for k, v in raw.items()) or None
        expected = "a question about the whole trial: answer in Comment"
    shown = {"query": str(query.id),
             "participant": own_id if query.participant is not None else WHOLE_TRIAL,
             "columns": "\n".join(columns) or None, "delivered": delivered,
             "harmonised": query.value_received, "question": query.question,
             "expected": expected}
    return {k: cell_safe(v) for k, v in shown.items()}


class _Deliveries:
    """The trial's deliveries, each read from the object store at most once."""

    def __init__(self, store: Store, session: Session, trial: Trial) -> None:
        self.store, self.session, self.trial = store, session, trial
        self.tables: dict[int, Any] = {}
        self.own_ids: dict[str, str] = {}
        self._mapped: set[int] = set()
        self._rules: dict[tuple[int | None, str], tuple[ColumnRule, ColumnInfo | None]] = {}
        ordered = sorted(trial.deliveries, key=lambda d: (not d.is_current, -d.id))
        self.ordered: list[Delivery] = ordered

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

    def rules(self, query: Query) -> tuple[list[ColumnRule], dict[str, ColumnInfo]]:
        """How each of the query's columns writes its values, from the delivery it is about."""
        delivery = self.session.get(Delivery, query.delivery_id) if query.delivery_id else None
        current = [d for d in self.ordered if d.is_current]
        candidates = ([delivery] if delivery is not None else []) + current
        rules, infos = [], {}
        for column in [str(c) for c in query.source_columns or []]:
            found = next((d for d in candidates
                          if any(c.get("name") == column for c in d.columns)), None)
            key = (found.id if found is not None else None, column)
            if key not in self._rules:
                if found is None:
                    self._rules[key] = (infer_column_rule(column, None), None)
                else:
                    table = self.table(found)
                    info = table.column(column)
                    self._rules[key] = (infer_column_rule(column, table.frame[column], info),
                                        info)
            rule, info = self._rules[key]
            rules.append(rule)
            if info is not None:
                infos[column] = info
        return rules, infos


def _natural(text: str | None) -> tuple[Any, ...]:
    if text is None:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.findall(r"\d+|\D+", text))


# --- export -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportResult:
    """A workbook written for a trial. ``summary``: one row per query (row, query, check,
    columns, status_before)."""

    trial: str
    export_id: int
    path: str
    sha256: str
    exported_at: dt.datetime
    exported_by: str
    rows: tuple[Mapping[str, Any], ...] = field(default=())
    #: who at the trial answers queries (the trial's registered contact), if known
    contact: str | None = None

    @property
    def n_queries(self) -> int:
        return len(self.rows)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows),
                            columns=["row", "query", "check", "columns", "status_before"])

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "export_id": self.export_id, "path": self.path,
                "sha256": self.sha256,
                "exported_at": self.exported_at.isoformat(timespec="seconds"),
                "exported_by": self.exported_by, "queries": self.n_queries,
                "contact": self.contact, "rows": [dict(r) for r in self.rows]}

    def _repr_html_(self) -> str:
        return (f"<p>Query workbook for trial {self.trial}: {self.n_queries} queries, export "
                f"{self.export_id}, {self.path}</p>" + self.summary.to_html(index=False))

    def __repr__(self) -> str:
        return (f"ExportResult(trial={self.trial!r}, export_id={self.export_id}, "
                f"queries={self.n_queries}, path={self.path!r})")


def export_workbook(store: Store, trial: str, path: str | os.PathLike[str], *, actor: str,
                    topic: str | None = None) -> ExportResult:
    """Write the query workbook of ``trial`` to ``path`` (.xlsx) and record the export.

    Carries the trial's open, reopened and sent queries; marks each one sent. Refuses to
    overwrite an existing file. Curators, and a trialist for their own trial (it maps the
    trial's pseudonyms back to the trial's own IDs).
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise WorkbookError(f"{target.name}: a query workbook is an Excel file; give a name "
                            "ending in .xlsx.", file=str(target))
    if target.exists():
        raise WorkbookError(f"{target} already exists; choose another --output, or move the "
                            "old file away first.", file=str(target))
    if not target.parent.is_dir():
        raise WorkbookError(f"the folder {target.parent} does not exist; create it or choose "
                            "another --output.", file=str(target))
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    written = False
    try:
        with store.transaction() as session:
            require(session, actor, "queries.workbook", trial=trial)
            topic_row = store.topic(session, topic)
            trial_row = get_trial(session, topic_row, trial)
            result = _export(store, session, topic_row, trial_row, target, partial,
                             actor=actor)
            os.replace(partial, target)
            written = True
    except BaseException:
        partial.unlink(missing_ok=True)
        if written:
            target.unlink(missing_ok=True)
        raise
    return result


def _export(store: Store, session: Session, topic: Topic, trial: Trial, target: Path,
            partial: Path, *, actor: str) -> ExportResult:
    queries = list(session.scalars(select(Query).where(
        Query.trial_id == trial.id, Query.status.in_(EXPORTED_STATUSES)).order_by(Query.id)))
    if not queries:
        raise QueryError(f"trial {trial.acronym} has no open, reopened or sent queries; nothing "
                         "to export (answered queries wait for a curator: `ipdrepo queries "
                         f"list --trial {trial.acronym}`).", trial=trial.acronym)
    deliveries = _Deliveries(store, session, trial)
    prepared, unmapped = [], []
    for q in queries:
        own = deliveries.own_id(q.participant) if q.participant is not None else None
        if q.participant is not None and own is None:
            unmapped.append(q.id)
            continue
        rules, infos = deliveries.rules(q)
        prepared.append((q, own, rules, _shown(q, own, rules, infos)))
    if unmapped:
        raise QueryError(f"trial {trial.acronym}: the participants of queries "
                         f"{', '.join(map(str, unmapped))} are in none of the trial's "
                         "deliveries, so their IDs cannot be shown; close those queries (or "
                         "ingest the delivery they came from) and export again.",
                         trial=trial.acronym, queries=unmapped)
    prepared.sort(key=lambda p: (p[0].participant is not None, _natural(p[1]),
                                 [str(c) for c in p[0].source_columns or []], p[0].id))
    now = utcnow().replace(microsecond=0)
    token = secrets.token_urlsafe(24)
    export = QueryExport(trial_id=trial.id, token=token, file_name=target.name,
                         sha256="0" * 64, exported_at=now, exported_by=actor, queries=[])
    session.add(export)
    session.flush()
    sent: list[SentQuery] = []
    rows: list[dict[str, Any]] = []
    for position, (q, _own, rules, shown) in enumerate(prepared, start=2):
        before = q.status
        mark_sent(session, q, actor=actor, topic=topic.slug, export_id=export.id)
        recorded = {**shown, "participant": None} if q.participant is not None else shown
        sent.append(SentQuery(id=q.id, row=position, version=q.version, status=q.status,
                              previous_status=before, participant=q.participant,
                              shown=recorded,
                              columns=tuple(rules), question=q.question,
                              value=q.value_received, raw_values=dict(q.raw_values or {})))
        rows.append({"row": position, "query": q.id, "check": q.check_id,
                     "columns": ", ".join(map(str, q.source_columns or [])),
                     "status_before": before})
    id_column = next((d.id_column for d in deliveries.ordered if d.is_current), None)
    meta = WorkbookMeta(token=token, topic=topic.slug, trial=trial.acronym,
                        export_id=export.id, created_at=now, created_by=actor,
                        id_column=id_column, query_ids=tuple(s.id for s in sent),
                        contact=trial.contact_name)
    data = render_workbook([p[3] for p in prepared], meta)
    digest = hashlib.sha256(data).hexdigest()
    export.sha256 = digest
    export.queries = [s.to_dict() for s in sent]
    audit.append(session, actor=actor, action="queries.export", topic=topic.slug,
                 entity_type="query_export", entity_id=export.id,
                 details={"trial": trial.acronym, "file_name": target.name, "sha256": digest,
                          "queries": [s.id for s in sent]})
    session.flush()
    partial.write_bytes(data)
    contact = " ".join(p for p in (trial.contact_name,
                                   f"<{trial.contact_email}>" if trial.contact_email else None)
                       if p) or None
    return ExportResult(trial=trial.acronym, export_id=export.id, path=str(target),
                        sha256=digest, exported_at=now, exported_by=actor, rows=tuple(rows),
                        contact=contact)


# --- reading a workbook back ------------------------------------------------------------------

@dataclass(frozen=True)
class WorkbookFile:
    """What :func:`read_workbook` found: the hidden metadata, the rows, header problems."""

    path: str
    sha256: str
    meta: Mapping[str, str]
    rows: tuple[SheetRow, ...]
    header_problems: tuple[WorkbookProblem, ...] = ()


def _refuse(path: Path, message: str, **context: Any) -> WorkbookError:
    problem = WorkbookProblem(message)
    return WorkbookError(f"{path.name}: {message} Nothing was imported.", file=str(path),
                         problems=[problem], **context)


_NOT_XLSX = {
    "csv": "is text (CSV), not the Excel workbook we sent. Saving as CSV drops the hidden "
           "sheet, the protection and all but one sheet, so the answers cannot be checked. "
           "Open the .xlsx workbook we sent, answer there, and save it as Excel Workbook "
           "(.xlsx).",
    "xls": "is an old Excel 97-2003 workbook (.xls). Open the .xlsx workbook we sent, answer "
           "there, and save it as Excel Workbook (.xlsx).",
    "zip": "is a zip archive but not an Excel workbook (an OpenDocument .ods file?). Save it "
           "as Excel Workbook (.xlsx) from the workbook we sent.",
}


def read_workbook(path: str | os.PathLike[str]) -> WorkbookFile:
    """Read an answered workbook. Files that cannot be one of ours (CSV, another format, no or
    damaged hidden sheet, no Queries sheet) raise :class:`WorkbookError` at once."""
    import openpyxl

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path} does not exist or is not a file.", file=str(path))
    data = path.read_bytes()
    if not data:
        raise _refuse(path, "the file is empty (0 bytes).", reason="empty")
    kind = sniff_format(data[:8192], data[-8:])
    if kind != "xlsx":
        message = _NOT_XLSX.get(kind, f"is not an Excel workbook ({kind}); send back the .xlsx "
                                      "workbook we sent, answered.")
        raise _refuse(path, message, reason="not-xlsx", detected=kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:
        raise _refuse(path, f"cannot be opened as an Excel workbook ({type(exc).__name__}: "
                      f"{exc}); it may be damaged. Send back the workbook we sent, answered.",
                      reason="damaged") from exc
    if META not in book.sheetnames:
        raise _refuse(path, f"has no hidden {META} sheet, so it is not a workbook written by "
                      "`ipdrepo queries export` (or the answers were copied into a new file). "
                      "Answer in the workbook we sent.", reason="no-metadata")
    meta = {}
    for key, value, *_ in book[META].iter_rows(min_col=1, max_col=2, values_only=True):
        if key is not None:
            meta[str(key)] = "" if value is None else str(value)
    missing = [k for k in ("format", "token", "trial", "export_id") if not meta.get(k)]
    if meta.get("format") != FORMAT or missing or not meta["export_id"].isdigit():
        raise _refuse(path, f"its hidden {META} sheet is damaged ("
                      f"{'missing ' + ', '.join(missing) if missing else 'unexpected content'}"
                      "). Answer in the workbook we sent, or ask for a new one.",
                      reason="damaged-metadata")
    if SHEET not in book.sheetnames:
        raise _refuse(path, f"has no {SHEET} sheet (sheets: {', '.join(book.sheetnames)}); "
                      "do not rename or delete it.", reason="no-sheet")
    ws = book[SHEET]
    grid = list(ws.iter_rows(values_only=True))
    header = list(grid[0]) if grid else []
    width = len(COLUMNS)
    problems = []
    for i, col in enumerate(COLUMNS):
        got = cell_value_text(header[i]) if i < len(header) else None
        if got != col.header:
            problems.append(WorkbookProblem(
                f"the header should be {col.header!r} but is {got or '(empty)'!r}: columns "
                "were renamed, added, deleted or moved. Put the columns back as sent.",
                sheet=SHEET, row=1, column=col.header, cell=f"{_LETTERS[col.key]}1"))
    for i in range(width, len(header)):
        if cell_value_text(header[i]) is not None:
            letter = _letter(i)
            problems.append(WorkbookProblem(
                f"a column {cell_value_text(header[i])!r} was added; remove it and put what it "
                "holds in Comment.", sheet=SHEET, row=1, column=letter, cell=f"{letter}1"))
    rows = []
    for r, values in enumerate(grid[1:], start=2):
        cells = {c.key: (values[i] if i < len(values) else None)
                 for i, c in enumerate(COLUMNS)}
        extra = {_letter(i): v for i, v in enumerate(values[width:], start=width)
                 if cell_value_text(v) is not None}
        if all(cell_value_text(v) is None for v in cells.values()) and not extra:
            continue
        rows.append(SheetRow(row=r, cells=cells, extra=extra))
    return WorkbookFile(path=str(path), sha256=hashlib.sha256(data).hexdigest(), meta=meta,
                        rows=tuple(rows), header_problems=tuple(problems))


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


# --- import -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportPlan:
    """A checked workbook, ready to import in the session it was checked in."""

    book: WorkbookFile
    export: QueryExport
    trial: str
    topic: str
    outcome: CheckOutcome
    queries: Mapping[int, Query]


@dataclass(frozen=True)
class ImportResult:
    """What an import recorded. ``summary``: one row per query of the workbook (row, query,
    outcome: answered | unchanged | not_answered, response_code, corrected_value)."""

    trial: str
    export_id: int
    file: str
    imported_by: str
    imported_at: dt.datetime
    rows: tuple[Mapping[str, Any], ...] = field(default=())

    def _ids(self, outcome: str) -> tuple[int, ...]:
        return tuple(r["query"] for r in self.rows if r["outcome"] == outcome)

    @property
    def answered(self) -> tuple[int, ...]:
        return self._ids("answered")

    @property
    def unchanged(self) -> tuple[int, ...]:
        return self._ids("unchanged")

    @property
    def not_answered(self) -> tuple[int, ...]:
        return self._ids("not_answered")

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows), columns=["row", "query", "outcome",
                                                      "response_code", "corrected_value"])

    def by_code(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            if r["outcome"] == "answered":
                counts[r["response_code"]] = counts.get(r["response_code"], 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "export_id": self.export_id, "file": self.file,
                "imported_by": self.imported_by,
                "imported_at": self.imported_at.isoformat(timespec="seconds"),
                "answered": len(self.answered), "unchanged": len(self.unchanged),
                "not_answered": len(self.not_answered), "by_code": self.by_code(),
                "rows": [dict(r) for r in self.rows]}

    def _repr_html_(self) -> str:
        return (f"<p>Imported {len(self.answered)} answer(s) for trial {self.trial} (export "
                f"{self.export_id})</p>" + self.summary.to_html(index=False))

    def __repr__(self) -> str:
        return (f"ImportResult(trial={self.trial!r}, export_id={self.export_id}, "
                f"answered={len(self.answered)}, unchanged={len(self.unchanged)}, "
                f"not_answered={len(self.not_answered)})")


def _problems_error(book: WorkbookFile, problems: Sequence[WorkbookProblem], *, trial: str,
                    export_id: int) -> WorkbookError:
    name = Path(book.path).name
    lines = "\n".join(f"  - {p}" for p in problems)
    return WorkbookError(
        f"{name}: {len(problems)} problem(s) in the query workbook of trial {trial} (export "
        f"{export_id}); nothing was imported. Fix them all and import the file again:\n{lines}",
        file=book.path, trial=trial, export=export_id, problems=list(problems))


def check_import(store: Store, session: Session, book: WorkbookFile, *, actor: str,
                 trial: str | None = None) -> ImportPlan:
    """Check ``book`` against the store; every problem at once in one WorkbookError."""
    who = require(session, actor, "queries.answer")
    export = session.scalar(select(QueryExport).where(QueryExport.token == book.meta["token"]))
    if export is None:
        raise _refuse(Path(book.path), "this workbook was not exported from this repository "
                      "(its token is unknown: it comes from another workspace, or its hidden "
                      "sheet was edited); ask the curator which workbook to answer.",
                      reason="unknown-token")
    trial_row = session.get(Trial, export.trial_id)
    assert trial_row is not None
    if (str(export.id), trial_row.acronym) != (book.meta["export_id"], book.meta["trial"]):
        raise _problems_error(book, [WorkbookProblem(
            f"the hidden {META} sheet was edited (it says trial {book.meta['trial']}, export "
            f"{book.meta['export_id']}); answer in the workbook we sent.", sheet=META)],
            trial=trial_row.acronym, export_id=export.id)
    problems: list[WorkbookProblem] = []
    expected = trial or (who.trial if who.role == "trialist" else None)
    if expected is not None and expected != trial_row.acronym:
        whose = "your trial" if trial is None else "the trial you gave (--trial)"
        problems.append(WorkbookProblem(
            f"this is the workbook of trial {trial_row.acronym}, not of {whose} {expected}; "
            "import the workbook of the right trial."))
    if who.role == "trialist" and who.trial != trial_row.acronym:
        raise _problems_error(book, problems, trial=trial_row.acronym, export_id=export.id)
    newer = session.scalar(select(QueryExport).where(
        QueryExport.trial_id == trial_row.id, QueryExport.id > export.id)
        .order_by(QueryExport.id.desc()).limit(1))
    if newer is not None:
        problems.append(WorkbookProblem(
            f"this is an older workbook (export {export.id} of "
            f"{export.exported_at:%Y-%m-%d %H:%M} UTC); a newer one replaced it: export "
            f"{newer.id}, {newer.file_name}, sent {newer.exported_at:%Y-%m-%d %H:%M} UTC by "
            f"{newer.exported_by}. Copy your answers into that workbook and send it back."))
    problems.extend(book.header_problems)
    sent = [SentQuery.from_dict(d) for d in export.queries or []]
    queries = {q.id: q for q in session.scalars(select(Query).where(
        Query.id.in_([s.id for s in sent])))}
    outcome = CheckOutcome((), (), (), ())
    if not book.header_problems:
        states = {}
        for qid, q in queries.items():
            last = last_response(q)
            states[qid] = QueryState(
                id=qid, status=q.status, question=q.question, value=q.value_received,
                raw_values=dict(q.raw_values or {}),
                last_response=None if last is None else (
                    last.response_code, last.corrected_value, last.comment, last.export_id))
        pseudonymiser = store.pseudonymiser(trial_row.topic.slug)

        def pseudonym(raw: str) -> str:
            return pseudonymiser.pseudonym(trial_row.acronym, normalise_raw_id(raw) or "")

        def is_participant(p: str) -> bool:
            return session.scalar(select(Participant.id).where(
                Participant.trial_id == trial_row.id, Participant.pseudonym == p)) is not None

        outcome = check_answers(book.rows, sent, states, sheet=SHEET, letters=_LETTERS,
                                headers=_HEADERS, trial=trial_row.acronym, export_id=export.id,
                                pseudonym=pseudonym, participants=is_participant)
        problems.extend(outcome.problems)
    if problems:
        raise _problems_error(book, problems, trial=trial_row.acronym, export_id=export.id)
    return ImportPlan(book=book, export=export, trial=trial_row.acronym,
                      topic=trial_row.topic.slug, outcome=outcome, queries=queries)


def apply_import(session: Session, plan: ImportPlan, *, actor: str) -> ImportResult:
    """Record the plan's answers (in the caller's transaction); a query changed by someone
    else meanwhile raises QueryError and the caller's rollback keeps nothing."""
    for answer in plan.outcome.answers:
        respond(session, plan.queries[answer.query], actor=actor, topic=plan.topic,
                response_code=answer.response_code, corrected_value=answer.corrected_value,
                comment=answer.comment, export_id=plan.export.id)
    now = utcnow()
    plan.export.imported_at = now
    rows_of = {s["id"]: s["row"] for s in plan.export.queries or []}
    answers = {a.query: a for a in plan.outcome.answers}
    rows = []
    for qid in sorted(rows_of, key=lambda q: rows_of[q]):
        a = answers.get(qid)
        outcome = ("answered" if a is not None else
                   "unchanged" if qid in plan.outcome.unchanged else "not_answered")
        rows.append({"row": rows_of[qid], "query": qid, "outcome": outcome,
                     "response_code": a.response_code if a else None,
                     "corrected_value": a.corrected_value if a else None})
    result = ImportResult(trial=plan.trial, export_id=plan.export.id, file=plan.book.path,
                          imported_by=actor, imported_at=now, rows=tuple(rows))
    audit.append(session, actor=actor, action="queries.import", topic=plan.topic,
                 entity_type="query_export", entity_id=plan.export.id,
                 details={"trial": plan.trial, "file_name": Path(plan.book.path).name,
                          "sha256": plan.book.sha256, "answered": len(result.answered),
                          "unchanged": len(result.unchanged),
                          "not_answered": len(result.not_answered),
                          "by_code": result.by_code()})
    session.flush()
    return result


def import_workbook(store: Store, path: str | os.PathLike[str], *, actor: str,
                    trial: str | None = None) -> ImportResult:
    """Check an answered workbook and record its answers, all or nothing.

    ``trial``: the trial the workbook must belong to (a trialist's own trial by default).
    Rows left blank stay sent. Raises WorkbookError listing every problem; QueryError if
    someone changed one of the queries while the import ran (then nothing is kept either).
    """
    book = read_workbook(path)
    with store.transaction() as session:
        plan = check_import(store, session, book, actor=actor, trial=trial)
        return apply_import(session, plan, actor=actor)
