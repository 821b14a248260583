"""The pseudonymisation gate: find direct identifiers before a delivery is accepted.

Deliveries must be pseudonymised: no names, contact details, national or hospital IDs, full
postcodes, addresses, full dates of birth, network addresses or free-text notes. The gate judges
each *column* on combined evidence, never one value or one pattern alone:

* what its values are, recognised by the real rules of each kind (:mod:`repository.idvalues`:
  numbering plans for telephones, check digits for NHS/CHI/NIR/KVNR/My Number/resident IDs, the
  real UK postcode areas ...; :mod:`repository.idnames`: a name lexicon and the shape of names);
* how many of its values are so (a share of its rows), and how they are distributed (a column
  of near-consecutive codes ``302-215-0001 ... 0040`` is a list of trial IDs, not telephones;
  a date column spread over decades, 0-110 years before the other dates of the same rows, holds
  dates of birth);
* what its name says, in English, French, German, Japanese and Chinese (``tel``, ``prénom``,
  ``Geburtsdatum``, ``氏名``, ``出生日期`` ...): a name can make weak value evidence enough
  (``phone`` with 9-digit numbers), and can clear a column (a date named as a date of
  randomisation or death is not a date of birth; a ``chi`` yes/no column holds no numbers);
* its role: the declared participant-ID column is not judged as telephones, SSN-shaped codes or
  addresses, but is refused when it holds national numbers with valid check digits.

:func:`scan` judges one table (its values, its column names, and the variable and value labels
given with it); :func:`scan_table` judges everything a delivery holds: the data sheet, every
other sheet of a workbook (hidden ones too: the whole file is stored), the variable labels and
value labels of SPSS/Stata files (also label sets no variable uses), their file label and notes,
and the column names. Each finding names the sheet, the column, what was found, the rows and
masked examples (:class:`IdentifierFinding`). :data:`RULES` lists the kinds and their rules.

Work is done once per *distinct* value, and at most :data:`MAX_DISTINCT_SCANNED` distinct values
of a column are judged (a deterministic sample; the share of rows they cover is weighted by
their counts); e-mail addresses are looked for in every distinct value. Every column is judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from repository import idnames, idvalues
from repository.iddates import birth_date_evidence, column_dates, split_birth_date
from repository.idhints import column_hints, column_tokens

if TYPE_CHECKING:
    from repository.formats import RawTable

__all__ = ["IdentifierFinding", "RULES", "MAX_DISTINCT_SCANNED", "scan", "scan_table", "mask"]

#: at most this many distinct values of a column are judged (a deterministic sample)
MAX_DISTINCT_SCANNED = 2000

#: kind -> what the rule looks for (shown in reports and docs)
RULES: dict[str, str] = {
    "name": "person names: columns named for names, initials, GPs or next of kin (surname, "
            "prénom, Vorname, 氏名, 姓名 ...) holding text; columns where half the values are "
            "names (a known given or family name in a name shape, or CJK names); initials "
            "written J.S.; a name with a title or a known given name inside free text",
    "email": "e-mail addresses anywhere (a single one is enough)",
    "phone": "telephone numbers by national numbering plan (UK, North America, France, Germany, "
             "Japan, China, any +country code): half the values, or any in a column named for "
             "telephones, or one inside free text; near-consecutive codes are trial IDs",
    "national_id": "national, health-service or hospital numbers: valid check digits (NHS, "
                   "CHI, French NIR, German KVNR, Japanese My Number, Chinese resident ID), US "
                   "social security numbers, MRN/URN-prefixed hospital numbers, or columns named "
                   "for them (NHS, CHI, SSN, MRN, hospital number ...) holding per-person numbers",
    "postcode": "full postcodes: UK postcodes in a real postcode area (SW1A 1AA), ZIP+4, "
                "Japanese 〒 postcodes; outward codes (SW1A) and regions are allowed",
    "address": "street addresses (house number and street in English, French, German, "
               "Japanese or Chinese style)",
    "date_of_birth": "full dates of birth (day precision): in columns named for the date of "
                     "birth; in date columns not named for an event whose dates are 0-110 years "
                     "before the row's other dates (or spread over decades); day, month and year "
                     "of birth in separate columns. Year or month of birth is allowed",
    "ip_address": "IPv4 or IPv6 addresses",
    "free_text": "free-text columns (notes, comments, remarques, Bemerkung, 備考 ...) or text "
                 "columns whose values are long sentences",
}

_ADVICE = {
    "name": "remove the column",
    "email": "remove the column",
    "phone": "remove the column",
    "national_id": "remove the column (keep only the trial's own participant ID)",
    "postcode": "deliver the outward code (e.g. SW1A) or a region instead",
    "address": "remove the column, or deliver a region",
    "date_of_birth": "deliver year or month of birth, or age at randomisation, instead",
    "ip_address": "remove the column",
    "free_text": "remove the column, or deliver coded values",
}


@dataclass(frozen=True)
class IdentifierFinding:
    """One column (or its labels, or a column name) that carries direct identifiers."""

    column: str
    kind: str
    reason: str
    n_rows: int
    example_rows: tuple[int, ...]
    examples: tuple[str, ...]
    #: the workbook sheet, for Excel deliveries
    sheet: str | None = None
    #: where in the column: "values", "column name", "variable label", "value labels"
    source: str = "values"
    #: True for a sheet other than the one delivered as data (also for hidden sheets)
    other_sheet: bool = False
    hidden: bool = False

    @property
    def key(self) -> str:
        """What a curator names to accept this finding: the column, or ``SHEET!COLUMN`` for a
        column of another sheet of the workbook."""
        return f"{self.sheet}!{self.column}" if self.other_sheet else self.column

    @property
    def where(self) -> str:
        sheet = ""
        if self.sheet is not None:
            sheet = f"{'hidden ' if self.hidden else ''}sheet {self.sheet!r}, "
        part = {"values": "", "column name": " (its name)",
                "variable label": " (its variable label)",
                "value labels": " (its value labels)"}.get(self.source, f" ({self.source})")
        return f"{sheet}column {self.column!r}{part}"

    def __str__(self) -> str:
        rows = ", ".join(str(r) for r in self.example_rows)
        ex = "; ".join(self.examples)
        what = (f"{self.n_rows} row(s), e.g. rows {rows}" if self.example_rows else
                f"{self.n_rows} value(s)")
        return (f"{self.where} [{self.kind}]: {self.reason}; {what}" + (f" ({ex})" if ex else "")
                + f"; {_ADVICE.get(self.kind, 'remove it')}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "kind": self.kind, "reason": self.reason,
                               "n_rows": self.n_rows, "example_rows": list(self.example_rows),
                               "examples": list(self.examples), "source": self.source}
        if self.sheet is not None:
            out.update(sheet=self.sheet, other_sheet=self.other_sheet, hidden=self.hidden)
        return out


def mask(value: str) -> str:
    """Mask a value for a report: keep the first character of each part."""
    value = str(value).strip()
    if "@" in value:
        user, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{user[:1]}***@{host[:1]}***.{tld}"
    if len(value) <= 2:
        return "*" * len(value)
    return re.sub(r"(?<=\w)\w", "*", value)


# --- a column's distinct values ---------------------------------------------------------------------

class _Column:
    """Distinct non-missing values of one column as text, with their row counts.

    A column of floats is summarised from the numbers themselves: whether they are whole or
    decimal numbers is told without writing them as text, and their texts are only made when a
    rule asks for them (a column of decimal measurements is judged by no rule, see
    :func:`_judge`)."""

    def __init__(self, name: str, series: pd.Series,
                 factorised: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``factorised``: ``pandas.factorize`` of the column's values, when already made (a
        column of objects as read: :attr:`repository.formats.RawTable.distinct`)."""
        self.name = name
        self.series = series
        self.is_datetime = pd.api.types.is_datetime64_any_dtype(series)
        self.is_numeric = (pd.api.types.is_numeric_dtype(series)
                           and not pd.api.types.is_bool_dtype(series))
        if factorised is not None and series.dtype == object and \
                len(factorised[0]) == len(series):
            codes, uniques = factorised[0], pd.Index(factorised[1], dtype=object, copy=False)
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        self.codes = codes
        raw_counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        self._uniques = uniques
        self._dates: dict[str, date] | None = None
        self._digits: np.ndarray | None = None
        self._letters = self._digit_first = np.zeros(0)  # (with _digits)
        self._date_days: np.ndarray | None = None
        self._words: np.ndarray | None = None
        self._pick: np.ndarray | None = None
        floats = uniques.to_numpy() if isinstance(uniques, pd.Index) else None
        if floats is not None and floats.dtype.kind == "f":
            self._view: tuple[list[str | None], list[str], list[str]] | None = None
            self._count(raw_counts.astype(np.int64))
            sampled = floats if self._pick is None else floats[self._pick]
            whole, plain = _float_shapes(sampled)
            self.integers = bool(sampled.size) and bool(whole.all())
            self.decimals = (bool(sampled.size) and not self.integers
                             and bool((whole | plain).all()))
            return
        text_of_code, one_to_one = _texts(uniques)
        if one_to_one:  # numbers and dates: each distinct value has a text of its own
            all_distinct: list[str] = text_of_code  # type: ignore[assignment]
            all_counts = raw_counts.astype(np.int64)
        else:  # values written alike (" 12" and "12", 12.0 and 12) are one distinct text
            text_codes, merged = pd.factorize(np.array(text_of_code, dtype=object),
                                              use_na_sentinel=True)
            present = text_codes >= 0
            all_distinct = merged.tolist()
            all_counts = np.bincount(text_codes[present], weights=raw_counts[present],
                                     minlength=len(merged)).astype(np.int64)
        self._count(all_counts)
        distinct = (all_distinct if self._pick is None
                    else [all_distinct[i] for i in self._pick.tolist()])
        self._view = (text_of_code, all_distinct, distinct)
        if series.dtype.kind in "iu":  # whole numbers: every text is one
            self.integers = bool(distinct)
        else:
            self.integers = all(_INT.match(v) for v in distinct) if distinct else False
        #: measurements (12.5, -0,3): no identifier is written as a decimal number
        self.decimals = bool(distinct) and not self.integers and all(
            _DECIMAL.match(v) or _INT.match(v) for v in distinct)

    def _count(self, all_counts: np.ndarray) -> None:
        """The row counts of the distinct values, and the sample judged when there are more
        than :data:`MAX_DISTINCT_SCANNED` of them."""
        self.n = int(all_counts.sum())
        self.n_distinct = len(all_counts)
        if self.n_distinct > MAX_DISTINCT_SCANNED:
            self._pick = np.sort(np.random.default_rng(0).choice(
                self.n_distinct, MAX_DISTINCT_SCANNED, replace=False))
            self.counts = all_counts[self._pick]
        else:
            self.counts = all_counts
        self.n_sampled = int(self.counts.sum())

    def _texts_view(self) -> tuple[list[str | None], list[str], list[str]]:
        """(text of each raw distinct value, distinct texts, the sample of them judged)."""
        if self._view is None:
            text_of_code, _ = _texts(self._uniques)  # (floats: one text per number)
            all_distinct: list[str] = text_of_code  # type: ignore[assignment]
            self._view = (text_of_code, all_distinct,
                          all_distinct if self._pick is None
                          else [all_distinct[i] for i in self._pick.tolist()])
        return self._view

    @property
    def all_distinct(self) -> list[str]:
        """Every distinct text."""
        return self._texts_view()[1]

    @property
    def distinct(self) -> list[str]:
        """The distinct texts judged (all, or a deterministic sample)."""
        return self._texts_view()[2]

    @property
    def _text_of_code(self) -> list[str | None]:
        return self._texts_view()[0]

    @property
    def words(self) -> np.ndarray:
        """Per distinct value judged, its number of words (computed once)."""
        if self._words is None:
            self._words = np.array([len(v.split()) for v in self.distinct], dtype=np.int64)
        return self._words

    @property
    def digit_counts(self) -> np.ndarray:
        """Per distinct value, the number of its digits; -1 (unknown) for text that is not
        ASCII, whose digits may be other scripts'. The rules use it to pass over values that
        cannot match (a telephone number needs 8 digits or more, a name none), so that they
        look at few values per column; every value they could match is still looked at."""
        if self._digits is None:
            self._digits, self._letters, self._digit_first = _ascii_counts(self.distinct)
        return self._digits

    @property
    def letter_counts(self) -> np.ndarray:
        """Per distinct value, the number of its ASCII letters; -1 for text that is not ASCII."""
        self.digit_counts  # noqa: B018 (computed together)
        return self._letters

    @property
    def digit_first(self) -> np.ndarray:
        """Per distinct value, whether it starts with an ASCII digit (no prefix of letters)."""
        self.digit_counts  # noqa: B018 (computed together)
        return self._digit_first

    def where(self, candidates: np.ndarray, rule: Callable[[str], Any]) -> list[Any]:
        """``rule`` of each distinct value that is a candidate, False for the others."""
        out: list[Any] = [False] * len(self.distinct)
        distinct = self.distinct
        for i in np.flatnonzero(candidates).tolist():
            out[i] = rule(distinct[i])
        return out

    @property
    def dates(self) -> dict[str, date]:
        """The distinct values that are full dates (computed once)."""
        if self._dates is None:
            self._dates = ({} if self.decimals else
                           column_dates(self.distinct, self.is_numeric, digits=self.digit_counts))
        return self._dates

    def rows_where(self, matching: Iterable[str]) -> np.ndarray:
        wanted = set(matching)
        raws = [raw for raw, text in zip(self._uniques, self._text_of_code) if text in wanted]
        if not raws:
            return np.array([], dtype=int)
        return np.flatnonzero(self.series.isin(raws).to_numpy()) + 1

    def share(self, flags: Sequence[bool] | np.ndarray) -> float:
        """The share of (sampled) rows whose value is flagged."""
        if self.n_sampled == 0:
            return 0.0
        return float(self.counts[np.asarray(flags, dtype=bool)].sum()) / self.n_sampled

    def row_days(self, of_distinct: Mapping[str, date]) -> np.ndarray:
        """The dates of ``of_distinct`` (a date per distinct text) spread over the rows, as day
        numbers (NaN elsewhere)."""
        per_code = np.array([of_distinct[t].toordinal() if t is not None and t in of_distinct
                             else np.nan for t in self._text_of_code], dtype=np.float64)
        days = np.full(len(self.codes), np.nan)
        present = self.codes >= 0
        days[present] = per_code[self.codes[present]]
        return days

    def date_days(self) -> np.ndarray:
        """:meth:`row_days` of the column's own :attr:`dates`, computed once (every column of
        the table judged for dates of birth compares its rows with these), read-only."""
        if self._date_days is None:
            self._date_days = self.row_days(self.dates)
            self._date_days.flags.writeable = False
        return self._date_days

    @property
    def distinct_ratio(self) -> float:
        return self.n_distinct / max(self.n, 1)


def _ascii_counts(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value, on the code points of all values at once: the number of its ASCII digits
    and of its ASCII letters (-1 both for a value that is not ASCII), and whether it starts
    with an ASCII digit."""
    n = len(values)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
    ascii_ = np.fromiter(map(str.isascii, values), dtype=bool, count=n)
    points = np.frombuffer("".join(values).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    is_digit = (points - 48) < 10  # code points "0" .. "9"
    is_letter = ((points | 32) - 97) < 26  # "A" .. "Z", "a" .. "z"
    ends = np.cumsum(lengths)
    starts = ends - lengths
    out = []
    for flags in (is_digit, is_letter):
        seen = np.concatenate(([0], np.cumsum(flags)))
        counts = (seen[ends] - seen[starts]).astype(np.int64)
        counts[~ascii_] = -1
        out.append(counts)
    first_digit = np.zeros(n, dtype=bool)
    nonempty = lengths > 0
    first_digit[nonempty] = is_digit[starts[nonempty]]
    return out[0], out[1], first_digit


_INT = re.compile(r"^[-+]?\d+$")
_DECIMAL = re.compile(r"^[-+]?\d*[.,]\d+$")


def _float_shapes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For floats, which are written as whole numbers by :func:`_texts` (``12``), and which
    as plain decimal numbers (``12.5``, no exponent: Python writes ``1e-05`` below 0.0001 and
    ``1e+16`` from 10**16); ``_INT`` and ``_DECIMAL`` match exactly these texts."""
    finite = np.isfinite(values)
    size = np.abs(np.where(finite, values, 0.0))
    whole = finite & (values == np.floor(np.where(finite, values, 0.0))) & (size < 1e18)
    plain = finite & ~whole & (size >= 1e-4) & (size < 1e16)
    return whole, plain


def _texts(uniques: Any) -> tuple[list[str | None], bool]:
    """:func:`_as_text` of each distinct raw value (whole columns at once where the type
    allows), and whether no two of them have the same text (numbers and dates)."""
    if isinstance(uniques, pd.DatetimeIndex) and uniques.tz is None:
        stamps = uniques.to_numpy()
        days = stamps.astype("datetime64[D]")
        timed = (stamps - days).astype("timedelta64[s]").astype(np.int64) != 0
        texts: list[str | None] = np.datetime_as_string(days, unit="D").tolist()
        for i in np.flatnonzero(timed).tolist():
            texts[i] = _as_text(uniques[i])
        return texts, len(set(texts)) == len(texts)  # instants within a second share a text
    values = uniques.to_numpy() if isinstance(uniques, pd.Index) else uniques
    if not isinstance(values, np.ndarray):
        values = None
    if values is not None and values.dtype.kind in "iu":
        return values.astype(str).tolist(), True
    if values is not None and values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 1e18)
        if whole.all():  # (IDs and counts read as floats)
            return values.astype(np.int64).astype(str).tolist(), True
        texts = [str(v) for v in values.tolist()]
        for i, text in zip(np.flatnonzero(whole).tolist(),
                           values[whole].astype(np.int64).astype(str).tolist()):
            texts[i] = text
        return texts, True
    if values is not None and values.dtype == object:
        found = _object_texts(values)
        if found is not None:
            return found
    return [_as_text(raw) for raw in uniques], False


def _object_texts(values: np.ndarray) -> tuple[list[str | None], bool] | None:
    """:func:`_texts` of distinct objects all of one kind (text, whole numbers, floats, dates,
    timestamps), at once; None for other objects and mixtures."""
    kind = pd.api.types.infer_dtype(values, skipna=False)
    raw = values.tolist()
    if kind == "string":
        texts: list[str | None] = [v.strip() or None for v in raw]
        # distinct texts that needed no stripping stay distinct: no second factorisation
        return texts, texts == raw
    if kind == "integer" and all(type(v) is int for v in raw):
        return [str(v) for v in raw], True
    if kind == "floating" and all(type(v) is float for v in raw):
        return _texts(np.array(raw, dtype=np.float64))
    if kind == "date" and all(type(v) is date for v in raw):
        return [v.isoformat() for v in raw], True
    if kind == "datetime" and all(type(v) is pd.Timestamp and v.tz is None for v in raw):
        try:
            return _texts(pd.DatetimeIndex(raw))
        except (ValueError, OverflowError):  # out of range for one resolution: one by one
            return None
    return None


def _as_text(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None
    if isinstance(raw, (float, np.floating)) and float(raw).is_integer() and abs(float(raw)) < 1e18:
        return str(int(raw))
    if isinstance(raw, pd.Timestamp):
        return raw.isoformat() if (raw.hour or raw.minute or raw.second) else raw.date().isoformat()
    text = str(raw).strip()
    return text or None


@dataclass(frozen=True)
class _Context:
    id_column: str | None = None
    sheet: str | None = None
    other_sheet: bool = False
    hidden: bool = False
    free_text: bool = True
    source: str = "values"
    columns: Mapping[str, _Column] = field(default_factory=dict)


def _finding(col: _Column, ctx: _Context, kind: str, reason: str,
             matching: Sequence[str]) -> IdentifierFinding:
    if ctx.source == "values":
        rows = col.rows_where(matching) if matching else np.flatnonzero(col.series.notna()) + 1
        n_rows, example_rows = int(rows.size), tuple(int(r) for r in rows[:5])
    else:
        n_rows, example_rows = len(set(matching)) or col.n_distinct, ()
    return IdentifierFinding(column=col.name, kind=kind, reason=reason, n_rows=n_rows,
                             example_rows=example_rows,
                             examples=tuple(mask(m) for m in list(dict.fromkeys(matching))[:3]),
                             sheet=ctx.sheet, source=ctx.source, other_sheet=ctx.other_sheet,
                             hidden=ctx.hidden)


# --- the rules -------------------------------------------------------------------------------------

Check = Callable[[_Column, set[str], _Context], "IdentifierFinding | None"]


def _email(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.is_numeric or col.is_datetime:  # numbers and dates are written without an "@"
        return None
    every = col.all_distinct
    if "@" not in "".join(every):  # (one look at all the text: no address without an "@")
        return None
    found = [v for v in every if "@" in v and idvalues.is_email(v)]
    if found:
        return _finding(col, ctx, "email", "values are (or contain) e-mail addresses", found)
    return None


def _id_like(col: _Column) -> bool:
    """Values are per-person numbers: mostly with 5+ digits (not decimal numbers), and mostly
    distinct."""
    digits = [len(idvalues.digits_of(v)) >= 5 and not _DECIMAL.match(v) for v in col.distinct]
    return col.share(digits) >= 0.5 and (col.distinct_ratio >= 0.3 or col.n_distinct >= 20)


def _national_id(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    is_id = col.name == ctx.id_column
    kinds = _national_kinds(col, is_id)
    flags = [k is not None for k in kinds]
    valid = [v for v, f in zip(col.distinct, flags) if f]
    if valid and (col.share(flags) >= 0.8 and len(valid) >= min(3, col.n_distinct)
                  or "national_id" in hints):
        what = max(set(k for k in kinds if k), key=[k for k in kinds if k].count)
        return _finding(col, ctx, "national_id", f"values are {what}s (valid check digits or "
                        "allocation rules)" if "US" not in what else f"values are {what}s", valid)
    # a hospital number is a letter prefix and 5 digits or more
    digits = col.digit_counts
    hosp = ([] if col.is_numeric or col.integers
            else col.where(((digits < 0) | (digits >= 5)) & ~col.digit_first,
                           idvalues.hospital_number))
    if any(hosp) and col.share(hosp) >= 0.5:
        return _finding(col, ctx, "national_id", "values are hospital record numbers "
                        "(MRN/URN-prefixed)", [v for v, f in zip(col.distinct, hosp) if f])
    if "national_id" in hints and _id_like(col):
        return _finding(col, ctx, "national_id", f"column name {col.name!r} marks a national or "
                        "hospital number, and its values are per-person numbers", [])
    return None


def _national_kinds(col: _Column, is_id: bool) -> list[str | None]:
    """The kind of national number each distinct value is (None: none)."""
    kinds: list[str | None] = [None] * len(col.distinct)
    digits = col.digit_counts  # every national number has 9 digits or more
    trial_codes: bool | None = None
    distinct = col.distinct
    for i in np.flatnonzero((digits < 0) | (digits >= 9)).tolist():
        v = distinct[i]
        k = idvalues.national_id_kind(v)
        if k is None and col.is_numeric and len(v) == 9 and v.isdigit():
            k = idvalues.national_id_kind("0" + v)  # a CHI number read as a number
        if k == "US social security number":
            if trial_codes is None:  # SSN-shaped trial codes
                trial_codes = is_id or _sequential_codes(col.distinct)
            if trial_codes:
                k = None
        kinds[i] = k
    return kinds


def _sequential_codes(values: Sequence[str]) -> bool:
    """Values that are a few series of near-consecutive numbers (``302-215-0001``,
    ``302-215-0002`` ...): codes a trial gave out, not telephone or social security numbers."""
    series: dict[str, list[int]] = {}
    for v in values:
        groups = re.findall(r"\d+", v)
        if not groups:
            return False
        last = groups[-1]
        series.setdefault(v[:v.rfind(last)], []).append(int(last))
    if len(values) < 2 or len(series) > max(3, 0.2 * len(values)):
        return False
    numbers = [k for s in series.values() for k in s]
    span = sum(max(s) - min(s) + 1 for s in series.values())
    overall = max(numbers) - min(numbers) + 1  # one counter over all sites
    return min(span, overall) <= 3 * len(values)


def _phone(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.name == ctx.id_column:
        return None
    # a telephone number has 10 digits or more, or 8 or more after a "+"
    shapes: list[str | None] = [None] * len(col.distinct)
    digits = col.digit_counts
    distinct = col.distinct
    for i in np.flatnonzero((digits >= 10) | (digits < 0)).tolist():
        shapes[i] = idvalues.phone_shape(distinct[i])
    for i in np.flatnonzero((digits >= 8) & (digits < 10)).tolist():
        if "+" in distinct[i]:
            shapes[i] = idvalues.phone_shape(distinct[i])
    flags = [s is not None for s in shapes]
    if "phone" in hints:
        long = [len(idvalues.digits_of(v)) >= 8 for v in col.distinct]
        if any(flags) or col.share(long) >= 0.5:
            return _finding(col, ctx, "phone", f"column name {col.name!r} marks telephone "
                            "numbers", [v for v, f, g in zip(col.distinct, flags, long) if f or g])
    if any(flags) and col.share(flags) >= 0.5:
        weak = [s == "national" for s in shapes]
        if not (all(w or not f for w, f in zip(weak, flags)) and _sequential_codes(
                [v for v, f in zip(col.distinct, flags) if f])):
            return _finding(col, ctx, "phone", "values are telephone numbers (valid for a "
                            "national numbering plan)", [v for v, f in zip(col.distinct, flags) if f])
    if _texty(col, hints):
        inside = [v for v in col.distinct if idvalues.find_phone(v)]
        if inside:
            return _finding(col, ctx, "phone", "telephone numbers inside the text", inside)
    return None


_CODES = {"yes", "no", "y", "n", "oui", "non", "ja", "nein", "si", "true", "false", "unknown",
          "uk", "na", "nk", "nd", "none", "0", "1", "2", "9", "99", "はい", "いいえ", "是", "否",
          "有", "无", "無"}


def _names(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    values = col.distinct
    if "name" in hints and not col.is_numeric and not col.is_datetime:
        texty = [any(c.isalpha() for c in v) and v.lower() not in _CODES for v in values]
        if col.share(texty) >= 0.5:
            return _finding(col, ctx, "name", f"column name {col.name!r} marks person names "
                            "or initials", [v for v, t in zip(values, texty) if t])
    if col.is_numeric or col.is_datetime or col.integers:
        return None
    wordy = col.digit_counts <= 0  # names, titles and initials hold no digit
    person = col.where(wordy, idnames.is_person_name)
    if "person" in hints:
        titled = [p or idnames.names_in_text(v) is not None or idnames.known_name(v)
                  for p, v in zip(person, values)]
        if col.share(titled) >= 0.3:
            return _finding(col, ctx, "name", f"column name {col.name!r} marks a person (GP, "
                            "next of kin ...) and its values are names",
                            [v for v, t in zip(values, titled) if t])
    if sum(person) >= min(3, col.n_distinct) and col.share(person) >= 0.5 and (
            col.distinct_ratio >= 0.1 or col.n_distinct >= 20):
        return _finding(col, ctx, "name", "values are person names",
                        [v for v, p in zip(values, person) if p])
    titled = col.where(wordy, idnames.titled_name)
    if sum(titled) >= min(2, col.n_distinct) and col.share(titled) >= 0.5:
        return _finding(col, ctx, "name", "values are names with a title (Dr, Mrs, Herr ...)",
                        [v for v, t in zip(values, titled) if t])
    shaped = col.where(wordy, idnames.name_shape)
    # many distinct name-shaped values, some known names; for labels (one text per code, no
    # rows to count) a few are enough
    many = col.n_distinct >= 20 and col.distinct_ratio >= 0.5 and col.share(person) >= 0.1
    labels = ctx.source != "values" and col.n_distinct >= 2 and any(person)
    if (many or labels) and col.share(shaped) >= 0.8:
        return _finding(col, ctx, "name", "values are written like person names (two or three "
                        "capitalised name words, many distinct, some of them known names)",
                        [v for v, p in zip(values, shaped) if p])
    return _initials_or_names_in_text(col, hints, ctx, wordy)


def _initials_or_names_in_text(col: _Column, hints: set[str], ctx: _Context,
                               wordy: np.ndarray) -> IdentifierFinding | None:
    """The last name rules: initials (one letter group per person), or names inside free
    text; ``wordy`` marks the values without digits."""
    values = col.distinct
    initials = col.where(wordy, idnames.is_initials)
    plain = col.where(wordy, lambda v: idnames.is_initials(v, plain=True))
    coded = col.where(wordy, lambda v: v.upper() in idnames.LETTER_CODES)
    if col.share(coded) >= 0.9:
        plain = [False] * len(values)  # country or state codes
    if (sum(initials) >= 5 and col.share(initials) >= 0.8) or (
            col.share(plain) >= 0.8 and (any(t.startswith("init") for t in column_tokens(col.name))
                                         or col.n_distinct >= 15 and col.distinct_ratio >= 0.5)):
        return _finding(col, ctx, "name", "values are initials (many distinct letter groups, "
                        "one per person)", [v for v, f in zip(values, plain) if f])
    if _texty(col, hints):
        found = [v for v in values if idnames.names_in_text(v)]
        if found:
            return _finding(col, ctx, "name", "person names inside the text (a title and a "
                            "name, or a known given name and a family name)", found)
    return None


def _texty(col: _Column, hints: set[str]) -> bool:
    """A free-text column: named so, or diverse values of several words."""
    if col.is_numeric or col.is_datetime or col.integers or not col.distinct:
        return False
    if "free_text" in hints:
        return True
    several = col.share(col.words >= 3)
    return several >= 0.2 and (col.distinct_ratio >= 0.3 or col.n_distinct >= 20)


def _address(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.name == ctx.id_column or col.is_numeric or col.is_datetime or col.integers:
        return None
    digits = col.digit_counts  # a house number, and a space before or after it
    flags = col.where((digits < 0) | ((digits > 0) & (col.words >= 2)), idvalues.is_address)
    found = [v for v, f in zip(col.distinct, flags) if f]
    if found and (col.share(flags) >= 0.3 or "address" in hints or _texty(col, hints)):
        return _finding(col, ctx, "address", "values are (or contain) street addresses", found)
    if "address" in hints and col.share(col.words >= 2) >= 0.5 and col.distinct_ratio >= 0.3:
        return _finding(col, ctx, "address", f"column name {col.name!r} marks addresses", [])
    return None


def _ip(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.name == ctx.id_column:
        return None
    if col.is_numeric or col.integers:  # numbers have no three dots or two colons
        return None
    flags = [("." in v or ":" in v) and idvalues.is_ip_address(v) for v in col.distinct]
    if any(flags) and ("ip_address" in hints or col.share(flags) >= 0.5 and (
            col.distinct_ratio >= 0.3 and col.n_distinct >= 3)):
        return _finding(col, ctx, "ip_address", "values are IP addresses",
                        [v for v, f in zip(col.distinct, flags) if f])
    return None


def _postcode(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.is_numeric or col.integers:  # every postcode has letters or a '-'
        return None
    named = "postcode" in hints
    # UK postcodes hold 2 digits or more and letters; ZIP+4 9 digits, Japanese ones 7
    digits = col.digit_counts
    lettered = col.letter_counts > 0  # (text that is not ASCII: maybe anyway)
    maybe = (digits < 0) | ((digits >= 2) & (lettered | (digits == 7) | (digits == 9)))
    flags = col.where(maybe, lambda v: idvalues.uk_postcode(v)
                      or idvalues.jp_postcode(v, named=named))
    zips = col.where(maybe, idvalues.zip4)
    if any(zips) and not _sequential_codes([v for v, z in zip(col.distinct, zips) if z]):
        flags = [f or z for f, z in zip(flags, zips)]
    if any(flags) and (named or col.share(flags) >= 0.5):
        return _finding(col, ctx, "postcode", "values are full postcodes",
                        [v for v, f in zip(col.distinct, flags) if f])
    return None


def _birth_date(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if col.name == ctx.id_column:
        return None
    evidence = birth_date_evidence(col.name, col.distinct, col.counts, col.is_numeric,
                                   reference=_reference_dates(col, ctx),
                                   known_dates=lambda: col.dates)
    if evidence is None:
        return None
    reason, matching = evidence
    return _finding(col, ctx, "date_of_birth", reason, matching)


def _reference_dates(col: _Column, ctx: _Context) -> Callable[[], dict[str, Any]]:
    """The row-wise full dates (day numbers) of the column and of the table's other date
    columns (lazily)."""
    def build() -> dict[str, Any]:
        out: dict[str, Any] = {"__self__": col.date_days()}
        for name, other in ctx.columns.items():
            if other is col or other.name == ctx.id_column or other.is_numeric:
                continue
            dates = other.dates
            if dates and len(dates) >= 0.8 * len(other.distinct):
                out[name] = other.date_days()
        return out

    return build


def _free_text(col: _Column, hints: set[str], ctx: _Context) -> IdentifierFinding | None:
    if not ctx.free_text or col.name == ctx.id_column or col.is_numeric or col.is_datetime \
            or col.integers:
        return None
    values = col.distinct
    lengths = np.array([len(v) for v in values])
    cjk = np.array([not v.isascii() and sum(1 for c in v if "\u3040" <= c <= "\u9fff") >= 15
                    for v in values], dtype=bool)
    if "free_text" in hints:
        wordy = [v for v, w, c in zip(values, col.words, cjk) if w >= 3 or c]
        if wordy:
            return _finding(col, ctx, "free_text", f"column name {col.name!r} marks free text",
                            wordy)
    if col.n_distinct >= 20 and col.distinct_ratio > 0.5:
        mean_len = float((lengths * col.counts).sum()) / max(col.n_sampled, 1)
        if mean_len >= 40 or col.share((col.words >= 5) | cjk) >= 0.2:
            return _finding(col, ctx, "free_text", "values are long free text",
                            [v for v, w, c in zip(values, col.words, cjk) if w >= 5 or c])
    return None


#: the checks, most specific first; a column gets the first that fires
_CHECKS: tuple[Check, ...] = (_email, _national_id, _phone, _names, _address, _ip, _postcode,
                              _birth_date, _free_text)


def _judge(col: _Column, ctx: _Context) -> IdentifierFinding | None:
    if col.n == 0 or col.decimals:
        return None
    hints = column_hints(col.name)
    for check in _CHECKS:
        finding = check(col, hints, ctx)
        if finding is not None:
            return finding
    return None


# --- tables, names and labels -------------------------------------------------------------------

def scan(frame: pd.DataFrame, *, id_column: str | None = None,
         labels: Mapping[str, str | None] | None = None,
         value_labels: Mapping[str, Mapping[str, str]] | None = None,
         sheet: str | None = None, other_sheet: bool = False, hidden: bool = False,
         free_text: bool = True,
         distinct: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
         ) -> list[IdentifierFinding]:
    """Every column of ``frame`` that carries direct identifiers: in its values (one finding per
    column), its name, its variable label or its value labels.

    ``id_column`` is the declared participant-ID column; ``sheet``/``other_sheet``/``hidden``
    say where the table comes from (other sheets are not judged for free text); ``distinct``
    holds columns already factorised (:attr:`repository.formats.RawTable.distinct`).
    """
    names = [str(c) for c in frame.columns]
    known = distinct or {}
    columns = {name: _Column(name, frame[c], known.get(name))
               for name, c in zip(names, frame.columns)}
    ctx = _Context(id_column=id_column, sheet=sheet, other_sheet=other_sheet, hidden=hidden,
                   free_text=free_text, columns=columns)
    findings: list[IdentifierFinding] = []
    flagged: set[str] = set()
    for name, col in columns.items():
        finding = _judge(col, ctx)
        if finding is not None:
            findings.append(finding)
            flagged.add(name)
    split = split_birth_date(
        [(name, col.distinct, col.integers or col.is_numeric) for name, col in columns.items()
         if name not in flagged and name != id_column])
    if split is not None:
        day, reason = split
        col = columns[day]
        findings.append(_finding(col, ctx, "date_of_birth", reason, []))
    findings += _scan_names(names, ctx)
    label_ctx = _Context(id_column=id_column, sheet=sheet, other_sheet=other_sheet,
                         hidden=hidden, free_text=False)
    for name, label in (labels or {}).items():
        if label:
            found = _text_identifier(str(label))
            if found:
                kind, what = found
                findings.append(IdentifierFinding(
                    column=name, kind=kind, reason=f"the variable label holds {what}",
                    n_rows=1, example_rows=(), examples=(mask(str(label)),), sheet=sheet,
                    source="variable label", other_sheet=other_sheet, hidden=hidden))
    for name, codes in (value_labels or {}).items():
        findings += _scan_labels(name, codes, replace(label_ctx, source="value labels"))
    return findings


def _scan_labels(name: str, codes: Mapping[str, str], ctx: _Context) -> list[IdentifierFinding]:
    texts = [str(v) for v in codes.values() if v is not None and str(v).strip()]
    if not texts:
        return []
    col = _Column(name, pd.Series(texts, dtype=object))
    finding = _judge(col, ctx)
    return [finding] if finding is not None else []


def _text_identifier(text: str) -> tuple[str, str] | None:
    """The kind of identifier one piece of text holds (a column name, a label, a note)."""
    if idvalues.find_email(text):
        return "email", "an e-mail address"
    words = re.split(r"[\s,;:()]+", text)
    for w in words + [text]:
        if idvalues.national_id_kind(w) and not idvalues.ssn_shape(w):
            return "national_id", "a national or health-service number"
    if idvalues.find_phone(text) or idvalues.phone_shape(text):
        return "phone", "a telephone number"
    if idvalues.is_address(text):
        return "address", "a street address"
    if idvalues.uk_postcode(text) or any(idvalues.uk_postcode(" ".join(words[i:i + 2]))
                                         for i in range(len(words) - 1)):
        return "postcode", "a full postcode"
    if idvalues.is_ip_address(text):
        return "ip_address", "an IP address"
    if idnames.strict_person_name(text):
        return "name", "a person's name"
    return None


def _scan_names(names: Sequence[str], ctx: _Context) -> list[IdentifierFinding]:
    out = []
    for name in names:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", re.sub(r"[_.]+", " ", name)).strip()
        found = _text_identifier(name) or (
            _text_identifier(spaced.title()) if spaced != name or spaced.islower() else None)
        if found:
            kind, what = found
            out.append(IdentifierFinding(
                column=name, kind=kind, reason=f"the column name is {what}; rename the column",
                n_rows=1, example_rows=(), examples=(mask(name),), sheet=ctx.sheet,
                source="column name", other_sheet=ctx.other_sheet, hidden=ctx.hidden))
    return out


def scan_table(table: RawTable, *, id_column: str | None = None) -> list[IdentifierFinding]:
    """Everything a delivery holds (see the module docstring): the data table with its column
    names and labels, every other sheet of a workbook, unused label sets and file notes."""
    sheet = table.read_options.get("sheet") if table.format == "xlsx" else None
    hidden = set(table.hidden_sheets)
    findings = scan(table.frame, id_column=id_column,
                    labels={c.name: c.label for c in table.columns if c.label},
                    value_labels={c.name: c.value_labels for c in table.columns if c.value_labels},
                    sheet=sheet, hidden=sheet in hidden, distinct=table.distinct)
    for name, frame in table.other_sheets.items():
        findings += scan(frame, sheet=name, other_sheet=True, hidden=name in hidden,
                         free_text=False)
    ctx = _Context(free_text=False)
    for set_name, codes in table.label_sets.items():
        findings += _scan_labels(f"label set {set_name}", codes, replace(ctx, source="value labels"))
    for note in table.file_notes:
        found = _text_identifier(note)
        if found:
            findings.append(IdentifierFinding(
                column="(file label and notes)", kind=found[0],
                reason=f"the file's label or notes hold {found[1]}", n_rows=1, example_rows=(),
                examples=(mask(note[:40]),), source="file notes"))
    return findings

