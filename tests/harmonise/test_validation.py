"""Validation runs the dictionary's checks over whole columns and finds exactly what Pandera finds.

harmonise.checks.compiled compiles the dictionary to vectorised column operations; the same
dictionary compiles to a Pandera schema (compile_schema). On harmonised example data with every
kind of failure planted (a missing column, a column of the wrong dtype, cells out of range and out
of the codes, rows breaking a rule, a rule that only applies to some rows, missing inputs) both
must report the same failures, cell for cell, and validate_by must report each one once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import yaml
from pandera.errors import SchemaErrors

from harmonise import apply_mapping, load_dictionary
from harmonise.checks.compiled import compile_checks
from harmonise.checks.validation import compile_schema, validate_by
from harmonise.mapping.spec import Mapping
from repository.example import create
from repository.example.mappings import mapping_from_codebook
from repository.formats import read_delivery

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dictionary():
    return load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")


@pytest.fixture(scope="module")
def harmonised(tmp_path_factory: pytest.TempPathFactory, dictionary) -> pd.DataFrame:
    example = tmp_path_factory.mktemp("example")
    create(example, trials=3, participants=300, seed=11)
    frames = []
    for t in yaml.safe_load((example / "topic.yaml").read_text())["trials"]:
        d = t["delivery"]
        options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
        raw = read_delivery(example / d["file"], format=d["format"], options=options)
        codebook = yaml.safe_load((example / d["codebook"]).read_text())
        mapping = Mapping.from_dict(mapping_from_codebook(codebook), dictionary=dictionary)
        frames.append(apply_mapping(raw, mapping, dictionary, trial=t["acronym"],
                                    participant_ids=raw.frame[mapping.source.id_column]).data)
    return pd.concat(frames, ignore_index=True)


def planted(frame: pd.DataFrame, dictionary) -> pd.DataFrame:
    """Every kind of failure, in known rows."""
    out = frame.copy()
    numeric = [v for v in dictionary.variables if v.range is not None
               and v.type in ("integer", "decimal") and v.range.max is not None]
    dates = [v for v in dictionary.variables if v.type == "date"]
    coded = [v for v in dictionary.variables if v.categories and v.name in out.columns]
    out.loc[3, numeric[0].name] = numeric[0].range.max + 1000
    out.loc[4, numeric[-1].name] = -10**6
    out.loc[5, dates[0].name] = pd.Timestamp("1800-01-01")
    for row, v in enumerate(coded, start=20):  # every coded variable, integer and text
        out.loc[row, v.name] = 999 if v.dtype == "Int64" else "not a code"
    for row, v in enumerate(numeric, start=20 + len(coded)):
        out.loc[row, v.name] = v.range.max + 1
    rand, death = "rand_date", "death_date"
    out.loc[7, death] = out.loc[7, rand] - pd.Timedelta(days=30)  # death before randomisation
    out.loc[8, rand] = pd.NaT  # a rule's input missing: not tested on this row
    return out


def pandera_cases(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> set[tuple[str, int | None]]:
    """(check, row position) of each of Pandera's failure cases (None: the whole column)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
    else:
        return set()
    found: set[tuple[str, int | None]] = set()
    for context, column, number, check, index, case in zip(
            cases["schema_context"], cases["column"], cases["check_number"], cases["check"],
            cases["index"], cases["failure_case"]):
        if pd.isna(number):  # a missing column is the failure case of the schema's own check
            missing = "column_in_dataframe" in str(check)
            found.add((f"column:{case}" if missing else f"dtype:{column}", None))
        elif context == "DataFrameSchema":
            if not pd.isna(index):  # else the rule could not run (an input column is missing)
                found.add((schema.checks[int(number)].name, int(index)))
        else:
            found.add((schema.columns[column].checks[int(number)].name, int(index)))
    return found


def compiled_cases(dictionary, frame: pd.DataFrame) -> set[tuple[str, int | None]]:
    found: set[tuple[str, int | None]] = set()
    for failure in compile_checks(dictionary).failures(frame):
        if failure.kind in ("column", "dtype"):
            found.add((failure.check, None))
        found |= {(failure.check, int(p)) for p in failure.positions}
    return found


def test_clean_data_pass_both(harmonised: pd.DataFrame, dictionary) -> None:
    assert compiled_cases(dictionary, harmonised) == pandera_cases(
        compile_schema(dictionary), harmonised)


def test_every_kind_of_failure_is_found_as_pandera_finds_it(harmonised: pd.DataFrame,
                                                            dictionary) -> None:
    frame = planted(harmonised, dictionary)
    mine = compiled_cases(dictionary, frame)
    assert mine == pandera_cases(compile_schema(dictionary), frame)
    assert {c.split(":")[0] for c, _ in mine} >= {"range", "category", "rule"}
    assert ("rule:death-after-randomisation", 7) in mine


def test_missing_columns_and_wrong_dtypes_as_pandera(harmonised: pd.DataFrame,
                                                     dictionary) -> None:
    frame = harmonised.drop(columns=["os_event"])
    frame["age"] = frame["age"].astype("float64")
    mine = compiled_cases(dictionary, frame)
    assert ("column:os_event", None) in mine and ("dtype:age", None) in mine
    assert mine == pandera_cases(compile_schema(dictionary), frame)


def test_validate_by_reports_each_failure_once_per_trial(harmonised: pd.DataFrame,
                                                         dictionary) -> None:
    frame = planted(harmonised, dictionary)
    results = validate_by(frame, dictionary, by="trial")
    assert set(results) == set(frame["trial"].unique())
    together = pd.concat([r.failures for r in results.values()], ignore_index=True)
    reported = set(zip(together["trial"], together["check"], together["row"]))
    assert len(together) == len(reported)  # each failure once
    at = frame[["trial", "_row"]].to_numpy(object)  # the delivery row of each position
    compiled = {(at[p][0], c, at[p][1]) for c, p in compiled_cases(dictionary, frame)}
    assert compiled <= reported
    assert {c.split(":")[0] for _, c, _ in reported - compiled} <= {"required", "unique"}
    assert (at[8][0], "required:rand_date", at[8][1]) in reported
    for result in results.values():
        mine = frame[frame["trial"] == result.trial]
        assert result.rows == len(mine)
        tested = result.checks.set_index("check")["tested"]
        assert tested["required:trial"] == len(mine)
        failed = result.checks.set_index("check")["failed"]
        assert failed.sum() == len(result.failures)
    rule = next(r for r in results.values() if (r.failures["row"] == 8 + 1).any()
                or r.trial == frame.loc[8, "trial"])
    tested = rule.checks.set_index("check").loc["rule:death-after-randomisation", "tested"]
    applicable = frame[(frame["trial"] == rule.trial)][["rand_date", "death_date"]]
    assert tested == int(applicable.notna().all(axis=1).sum())


def test_the_failures_say_what_to_look_at(harmonised: pd.DataFrame, dictionary) -> None:
    frame = planted(harmonised, dictionary)
    results = validate_by(frame, dictionary, by=None)[None]
    failures = results.failures
    row = failures[(failures["check"] == "rule:death-after-randomisation")
                   & (failures["participant_id"] == frame.loc[7, "participant_id"])]
    assert len(row) == 1 and "death_date=" in row["value"].iloc[0]
    assert row["trial"].iloc[0] == frame.loc[7, "trial"]
    assert np.all(results.failures["message"].str.len() > 0)


def test_values_of_an_object_column_with_missing_cells_are_still_checked() -> None:
    """Checks run on whole columns; an object column (itself a dtype failure) whose missing
    cells do not compare with a bound still has its known values checked, as Pandera does."""
    from harmonise.checks.compiled import CompiledChecks, ValueCheck, _at_least

    frame = pd.DataFrame({"age": pd.Series([30, None, 5, 200, 17], dtype=object)})
    checks = CompiledChecks(variables=(), values=(ValueCheck("range:age", "age",
                                                             _at_least(18)),), rules=())
    [failure] = checks.failures(frame)
    assert failure.check == "range:age" and failure.positions.tolist() == [2, 4]
