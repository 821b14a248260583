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
from dataclasses import dataclass, field
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


def _cells(frame: pd.DataFrame, column: str, rule: dict[str, Any]) -> list[Any]:
    missing = {canon(m) for m in rule.get("missing", [])}
    return [None if canon(v) is None or canon(v) in missing else v
            for v in frame[column].tolist()]


def _direct(values: list[Any], rule: dict[str, Any], decimal: str) -> list[Any]:
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if rule.get("type") == "text":
            out.append(str(v))
            continue
        x = number(v, decimal)
        if "convert" in rule:
            x = round(x * rule["convert"]["multiply"], rule["convert"]["round"])
        out.append(x)
    return out


def _recode(values: list[Any], rule: dict[str, Any], where: str) -> list[Any]:
    codes = {canon(k): v for k, v in rule["codes"].items()}
    out = []
    for v in values:
        key = canon(v)
        assert key is None or key in codes, f"{where}.{rule['source']}: code {key!r}"
        out.append(None if key is None else codes[key])
    return out


def _decode_cell(frame: pd.DataFrame, rule: dict[str, Any], decimal: str, where: str) -> Any:
    """The values of a variable read from the file's cells (None: not a cell rule)."""
    kind, n = rule["rule"], len(frame)
    if kind == "id":
        return [canon(v) for v in frame[rule["source"]].tolist()]
    if kind == "constant":
        return [rule["value"]] * n
    if kind == "not_collected":
        return [None] * n
    if kind == "direct":
        return _direct(_cells(frame, rule["source"], rule), rule, decimal)
    if kind == "recode":
        return _recode(_cells(frame, rule["source"], rule), rule, where)
    if kind == "date":
        return [None if v is None else parse_date(v, rule["format"])
                for v in _cells(frame, rule["source"], rule)]
    assert kind in ("age_from_birth_month", "derive", "aggregate"), kind
    return None


def _months(d: pd.Timestamp) -> int:
    return d.year * 12 + d.month


def _age(frame: pd.DataFrame, rule: dict[str, Any], rand: list[Any]) -> list[int]:
    src = rule["source"]
    values = []
    for i in range(len(frame)):
        if isinstance(src, list):
            y, m = int(number(frame[src[0]].iat[i], ".")), int(number(frame[src[1]].iat[i],
                                                                      "."))
        else:
            d = dt.datetime.strptime(str(frame[src].iat[i]), rule["format"])
            y, m = d.year, d.month
        values.append((_months(rand[i]) - (y * 12 + m)) // 12)
    return values


def _days(a: Any, b: Any) -> int | None:
    return None if a is None or b is None else int((a - b).days)


def _end_of_dfs(g: dict[str, Any]) -> Any:
    events = [x for x in (g["recurrence_date"], g["death_date"]) if x is not None]
    return min(events) if events else g["last_fu_date"]


#: the codebook's derivations, written from their definitions in topic.yaml
FORMULAS: dict[str, Any] = {
    "bmi": lambda g: None if g["weight_kg"] is None or g["height_cm"] is None
    else round(g["weight_kg"] / (g["height_cm"] / 100) ** 2, 1),
    "os_event_from_dates": lambda g: int(g["death_date"] is not None),
    "os_time_from_dates": lambda g: _days(g["death_date"] if g["death_date"] is not None
                                          else g["last_fu_date"], g["rand_date"]),
    "dfs_event_from_dates": lambda g: int(g["recurrence_date"] is not None
                                          or g["death_date"] is not None),
    "dfs_time_from_dates": lambda g: _days(_end_of_dfs(g), g["rand_date"]),
    "death_date_from_os": lambda g: g["rand_date"] + pd.Timedelta(days=g["os_time_days"])
    if g["os_event"] == 1 else None,
    "last_fu_date_from_os": lambda g: None if g["os_time_days"] is None
    else g["rand_date"] + pd.Timedelta(days=g["os_time_days"]),
    "visit_day": lambda g: _days(g["visit_date"], g["rand_date"]),
}


def _derive(out: dict[str, list[Any]], rule: dict[str, Any], n: int) -> list[Any]:
    formula = FORMULAS[rule["derivation"]]
    return [formula({k: out[k][i] for k in rule["from"]}) for i in range(n)]


#: the conditions the package trial's aggregate rules use, as the reference reads them
CONDITIONS: dict[str, Any] = {
    "event_type == 'recurrence'": lambda r: r["event_type"] == "recurrence",
    "event_type == 'death'": lambda r: r["event_type"] == "death",
    "event_type == 'adverse_event'": lambda r: r["event_type"] == "adverse_event",
    "event_type == 'adverse_event' and ae_grade >= 3":
        lambda r: r["event_type"] == "adverse_event" and r["ae_grade"] >= 3,
}


def _aggregate_one(rows: list[dict[str, Any]], rule: dict[str, Any]) -> Any:
    """One participant's value of an aggregate rule over its rows of a long table."""
    if rule.get("where"):
        rows = [r for r in rows if CONDITIONS[rule["where"]](r)]
    take = rule["take"]
    if take == "any":
        return bool(rows)
    values = [(r, r[rule["value"]]) for r in rows if r[rule["value"]] is not None]
    if take == "nearest":
        values = [(abs(r[rule["at"]] - rule["target"]), v) for r, v in values
                  if abs(r[rule["at"]] - rule["target"]) <= rule["within"]]
        return min(values, key=lambda x: x[0])[1] if values else None
    if not values:
        return rule.get("else")
    pick = min if take == "min" else max
    return pick(v for _, v in values)


def _aggregate(rule: dict[str, Any], ids: list[Any],
               tables: dict[str, pd.DataFrame]) -> list[Any]:
    sources = rule.get("from") or [{"table": rule["table"], "value": rule.get("value")}]
    out = []
    for pid in ids:
        found = []
        for src in sources:
            t = tables[src["table"]]
            rows = t[t["participant_id"] == pid].to_dict("records")
            found.append(_aggregate_one(rows, {**rule, **src}))
        known = [f for f in found if f is not None]
        out.append(max(known) if known else None)
    return out


def decode_table(frame: pd.DataFrame, table: dict[str, Any], participants: pd.DataFrame,
                 where: str) -> pd.DataFrame:
    """A long file decoded with its table rules (``participant_id`` from the ID column);
    ``participants`` gives each participant's decoded variables a rule reads."""
    id_column = frame.columns[0]
    out: dict[str, list[Any]] = {"participant_id": [canon(v) for v in frame[id_column]]}
    lookup = participants.set_index("participant_id")
    out["rand_date"] = [lookup.at[p, "rand_date"] for p in out["participant_id"]]
    for name, rule in table["variables"].items():
        values = _decode_cell(frame, rule, ".", where)
        out[name] = values if values is not None else _derive(out, rule, len(frame))
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in out.items()
                         if k != "rand_date"})


def decode(frame: pd.DataFrame, codebook: dict[str, Any],
           tables: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """A delivery decoded with its codebook (``tables``: the trial's long files, read)."""
    decimal = codebook["delivery"].get("decimal", ".")
    out: dict[str, list[Any]] = {}
    later: dict[str, dict[str, Any]] = {}
    for name, rule in codebook["variables"].items():
        values = _decode_cell(frame, rule, decimal, codebook["trial"])
        if values is None:
            later[name] = rule
        else:
            out[name] = values
    for name, rule in later.items():
        if rule["rule"] == "age_from_birth_month":
            out[name] = _age(frame, rule, out["rand_date"])
    if codebook.get("tables"):
        decoded = {name: decode_table(tables[name], t, pd.DataFrame(out), codebook["trial"])
                   for name, t in codebook["tables"].items()} if tables else {}
        for name, rule in later.items():
            if rule["rule"] == "aggregate":
                out[name] = _aggregate(rule, out["participant_id"], decoded)
    order = ["bmi", "death_date", "last_fu_date", "os_event", "os_time_days", "dfs_event",
             "dfs_time_days"]
    for name in order:
        if name in later and later[name]["rule"] == "derive":
            out[name] = _derive(out, later[name], len(frame))
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
    frame: pd.DataFrame       # the delivery as read (the baseline file of several)
    truth: pd.DataFrame       # the trial's truth, all participants
    codebook: dict[str, Any]
    registry: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # long files, read

    def decoded(self) -> pd.DataFrame:
        return decode(self.frame, self.codebook, self.tables)

    def delivered_truth(self) -> pd.DataFrame:
        t = self.truth[self.truth["delivery_row"].notna()].sort_values("delivery_row")
        return t.reset_index(drop=True)


@pytest.fixture(scope="module")
def trials(topic: Path) -> dict[str, Trial]:
    truth = pd.read_parquet(topic / "truth" / "participants.parquet")
    out = {}
    for trial in _load(topic / "topic.yaml")["trials"]:
        codebook = _load(topic / trial["delivery"]["codebook"])
        datasets = trial["delivery"].get("datasets") or [trial["delivery"]]
        frame = read_delivery(topic / datasets[0]["file"], codebook["delivery"])
        tables = {name: read_delivery(topic / t["file"], codebook["delivery"])
                  for name, t in (codebook.get("tables") or {}).items()}
        out[trial["acronym"]] = Trial(frame, truth[truth["trial"] == trial["acronym"]],
                                      codebook, trial, tables)
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
                        if r["rule"] not in ("constant", "derive", "not_collected",
                                             "aggregate")}
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
        fixed = decode(frame, t.codebook, t.tables)
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


def test_the_package_trial_delivers_baseline_visits_and_events(
        topic: Path, trials: dict[str, Trial]) -> None:
    """One trial sends three files; its registry entry, codebook and files agree."""
    packages = {a: t for a, t in trials.items() if t.registry["delivery"].get("datasets")}
    assert list(packages) == ["CHINOOK"]
    t = packages["CHINOOK"]
    datasets = t.registry["delivery"]["datasets"]
    assert [d["name"] for d in datasets] == ["baseline", "visits", "events"]
    assert t.codebook["delivery"]["datasets"] == datasets
    for d in datasets:
        assert (topic / d["file"]).parent == topic / t.registry["delivery"]["file"]
        frame = t.frame if d["name"] == "baseline" else t.tables[d["name"]]
        assert len(frame) == d["rows"] > len(t.frame) * (d["name"] == "visits")
    for name, table in t.codebook["tables"].items():
        assert [c["name"] for c in table["columns"]] == list(t.tables[name].columns)
        assert table["key"] == next(d["key"] for d in datasets if d["name"] == name)
    derived = {n for n, r in t.codebook["variables"].items() if r["rule"] == "aggregate"}
    assert derived == {"recurrence_date", "death_date", "last_fu_date", "qol_12m",
                       "grade3_toxicity", "worst_ae_grade"}


def test_long_tables_decode_to_the_truth(topic: Path, trials: dict[str, Trial],
                                         decoded: dict[str, pd.DataFrame]) -> None:
    """Every row of the visits and events files decodes to truth/<table>.parquet, and the
    truth holds no rows of trials without the files."""
    compared = 0
    for name, key in (("visits", "visit_num"), ("events", "event_seq")):
        truth = pd.read_parquet(topic / "truth" / f"{name}.parquet")
        assert set(truth["trial"]) == {"CHINOOK"}
        t = trials["CHINOOK"]
        got = decode_table(t.tables[name], t.codebook["tables"][name], decoded["CHINOOK"],
                           "CHINOOK")
        want = truth.drop(columns="trial")
        assert len(got) == len(want)
        merged = got.merge(want, on=["participant_id", key], suffixes=("", "_true"))
        assert len(merged) == len(want)
        for column in want.columns.drop(["participant_id", key]):
            bad = [(a, b) for a, b in zip(merged[column], merged[f"{column}_true"])
                   if not same(a, b)]
            assert not bad, (name, column, bad[:5])
            compared += len(merged)
    assert compared > 4000
    # the derivations are not trivial: the window, the filters and the else value matter
    truth = trials["CHINOOK"].truth
    assert truth["qol_12m"].notna().sum() > 20 and truth["qol_12m"].isna().sum() > 20
    assert set(truth["worst_ae_grade"].dropna().astype(int)) == {0, 1, 2, 3, 4}
    assert (truth["grade3_toxicity"] == (truth["worst_ae_grade"] >= 3)).all()
