"""The release bytes: deterministic parquet and manifest from ReleaseInputs (no git, no DVC)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from repository.errors import ReleaseError
from tests.versions.factory import make_inputs
from versions.dataset import Withdrawn, parquet_metadata, read_parquet_bytes
from versions.inputs import ReleaseInputs
from versions.manifest import VARYING_FIELDS, comparable, differences
from versions.releases import build_release

PSEUDO = {"A": {"1": "PA1", "2": "PA2", "3": "PA3"}, "B": {"1": "PB1", "2": "PB2"}}


@pytest.fixture
def pseudonyms(truth: pd.DataFrame) -> dict[str, dict[str, str]]:
    return {t: {str(i): f"P{t[:3]}{i}" for i in rows["participant_id"]}
            for t, rows in truth.groupby("trial")}


def test_same_inputs_give_identical_bytes_and_manifest(truth, pseudonyms) -> None:
    a = build_release(make_inputs(truth, pseudonyms), version="1.0", created_by="ann",
                      created_at=datetime(2024, 1, 1, tzinfo=UTC))
    # the same content, but rows shuffled, index changed, built later by someone else
    shuffled = make_inputs(truth, pseudonyms,
                           edit=lambda f: f.sample(frac=1.0, random_state=3).set_index(
                               pd.RangeIndex(1000, 1000 + len(f))))
    b = build_release(shuffled, version="1.0", created_by="bob",
                      created_at=datetime(2025, 6, 1, 12, 30, tzinfo=UTC), message="again")
    assert a.data == b.data
    assert comparable(a.manifest) == comparable(b.manifest)
    assert a.manifest["created"] != b.manifest["created"]
    assert differences(a.manifest, b.manifest) == []
    assert VARYING_FIELDS == ("created",)
    assert a.manifest["data"]["sha256"] == b.manifest["data"]["sha256"]


def test_data_file_order_columns_and_dtypes(truth, pseudonyms) -> None:
    inputs = make_inputs(truth, pseudonyms)
    built = build_release(inputs, version="1.0", created_by="t")
    frame = read_parquet_bytes(built.data)
    assert list(frame.columns) == list(inputs.columns)
    assert list(frame.columns[:2]) == ["trial", "participant_id"]
    keys = list(zip(frame["trial"], frame["participant_id"]))
    assert keys == sorted(keys)
    # dtypes round trip as the dictionary gives them
    source = inputs.frame.set_index(["trial", "participant_id"]).sort_index()
    back = frame.set_index(["trial", "participant_id"]).sort_index()
    pd.testing.assert_frame_equal(back, source.astype(back.dtypes.to_dict()), check_dtype=True)
    assert str(frame["age"].dtype) == "Int64"
    assert str(frame["rand_date"].dtype).startswith("datetime64")
    assert str(frame["cea_elevated"].dtype) == "boolean"


def test_no_timestamps_in_the_data_file(truth, pseudonyms) -> None:
    built = build_release(make_inputs(truth, pseudonyms), version="2.0", created_by="t")
    meta = pq.read_metadata(io.BytesIO(built.data))
    keys = set((meta.metadata or {}).keys())
    assert keys == {b"pandas", b"ARROW:schema", b"ipdrepo.release"}
    assert parquet_metadata(built.data) == {"release": {
        "topic": "gastric-adjuvant", "version": "2.0", "dictionary_version": "1.0"}}
    text = b"".join((meta.metadata or {}).values())
    assert str(datetime.now().year).encode() not in text.replace(b"pandas_version", b"")


def test_manifest_content(truth, pseudonyms) -> None:
    corr = {"id": 4, "trial": "BOREAS", "participant": "x", "variable": "age",
            "source_column": "AGE", "old_value": "7", "new_value": "70", "query_id": 2,
            "reason": "typo", "created_by": "c", "created_at": "2024-01-01T00:00:00"}
    inputs = make_inputs(truth, pseudonyms, corrections=[corr], open_queries={"BOREAS": 2})
    m = build_release(inputs, version="1.0", created_by="ann", message="first").manifest
    assert m["tag"] == "gastric-adjuvant/v1.0" and m["path"] == "gastric-adjuvant/1.0"
    assert m["dictionary"]["version"] == "1.0" and len(m["dictionary"]["sha256"]) == 64
    assert [d["trial"] for d in m["deliveries"]] == sorted(pseudonyms)
    assert all(len(x["sha256"]) == 64 for x in m["deliveries"] + m["mappings"])
    assert m["format"] == "ipdrepo-release-manifest/2"
    assert m["corrections"]["applied"] == [{"id": 4, "query_id": 2, "trial": "BOREAS",
                                            "participant": "x", "variables": ["age"]}]
    assert m["corrections"]["total"] == 1
    assert m["corrections"]["by_trial_variable"] == [
        {"trial": "BOREAS", "variable": "age", "corrections": 1}]
    text = json.dumps(m)
    assert "AGE" not in text and '"70"' not in text and "typo" not in text
    assert m["checks"]["open_queries"] == {"BOREAS": 2}
    expected = truth.groupby("trial").size().to_dict()
    assert {r["trial"]: r["rows"] for r in m["counts"]["by_trial"]} == expected
    by_arm = truth.groupby(["trial", "arm"]).size()
    assert {(r["trial"], r["arm"]): r["rows"] for r in m["counts"]["by_trial_arm"]} == \
        {(t, str(a)): int(n) for (t, a), n in by_arm.items()}
    assert m["counts"]["arm_variable"] == "arm"
    assert m["software"]["pyarrow"] == pq.__dict__.get("__version__", m["software"]["pyarrow"])
    assert m["created"]["by"] == "ann" and m["created"]["message"] == "first"
    assert m["data"]["rows"] == len(truth)
    assert m["withdrawals"] == {"applied": [], "by_trial": {}, "records_removed": {},
                                "total": 0}


def test_withdrawn_participants_are_left_out_and_listed(truth, pseudonyms) -> None:
    trial = sorted(pseudonyms)[0]
    gone = list(pseudonyms[trial].values())[:2]
    withdrawn = [Withdrawn(trial, p, "2024-02-01") for p in gone]
    withdrawn.append(Withdrawn(trial, "PNOTDELIVERED", "2024-02-02"))  # not in the data
    built = build_release(make_inputs(truth, pseudonyms), version="1.1", withdrawn=withdrawn,
                          created_by="t")
    frame = read_parquet_bytes(built.data)
    assert len(frame) == len(truth) - 2
    assert not frame["participant_id"].isin(gone).any()
    w = built.manifest["withdrawals"]
    assert w["total"] == 3 and w["by_trial"] == {trial: 3}
    assert w["records_removed"] == {trial: 2}
    assert {x["participant"] for x in w["applied"]} == {*gone, "PNOTDELIVERED"}


def test_bad_inputs_list_every_problem(truth, pseudonyms) -> None:
    def damage(f: pd.DataFrame) -> pd.DataFrame:
        f = f.drop(columns=["age"]).assign(extra_col=1)
        f.loc[f.index[3], "participant_id"] = f.loc[f.index[4], "participant_id"]
        f.loc[f.index[3], "trial"] = f.loc[f.index[4], "trial"]
        f.loc[f.index[7], "participant_id"] = pd.NA
        return f

    inputs = make_inputs(truth, pseudonyms, edit=damage)
    with pytest.raises(ReleaseError) as err:
        build_release(inputs, version="1.0", created_by="t")
    text = err.value.message
    assert "lacks dictionary variables age" in text
    assert "not dictionary variables: extra_col" in text
    assert "appear more than once" in text
    assert "1 rows have a blank participant_id (frame rows 8)" in text
    assert len(err.value.problems) == 4


@pytest.mark.parametrize("version", ["", "v", "1..2", "latest", "1.0/../x", "1 0"])
def test_bad_version_strings_are_refused(truth, pseudonyms, version) -> None:
    with pytest.raises(ReleaseError, match="not valid"):
        build_release(make_inputs(truth, pseudonyms), version=version, created_by="t")


def test_inputs_round_trip_through_a_directory(truth, pseudonyms, tmp_path: Path) -> None:
    inputs = make_inputs(truth, pseudonyms)
    inputs.write(tmp_path / "in")
    again = ReleaseInputs.read(tmp_path / "in")
    assert again.metadata() == inputs.metadata()
    a = build_release(inputs, version="1.0", created_by="t")
    b = build_release(again, version="1.0", created_by="t")
    assert a.data == b.data
    with pytest.raises(ReleaseError, match="release-inputs.json is missing"):
        ReleaseInputs.read(tmp_path / "nowhere")
