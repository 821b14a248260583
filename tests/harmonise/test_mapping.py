"""Per-trial mappings: golden round trips, the JSON Schema, dependency order, and every bad
input reported at once with file, line and key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from harmonise.dictionary.spec import load_dictionary
from harmonise.mapping.derivations import DERIVATIONS
from harmonise.mapping.rules import Operation
from harmonise.mapping.spec import RULE_TYPES, Mapping, dependency_order, load_mapping, mapping_path
from harmonise.yamlio import load_schema, read_yaml
from repository.errors import MappingError
from tests.harmonise.mapping_factory import (
    EXAMPLE_DICTIONARY,
    GOLDEN,
    make_dictionary,
    mapping_data,
)

GOLDEN_DICT = GOLDEN / "dictionary.yaml"


def test_golden_round_trip() -> None:
    d = load_dictionary(GOLDEN_DICT)
    path = GOLDEN / "mapping.yaml"
    data = read_yaml(path).data
    m = load_mapping(path, d)
    assert m.to_dict() == data
    assert Mapping.from_dict(m.to_dict(), dictionary=d) == m
    jsonschema.Draft202012Validator(load_schema("mapping")).validate(data)
    assert {r.rule for r in m.rules} == set(RULE_TYPES), "the golden file uses every rule type"
    assert m.line("variables", "sex") == 22 and m.file == str(path)
    statuses = {r.variable: r.status for r in m.rules}
    assert statuses["qol_12m"] == "impossible" and statuses["margin"] == "undetermined"
    assert statuses["arm"] == "complete"


@pytest.mark.parametrize("path", sorted((EXAMPLE_DICTIONARY / "mappings").rglob("*.yaml")),
                         ids=lambda p: p.stem)
def test_example_mappings_load_and_round_trip(path: Path) -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    m = load_mapping(path, d)
    assert m.to_dict() == read_yaml(path).data
    assert path == mapping_path(EXAMPLE_DICTIONARY, d.version, m.trial)
    mapped = {r.variable for r in m.rules}
    assert mapped == set(d.names) - {"trial"}


def test_schema_lists_every_rule_type_and_derivation() -> None:
    schema = load_schema("mapping")
    assert set(schema["$defs"]["rule"]["properties"]["rule"]["enum"]) == set(RULE_TYPES)
    assert set(schema["$defs"]["derive"]["properties"]["function"]["enum"]) == set(DERIVATIONS)
    for name, cls in RULE_TYPES.items():
        assert schema["$defs"][name]["properties"]["rule"] == {"const": name}
        assert cls.rule == name


def test_rules_know_their_inputs_and_describe_themselves() -> None:
    m = load_mapping(GOLDEN / "mapping.yaml", load_dictionary(GOLDEN_DICT))
    death = m.rule("death_date")
    assert death.columns() == ("STATUS", "Days to event", "DTH")
    assert death.variables() == ("rand_date",)
    assert m.rule("os_time_days").variables() == ("rand_date", "death_date", "last_fu_date")
    assert m.rule("age").columns() == ("BIRTH",)
    assert "recode $SEX" in m.rule("sex").describe()
    assert "WT from lb to kg" in m.rule("weight_kg").describe()
    order = [r.variable for r in m.order()]
    assert order.index("rand_date") < order.index("death_date") < order.index("os_event")
    assert order.index("last_fu_date") < order.index("os_time_days")
    assert m.summary.shape == (len(m.rules), 7)
    assert "GOLD-1" in repr(m) and "<table" in m._repr_html_()


def test_dependency_cycle_is_an_error() -> None:
    d = make_dictionary({"name": "a", "type": "decimal"}, {"name": "b", "type": "decimal"},
                        {"name": "c", "type": "decimal"})
    rules = {"a": {"rule": "operation", "expression": "b + 1"},
             "b": {"rule": "operation", "expression": "c + 1"},
             "c": {"rule": "operation", "expression": "a * 2"}}
    with pytest.raises(MappingError, match="cycle") as info:
        Mapping.from_dict(mapping_data(rules), dictionary=d)
    assert any("a -> b -> c -> a" in p.message or "b -> c -> a -> b" in p.message or
               "c -> a -> b -> c" in p.message for p in info.value.problems)
    ops = [Operation(variable=k, expression=__import__("harmonise").parse_expression(v["expression"]))
           for k, v in rules.items()]
    with pytest.raises(MappingError, match="cycle"):
        dependency_order(ops)


BAD = """\
format: ipdrepo-mapping/1
trial: GOLD-1
dictionary: golden-topic
dictionary_version: 2.0.0
source: {dataset: main, id_column: PATNO, decimal: ';', colour: red}
variables:
  participant_id: {rule: id_creation, column: ID}
  trial: {rule: constant, value: GOLD-1}
  arm: {rule: recode, column: TRT, map: {A: 1, B: 2}, colour: red}
  sex: {rule: recod, column: SEX}
  margin: {rule: recode, column: M, map: {'0': R0, '1': R1, ' 1': R1}, missing: ['0']}
  age: {rule: derive, function: age_at, birth: {column: B, format: '%Y-%q'}, when: rand_date}
  weight_kg: {rule: unit, column: WT, from: cm}
  creatinine_umol: {rule: unit, column: CR, from: mmol/L, analyte: glucosex, to: mg/dL}
  diabetes: {rule: constant, value: 2}
  rand_date: {rule: date, column: RANDDT, format: 'dd/mm/yyyy'}
  visit_time: {rule: operation, expression: rand_date * 2}
  death_date: {rule: direct, column: D, round: 1}
  os_event: {rule: recode, column: E, map: {'1': true}, status: impossible}
  os_time_days: {rule: derive, function: days_between, start: rand_date, end: weight_kg}
  toxicity: {rule: case_when, cases: [{when: weight_kg, value: 3}]}
  qol_base: {rule: operation, expression: qol_base + 1}
  qol_12m: {rule: operation, expression: qol_missing + $X}
  bmi: {rule: operation, expression: '1'}
"""

EXPECTED = [  # (line, key, part of the message)
    (4, "dictionary_version", "version 2.0.0 of the dictionary, but the dictionary is at 2.1.0"),
    (5, "source.decimal", "is not allowed"),
    (5, "source.colour", "unknown key 'colour'"),
    (5, "source.id_column", "differs from the id_creation column 'ID'"),
    (6, "variables", "no rule for note"),
    (6, "variables", "no rule for last_fu_date"),
    (6, "variables", "no rule for grade3_events"),
    (6, "variables", "no rule for ttae_days"),
    (8, "variables.trial", "filled in by ipdrepo from the trial's acronym"),
    (9, "variables.arm.colour", "unknown key 'colour' (did you mean 'column'?)"),
    (9, "variables.arm.map.B", "2 is not a category of arm"),
    (10, "variables.sex.rule", "did you mean 'recode'"),
    (11, "variables.margin.map.\" 1\"", "mapped twice"),
    (11, "variables.margin.missing", "both mapped and declared missing"),
    (12, "variables.age.birth.format", "unknown strftime directive"),
    (12, "variables.age.when", "age_at has no parameter 'when'"),
    (12, "variables.age", "age_at needs `at`"),
    (13, "variables.weight_kg.from", "impossible unit conversion for weight_kg"),
    (14, "variables.creatinine_umol.to", "differs from the dictionary unit"),
    (14, "variables.creatinine_umol.analyte", "unknown analyte 'glucosex'"),
    (15, "variables.diabetes.value", "diabetes is boolean; use true or false"),
    (16, "variables.rand_date.format", "unknown date format 'dd/mm/yyyy'"),
    (17, "variables.visit_time.expression", "cannot compute date * number"),
    (18, "variables.death_date.round", "`round` only applies to numbers"),
    (19, "variables.os_event.status", "status impossible needs `rule: impossible`"),
    (20, "variables.os_time_days.end", "weight_kg is a number, but a date is needed here"),
    (21, "variables.toxicity.cases[0].when", "is a number, not a condition"),
    (21, "variables.toxicity.cases[0].value", "3 is not a category of toxicity"),
    (22, "variables.qol_base", "qol_base reads itself"),
    (23, "variables.qol_12m", "reads 'qol_missing', which is not a dictionary variable"),
    (24, "variables.bmi", "'bmi' is not a variable of the dictionary golden-topic 2.1.0"),
]


def test_every_problem_reported_at_once_with_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "GOLD-1.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_mapping(path, load_dictionary(GOLDEN_DICT))
    problems = info.value.problems
    listing = "\n".join(map(str, problems))
    for line, key, text in EXPECTED:
        hits = [p for p in problems if p.line == line and p.key == key and text in p.message]
        assert hits, f"no problem at line {line}, {key}: {text}\n{listing}"
        assert all(p.file == str(path) for p in hits)
    unexpected = [p for p in problems if not any(
        p.line == line and p.key == key and text in p.message for line, key, text in EXPECTED)]
    assert not unexpected, "\n".join(map(str, unexpected))
    assert "GOLD-1" in info.value.message and "ipdrepo mapping check" in info.value.message


@pytest.mark.parametrize(("rules", "text"), [
    ({}, "no id_creation rule"),
    ({"participant_id": {"rule": "direct", "column": "ID"}}, "use `rule: id_creation`"),
    ({"x": {"rule": "id_creation", "column": "X"}}, "id_creation only maps the participant ID"),
    ({"x": {"rule": "undetermined", "status": "complete"}}, "an undetermined rule has status"),
    ({"x": {"rule": "impossible", "status": "undetermined"}}, "an impossible rule has status"),
    ({"x": {"rule": "unit", "column": "X", "from": "kg"}}, "has no unit in the dictionary"),
    ({"x": {"rule": "recode", "column": "X", "map": {"a": 1}, "else": 2.5}},
     "x is an integer; use a whole number"),
    ({"x": {"rule": "derive", "function": "event_from_date", "date": "d"}}, None),
    ({"x": {"rule": "derive", "function": "to_days", "value": {"column": "X"}, "unit": "kg"}},
     "kg is a unit of mass, not of time"),
    ({"x": {"rule": "derive", "function": "nope"}}, "is not allowed"),
    ({"d": {"rule": "recode", "column": "X", "map": {"a": "2001-01-01"}}},
     "recode cannot produce dates"),
    ({"d": {"rule": "operation", "expression": "$X + 1"}}, None),
    ({"x": {"rule": "case_when", "cases": [{"when": "$A == 1"}]}}, "needs `value`"),
])
def test_rule_level_checks(rules: dict[str, object], text: str | None) -> None:
    d = make_dictionary({"name": "x", "type": "integer"}, {"name": "d", "type": "date"})
    base = {"x": {"rule": "impossible"}, "d": {"rule": "impossible"}}
    data = mapping_data({**base, **rules})
    if "participant_id" in rules:
        data["variables"]["participant_id"] = rules["participant_id"]
    if not rules:
        del data["variables"]["participant_id"]
    if text is None:
        Mapping.from_dict(data, dictionary=d)
        return
    with pytest.raises(MappingError) as info:
        Mapping.from_dict(data, dictionary=d)
    assert any(text in p.message for p in info.value.problems), info.value.message


def test_structure_only_without_a_dictionary() -> None:
    m = Mapping.from_dict(mapping_data({"x": {"rule": "operation", "expression": "y + $Z"}}))
    assert m.rule("x").columns() == ("Z",) and m.id_column == "ID"
    with pytest.raises(MappingError, match="no rule for 'y'"):
        m.rule("y")
