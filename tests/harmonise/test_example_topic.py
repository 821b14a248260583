"""The example topic end to end on the spec side: the committed mappings are exactly what the
generator's codebooks give, every delivery (eight formats) passes the dry run and harmonises to
the generator's truth except where a problem was planted, and the dictionary's rules hold on the
truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from harmonise import apply_mapping, check_mapping, load_dictionary, load_mapping
from harmonise.dictionary.spec import Dictionary
from harmonise.expressions.evaluation import FrameContext, evaluate
from harmonise.mapping.spec import Mapping
from repository.example.mappings import mapping_from_codebook, mapping_yaml
from repository.formats import read_delivery
from tests.harmonise.mapping_factory import EXAMPLE_DICTIONARY, default_example

COMMITTED = EXAMPLE_DICTIONARY / "mappings" / "1.0.0"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_example(tmp_path_factory.mktemp("example-topic"))


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary(EXAMPLE_DICTIONARY)


def _trials(example: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((example / "topic.yaml").read_text(encoding="utf-8"))["trials"]


def test_committed_mappings_are_regenerated_byte_for_byte(example: Path) -> None:
    codebooks = sorted((example / "codebooks").glob("*.yaml"))
    assert [p.stem for p in codebooks] == sorted(p.stem for p in COMMITTED.glob("*.yaml"))
    for cb in codebooks:
        codebook = yaml.safe_load(cb.read_text(encoding="utf-8"))
        text = mapping_yaml(mapping_from_codebook(codebook),
                            codebook_file=f"codebooks/{cb.name}")
        committed = (COMMITTED / f"{cb.stem}.yaml").read_text(encoding="utf-8")
        assert text == committed, f"{cb.stem}: regenerate with repository.example.mappings"


def _compare(h: Any, truth: pd.DataFrame, row_column: str, d: Dictionary) -> set[int]:
    """Delivery rows where the harmonised data differ from the truth."""
    tt = truth.dropna(subset=[row_column]).copy()
    rows = tt[row_column].astype(int).to_numpy()
    data = h.data.set_index("_row")
    bad: set[int] = set()
    for v in d.variables:
        if v.name == "trial" or v.table is not None:
            continue
        got = data.loc[rows, v.name].reset_index(drop=True)
        want = tt[v.name].reset_index(drop=True)
        if v.type in ("date", "datetime"):
            want = pd.to_datetime(want)
        elif v.dtype == "Int64":
            want = want.astype("Float64").astype("Int64")
        else:
            want = want.astype(v.dtype)
        same = (got == want).fillna(False) | (got.isna() & want.isna())
        bad |= set(rows[~same.to_numpy(dtype=bool)].tolist())
    return bad


def _read(example: Path, entry: dict[str, Any], m: Mapping) -> tuple[Any, dict[str, Any]]:
    """The delivery's base dataset and the frames of its other datasets (a package)."""
    datasets = entry["delivery"].get("datasets") or [entry["delivery"]]
    options = dict(m.source.read_options)
    raw = read_delivery(example / datasets[0]["file"], options=options, id_column=m.id_column)
    others = {d["name"]: read_delivery(example / d["file"], options=options,
                                       id_column=m.id_column).frame for d in datasets[1:]}
    return raw, others


def _same_long_tables(h: Any, example: Path, trial: str) -> None:
    """The long tables made from the package equal truth/<table>.parquet row for row."""
    for name, key in (("visits", "visit_num"), ("events", "event_seq")):
        truth = pd.read_parquet(example / "truth" / f"{name}.parquet")
        truth = truth[truth["trial"] == trial]
        got = h.tables[name].data
        assert len(got) == len(truth) > 0, name
        merged = got.merge(truth, on=["participant_id", key], suffixes=("", "_true"))
        assert len(merged) == len(truth), name
        for column in truth.columns.drop(["trial", "participant_id", key]):
            a, b = merged[column], merged[f"{column}_true"]
            if column.endswith("_date"):
                b = pd.to_datetime(b)
            same = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
            assert same.all(), (name, column, merged.loc[~same, [column, f"{column}_true"]])


def test_every_delivery_harmonises_to_the_truth_except_planted(example: Path,
                                                               dictionary: Dictionary) -> None:
    truth = pd.read_parquet(example / "truth" / "participants.parquet")
    planted = yaml.safe_load((example / "truth" / "planted.yaml").read_text(encoding="utf-8"))
    planted_rows: dict[str, set[int]] = {}
    for problem in planted["problems"]:
        for p in problem["participants"]:
            if p.get("delivery_row") is not None:
                planted_rows.setdefault(problem["trial"], set()).add(int(p["delivery_row"]))
    formats = set()
    for entry in _trials(example):
        trial = entry["acronym"]
        m = load_mapping(COMMITTED / f"{trial}.yaml", dictionary)
        raw, others = _read(example, entry, m)
        formats.add(raw.format)
        check = check_mapping(m, dictionary, raw, datasets=others)  # CHINOOK: every dataset
        assert check.ok and not check.warnings, check.summary.to_string()
        h = apply_mapping(raw, m, dictionary, datasets=others or None)
        assert h.problems.empty, h.problems.to_string()
        if others:
            _same_long_tables(h, example, trial)
        differ = _compare(h, truth[truth["trial"] == trial], "delivery_row", dictionary)
        assert differ <= planted_rows.get(trial, set()), (trial, sorted(differ))
        assert h.data["trial"].eq(trial).all()
    assert formats == {"csv", "xlsx", "sav", "dta", "xpt", "parquet"}


def test_the_redelivery_harmonises_to_the_truth(example: Path, dictionary: Dictionary) -> None:
    truth = pd.read_parquet(example / "truth" / "participants.parquet")
    (entry,) = [e for e in _trials(example) if e["delivery"].get("redelivery")]
    trial = entry["acronym"]
    m = load_mapping(COMMITTED / f"{trial}.yaml", dictionary)
    raw = read_delivery(example / entry["delivery"]["redelivery"]["file"])
    h = apply_mapping(raw, m, dictionary)
    assert h.problems.empty
    tt = truth[truth["trial"] == trial]
    assert len(h.data) == len(tt)
    assert _compare(h, tt, "redelivery_row", dictionary) == set()


def test_dictionary_rules_and_ranges_hold_on_the_truth(example: Path,
                                                       dictionary: Dictionary) -> None:
    """The dictionary agrees with the generator: apart from the planted true-but-odd value,
    no true value breaks a range or a cross-variable rule."""
    truth = pd.read_parquet(example / "truth" / "participants.parquet").reset_index(drop=True)
    frame = pd.DataFrame(index=truth.index)
    for v in dictionary.variables:
        if v.table is not None:
            continue
        s = truth[v.name]
        if v.type in ("date", "datetime"):
            frame[v.name] = pd.to_datetime(s)
        elif v.dtype == "Int64":
            frame[v.name] = s.astype("Float64").astype("Int64")
        else:
            frame[v.name] = s.astype(v.dtype)
    ctx = FrameContext(frame)
    flagged: dict[str, list[str]] = {}
    for rule in dictionary.rules:
        value, issues = evaluate(rule.expression, ctx)
        assert not issues
        ok = pd.Series(value).astype("boolean")
        tested = ok.notna()
        if rule.when is not None:
            when, _ = evaluate(rule.when, ctx)
            tested &= pd.Series(when).astype("boolean").fillna(False).astype(bool)
        failed = tested & ~ok.fillna(True).astype(bool)
        assert tested.sum() > 0, f"rule {rule.id} tests nobody"
        if failed.any():
            flagged[rule.id] = truth.loc[failed.to_numpy(), "participant_id"].tolist()
    for v in dictionary.variables:
        if v.range is None or v.type not in ("integer", "decimal") or v.table is not None:
            continue
        s = frame[v.name]
        out = ((s < v.range.min) | (s > v.range.max)).fillna(False).to_numpy(dtype=bool)
        if out.any():
            flagged[f"range:{v.name}"] = truth.loc[out, "participant_id"].tolist()
    planted = yaml.safe_load((example / "truth" / "planted.yaml").read_text(encoding="utf-8"))
    (odd,) = [p for p in planted["problems"] if p["kind"] == "confirmed_correct"]
    odd_id = odd["participants"][0]["participant_id"]
    assert set(flagged) <= {"range:weight_kg", "range:bmi"}, flagged
    assert all(ids == [odd_id] for ids in flagged.values()), flagged


@pytest.mark.slow
def test_other_seeds_and_sizes(tmp_path: Path, dictionary: Dictionary) -> None:
    """Mappings generated from the codebooks of another example also reproduce its truth."""
    from repository.example import create

    create(tmp_path / "ex", trials=12, participants=2400, seed=7)
    truth = pd.read_parquet(tmp_path / "ex" / "truth" / "participants.parquet")
    planted = yaml.safe_load((tmp_path / "ex" / "truth" / "planted.yaml").read_text())
    planted_rows: dict[str, set[int]] = {}
    for problem in planted["problems"]:
        for p in problem["participants"]:
            if p.get("delivery_row") is not None:
                planted_rows.setdefault(problem["trial"], set()).add(int(p["delivery_row"]))
    for entry in _trials(tmp_path / "ex"):
        trial = entry["acronym"]
        codebook = yaml.safe_load((tmp_path / "ex" / "codebooks" / f"{trial}.yaml").read_text())
        m = Mapping.from_dict(mapping_from_codebook(codebook), dictionary=dictionary)
        raw, others = _read(tmp_path / "ex", entry, m)
        h = apply_mapping(raw, m, dictionary, datasets=others or None)
        assert h.problems.empty, (trial, h.problems.head().to_string())
        differ = _compare(h, truth[truth["trial"] == trial], "delivery_row", dictionary)
        assert differ <= planted_rows.get(trial, set()), (trial, sorted(differ))
