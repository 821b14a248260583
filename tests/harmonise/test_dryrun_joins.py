"""The dry run of a mapping that reads several datasets (`ipdrepo mapping check` on CHINOOK,
which delivers baseline, visits and events): it runs every table's rules and reports the joins
with the dataset's rows, from the store and from files (`--delivery NAME=FILE`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harmonise import check_mapping, load_dictionary, load_mapping
from repository.formats import read_delivery
from tests.harmonise.mapping_factory import EXAMPLE_DICTIONARY, default_example
from tests.repository.test_cli import ipdrepo

DATASETS = ("baseline", "visits", "events")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_example(tmp_path_factory.mktemp("example-joins"))


def _files(example: Path) -> dict[str, Path]:
    return {n: example / "deliveries" / "CHINOOK" / f"{n}.txt" for n in DATASETS}


def test_chinook_checks_clean_against_its_three_current_deliveries(tmp_path: Path,
                                                                  example: Path) -> None:
    r = ipdrepo("init", "ws", "--topic", "gastric-adjuvant", "--dictionary",
                str(EXAMPLE_DICTIONARY), cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    ws = tmp_path / "ws"
    assert ipdrepo("trial", "import", str(example / "topic.yaml"), cwd=ws).exit_code == 0
    files = _files(example)
    r = ipdrepo("ingest-package", "CHINOOK", *map(str, files.values()), "--id-column", "PATNO",
                "--key", "visits=VISIT", "--key", "events=EVSEQ", cwd=ws)
    assert r.exit_code == 0, r.stdout + r.stderr
    r = ipdrepo("mapping", "check", "CHINOOK", "--json", cwd=ws)
    assert r.exit_code == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] and data["warnings"] == 0 and data["rows"] == 251
    assert all(f"({n}.txt)" in data["delivery"] for n in DATASETS)
    r = ipdrepo("mapping", "check", "CHINOOK", cwd=ws)
    assert r.exit_code == 0 and "CHINOOK: the mapping fits the delivery" in r.stdout


def _bad_package(example: Path, target: Path) -> tuple[Path, dict[str, Path]]:
    """CHINOOK's files with a visit of participant 9999 (not in baseline), and a one-to-one
    dataset `centres` holding participant 3 twice (its rows 3 and 252), which the mapping reads
    the centre from."""
    target.mkdir()
    shutil.copytree(EXAMPLE_DICTIONARY, target / "dict")
    files = {n: target / p.name for n, p in _files(example).items()}
    for n, p in _files(example).items():
        shutil.copy(p, files[n])
    visits = pd.read_csv(files["visits"], sep="\t", dtype=str, keep_default_na=False)
    extra = visits.iloc[[0]].assign(PATNO="9999")
    pd.concat([visits, extra]).to_csv(files["visits"], sep="\t", index=False)
    base = pd.read_csv(files["baseline"], sep="\t", dtype=str, keep_default_na=False)
    centres = base[["PATNO", "CENTRE"]]
    files["centres"] = target / "centres.txt"
    pd.concat([centres, centres.iloc[[2]]]).to_csv(files["centres"], sep="\t", index=False)
    m = target / "dict" / "mappings" / "1.0.0" / "CHINOOK.yaml"
    text = m.read_text(encoding="utf-8")
    old = "centre: {rule: direct, column: CENTRE, comment: zero-padded centre number}"
    assert old in text
    text = text.replace(old, "centre: {rule: direct, column: CENTRE, dataset: centres}")
    text = text.replace("datasets:\n", "datasets:\n  centres: {join: one-to-one}\n", 1)
    m.write_text(text, encoding="utf-8")
    return m, files


def test_join_problems_are_reported_with_their_rows(tmp_path: Path, example: Path) -> None:
    m, files = _bad_package(example, tmp_path / "bad")
    lines = m.read_text(encoding="utf-8").splitlines()
    args = ["mapping", "check", "CHINOOK", "--mapping", str(m), "--dictionary",
            str(tmp_path / "bad" / "dict"), "--delivery", str(files["baseline"]),
            *[a for n in ("visits", "events", "centres") for a in ("--delivery",
                                                                    f"{n}={files[n]}")]]
    r = ipdrepo(*args, "--json", cwd=tmp_path)
    assert r.exit_code == 4, r.stdout + r.stderr
    data = json.loads(r.stdout)
    by_kind = {p["kind"]: p for p in data["problems"]}
    dup = by_kind["duplicate_key"]
    assert [p["kind"] for p in data["problems"] if p["variable"] == "centre"] == []  # once
    assert dup["severity"] == "error" and dup["dataset"] == "centres"
    assert dup["rows"] == [3, 252] and dup["values"] == [{"value": "3", "rows": 2}]
    assert dup["key"] == "datasets.centres.join" and "centres:" in lines[dup["line"] - 1]
    orphan = by_kind["unknown_participants"]
    assert orphan["dataset"] == "visits" and orphan["rows"] == [2158]
    assert orphan["values"] == [{"value": "9999", "rows": 1}] and "9999" in orphan["message"]
    assert "visits:" in lines[orphan["line"] - 1]
    r = ipdrepo(*args, cwd=tmp_path)
    assert r.exit_code == 4 and "does NOT fit" in r.stdout and "rows 3, 252" in r.stdout


def test_every_table_is_checked_and_a_missing_dataset_is_named(tmp_path: Path,
                                                              example: Path) -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    m = load_mapping(EXAMPLE_DICTIONARY / "mappings" / "1.0.0" / "CHINOOK.yaml", d)
    files = _files(example)
    options = dict(m.source.read_options)
    raw = {n: read_delivery(p, options=options, id_column="PATNO").frame
           for n, p in files.items()}
    visits = pd.concat([raw["visits"], raw["visits"].iloc[[4]]], ignore_index=True)
    events = raw["events"].rename(columns={"EVDATE": "EVDAT"})
    check = check_mapping(m, d, raw["baseline"], datasets={"visits": visits, "events": events})
    assert not check.ok
    repeated = [p for p in check.problems if p.kind == "repeated_key"]
    assert [(p.dataset, p.rows, p.key) for p in repeated] == [
        ("visits", (5, len(visits)), "tables.visits.variables.visit_num")]
    missing = [p for p in check.errors if p.kind == "missing_column"]
    assert [(p.dataset, p.key) for p in missing] == [
        ("events", "tables.events.variables.event_date.column")]
    assert "did you mean 'EVDAT'" in missing[0].message and missing[0].line
    check = check_mapping(m, d, raw["baseline"], datasets={"visits": raw["visits"]})
    (gone,) = check.errors
    assert gone.kind == "missing_dataset" and gone.key == "datasets.events"
    assert "no dataset 'events'" in gone.message


def test_the_delivery_option_needs_the_base_dataset_once(tmp_path: Path, example: Path) -> None:
    files = _files(example)
    common = ["mapping", "check", "CHINOOK", "--dictionary", str(EXAMPLE_DICTIONARY)]
    r = ipdrepo(*common, "--delivery", f"visits={files['visits']}", cwd=tmp_path)
    assert r.exit_code == 2 and "the base dataset 'baseline'" in r.stderr
    r = ipdrepo(*common, "--delivery", str(files["baseline"]), "--delivery",
                f"baseline={files['baseline']}", cwd=tmp_path)
    assert r.exit_code == 2 and "twice" in r.stderr


def test_harmonising_reports_a_one_to_one_duplicate_instead_of_guessing(tmp_path: Path,
                                                                       example: Path) -> None:
    """What the dry run calls an error, harmonising reports on the participant's row: the
    centre read from a one-to-one dataset holding participant 3 twice is left empty, with a
    ``duplicate_key`` problem; every other participant gets theirs."""
    from harmonise.mapping.tables import run_relational

    m, files = _bad_package(example, tmp_path / "bad")
    dictionary = load_dictionary(tmp_path / "bad" / "dict")
    mapping = load_mapping(m, dictionary)
    frames = {n: read_delivery(p, format="csv", options={"delimiter": "\t"}).frame
              for n, p in files.items()}
    run = run_relational(frames, mapping, dictionary)
    issues = [i for i in run.participants.issues["centre"] if i.reason == "duplicate_key"]
    assert len(issues) == 1 and list(np.flatnonzero(issues[0].mask)) == [2]
    centre = run.participants.values["centre"]
    assert pd.isna(centre.iloc[2]) and centre.drop(index=2).notna().all()
