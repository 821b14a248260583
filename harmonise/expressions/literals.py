"""Literals of the expression language: the named constants, and the kind and value of a
literal node (``12``, ``-0.5``, ``'text'``, ``true``, ``null``)."""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["CONSTANTS", "KINDS", "literal_kind", "literal_value"]

#: static kinds of values: what the type checker knows about a name or a result
KINDS = ("number", "date", "bool", "text", "any", "null")

#: the names that are constants, and their values
CONSTANTS: dict[str, Any] = {"null": None, "true": True, "false": False, "True": True,
                             "False": False, "None": None}


def literal_kind(node: ast.AST) -> str | None:
    """The kind of a literal node (number, text, bool, null), or None if not a literal."""
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, str):
            return "text"
        return None
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        v = CONSTANTS[node.id]
        return "null" if v is None else "bool"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return "number" if literal_kind(node.operand) == "number" else None
    return None


def literal_value(node: ast.AST) -> Any:
    """The value of a literal node (see :func:`literal_kind`)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        v = literal_value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    raise AssertionError(node)
