"""Exports of a release's tables (issue 15): Frictionless Data Package, Stata, SPSS and
CDISC-flavoured transport files with define-like metadata keep every table, the variable labels
and the value labels, and read back to the same values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from harmonise.dictionary.spec import load_dictionary
from repository.errors import ReleaseError
from versions.exports import EXPORT_FORMATS, export_tables

ROOT = Path(__file__).resolve().parents[2]
DICTIONARY = load_dictionary(ROOT / "tests" / "cdisc" / "topic")


def _tables() -> dict[str, pd.DataFrame]:
    participants = pd.DataFrame({
        "participant_id": pd.array(["PA", "PB", "PC"], dtype="string"),
        "trial": pd.array(["T1"] * 3, dtype="string"),
        "arm": pd.array([0, 54, None], dtype="Int64"),
        "age": pd.array([71, 80, 66], dtype="Int64"),
        "sex": pd.array([1, 2, 2], dtype="Int64"),
        "ref_start": pd.to_datetime(["2013-01-02", "2013-02-03", None]),
        "ttde_days": pd.array([12, 180, None], dtype="Int64"),
        "ttde_event": pd.array([1, 0, None], dtype="Int64"),
    })
    events = pd.DataFrame({
        "participant_id": pd.array(["PA", "PA", "PB"], dtype="string"),
        "trial": pd.array(["T1"] * 3, dtype="string"),
        "ae_seq": pd.array([1, 2, 1], dtype="Int64"),
        "ae_term": pd.array(["ERYTHEMA", "APPLICATION SITE PRURITUS", None], dtype="string"),
        "ae_start": pd.to_datetime(["2013-01-13", "2013-02-01", "2013-03-01"]),
        "ae_severity": pd.array([1, 3, 2], dtype="Int64"),
    })
    return {"participants": participants, "adverse_events": events}


@pytest.mark.parametrize("fmt", ["stata", "spss"])
def test_stata_and_spss_keep_labels_and_values(tmp_path: Path, fmt: str) -> None:
    result = export_tables(_tables(), DICTIONARY, tmp_path, fmt=fmt)
    assert set(result.files) == {"participants", "adverse_events"}
    reader = pyreadstat.read_dta if fmt == "stata" else pyreadstat.read_sav
    frame, meta = reader(str(result.files["participants"]))
    labels = dict(zip(meta.column_names, meta.column_labels))
    assert labels["arm"] == "Randomised arm (dose of xanomeline, mg/day)"
    assert meta.variable_value_labels["arm"] == {0: "Placebo", 54: "Xanomeline low dose",
                                                 81: "Xanomeline high dose"}
    assert meta.variable_value_labels["ttde_event"] == {0: "Censored", 1: "Event"}
    assert frame["arm"].tolist()[:2] == [0, 54] and pd.isna(frame["arm"].iloc[2])
    assert str(frame["ref_start"].iloc[0])[:10] == "2013-01-02"
    events, emeta = reader(str(result.files["adverse_events"]))
    assert len(events) == 3 and events["ae_term"].tolist()[1] == "APPLICATION SITE PRURITUS"
    assert emeta.variable_value_labels["ae_severity"][3] == "Severe"
    assert dict(zip(emeta.column_names, emeta.column_labels))["ae_seq"] == "AE sequence number"


def test_frictionless_package_has_every_table_and_its_schema(tmp_path: Path) -> None:
    result = export_tables(_tables(), DICTIONARY, tmp_path, fmt="frictionless")
    package = json.loads(result.metadata.read_text())
    resources = {r["name"]: r for r in package["resources"]}
    assert set(resources) == {"participants", "adverse-events"}
    events = resources["adverse-events"]
    assert events["schema"]["primaryKey"] == ["trial", "participant_id", "ae_seq"]
    fields = {f["name"]: f for f in events["schema"]["fields"]}
    assert fields["ae_severity"]["categories"][2] == {"value": 3, "label": "Severe"}
    back = pd.read_csv(tmp_path / events["path"])
    assert back["ae_seq"].tolist() == [1, 2, 1] and back["ae_start"][0] == "2013-01-13"


def test_cdisc_transport_files_with_define_like_metadata(tmp_path: Path) -> None:
    result = export_tables(_tables(), DICTIONARY, tmp_path, fmt="cdisc")
    assert result.files["adverse_events"].name == "ADVERSE_EVENTS.xpt"
    frame, meta = pyreadstat.read_xport(str(result.files["participants"]))
    assert dict(zip(meta.column_names, meta.column_labels))["ttde_days"] == \
        "Time to first dermatologic event"
    assert frame["ttde_days"].tolist()[:2] == [12, 180]
    define = json.loads(result.metadata.read_text())
    ds = {d["name"]: d for d in define["datasets"]}
    assert ds["ADVERSE_EVENTS"]["keys"] == ["trial", "participant_id", "ae_seq"]
    assert ds["ADVERSE_EVENTS"]["records"] == 3
    arm = next(v for v in ds["PARTICIPANTS"]["variables"] if v["name"] == "arm")
    assert arm["codelist"][1] == {"coded_value": 54, "decode": "Xanomeline low dose"}
    age = next(v for v in ds["PARTICIPANTS"]["variables"] if v["name"] == "age")
    assert age["unit"] == "years" and age["data_type"] == "integer"


def test_an_export_never_overwrites_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    export_tables(_tables(), DICTIONARY, tmp_path, fmt="stata")
    with pytest.raises(ReleaseError, match="already holds participants.dta"):
        export_tables(_tables(), DICTIONARY, tmp_path, fmt="stata")
    with pytest.raises(ReleaseError, match="unknown export format"):
        export_tables(_tables(), DICTIONARY, tmp_path, fmt="xls")
    assert set(EXPORT_FORMATS) == {"frictionless", "stata", "spss", "cdisc"}
