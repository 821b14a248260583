"""The topic data dictionary: golden round trips, the JSON Schema, and every bad input reported
at once with file, line and key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from harmonise.dictionary.spec import VARIABLE_TYPES, Dictionary, load_dictionary
from harmonise.yamlio import load_schema, read_yaml
from repository.errors import DictionaryError
from tests.harmonise.mapping_factory import EXAMPLE_DICTIONARY, GOLDEN, dictionary_data

GOLDEN_FILES = [GOLDEN / "dictionary.yaml", EXAMPLE_DICTIONARY / "dictionary.yaml"]


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.parent.name)
def test_golden_round_trip(path: Path) -> None:
    data = read_yaml(path).data
    d = load_dictionary(path)
    assert d.to_dict() == data
    assert Dictionary.from_dict(d.to_dict()) == d  # and back again
    jsonschema.Draft202012Validator(load_schema("dictionary")).validate(data)


def test_canonical_dict_round_trip() -> None:
    data = dictionary_data(
        {"name": "sex", "type": "categorical", "categories": [
            {"code": 1, "label": "Male"}, {"code": 9, "label": "Unknown", "missing": True}]},
        {"name": "w", "label": "Weight", "type": "decimal", "unit": "kg", "range": {"min": 30}},
        rules=[{"id": "r1", "assert": "w > 0", "severity": "warning"}],
        outcomes=[{"name": "o", "kind": "continuous", "variable": "w"}])
    assert Dictionary.from_dict(data).to_dict() == data


def test_lookups_and_presentation() -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    assert d.topic == "gastric-adjuvant" and len(d) == 41
    assert d.id_variable.name == "participant_id" and d.trial_variable.name == "trial"
    sex = d.variable("sex")
    assert sex.dtype == "Int64" and sex.kind == "number" and sex.codes == (1, 2)
    assert d.variable("smoking").dtype == "string"
    assert d.variable("cause_of_death").missing_codes == ("unknown",)
    assert d.variable("rand_date").dtype == "datetime64[ns]"
    with pytest.raises(DictionaryError, match="did you mean 'weight_kg'"):
        d.variable("weight_k")
    assert list(d.summary.columns) == ["name", "label", "type", "role", "unit", "required",
                                       "categories", "range", "table"]
    # 41 participant variables and the 9 of the long tables visits and events
    assert len(d.summary) == 50 and "<table" in d._repr_html_()
    assert d.summary["table"].value_counts().to_dict() == {"participants": 41, "visits": 4,
                                                           "events": 5}
    assert "41 variables" in repr(d) and "2 long tables" in repr(d)


def test_example_dictionary_documents_every_variable() -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    for v in d.variables:
        assert v.label, f"{v.name} has no label"
        assert v.role, f"{v.name} has no role"
    names = set(d.names)
    from repository.example.topic import VARIABLES

    assert names == {v.name for v in VARIABLES}, "dictionary and example generator disagree"


def test_schema_and_spec_objects_agree() -> None:
    """Every key a spec object writes is allowed by the JSON Schema, and vice versa."""
    schema = load_schema("dictionary")
    defs = schema["$defs"]
    assert set(defs["variable"]["properties"]["type"]["enum"]) == set(VARIABLE_TYPES)
    golden = load_dictionary(GOLDEN / "dictionary.yaml").to_dict()
    assert set(schema["properties"]) == set(golden)
    keys = {k for v in golden["variables"] for k in v}
    assert keys == set(defs["variable"]["properties"])
    assert {k for o in golden["outcomes"] for k in o} == set(defs["outcome"]["properties"]) - {
        "description"} | {"description"}
    assert {k for r in golden["rules"] for k in r} == set(defs["rule"]["properties"])


BAD = """\
format: ipdrepo-dictionary/1
topic: gastric-adjuvant
title: Bad on purpose
version: 1.1.0
changelog:
  - {version: 1.0.0, date: '2026-02-30', changes: [First]}
variables:
  - {name: participant_id, type: id, role: id}
  - {name: trial, type: text, role: trial}
  - {name: trial2, type: text, role: trial}
  - name: arm
    type: categorical
    colour: red
    categories: [{code: 0, label: A}, {code: 0, label: B}, {code: x, label: A}]
  - {name: weight_kg, type: decimal, unit: kgz, range: {min: 160, max: 35}}
  - {name: weight_kg, type: decimal}
  - {name: rand_date, type: dat}
  - {name: hb, type: decimal, unit: g/dL, analyte: hemoglobinx}
  - {name: when, type: date, range: {min: 35}}
  - {name: flag, type: boolean, categories: [{code: 1, label: yes}], unit: kg}
  - {name: sex, type: categorical}
  - {name: age, type: integer, required: "yes"}
outcomes:
  - {name: os, kind: time_to_event, time: os_days, event: arm}
  - {name: tox, kind: binary}
rules:
  - {id: r1, assert: "death_date >= rand_date"}
  - {id: r2, assert: "weight_kg +"}
  - {id: r3, assert: "$WT > 3"}
  - {id: r4, assert: "weight_kg * 2"}
  - {id: r1, assert: "weight_kg > 0"}
"""

EXPECTED = [  # (line, key, part of the message)
    (6, "changelog[0].date", "not a real date"),
    (5, "changelog", "no changelog entry for the current version 1.1.0"),
    (10, "variables[trial2].role", "only one variable can have role 'trial'"),
    (13, "variables[arm].colour", "unknown key 'colour'"),
    (14, "variables[arm].categories[1].code", "code 0 of arm is listed twice"),
    (14, "variables[arm].categories[2].label", "label 'A' of arm is used for two codes"),
    (14, "variables[arm].categories", "mix numbers and texts"),
    (15, "variables[weight_kg].unit", "unknown unit 'kgz'"),
    (15, "variables[weight_kg].range", "min 160 > max 35"),
    (16, "variables[weight_kg].name", "defined twice (first on line 15)"),
    (17, "variables[rand_date].type", "did you mean 'date'"),
    (18, "variables[hb].analyte", "unknown analyte 'hemoglobinx'"),
    (19, "variables[when].range.min", "needs ISO dates"),
    (20, "variables[flag].categories", "only categorical variables have categories"),
    (20, "variables[flag].unit", "only integer and decimal variables carry a unit"),
    (21, "variables[sex]", "needs `categories:`"),
    (22, "variables[age].required", "must be true or false"),
    (24, "outcomes[os].time", "'os_days', which is not a dictionary variable"),
    (24, "outcomes[os].event", "codes 0 and 1"),
    (25, "outcomes[tox]", "binary outcome tox needs `variable`"),
    (27, "rules[r1].assert", "refers to 'death_date'"),
    (27, "rules[r1].assert", "refers to 'rand_date'"),
    (28, "rules[r2].assert", "not a valid expression"),
    (29, "rules[r3].assert", "reads raw column(s) $WT"),
    (30, "rules[r4].assert", "must be a condition"),
    (31, "rules[r1].id", "rule id 'r1' is used twice"),
]


def test_every_problem_reported_at_once_with_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "dictionary.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(DictionaryError) as info:
        load_dictionary(tmp_path)
    problems = info.value.problems
    for line, key, text in EXPECTED:
        hits = [p for p in problems if p.line == line and p.key == key and text in p.message]
        assert hits, f"no problem at line {line}, {key}: {text}\n" + "\n".join(map(str, problems))
        assert all(p.file == str(path) for p in hits)
    assert len(problems) == len(EXPECTED), "\n".join(map(str, problems))
    assert str(path) in info.value.message and "ipdrepo dictionary check" in info.value.message
    assert info.value.exit_code == 4


@pytest.mark.parametrize(("data", "text"), [
    ([1, 2], "must be a mapping"),
    ({"format": "ipdrepo-dictionary/2"}, "must be \"ipdrepo-dictionary/1\""),
    ({"format": "ipdrepo-dictionary/1", "topic": "t-1", "title": "x", "version": "1.0.0",
      "changelog": [{"version": "1.0.0", "date": "2026-01-01", "changes": ["x"]}],
      "variables": [{"name": "a", "type": "integer"}]}, "no variable has role 'id'"),
    ({"format": "ipdrepo-dictionary/1", "topic": "t-1", "title": "x", "version": "1.0.0",
      "changelog": [{"version": "1.0.0", "date": "2026-01-01", "changes": ["x"]}],
      "variables": [{"name": "pid", "type": "id", "role": "id"},
                    {"name": "trial", "type": "integer", "role": "trial"}]},
     "must be named 'participant_id'"),
])
def test_structural_problems(data: object, text: str) -> None:
    with pytest.raises(DictionaryError) as info:
        Dictionary.from_dict(data)
    assert any(text in p.message for p in info.value.problems), info.value.message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError, match="does not exist"):
        load_dictionary(tmp_path / "nope.yaml")
    (tmp_path / "dictionary.yaml").write_text("variables: [\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="not valid YAML"):
        load_dictionary(tmp_path)
