"""Dates of birth among a delivery's columns (used by :mod:`repository.identifiers`).

A full date of birth (to the day) identifies a person together with little else; year or month
of birth, or age, is what a delivery should carry. A column holds dates of birth when:

* it is named for the date of birth (``dob``, ``date_naissance``, ``Geburtsdatum``, ``生年月日``,
  ``出生日期``, CDISC ``BRTHDTC`` ...) and holds dates to the day (all on the 1st or the 15th of
  the month is month precision: allowed);
* it is not named for an event (randomisation, death, progression, surgery, visit ...), 80% of
  its values are full dates, and either those dates are 0-110 years (median at least a year,
  interquartile range at least two years: ages vary) before another date column of the same
  rows, or, with no other date column, they spread over ten years or more;
* day, month and year are split over columns: a day-of-month column (1-31) named for birth with
  month and year columns, or three adjacent columns holding a day, a month (1-12) and a year
  spread over a decade or more (years of birth, not of an event).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import numpy as np

from repository.idhints import column_tokens
from repository.idvalues import full_date, parse_full_date

__all__ = ["birth_naming", "column_dates", "birth_date_evidence",
           "split_birth_date"]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())



_BIRTH = _wordset("""dob birthdate dateofbirth birthday bdate datenaissance datedenaissance
ddn geburtsdatum gebdatum gebdat geburtstag dtnaiss datnaiss dnaiss brthdt brthdtc brthdat
birthdt birthdtc dtbirth datebirth""")
_BIRTH_WORD = _wordset("birth naissance geburt geb naiss brth")
_DATE_WORD = _wordset("date dt d day dte datum jour tag dat")
_BIRTH_PART = _wordset("""yob mob yearofbirth monthofbirth birthyear birthmonth birthym
birthyr anneenaissance moisnaissance geburtsjahr geburtsmonat brthyr""")
_EVENT = _wordset("""rand randomisation randomization randomised randomized randdt randdate
rando death dod dth dthdt deces tod died progression prog progdt pd relapse recurrence recur
rec surgery surg op operation visit consent enrol enroll enrolment enrollment registration reg
regdt diag diagnosis dx fu followup lfu lastcontact lastfu lastvisit last censor cens start
end stop treatment tx trt cycle admission discharge assessment scan ct mri event pfs os efs
dfs rfs ae onset resolution screening scr baseline inclusion withdraw withdrawal eos eot entry
exit sample collection biopsy dose infusion transplant hospitalisation hospitalization
deces deces inclusion traitement chirurgie tod operation""")
_PART_WORD = _wordset("year yr yyyy yy month mon mm ym annee an mois jahr monat")
_CJK_BIRTH = ("生年月日", "出生日期", "出生年月日", "誕生日", "生日")
_CJK_EVENT = ("登録", "割付", "死亡", "手術", "無作為", "随机", "手术", "进展", "再発", "复发", "入院",
              "退院", "出院", "診断", "诊断", "来院", "随访")


def birth_naming(column: str) -> str | None:
    """``'birth'`` (named for the date of birth), ``'event'`` (named for another date) or
    ``None``; ``'part'`` for year or month of birth."""
    tokens = column_tokens(column)
    if tokens & _PART_WORD and (tokens & (_BIRTH | _BIRTH_WORD) or any(
            w in column for w in _CJK_BIRTH)):
        return "part"  # dob_year, birth_month, yyyy_naissance
    if tokens & _BIRTH or any(w in column for w in _CJK_BIRTH) or (
            tokens & _BIRTH_WORD and tokens & _DATE_WORD):
        return "birth"
    if tokens & _BIRTH_PART or tokens & _BIRTH_WORD:
        return "part"
    if tokens & _EVENT or any(w in column for w in _CJK_EVENT):
        return "event"
    return None


def column_dates(values: Sequence[str], numeric: bool,
                 digits: np.ndarray | None = None) -> dict[str, date]:
    """The distinct values that are full dates, with their dates (``yyyymmdd`` numbers are read
    when every value is one). ``digits``: the number of ASCII digits of each value (-1 when it
    is not ASCII), when known: values with fewer than 4 are no date and are not parsed."""
    compact = bool(values) and all(len(v) == 8 and v.isdigit() for v in values)
    if not compact and all(v.isdigit() for v in values):
        return {}  # digits alone are a date only as compact yyyymmdd
    if digits is not None:
        values = [v for v, n in zip(values, digits.tolist()) if not 0 <= n < 4]
    out = {}
    for v in values:
        d = _common_date(v) if len(v) == 10 and v.isascii() else None
        if d is None:
            d = parse_full_date(v, compact=compact)
        if d is not None:
            out[v] = d
    return out


_SEPARATORS = "-/."


def _common_date(v: str) -> date | None:
    """What :func:`parse_full_date` reads from the two commonest shapes of a 10-character ASCII
    value, faster: ``YYYY-MM-DD`` and ``DD/MM/YYYY`` (any of ``- / .`` between the parts, day
    first, else month first); None for anything else (then parse_full_date decides)."""
    if v[4:5] == "-" == v[7:8]:
        return _iso_date(v)
    if v[2] in _SEPARATORS and v[5] in _SEPARATORS and v[:2].isdigit() and \
            v[3:5].isdigit() and v[6:].isdigit():
        day, month, year = int(v[:2]), int(v[3:5]), int(v[6:])
        return full_date(year, month, day) or full_date(year, day, month)
    return None


def _iso_date(value: str) -> date | None:
    """What :func:`parse_full_date` reads from ``YYYY-MM-DD`` (the common case, read by the
    standard library): the date in 1850-2100, else None (then parse_full_date decides)."""
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return None
    return d if 1850 <= d.year <= 2100 else None


def birth_date_evidence(column: str, values: Sequence[str], counts: np.ndarray, numeric: bool,
                        *, reference: Callable[[], Mapping[str, np.ndarray]],
                        known_dates: Callable[[], Mapping[str, date]] | None = None
                        ) -> tuple[str, list[str]] | None:
    """Why the column holds full dates of birth, and the values that are, or None
    (``known_dates()``: the column's :func:`column_dates`, where the caller keeps them; asked
    for only when the column's name does not say it is another event's date). ``reference()`` gives the day
    numbers (NaN where none) of the column's rows (``"__self__"``) and of each other date
    column of the table."""
    naming = birth_naming(column)
    if naming == "event":
        return None
    dates = known_dates() if known_dates is not None else column_dates(values, numeric)
    if naming == "birth" and not dates:
        serial = _day_counts(values)
        if serial:
            return (f"column name {column!r} marks the date of birth and its values are day "
                    f"counts ({serial}), i.e. full dates", list(values))
    if not dates:
        return None
    full = list(dates)
    if {d.day for d in dates.values()} <= {1, 15}:
        return None  # month precision (or mid-month imputed)
    if naming == "birth":
        return (f"column name {column!r} marks the date of birth and its values are full dates "
                "(day precision)", full)
    flags = np.array([v in dates for v in values])
    share = float(counts[flags].sum()) / max(int(counts.sum()), 1)
    if share < 0.8:
        return None
    rows = dict(reference())
    own = rows.pop("__self__")
    event, nearest = _nearest_later_date(own, rows)
    if event:
        return None
    if nearest is not None:
        other, median, iqr = nearest
        if median >= 1 and iqr >= 2:
            return (f"full dates 0-110 years (median {median:.0f}) before every other date of "
                    f"the same rows (the nearest is {other!r}), with ages that vary: dates of "
                    "birth", full)
        return None
    return _spread_evidence(dates, full, counts[flags])


def _nearest_later_date(own: np.ndarray, others: Mapping[str, np.ndarray]
                        ) -> tuple[bool, tuple[str, float, float] | None]:
    """Whether the column's dates are an event's (not 0-110 years before another date column
    of the same rows), and the nearest such column: (name, median and IQR of the years)."""
    nearest: tuple[str, float, float] | None = None  # the closest other date: the age
    for other, theirs in others.items():
        both = ~(np.isnan(own) | np.isnan(theirs))  # day numbers of the same rows
        gaps = (theirs[both] - own[both]) / 365.25
        if gaps.size < 5 or float((gaps == 0).mean()) >= 0.9:
            continue  # too few rows in common, or the same dates (a copy of the column)
        if float(((gaps >= 0) & (gaps <= 110)).mean()) < 0.9:
            return True, None  # not before every other date: an event date
        median = float(np.median(gaps))
        if nearest is None or median < nearest[1]:
            nearest = (other, median, float(np.subtract(*np.percentile(gaps, [75, 25]))))
    return False, nearest


def _spread_evidence(dates: Mapping[str, date], full: list[str], weights: np.ndarray
                     ) -> tuple[str, list[str]] | None:
    """With no other date column: full dates spread over ten years or more (10th-90th
    percentile, weighted by rows), none in the future, none before 1890."""
    years = np.array([dates[v].year + dates[v].timetuple().tm_yday / 366 for v in full])
    order = np.argsort(years)
    cum = np.cumsum(weights[order]) / weights.sum()
    p10 = years[order][int(np.searchsorted(cum, 0.1))]
    p90 = years[order][min(int(np.searchsorted(cum, 0.9)), len(order) - 1)]
    latest = max(dates.values())
    if p90 - p10 >= 10 and latest <= date.today() and min(dates.values()).year >= 1890:
        return (f"full dates spread over {p90 - p10:.0f} years (10th-90th percentile) like dates "
                "of birth, and the column is not named for an event", full)
    return None


def _day_counts(values: Sequence[str]) -> str | None:
    """Whole numbers that are dates stored as day counts (a date format lost on export): Excel
    serials (days since 1899-12-30) or SAS/Stata dates (days since 1960-01-01) of birth dates;
    not years (1850-2100) or yyyymm numbers."""
    try:
        nums = np.array([int(v) for v in values])
    except ValueError:
        return None
    if nums.size < 2 or len(set(nums.tolist())) < 2:
        return None
    if ((nums >= 1850) & (nums <= 2100)).all() or ((nums >= 185001) & (nums <= 210012)).all():
        return None
    if int(nums.max()) - int(nums.min()) < 365:
        return None  # not dates of different people's births
    if ((nums >= 1) & (nums <= 60000)).all() and np.median(nums) > 3000:
        return "Excel serial dates"
    if ((nums >= -40000) & (nums <= 30000)).all():
        return "SAS or Stata dates"
    return None


_DAY_WORD = _wordset("day d dd jour tag tage")


def _role(name: str, values: Sequence[str]) -> str | None:
    try:
        nums = np.array([int(v) for v in values])
    except ValueError:
        return None
    if nums.size == 0:
        return None
    tokens = column_tokens(name)
    if tokens & _EVENT:
        return None
    lo, hi = int(nums.min()), int(nums.max())
    if lo >= 1 and hi <= 31 and (hi > 12 or tokens & _DAY_WORD) and len(nums) >= 3:
        return "day"
    if lo >= 1 and hi <= 12 and len(nums) >= 3:
        return "month"
    if lo >= 1890 and hi <= date.today().year:
        spread = np.percentile(nums, 90) - np.percentile(nums, 10)
        if spread >= 10 or tokens & (_BIRTH_WORD | _BIRTH_PART):
            return "year"
    return None


_PART_MARKERS = ("day", "dd", "jour", "tag", "month", "mm", "mon", "mois", "monat", "mth",
                 "year", "yyyy", "yy", "yr", "annee", "jahr")


def _stem(name: str) -> str | None:
    """The name without its day/month/year marker (``dob_day`` -> ``dob_``, ``bm`` -> ``b``),
    or None when it has none."""
    low = name.lower()
    for marker in _PART_MARKERS:
        if low.startswith(marker) or low.endswith(marker):
            return low[len(marker):] if low.startswith(marker) else low[:-len(marker)]
    if len(low) >= 2 and low[-1] in "dmy":
        return low[:-1]
    if len(low) >= 2 and low[0] in "dmy" and not low[1].isalpha():
        return low[1:]
    return None


def _one_date(names: Sequence[str]) -> bool:
    """Three adjacent columns are parts of one date: named alike (``bd``, ``bm``, ``by``;
    ``dob_day``, ``dob_month``, ``dob_year``), or all named without day/month/year marks."""
    stems = [_stem(n) for n in names]
    if all(s is None for s in stems):
        return True
    return None not in stems and len(set(stems)) == 1


def _partner(roles: Sequence[tuple[str, str | None]], day: int, wanted: str) -> str | None:
    """The month (or year) column that goes with the day column at ``day``: the same stem
    (``dob_day`` -> ``dob_month``), then named for birth, then the nearest."""
    stem = _stem(roles[day][0])
    found = [(j, n) for j, (n, r) in enumerate(roles) if r == wanted]
    found.sort(key=lambda jn: (stem is None or _stem(jn[1]) != stem,
                               not column_tokens(jn[1]) & (_BIRTH_WORD | _BIRTH_PART),
                               abs(jn[0] - day)))
    return found[0][1] if found else None


def split_birth_date(columns: Sequence[tuple[str, Sequence[str], bool]]
                     ) -> tuple[str, str] | None:
    """The day column of a date of birth split over day, month and year columns, with the
    reason; ``columns`` are (name, distinct values, whole numbers?) in table order."""
    roles = [(name, _role(name, values) if whole else None) for name, values, whole in columns]
    for i, (name, role) in enumerate(roles):
        if role != "day":
            continue

        month, year = _partner(roles, i, "month"), _partner(roles, i, "year")
        if column_tokens(name) & (_BIRTH_WORD | _BIRTH | {"bday", "bd"}) and month and year:
            return name, (f"day of birth in {name!r}, with month {month!r} and year "
                          f"{year!r}: a full date of birth split over columns")
        for lo in range(max(0, i - 2), i + 1):
            window = roles[lo:lo + 3]
            if len(window) == 3 and {r for _, r in window} == {"day", "month", "year"} and \
                    _one_date([n for n, _ in window]):
                names = ", ".join(repr(n) for n, _ in window)
                return name, (f"columns {names} hold a day, a month and a year spread over "
                              "decades: a full date of birth split over columns")
    return None
