"""A delivery that still carries direct identifiers, for demonstrating the identifier gate.

Everything is fictional: names combine lists of common first and family names; e-mail addresses
use the reserved ``example.com`` domain; telephone numbers are in Ofcom's drama range (07700
900000-900999); NHS numbers are in the 999 test range (with a valid modulus-11 check digit);
postcodes are well formed but random. Dates of birth are full dates inside the participant's
true month of birth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from repository.example.encode import Column

__all__ = ["IDENTIFIER_COLUMNS", "identifier_columns"]

#: column name -> kind of identifier (matching repository.identifiers.RULES)
IDENTIFIER_COLUMNS: dict[str, str] = {
    "surname": "name", "forename": "name", "date_of_birth": "date_of_birth",
    "email": "email", "phone": "phone", "nhs_number": "national_id", "postcode": "postcode",
    "notes": "free_text",
}
_FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
          "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
          "Thomas", "Sarah", "Charles", "Karen", "Margaret", "George", "Dorothy", "Arthur")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
         "Hall", "Wood", "Jackson", "Clarke", "Harrison", "Turner", "Hughes", "Edwards")
_OUTWARD = ("LS2", "M13", "NE1", "B15", "CF14", "EH16", "BS8", "OX3", "CB2", "G12", "L7",
            "S10", "NG7", "SO16", "LE1", "PL6")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_NOTES = ("Patient phoned on {d} to move the clinic visit; daughter will attend with him.",
          "Seen in clinic, reports mild fatigue since the last cycle, otherwise well today.",
          "Wife called the research nurse about travel costs; reimbursed at the next visit.",
          "Lives alone, needs transport to appointments, GP informed by letter on {d}.",
          "Missed the follow-up scan because of a family wedding, rebooked for next month.")


def _nhs_numbers(rng: np.random.Generator, n: int) -> list[str]:
    out: list[str] = []
    weights = np.arange(10, 1, -1)
    while len(out) < n:
        body = np.concatenate([[9, 9, 9], rng.integers(0, 10, 6)])
        check = 11 - int((body * weights).sum()) % 11
        check = 0 if check == 11 else check
        if check == 10:
            continue
        digits = "".join(str(d) for d in body) + str(check)
        out.append(f"{digits[:3]} {digits[3:6]} {digits[6:]}")
    return out


def identifier_columns(n: int, birth_year: np.ndarray, birth_month: np.ndarray,
                       rng: np.random.Generator) -> list[Column]:
    """The direct-identifier columns for ``n`` participants (in delivery order)."""
    first = np.asarray(_FIRST, dtype=object)[rng.integers(len(_FIRST), size=n)]
    last = np.asarray(_LAST, dtype=object)[rng.integers(len(_LAST), size=n)]
    day = rng.integers(1, 29, size=n)
    dob = pd.to_datetime(pd.DataFrame({"year": birth_year, "month": birth_month, "day": day}))
    email = np.array([f"{f.lower()}.{s.lower()}{k}@example.com"
                      for f, s, k in zip(first, last, rng.integers(10, 99, size=n))],
                     dtype=object)
    phone = np.array([f"07700 900{k:03d}" for k in rng.integers(0, 1000, size=n)], dtype=object)
    letters = np.asarray(list(_INWARD_LETTERS), dtype=object)
    postcode = np.array([f"{o} {d}{a}{b}" for o, d, a, b in zip(
        np.asarray(_OUTWARD, dtype=object)[rng.integers(len(_OUTWARD), size=n)],
        rng.integers(1, 10, size=n), letters[rng.integers(len(letters), size=n)],
        letters[rng.integers(len(letters), size=n)])], dtype=object)
    visit = pd.Timestamp("2004-01-05") + pd.to_timedelta(rng.integers(0, 3000, size=n), "D")
    notes = np.array([_NOTES[k].format(d=v.strftime("%d %B %Y"))
                      for k, v in zip(rng.integers(len(_NOTES), size=n), visit)], dtype=object)
    texts: Sequence[tuple[str, np.ndarray, str]] = (
        ("surname", last, "Surname"), ("forename", first, "Forename"),
        ("email", email, "E-mail"), ("phone", phone, "Telephone"),
        ("nhs_number", np.asarray(_nhs_numbers(rng, n), dtype=object), "NHS number"),
        ("postcode", postcode, "Postcode"), ("notes", notes, "Research nurse notes"))
    columns = [Column(name, "str", values, label) for name, values, label in texts[:2]]
    columns.append(Column("date_of_birth", "date", dob.to_numpy(dtype="datetime64[ns]"),
                          "Date of birth", date_format="%Y-%m-%d"))
    columns += [Column(name, "str", values, label) for name, values, label in texts[2:]]
    return columns
