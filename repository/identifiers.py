"""The pseudonymisation gate: find direct identifiers before a delivery is accepted.

Deliveries must be pseudonymised: no names, contact details, national or hospital IDs, full
postcodes, full dates of birth or free-text notes. :func:`scan` looks at every column's name and
values and returns one :class:`IdentifierFinding` per offending column, with the rows and masked
examples, so the curator can send the trial a precise request. Each rule is listed in
:data:`RULES` with what it looks for; the thresholds are documented there.

Scanning works on distinct values, so a million-row column with a few hundred codes costs little.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["IdentifierFinding", "RULES", "scan", "mask"]

#: kind -> what the rule looks for (shown in reports and docs)
RULES: dict[str, str] = {
    "name": "person names: columns named like surname/forename/initials/patient name, or text "
            "columns where most values look like 'Firstname Lastname' with many distinct values",
    "email": "e-mail addresses anywhere (a single one is enough)",
    "phone": "telephone numbers: phone/mobile/fax columns, or columns where at least half the "
             "values look like phone numbers (+44 20 7946 0000, 07700 900123, (555) 123-4567)",
    "national_id": "national or hospital IDs: NHS/CHI/SSN/NIR/MRN/hospital-number columns, NHS "
                   "numbers passing the modulus-11 check, US social security numbers",
    "postcode": "full postcodes: UK postcodes with the inward code (SW1A 1AA) or ZIP+4; partial "
                "postcodes (SW1A) are allowed",
    "date_of_birth": "full dates of birth (day precision) in birth-date columns; year or "
                     "month of birth is allowed",
    "free_text": "free-text columns (notes, comments) or text columns whose values are long "
                 "sentences (average 40+ characters or 5+ words in 20% of values)",
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^\s*(\+\d{1,3}[\s.-]?)?(\(\d{2,5}\)[\s.-]?)?\d{2,5}([\s.-]\d{2,5}){1,4}\s*$")
_SSN = re.compile(r"^\s*\d{3}-\d{2}-\d{4}\s*$")
_UK_POSTCODE = re.compile(r"^\s*[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\s*$", re.IGNORECASE)
_ZIP4 = re.compile(r"^\s*\d{5}-\d{4}\s*$")
_PERSON = re.compile(r"^\s*[A-Z][a-z'’-]+(\s+[A-Z]\.?)?(\s+[A-Z][a-z'’-]+)+\s*$")
_FULL_DATE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|"
    r"\d{1,2}[-\s]?[A-Za-z]{3,9}[-\s]?\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2})?)?\s*$")
_NUMERIC = re.compile(r"^\s*[-+]?\d+([.,]\d+)?\s*$")

_NAME_TOKENS = {"surname", "forename", "firstname", "lastname", "givenname", "familyname",
                "maidenname", "initials", "prenom", "vorname", "nachname", "fullname",
                "patientname", "ptname"}
_NAME_QUALIFIERS = {"first", "last", "given", "family", "patient", "pt", "subject",
                    "participant", "full", "middle", "maiden", "mother", "father", "christian",
                    "sur", "fore", "person", "contact", "nok", "kin"}
_EMAIL_TOKENS = {"email", "mail", "emailaddress"}
_PHONE_TOKENS = {"phone", "telephone", "tel", "mobile", "cellphone", "fax", "phoneno"}
_NATID_TOKENS = {"nhs", "nhsno", "nhsnumber", "ssn", "nin", "nino", "chi", "chino", "nir",
                 "mrn", "hospno", "passport", "medicare", "socialsecurity", "nationalid",
                 "hospitalnumber", "insurancenumber", "bsn", "personnummer", "ahv", "pesel"}
_POSTCODE_TOKENS = {"postcode", "zip", "zipcode", "postal", "postalcode", "plz"}
_DOB_TOKENS = {"dob", "birthdate", "dateofbirth", "birthday", "bdate", "naissance",
               "geburtsdatum", "ddn"}
_TEXT_TOKENS = {"notes", "note", "comment", "comments", "remarks", "remark", "freetext",
                "narrative", "description", "details", "memo", "text", "observations"}


@dataclass(frozen=True)
class IdentifierFinding:
    """One column that carries (or is named for) direct identifiers."""

    column: str
    kind: str
    reason: str
    n_rows: int
    example_rows: tuple[int, ...]
    examples: tuple[str, ...]

    def __str__(self) -> str:
        rows = ", ".join(str(r) for r in self.example_rows)
        ex = "; ".join(self.examples)
        return (f"column {self.column!r} [{self.kind}]: {self.reason}; {self.n_rows} row(s), "
                f"e.g. rows {rows}" + (f" ({ex})" if ex else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "reason": self.reason,
                "n_rows": self.n_rows, "example_rows": list(self.example_rows),
                "examples": list(self.examples)}


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


def _tokens(column: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]
    joined = "".join(parts)
    out = set(parts) | {joined}
    for i in range(len(parts) - 1):
        out.add(parts[i] + parts[i + 1])
    return out


def _nhs_valid(digits: str) -> bool:
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


class _Column:
    """Distinct non-missing text values of one column and where they occur."""

    def __init__(self, name: str, series: pd.Series) -> None:
        self.name = name
        self.series = series
        self.is_datetime = pd.api.types.is_datetime64_any_dtype(series)
        if self.is_datetime:
            values = series.dropna()
            self.values = values
            self.distinct: list[str] = []
            self.counts = np.array([], dtype=int)
            self.n = int(values.size)
            return
        # distinct values first (hashing in C), then text work once per distinct value
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        raw_counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        merged: dict[str, int] = {}
        self._raw_for: dict[str, list[Any]] = {}
        for raw, count in zip(uniques, raw_counts):
            text = str(raw).strip()
            if not text:
                continue
            merged[text] = merged.get(text, 0) + int(count)
            self._raw_for.setdefault(text, []).append(raw)
        self.distinct = list(merged)
        self.counts = np.fromiter(merged.values(), dtype=np.int64, count=len(merged))
        self.n = int(self.counts.sum())

    def rows_where(self, matching: Iterable[str]) -> np.ndarray:
        raws = [r for m in set(matching) for r in self._raw_for.get(m, [])]
        if not raws:
            return np.array([], dtype=int)
        return np.flatnonzero(self.series.isin(raws).to_numpy()) + 1

    def share(self, flags: Sequence[bool] | np.ndarray) -> float:
        if self.n == 0:
            return 0.0
        return float(self.counts[np.asarray(flags, dtype=bool)].sum()) / self.n


def _finding(col: _Column, kind: str, reason: str, matching: list[str]) -> IdentifierFinding:
    rows = col.rows_where(matching) if matching else np.flatnonzero(col.series.notna()) + 1
    return IdentifierFinding(column=col.name, kind=kind, reason=reason, n_rows=int(rows.size),
                             example_rows=tuple(int(r) for r in rows[:5]),
                             examples=tuple(mask(m) for m in matching[:3]))


def scan(frame: pd.DataFrame) -> list[IdentifierFinding]:
    """Every column of ``frame`` that carries direct identifiers (at most one finding each)."""
    findings: list[IdentifierFinding] = []
    for name in frame.columns:
        col = _Column(str(name), frame[name])
        if col.n == 0:
            continue
        finding = _scan_column(col)
        if finding is not None:
            findings.append(finding)
    return findings


def _scan_column(col: _Column) -> IdentifierFinding | None:
    tokens = _tokens(col.name)
    if col.is_datetime:
        if tokens & _DOB_TOKENS or ("birth" in tokens and "date" in tokens):
            days = pd.DatetimeIndex(col.values)
            if (days.day != 1).any():
                rows = np.flatnonzero(col.series.notna().to_numpy()) + 1
                return IdentifierFinding(col.name, "date_of_birth",
                                         "full dates of birth (day precision); deliver year or "
                                         "month of birth, or age at randomisation",
                                         int(rows.size), tuple(int(r) for r in rows[:5]), ())
        return None
    values = col.distinct
    numeric = [bool(_NUMERIC.match(v)) for v in values]
    all_numeric = all(numeric)

    emails = [v for v in values if _EMAIL.search(v)]
    if emails:
        return _finding(col, "email", "values are e-mail addresses", emails)

    if (tokens & _NAME_TOKENS or ("name" in tokens and tokens & _NAME_QUALIFIERS) \
            or col.name.strip().lower() in {"name", "nom", "naam"}) and not all_numeric:
        return _finding(col, "name", f"column name {col.name!r} marks person names",
                        [v for v, n in zip(values, numeric) if not n])

    if tokens & _NATID_TOKENS:
        return _finding(col, "national_id",
                        f"column name {col.name!r} marks a national or hospital ID", values)
    ssn = [v for v in values if _SSN.match(v)]
    if ssn and col.share([bool(_SSN.match(v)) for v in values]) >= 0.5:
        return _finding(col, "national_id", "values look like US social security numbers", ssn)
    nhs_flags = [_nhs_valid(re.sub(r"[\s-]", "", v)) for v in values]
    if any(nhs_flags) and col.share(nhs_flags) >= 0.5 and len(values) >= 5:
        return _finding(col, "national_id", "values are NHS numbers (valid modulus-11 check "
                        "digit)", [v for v, f in zip(values, nhs_flags) if f])

    phone_flags = [bool(_PHONE.match(v)) and len(re.sub(r"\D", "", v)) >= 9
                   and not _NUMERIC.match(v) for v in values]
    if tokens & _PHONE_TOKENS and any(len(re.sub(r"\D", "", v)) >= 9 for v in values):
        return _finding(col, "phone", f"column name {col.name!r} marks telephone numbers", values)
    if any(phone_flags) and col.share(phone_flags) >= 0.5:
        return _finding(col, "phone", "values look like telephone numbers",
                        [v for v, f in zip(values, phone_flags) if f])

    pc_flags = [bool(_UK_POSTCODE.match(v) or _ZIP4.match(v)) for v in values]
    if any(pc_flags) and (tokens & _POSTCODE_TOKENS or col.share(pc_flags) >= 0.5):
        return _finding(col, "postcode", "values are full postcodes; deliver the outward code "
                        "(e.g. SW1A) or a region", [v for v, f in zip(values, pc_flags) if f])

    if tokens & _DOB_TOKENS or ("birth" in tokens and "date" in tokens):
        full = [v for v in values if _FULL_DATE.match(v)]
        if full:
            return _finding(col, "date_of_birth", "full dates of birth (day precision); deliver "
                            "year or month of birth, or age at randomisation", full)

    if all_numeric:
        return None
    text_values = [v for v, n in zip(values, numeric) if not n]
    words = np.array([len(v.split()) for v in values])
    lengths = np.array([len(v) for v in values])
    if tokens & _TEXT_TOKENS:
        wordy = [v for v, w in zip(values, words) if w >= 3]
        if wordy:
            return _finding(col, "free_text", f"column name {col.name!r} marks free text", wordy)
    distinct_ratio = len(values) / max(col.n, 1)
    if len(values) >= 20 and distinct_ratio > 0.5:
        mean_len = float((lengths * col.counts).sum()) / col.n
        if mean_len >= 40 or col.share(words >= 5) >= 0.2:
            return _finding(col, "free_text", "values are long free text",
                            [v for v, w in zip(values, words) if w >= 5] or text_values)
        person = [bool(_PERSON.match(v)) for v in values]
        if col.share(person) >= 0.5:
            return _finding(col, "name", "values look like person names",
                            [v for v, p in zip(values, person) if p])
    return None
