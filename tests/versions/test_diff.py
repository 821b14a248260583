"""Release diffs: rows added/removed per trial, cell changes with their cause, dictionary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.versions.conftest import Env, ipdrepo
from versions.diff import diff_frames, diff_releases
from versions.releases import create_release
from versions.withdrawals import withdraw


def _frame(rows: list[tuple]) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=["trial", "participant_id", "age", "sex", "weight",
                                    "rand_date"])
    return f.astype({"trial": "string", "participant_id": "string", "age": "Int64",
                     "sex": "Int64", "weight": "Float64", "rand_date": "datetime64[ns]"})


OLD = _frame([
    ("A", "p1", 60, 1, 70.0, "2004-01-05"),
    ("A", "p2", 55, 2, 62.5, "2004-02-02"),
    ("A", "p3", 70, 1, None, "2004-03-01"),
    ("B", "q1", 66, 1, None, "2005-01-10"),
    ("B", "q2", 49, 2, 80.0, "2005-02-14"),
    ("C", "r1", 58, 1, 75.0, "2006-06-06"),
    ("C", "r2", 61, 2, None, "2006-07-07"),
])
NEW = _frame([
    ("A", "p1", 61, 1, 70.0, "2004-01-05"),      # correction 5 (query 9)
    ("A", "p2", 55, 2, 63.0, "2004-02-02"),      # new delivery of A
    ("B", "q1", 66, 2, None, "2005-01-10"),      # correction 3 withdrawn
    ("B", "q2", 49, 2, 80.0, "2005-02-15"),      # mapping of B changed
    ("B", "q3", 52, 1, 77.0, "2005-03-01"),      # added
    ("C", "r1", 59, 1, 75.0, "2006-06-06"),      # unexplained
    ("C", "r2", 61, 2, 81.0, "2006-07-07"),      # missing -> value, unexplained
])


def _manifest(version: str, *, deliveries: dict, mappings: dict, corrections: list,
              withdrawn: list, variables: list, changelog: list) -> dict:
    return {"topic": "t", "version": version,
            "deliveries": [{"trial": t, "sha256": s} for t, s in deliveries.items()],
            "mappings": [{"trial": t, "sha256": s} for t, s in mappings.items()],
            "corrections": corrections,
            "withdrawals": {"applied": [{"trial": t, "participant": p} for t, p in withdrawn]},
            "dictionary": {"version": version, "sha256": version * 3,
                           "variables": variables, "changelog": changelog}}


VARS = [{"name": "trial", "type": "text"}, {"name": "participant_id", "type": "id"},
        {"name": "age", "type": "integer", "label": "Age"},
        {"name": "sex", "type": "categorical"}, {"name": "weight", "type": "decimal"},
        {"name": "rand_date", "type": "date"}, {"name": "smoking", "type": "text"}]
NEW_VARS = [dict(v, label="Age at randomisation") if v["name"] == "age" else v
            for v in VARS if v["name"] != "smoking"] + [{"name": "height", "type": "integer"}]
CORR3 = {"id": 3, "trial": "B", "participant": "q1", "variable": "sex", "query_id": 1}
CORR5 = {"id": 5, "trial": "A", "participant": "p1", "variable": "age", "query_id": 9}
OLD_M = _manifest("1.0", deliveries={"A": "a1", "B": "b1", "C": "c1"},
                  mappings={"A": "ma", "B": "mb", "C": "mc"}, corrections=[CORR3],
                  withdrawn=[], variables=VARS,
                  changelog=[{"version": "1.0", "date": "2024-01-01", "changes": ["first"]}])
NEW_M = _manifest("1.1", deliveries={"A": "a2", "B": "b1", "C": "c1"},
                  mappings={"A": "ma", "B": "mb2", "C": "mc"}, corrections=[CORR5],
                  withdrawn=[("A", "p3")], variables=NEW_VARS,
                  changelog=[{"version": "1.0", "date": "2024-01-01", "changes": ["first"]},
                             {"version": "1.1", "date": "2024-06-01",
                              "changes": ["height added", "smoking dropped"]}])


def test_diff_of_a_known_case() -> None:
    d = diff_frames(OLD, NEW, old_manifest=OLD_M, new_manifest=NEW_M)
    assert d.rows.to_dict(orient="records") == [
        {"trial": "A", "rows_old": 3, "rows_new": 2, "added": 0, "removed": 1,
         "changed_rows": 2, "changed_cells": 2},
        {"trial": "B", "rows_old": 2, "rows_new": 3, "added": 1, "removed": 0,
         "changed_rows": 2, "changed_cells": 2},
        {"trial": "C", "rows_old": 2, "rows_new": 2, "added": 0, "removed": 0,
         "changed_rows": 2, "changed_cells": 2},
    ]
    assert d.added.to_dict(orient="records") == [{"trial": "B", "participant": "q3"}]
    assert d.removed.to_dict(orient="records") == [
        {"trial": "A", "participant": "p3", "reason": "withdrawn"}]
    cells = d.to_dict()["cells"]
    assert cells == [
        {"trial": "A", "participant": "p1", "variable": "age", "old": 60, "new": 61,
         "cause": "correction", "correction": 5, "query": 9},
        {"trial": "A", "participant": "p2", "variable": "weight", "old": 62.5, "new": 63.0,
         "cause": "new delivery", "correction": None, "query": None},
        {"trial": "B", "participant": "q1", "variable": "sex", "old": 1, "new": 2,
         "cause": "correction withdrawn", "correction": 3, "query": 1},
        {"trial": "B", "participant": "q2", "variable": "rand_date", "old": "2005-02-14",
         "new": "2005-02-15", "cause": "mapping changed", "correction": None, "query": None},
        {"trial": "C", "participant": "r1", "variable": "age", "old": 58, "new": 59,
         "cause": "unexplained", "correction": None, "query": None},
        {"trial": "C", "participant": "r2", "variable": "weight", "old": None, "new": 81.0,
         "cause": "unexplained", "correction": None, "query": None},
    ]
    dic = d.dictionary
    assert dic["added"] == ["height"] and dic["removed"] == ["smoking"]
    assert dic["changed"] == [{"variable": "age", "fields": {
        "label": {"old": "Age", "new": "Age at randomisation"}}}]
    assert (dic["old_version"], dic["new_version"]) == ("1.0", "1.1")
    assert [e["version"] for e in dic["changelog"]] == ["1.1"]
    assert d.to_dict()["causes"] == {"correction": 1, "correction withdrawn": 1,
                                     "mapping changed": 1, "new delivery": 1,
                                     "unexplained": 2}
    json.dumps(d.to_dict())  # JSON-ready
    page = d.to_html()
    assert page.startswith("<!DOCTYPE html>") and "correction withdrawn" in page
    assert "height" in page and "Age at randomisation" in page


def test_identical_releases_have_no_differences() -> None:
    d = diff_frames(OLD, OLD.sample(frac=1, random_state=1), old_manifest=OLD_M,
                    new_manifest=OLD_M)
    assert d.unchanged and d.cells.empty
    assert d.rows["changed_cells"].sum() == 0


def test_a_type_change_is_compared_by_value() -> None:
    new = OLD.astype({"age": "Float64"})
    new.loc[0, "age"] = 60.5
    d = diff_frames(OLD, new, old_manifest=OLD_M, new_manifest=OLD_M)
    assert d.cells[["participant", "variable"]].values.tolist() == [["p1", "age"]]


def test_diff_between_stored_releases_and_cli(env: Env, tmp_path: Path) -> None:
    trial = env.trials[0]
    changed, gone = env.participant(trial, 2), env.participant(trial, 3)
    corr = {"id": 11, "trial": trial, "participant": changed, "variable": "height_cm",
            "source_column": "HT", "old_value": "x", "new_value": "y", "query_id": 4,
            "reason": "unit", "created_by": "c", "created_at": "2024-05-01"}

    def edit(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        f.loc[f["participant_id"] == changed, "height_cm"] = 150
        return f

    create_release(env.store, env.inputs(), version="1.0")
    withdraw(env.store, trial, gone, reason="consent withdrawn")
    create_release(env.store, env.inputs(edit=edit, corrections=[corr], version="1.1",
                                         changelog=[{"version": "1.1", "date": "2024-06-01",
                                                     "changes": ["corrected heights"]}]),
                   version="1.1")
    d = diff_releases(env.store, "1.0", "1.1")
    assert d.removed.to_dict(orient="records") == [
        {"trial": trial, "participant": gone, "reason": "withdrawn"}]
    assert d.cells[["participant", "variable", "cause", "correction", "query"]].values.tolist() \
        == [[changed, "height_cm", "correction", 11, 4]]
    assert d.dictionary["new_version"] == "1.1"

    html_file = tmp_path / "diff.html"
    result = ipdrepo(env, "release", "diff", "1.0", "1.1", "--json", "--html", str(html_file))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cells_total"] == 1 and data["cells"][0]["query"] == 4
    assert html_file.read_text().count("<table") >= 3
    result = ipdrepo(env, "release", "diff", "1.0", "1.1")
    assert result.exit_code == 0
    assert "Rows removed" in result.output and "correction" in result.output
    assert "changelog 1.1: corrected heights" in result.output


def test_diff_with_an_unknown_release(env: Env) -> None:
    from repository.errors import NotFound

    create_release(env.store, env.inputs(), version="1.0")
    with pytest.raises(NotFound, match=r"no release 1\.2 \(released: 1\.0\)"):
        diff_releases(env.store, "1.0", "1.2")


def test_format_2_corrections_explain_every_variable_they_name() -> None:
    """Manifests list corrections without raw values (format 2); a correction of two variables
    explains both cells, and an older format-1 manifest still diffs against a newer one."""
    from versions.manifest import public_corrections

    old = OLD.iloc[:3]
    new = old.copy()
    new.loc[0, ["age", "rand_date"]] = [61, pd.Timestamp("2004-01-06")]
    both = {"id": 7, "trial": "A", "participant": "p1", "variable": "age, rand_date",
            "query_id": 12, "old_value": "05/01/2004", "new_value": "06/01/2004"}
    new_m = dict(OLD_M, version="1.1", corrections=public_corrections([both]))
    assert "05/01/2004" not in json.dumps(new_m)
    d = diff_frames(old, new, old_manifest=dict(OLD_M, corrections=[]), new_manifest=new_m)
    assert d.cells[["variable", "cause", "correction", "query"]].values.tolist() == [
        ["age", "correction", 7, 12], ["rand_date", "correction", 7, 12]]
    # format 1 (OLD_M lists CORR3 with its fields) against format 2 without it: withdrawn
    back = OLD.iloc[3:5].copy()
    back.loc[3, "sex"] = 2
    d = diff_frames(OLD.iloc[3:5], back, old_manifest=OLD_M,
                    new_manifest=dict(OLD_M, corrections=public_corrections([])))
    assert d.cells[["participant", "cause", "correction"]].values.tolist() == [
        ["q1", "correction withdrawn", 3]]
