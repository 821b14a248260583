"""YAML with line numbers: the dialect, duplicate keys, syntax errors, key rendering, and JSON
Schema problems located by file, line and key."""

from __future__ import annotations

import pytest

from harmonise.yamlio import (
    ProblemCollector,
    dump_yaml,
    load_schema,
    parse_yaml,
    render_key,
    schema_problems,
)
from repository.errors import SpecError

TEXT = """\
a: 1
b:
  - x: yes
    y: 007
  - x: 2026-11-23
    y: 1:30
c: {d: true, e: NO, f: 1.5, g: 1e3, h: ~}
"""


def test_lines_of_every_key_path() -> None:
    doc = parse_yaml(TEXT, file="t.yaml")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("b",)] == 2
    assert doc.lines[("b", 0)] == 3 and doc.lines[("b", 0, "y")] == 4
    assert doc.lines[("b", 1, "x")] == 5
    assert doc.lines[("c", "g")] == 7
    assert doc.line(("b", 1, "x", "deeper")) == 5  # nearest ancestor
    assert doc.line(("zzz",)) == 1


def test_dialect_keeps_codes_as_written() -> None:
    data = parse_yaml(TEXT).data
    assert data["b"][0] == {"x": "yes", "y": "007"}          # no YAML 1.1 booleans or octal
    assert data["b"][1] == {"x": "2026-11-23", "y": "1:30"}  # no timestamps, no sexagesimal
    assert data["c"] == {"d": True, "e": "NO", "f": 1.5, "g": 1000.0, "h": None}
    assert isinstance(data["a"], int) and not isinstance(data["a"], bool)


def test_duplicate_keys_are_problems_not_overwrites() -> None:
    doc = parse_yaml("a: 1\nb: 2\na: 3\n", file="d.yaml")
    assert doc.data == {"a": 1, "b": 2}
    (p,) = doc.problems
    assert (p.file, p.line, p.key) == ("d.yaml", 3, "a")
    assert "given twice (first on line 1)" in p.message


def test_syntax_error_is_located() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n", file="bad.yaml")
    (p,) = info.value.problems
    assert p.file == "bad.yaml" and p.line is not None and p.line >= 2
    assert "bad.yaml" in str(info.value)


def test_render_key_uses_names_of_list_items() -> None:
    data = {"variables": [{"name": "age"}, {"id": "r1"}, {"x": 1}]}
    assert render_key(("variables", 0, "range", "min"), data) == "variables[age].range.min"
    assert render_key(("variables", 1), data) == "variables[r1]"
    assert render_key(("variables", 2, "x"), data) == "variables[2].x"
    assert render_key(("variables", "Patient number", "map", "M F")) == \
        'variables."Patient number".map."M F"'


def test_schema_problems_are_translated_and_located() -> None:
    text = """\
format: ipdrepo-dictionary/1
topic: Bad Topic
title: T
version: '1.0'
variables:
  - {name: age, type: integr, colour: red}
  - {type: integer}
  - {name: w, type: decimal, required: "yes"}
"""
    doc = parse_yaml(text, file="x.yaml")
    col = ProblemCollector(doc)
    n = schema_problems(doc.data, load_schema("dictionary"), col.add)
    got = {(p.line, p.key): p.message for p in col.problems}
    assert n == len(col.problems) == 6
    assert "does not match a topic slug" in got[(2, "topic")]
    assert "MAJOR.MINOR.PATCH" in got[(4, "version")]
    assert "did you mean 'integer'" in got[(6, "variables[age].type")]
    assert got[(6, "variables[age].colour")].startswith("unknown key 'colour'")
    assert got[(7, "variables[1]")] == "missing required key 'name'"
    assert "must be true or false, not text" in got[(8, "variables[w].required")]


def test_dump_yaml_round_trips_through_the_dialect() -> None:
    data = {"codes": {"07": 1, "N": 0, "yes": True}, "when": "2026-11-23", "text": "a\nb"}
    assert parse_yaml(dump_yaml(data)).data == data


def test_schemas_are_checked_without_loading_the_iri_grammars() -> None:
    """jsonschema is imported without its format libraries (rfc3987_syntax: 2 s of grammar
    building at import; the others 0.1 s), for formats our schemas do not use, and they stay
    importable for anyone else."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from harmonise.yamlio import schema_problems\n"
            "found = []\n"
            "n = schema_problems({'a': 1}, {'type': 'object', 'properties': {'a': "
            "{'type': 'string'}}}, lambda path, msg: found.append(msg))\n"
            "assert n == 1 and found, found\n"
            "from harmonise.yamlio import _FORMAT_LIBRARIES\n"
            "assert not [m for m in _FORMAT_LIBRARIES if m in sys.modules], sys.modules\n"
            "import importlib.util\n"
            "if importlib.util.find_spec('rfc3987_syntax'):\n"
            "    import rfc3987_syntax\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("text", ["[" * 100_000, "- " * 100_000 + "x"])
def test_libyaml_parser_deep_nesting_is_a_spec_error_not_a_crash(text):
    """Spec files are scanned by libyaml (where PyYAML has it) but composed in Python: nesting a
    hundred thousand levels deep is reported, never a crash of a C recursion."""
    import yaml

    from harmonise import yamlio

    if yaml.__with_libyaml__:
        from yaml._yaml import CParser

        assert issubclass(yamlio._Composer, CParser)
    with pytest.raises(SpecError, match="levels deep"):
        yamlio.parse_yaml(text)
