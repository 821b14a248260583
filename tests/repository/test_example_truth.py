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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from repository.example import VARIABLES as ALL_VARIABLES
from repository.example import create

SEED = 4242


@pytest.fixture(scope="module")
def topic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("example") / "topic"
    # 16 trials: the eight hand-made codings and eight drawn at random
    create(directory, trials=16, participants=3200, seed=SEED)
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


@dataclass
class Trial:
    frame: pd.DataFrame       # the delivery as read
    truth: pd.DataFrame       # the trial's truth, all participants
    codebook: dict[str, Any]
    registry: dict[str, Any]

    def decoded(self) -> pd.DataFrame:
        return decode(self.frame, self.codebook)

    def delivered_truth(self) -> pd.DataFrame:
        t = self.truth[self.truth["delivery_row"].notna()].sort_values("delivery_row")
        return t.reset_index(drop=True)


@pytest.fixture(scope="module")
def trials(topic: Path) -> dict[str, Trial]:
    truth = pd.read_parquet(topic / "truth" / "participants.parquet")
    out = {}
    for trial in _load(topic / "topic.yaml")["trials"]:
        codebook = _load(topic / trial["delivery"]["codebook"])
        frame = read_delivery(topic / trial["delivery"]["file"], codebook["delivery"])
        out[trial["acronym"]] = Trial(frame, truth[truth["trial"] == trial["acronym"]],
                                      codebook, trial)
    return out


@pytest.fixture(scope="module")
def decoded(trials: dict[str, Trial]) -> dict[str, pd.DataFrame]:
    return {acronym: t.decoded() for acronym, t in trials.items()}


@pytest.fixture(scope="module")
def planted(topic: Path) -> list[dict[str, Any]]:
    return _load(topic / "truth" / "planted.yaml")["problems"]


VARIABLES = [v.name for v in ALL_VARIABLES]


def mismatches(decoded: pd.DataFrame, truth: pd.DataFrame, rows: range | list[int],
               ) -> list[tuple[int, str, Any, Any]]:
    """(1-based row, variable, decoded, true) wherever they differ."""
    return [(i + 1, name, decoded[name].iat[i], truth[name].iat[i])
            for i in rows for name in VARIABLES
            if not same(decoded[name].iat[i], truth[name].iat[i])]


# ---- tests -------------------------------------------------------------------------------------

def test_codebook_columns_match_the_file(trials: dict[str, Trial]) -> None:
    for acronym, t in trials.items():
        listed = [c["name"] for c in t.codebook["columns"]]
        assert listed == [str(c) for c in t.frame.columns], acronym
        assert t.codebook["delivery"]["rows"] == len(t.frame)
        for name, rule in t.codebook["variables"].items():
            sources = rule.get("source", [])
            for source in [sources] if isinstance(sources, str) else sources:
                assert source in listed, (acronym, name, source)
        used = {v for c in t.codebook["columns"] for v in c["used_for"]}
        assert used == {n for n, r in t.codebook["variables"].items()
                        if r["rule"] not in ("constant", "derive", "not_collected")}
        assert set(t.codebook["variables"]) == set(VARIABLES)


def test_recode_codes_cover_every_delivered_value(trials: dict[str, Trial]) -> None:
    recodes = 0
    for acronym, t in trials.items():
        for name, rule in t.codebook["variables"].items():
            if rule["rule"] != "recode":
                continue
            recodes += 1
            allowed = {canon(k) for k in rule["codes"]} | {canon(m) for m in
                                                           rule.get("missing", [])}
            seen = {canon(v) for v in t.frame[rule["source"]].tolist()} - {None}
            assert seen <= allowed, (acronym, name, seen - allowed)
    assert recodes > 15 * len(trials)


def _planted_rows(planted: list[dict[str, Any]]) -> dict[str, set[int]]:
    rows: dict[str, set[int]] = {}
    for problem in planted:
        for p in problem["participants"]:
            if p["delivery_row"] is not None:
                rows.setdefault(problem["trial"], set()).add(p["delivery_row"])
    return rows


def test_decoded_deliveries_equal_the_truth_outside_planted_rows(
        trials: dict[str, Trial], decoded: dict[str, pd.DataFrame],
        planted: list[dict[str, Any]]) -> None:
    skip = _planted_rows(planted)
    checked = 0
    for acronym, t in trials.items():
        truth = t.delivered_truth()
        assert len(truth) == len(decoded[acronym]) == t.registry["delivery"]["rows"], acronym
        rows = [i for i in range(len(truth)) if i + 1 not in skip.get(acronym, set())]
        bad = mismatches(decoded[acronym], truth, rows)
        assert not bad, (acronym, bad[:10], len(bad))
        checked += len(rows)
    assert checked > 3000


def test_planted_rows_differ_exactly_where_listed(
        trials: dict[str, Trial], decoded: dict[str, pd.DataFrame],
        planted: list[dict[str, Any]]) -> None:
    """In a planted row the listed variable is wrong (or, for confirmed-correct values, odd but
    true); the derived variables may follow it, nothing else differs."""
    follows = {"death_date": {"os_event", "os_time_days", "dfs_event", "dfs_time_days"},
               "last_fu_date": {"os_time_days", "dfs_time_days"},
               "os_time_days": {"death_date", "last_fu_date"}}
    for problem in planted:
        if problem["kind"] == "arm_imbalance":
            continue
        t = trials[problem["trial"]]
        truth = t.delivered_truth()
        for p in problem["participants"]:
            row = p["delivery_row"] - 1
            assert truth["participant_id"].iat[row] == p["participant_id"]
            wrong = {name for _, name, _, _ in mismatches(decoded[problem["trial"]], truth,
                                                          [row])}
            assert same(truth[problem["variable"]].iat[row], p["true_value"]), problem["id"]
            if p["response"]["code"] == "confirmed_correct":
                assert wrong == set(), problem["id"]
            else:
                assert problem["variable"] in wrong, problem["id"]
                allowed = {problem["variable"]} | follows.get(problem["variable"], set())
                if problem["kind"] == "missing_follow_up":
                    allowed |= {"os_time_days", "dfs_time_days", "last_fu_date", "death_date"}
                assert wrong <= allowed, (problem["id"], wrong)


def _as_cell(value: Any, column: pd.Series, fmt: str) -> Any:
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.Timestamp(value)
    if fmt == "csv":
        return str(value)
    return value


def test_delivered_values_and_answers_are_exact(
        trials: dict[str, Trial], planted: list[dict[str, Any]]) -> None:
    """Each planted cell holds the listed delivered value; putting the trialist's answers in
    the delivery makes every planted row decode to the truth."""
    kinds = {p["kind"] for p in planted}
    assert kinds == {"out_of_range", "event_before_randomisation", "duplicate_id",
                     "arm_imbalance", "missing_follow_up", "confirmed_correct",
                     "nodes_inconsistent"}
    answered: dict[str, pd.DataFrame] = {}
    rows: dict[str, set[int]] = {}
    for problem in planted:
        if problem["kind"] == "arm_imbalance":
            continue
        t = trials[problem["trial"]]
        fmt = t.codebook["delivery"]["format"]
        frame = answered.setdefault(problem["trial"], t.frame.copy())
        column = problem["source_column"]
        for p in problem["participants"]:
            row = p["delivery_row"] - 1
            cell = t.frame[column].iat[row]
            expected = p["delivered_value"]
            if expected is None:
                assert canon(cell) is None, problem["id"]
            elif fmt == "csv":
                assert cell == expected, problem["id"]
            else:
                assert same(cell, _as_cell(expected, t.frame[column], fmt)) or \
                    canon(cell) == canon(expected), (problem["id"], cell, expected)
            answer = p["response"]
            if answer["code"] in ("typographical_error", "data_missing"):
                frame.loc[frame.index[row], column] = _as_cell(answer["value"],
                                                               t.frame[column], fmt)
            else:
                assert answer["code"] == "confirmed_correct"
                assert canon(answer["value"]) == canon(cell) or \
                    same(pd.Timestamp(answer["value"]), cell)
            rows.setdefault(problem["trial"], set()).add(row)
    for acronym, frame in answered.items():
        t = trials[acronym]
        fixed = decode(frame, t.codebook)
        bad = mismatches(fixed, t.delivered_truth(), sorted(rows[acronym]))
        assert not bad, (acronym, bad)


def test_redelivery_is_complete_and_decodes_to_the_truth(
        topic: Path, trials: dict[str, Trial], planted: list[dict[str, Any]]) -> None:
    problem = next(p for p in planted if p["kind"] == "arm_imbalance")
    t = trials[problem["trial"]]
    redelivery = t.registry["delivery"]["redelivery"]
    frame = read_delivery(topic / redelivery["file"], t.codebook["delivery"])
    truth = t.truth.sort_values("redelivery_row").reset_index(drop=True)
    assert len(frame) == len(truth) == redelivery["rows"]
    assert truth["redelivery_row"].tolist() == list(range(1, len(truth) + 1))
    assert not mismatches(decode(frame, t.codebook), truth, range(len(truth)))
    missing = set(truth["participant_id"]) - set(t.delivered_truth()["participant_id"])
    assert missing == {p["participant_id"] for p in problem["participants"]}
    assert (truth.set_index("participant_id").loc[sorted(missing), "arm"] == 0).all()
