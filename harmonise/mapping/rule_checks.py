"""Checking a mapping's rules against the dictionary they map onto.

Called by the mapping loader (:mod:`harmonise.mapping.spec`) when a dictionary is given: unknown and
unmapped variables, rule types that cannot produce the variable's type, recode targets and
constants outside the variable's categories or type, impossible unit conversions, expressions
whose types clash, derivation parameters of the wrong kind. Every problem goes to the
collector, located by key path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.expressions.kinds import infer_kind
from harmonise.mapping import rules
from harmonise.mapping.derivations import DERIVATIONS, output_kind
from harmonise.yamlio import ProblemCollector, suggest
from repository.errors import SpecError

__all__ = ["check_against"]


def _codes_text(var: Variable) -> str:
    return ", ".join(f"{c.code}={c.label}" for c in var.categories)


def _check_value(value: Any, var: Variable, path: tuple[Any, ...], col: ProblemCollector,
                 what: str) -> None:
    """Is the literal ``value`` a valid harmonised value of ``var``?"""
    if value is None:
        return
    check = _VALUE_CHECKS.get(var.type)
    wrong = check(value, var) if check is not None else None
    if wrong is not None:
        col.add(path, f"{what} {value!r}{wrong}")


# each: what is wrong with a literal as a value of the variable (the message after the
# value), or None
def _wrong_category(value: Any, var: Variable) -> str | None:
    if var.category(value) is None or (isinstance(value, bool)):
        return f" is not a category of {var.name} ({_codes_text(var)})"
    if var.codes_are_integers != (isinstance(value, int) and not isinstance(value, bool)):
        return f": write the code as {'a number' if var.codes_are_integers else 'quoted text'}"
    return None


def _wrong_boolean(value: Any, var: Variable) -> str | None:
    if not (isinstance(value, bool) or value in (0, 1)):
        return f": {var.name} is boolean; use true or false"
    return None


def _wrong_integer(value: Any, var: Variable) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f": {var.name} is an integer; use a whole number"
    return None


def _wrong_decimal(value: Any, var: Variable) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f": {var.name} is a decimal; use a number"
    return None


def _wrong_date(value: Any, var: Variable) -> str | None:
    import datetime as dt

    try:
        if not isinstance(value, str):
            raise ValueError
        dt.date.fromisoformat(value[:10])
    except ValueError:
        return f": {var.name} is a date; write YYYY-MM-DD"
    return None


def _wrong_text(value: Any, var: Variable) -> str | None:
    return None if isinstance(value, str) else f": {var.name} is text; quote it"


_VALUE_CHECKS: dict[str, Callable[[Any, Variable], str | None]] = {
    "categorical": _wrong_category,
    "boolean": _wrong_boolean,
    "integer": _wrong_integer,
    "decimal": _wrong_decimal,
    "date": _wrong_date,
    "datetime": _wrong_date,
    "text": _wrong_text,
    "id": _wrong_text,
}


_COMPATIBLE = {
    "number": {"integer", "decimal", "categorical", "boolean"},
    "date": {"date", "datetime"},
    "bool": {"boolean", "integer", "categorical"},
    "text": {"text", "id", "categorical", "integer", "decimal", "boolean", "date", "datetime"},
}


def _check_kind(kind: str, var: Variable, path: tuple[Any, ...], col: ProblemCollector,
                what: str) -> None:
    if kind in ("any", "null"):
        return
    if var.type not in _COMPATIBLE.get(kind, set()):
        col.add(path, f"{what} gives a {kind}, but {var.name} is {var.type}")
    elif kind == "number" and var.type == "categorical" and not var.codes_are_integers:
        col.add(path, f"{what} gives a number, but the codes of {var.name} are texts")


def check_against(data: dict[str, Any], mapped_rules: list[rules.Rule], d: Dictionary,
                  col: ProblemCollector) -> None:
    _check_target(data, d, col)
    variables = data["variables"]
    kinds = d.kinds()
    for name in variables:
        if not isinstance(name, str) or name in d:
            continue
        col.add(("variables", name), f"{name!r} is not a variable of the dictionary "
                                     f"{d.topic} {d.version}{suggest(name, d.names)}")
    mapped = {r.variable for r in mapped_rules} | {n for n in variables if isinstance(n, str)}
    _check_unmapped(variables, mapped, d, col)
    context = {v.name for v in d.context}
    for rule in mapped_rules:
        if rule.variable not in d:
            continue
        var = d.variable(rule.variable)
        path = ("variables", rule.variable)
        _check_id_rule(rule, var, path, col)
        _check_reads(rule, d, mapped, context, path, col)
        if getattr(rule, "round", None) is not None and var.type not in ("integer", "decimal"):
            col.add(path + ("round",), f"`round` only applies to numbers; {var.name} is {var.type}")
        check = _RULE_CHECKS.get(type(rule))
        if check is not None:
            check(rule, var, kinds, path, col)


def _check_target(data: dict[str, Any], d: Dictionary, col: ProblemCollector) -> None:
    """Is the mapping for this dictionary and this version of it?"""
    if isinstance(data.get("dictionary"), str) and data["dictionary"] != d.topic:
        col.add(("dictionary",), f"this mapping is for dictionary {data['dictionary']!r} but the "
                                 f"dictionary loaded is {d.topic!r}")
    if data.get("dictionary_version") is not None and str(data["dictionary_version"]) != d.version:
        col.add(("dictionary_version",),
                f"this mapping is for version {data['dictionary_version']} of the dictionary, "
                f"but the dictionary is at {d.version}; check the mapping against the current "
                f"version and save it under mappings/{d.version}/")


def _check_unmapped(variables: Any, mapped: set[str], d: Dictionary,
                    col: ProblemCollector) -> None:
    """Every variable but the trial has a rule; the trial has none."""
    for var in d.variables:
        if var.role == "trial":
            if var.name in variables:
                col.add(("variables", var.name), f"{var.name} is filled in by ipdrepo from the "
                                                 "trial's acronym; remove this rule")
            continue
        if var.name not in mapped:
            col.add(("variables",), f"no rule for {var.name}; add one (`{var.name}: {{rule: "
                                    "impossible, comment: ...}` if the trial did not collect it)")


def _check_id_rule(rule: rules.Rule, var: Variable, path: tuple[Any, ...],
                   col: ProblemCollector) -> None:
    """The participant ID, and only it, is made by id_creation."""
    if var.role == "id" and not isinstance(rule, rules.IdCreation):
        col.add(path + ("rule",), f"{var.name} is the participant ID: use `rule: id_creation`")
    if isinstance(rule, rules.IdCreation) and var.role != "id":
        col.add(path + ("rule",), f"id_creation only maps the participant ID variable, not "
                                  f"{var.name}")


def _check_reads(rule: rules.Rule, d: Dictionary, mapped: set[str], context: set[str],
                 path: tuple[Any, ...], col: ProblemCollector) -> None:
    """The variables a rule reads exist, have rules and are not the rule's own."""
    read_tables = rule.tables() if isinstance(rule, rules.Aggregate) else ()
    for ref in rule.variables():
        if ref == rule.variable:
            col.add(path, f"{rule.variable} reads itself")
        elif ref in context or (d.tables and d.table_of(ref) in read_tables):
            continue  # a participant variable read by a long table's rule, or a variable
            # of the long table an aggregate reads: both mapped by their own table's rules
        elif ref not in d:
            col.add(path, f"{rule.variable} reads {ref!r}, which is not a dictionary variable"
                          f"{suggest(ref, d.names)} (raw columns are written ${ref})")
        elif ref not in mapped:
            col.add(path, f"{rule.variable} reads {ref}, which has no rule in this mapping")


def _check_expression(expression: Any, var: Variable, kinds: dict[str, str],
                      path: tuple[Any, ...], col: ProblemCollector, what: str) -> None:
    """An expression's type clashes, and whether its kind suits ``var``."""
    k, clashes = infer_kind(expression, kinds)
    for m in clashes:
        col.add(path, m)
    _check_kind(k, var, path, col, what)


def _check_recode(rule: rules.Recode, var: Variable, kinds: dict[str, str],
                  path: tuple[Any, ...], col: ProblemCollector) -> None:
    if var.type in ("date", "datetime"):
        col.add(path + ("rule",), f"{var.name} is a date; recode cannot produce dates (use a "
                                  "date rule)")
        return
    for key, value in rule.map:
        _check_value(value, var, path + ("map", key), col, f"code {key!r} maps to")
    if rule.otherwise == "value":
        _check_value(rule.otherwise_value, var, path + ("else",), col, "else")


def _check_constant(rule: rules.Constant, var: Variable, kinds: dict[str, str],
                    path: tuple[Any, ...], col: ProblemCollector) -> None:
    _check_value(rule.value, var, path + ("value",), col, "the constant")


def _check_case_when(rule: rules.CaseWhen, var: Variable, kinds: dict[str, str],
                     path: tuple[Any, ...], col: ProblemCollector) -> None:
    for i, case in enumerate(rule.cases):
        k, clashes = infer_kind(case.when, kinds)
        for m in clashes:
            col.add(path + ("cases", i, "when"), m)
        if not clashes and k not in ("bool", "any", "null"):
            col.add(path + ("cases", i, "when"), f"`{case.when.text}` is a {k}, not a "
                                                 "condition")
        if case.expression is not None:
            _check_expression(case.expression, var, kinds, path + ("cases", i, "expression"),
                              col, "the expression")
        else:
            _check_value(case.value, var, path + ("cases", i, "value"), col, "the value")
    if rule.otherwise_expression is not None:
        _check_expression(rule.otherwise_expression, var, kinds, path + ("else",), col, "else")
    else:
        _check_value(rule.otherwise_value, var, path + ("else",), col, "else")


def _check_operation(rule: rules.Operation, var: Variable, kinds: dict[str, str],
                     path: tuple[Any, ...], col: ProblemCollector) -> None:
    _check_expression(rule.expression, var, kinds, path + ("expression",), col,
                      "the expression")


def _check_date_parse(rule: rules.DateParse, var: Variable, kinds: dict[str, str],
                      path: tuple[Any, ...], col: ProblemCollector) -> None:
    if var.type not in ("date", "datetime"):
        col.add(path + ("rule",), f"{var.name} is {var.type}, not a date; a date rule "
                                  "produces dates")


def _check_derive(rule: rules.Derive, var: Variable, kinds: dict[str, str],
                  path: tuple[Any, ...], col: ProblemCollector) -> None:
    derivation = DERIVATIONS[rule.function]
    out = derivation.output
    literal = {k: v for k, v in rule.args if isinstance(v, (str, int))}
    if out == "tte" and literal.get("output") == "event":
        out = "event"
    if out == "event":
        if not (var.type in ("boolean", "integer") or
                (var.type == "categorical" and {0, 1} <= set(var.codes))):
            col.add(path + ("function",), f"{rule.function} gives 0/1, but {var.name} is "
                                          f"{var.type}" + (f" ({_codes_text(var)})"
                                                           if var.categories else ""))
    else:
        _check_kind(output_kind(derivation, literal), var, path + ("function",), col,
                    rule.function)
    for key, ref in rule.args:
        if isinstance(ref, (str, int)):
            continue
        param = derivation.param(key)
        want = param.kind if param else "any"
        _check_ref(ref, want, kinds, path + (key,), col)


def _check_ref(ref: rules.Ref, want: str, kinds: dict[str, str], path: tuple[Any, ...],
               col: ProblemCollector) -> None:
    if isinstance(ref, rules.VariableRef):
        k = kinds.get(ref.name)
        if k is not None and want in ("date", "number") and k != want:
            col.add(path, f"{ref.name} is a {k}, but a {want} is needed here")
    elif isinstance(ref, rules.ColumnRef):
        if want == "number" and ref.format is not None:
            col.add(path + ("format",), "a format only applies to dates")
    elif isinstance(ref, rules.CombinedRef):
        if ref.how in ("earliest", "latest") and want != "date":
            col.add(path, f"{ref.how} combines dates, but a {want} is needed here")
        for i, r in enumerate(ref.refs):
            _check_ref(r, want, kinds, path + (ref.how, i), col)
    elif isinstance(ref, rules.ExpressionRef):
        k, clashes = infer_kind(ref.expression, kinds)
        for m in clashes:
            col.add(path + ("expression",), m)
        if k not in ("any", "null") and want in ("date", "number") and k != want:
            col.add(path + ("expression",), f"the expression gives a {k}, but a {want} is "
                                            "needed here")


def _check_unit(rule: rules.UnitConversion, var: Variable, kinds: dict[str, str],
                path: tuple[Any, ...], col: ProblemCollector) -> None:
    from harmonise.values import units

    if var.type not in ("integer", "decimal"):
        col.add(path + ("rule",), f"{var.name} is {var.type}; unit conversions produce numbers")
        return
    if var.unit is None:
        col.add(path + ("rule",), f"{var.name} has no unit in the dictionary; use direct or "
                                  "operation, or give the variable a unit")
        return
    if rule.target_unit is not None:
        try:
            if units.unit(rule.target_unit) != units.unit(var.unit):
                col.add(path + ("to",), f"to: {rule.target_unit} differs from the dictionary unit "
                                        f"of {var.name} ({var.unit}); omit `to:`")
        except SpecError as exc:
            col.add(path + ("to",), exc.problems[0].message)
    try:
        units.unit(rule.source_unit)
    except SpecError as exc:
        col.add(path + ("from",), exc.problems[0].message)
        return
    analyte = rule.analyte or var.analyte
    if rule.analyte is not None:
        try:
            units.analyte(rule.analyte)
        except SpecError as exc:
            col.add(path + ("analyte",), exc.problems[0].message)
            return
    try:
        units.conversion(rule.source_unit, var.unit, analyte_name=analyte)
    except SpecError as exc:
        col.add(path + ("from",), f"impossible unit conversion for {var.name}: "
                                  f"{exc.problems[0].message}")


#: the checks of each rule type's own parameters
_RULE_CHECKS: dict[type, Callable[[Any, Variable, dict[str, str], tuple[Any, ...],
                                   ProblemCollector], None]] = {
    rules.Recode: _check_recode,
    rules.Constant: _check_constant,
    rules.CaseWhen: _check_case_when,
    rules.Operation: _check_operation,
    rules.UnitConversion: _check_unit,
    rules.DateParse: _check_date_parse,
    rules.Derive: _check_derive,
}
