"""Tests that keep the format documentation true: every rule type, derivation, date format,
problem reason, unit, analyte, dictionary key and CLI option of the harmonisation commands is
documented in docs/dictionary-format.md or docs/mapping-format.md."""

from __future__ import annotations

import click
import pytest

from harmonise.dictionary.cli import dictionary
from harmonise.dictionary.spec import OUTCOME_KINDS, ROLES, VARIABLE_TYPES
from harmonise.mapping.cli import mapping
from harmonise.mapping.derivations import DERIVATIONS
from harmonise.mapping.spec import RULE_TYPES
from harmonise.values.dates import DATE_FORMATS
from harmonise.values.problems import REASONS
from harmonise.values.units import ANALYTES, UNITS
from harmonise.yamlio import load_schema
from tests.harmonise.mapping_factory import ROOT

MAPPING_DOC = (ROOT / "docs" / "mapping-format.md").read_text(encoding="utf-8")
DICTIONARY_DOC = (ROOT / "docs" / "dictionary-format.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(RULE_TYPES))
def test_rule_types_documented(name: str) -> None:
    assert f"### `{name}`" in MAPPING_DOC or f"`{name}`" in MAPPING_DOC.split("### `constant`")[1]
    for key in load_schema("mapping")["$defs"][name]["properties"]:
        assert f"`{key}`" in MAPPING_DOC, f"key {key} of {name} is not documented"


def test_derivations_date_formats_and_reasons_documented() -> None:
    for name, derivation in DERIVATIONS.items():
        assert f"| `{name}` |" in MAPPING_DOC
        for p in derivation.params:
            assert f"`{p.name}`" in MAPPING_DOC
    for fmt in DATE_FORMATS:
        assert f"`{fmt}`" in MAPPING_DOC
    for reason in REASONS:
        assert f"| `{reason}` |" in MAPPING_DOC
    for key in load_schema("mapping")["properties"]["source"]["properties"]:
        assert f"| `{key}` |" in MAPPING_DOC


def test_dictionary_keys_units_and_analytes_documented() -> None:
    schema = load_schema("dictionary")
    for key in schema["properties"]:
        assert f"| `{key}` |" in DICTIONARY_DOC
    for section in ("variable", "outcome", "rule"):
        for key in schema["$defs"][section]["properties"]:
            assert f"`{key}`" in DICTIONARY_DOC, f"{section} key {key}"
    for word in (*VARIABLE_TYPES, *ROLES, *OUTCOME_KINDS):
        assert f"`{word}`" in DICTIONARY_DOC
    for symbol in UNITS:
        assert f"`{symbol}`" in DICTIONARY_DOC, f"unit {symbol} is not documented"
    for name in ANALYTES:
        assert name in DICTIONARY_DOC


def _options(group: click.Group) -> list[tuple[str, str]]:
    out = []
    for name, command in group.commands.items():
        for p in command.params:
            if isinstance(p, click.Option):
                out.extend((name, opt) for opt in p.opts if opt.startswith("--"))
    return out


@pytest.mark.parametrize(("command", "option"), _options(dictionary) + _options(mapping))
def test_cli_options_documented(command: str, option: str) -> None:
    assert option.split("/")[0] in MAPPING_DOC + DICTIONARY_DOC, \
        f"{command} {option} is not documented"


def _first_yaml_block(doc: str) -> str:
    return doc.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_examples_in_the_docs_are_valid() -> None:
    from harmonise.dictionary.spec import Dictionary
    from harmonise.mapping.spec import Mapping
    from harmonise.yamlio import parse_yaml

    d = Dictionary.from_dict(parse_yaml(_first_yaml_block(DICTIONARY_DOC)).data)
    assert d.names[:3] == ("participant_id", "trial", "arm") and d.rules
    data = parse_yaml(_first_yaml_block(MAPPING_DOC)).data
    problems: list[str] = []
    from harmonise.yamlio import schema_problems

    schema_problems(data, load_schema("mapping"), lambda path, msg: problems.append(msg))
    assert problems == []
    m = Mapping.from_dict(data)  # structure and expressions (no dictionary: partial example)
    assert m.rule("smoking").status == "undetermined"
