"""The example topic's deliveries, codebooks and truth agree.

A small reference decoder, written from the codebook format documented in
``repository/example/__init__.py`` and independent of the generator's code, reads every
delivery with pandas/pyreadstat, applies its codebook and compares the result with
``truth/participants.parquet``: equal everywhere except in the rows listed in
``truth/planted.yaml``, and there the delivered cells are exactly the planted values.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from repository.example import create

SEED = 4242


@pytest.fixture(scope="module")
def topic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("example") / "topic"
    create(directory, trials=10, participants=3000, seed=SEED)
    return directory


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---- reference decoding ------------------------------------------------------------------------

def read_delivery(path: Path, delivery: dict[str, Any]) -> pd.DataFrame:
    fmt = delivery["format"]
    if fmt == "csv":
        return pd.read_csv(path, sep=delivery["delimiter"], encoding=delivery["encoding"],
                           dtype=str, keep_default_na=False)
    if fmt == "xlsx":
        return pd.read_excel(path, sheet_name=delivery["sheet"], dtype=object)
    if fmt == "parquet":
        return pd.read_parquet(path)
    reader = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta,
              "xpt": pyreadstat.read_xport}[fmt]
    frame, _ = reader(str(path), dates_as_pandas_datetime=True)
    return frame


def canon(value: Any) -> str | None:
    """A cell or code as text: None for blanks, integral numbers without decimals."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def number(value: Any, decimal: str) -> float:
    if isinstance(value, str):
        return float(value.replace(decimal, ".")) if decimal != "." else float(value)
    return float(value)


def parse_date(value: Any, fmt: str) -> pd.Timestamp:
    if fmt == "native":
        return pd.Timestamp(value).normalize()
    return pd.Timestamp(dt.datetime.strptime(str(value), fmt))


def decode(frame: pd.DataFrame, codebook: dict[str, Any]) -> pd.DataFrame:
    decimal = codebook["delivery"].get("decimal", ".")
    out: dict[str, list[Any]] = {}
    derived: dict[str, dict[str, Any]] = {}
    n = len(frame)
    for name, rule in codebook["variables"].items():
        kind = rule["rule"]
        missing = {canon(m) for m in rule.get("missing", [])}

        def cells(column: str, missing: set[str | None] = missing) -> list[Any]:
            return [None if canon(v) is None or canon(v) in missing else v
                    for v in frame[column].tolist()]

        if kind == "id":
            out[name] = [canon(v) for v in frame[rule["source"]].tolist()]
        elif kind == "constant":
            out[name] = [rule["value"]] * n
        elif kind == "not_collected":
            out[name] = [None] * n
        elif kind == "direct":
            values = []
            for v in cells(rule["source"]):
                if v is None:
                    values.append(None)
                    continue
                x = number(v, decimal)
                if "convert" in rule:
                    x = round(x * rule["convert"]["multiply"], rule["convert"]["round"])
                values.append(x)
            out[name] = values
        elif kind == "recode":
            codes = {canon(k): v for k, v in rule["codes"].items()}
            values = []
            for v in cells(rule["source"]):
                key = canon(v)
                if key is None:
                    values.append(None)
                else:
                    assert key in codes, f"{codebook['trial']}.{rule['source']}: code {key!r}"
                    values.append(codes[key])
            out[name] = values
        elif kind == "date":
            out[name] = [None if v is None else parse_date(v, rule["format"])
                         for v in cells(rule["source"])]
        elif kind in ("age_from_birth_month", "derive"):
            derived[name] = rule
        else:  # pragma: no cover
            raise AssertionError(kind)

    def months(d: pd.Timestamp) -> int:
        return d.year * 12 + d.month

    for name, rule in derived.items():
        if rule["rule"] != "age_from_birth_month":
            continue
        src = rule["source"]
        values = []
        for i in range(n):
            if isinstance(src, list):
                y, m = int(number(frame[src[0]].iat[i], ".")), int(number(frame[src[1]].iat[i],
                                                                          "."))
            else:
                d = dt.datetime.strptime(str(frame[src].iat[i]), rule["format"])
                y, m = d.year, d.month
            values.append((months(out["rand_date"][i]) - (y * 12 + m)) // 12)
        out[name] = values

    def days(a: Any, b: Any) -> int | None:
        return None if a is None or b is None else int((a - b).days)

    order = ["bmi", "death_date", "last_fu_date", "os_event", "os_time_days", "dfs_event",
             "dfs_time_days"]
    for name in order:
        rule = derived.get(name)
        if rule is None:
            continue
        d = rule["derivation"]
        values = []
        for i in range(n):
            g = {k: out[k][i] for k in rule["from"]}
            if d == "bmi":
                w, h = g["weight_kg"], g["height_cm"]
                values.append(None if w is None or h is None else round(w / (h / 100) ** 2, 1))
            elif d == "os_event_from_dates":
                values.append(int(g["death_date"] is not None))
            elif d == "os_time_from_dates":
                end = g["death_date"] if g["death_date"] is not None else g["last_fu_date"]
                values.append(days(end, g["rand_date"]))
            elif d == "dfs_event_from_dates":
                values.append(int(g["recurrence_date"] is not None or g["death_date"] is not None))
            elif d == "dfs_time_from_dates":
                events = [x for x in (g["recurrence_date"], g["death_date"]) if x is not None]
                end = min(events) if events else g["last_fu_date"]
                values.append(days(end, g["rand_date"]))
            elif d == "death_date_from_os":
                values.append(g["rand_date"] + pd.Timedelta(days=g["os_time_days"])
                              if g["os_event"] == 1 else None)
            elif d == "last_fu_date_from_os":
                values.append(None if g["os_time_days"] is None
                              else g["rand_date"] + pd.Timedelta(days=g["os_time_days"]))
            else:  # pragma: no cover
                raise AssertionError(d)
        out[name] = values
    return pd.DataFrame(out)


def same(a: Any, b: Any) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NaT \
        or a is pd.NA
    b_missing = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NaT \
        or b is pd.NA
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, (pd.Timestamp, dt.date)) or isinstance(b, (pd.Timestamp, dt.date)):
        return pd.Timestamp(a) == pd.Timestamp(b)
    if isinstance(a, (float, int, np.number)) and isinstance(b, (float, int, np.number)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def truth_frame(topic: Path) -> pd.DataFrame:
    return pd.read_parquet(topic / "truth" / "participants.parquet")


def decoded_trials(topic: Path) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]]:
    out = {}
    truth = truth_frame(topic)
    for trial in _load(topic / "topic.yaml")["trials"]:
        codebook = _load(topic / trial["delivery"]["codebook"])
        frame = read_delivery(topic / trial["delivery"]["file"], codebook["delivery"])
        t = truth[truth["trial"] == trial["acronym"]]
        out[trial["acronym"]] = (frame, t, codebook)
    return out


# ---- tests -------------------------------------------------------------------------------------

def test_codebook_columns_match_the_file(topic: Path) -> None:
    for acronym, (frame, _, codebook) in decoded_trials(topic).items():
        listed = [c["name"] for c in codebook["columns"]]
        assert listed == [str(c) for c in frame.columns], acronym
        assert codebook["delivery"]["rows"] == len(frame)
        for name, rule in codebook["variables"].items():
            sources = rule.get("source", [])
            for source in [sources] if isinstance(sources, str) else sources:
                assert source in listed, (acronym, name, source)
        used = {v for c in codebook["columns"] for v in c["used_for"]}
        assert used == {n for n, r in codebook["variables"].items()
                        if r["rule"] not in ("constant", "derive", "not_collected")}


def test_recode_codes_cover_every_delivered_value(topic: Path) -> None:
    for acronym, (frame, _, codebook) in decoded_trials(topic).items():
        for name, rule in codebook["variables"].items():
            if rule["rule"] != "recode":
                continue
            allowed = {canon(k) for k in rule["codes"]} | {canon(m) for m in
                                                           rule.get("missing", [])}
            seen = {canon(v) for v in frame[rule["source"]].tolist()} - {None}
            assert seen <= allowed, (acronym, name, seen - allowed)


def _planted(topic: Path) -> list[dict[str, Any]]:
    return _load(topic / "truth" / "planted.yaml")["problems"]


def _planted_rows(topic: Path) -> dict[str, set[int]]:
    rows: dict[str, set[int]] = {}
    for problem in _planted(topic):
        for p in problem["participants"]:
            if p["delivery_row"] is not None:
                rows.setdefault(problem["trial"], set()).add(p["delivery_row"])
    return rows


def test_decoded_deliveries_equal_the_truth_outside_planted_rows(topic: Path) -> None:
    planted_rows = _planted_rows(topic)
    variables = [v["name"] for v in _load(topic / "topic.yaml")["variables"]]
    checked = 0
    for acronym, (frame, truth, codebook) in decoded_trials(topic).items():
        decoded = decode(frame, codebook)
        t = truth[truth["delivery_row"].notna()].sort_values("delivery_row")
        assert len(t) == len(decoded), acronym
        skip = planted_rows.get(acronym, set())
        mismatches = []
        for i in range(len(decoded)):
            if i + 1 in skip:
                continue
            for name in variables:
                a, b = decoded[name].iat[i], t[name].iat[i]
                if not same(a, b):
                    mismatches.append((i + 1, name, a, b))
            checked += 1
        assert not mismatches, (acronym, mismatches[:10], len(mismatches))
    assert checked > 2500


def test_planted_cells_are_delivered_exactly_as_listed(topic: Path) -> None:
    trials = decoded_trials(topic)
    kinds = [p["kind"] for p in _planted(topic)]
    assert sorted(set(kinds)) == sorted(["out_of_range", "event_before_randomisation",
                                         "duplicate_id", "arm_imbalance", "missing_follow_up",
                                         "confirmed_correct", "nodes_inconsistent"])
    for problem in _planted(topic):
        frame, truth, codebook = trials[problem["trial"]]
        decoded = decode(frame, codebook)
        column = problem["source_column"]
        for p in problem["participants"]:
            if problem["kind"] == "arm_imbalance":
                assert p["delivery_row"] is None
                assert p["participant_id"] not in set(decoded["participant_id"])
                continue
            row = p["delivery_row"] - 1
            cell = frame[column].iat[row]
            delivered = canon(cell) if p["delivered_value"] is None or \
                isinstance(p["delivered_value"], str) and codebook["delivery"]["format"] != "csv" \
                else cell
            if p["delivered_value"] is None:
                assert canon(cell) is None, problem
            elif codebook["delivery"]["format"] == "csv":
                assert cell == p["delivered_value"], (problem["id"], cell, p)
            else:
                assert same(pd.Timestamp(cell) if isinstance(cell, (pd.Timestamp, dt.date))
                            else cell, pd.Timestamp(p["delivered_value"])
                            if isinstance(cell, (pd.Timestamp, dt.date))
                            else p["delivered_value"]), (problem["id"], delivered, p)
            truth_row = truth[truth["delivery_row"] == p["delivery_row"]].iloc[0]
            assert truth_row["participant_id"] == p["participant_id"]
            value = decoded[problem["variable"]].iat[row]
            if problem["kind"] == "confirmed_correct":
                assert same(value, truth_row[problem["variable"]])
            elif p["response"]["code"] == "typographical_error" and problem["variable"] != \
                    "participant_id":
                assert not same(value, truth_row[problem["variable"]]), problem["id"]
