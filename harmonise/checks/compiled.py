"""The dictionary's checks compiled to vectorised column operations.

:func:`compile_checks` reads a :class:`~harmonise.dictionary.spec.Dictionary` (the one schema
source) into :class:`CompiledChecks`: per variable its dtype, its range bounds and its codes, and
every cross-variable rule. :meth:`CompiledChecks.failures` runs them over a frame with whole-column
operations and returns every failure, nothing truncated, as the same failure cases Pandera's lazy
validation of :func:`harmonise.checks.validation.compile_schema` gives (a test holds the two
against each other): a missing column, a column of the wrong dtype, each non-missing cell outside
its range or codes, each row failing a rule. Checks see only non-missing values, and a rule does
not test a row where its inputs are missing (three-valued logic), as the dictionary documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.checks.columns import raw_values
from harmonise.dictionary.spec import CrossRule, Dictionary, Variable

__all__ = ["CompiledChecks", "Failure", "ValueCheck", "compile_checks", "evaluate_rule"]


def evaluate_rule(rule: CrossRule, frame: pd.DataFrame, ctx: Any = None) -> pd.Series:
    """The rule per row: True (holds), False (fails) or NA (not tested on this row); ``ctx``:
    a :class:`~harmonise.expressions.evaluation.FrameContext` of ``frame`` to reuse."""
    from harmonise.expressions.evaluation import FrameContext, evaluate

    ctx = ctx or FrameContext(frame)
    value, _ = evaluate(rule.expression, ctx)
    result = _as_boolean(value, frame.index)
    if rule.when is not None:
        when, _ = evaluate(rule.when, ctx)
        applies = _as_boolean(when, frame.index).fillna(False)
        result = result.where(applies, pd.NA)
    return result


def _as_boolean(value: Any, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.astype("boolean")
    return pd.Series([value] * len(index), index=index, dtype="boolean")


@dataclass(frozen=True)
class ValueCheck:
    """One check of a variable's values: ``passes`` takes the whole column and says which rows
    hold (what it says of a missing value does not matter: checks see only known values)."""

    name: str  # "range:age", "category:sex"
    variable: str
    passes: Callable[[pd.Series], np.ndarray]


@dataclass(frozen=True)
class Failure:
    """One failure case: ``kind`` "column" (missing), "dtype", "value" or "rule"."""

    kind: str
    check: str
    variable: str
    positions: np.ndarray  # row positions of the failing cells or rows (empty for a column)
    value: str = ""  # the dtype found, for "dtype"


def _bound(v: Variable, value: Any) -> Any:
    return pd.Timestamp(str(value)) if v.type in ("date", "datetime") else value


def _at_least(bound: Any) -> Callable[[pd.Series], np.ndarray]:
    return lambda values: (values >= bound).to_numpy(dtype=bool, na_value=True)


def _at_most(bound: Any) -> Callable[[pd.Series], np.ndarray]:
    return lambda values: (values <= bound).to_numpy(dtype=bool, na_value=True)


def _one_of(codes: list[Any]) -> Callable[[pd.Series], np.ndarray]:
    allowed = set(codes)
    whole_numbers = all(isinstance(c, int) and not isinstance(c, bool) for c in codes)

    def passes(values: pd.Series) -> np.ndarray:
        if whole_numbers and pd.api.types.is_integer_dtype(values.dtype):
            # integers against a few integer codes: numpy's == per code, no hash table
            return np.isin(values.to_numpy(dtype=np.int64, na_value=codes[0]),
                           np.array(codes, dtype=np.int64))
        if pd.api.types.is_numeric_dtype(values.dtype):
            return values.isin(codes).to_numpy(dtype=bool)
        # text: each distinct value judged once (hashing the cells against the codes, as
        # Series.isin does, is several times slower when the cells are distinct objects)
        positions, uniques = pd.factorize(raw_values(values))
        judged = np.array([u in allowed for u in uniques] + [True], dtype=bool)
        return judged[positions]  # -1 (missing) takes the last: missing is not judged

    return passes


def _value_checks(v: Variable) -> list[ValueCheck]:
    checks = []
    name = f"range:{v.name}"
    if v.range is not None and v.type in ("integer", "decimal", "date", "datetime"):
        low = None if v.range.min is None else _bound(v, v.range.min)
        high = None if v.range.max is None else _bound(v, v.range.max)
        if low is not None:
            checks.append(ValueCheck(name, v.name, _at_least(low)))
        if high is not None:
            checks.append(ValueCheck(name, v.name, _at_most(high)))
    if v.categories:
        checks.append(ValueCheck(f"category:{v.name}", v.name, _one_of(list(v.codes))))
    return checks


def _dtype_ok(expected: str, actual: Any) -> bool:
    if expected == "string":
        return isinstance(actual, pd.StringDtype)
    try:
        return bool(pd.api.types.pandas_dtype(expected) == actual)
    except TypeError:
        return False


@dataclass(frozen=True)
class CompiledChecks:
    """A dictionary's checks, ready to run on harmonised frames."""

    variables: tuple[Variable, ...]
    values: tuple[ValueCheck, ...]
    rules: tuple[CrossRule, ...]

    def failures(self, frame: pd.DataFrame,
                 rule_results: dict[str, pd.Series] | None = None,
                 known: dict[str, np.ndarray] | None = None) -> list[Failure]:
        """Every failure of ``frame`` (positions are row positions); each rule's per-row result
        (True / False / NA for not tested) is left in ``rule_results``, and each column's
        non-missing mask in ``known`` (computed once, for the caller too)."""
        known = {} if known is None else known
        out = self._column_failures(frame)
        out.extend(self._value_failures(frame, known))
        out.extend(self._rule_failures(frame, rule_results))
        return out

    def _column_failures(self, frame: pd.DataFrame) -> list[Failure]:
        out: list[Failure] = []
        for v in self.variables:
            if v.name not in frame.columns:
                out.append(Failure("column", f"column:{v.name}", v.name, np.array([], int),
                                   value=v.name))
            elif not _dtype_ok(v.dtype, frame[v.name].dtype):
                out.append(Failure("dtype", f"dtype:{v.name}", v.name, np.array([], int),
                                   value=str(frame[v.name].dtype)))
        return out

    def _value_failures(self, frame: pd.DataFrame, known: dict[str, np.ndarray]
                        ) -> list[Failure]:
        out: list[Failure] = []
        for check in self.values:
            if check.variable not in frame.columns:
                continue
            mask = not_missing(known, frame, check.variable)
            if not mask.any():
                continue
            column = frame[check.variable]
            try:
                passes = check.passes(column)
            except TypeError:  # objects, with missing cells that do not compare: known only
                try:
                    passes = np.ones(len(column), dtype=bool)
                    passes[mask] = check.passes(column[mask])
                except TypeError:  # values of another type than the check's (a dtype failure)
                    continue
            failing = np.flatnonzero(mask & ~passes)
            if failing.size:
                out.append(Failure("value", check.name, check.variable, failing))
        return out

    def _rule_failures(self, frame: pd.DataFrame,
                       rule_results: dict[str, pd.Series] | None) -> list[Failure]:
        from harmonise.expressions.evaluation import FrameContext

        out: list[Failure] = []
        ctx = FrameContext(frame)
        for rule in self.rules:
            try:
                result = evaluate_rule(rule, frame, ctx)
            except Exception:  # noqa: BLE001 - a rule that cannot run is not tested
                continue
            if rule_results is not None:
                rule_results[rule.id] = result
            failing = np.flatnonzero(~result.fillna(True).astype(bool).to_numpy())
            if failing.size:
                out.append(Failure("rule", f"rule:{rule.id}", "", failing))
        return out


def not_missing(known: dict[str, np.ndarray], frame: pd.DataFrame, name: str) -> np.ndarray:
    """The non-missing mask of column ``name``, computed once into ``known``."""
    if name not in known:
        known[name] = frame[name].notna().to_numpy(bool)
    return known[name]


def compile_checks(dictionary: Dictionary) -> CompiledChecks:
    """The checks of a dictionary (dtypes, ranges, categories, rules)."""
    return CompiledChecks(
        variables=tuple(dictionary.variables),
        values=tuple(c for v in dictionary.variables for c in _value_checks(v)),
        rules=tuple(dictionary.rules))
