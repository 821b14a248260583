"""Is a document valid against one of our JSON Schemas? A quick answer, without jsonschema.

:func:`harmonise.yamlio.schema_problems` asks :func:`is_valid` first and runs jsonschema (whose
messages it rewrites for people) only when the answer is not a sure yes. Checking a valid
mapping this way costs about a millisecond instead of jsonschema's 15 (its import another 40
ms), which every command that loads a mapping pays (``ipdrepo report`` loads one per trial).

The answer is exact for the keywords of draft 2020-12 that ``harmonise/schemas`` use (``type``,
``const``, ``enum``, ``required``, ``properties``, ``additionalProperties``, ``propertyNames``,
``items``, ``minLength``, ``pattern``, ``minItems``, ``minProperties``, ``minimum``,
``maximum``, ``allOf``, ``anyOf``, ``if``/``then``/``else``, ``$ref`` to ``#/...``; the
annotations ``$schema``, ``$defs``, ``$comment``, ``title``, ``description`` and the root's
``$id``) on JSON data (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``),
following jsonschema's own rules (``True`` is not ``1``; ``1.0`` is an integer; ``pattern`` is
:func:`re.search`). Anything else (another keyword, a value of another type) is
:class:`Unsupported`, which :func:`is_valid` answers with None: not known, ask jsonschema.
``tests/harmonise/test_schemacheck.py`` holds it to jsonschema on every mapping and dictionary
of the repository and on a thousand mutations of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

__all__ = ["is_valid", "Unsupported"]

_SCALARS = (str, int, float, bool, type(None))
_ANNOTATIONS = frozenset({"$schema", "$defs", "$comment", "title", "description"})


class Unsupported(Exception):
    """A keyword or a value :func:`is_valid` cannot judge exactly."""


def is_valid(instance: Any, schema: Mapping[str, Any]) -> bool | None:
    """True when ``instance`` is valid against ``schema``, False when it is not, None when that
    is not known here (:class:`Unsupported`)."""
    try:
        _check_json(instance)
        return _valid(instance, schema, schema)
    except Unsupported:
        return None


def _check_json(value: Any) -> None:
    """Refuse anything but JSON data (keys of a mapping may be any scalar)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) not in _SCALARS:
                raise Unsupported(f"key of type {type(key).__name__}")
            _check_json(item)
    elif kind is list:
        for item in value:
            _check_json(item)
    elif kind not in _SCALARS:
        raise Unsupported(f"value of type {kind.__name__}")


def _valid(instance: Any, schema: Any, root: Mapping[str, Any]) -> bool:
    if schema is True or schema is False:
        return schema
    if not isinstance(schema, dict):
        raise Unsupported("a schema that is not an object")
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or (keyword == "$id" and schema is root):
            continue
        check = _KEYWORDS.get(keyword)
        if check is None:
            if keyword in ("then", "else"):  # applied by "if"
                continue
            raise Unsupported(f"keyword {keyword}")
        if not check(instance, value, schema, root):
            return False
    return True


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_type(value: Any, name: str) -> bool:
    kind = type(value)
    if name == "string":
        return kind is str
    if name == "integer":
        return kind is int or (kind is float and value.is_integer())
    if name == "number":
        return kind in (int, float)
    if name == "boolean":
        return kind is bool
    if name == "null":
        return value is None
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    raise Unsupported(f"type {name}")


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: ``True`` is not ``1``, ``1`` is ``1.0``, lists and objects
    compared member by member."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # one is a bool and not the other (the same bools are `is`)
    return bool(one == two)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _resolve(ref: str, root: Mapping[str, Any]) -> Any:
    if not ref.startswith("#"):
        raise Unsupported(f"$ref {ref}")
    node: Any = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise Unsupported(f"$ref {ref}")
        node = node[part]
    return node


def _type(instance: Any, value: Any, schema: Any, root: Any) -> bool:
    names = [value] if isinstance(value, str) else value
    return any(_is_type(instance, n) for n in names)


def _properties(instance: Any, value: Any, schema: Any, root: Any) -> bool:
    return type(instance) is not dict or all(
        _valid(instance[k], sub, root) for k, sub in value.items() if k in instance)


def _additional(instance: Any, value: Any, schema: Any, root: Any) -> bool:
    if type(instance) is not dict:
        return True
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    known = schema.get("properties", {})
    extra = [k for k in instance if k not in known]
    if value is False:
        return not extra
    return all(_valid(instance[k], value, root) for k in extra)


def _if(instance: Any, value: Any, schema: Any, root: Any) -> bool:
    branch = "then" if _valid(instance, value, root) else "else"
    return branch not in schema or _valid(instance, schema[branch], root)


def _items(instance: Any, value: Any, schema: Any, root: Any) -> bool:
    if "prefixItems" in schema:
        raise Unsupported("prefixItems")
    return type(instance) is not list or all(_valid(i, value, root) for i in instance)


_Check = Callable[[Any, Any, Any, Any], bool]
#: keyword -> (instance, the keyword's value, the schema it is in, the root schema) -> valid?
_KEYWORDS: dict[str, _Check] = {
    "type": _type,
    "const": lambda i, v, s, r: _equal(i, v),
    "enum": lambda i, v, s, r: any(_equal(i, e) for e in v),
    "required": lambda i, v, s, r: type(i) is not dict or all(k in i for k in v),
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": lambda i, v, s, r: type(i) is not dict or all(_valid(k, v, r) for k in i),
    "items": _items,
    "minLength": lambda i, v, s, r: type(i) is not str or len(i) >= v,
    "pattern": lambda i, v, s, r: type(i) is not str or _compiled(v).search(i) is not None,
    "minItems": lambda i, v, s, r: type(i) is not list or len(i) >= v,
    "minProperties": lambda i, v, s, r: type(i) is not dict or len(i) >= v,
    "minimum": lambda i, v, s, r: not _is_number(i) or not i < v,
    "maximum": lambda i, v, s, r: not _is_number(i) or not i > v,
    "allOf": lambda i, v, s, r: all(_valid(i, sub, r) for sub in v),
    "anyOf": lambda i, v, s, r: any(_valid(i, sub, r) for sub in v),
    "if": _if,
    "$ref": lambda i, v, s, r: _valid(i, _resolve(v, r), r),
}
