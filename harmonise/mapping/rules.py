"""Mapping rule spec objects: one frozen dataclass per rule type, and value references.

Each rule knows the raw columns and harmonised variables it reads, renders itself back to the
YAML form (``to_dict``) and describes itself in one line for reports and ``explain``. The
loader that builds them from YAML, and the checks against a dictionary, are in
:mod:`harmonise.mapping.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from harmonise.expressions.language import Expression

__all__ = [
    "COMBINABLE",
    "COMBINERS",
    "RULE_TYPES",
    "STATUSES",
    "TAKES",
    "Aggregate",
    "AggregateSource",
    "Case",
    "CaseWhen",
    "ColumnRef",
    "CombinedRef",
    "Constant",
    "DateParse",
    "Derive",
    "Direct",
    "ExpressionRef",
    "IdCreation",
    "Impossible",
    "Operation",
    "Recode",
    "Ref",
    "Rule",
    "Scalar",
    "Undetermined",
    "UnitConversion",
    "VariableRef",
    "qualify",
    "ref_columns",
    "ref_text",
    "ref_variables",
]

STATUSES = ("complete", "impossible", "undetermined")
Scalar = int | float | str | bool


# --- value references (parameters of derive rules) ----------------------------------------------

@dataclass(frozen=True)
class VariableRef:
    """A harmonised variable, written as its bare name: ``rand_date``."""

    name: str

    def to_data(self) -> Any:
        return self.name


@dataclass(frozen=True)
class ColumnRef:
    """A raw column, optionally parsed as a date: ``{column: BIRTHYM, format: "%Y-%m"}``;
    ``impute`` completes partial ISO 8601 dates (format ``iso8601``)."""

    column: str
    format: str | None = None
    impute: str | None = None

    def to_data(self) -> Any:
        out: dict[str, Any] = {"column": self.column}
        if self.format is not None:
            out["format"] = self.format
        if self.impute is not None:
            out["impute"] = self.impute
        return out


@dataclass(frozen=True)
class CombinedRef:
    """``{coalesce: [...]}`` (first known), ``{earliest: [...]}`` or ``{latest: [...]}``."""

    how: str
    refs: tuple[Ref, ...]

    def to_data(self) -> Any:
        return {self.how: [r.to_data() for r in self.refs]}


@dataclass(frozen=True)
class ExpressionRef:
    """Any expression: ``{expression: "rand_date + 30"}``."""

    expression: Expression

    def to_data(self) -> Any:
        return {"expression": self.expression.text}


Ref = VariableRef | ColumnRef | CombinedRef | ExpressionRef
COMBINERS = ("coalesce", "earliest", "latest")


def qualify(dataset: str | None, column: str) -> str:
    """``DATASET.COLUMN`` for a column of a joined dataset, the column itself otherwise."""
    return column if dataset is None else f"{dataset}.{column}"


def ref_columns(ref: Ref) -> list[str]:
    if isinstance(ref, ColumnRef):
        return [ref.column]
    if isinstance(ref, CombinedRef):
        return [c for r in ref.refs for c in ref_columns(r)]
    if isinstance(ref, ExpressionRef):
        return list(ref.expression.columns)
    return []


def ref_variables(ref: Ref) -> list[str]:
    if isinstance(ref, VariableRef):
        return [ref.name]
    if isinstance(ref, CombinedRef):
        return [v for r in ref.refs for v in ref_variables(r)]
    if isinstance(ref, ExpressionRef):
        return list(ref.expression.variables)
    return []


def ref_text(ref: Ref) -> str:
    if isinstance(ref, VariableRef):
        return ref.name
    if isinstance(ref, ColumnRef):
        how = ", ".join(x for x in (ref.format, f"impute {ref.impute}" if ref.impute else None)
                        if x)
        return f"${ref.column}" + (f" ({how})" if how else "")
    if isinstance(ref, CombinedRef):
        return f"{ref.how}({', '.join(ref_text(r) for r in ref.refs)})"
    return ref.expression.text


# --- rules ------------------------------------------------------------------------------------

def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, str) else ("null" if value is None else str(value))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Base of all rules: the target variable, a status and a comment."""

    variable: str
    status: str = ""
    comment: str | None = None
    #: the joined dataset (one-to-one) whose columns the rule reads; None: the base dataset
    dataset: str | None = None
    #: set by ``ipdrepo mapping draft``: why the rule was proposed; the curator confirms the
    #: rule by deleting it (a mapping with draft rules cannot be used)
    draft: str | None = None

    rule: ClassVar[str] = ""
    implied_status: ClassVar[str] = "complete"

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", self.implied_status)

    def columns(self) -> tuple[str, ...]:
        """Raw columns the rule reads; a column of a joined dataset (the rule's ``dataset``) is
        named ``DATASET.COLUMN``."""
        return tuple(qualify(self.dataset, c) for c in self._columns())

    def _columns(self) -> tuple[str, ...]:
        """The columns as the rule names them (in its own dataset)."""
        return ()

    def variables(self) -> tuple[str, ...]:
        """Harmonised variables the rule reads (they are mapped first)."""
        return ()

    def body(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        out.update(self.body())
        if self.status != self.implied_status:
            out["status"] = self.status
        return out | _set(comment=self.comment, draft=self.draft)

    def describe(self) -> str:
        """One line for people: what the rule does."""
        return self.rule


def _missing_text(missing: Sequence[Any]) -> str:
    return f"; missing codes {', '.join(_literal(m) for m in missing)}" if missing else ""


def _round_text(digits: int | None) -> str:
    return f", rounded to {digits} decimals" if digits is not None else ""


def _set(**keys: Any) -> dict[str, Any]:
    """The optional keys of a rule's YAML that it sets (not None, not empty), tuples as
    lists, in the order given."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in keys.items() if value is not None and value != ()}


@dataclass(frozen=True, kw_only=True)
class _ColumnRule(Rule):
    """A rule that reads one raw column."""

    column: str

    def _columns(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True, kw_only=True)
class IdCreation(_ColumnRule):
    rule: ClassVar[str] = "id_creation"

    def body(self) -> dict[str, Any]:
        return {"column": self.column}

    def describe(self) -> str:
        return f"participant IDs from ${self.column} (pseudonymised)"


@dataclass(frozen=True, kw_only=True)
class Direct(_ColumnRule):
    missing: tuple[Scalar, ...] = ()
    round: int | None = None
    rule: ClassVar[str] = "direct"

    def body(self) -> dict[str, Any]:
        return {"column": self.column, **_set(missing=self.missing, round=self.round)}

    def describe(self) -> str:
        return f"${self.column} as it is{_round_text(self.round)}{_missing_text(self.missing)}"


@dataclass(frozen=True, kw_only=True)
class Recode(_ColumnRule):
    """Map raw codes to dictionary codes. ``otherwise`` is ``"error"`` (report values not in
    the map: the default), ``"missing"`` (treat them as missing), or a value (``otherwise_value``)."""

    map: tuple[tuple[Scalar, Scalar | None], ...]
    missing: tuple[Scalar, ...] = ()
    otherwise: str = "error"
    otherwise_value: Scalar | None = None
    ignore_case: bool = False
    rule: ClassVar[str] = "recode"

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "map": dict(self.map),
                               **_set(missing=self.missing)}
        if self.otherwise == "missing":
            out["else"] = "missing"
        elif self.otherwise == "value":
            v = self.otherwise_value
            out["else"] = {"value": v} if v in ("error", "missing") else v
        if self.ignore_case:
            out["ignore_case"] = True
        return out

    def describe(self) -> str:
        pairs = ", ".join(f"{_literal(k)} -> {_literal(v)}" for k, v in self.map)
        other = {"error": "others reported", "missing": "others missing"}.get(
            self.otherwise, f"others -> {_literal(self.otherwise_value)}")
        return f"recode ${self.column}: {pairs}{_missing_text(self.missing)}; {other}"


@dataclass(frozen=True)
class Case:
    when: Expression
    value: Scalar | None = None
    expression: Expression | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"when": self.when.text}
        if self.expression is not None:
            out["expression"] = self.expression.text
        else:
            out["value"] = self.value
        return out


@dataclass(frozen=True, kw_only=True)
class CaseWhen(Rule):
    """The value of the first case whose ``when`` is true; ``else`` where none is (default:
    missing). A case whose condition is missing for a row does not match it."""

    cases: tuple[Case, ...]
    otherwise_value: Scalar | None = None
    otherwise_expression: Expression | None = None
    rule: ClassVar[str] = "case_when"

    def _exprs(self) -> list[Expression]:
        out = []
        for c in self.cases:
            out.append(c.when)
            if c.expression is not None:
                out.append(c.expression)
        if self.otherwise_expression is not None:
            out.append(self.otherwise_expression)
        return out

    def _columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for e in self._exprs() for c in e.columns))

    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for e in self._exprs() for v in e.variables))

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cases": [c.to_dict() for c in self.cases]}
        if self.otherwise_expression is not None:
            out["else"] = {"expression": self.otherwise_expression.text}
        elif self.otherwise_value is not None:
            out["else"] = self.otherwise_value
        return out

    def describe(self) -> str:
        parts = [f"when {c.when.text}: {c.expression.text if c.expression else _literal(c.value)}"
                 for c in self.cases]
        other = (self.otherwise_expression.text if self.otherwise_expression is not None
                 else _literal(self.otherwise_value))
        return "; ".join(parts) + f"; else {other}"


@dataclass(frozen=True, kw_only=True)
class Operation(Rule):
    expression: Expression
    round: int | None = None
    rule: ClassVar[str] = "operation"

    def _columns(self) -> tuple[str, ...]:
        return self.expression.columns

    def variables(self) -> tuple[str, ...]:
        return self.expression.variables

    def body(self) -> dict[str, Any]:
        return {"expression": self.expression.text, **_set(round=self.round)}

    def describe(self) -> str:
        return f"{self.expression.text}{_round_text(self.round)}"


@dataclass(frozen=True, kw_only=True)
class UnitConversion(_ColumnRule):
    source_unit: str
    target_unit: str | None = None
    analyte: str | None = None
    missing: tuple[Scalar, ...] = ()
    round: int | None = None
    rule: ClassVar[str] = "unit"

    def body(self) -> dict[str, Any]:
        return {"column": self.column, "from": self.source_unit,
                **_set(to=self.target_unit, analyte=self.analyte, missing=self.missing,
                       round=self.round)}

    def describe(self) -> str:
        to = self.target_unit or "the dictionary unit"
        via = f" ({self.analyte})" if self.analyte else ""
        return f"${self.column} from {self.source_unit} to {to}{via}{_round_text(self.round)}" + \
            _missing_text(self.missing)


@dataclass(frozen=True, kw_only=True)
class DateParse(_ColumnRule):
    """Parse a date column; with format ``iso8601``, ``impute`` says what becomes of partial
    dates (harmonise.values.partial_dates; default: reported, left missing)."""

    format: str
    missing: tuple[Scalar, ...] = ()
    impute: str | None = None
    rule: ClassVar[str] = "date"

    def body(self) -> dict[str, Any]:
        return {"column": self.column, "format": self.format,
                **_set(impute=self.impute, missing=self.missing)}

    def describe(self) -> str:
        imp = f", partial dates imputed ({self.impute})" if self.impute else ""
        return f"date ${self.column} in format {self.format}{imp}{_missing_text(self.missing)}"


@dataclass(frozen=True, kw_only=True)
class Derive(Rule):
    function: str
    args: tuple[tuple[str, Ref | str | int], ...]
    round: int | None = None
    rule: ClassVar[str] = "derive"

    def arg(self, name: str) -> Ref | str | int | None:
        for k, v in self.args:
            if k == name:
                return v
        return None

    def _columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for _, r in self.args if not isinstance(r, (str, int))
                                   for c in ref_columns(r)))

    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for _, r in self.args if not isinstance(r, (str, int))
                                   for v in ref_variables(r)))

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"function": self.function}
        for k, v in self.args:
            out[k] = v if isinstance(v, (str, int)) else v.to_data()
        return out | _set(round=self.round)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v if isinstance(v, (str, int)) else ref_text(v)}"
                         for k, v in self.args)
        return f"{self.function}({args})"


@dataclass(frozen=True, kw_only=True)
class Constant(Rule):
    value: Scalar | None
    rule: ClassVar[str] = "constant"

    def body(self) -> dict[str, Any]:
        return {"value": self.value}

    def describe(self) -> str:
        return f"constant {_literal(self.value)}"


@dataclass(frozen=True, kw_only=True)
class Impossible(Rule):
    rule: ClassVar[str] = "impossible"
    implied_status: ClassVar[str] = "impossible"

    def describe(self) -> str:
        return "not collected by this trial (impossible)"


@dataclass(frozen=True, kw_only=True)
class Undetermined(Rule):
    rule: ClassVar[str] = "undetermined"
    implied_status: ClassVar[str] = "undetermined"

    def describe(self) -> str:
        return "undetermined (needs investigation)"


#: what an aggregate rule takes from a participant's matching rows (docs/mapping-format.md)
TAKES: MappingABC[str, str] = {
    "first": "the value of the first matching row (by `order_by`, else in delivery order)",
    "last": "the value of the last matching row (by `order_by`, else in delivery order)",
    "min": "the smallest value (the earliest date)",
    "max": "the largest value (the latest date), e.g. the worst grade",
    "count": "the number of matching rows (0 when there is none)",
    "any": "1/true when the participant has a matching row, else 0/false",
    "sum": "the sum of the values (0 when there is no row)",
    "mean": "the mean of the values",
    "nearest": "the value of the row whose `at` is nearest to `target` (within `within`; ties: "
               "the earlier)",
}
#: takes that several sources (`from:`) can share
COMBINABLE = ("min", "max", "count", "any", "sum")


@dataclass(frozen=True)
class AggregateSource:
    """Where an aggregate rule reads rows: a ``dataset`` of the mapping (raw columns ``$X`` and
    participant variables by name) or a long ``table`` of the dictionary (its variables and the
    participant's by name); neither: the participant's own ``value`` (a participant-level
    source of a ``from:`` list)."""

    dataset: str | None = None
    table: str | None = None
    value: Ref | None = None
    where: Expression | None = None
    order_by: Ref | None = None
    at: Ref | None = None
    on_or_after: Ref | None = None
    on_or_before: Ref | None = None

    def refs(self) -> list[Ref]:
        return [r for r in (self.value, self.order_by, self.at, self.on_or_after,
                            self.on_or_before) if r is not None]

    def columns(self) -> tuple[str, ...]:
        cols = [c for r in (self.value, self.order_by, self.at) if r is not None
                for c in ref_columns(r)]
        if self.where is not None:
            cols += list(self.where.columns)
        return tuple(dict.fromkeys(qualify(self.dataset, c) for c in cols))

    def variables(self) -> tuple[str, ...]:
        names = [v for r in self.refs() for v in ref_variables(r)]
        if self.where is not None:
            names += list(self.where.variables)
        return tuple(dict.fromkeys(names))

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.table is not None:
            out["table"] = self.table
        for key in ("value", "order_by", "at", "on_or_after", "on_or_before"):
            ref = getattr(self, key)
            if ref is not None:
                out[key] = ref.to_data()
        if self.where is not None:
            out["where"] = self.where.text
        return out

    def describe(self) -> str:
        where = (f"{self.dataset} rows" if self.dataset else f"{self.table} rows" if self.table
                 else "the participant")
        parts = [ref_text(self.value) if self.value is not None else "rows", f"of {where}"]
        if self.where is not None:
            parts.append(f"where {self.where.text}")
        if self.on_or_after is not None:
            parts.append(f"on or after {ref_text(self.on_or_after)}")
        if self.on_or_before is not None:
            parts.append(f"on or before {ref_text(self.on_or_before)}")
        return " ".join(parts)


@dataclass(frozen=True, kw_only=True)
class Aggregate(Rule):
    """One value per participant from the participant's rows of other datasets or long tables
    (one-to-many joins): the first event date, a count, the worst grade, the value at a visit
    window, the latest of several dates."""

    take: str
    sources: tuple[AggregateSource, ...]
    target: float | None = None
    within: float | None = None
    otherwise: Scalar | None = None
    round: int | None = None
    rule: ClassVar[str] = "aggregate"

    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for s in self.sources for c in s.columns()))

    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for s in self.sources for v in s.variables()))

    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.table for s in self.sources if s.table))

    def datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.dataset for s in self.sources if s.dataset))

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"take": self.take}
        if len(self.sources) == 1:
            out.update(self.sources[0].to_data())
        else:
            out["from"] = [s.to_data() for s in self.sources]
        if self.target is not None:
            out["target"] = self.target
        if self.within is not None:
            out["within"] = self.within
        if self.otherwise is not None:
            out["else"] = self.otherwise
        if self.round is not None:
            out["round"] = self.round
        return out

    def describe(self) -> str:
        src = "; ".join(s.describe() for s in self.sources)
        near = (f" nearest to {self.target:g}" + (f" within {self.within:g}" if self.within
                                                 is not None else "")
                if self.take == "nearest" and self.target is not None else "")
        other = f"; else {_literal(self.otherwise)}" if self.otherwise is not None else ""
        return f"{self.take} of {src}{near}{other}"


RULE_TYPES: MappingABC[str, type[Rule]] = {cls.rule: cls for cls in (
    IdCreation, Direct, Recode, CaseWhen, Operation, UnitConversion, DateParse, Derive,
    Constant, Impossible, Undetermined, Aggregate)}
