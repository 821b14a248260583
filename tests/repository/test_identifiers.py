"""The pseudonymisation gate: each kind of direct identifier is found; ordinary data is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repository.identifiers import RULES, mask, scan

N = 40
rng = np.random.default_rng(7)
FIRST = ["Alice", "Bernard", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jun"]
LAST = ["Smith", "Tanaka", "Dubois", "Okafor", "Novak", "Garcia", "Kowalski", "Lee"]


def clean_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "patid": [f"G{i:04d}" for i in range(N)],
        "arm": rng.choice(["Surgery alone", "Surgery + chemo"], N),
        "sex": rng.choice(["M", "F"], N),
        "age": rng.integers(30, 80, N).astype(str),
        "birth_ym": [f"19{rng.integers(30, 70)}-{rng.integers(1, 13):02d}" for _ in range(N)],
        "rand_date": pd.date_range("2001-01-01", periods=N, freq="7D").strftime("%d/%m/%Y"),
        "centre": rng.choice(["Royal Marsden", "Hopital Saint-Louis", "Tokyo Cancer Centre"], N),
        "postcode_district": rng.choice(["SW1A", "EC1", "M13"], N),
        "hb_gdl": np.round(rng.normal(12, 1.5, N), 1).astype(str),
        "histology": rng.choice(["intestinal", "diffuse type", "mixed"], N),
    })


def test_clean_delivery_has_no_findings() -> None:
    assert scan(clean_frame()) == []


@pytest.mark.parametrize("column,values,kind", [
    ("surname", lambda: rng.choice(LAST, N), "name"),
    ("Patient name", lambda: [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(N)], "name"),
    ("who", lambda: [f"{FIRST[i % 10]} {LAST[i % 8]}{'' if i < 20 else 'son'}" for i in range(N)], "name"),
    ("contact", lambda: [f"p{i}@mail.example.org" if i == 3 else "" for i in range(N)], "email"),
    ("tel", lambda: [f"07700 900{i:03d}" for i in range(N)], "phone"),
    ("misc", lambda: [f"+44 20 7946 0{i:03d}" for i in range(N)], "phone"),
    ("NHS_no", lambda: [f"{9434765919 + i}" for i in range(N)], "national_id"),
    ("x1", lambda: ["943 476 5919", "401 023 2137", "999 000 0018", "943 476 5870",
                    "401 023 2129"] * 8, "national_id"),
    ("ssn_x", lambda: [f"123-45-{6700 + i}" for i in range(N)], "national_id"),
    ("address_pc", lambda: rng.choice(["SW1A 1AA", "EC1A 1BB", "M13 9PL"], N), "postcode"),
    ("DOB", lambda: pd.date_range("1940-03-17", periods=N, freq="37D").strftime("%d/%m/%Y"), "date_of_birth"),
    ("comments", lambda: [f"patient felt unwell after cycle {i}" for i in range(N)], "free_text"),
    ("misc_text", lambda: [f"Seen in clinic on day {i}; reports nausea and fatigue since the last visit" for i in range(N)], "free_text"),
])
def test_each_identifier_kind_is_found(column: str, values, kind: str) -> None:
    frame = clean_frame()
    frame[column] = list(values())
    findings = scan(frame)
    assert [(f.column, f.kind) for f in findings] == [(column, kind)]
    f = findings[0]
    assert f.n_rows >= 1 and f.example_rows and f.example_rows[0] >= 1
    assert kind in RULES


def test_native_date_of_birth_column_is_found_but_month_of_birth_is_allowed() -> None:
    frame = clean_frame()
    frame["date_of_birth"] = pd.date_range("1940-03-17", periods=N, freq="37D")
    assert [f.kind for f in scan(frame)] == ["date_of_birth"]
    frame["date_of_birth"] = pd.date_range("1940-03-01", periods=N, freq="MS")
    assert scan(frame) == []


def test_examples_are_masked_and_rows_are_one_based() -> None:
    frame = clean_frame()
    frame["email"] = ""
    frame.loc[4, "email"] = "jane.doe@hospital.nhs.uk"
    (finding,) = scan(frame)
    assert finding.example_rows == (5,)
    assert "jane" not in finding.examples[0] and finding.examples[0].startswith("j***@")
    assert mask("Jane Doe") == "J*** D**"
