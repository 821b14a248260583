"""harmonise.schemacheck answers exactly as jsonschema does: on every dictionary and mapping of
the repository, on a thousand mutations of them, and on the corners of JSON Schema's rules
(booleans are not numbers, 1.0 is an integer); anything it cannot judge it leaves to jsonschema
(None), and schema_problems still words every problem of an invalid file."""

from __future__ import annotations

import copy
import datetime
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harmonise.schemacheck import is_valid
from harmonise.yamlio import _jsonschema, load_schema, read_yaml, schema_problems

ROOT = Path(__file__).resolve().parents[2]


def _documents() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.glob("dictionaries/**/*.yaml")) + sorted(
            ROOT.glob("tests/**/*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "ipdrepo-mapping/1" in text:
            found.append(("mapping", path))
        elif "ipdrepo-dictionary/1" in text:
            found.append(("dictionary", path))
    return found


DOCUMENTS = _documents()
#: values put in place of others: every JSON type, and the corners of its equality
VALUES: list[Any] = ["", "x", "direct", "complete", "1.0.0", "a-b", "Bad Name", 0, 1, -1, 1.0,
                     1.5, 13, True, False, None, [], ["a"], [1, "a"], {}, {"a": 1},
                     {"rule": "direct"}, {"column": "x"}, {"expression": "x"}]


def _jsonschema_valid(data: Any, schema: Any) -> bool:
    return bool(_validator(json.dumps(schema)).is_valid(data))


@cache
def _validator(schema: str) -> Any:
    return _jsonschema().Draft202012Validator(json.loads(schema))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into ``node`` (the root is ``()``)."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _mutate(data: Any, rng: np.random.Generator) -> Any:
    """``data`` with one node replaced, deleted, or given an extra key or item."""
    out = copy.deepcopy(data)
    paths = _paths(out)
    path = paths[int(rng.integers(len(paths)))]
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    node = parent[path[-1]] if path else out
    value = copy.deepcopy(VALUES[int(rng.integers(len(VALUES)))])
    action = int(rng.integers(4))
    if not path:
        return value if action == 0 else out
    if action == 0:
        parent[path[-1]] = value
    elif action == 1:
        del parent[path[-1]]
    elif action == 2 and isinstance(node, dict):
        node[["rule", "column", "zz_unknown", "status", "map"][int(rng.integers(5))]] = value
    elif action == 3 and isinstance(node, list):
        node.append(value)
    return out


@pytest.mark.parametrize(("kind", "path"), DOCUMENTS,
                         ids=[p.relative_to(ROOT).as_posix() for _, p in DOCUMENTS])
def test_agrees_with_jsonschema_on_files_and_their_mutations(kind: str, path: Path) -> None:
    schema = load_schema(kind)
    data = read_yaml(path).data
    assert is_valid(data, schema) is _jsonschema_valid(data, schema)
    rng = np.random.default_rng(sorted(p for _, p in DOCUMENTS).index(path))
    verdicts = set()
    for _ in range(40):
        mutated = _mutate(data, rng)
        if rng.integers(3) == 0:  # a second change: deeper trees of errors
            mutated = _mutate(mutated, rng)
        expected = _jsonschema_valid(mutated, schema)
        assert is_valid(mutated, schema) is expected, json.dumps(mutated, default=str)[:2000]
        verdicts.add(expected)
    assert verdicts == {True, False}  # the mutations reached both answers


def test_repository_holds_every_kind_of_document() -> None:
    kinds = [k for k, _ in DOCUMENTS]
    assert kinds.count("mapping") >= 20 and kinds.count("dictionary") >= 3


SCHEMA = {"$defs": {"n": {"type": "integer", "minimum": 0}},
          "type": "object", "properties": {
              "n": {"$ref": "#/$defs/n"}, "c": {"const": 1}, "e": {"enum": [False, "a"]},
              "l": {"type": "array", "items": {"type": "number"}, "minItems": 1},
              "s": {"type": "string", "pattern": "^a", "minLength": 2}},
          "additionalProperties": False}


@pytest.mark.parametrize("data", [
    {"n": 1.0}, {"n": 1.5}, {"n": True}, {"n": -1}, {"c": 1.0}, {"c": True}, {"e": 0},
    {"e": False}, {"e": "a"}, {"l": []}, {"l": [1, 2.5]}, {"l": [True]}, {"s": "ab"},
    {"s": "a"}, {"s": "ba"}, {"x": 1}, {1: 1}, [], "x"])
def test_corners_of_json_schema_equality_and_types(data: Any) -> None:
    assert is_valid(data, SCHEMA) is _jsonschema_valid(data, SCHEMA)


@pytest.mark.parametrize(("data", "schema"), [
    ({"n": datetime.date(2020, 1, 1)}, SCHEMA),  # not JSON data
    ({"n": (1, 2)}, SCHEMA),
    ({"n": 1}, {"type": "object", "maxProperties": 3}),  # a keyword it does not know
    ({"n": 1}, {"$ref": "other.json#/x"}),
    ({"n": 1}, {"type": "object", "properties": {"n": {"$id": "x", "type": "integer"}}}),
])
def test_what_it_cannot_judge_is_left_to_jsonschema(data: Any, schema: Any) -> None:
    assert is_valid(data, schema) is None


def test_schema_problems_still_words_every_problem() -> None:
    path = next(p for k, p in DOCUMENTS if k == "mapping")
    data = read_yaml(path).data
    data["zz_unknown"] = 1
    data["trial"] = 7
    problems: list[tuple[Any, str]] = []
    assert schema_problems(data, load_schema("mapping"),
                           lambda p, m: problems.append((tuple(p), m))) == 2
    assert problems[0][0] == ("zz_unknown",) and "unknown key 'zz_unknown'" in problems[0][1]
    assert problems[1] == (("trial",), "must be text, not a whole number (7)")
