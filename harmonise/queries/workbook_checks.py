"""Checking an answered query workbook before anything is imported.

Pure: the functions here see the cells read back from the file, what the export recorded
about each row (:class:`SentQuery`), and the queries as they are now (:class:`QueryState`);
they return the answers to import and *every* problem found (:class:`WorkbookProblem`),
never the first one only. :mod:`harmonise.queries.workbook` does the file and database work around
them.

A corrected value is judged against the trial's own column (:class:`ColumnRule`, inferred at
export time from the delivered data and its metadata): numbers in a numeric column, dates in
the column's own date layout, codes or their labels in a labelled column. The value that is
imported is written the way the trial's data write it (``17/02/2003`` in a ``DD/MM/YYYY``
column, ``2`` for ``Female`` in a labelled column), so that a correction applied to the raw
cell reads like the rest of the delivery.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harmonise.queries.i18n import RESPONSE_WORDS, language
from harmonise.values.cells import canonical_text, canonical_texts, parse_numbers
from harmonise.values.dates import parse_date_values
from repository.formats import ColumnInfo

__all__ = [
    "RESPONSES",
    "Response",
    "WorkbookProblem",
    "ColumnRule",
    "infer_column_rule",
    "SentQuery",
    "QueryState",
    "SheetRow",
    "Answer",
    "ListAnswers",
    "CheckOutcome",
    "cell_value_text",
    "normalise_response",
    "split_corrected_value",
    "check_answers",
    "check_answer",
    "CheckedAnswer",
]


# --- response codes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    code: str
    label: str  # what the drop-down shows (English; :meth:`label_in` for another language)
    meaning: str
    corrected_value: str  # "required" | "if found" | "optional" | "leave empty"
    comment_required: bool = False

    def label_in(self, lang: str) -> str:
        return RESPONSE_WORDS[language(lang)][self.code][0]

    def meaning_in(self, lang: str) -> str:
        return RESPONSE_WORDS[language(lang)][self.code][1]


_NEEDS = {"typographical_error": ("required", False), "data_missing": ("if found", False),
          "confirmed_correct": ("leave empty", False), "wrong_source": ("optional", False),
          "other": ("optional", True)}

#: the response codes of :data:`harmonise.queries.lifecycle.RESPONSE_CODES`, in the same order,
#: with the words trialists see (:data:`harmonise.queries.i18n.RESPONSE_WORDS` in other
#: languages)
RESPONSES: tuple[Response, ...] = tuple(
    Response(code, RESPONSE_WORDS["en"][code][0], RESPONSE_WORDS["en"][code][1],
             _NEEDS[code][0], comment_required=_NEEDS[code][1])
    for code in ("typographical_error", "data_missing", "confirmed_correct", "wrong_source",
                 "other"))
_BY_CODE = {r.code: r for r in RESPONSES}
_BY_LABEL = {re.sub(r"[\s_-]+", "_", label.strip().lower()): code
             for by_code in RESPONSE_WORDS.values() for code, (label, _) in by_code.items()}


def normalise_response(value: Any) -> str | None:
    """``"Typographical error"``, ``"typographical_error"``, ``" TYPOGRAPHICAL-ERROR "``,
    ``"Erreur de saisie"`` -> ``"typographical_error"``; None when it is none of the codes."""
    text = cell_value_text(value)
    if text is None:
        return None
    key = re.sub(r"[\s_-]+", "_", text.strip().lower())
    return key if key in _BY_CODE else _BY_LABEL.get(key)


# --- problems ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkbookProblem:
    """One problem in a workbook, located by sheet, row and column, saying what to do."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None  # the column's header
    cell: str | None = None  # e.g. "I7"
    query: int | None = None

    def __str__(self) -> str:
        if self.sheet is None:
            return self.message
        where = f"{self.sheet}!{self.cell}" if self.cell else (
            f"{self.sheet} row {self.row}" if self.row else self.sheet)
        what = [p for p in (f"column {self.column}" if self.column else None,
                            f"query {self.query}" if self.query is not None else None) if p]
        return f"{where}" + (f" ({', '.join(what)})" if what else "") + f": {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "cell": self.cell,
                "query": self.query, "message": self.message}


# --- values as a person reads them ------------------------------------------------------------

def cell_value_text(value: Any) -> str | None:
    """A workbook cell as text: ``42.0`` -> ``"42"``, dates ISO, blanks -> None."""
    if isinstance(value, str):
        text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
        return text or None
    return canonical_text(value)


#: spellings of "missing" a numeric or date column may use; kept as the trial writes them
MISSING_TOKENS = frozenset({"na", "n/a", ".", "-", "nk", "nd", "unk", "unknown", "missing",
                            "not known", "not done", "none"})

#: date layouts tried on text columns, most common first (day before month when ambiguous)
DATE_LAYOUTS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
                "%d%b%Y", "%d-%b-%Y", "%d %b %Y", "%d/%m/%y", "%m/%d/%y")
DATETIME_LAYOUTS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                    "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
_SHARE = 0.9  # a column is numeric / dates when at least 90% of its distinct values are
_EARLIEST, _LATEST = dt.datetime(1800, 1, 1), dt.datetime(2200, 12, 31, 23, 59, 59)
_SAMPLE = 5000  # distinct values looked at (in delivery order)
_EXAMPLE = dt.datetime(2003, 2, 17, 14, 30)


def _human_layout(fmt: str, lang: str = "en") -> str:
    out = fmt
    year, day = ("AAAA", "JJ") if language(lang) == "fr" else ("YYYY", "DD")
    for directive, human in (("%Y", year), ("%y", year[:2]), ("%m", "MM"), ("%d", day),
                             ("%b", "MON"), ("%H", "hh"), ("%M", "mm"), ("%S", "ss")):
        out = out.replace(directive, human)
    return out


_DESCRIBE = {
    "en": {"code": "a code: {codes}", "or_number": " (or another number)", "number": "a number",
           "comma": " (decimal comma, e.g. 72,5)",
           "date": "a date as {layout} (e.g. {example})",
           "datetime": "a date and time as {layout} (e.g. {example})", "text": "text",
           "tokens": "; or {tokens} if not known",
           "absent": " (column not in your latest data)"},
    "fr": {"code": "un code : {codes}", "or_number": " (ou un autre nombre)",
           "number": "un nombre", "comma": " (virgule décimale, par ex. 72,5)",
           "date": "une date au format {layout} (par ex. {example})",
           "datetime": "une date et heure au format {layout} (par ex. {example})",
           "text": "du texte", "tokens": " ; ou {tokens} si inconnu",
           "absent": " (colonne absente de vos dernières données)"},
}


@dataclass(frozen=True)
class ColumnRule:
    """How one of the trial's columns writes its values, and so how a corrected value for it
    must look. ``kind``: number | date | datetime | text."""

    column: str
    kind: str = "text"
    #: date layout as the trial writes it (a strftime pattern), or "native" for date cells
    layout: str | None = None
    decimal: str = "."
    upper: bool = False  # month names written in capitals (17FEB2003)
    #: value labels: code -> label (SPSS/Stata/SAS formats)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: the column's own spellings of "missing" (e.g. "NA"), accepted as they are
    tokens: tuple[str, ...] = ()
    present: bool = True

    def describe(self, lang: str = "en") -> str:
        """What a trialist should write, e.g. ``a date as DD/MM/YYYY (e.g. 17/02/2003)`` (in
        ``lang``, English or French)."""
        w = _DESCRIBE[language(lang)]
        if self.labels:
            codes = ", ".join(f"{k} = {v}" for k, v in self.labels.items())
            base = w["code"].format(codes=codes)
            if self.kind == "number":
                base += w["or_number"]
        elif self.kind == "number":
            base = w["number"] + (w["comma"] if self.decimal == "," else "")
        elif self.kind in ("date", "datetime"):
            if self.layout in (None, "native"):
                fmt = "%Y-%m-%d" if self.kind == "date" else "%Y-%m-%d %H:%M"
            else:
                fmt = self.layout
            example = _EXAMPLE.strftime(fmt)
            base = w[self.kind].format(layout=_human_layout(fmt, lang),
                                       example=example.upper() if self.upper else example)
        else:
            base = w["text"]
        if self.tokens:
            base += w["tokens"].format(tokens=", ".join(self.tokens))
        if not self.present:
            base += w["absent"]
        return base

    def normalise(self, value: Any) -> str:
        """``value`` written the way the column writes it; ValueError saying why not."""
        if isinstance(value, dt.datetime | dt.date) and not isinstance(value, bool):
            return self._date_cell(value)
        text = cell_value_text(value)
        if text is None:
            raise ValueError("it is empty")
        for token in self.tokens:
            if text.lower() == token.lower():
                return token
        if self.labels:
            text = self._code_for(text)
        if self.kind == "number":
            return self._number(value if isinstance(value, int | float) else text)
        if self.kind in ("date", "datetime"):
            return self._date_text(text)
        return text

    def _code_for(self, text: str) -> str:
        for code, label in self.labels.items():
            if text == code or text.lower() == label.lower() or \
                    text.lower() == f"{code} ({label})".lower():
                return code
        match = re.fullmatch(r"(.+?)\s*\((.*)\)", text)
        if match and match.group(1) in self.labels:
            return match.group(1)
        return text

    def _number(self, value: Any) -> str:
        if isinstance(value, bool):
            raise ValueError("it is TRUE/FALSE, not a number")
        number: float | None
        if isinstance(value, int | float):
            number = float(value)
        else:
            text = str(value).replace(" ", "")
            number = _parse_number(text, self.decimal)
            if number is None:
                other = "," if self.decimal == "." else "."
                number = _parse_number(text, other)
            if number is None:
                raise ValueError("it is not a number")
            mark = re.escape(self.decimal)
            if re.fullmatch(rf"[+-]?\d+({mark}\d+)?", text):
                return text  # as typed: keeps the trial's own digits (72.50, 007)
        if not np.isfinite(number):
            raise ValueError("it is not a finite number")
        out = canonical_text(number)
        assert out is not None
        return out.replace(".", ",") if self.decimal == "," else out

    def _date_cell(self, value: dt.date) -> str:
        if self.kind not in ("date", "datetime"):
            if self.kind == "number":
                raise ValueError(f"Excel turned it into the date {value:%Y-%m-%d} (format "
                                 "the cell as Text and type the number again)")
            return canonical_text(value) or ""
        stamp = pd.Timestamp(value)
        return self._write(stamp)

    def _write(self, stamp: pd.Timestamp) -> str:
        if self.layout in (None, "native"):
            if self.kind == "date":
                return stamp.strftime("%Y-%m-%d")
            return stamp.isoformat()
        text = stamp.strftime(self.layout)
        return text.upper() if self.upper else text

    def _date_text(self, text: str) -> str:
        layouts = [self.layout] if self.layout not in (None, "native") else []
        layouts += ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        for fmt in layouts:
            try:
                parsed = dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
            if _EARLIEST <= parsed <= _LATEST:
                stamp = pd.Timestamp(parsed)
                return self._write(stamp if self.kind == "datetime" else stamp.normalize())
        raise ValueError("it is not a valid date in that layout")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "kind": self.kind}
        if self.layout:
            out["layout"] = self.layout
        if self.decimal != ".":
            out["decimal"] = self.decimal
        if self.upper:
            out["upper"] = True
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.tokens:
            out["tokens"] = list(self.tokens)
        if not self.present:
            out["present"] = False
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnRule:
        return cls(column=data["column"], kind=data.get("kind", "text"),
                   layout=data.get("layout"), decimal=data.get("decimal", "."),
                   upper=bool(data.get("upper", False)), labels=dict(data.get("labels", {})),
                   tokens=tuple(data.get("tokens", ())), present=data.get("present", True))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _parse_number(text: str, decimal: str) -> float | None:
    """One number as :func:`harmonise.values.cells.parse_numbers` reads it (None if it is not)."""
    if decimal != ".":
        if "." in text:
            return None
        text = text.replace(decimal, ".")
    if not _NUMBER.fullmatch(text):
        return None
    if "e" in text.lower():  # exponents are rare: read them exactly as the engine does
        values, bad = parse_numbers(np.array([text], dtype=object))
        return None if bad[0] or np.isnan(values[0]) else float(values[0])
    value = float(text)
    return value if math.isfinite(value) else None


def infer_column_rule(column: str, series: pd.Series | None,
                      info: ColumnInfo | None = None) -> ColumnRule:
    """How ``series`` (the delivered column) writes its values; see :class:`ColumnRule`."""
    labels = dict(info.value_labels) if info is not None else {}
    if series is None:
        return ColumnRule(column, "text", labels=labels, present=False)
    typed = _typed_column_rule(column, series, labels)
    if typed is not None:
        return typed
    uniques = pd.unique(series.dropna().to_numpy(dtype=object))[:_SAMPLE]
    natives = [v for v in uniques if not isinstance(v, str)]
    if natives and len(natives) == len(uniques):  # typed cells (an Excel delivery)
        if all(isinstance(v, dt.date | pd.Timestamp) for v in natives):
            return ColumnRule(column, "date", layout="native", labels=labels)
        if all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
               for v in natives):
            return ColumnRule(column, "number", labels=labels)
    texts = [t for t in canonical_texts(uniques) if t is not None]
    tokens = tuple(sorted({t for t in texts if t.lower() in MISSING_TOKENS}))
    rest = np.array([t for t in texts if t not in tokens], dtype=object)
    if len(rest) == 0:
        return ColumnRule(column, "text", labels=labels)
    return _text_column_rule(column, rest, labels, tokens)


def _typed_column_rule(column: str, series: pd.Series,
                       labels: dict[Any, str]) -> ColumnRule | None:
    """The rule of a column with a boolean, date or number dtype (None for the others)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnRule(column, "text", labels=labels)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.dropna()
        timed = bool(len(values)) and bool((values != values.dt.normalize()).any())
        return ColumnRule(column, "datetime" if timed else "date", layout="native",
                          labels=labels)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return ColumnRule(column, "number", labels=labels)
    return None


def _text_column_rule(column: str, rest: np.ndarray, labels: dict[Any, str],
                      tokens: tuple[str, ...]) -> ColumnRule:
    """The rule of a column of texts (``rest``: its distinct texts but the missing tokens):
    numbers with either decimal mark, then the date layout that reads the most of them."""
    for decimal in (".", ","):
        _, bad = parse_numbers(rest, decimal=decimal)
        if 1 - bad.mean() >= _SHARE:
            return ColumnRule(column, "number", decimal=decimal, labels=labels, tokens=tokens)
    best: tuple[float, str, str] | None = None
    for kind, layouts in (("date", DATE_LAYOUTS), ("datetime", DATETIME_LAYOUTS)):
        for fmt in layouts:
            _, bad = parse_date_values(rest, fmt, datetime=kind == "datetime")
            share = 1 - float(bad.mean())
            if share >= _SHARE and (best is None or share > best[0]):
                best = (share, kind, fmt)
    if best is None:
        return ColumnRule(column, "text", labels=labels)
    _, kind, fmt = best
    lettered = [t for t in rest if re.search(r"[A-Za-z]", t)]
    upper = "%b" in fmt and bool(lettered) and all(t == t.upper() for t in lettered)
    return ColumnRule(column, kind, layout=fmt, upper=upper, labels=labels, tokens=tokens)


def split_corrected_value(text: str, columns: Sequence[str]) -> dict[str, str]:
    """``"SEX=2; AGE=64"`` -> ``{"SEX": "2", "AGE": "64"}`` (names matched ignoring case).

    With one column, a bare value is that column's value (``"COLUMN=value"`` works too).
    ``COLUMN=`` with nothing after ``=`` gives ``""``: the cell should be empty. ValueError
    names what is wrong. (:func:`harmonise.queries.answers.parse_corrected_values` reads the
    normalised form back when a curator accepts the answer.)
    """
    text = text.strip()
    if len(columns) == 1:
        match = re.fullmatch(r"\s*([^=;]+?)\s*=\s*(.*)", text, flags=re.S)
        if match and match.group(1).strip().lower() == columns[0].lower():
            return {columns[0]: match.group(2).strip()}
        return {columns[0]: text}
    by_lower = {c.lower(): c for c in columns}
    out: dict[str, str] = {}
    for part in [p for p in re.split(r"[;\n]", text) if p.strip()]:
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{part.strip()!r} does not say which column it is for; write "
                             f"COLUMN=value, one per column, separated by ';' (columns: "
                             f"{', '.join(columns)})")
        key = by_lower.get(name.strip().lower())
        if key is None:
            raise ValueError(f"{name.strip()!r} is not one of this query's columns "
                             f"({', '.join(columns)})")
        if key in out:
            raise ValueError(f"{key} is given twice")
        out[key] = value.strip()
    if not out:
        raise ValueError("it is empty")
    return out


# --- what the export recorded, what the queries are now, what the sheet holds ------------------

@dataclass(frozen=True)
class SentQuery:
    """One row of an export, as recorded in ``QueryExport.queries``."""

    id: int
    row: int
    version: int
    status: str  # after the export ("sent")
    previous_status: str
    #: the repository pseudonym of the row's participant (never written to the workbook)
    participant: str | None
    #: the protected cells as written, by column key; the participant cell is left out
    #: (None) when the query is about a participant: ``participant`` stands for it
    shown: Mapping[str, str | None]
    columns: tuple[ColumnRule, ...]
    question: str
    value: str | None
    raw_values: Mapping[str, Any]
    #: the sheet listing the participants of a question about several (None: no list), and
    #: its rows as :class:`harmonise.queries.workbook_lists.ListRow` records
    list_sheet: str | None = None
    list_rows: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "row": self.row, "version": self.version, "status": self.status,
               "previous_status": self.previous_status, "participant": self.participant,
               "shown": dict(self.shown), "columns": [c.to_dict() for c in self.columns],
               "question": self.question, "value": self.value,
               "raw_values": dict(self.raw_values)}
        if self.list_sheet:
            out["list_sheet"] = self.list_sheet
            out["list_rows"] = [dict(r) for r in self.list_rows]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentQuery:
        return cls(id=int(data["id"]), row=int(data["row"]), version=int(data["version"]),
                   status=data["status"], previous_status=data["previous_status"],
                   participant=data.get("participant"), shown=dict(data["shown"]),
                   columns=tuple(ColumnRule.from_dict(c) for c in data.get("columns", [])),
                   question=data["question"], value=data.get("value"),
                   raw_values=dict(data.get("raw_values", {})),
                   list_sheet=data.get("list_sheet"),
                   list_rows=tuple(dict(r) for r in data.get("list_rows", [])))


@dataclass(frozen=True)
class QueryState:
    """A query as it is in the store now."""

    id: int
    status: str
    question: str
    value: str | None
    raw_values: Mapping[str, Any]
    #: the latest response: (code, corrected value, comment, export id), and its cells
    last_response: tuple[str | None, str | None, str | None, int | None] | None = None
    last_cells: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SheetRow:
    """One non-empty row of the Queries sheet: its number and its cells by column key."""

    row: int
    cells: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)  # cells right of the table


@dataclass(frozen=True)
class Answer:
    query: int
    row: int
    response_code: str
    corrected_value: str | None
    comment: str | None
    #: corrected cells of the participants of the question's list sheet
    cells: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ListAnswers:
    """What a question's participant sheet holds (see :mod:`harmonise.queries.workbook_lists`)."""

    cells: tuple[Mapping[str, Any], ...]
    comments: tuple[str, ...]
    problems: tuple[WorkbookProblem, ...]

    @property
    def answered(self) -> bool:
        return bool(self.cells or self.comments)


@dataclass(frozen=True)
class CheckOutcome:
    answers: tuple[Answer, ...]
    unchanged: tuple[int, ...]  # answered the same way by an earlier import of this export
    not_answered: tuple[int, ...]
    problems: tuple[WorkbookProblem, ...]


# --- the checks -------------------------------------------------------------------------------

PROTECTED = ("query", "participant", "columns", "delivered", "question", "history",
             "expected", "due")
ANSWER = ("response", "corrected", "comment")


@dataclass(frozen=True)
class _Sheet:
    name: str
    letters: Mapping[str, str]  # key -> column letter
    headers: Mapping[str, str]  # key -> header text

    def problem(self, row: int, key: str | None, message: str,
                query: int | None = None) -> WorkbookProblem:
        if key is None:
            return WorkbookProblem(message, sheet=self.name, row=row, query=query)
        return WorkbookProblem(message, sheet=self.name, row=row, column=self.headers[key],
                               cell=f"{self.letters[key]}{row}", query=query)


def _short(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "(empty)"
    text = text.replace("\n", " / ")
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def _match_rows(s: _Sheet, rows: Sequence[SheetRow], sent: Sequence[SentQuery]
                ) -> tuple[list[tuple[SheetRow, SentQuery]], list[WorkbookProblem]]:
    """Each row with the query it answers; rows added, copied or deleted, and cells typed
    right of the answer columns, as problems."""
    problems: list[WorkbookProblem] = []
    by_id = {q.id: q for q in sent}
    seen: dict[int, int] = {}
    matched: list[tuple[SheetRow, SentQuery]] = []
    for r in rows:
        raw_id = cell_value_text(r.cells.get("query"))
        qid = int(raw_id) if raw_id is not None and re.fullmatch(r"\d+", raw_id) else None
        if qid is None or qid not in by_id:
            what = (f"query {raw_id} was not in this workbook when it was sent"
                    if raw_id is not None else "it has no query number")
            problems.append(s.problem(r.row, "query", f"this row was added or its query number "
                                      f"was changed ({what}). The workbook must keep one row "
                                      "per query, as sent: delete the row, or put the query "
                                      "number back; raise new questions in a Comment.", qid))
            continue
        if qid in seen:
            problems.append(s.problem(r.row, "query", f"query {qid} appears twice (rows "
                                      f"{seen[qid]} and {r.row}); keep one row per query and "
                                      "delete the copy.", qid))
            continue
        seen[qid] = r.row
        matched.append((r, by_id[qid]))
        for key, value in r.extra.items():
            problems.append(WorkbookProblem(
                f"{_short(cell_value_text(value))} was typed right of the answer columns, where "
                "it would be lost; move it into Comment.", sheet=s.name, row=r.row, column=key,
                cell=f"{key}{r.row}", query=qid))
    for q in sent:
        if q.id not in seen:
            about = q.shown.get("columns") or "the whole trial"
            problems.append(WorkbookProblem(
                f"the row of query {q.id} (sent as row {q.row}, about "
                f"{about.replace(chr(10), ', ')}) was deleted; put it back from the workbook "
                "we sent, or ask for a new workbook.", sheet=s.name, query=q.id))
    return matched, problems


def check_answers(rows: Sequence[SheetRow], sent: Sequence[SentQuery],
                  now: Mapping[int, QueryState], *, sheet: str, letters: Mapping[str, str],
                  headers: Mapping[str, str], trial: str, export_id: int,
                  pseudonym: Callable[[str], str], participants: Callable[[str], bool],
                  lists: Mapping[int, ListAnswers] | None = None,
                  language: str = "en") -> CheckOutcome:
    """Check every row of the sheet against the export and the queries as they are now.

    ``pseudonym`` maps a participant ID typed in the sheet to its pseudonym; ``participants``
    says whether a pseudonym is a participant of the trial; ``lists``: what the participant
    sheets of questions about several participants hold, by query.
    """
    s = _Sheet(sheet, letters, headers)
    matched, problems = _match_rows(s, rows, sent)
    answers: list[Answer] = []
    unchanged: list[int] = []
    blank: list[int] = []
    for r, q in matched:
        problems.extend(_protected_cells(s, r, q, trial, pseudonym, participants))
        listed = (lists or {}).get(q.id)
        answer, row_problems = _answer(s, r, q, listed=listed, language=language)
        if answer is None and not row_problems:
            blank.append(q.id)
            continue
        state = now.get(q.id)
        if state is None or state.status not in ("sent", "answered"):
            status = state.status if state is not None else "deleted"
            problems.append(s.problem(r.row, None, f"query {q.id} is {status} now, no longer "
                                      "waiting for an answer (it changed after this workbook "
                                      "was sent); clear this row's answer, or ask the curator "
                                      "about it.", q.id))
            continue
        if (state.question, state.value, dict(state.raw_values)) != \
                (q.question, q.value, dict(q.raw_values)):
            problems.append(s.problem(r.row, None, f"query {q.id} changed after this workbook "
                                      f"was sent (it now asks: {_short(state.question, 120)}); "
                                      "ask the curator for a new workbook.", q.id))
            continue
        problems.extend(row_problems)
        if row_problems or answer is None:
            continue
        last = state.last_response
        if state.status == "answered" and last is not None and last[3] == export_id and \
                last[:3] == (answer.response_code, answer.corrected_value, answer.comment) \
                and [dict(c) for c in state.last_cells] == [dict(c) for c in answer.cells]:
            unchanged.append(q.id)
            continue
        answers.append(answer)
    problems.sort(key=lambda p: (p.sheet or "", p.row or 0, p.cell or ""))
    return CheckOutcome(answers=tuple(answers), unchanged=tuple(unchanged),
                        not_answered=tuple(blank), problems=tuple(problems))


def _protected_cells(s: _Sheet, r: SheetRow, q: SentQuery, trial: str,
                     pseudonym: Callable[[str], str],
                     participants: Callable[[str], bool]) -> list[WorkbookProblem]:
    out: list[WorkbookProblem] = []
    for key in PROTECTED:
        if key == "query":
            continue
        now = cell_value_text(r.cells.get(key))
        if key == "participant" and q.participant is not None:
            # the export recorded the pseudonym, never the trial's own ID: compare through it
            if now is not None and pseudonym(now) == q.participant:
                continue
            if now is None:
                message = "the participant ID was deleted"
            elif not participants(pseudonym(now)):
                message = f"{_short(now)} is not a participant ID of trial {trial}"
            else:
                message = f"the participant ID was changed to {_short(now)}, another participant"
            out.append(s.problem(r.row, key, f"{message}; this cell is protected. Put back the "
                                 "ID we sent (ask for a new workbook if it is lost); a query "
                                 "about the wrong participant is answered in Comment.", q.id))
            continue
        was = q.shown.get(key)
        if now != was:
            out.append(s.problem(r.row, key, f"this cell is protected and was changed from "
                                 f"{_short(was)} to {_short(now)}. Put back what we sent; "
                                 "write corrections in the Corrected value column and remarks "
                                 "in Comment.", q.id))
    return out


def _answer(s: _Sheet, r: SheetRow, q: SentQuery, *, listed: ListAnswers | None = None,
            language: str = "en") -> tuple[Answer | None, list[WorkbookProblem]]:
    raw_code, raw_value, raw_comment = (r.cells.get(k) for k in ANSWER)
    checked = check_answer(raw_code, raw_value, raw_comment, q.columns, listed=listed,
                           list_sheet=q.list_sheet, language=language)
    if checked.empty:
        return None, []
    problems = list(listed.problems) if listed is not None else []
    problems += [s.problem(r.row, key, message, q.id) for key, message in checked.problems]
    if problems or checked.response_code is None:
        return None, problems
    notes = [checked.comment] if checked.comment else []
    if listed is not None:
        notes += list(listed.comments)
    return Answer(query=q.id, row=r.row, response_code=checked.response_code,
                  corrected_value=checked.corrected_value, comment="\n".join(notes) or None,
                  cells=tuple(listed.cells) if listed is not None else ()), []


@dataclass(frozen=True)
class CheckedAnswer:
    """One answer as :func:`check_answer` judged it: what would be recorded, and every
    problem as ``(field, message)`` with field one of :data:`ANSWER`."""

    response_code: str | None
    corrected_value: str | None
    comment: str | None
    problems: tuple[tuple[str, str], ...] = ()
    empty: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.empty and self.response_code is not None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "response_code": self.response_code,
                "corrected_value": self.corrected_value, "comment": self.comment,
                "problems": [{"field": f, "message": m} for f, m in self.problems]}


def check_answer(raw_code: Any, raw_value: Any, raw_comment: Any,
                 columns: Sequence[ColumnRule], *, listed: ListAnswers | None = None,
                 list_sheet: str | None = None, language: str = "en") -> CheckedAnswer:
    """Judge one answer - response code, corrected value, comment - against the query's
    columns: the one check behind the workbook import and the web answer form, with the same
    messages. The corrected value comes back written the way the trial's column writes it.

    ``listed``: what the question's participant sheet ``list_sheet`` holds (its own problems
    are not repeated here; its comments are not joined to ``comment``)."""
    code_text = cell_value_text(raw_code)
    value_text = cell_value_text(raw_value)
    comment = cell_value_text(raw_comment)
    listed_values = listed is not None and bool(listed.cells)
    if code_text is None and value_text is None and comment is None and \
            (listed is None or (not listed.answered and not listed.problems)):
        return CheckedAnswer(None, None, None, empty=True)
    problems: list[tuple[str, str]] = []
    code = normalise_response(raw_code)
    choices = "; ".join(x.label_in(language) for x in RESPONSES)
    if code_text is None:
        where = (f"the participants on sheet {list_sheet} have answers, but this row has no "
                 "response" if listed is not None and listed.answered and value_text is None
                 and comment is None else "the row has an answer but no response code")
        problems.append(("response", f"{where}; choose one from the list ({choices})."))
    elif code is None:
        problems.append(("response", f"{_short(code_text)} is not one of the response codes; "
                         f"choose one from the list ({choices})."))
    corrected: str | None = None
    if code is not None:
        response = _BY_CODE[code]
        label = response.label_in(language)
        if response.corrected_value == "required" and value_text is None and not listed_values:
            problems.append(("corrected", f"'{label}' needs the right value in Corrected value "
                             "(or choose another response)."))
        if response.corrected_value == "leave empty" and (value_text is not None
                                                           or listed_values):
            given = _short(value_text) if value_text is not None else f"on sheet {list_sheet}"
            problems.append(("corrected", f"'{label}' keeps the value you sent, but a corrected "
                             f"value ({given}) was given; clear it, or choose Typographical "
                             "error."))
        if response.comment_required and comment is None and \
                not (listed is not None and listed.comments):
            problems.append(("comment", f"'{label}' needs a Comment saying what happened."))
    if value_text is not None and not (code is not None and
                                       _BY_CODE[code].corrected_value == "leave empty"):
        try:
            corrected = _corrected(raw_value, columns)
        except ValueError as exc:
            problems.append(("corrected", f"{exc}."))
    return CheckedAnswer(code, corrected, comment, problems=tuple(problems))


def _corrected(raw: Any, rules: Sequence[ColumnRule]) -> str:
    """The corrected value, checked against the query's columns and written their way."""
    if not rules:  # a trial-level query: free text
        text = cell_value_text(raw)
        if text is None:
            raise ValueError("it is empty")
        return text
    if len(rules) == 1 and not isinstance(raw, str):
        return _one(rules[0], raw)
    text = cell_value_text(raw) or ""
    parts = split_corrected_value(text, [r.column for r in rules])
    by_name = {r.column: r for r in rules}
    if len(rules) == 1 and parts[rules[0].column] != "":
        return _one(rules[0], parts[rules[0].column])
    # COLUMN=value for each column given; COLUMN= (nothing after =) empties the cell
    return "; ".join(f"{name}={_one(by_name[name], parts[name]) if parts[name] else ''}"
                     for name in [r.column for r in rules] if name in parts)


def _one(rule: ColumnRule, value: Any) -> str:
    try:
        return rule.normalise(value)
    except ValueError as exc:
        raise ValueError(f"{_short(cell_value_text(value))} is not valid for your column "
                         f"{rule.column}: {exc}; write {rule.describe()}") from exc
