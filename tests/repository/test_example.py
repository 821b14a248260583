"""The example topic generator: determinism, file formats, registry, cleanliness, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
import yaml
from click.testing import CliRunner

from repository.cli import cli
from repository.errors import AlreadyExists, ConfigError
from repository.example import PROBLEM_ORDER, VARIABLES, ExampleTopic, create

SEED = 77


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _truth(topic: Path) -> pd.DataFrame:
    """The truth with its date columns (Parquet date32) as datetime64."""
    truth = pd.read_parquet(topic / "truth" / "participants.parquet")
    for v in VARIABLES:
        if v.type == "date":
            truth[v.name] = pd.to_datetime(truth[v.name])
    return truth


def _hashes(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExampleTopic]:
    directory = tmp_path_factory.mktemp("example") / "topic"
    return directory, create(directory, trials=9, participants=2400, seed=SEED)


@pytest.fixture(scope="module")
def topic(made: tuple[Path, ExampleTopic]) -> Path:
    return made[0]


# ---- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_bytes_and_another_seed_other_data(
        topic: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    create(again, trials=9, participants=2400, seed=SEED)
    first, second = _hashes(topic), _hashes(again)
    assert len(first) >= 9 + 9 + 1 + 1 + 3 + 2
    assert first == second
    other = tmp_path / "other"
    create(other, trials=9, participants=2400, seed=SEED + 1)
    third = _hashes(other)
    deliveries = [k for k in first if k.startswith("deliveries/")]
    assert all(first[k] != third[k] for k in deliveries)
    truth_a, truth_b = _truth(topic), _truth(other)
    assert not truth_a["age"].equals(truth_b["age"])


def test_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(AlreadyExists, match="not empty.*--force"):
        create(target, trials=2, participants=100)
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]
    create(target, trials=2, participants=100, force=True)
    create(target, trials=1, participants=100, force=True)
    assert (target / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in (target / "deliveries").iterdir()) == ["MISTRAL.csv"]


def test_bad_sizes_and_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 30.*at least 90 participants"):
        create(tmp_path / "a", trials=3, participants=60)
    with pytest.raises(ConfigError, match="at least 1"):
        create(tmp_path / "b", trials=0, participants=60)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        create(file, trials=1, participants=50)
    assert not (tmp_path / "a").exists()


# ---- formats -----------------------------------------------------------------------------------

def _trials(topic: Path) -> list[dict[str, Any]]:
    return _load(topic / "topic.yaml")["trials"]


def _files(delivery: dict[str, Any]) -> list[str]:
    """The delivery's files: one, or the baseline, visits and events files of a package."""
    return [d["file"] for d in delivery.get("datasets") or [delivery]]


def test_every_format_is_written_and_reads_back_with_its_labels(topic: Path) -> None:
    seen = set()
    for trial in _trials(topic):
        d = trial["delivery"]
        path = topic / _files(d)[0]
        codebook = _load(topic / d["codebook"])
        listed = {c["name"]: c for c in codebook["columns"]}
        fmt = d["format"]
        seen.add((fmt, path.suffix))
        if fmt == "csv":
            raw = path.read_bytes()
            frame = pd.read_csv(path, sep=d["delimiter"], encoding=d["encoding"], dtype=str,
                                keep_default_na=False)
            if d["encoding"] == "cp1252":
                assert d["delimiter"] == ";" and codebook["delivery"]["decimal"] == ","
                with pytest.raises(UnicodeDecodeError):
                    raw.decode("utf-8")
                assert frame.apply(lambda s: s.str.fullmatch(r"\d+,\d+")).any().any()
        elif fmt == "xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            assert book.sheetnames == ["data", "notes"]
            frame = pd.read_excel(path, sheet_name=d["sheet"])
            assert any(pd.api.types.is_datetime64_any_dtype(frame[c]) for c in frame)
        elif fmt in ("sav", "dta", "xpt"):
            reader = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta,
                      "xpt": pyreadstat.read_xport}[fmt]
            frame, meta = reader(str(path), dates_as_pandas_datetime=True)
            assert meta.column_labels == [listed[c]["label"][:40 if fmt == "xpt" else None]
                                          for c in meta.column_names]
            if fmt in ("sav", "dta"):
                labelled = {c: v for c, v in listed.items() if "value_labels" in v}
                assert labelled
                assert set(meta.variable_value_labels) == set(labelled)
                for name, labels in meta.variable_value_labels.items():
                    assert {int(k): v for k, v in labels.items()} == labelled[name]["value_labels"]
            if fmt == "sav":
                declared = {c: v["missing"] for c, v in listed.items() if v["missing"]}
                _, user = pyreadstat.read_sav(str(path), user_missing=True, metadataonly=True)
                assert declared and {c: [r["lo"] for r in ranges] for c, ranges in
                                     user.missing_ranges.items()} == declared
            assert any(pd.api.types.is_datetime64_any_dtype(frame[c]) for c in frame)
        else:
            table = pq.read_table(path)
            frame = table.to_pandas()
            assert [f.metadata[b"label"].decode() for f in table.schema] == \
                [listed[c]["label"] for c in table.column_names]
        assert list(frame.columns) == list(listed)
        assert len(frame) == d["rows"] == codebook["delivery"]["rows"]
    assert {s for s, _ in seen} == {"csv", "xlsx", "sav", "dta", "xpt", "parquet"}
    assert {e for _, e in seen} == {".csv", ".txt", ".xlsx", ".sav", ".dta", ".xpt", ".parquet"}


# ---- registry and truth --------------------------------------------------------------------------

def test_registry_describes_every_trial(topic: Path) -> None:
    data = _load(topic / "topic.yaml")
    assert data["topic"]["slug"] == "gastric-adjuvant"
    assert [v["name"] for v in data["variables"]] == [v.name for v in VARIABLES]
    assert len(data["variables"]) >= 40
    truth = _truth(topic)
    ratios = []
    for trial in data["trials"]:
        ids = {r["registry"]: r["id"] for r in trial["registry_ids"]}
        assert re.fullmatch(r"ISRCTN\d{8}", ids["ISRCTN"])
        assert "NCT" not in ids or re.fullmatch(r"NCT\d{8}", ids["NCT"])
        assert re.fullmatch(r"[a-z]\.[a-z]+@[a-z0-9-]+\.example\.org", trial["contact"]["email"])
        t = truth[truth["trial"] == trial["acronym"]]
        assert trial["randomised_published"] == len(t)
        assert {a["arm"] for a in trial["arms"]} == {0, 1}
        for arm in trial["arms"]:
            assert arm["randomised_published"] == int((t["arm"] == arm["arm"]).sum())
        ratios.append(max(a["ratio"] for a in trial["arms"]))
        d = trial["delivery"]
        assert all((topic / f).is_file() for f in _files(d))
        assert (topic / d["codebook"]).is_file()
        assert _load(topic / d["codebook"])["delivery"]["id_column"] == d["id_column"]
        assert d["received"] > trial["data_cutoff"]
    assert ratios.count(2) == 1
    two_to_one = data["trials"][ratios.index(2)]
    counts = {a["arm"]: a["randomised_published"] for a in two_to_one["arms"]}
    assert abs(counts[1] / counts[0] - 2) < 0.15


def test_truth_is_clean_apart_from_the_confirmed_correct_weight(topic: Path) -> None:
    truth = _truth(topic)
    planted = _load(topic / "truth" / "planted.yaml")["problems"]
    confirmed = [(p["trial"], q["participant_id"]) for p in planted
                 if p["kind"] == "confirmed_correct" for q in p["participants"]]
    assert len(confirmed) == 1
    odd = (truth["trial"] == confirmed[0][0]) & (truth["participant_id"] == confirmed[0][1])
    assert truth.loc[odd, "weight_kg"].item() == 182.0
    clean = truth[~odd]
    for v in VARIABLES:
        if v.range:
            values = clean[v.name].dropna()
            assert values.between(*v.range).all(), v.name
        if v.codes:
            assert set(clean[v.name].dropna().unique()) <= set(v.codes), v.name
    assert truth.groupby("trial")["participant_id"].apply(lambda s: s.is_unique).all()
    rand = truth["rand_date"]
    assert (rand.dt.weekday < 5).all()
    gap = (rand - truth["surgery_date"]).dt.days
    assert gap.between(1, 42).all()
    for col in ("recurrence_date", "death_date", "last_fu_date"):
        assert ((truth[col] - rand).dt.days.dropna() >= 1).all(), col
    both = truth.dropna(subset=["recurrence_date", "death_date"])
    assert (both["death_date"] >= both["recurrence_date"]).all()
    dead = truth[truth["os_event"] == 1]
    assert (dead["last_fu_date"] == dead["death_date"]).all()
    assert truth.loc[truth["os_event"] == 0, "death_date"].isna().all()
    nodes = truth.dropna(subset=["nodes_examined", "nodes_positive"])
    assert (nodes["nodes_positive"] <= nodes["nodes_examined"]).all()
    n_from_nodes = np.digitize(nodes["nodes_positive"], [1, 3, 7])
    assert (n_from_nodes == nodes["n_stage"].to_numpy()).all()
    assert (truth["dfs_time_days"] <= truth["os_time_days"]).all()
    assert truth.loc[truth["os_event"] == 0, "cause_of_death"].isna().all()
    collected = truth.groupby("trial")["cause_of_death"].transform(lambda s: s.notna().any())
    assert truth.loc[collected & (truth["os_event"] == 1), "cause_of_death"].notna().all()
    assert not truth.loc[truth["arm"] == 0, "chemo_started"].any()
    early = (truth["os_event"] == 1) & (truth["os_time_days"] <= 365) | \
        (truth["dfs_event"] == 1) & (truth["dfs_time_days"] <= 365)
    assert truth.loc[early, "qol_12m"].isna().all()


def test_variables_a_trial_did_not_collect_are_missing_in_the_truth(topic: Path) -> None:
    truth = _truth(topic)
    impossible = 0
    for trial in _trials(topic):
        rules = _load(topic / trial["delivery"]["codebook"])["variables"]
        t = truth[truth["trial"] == trial["acronym"]]
        for name, rule in rules.items():
            if rule["rule"] == "not_collected":
                impossible += 1
                assert t[name].isna().all(), (trial["acronym"], name)
            elif name in ("participant_id", "trial", "arm", "rand_date", "age", "sex",
                          "os_time_days", "os_event"):
                assert t[name].notna().all(), (trial["acronym"], name)
    assert impossible >= 10


def test_planted_problems_one_kind_per_trial_in_the_documented_order(topic: Path) -> None:
    planted = _load(topic / "truth" / "planted.yaml")
    trials = [t["acronym"] for t in _trials(topic)]
    kinds_by_trial: dict[str, set[str]] = {}
    for p in planted["problems"]:
        kinds_by_trial.setdefault(p["trial"], set()).add(p["kind"])
        assert p["id"].startswith("P") and p["check"]
        for q in p["participants"]:
            assert q["response"]["code"] in planted["response_codes"]
    assert [kinds_by_trial.get(t) for t in trials] == \
        [{k} for k in PROBLEM_ORDER] + [None, None]
    assert [p["id"] for p in planted["problems"]] == \
        [f"P{i}" for i in range(1, len(planted["problems"]) + 1)]


def test_fewer_trials_than_problems_plant_the_first_kinds(tmp_path: Path) -> None:
    create(tmp_path / "t", trials=3, participants=300, seed=3)
    planted = _load(tmp_path / "t" / "truth" / "planted.yaml")["problems"]
    assert [p["kind"] for p in planted] == ["out_of_range", "out_of_range",
                                            "event_before_randomisation", "duplicate_id"]


def test_arm_imbalance_and_redelivery(topic: Path) -> None:
    planted = _load(topic / "truth" / "planted.yaml")["problems"]
    entry = next(p for p in planted if p["kind"] == "arm_imbalance")
    trial = next(t for t in _trials(topic) if t["acronym"] == entry["trial"])
    first, _ = pyreadstat.read_sav(str(topic / trial["delivery"]["file"]))
    again, _ = pyreadstat.read_sav(str(topic / trial["delivery"]["redelivery"]["file"]))
    arm = entry["source_column"]
    code = float(entry["arm_code"])
    published = entry["published_n"]
    assert (again[arm] == code).sum() == published
    assert (first[arm] == code).sum() == entry["delivered_n"] < 0.9 * published
    missing = {str(int(x)) for x in again[trial["delivery"]["id_column"]]} - \
        {str(int(x)) for x in first[trial["delivery"]["id_column"]]}
    assert missing == {q["participant_id"] for q in entry["participants"]}
    assert len(again) == trial["randomised_published"] == trial["delivery"]["redelivery"]["rows"]
    assert len(first) == trial["delivery"]["rows"] == len(again) - len(missing)


def test_missing_follow_up_is_in_one_arm_only(topic: Path) -> None:
    planted = _load(topic / "truth" / "planted.yaml")["problems"]
    entries = [p for p in planted if p["kind"] == "missing_follow_up"]
    assert entries
    truth = _truth(topic)
    for entry in entries:
        t = truth[truth["trial"] == entry["trial"]].set_index("participant_id")
        ids = [q["participant_id"] for q in entry["participants"]]
        assert len(ids) >= 0.3 * ((t["arm"] == 1) & (t["os_event"] == 0)).sum()
        assert (t.loc[ids, "arm"] == 1).all() and (t.loc[ids, "os_event"] == 0).all()
        assert all(q["delivered_value"] is None and q["response"]["value"] for q in
                   entry["participants"])


def test_reject_carries_direct_identifiers_and_normal_deliveries_none(topic: Path) -> None:
    from repository import identifiers

    data = _load(topic / "topic.yaml")
    reject = data["rejects"][0]
    frame = pd.read_csv(topic / reject["file"], dtype=str, keep_default_na=False,
                        sep=None, engine="python")
    found = {f.column: f.kind for f in identifiers.scan(frame)}
    assert found == reject["identifier_columns"]
    dob = pd.to_datetime(frame["date_of_birth"])
    assert (dob.dt.day > 1).any()
    scanned = 0
    for trial in data["trials"]:
        d = trial["delivery"]
        for file in _files(d):
            if d["format"] == "csv":
                frame = pd.read_csv(topic / file, sep=d["delimiter"], encoding=d["encoding"],
                                    dtype=str, keep_default_na=False)
            elif d["format"] == "xlsx":
                frame = pd.read_excel(topic / file, sheet_name=d["sheet"])
            elif d["format"] == "parquet":
                frame = pd.read_parquet(topic / file)
            else:
                frame = getattr(pyreadstat, {"sav": "read_sav", "dta": "read_dta",
                                             "xpt": "read_xport"}[d["format"]])(
                    str(topic / file))[0]
            assert identifiers.scan(frame) == [], (trial["acronym"], file)
            scanned += 1
    assert scanned == len(data["trials"]) + 2  # the package trial's visits and events too


# ---- result object and CLI -------------------------------------------------------------------------

def test_result_summary_and_serialisation(made: tuple[Path, ExampleTopic]) -> None:
    directory, result = made
    summary = result.summary
    assert list(summary.columns) == ["trial", "format", "file", "rows", "randomised", "arms",
                                     "problem"]
    assert summary["randomised"].sum() == 2400
    assert json.loads(json.dumps(result.to_dict()))["seed"] == SEED
    assert "<table" in result._repr_html_() and "ExampleTopic(" in repr(result)
    assert len(result.planted) == len(_load(directory / "truth" / "planted.yaml")["problems"])


def test_cli_creates_prints_a_table_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["example", "create", str(tmp_path / "e"), "--trials", "3",
                              "--participants", "150", "--seed", "5"])
    assert out.exit_code == 0, out.output
    assert re.search(r"^trial\s+format\s+file\s+N\s+rows\s+arms\s+planted", out.output, re.M)
    assert "deliveries/SIROCCO.csv" in out.output and "3 trials, 150 participants" in out.output
    refused = runner.invoke(cli, ["example", "create", str(tmp_path / "e")])
    assert refused.exit_code == 5 and "--force" in refused.output
    forced = runner.invoke(cli, ["example", "create", str(tmp_path / "e"), "--trials", "2",
                                 "--participants", "100", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    data = json.loads(forced.stdout[forced.stdout.index("{"):])
    assert [t["trial"] for t in data["trials"]] == ["MISTRAL", "SIROCCO"]
    too_few = runner.invoke(cli, ["example", "create", str(tmp_path / "f"), "--trials", "4",
                                  "--participants", "40"])
    assert too_few.exit_code == 4 and "at least 120 participants" in too_few.output
    assert not (tmp_path / "f").exists()


def test_cli_default_seed_is_the_library_default() -> None:
    from repository.cli import example_cmds
    from repository.example import DEFAULT_SEED

    assert example_cmds._DEFAULT_SEED == DEFAULT_SEED


@pytest.mark.parametrize("variable", ["weight_kg", "height_cm", "haemoglobin_gdl", "albumin_gl",
                                      "creatinine_umol", "os_time_days"])
def test_unit_conversions_round_trip_exactly_over_the_whole_range(variable: str) -> None:
    """Every harmonised value on its grid survives delivery in any unit and the codebook's
    ``round(value * multiply, round)`` back (exhaustive over the plausible range)."""
    from repository.example.codings import UNITS
    from repository.example.topic import variable as spec

    v = spec(variable)
    step = 0.1 if v.type == "decimal" else 1.0
    low, high = v.range or (0, 0)
    grid = np.round(np.arange(low, high + step / 2, step), 1 if v.type == "decimal" else 0)
    decimals = 1 if v.type == "decimal" else 0
    for unit, multiply, delivered_decimals in UNITS[variable]:
        delivered = np.round(grid / multiply, delivered_decimals)
        back = np.round(delivered * multiply, decimals)
        assert np.array_equal(back, grid), (variable, unit, grid[back != grid][:5])
