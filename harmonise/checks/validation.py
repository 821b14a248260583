"""Validation: the topic dictionary's checks, run over whole columns, every failure kept.

:func:`validate` and :func:`validate_by` run the dictionary's checks compiled to vectorised column
operations (:mod:`harmonise.checks.compiled`: dtypes, ranges, categories, cross-variable rules;
``required`` and ``unique`` here) and turn every failure into one row per failed cell or row -
trial, participant, delivery row, variable, check, value, message - with nothing truncated.
:func:`compile_schema` gives the same checks as a ``pandera.DataFrameSchema`` (never written by
hand per topic), for use in notebooks and other tools; a test holds the two to the same failures.

Two pandera behaviours are handled explicitly: checks see only non-missing values (``ignore_na``;
a missing value is the ``required`` check's business, reported once, not as a failure of every
other check), and a rule whose inputs are missing on a row does not test that row (three-valued
logic, as the dictionary documents). Checks that cannot run for a trial (every input missing,
e.g. a variable the trial did not collect) are reported as not tested, never as passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harmonise.checks.compiled import Failure, compile_checks, evaluate_rule, not_missing
from harmonise.dictionary.spec import CrossRule, Dictionary, Variable
from harmonise.values.cells import canonical_text

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "FAILURE_COLUMNS",
    "CHECK_COLUMNS",
    "compile_schema",
    "evaluate_rule",
    "ValidationResult",
    "validate",
    "validate_by",
    "checks_run",
]

#: columns of :attr:`ValidationResult.failures`
FAILURE_COLUMNS = ("trial", "participant_id", "row", "variable", "check", "severity", "value",
                   "message")
#: columns of :attr:`ValidationResult.checks`
CHECK_COLUMNS = ("check", "variable", "severity", "status", "tested", "failed", "description")


def _check_name(kind: str, variable: str) -> str:
    return f"{kind}:{variable}"


def _column_checks(v: Variable) -> list[pa.Check]:
    import pandera.pandas as pa

    checks = []
    if v.range is not None and v.type in ("integer", "decimal"):
        if v.range.min is not None:
            checks.append(pa.Check.ge(v.range.min, name=_check_name("range", v.name)))
        if v.range.max is not None:
            checks.append(pa.Check.le(v.range.max, name=_check_name("range", v.name)))
    if v.range is not None and v.type in ("date", "datetime"):
        if v.range.min is not None:
            checks.append(pa.Check.ge(pd.Timestamp(str(v.range.min)),
                                      name=_check_name("range", v.name)))
        if v.range.max is not None:
            checks.append(pa.Check.le(pd.Timestamp(str(v.range.max)),
                                      name=_check_name("range", v.name)))
    if v.categories:
        checks.append(pa.Check.isin(list(v.codes), name=_check_name("category", v.name)))
    return checks


_ARROW_STRING = "string[pyarrow]"


def _dtype(v: Variable, arrow_strings: bool) -> str:
    return _ARROW_STRING if arrow_strings and v.dtype == "string" else v.dtype


def compile_schema(dictionary: Dictionary, rule_results: dict[str, pd.Series] | None = None,
                   *, arrow_strings: bool = False) -> pa.DataFrameSchema:
    """The Pandera schema of a dictionary (dtypes, ranges, categories, rules).

    With ``rule_results``, each rule check also leaves its per-row result (True / False / NA
    for not tested) there, so :func:`validate` can count what each rule tested without
    evaluating it twice.
    """
    import pandera.pandas as pa

    columns = {
        v.name: pa.Column(_dtype(v, arrow_strings), checks=_column_checks(v), nullable=True,
                          required=True,
                          unique=False, coerce=False, title=v.label, description=v.description)
        for v in dictionary.variables
    }

    def rule_check(rule: CrossRule) -> pa.Check:
        def check(df: pd.DataFrame) -> pd.Series:
            result = evaluate_rule(rule, df)
            if rule_results is not None:
                rule_results[rule.id] = result
            return result.fillna(True).astype(bool)

        return pa.Check(check, name=f"rule:{rule.id}")

    return pa.DataFrameSchema(columns, checks=[rule_check(r) for r in dictionary.rules],
                              strict=False, coerce=False,
                              name=f"{dictionary.topic} {dictionary.version}",
                              unique_column_names=True)


@dataclass(frozen=True)
class ValidationResult:
    """Every failure of one trial (or the pooled topic), and what each check tested."""

    trial: str | None
    failures: pd.DataFrame
    checks: pd.DataFrame
    dictionary: str = ""
    rows: int = 0

    @property
    def ok(self) -> bool:
        return self.failures.empty

    @property
    def summary(self) -> pd.DataFrame:
        return self.checks

    def to_dict(self, *, failures: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trial": self.trial, "dictionary": self.dictionary, "rows": self.rows,
            "ok": self.ok, "n_failures": int(len(self.failures)),
            "checks": _records(self.checks)}
        if failures:
            out["failures"] = _records(self.failures)
        return out

    def __repr__(self) -> str:
        return (f"<ValidationResult {self.trial or 'topic'}: {len(self.failures)} failures in "
                f"{int((self.checks['failed'] > 0).sum())} checks>")

    def _repr_html_(self) -> str:
        head = (f"<p><b>Validation of {self.trial or 'the topic'}</b> against {self.dictionary}: "
                f"{len(self.failures)} failure(s).</p>")
        fails = self.checks[self.checks["failed"] > 0]
        return head + fails.to_html(index=False) + self.failures.head(100).to_html(index=False)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if (not isinstance(v, (list, tuple)) and pd.isna(v)) else v)
             for k, v in row.items()} for row in frame.to_dict("records")]


_MESSAGES = {
    "required": "{variable} is required but missing",
    "range": "{variable} = {value} outside {range}",
    "category": "{variable} = {value} is not a category of the dictionary ({codes})",
    "unique": "{variable} = {value} occurs on more than one row",
    "dtype": "{variable} has the wrong type ({value}); expected {dtype}",
    "column": "{variable} is missing from the data",
}


def validate(data: pd.DataFrame, dictionary: Dictionary, *,
             trial: str | None = None) -> ValidationResult:
    """Validate harmonised ``data`` (one trial or the pooled topic) against the dictionary."""
    result = validate_by(data, dictionary, by=None)[None]
    return ValidationResult(trial=trial, failures=result.failures, checks=result.checks,
                            dictionary=result.dictionary, rows=result.rows)


def validate_by(data: pd.DataFrame, dictionary: Dictionary, *,
                by: str | None = "trial") -> dict[Any, ValidationResult]:
    """Validate once (one pass of the compiled checks over all rows) and report per value of
    ``by`` (e.g. per trial): each result holds that group's failures and what each check
    tested in it."""
    rule_results: dict[str, pd.Series] = {}
    known: dict[str, np.ndarray] = {}
    frame = data if _positional(data.index) else data.reset_index(drop=True)
    found = compile_checks(dictionary).failures(frame, rule_results, known)
    failures = _failure_records(found, frame, dictionary)
    failures.extend(_required_and_unique(frame, dictionary, known))
    table = pd.DataFrame(failures, columns=list(FAILURE_COLUMNS))
    if not table.empty:
        table["row"] = table["row"].astype("Int64")
        table = table.sort_values(["trial", "row", "variable", "check"], kind="stable",
                                  na_position="last").reset_index(drop=True)
    tested = _tested_masks(frame, dictionary, rule_results, known)
    name = f"{dictionary.topic} {dictionary.version}"
    if by is None:
        return {None: ValidationResult(trial=None, failures=table,
                                       checks=_check_table(tested, table, None),
                                       dictionary=name, rows=len(frame))}
    codes, groups = pd.factorize(frame[by].to_numpy(dtype=object), use_na_sentinel=False)
    counts = _tested_by_group(tested, codes, len(groups))
    rows_by_group = np.bincount(codes, minlength=len(groups))
    mine_by_group = ({g: t.reset_index(drop=True) for g, t in table.groupby(by, sort=False,
                                                                           dropna=False)}
                     if not table.empty else {})
    out = {}
    for i, group in enumerate(groups.tolist()):
        mine = mine_by_group.get(group, table.iloc[0:0])
        out[group] = ValidationResult(trial=group, failures=mine,
                                      checks=_check_table(tested, mine, counts[:, i]),
                                      dictionary=name, rows=int(rows_by_group[i]))
    return out


def _positional(index: pd.Index) -> bool:
    """The index is 0, 1, ..., n - 1 already (as ``pd.concat(..., ignore_index=True)`` makes
    it): no copy of the frame needed."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _ids(frame: pd.DataFrame, positions: np.ndarray) -> tuple[list[Any], list[Any], list[Any]]:
    def col(name: str) -> list[Any]:
        if name not in frame.columns:
            return [None] * len(positions)
        picked = frame[name].iloc[positions].to_numpy(object)
        return [None if pd.isna(x) else x for x in picked]

    rows = col("_row") if "_row" in frame.columns else [int(p) + 1 for p in positions]
    return col("trial"), col("participant_id"), rows


def _failure_records(found: Sequence[Failure], frame: pd.DataFrame,
                     dictionary: Dictionary) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rules = {f"rule:{r.id}": r for r in dictionary.rules}
    for failure in found:
        if failure.kind == "rule":
            rule = rules[failure.check]
            positions = failure.positions
            trials, pids, rows = _ids(frame, positions)
            inputs = [v for v in rule.variables if v in frame.columns]
            values = frame[inputs].iloc[positions]
            for i in range(len(positions)):
                shown = "; ".join(f"{v}={canonical_text(values.iloc[i][v])}" for v in inputs)
                out.append({"trial": trials[i], "participant_id": pids[i], "row": rows[i],
                            "variable": ", ".join(inputs), "check": failure.check,
                            "severity": rule.severity, "value": shown,
                            "message": f"{rule.label or rule.expression.text} "
                                       f"({rule.expression.text}): {shown}"})
        elif failure.kind == "value":
            v = dictionary.variable(failure.variable)
            positions = failure.positions
            trials, pids, rows = _ids(frame, positions)
            kind = failure.check.split(":", 1)[0]
            cells = frame[v.name].iloc[positions].to_numpy(object)
            for i, value in enumerate(cells):
                text = canonical_text(value)
                msg = _MESSAGES[kind].format(
                    variable=v.name, value=text,
                    range=v.range.describe(v.unit) if v.range else "",
                    codes=", ".join(f"{c.code}={c.label}" for c in v.categories))
                out.append({"trial": trials[i], "participant_id": pids[i], "row": rows[i],
                            "variable": v.name, "check": failure.check, "severity": "error",
                            "value": text, "message": msg})
        else:  # a missing column, or a column of the wrong dtype
            known = dictionary.variable(failure.variable)
            out.append({"trial": None, "participant_id": None, "row": None,
                        "variable": failure.variable, "check": failure.check,
                        "severity": "error", "value": failure.value,
                        "message": _MESSAGES[failure.kind].format(
                            variable=failure.variable, value=failure.value,
                            dtype=known.dtype)})
    return out


def _required_and_unique(frame: pd.DataFrame, dictionary: Dictionary,
                         known: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """``required`` and ``unique`` are checked here, once per cell, so that pandera's
    null handling cannot multiply or hide them."""
    out: list[dict[str, Any]] = []
    for v in dictionary.variables:
        if v.name not in frame.columns:
            continue
        col = frame[v.name]
        checks = []
        if v.required:
            checks.append(("required", ~not_missing(known, frame, v.name)))
        if v.unique:
            checks.append(("unique", not_missing(known, frame, v.name)
                           & col.duplicated(keep=False).to_numpy()))
        for kind, mask in checks:
            positions = np.flatnonzero(mask)
            if not len(positions):
                continue
            trials, pids, rows = _ids(frame, positions)
            values = col.to_numpy(object)[positions]
            for i in range(len(positions)):
                text = canonical_text(values[i])
                out.append({"trial": trials[i], "participant_id": pids[i], "row": rows[i],
                            "variable": v.name, "check": f"{kind}:{v.name}",
                            "severity": "error", "value": text,
                            "message": _MESSAGES[kind].format(variable=v.name, value=text)})
    return out


def _tested_masks(frame: pd.DataFrame, dictionary: Dictionary,
                  rule_results: Mapping[str, pd.Series], known: dict[str, np.ndarray]
                  ) -> dict[str, tuple[str, str, str, np.ndarray]]:
    """check -> (variable, severity, description, rows the check tested)."""
    out: dict[str, tuple[str, str, str, np.ndarray]] = {}
    everyone = np.ones(len(frame), dtype=bool)
    for v in dictionary.variables:
        present = not_missing(known, frame, v.name) if v.name in frame.columns else ~everyone
        if v.required:
            out[f"required:{v.name}"] = (v.name, "error", "must not be missing", everyone)
        if v.range is not None and v.type in ("integer", "decimal", "date", "datetime"):
            out[f"range:{v.name}"] = (v.name, "error", f"within {v.range.describe(v.unit)}",
                                      present)
        if v.categories:
            out[f"category:{v.name}"] = (v.name, "error", "one of the dictionary's codes",
                                         present)
        if v.unique:
            out[f"unique:{v.name}"] = (v.name, "error", "no value on two rows", present)
    for rule in dictionary.rules:
        result = rule_results.get(rule.id)
        if result is None:  # a rule whose inputs are not all in the data
            tested = ~everyone
        else:
            tested = result.notna().to_numpy()
        out[f"rule:{rule.id}"] = (", ".join(rule.variables), rule.severity,
                                  rule.label or rule.expression.text, tested)
    return out


def _tested_by_group(tested: Mapping[str, tuple[str, str, str, np.ndarray]],
                     codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Rows each check tested, per group: checks x groups. Checks share masks (a variable's
    known values; every row): each distinct mask is counted once. Where each group's rows are
    contiguous (pooled trials), a mask is summed over slices, else counted with np.bincount."""
    out = np.zeros((len(tested), n_groups), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else codes
    contiguous = len(starts) == n_groups and (codes[starts] == np.arange(n_groups)).all()
    counted: dict[int, np.ndarray] = {}
    for i, (_, _, _, mask) in enumerate(tested.values()):
        if id(mask) not in counted:
            counted[id(mask)] = (np.add.reduceat(mask, starts, dtype=np.int64) if contiguous
                                 and len(codes) else np.bincount(codes[mask], minlength=n_groups))
        out[i] = counted[id(mask)]
    return out


def _check_table(tested: Mapping[str, tuple[str, str, str, np.ndarray]],
                 failures: pd.DataFrame, counts: np.ndarray | None) -> pd.DataFrame:
    failed_by_check = failures["check"].value_counts().to_dict() if not failures.empty else {}
    records = []
    for i, (check, (variable, severity, description, mask)) in enumerate(tested.items()):
        n = int(mask.sum() if counts is None else counts[i])
        failed = int(failed_by_check.get(check, 0))
        status = "not tested" if n == 0 else ("failed" if failed else "passed")
        records.append({"check": check, "variable": variable, "severity": severity,
                        "status": status, "tested": n, "failed": failed,
                        "description": description})
    return pd.DataFrame(records, columns=list(CHECK_COLUMNS))


def failures_by_check(result: ValidationResult) -> Mapping[str, int]:
    if result.failures.empty:
        return {}
    return result.failures["check"].value_counts().to_dict()


def checks_run(result: ValidationResult) -> Sequence[str]:
    """Checks that tested at least one value (only these may close queries)."""
    return [c for c, s in zip(result.checks["check"], result.checks["status"])
            if s != "not tested"]
