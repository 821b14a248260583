"""YAML with line numbers, and problems located by file, line and key.

Spec files (dictionaries, mappings) are read with :func:`read_yaml`/:func:`parse_yaml` into a
:class:`YamlDocument`: the plain data (dicts, lists, scalars) plus a map from every key path
(``("variables", 3, "range", "min")``) to the 1-based line it starts on. Loaders report problems
through a :class:`ProblemCollector`, which turns a path into a :class:`~repository.errors.SpecProblem`
(file, line, readable key, message), so that every problem in a file is listed at once.

The YAML dialect is deliberately strict and close to YAML 1.2's core schema, because trial codes
are data, not syntax:

* only ``true``/``false`` (any case of the first letter, or all upper case) are booleans;
  ``yes``, ``no``, ``on``, ``off``, ``Y`` and ``N`` stay strings (a recode of ``N: 0`` means the
  text ``N``, not ``false``);
* integers are decimal without leading zeros (``007`` stays the string ``"007"``); no octal, no
  sexagesimal (``1:30`` is a string);
* dates are never converted: ``2026-11-23`` is the string ``"2026-11-23"`` (spec objects parse it);
* a key given twice in one mapping is a problem, not a silent overwrite.

Limits, so that a hostile or broken file is refused before it costs time and memory (documented
in docs/mapping-format.md): a spec file may hold at most :data:`MAX_SPEC_BYTES` bytes and nest
:data:`MAX_SPEC_DEPTH` levels deep; anchors and aliases (``&name`` / ``*name``) may add at most
:data:`MAX_ALIAS_NODES` nodes to the document (an "alias bomb" of a few lines describes billions
of nodes) and may not refer to themselves. The node graph is measured before it is expanded.

:func:`schema_problems` validates data against a JSON Schema (``harmonise/schemas``) and
rewrites the validator's messages into located problems that say what to do.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harmonise.schemacheck import is_valid
from repository.errors import SpecError, SpecProblem
from repository.reasons import Reason

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_SPEC_BYTES",
    "MAX_SPEC_DEPTH",
    "YamlDocument",
    "ProblemCollector",
    "parse_yaml",
    "read_yaml",
    "dump_yaml",
    "render_key",
    "line_of",
    "given_fields",
    "schema_problems",
    "load_schema",
    "suggest",
]

Path_ = tuple[Any, ...]

#: largest dictionary or mapping file read, in bytes
MAX_SPEC_BYTES = 4 * 2**20
#: most nodes that anchors and aliases may add to a document once expanded
MAX_ALIAS_NODES = 10_000
#: deepest nesting of mappings and lists in a spec file
MAX_SPEC_DEPTH = 64

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML-1.2-core booleans and numbers and no timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node))


_Loader.add_constructor(_INT, _construct_int)

_CParser: Any
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

if _CParser is not None:
    class _Composer(yaml.composer.Composer, _CParser, yaml.resolver.Resolver):
        """libyaml's scanner and parser (several times faster than PyYAML's) feeding PyYAML's
        own composer, with :class:`_Loader`'s resolvers. libyaml's parser keeps its state on
        the heap; composing stays in Python, so that deep nesting is a ``RecursionError``
        (reported as too deep) and never a crash of libyaml's recursive composer."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _Composer.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover
    _Composer = _Loader  # type: ignore[misc,assignment]


def line_of(lines: Mapping[Path_, int], path: Sequence[Any]) -> int | None:
    """The line of key ``path`` in ``lines``, or of its nearest ancestor that has one."""
    path = tuple(path)
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


def given_fields(spec: Any, keys: Iterable[str]) -> dict[str, Any]:
    """The attributes ``keys`` of a spec object that are set (not None), for its ``to_dict``:
    a spec written back to YAML leaves out what it does not give."""
    return {key: value for key in keys if (value := getattr(spec, key)) is not None}


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML: the data, the file it came from, and the line of every key path."""

    data: Any
    file: str
    lines: Mapping[Path_, int] = field(default_factory=dict, repr=False)
    problems: tuple[SpecProblem, ...] = ()

    def line(self, path: Sequence[Any]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        return line_of(self.lines, path)


def parse_yaml(text: str, *, file: str = "<string>",
               error: type[SpecError] = SpecError) -> YamlDocument:
    """Parse ``text``; syntax errors raise ``error`` located at their line.

    Duplicate keys do not raise: they are returned in :attr:`YamlDocument.problems` so that the
    caller can report them with everything else.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise error(f"{file} is {len(text):,} characters long; spec files are read up to "
                    f"{MAX_SPEC_BYTES:,} bytes. Check that this is a dictionary or mapping file.",
                    [SpecProblem(file, None, "(file)", "file too large")], file=file,
                    reason=Reason.TOO_LARGE)
    loader = _Composer(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise error(f"{file} is not valid YAML; fix the syntax at the line shown.",
                    [SpecProblem(file, line, "(syntax)", what)], file=file) from exc
    except yaml.YAMLError as exc:
        raise error(f"{file} is not valid YAML: {exc}.",
                    [SpecProblem(file, None, "(syntax)", str(exc))], file=file) from exc
    except RecursionError as exc:
        raise _too_deep(file, None, error) from exc
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {(): 1}
    problems: list[SpecProblem] = []
    if node is None:
        return YamlDocument(data=None, file=file, lines=lines)
    _check_expansion(node, file, error)
    constructor = _Loader("")
    try:
        data = _build(node, (), lines, problems, constructor, file)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise error(f"{file} has a value YAML cannot read.",
                    [SpecProblem(file, mark.line + 1 if mark else None, "(syntax)",
                                 str(exc.problem))], file=file) from exc
    return YamlDocument(data=data, file=file, lines=lines, problems=tuple(problems))


def _too_deep(file: str, line: int | None, error: type[SpecError]) -> SpecError:
    return error(f"{file} nests mappings and lists more than {MAX_SPEC_DEPTH} levels deep; "
                 "spec files are flat. Check the indentation and the brackets.",
                 [SpecProblem(file, line, "(structure)", "nested too deeply")], file=file,
                 reason=Reason.TOO_DEEP)


def _check_expansion(root: yaml.Node, file: str, error: type[SpecError]) -> None:
    """Refuse a document whose aliases expand it by more than :data:`MAX_ALIAS_NODES` nodes, that
    refers to itself, or that nests too deeply; measured on the node graph (each distinct node
    once), so an alias bomb costs no more to refuse than to read."""
    expanded: dict[int, int] = {}
    active: set[int] = set()
    distinct = 0

    def size(node: yaml.Node, depth: int) -> int:
        nonlocal distinct
        key = id(node)
        if key in expanded:
            return expanded[key]
        line = node.start_mark.line + 1 if node.start_mark else None
        if key in active:
            raise error(f"{file}: an alias refers to the mapping or list it is in; YAML "
                        "structures in spec files cannot contain themselves.",
                        [SpecProblem(file, line, "(alias)", "recursive alias")], file=file,
                        reason=Reason.RECURSIVE_ALIAS)
        if depth > MAX_SPEC_DEPTH:
            raise _too_deep(file, line, error)
        active.add(key)
        distinct += 1
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        active.discard(key)
        expanded[key] = total
        return total

    total = size(root, 0)
    if total - distinct > MAX_ALIAS_NODES:
        raise error(
            f"{file}: its aliases (*name) would expand {distinct:,} nodes into {total:,}; at most "
            f"{MAX_ALIAS_NODES:,} nodes may come from aliases. Write the repeated part out, or "
            "use fewer aliases (this looks like an alias bomb).",
            [SpecProblem(file, None, "(alias)", f"aliases expand to {total:,} nodes")],
            file=file, reason=Reason.ALIAS_EXPANSION, nodes=total)


def read_yaml(path: Path | str, *, error: type[SpecError] = SpecError) -> YamlDocument:
    """Read and parse a YAML file (see :func:`parse_yaml`); files over :data:`MAX_SPEC_BYTES`
    are refused before they are read."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if size > MAX_SPEC_BYTES:
        raise error(f"{path} is {size:,} bytes; spec files are read up to {MAX_SPEC_BYTES:,} "
                    "bytes. Check that this is a dictionary or mapping file.",
                    [SpecProblem(str(path), None, "(file)", "file too large")], file=str(path),
                    reason=Reason.TOO_LARGE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error(f"{path} does not exist; check the path (or the workspace's dictionary "
                    "setting).", [SpecProblem(str(path), None, "(file)", "file not found")],
                    file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text; save it as UTF-8.",
                    [SpecProblem(str(path), None, "(file)", f"not UTF-8 ({exc.reason})")],
                    file=str(path)) from exc
    return parse_yaml(text, file=str(path), error=error)


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[SpecProblem],
           constructor: _Loader, file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(SpecProblem(file, key_node.start_mark.line + 1,
                                            render_key(path) or "(top)",
                                            "a key must be a plain value, not a list or mapping"))
                continue
            key = constructor.construct_object(key_node)
            sub = path + (key,)
            if key in out:
                problems.append(SpecProblem(
                    file, key_node.start_mark.line + 1, render_key(sub),
                    f"key {key!r} is given twice (first on line {lines.get(sub)}); keep one"))
                continue
            lines[sub] = key_node.start_mark.line + 1
            out[key] = _build(value_node, sub, lines, problems, constructor, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            sub = path + (i,)
            lines[sub] = item.start_mark.line + 1
            items.append(_build(item, sub, lines, problems, constructor, file))
        return items
    return constructor.construct_object(node, deep=True)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_key(path: Sequence[Any], data: Any = None) -> str:
    """A readable key for ``path``: ``variables[weight_kg].range.min``, ``variables.sex.map.M``.

    With ``data``, list items that are mappings with a ``name`` (or ``id``) are shown by it.
    """
    out = ""
    node = data
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            label: Any = part
            if isinstance(node, list) and 0 <= part < len(node) and isinstance(node[part], dict):
                item = node[part]
                named = item.get("name", item.get("id"))
                if isinstance(named, str) and named:
                    label = named
            out += f"[{label}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            text = str(part)
            piece = text if _IDENT.match(text) else json.dumps(text, ensure_ascii=False)
            out += ("." if out else "") + piece
            node = node.get(part) if isinstance(node, dict) else None
    return out


class ProblemCollector:
    """Collects :class:`SpecProblem` s for one document, located by key path."""

    def __init__(self, doc: YamlDocument | None = None, *, file: str | None = None,
                 data: Any = None, lines: Mapping[Path_, int] | None = None) -> None:
        self.file = file or (doc.file if doc else "<data>")
        self.data = doc.data if doc is not None else data
        self.lines: Mapping[Path_, int] = doc.lines if doc is not None else (lines or {})
        self.problems: list[SpecProblem] = list(doc.problems) if doc is not None else []

    def line(self, path: Sequence[Any]) -> int | None:
        return line_of(self.lines, path)

    def add(self, path: Sequence[Any], message: str) -> None:
        problem = SpecProblem(self.file, self.line(path),
                              render_key(path, self.data) or "(top)", message)
        if problem not in self.problems:
            self.problems.append(problem)

    def extend(self, problems: Iterable[SpecProblem]) -> None:
        for p in problems:
            if p not in self.problems:
                self.problems.append(p)

    def sorted(self) -> list[SpecProblem]:
        return sorted(self.problems, key=lambda p: (p.file, p.line or 0, p.key, p.message))

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)


# --- dumping ------------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Safe dumper that keeps key order and quotes strings another YAML reader could misread."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = None
    if value and (value[0] == "0" and len(value) > 1 and value.isdigit()):
        style = "'"
    if "\n" in value:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, *, width: int = 100) -> str:
    """YAML text for ``data`` (block style, keys in insertion order, UTF-8 characters kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=width)


# --- JSON Schema --------------------------------------------------------------------------------

_SCHEMA_DIR = Path(__file__).parent / "schemas"


@cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The JSON Schema ``harmonise/schemas/<name>.schema.json``."""
    with (_SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as fh:
        schema: Mapping[str, Any] = json.load(fh)
    return schema


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    opts = [str(o) for o in options]
    close = difflib.get_close_matches(str(word), opts, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in opts}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


_JSON_TYPES = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "empty"}


#: Python type of a YAML value -> how a message names it (bool before int: True is an int)
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "true/false"), (int, "a whole number"), (float, "a number"), (str, "text"),
    (list, "a list"), (dict, "a mapping"), (type(None), "empty"))


def _type_name(value: Any) -> str:
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)),
                type(value).__name__)


def _expected(types: Any) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_JSON_TYPES.get(t, t) for t in types)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


#: the optional libraries jsonschema imports to check string formats; rfc3987_syntax compiles
#: 38 grammars (about 2 s), the others cost about 0.1 s of CPU together
_FORMAT_LIBRARIES = ("rfc3987_syntax", "rfc3987", "rfc3986_validator", "rfc3339_validator",
                     "fqdn", "idna", "webcolors", "jsonpointer", "uri_template", "isoduration")


def _jsonschema() -> Any:
    """The jsonschema module, imported without its optional format checkers: at import,
    jsonschema registers a checker from each format library that is installed (they come with
    JupyterLab), at a cost to every command that reads a dictionary or mapping. Our schemas use
    no formats; the libraries are only kept from loading while jsonschema registers its
    checkers, so anything else can still import them."""
    import sys

    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = [name for name in _FORMAT_LIBRARIES if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        for name in blocked:
            del sys.modules[name]
    return jsonschema


def schema_problems(data: Any, schema: Mapping[str, Any],
                    add: Callable[[Sequence[Any], str], None]) -> int:
    """Validate ``data`` against ``schema``; report each failure through ``add(path, message)``.

    Returns the number of problems reported. Messages are rewritten for people: unknown keys
    name the allowed ones (with a close match), wrong types say what was expected and found.
    """
    if is_valid(data, schema):  # a sure yes (harmonise.schemacheck): no problem to report
        return 0
    jsonschema = _jsonschema()
    validator = jsonschema.Draft202012Validator(schema)
    count = 0
    seen: set[tuple[Path_, str]] = set()
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _translate(err):
            if (path, message) in seen:
                continue
            seen.add((path, message))
            add(path, message)
            count += 1
    return count


def _translate(err: Any) -> list[tuple[Path_, str]]:
    path: Path_ = tuple(err.absolute_path)
    translate = _TRANSLATIONS.get(err.validator)
    if translate is None:
        return [(path, err.message)]
    return translate(err, path, err.instance)


# each: a JSON Schema error of one validator (``err.validator``) as (key path, message) pairs
def _additional(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    if not isinstance(value, dict):
        return [(path, err.message)]
    allowed = sorted(err.schema.get("properties", {}))
    extra = [k for k in value if k not in err.schema.get("properties", {})]
    return [(path + (k,), f"unknown key {k!r}{suggest(k, allowed)}; allowed here: "
             f"{', '.join(allowed)}") for k in extra]


def _required(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    missing = [k for k in err.validator_value if isinstance(value, dict) and k not in value]
    return [(path, f"missing required key {k!r}") for k in missing]


def _wrong_type(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, f"must be {_expected(err.validator_value)}, not {_type_name(value)} "
             f"({_short(value)})")]


def _enum(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    options = [str(o) for o in err.validator_value]
    return [(path, f"{_short(value)} is not allowed{suggest(str(value), options)}; use one "
             f"of: {', '.join(options)}")]


def _const(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, f"must be {_short(err.validator_value)}, not {_short(value)}")]


def _pattern(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    hint = err.schema.get("description") or f"the pattern {err.validator_value}"
    return [(path, f"{_short(value)} does not match {hint}")]


def _empty(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, "must not be empty")]


def _bounds(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, f"{_short(value)} is out of bounds ({err.validator} {err.validator_value})")]


def _unique(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, "items must be unique")]


def _one_of(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    subs = [e for e in (err.context or []) if e.validator not in ("type", "const", "required")]
    if subs:
        out: list[tuple[Path_, str]] = []
        for sub in subs:
            out.extend(_translate(sub))
        return out
    options = []
    for option in err.validator_value:
        if "type" in option:
            options.append(_expected(option["type"]))
        elif "$ref" in option:
            options.append(option["$ref"].rsplit("/", 1)[-1].replace("_", " "))
    return [(path, f"must be {' or '.join(dict.fromkeys(options)) or 'a valid value'}, not "
             f"{_type_name(value)} ({_short(value)})")]


def _not(err: Any, path: Path_, value: Any) -> list[tuple[Path_, str]]:
    return [(path, err.schema.get("description", "this value is not allowed here"))]


_TRANSLATIONS: dict[str, Callable[[Any, Path_, Any], list[tuple[Path_, str]]]] = {
    "additionalProperties": _additional,
    "required": _required,
    "type": _wrong_type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "minItems": _empty,
    "minLength": _empty,
    "minProperties": _empty,
    "minimum": _bounds,
    "maximum": _bounds,
    "exclusiveMinimum": _bounds,
    "exclusiveMaximum": _bounds,
    "uniqueItems": _unique,
    "oneOf": _one_of,
    "anyOf": _one_of,
    "not": _not,
}
