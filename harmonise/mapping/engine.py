"""The mapping engine: a raw delivery + a mapping + the dictionary -> a harmonised trial table.

:func:`apply_mapping` evaluates the mapping's rules in dependency order, vectorised (no per-row
Python on the hot path: recodes, number and date parsing work on each column's distinct
values), casts every result to the dictionary type of its variable, and returns a
:class:`~harmonise.mapping.harmonised.HarmonisedTrial`:

* ``data``: ``trial``, ``participant_id`` (the pseudonyms the caller passes, aligned to the
  delivery's rows) and every dictionary variable in dictionary order, typed with nullable
  pandas dtypes (categoricals as their codes, dates as ``datetime64[ns]``), plus ``_row``
  (the 1-based delivery row);
* ``problems``: every value the mapping could not transform (an unmatched recode code, text
  that is not a number, an unparseable date, a division by zero, a fraction for an integer
  variable, a code outside the dictionary's categories ...) with trial, participant, row,
  variable, rule, source columns, raw value, reason and message. Such a cell becomes missing
  *and* is listed: nothing is silently coerced;
* ``summary``: per variable the rule, status, source columns, values transformed, missing and
  problems.

The engine is pure: the same inputs give an identical result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.expressions.coercion import series_kind
from harmonise.expressions.evaluation import evaluate
from harmonise.expressions.functions import round_half_away
from harmonise.mapping import rules
from harmonise.mapping.derivations import DERIVATIONS
from harmonise.mapping.harmonised import (
    HarmonisedTrial,
    build_imputed,
    build_problems,
    build_summary,
)
from harmonise.mapping.source import SourceContext, SourceFrame
from harmonise.mapping.spec import Mapping
from harmonise.values import units
from harmonise.values.cells import (
    canonical_text,
    canonical_texts,
    filled_array,
    missing_array,
    parse_booleans,
    string_array,
)
from harmonise.values.problems import Issue
from harmonise.yamlio import suggest
from repository.errors import HarmonisationError
from repository.formats import RawTable
from repository.reasons import Reason

__all__ = ["apply_mapping", "run_rules", "evaluate_rule", "RuleRun", "cast_to_variable",
           "missing_columns", "ref_value", "date_issues"]

Result = tuple[Any, list[Issue]]


class RuleRun(SourceContext):
    """What running a mapping's rules produced (before the result table is assembled); also
    the expression-evaluation context of its rules."""

    def __init__(self, source: SourceFrame, mapping: Mapping, dictionary: Dictionary) -> None:
        super().__init__(source)
        self.mapping = mapping
        self.dictionary = dictionary
        self.values: dict[str, pd.Series] = {}
        self.issues: dict[str, list[Issue]] = {}
        self.skipped: dict[str, list[str]] = {}  # variable -> missing columns
        self.failed: dict[str, str] = {}  # variable -> why the rule could not run (check mode)
        #: evaluators of rule types this run handles itself (aggregate rules: see
        #: harmonise.mapping.tables)
        self.evaluators: dict[type, Callable[[Any, Variable, RuleRun], Result]] = {}
        #: problems found in rows of other datasets (aggregate rules): variable -> issues, each
        #: with the dataset and its rows (harmonise.mapping.harmonised.LongIssue)
        self.long_issues: dict[str, list[Any]] = {}

    def variable_value(self, name: str) -> pd.Series:
        if name not in self.values:
            var = self.dictionary.variable(name)
            return _empty(var, self.n)
        return self.values[name]


def missing_columns(mapping: Mapping, columns: Sequence[str]) -> dict[str, list[str]]:
    """Raw columns the mapping reads that ``columns`` lacks: variable -> its missing columns."""
    have = set(columns)
    out: dict[str, list[str]] = {}
    for rule in mapping.rules:
        lacking = [c for c in rule.columns() if c not in have]
        if lacking:
            out[rule.variable] = lacking
    return out


def apply_mapping(raw: RawTable | pd.DataFrame, mapping: Mapping, dictionary: Dictionary, *,
                  trial: str | None = None,
                  participant_ids: Sequence[Any] | pd.Series | None = None,
                  datasets: dict[str, pd.DataFrame] | None = None,
                  ids: dict[str, Sequence[Any]] | None = None,
                  trace: bool = False) -> HarmonisedTrial:
    """Harmonise one delivery (see the module docstring).

    ``participant_ids`` are the pseudonyms, one per delivery row; without them the trial's own
    IDs (as text) fill ``participant_id``. Raises :class:`HarmonisationError` when the delivery
    lacks columns the mapping reads (every one is listed) or the mapping is for another
    trial or dictionary.

    A trial that delivered several datasets passes the others in ``datasets`` (name -> raw
    frame; ``raw`` is the base dataset, ``mapping.source.dataset``) and their pseudonyms in
    ``ids`` (name -> one per row); the long tables of the dictionary are then made too
    (:attr:`HarmonisedTrial.tables`, see harmonise.mapping.tables). With ``trace``, the rows
    each aggregate variable read are kept for ``explain`` (:attr:`HarmonisedTrial.traces`).
    """
    frame = raw.frame if isinstance(raw, RawTable) else raw
    trial = trial or mapping.trial
    from harmonise.mapping.tables import assemble, is_relational, run_relational

    if datasets or is_relational(mapping, dictionary):
        _same_target(mapping, dictionary, trial)
        frames = {**(datasets or {}), mapping.source.dataset: frame}
        keyed = dict(ids or {})
        if participant_ids is not None:
            keyed[mapping.source.dataset] = list(participant_ids)
        given = participant_ids is not None
        if given and any(name not in keyed for name in frames):
            raise HarmonisationError(f"{trial}: pseudonyms are given for the base dataset but "
                                     f"not for {', '.join(n for n in frames if n not in keyed)}; "
                                     "pass one per row of every dataset.", trial=trial)
        rel = run_relational(frames, mapping, dictionary, ids=keyed if given else None,
                             trace=trace)
        return assemble(rel, trial, pseudonyms=given)
    _same_target(mapping, dictionary, trial)
    if participant_ids is not None and len(participant_ids) != len(frame):
        raise HarmonisationError(f"{len(participant_ids)} participant IDs for {len(frame)} rows of "
                                 f"{trial}'s delivery; pass one pseudonym per row.", trial=trial)
    lacking = missing_columns(mapping, [str(c) for c in frame.columns])
    if lacking:
        names = sorted({c for cols in lacking.values() for c in cols})
        where = "; ".join(f"{v} ({_where(mapping, v)}) reads "
                          f"{', '.join(repr(c) + suggest(c, [str(x) for x in frame.columns]) for c in cols)}"
                          for v, cols in lacking.items())
        raise HarmonisationError(
            f"{trial}: the delivery has no column(s) {', '.join(map(repr, names))} that the "
            f"mapping {mapping.file} reads: {where}. Fix the mapping or ask for the columns; "
            f"`ipdrepo mapping check {trial}` lists every problem at once.",
            trial=trial, file=mapping.file, columns=names)
    run = run_rules(frame, mapping, dictionary)
    data = _assemble(run, trial, participant_ids)
    problems = build_problems(run, trial, data["participant_id"])
    summary = build_summary(run, data)
    return HarmonisedTrial(trial=trial, data=data, problems=problems, summary=summary,
                           mapping=mapping, dictionary=dictionary, raw=run.source.frame,
                           imputed=build_imputed(run, trial, data["participant_id"]),
                           dataset=mapping.source.dataset)


def _same_target(mapping: Mapping, dictionary: Dictionary, trial: str) -> None:
    if trial != mapping.trial:
        raise HarmonisationError(f"the mapping {mapping.file} is for trial {mapping.trial}, not "
                                 f"{trial}; use the trial's own mapping.", trial=trial,
                                 file=mapping.file)
    if mapping.dictionary != dictionary.topic or mapping.dictionary_version != dictionary.version:
        raise HarmonisationError(
            f"the mapping of {trial} ({mapping.file}) is for {mapping.dictionary} "
            f"{mapping.dictionary_version}, but the dictionary is {dictionary.topic} "
            f"{dictionary.version}; check the mapping against this version.", trial=trial,
            file=mapping.file)


def run_rules(frame: pd.DataFrame, mapping: Mapping, dictionary: Dictionary, *,
              check: bool = False) -> RuleRun:
    """Evaluate every rule. With ``check`` (the dry run), rules whose columns are absent give
    missing values and are recorded in :attr:`RuleRun.skipped`, and a rule that cannot run at
    all (a type clash over a whole column) is recorded in :attr:`RuleRun.failed` instead of
    raising."""
    src = mapping.source
    source = SourceFrame(frame, missing_codes=src.missing_codes, decimal=src.decimal,
                         thousands=src.thousands)
    run = RuleRun(source, mapping, dictionary)
    lacking = missing_columns(mapping, [str(c) for c in frame.columns])
    if lacking and not check:
        raise HarmonisationError(f"{mapping.trial}: the delivery lacks columns the mapping "
                                 f"reads: {lacking}; run `ipdrepo mapping check`.",
                                 columns=lacking, trial=mapping.trial)
    for rule in mapping.order():
        evaluate_rule(run, rule, lacking=lacking, check=check)
    return run


def evaluate_rule(run: RuleRun, rule: rules.Rule, *, lacking: dict[str, list[str]],
                  check: bool = False) -> None:
    """Evaluate one rule into ``run.values`` / ``run.issues`` (see :func:`run_rules`)."""
    mapping, dictionary = run.mapping, run.dictionary
    if rule.variable not in dictionary:
        return
    var = dictionary.variable(rule.variable)
    if rule.variable in lacking:
        run.skipped[rule.variable] = lacking[rule.variable]
        run.values[rule.variable] = _empty(var, run.n)
        run.issues[rule.variable] = []
        return
    run.source.scope = rule.dataset
    try:
        evaluator = run.evaluators.get(type(rule)) or _EVALUATORS[type(rule)]
        values, issues = evaluator(rule, var, run)
        if isinstance(rule, _TRUSTED) and isinstance(values, pd.Series) and \
                str(values.dtype) == var.dtype:
            typed, cast_issues = values, list[Issue]()  # checked when loading
        else:
            typed, cast_issues = cast_to_variable(values, var, run)
    except HarmonisationError as exc:
        if not check:
            raise HarmonisationError(
                f"{mapping.trial}, {rule.variable} ({_where(mapping, rule.variable)}): "
                f"{exc.message}",
                trial=mapping.trial, variable=rule.variable, file=mapping.file) from exc
        run.failed[rule.variable] = exc.message
        run.values[rule.variable] = _empty(var, run.n)
        run.issues[rule.variable] = []
        return
    finally:
        run.source.scope = None
    run.values[rule.variable] = typed
    run.issues[rule.variable] = issues + cast_issues


def _where(mapping: Mapping, variable: str) -> str:
    line = mapping.line("variables", variable)
    return f"{mapping.file}, line {line}" if line else mapping.file


def _assemble(run: RuleRun, trial: str, participant_ids: Any) -> pd.DataFrame:
    d = run.dictionary
    n = run.n
    columns: dict[str, Any] = {}
    id_rule = run.mapping.id_rule
    if participant_ids is not None:
        pids = pd.Series(string_array(_id_texts(participant_ids)))
    elif id_rule is not None and id_rule.variable in run.values:
        pids = run.values[id_rule.variable]
    else:
        pids = pd.Series(missing_array(n, "string"))
    for var in d.variables:
        if var.role == "trial":
            columns[var.name] = filled_array(n, trial, "string")
        elif var.role == "id":
            columns[var.name] = pids.array
        else:
            s = run.values.get(var.name)
            columns[var.name] = s.array if s is not None else missing_array(n, var.dtype)
    columns["_row"] = np.arange(1, n + 1, dtype="int64")
    return pd.DataFrame(columns, copy=False)


def _id_texts(ids: Any) -> np.ndarray:
    """Participant IDs as an object array of text (None where missing): columns of text or
    whole numbers at once, anything else value by value."""
    arr = ids.to_numpy() if isinstance(ids, pd.Series) else np.asarray(list(ids), dtype=object)
    if arr.dtype.kind in "iu":
        return arr.astype(str).astype(object)
    if arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=True) == "string":
        out = arr.copy()
        out[pd.isna(out)] = None  # only None and NaN: every other value is text
        return out
    return np.array([None if p is None or (isinstance(p, float) and np.isnan(p)) else str(p)
                     for p in arr], dtype=object)


# --- typing ---------------------------------------------------------------------------------

def _empty(var: Variable, n: int) -> pd.Series:
    return pd.Series(missing_array(n, var.dtype))


def _broadcast(value: Any, n: int, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        return value
    if value is None:
        return pd.Series([None] * n, index=index, dtype=object)
    if isinstance(value, pd.Timestamp):
        return pd.Series(np.full(n, value.to_datetime64(), dtype="datetime64[ns]"), index=index)
    if isinstance(value, (bool, np.bool_)):
        return pd.Series(filled_array(n, value, "boolean"), index=index)
    if isinstance(value, (int, np.integer)):
        return pd.Series(filled_array(n, value, "Int64"), index=index)
    if isinstance(value, (float, np.floating)):
        return pd.Series(filled_array(n, value, "Float64"), index=index)
    return pd.Series(filled_array(n, value, "string"), index=index)


def _kind_of(s: pd.Series) -> str:
    kind = series_kind(s)
    return "null" if kind == "text" and s.isna().all() else kind


def _numeric(var: Variable) -> bool:
    """Are ``var``'s values numbers (integers, decimals or integer category codes)?"""
    return var.type in ("integer", "decimal") or (var.type == "categorical"
                                                  and var.codes_are_integers)


def cast_to_variable(values: Any, var: Variable, run: RuleRun) -> Result:
    """Cast a rule's result to ``var``'s dictionary type; values that do not fit are issues."""
    s = _broadcast(values, run.n, run.index)
    kind = _kind_of(s)
    if kind == "null":
        return _empty(var, run.n).set_axis(run.index), []
    if _numeric(var):
        return _cast_number(s, kind, var, run)
    cast = _CASTS.get(var.type, _cast_text)  # text, id
    return cast(s, kind, var, run)


def _cast_number(s: pd.Series, kind: str, var: Variable, run: RuleRun) -> Result:
    """To a decimal, an integer or an integer category code."""
    issues: list[Issue] = []
    t = var.type
    if kind == "text":
        s, bad = run.source.to_number(s)
        _add(issues, bad, "not_a_number", f"not a number ({var.name} is {t})")
    elif kind == "bool":
        s = s.astype("Int64")
    elif kind == "date":
        raise HarmonisationError(f"{var.name} is {t} but its rule gives dates; fix the rule "
                                 f"in {run.mapping.file}.", variable=var.name)
    if t == "decimal":
        return s.astype("Float64"), issues
    floats = s if s.dtype == "Float64" else s.astype("Float64")
    arr = floats.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        frac = ~np.isnan(arr) & (np.floor(arr) != arr)
    if frac.any():
        _add(issues, frac, "not_whole_number",
             f"not a whole number ({var.name} is {'an integer' if t == 'integer' else 'coded'}; "
             "add `round: 0` to the rule if rounding is intended)")
        arr = np.where(frac, np.nan, arr)
    mask = np.isnan(arr)
    out = pd.Series(pd.arrays.IntegerArray(np.where(mask, 0, arr).astype("int64"), mask),
                    index=run.index)
    if t == "categorical":
        out, cat_issues = _check_codes(out, var)
        issues += cat_issues
    return out, issues


def _cast_text_codes(s: pd.Series, kind: str, var: Variable, run: RuleRun) -> Result:
    """To a categorical variable's text codes."""
    texts = s if kind == "text" else pd.Series(canonical_texts(s.to_numpy(dtype=object)),
                                               index=run.index, dtype="string")
    return _check_codes(texts.astype("string"), var)


def _cast_boolean(s: pd.Series, kind: str, var: Variable, run: RuleRun) -> Result:
    issues: list[Issue] = []
    out, bad = parse_booleans(s)
    _add(issues, bad, "not_boolean", f"not a true/false value ({var.name} is boolean)")
    return out, issues


def _cast_date(s: pd.Series, kind: str, var: Variable, run: RuleRun) -> Result:
    """To a date (midnight) or a date and time."""
    issues: list[Issue] = []
    if kind != "date":
        parsed, bad = _parse_iso(s, datetime=var.type == "datetime")
        _add(issues, bad, "not_a_date", f"not an ISO date YYYY-MM-DD ({var.name} is a date; "
                                        "use a date rule with the column's format)")
        s = parsed
    arr = s.to_numpy(dtype="datetime64[ns]")
    if var.type == "date":
        arr = arr.astype("datetime64[D]").astype("datetime64[ns]")
    return pd.Series(arr, index=run.index), issues


def _cast_text(s: pd.Series, kind: str, var: Variable, run: RuleRun) -> Result:
    if kind == "text":
        return s.astype("string"), []
    return pd.Series(canonical_texts(s.to_numpy(dtype=object)), index=run.index,
                     dtype="string"), []


#: the casts of the variable types that do not hold numbers (see :func:`_numeric`)
_CASTS: dict[str, Callable[[pd.Series, str, Variable, RuleRun], Result]] = {
    "categorical": _cast_text_codes,
    "boolean": _cast_boolean,
    "date": _cast_date,
    "datetime": _cast_date,
}


def _parse_iso(s: pd.Series, *, datetime: bool) -> tuple[pd.Series, np.ndarray]:
    from harmonise.values.dates import parse_dates

    return parse_dates(s.astype(object), "iso", datetime=datetime)


def _check_codes(s: pd.Series, var: Variable) -> Result:
    allowed = [c.code for c in var.categories]
    present = s.notna().to_numpy()
    if var.codes_are_integers:
        ok = s.isin(allowed).to_numpy(dtype=bool, na_value=False)
    else:
        ok = s.isin([str(c) for c in allowed]).to_numpy(dtype=bool, na_value=False)
    bad = present & ~ok
    issues: list[Issue] = []
    if bad.any():
        codes = ", ".join(f"{c.code}={c.label}" for c in var.categories)
        _add(issues, bad, "invalid_category", f"not a category of {var.name} ({codes})")
        s = s.mask(bad)
    return s, issues


def _add(issues: list[Issue], mask: np.ndarray, reason: str, message: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        issues.append(Issue(mask, reason, message))


def _rounded(values: Any, digits: int | None) -> Any:
    if digits is None or values is None:
        return values
    if isinstance(values, pd.Series) and not pd.api.types.is_numeric_dtype(values.dtype):
        return values
    return round_half_away(values, digits)


# --- rule evaluators --------------------------------------------------------------------------

def _id_creation(rule: rules.IdCreation, var: Variable, run: RuleRun) -> Result:
    texts = run.source.texts(rule.column)
    issues: list[Issue] = []
    _add(issues, texts.isna().to_numpy(), "missing_id", "no participant ID on this row")
    return texts, issues


def _direct(rule: rules.Direct, var: Variable, run: RuleRun) -> Result:
    src = run.source
    issues: list[Issue] = []
    t = var.type
    if _numeric(var):
        values, bad = src.numbers(rule.column, rule.missing)
        _add(issues, bad, "not_a_number", f"not a number ({var.name} is {t})")
        return _rounded(values, rule.round), issues
    if t == "boolean":
        values, bad = src.booleans(rule.column, rule.missing)
        _add(issues, bad, "not_boolean", f"not a true/false value ({var.name} is boolean)")
        return values, issues
    if t in ("date", "datetime"):
        kind = src.kind(rule.column)
        fmt = "native" if kind == "date" else "iso"
        values, bad = src.dates(rule.column, fmt, rule.missing, datetime=t == "datetime")
        _add(issues, bad, "not_a_date", "not an ISO date YYYY-MM-DD (use a date rule with the "
                                        "column's format)")
        return values, issues
    return src.texts(rule.column, rule.missing), issues


def _recode(rule: rules.Recode, var: Variable, run: RuleRun) -> Result:
    src = run.source
    f = src.factor(rule.column)
    texts = f.texts
    if rule.ignore_case:
        texts = np.array([t.lower() if t is not None else None for t in texts], dtype=object)
    fold = (lambda k: k.lower()) if rule.ignore_case else (lambda k: k)
    table = {fold(canonical_text(k) or ""): v for k, v in rule.map}
    missing = src._missing_unique(rule.column, rule.missing)
    if rule.ignore_case:
        extra = {fold(t) for t in (canonical_text(m) for m in (*src.missing_codes, *rule.missing))
                 if t}
        missing = missing | np.array([t in extra for t in texts], dtype=bool)
    k = len(texts)
    targets = np.empty(k, dtype=object)
    targets[:] = None
    unmatched = np.zeros(k, dtype=bool)
    for i, t in enumerate(texts):
        if missing[i]:
            continue
        if t in table:
            targets[i] = table[t]
        elif rule.otherwise == "value":
            targets[i] = rule.otherwise_value
        elif rule.otherwise == "error":
            unmatched[i] = True
    issues: list[Issue] = []
    rows_unmatched = f.take(unmatched, False).astype(bool)
    if rows_unmatched.any():
        known = ", ".join(repr(canonical_text(key)) for key, _ in rule.map)
        _add(issues, rows_unmatched, "unmatched_code",
             f"code not in the recode of {var.name} (mapped: {known}); add it to `map:`, to "
             "`missing:`, or set `else:`")
    per_unique = _typed_uniques(targets, var)
    return pd.Series(_spread(per_unique, f.codes), index=run.index), issues


def _spread(per_unique: Any, codes: np.ndarray) -> Any:
    """A pandas array of one value per distinct raw value spread to the rows (``codes``: each
    row's distinct value, -1 for NA, which stays NA): numpy indexing for the nullable number
    and boolean arrays, pandas' take for the rest."""
    if isinstance(per_unique, (pd.arrays.IntegerArray, pd.arrays.FloatingArray,
                               pd.arrays.BooleanArray)) and len(per_unique):
        na = codes < 0
        safe = np.where(na, 0, codes)
        mask = per_unique.isna()
        data = per_unique.to_numpy(dtype=per_unique.dtype.numpy_dtype,
                                   na_value=False if per_unique.dtype == "boolean" else 0)
        return type(per_unique)(data[safe], mask[safe] | na)
    return per_unique.take(np.where(codes >= 0, codes, -1), allow_fill=True)


def _typed_uniques(targets: np.ndarray, var: Variable) -> Any:
    """Recode targets (objects) as a pandas array of the variable's dtype."""
    t = var.type
    if t == "boolean":
        return pd.array([None if v is None else bool(v) for v in targets], dtype="boolean")
    if t == "decimal":
        return pd.array([None if v is None else float(v) for v in targets], dtype="Float64")
    if _numeric(var):  # integers and integer codes (decimals above)
        return pd.array([None if v is None else int(v) for v in targets], dtype="Int64")
    return pd.array([None if v is None else str(v) for v in targets], dtype="string")


def _case_when(rule: rules.CaseWhen, var: Variable, run: RuleRun) -> Result:
    issues: list[Issue] = []
    else_issues: list[Issue] = []
    if rule.otherwise_expression is not None:
        other, else_issues = evaluate(rule.otherwise_expression, run)
    else:
        other = rule.otherwise_value
    result, more = cast_to_variable(other, var, run)
    else_issues += more
    decided = np.zeros(run.n, dtype=bool)
    picks: list[tuple[np.ndarray, pd.Series]] = []
    undecidable = np.zeros(run.n, dtype=bool)  # a condition read a value it could not use
    for case in rule.cases:
        cond, more = evaluate(case.when, run)
        issues += more
        for i in more:
            undecidable |= i.mask
        if isinstance(cond, pd.Series):
            c = cond.astype("boolean").to_numpy(dtype=bool, na_value=False)
        else:
            c = np.full(run.n, bool(cond) if cond is not None else False)
        take = c & ~decided
        decided |= c
        if not take.any():
            continue
        if case.expression is not None:
            value, more = evaluate(case.expression, run)
            issues += [Issue(i.mask & take, i.reason, i.message) for i in more
                       if (i.mask & take).any()]
        else:
            value = case.value
        typed, more = cast_to_variable(value, var, run)
        issues += [Issue(i.mask & take, i.reason, i.message) for i in more if (i.mask & take).any()]
        picks.append((take, typed))
    for take, typed in picks:
        result = typed.where(take, result)
    if undecidable.any():
        # which case applies is unknown: the cell is missing (and the value is reported)
        result = result.mask(undecidable & ~decided)
        decided |= undecidable
    # the else branch only concerns the rows no case took
    issues += [Issue(i.mask & ~decided, i.reason, i.message) for i in else_issues
               if (i.mask & ~decided).any()]
    return result, issues


def _operation(rule: rules.Operation, var: Variable, run: RuleRun) -> Result:
    value, issues = evaluate(rule.expression, run)
    return _rounded(value, rule.round), issues


def _unit(rule: rules.UnitConversion, var: Variable, run: RuleRun) -> Result:
    conv = units.conversion(rule.source_unit, var.unit or rule.source_unit,
                            analyte_name=rule.analyte or var.analyte)
    values, bad = run.source.numbers(rule.column, rule.missing)
    issues: list[Issue] = []
    _add(issues, bad, "not_a_number", f"not a number (a measurement in {rule.source_unit})")
    out = conv.apply(values)
    if rule.round is None and var.type == "integer" and var.unit is not None and \
            units.completes_units(rule.source_unit, var.unit):
        # whole years (weeks ...) from months (days ...): completed units, never rounded up;
        # the tolerance keeps 24 months at 2 years despite binary fractions
        return np.floor(out + 1e-9), issues
    return _rounded(out, rule.round), issues


def _date(rule: rules.DateParse, var: Variable, run: RuleRun) -> Result:
    if rule.format == "iso8601":
        read = run.source.partial_dates(rule.column, rule.impute or "none", rule.missing,
                                        datetime=var.type == "datetime")
        return read.values, date_issues(read, rule.impute)
    values, bad = run.source.dates(rule.column, rule.format, rule.missing,
                                   datetime=var.type == "datetime")
    issues: list[Issue] = []
    _add(issues, bad, "not_a_date", f"not a date in the format {rule.format}")
    return values, issues


def date_issues(read: Any, impute: str | None, where: str = "") -> list[Issue]:
    """The problems and imputation notes of a column read as ISO 8601 (PartialDates)."""
    issues: list[Issue] = []
    at = f"{where}: " if where else ""
    _add(issues, read.bad, "not_a_date", f"{at}not an ISO 8601 date (YYYY-MM-DD, YYYY-MM or "
                                         "YYYY)")
    _add(issues, read.partial, "partial_date",
         f"{at}a partial date" + (" (a year alone is not imputed by `impute: day`)"
                                  if impute == "day" else "; set `impute:` on the rule "
                                  "(day, first, middle or last) or ask the trial"))
    _add(issues, read.imputed, "imputed_date", f"{at}partial date completed ({impute})")
    return issues


def _constant(rule: rules.Constant, var: Variable, run: RuleRun) -> Result:
    value = rule.value
    if var.type in ("date", "datetime") and isinstance(value, str):
        value = pd.Timestamp(value)
    return value, []


def _nothing(rule: rules.Rule, var: Variable, run: RuleRun) -> Result:
    return _empty(var, run.n).set_axis(run.index), []


def _derive(rule: rules.Derive, var: Variable, run: RuleRun) -> Result:
    derivation = DERIVATIONS[rule.function]
    args: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, ref in rule.args:
        param = derivation.param(name)
        if isinstance(ref, (str, int)):
            args[name] = ref
            continue
        value, more = _ref_value(ref, param.kind if param else "any", run)
        issues += more
        args[name] = value
    values, more = derivation.compute(args)
    return _rounded(values, rule.round), issues + more


def ref_value(ref: rules.Ref, kind: str, run: Any) -> tuple[pd.Series, list[Issue]]:
    """The values of a reference (a variable, a raw column, a combination or an expression)
    over the rows of ``run`` (a RuleRun, or any context with ``source``, ``n``, ``index`` and
    ``variable_value``), as ``kind`` (date, number or any) needs them."""
    return _ref_value(ref, kind, run)


def _ref_value(ref: rules.Ref, kind: str, run: RuleRun) -> tuple[pd.Series, list[Issue]]:
    read = _REF_READERS[type(ref)]
    value, issues = read(ref, kind, run)
    return _as_kind(value, kind, run, issues)


def _variable_ref(ref: rules.VariableRef, kind: str, run: RuleRun) -> tuple[Any, list[Issue]]:
    return run.variable_value(ref.name), []


def _column_ref(ref: rules.ColumnRef, kind: str, run: RuleRun) -> tuple[Any, list[Issue]]:
    issues: list[Issue] = []
    if kind == "date" and ref.format == "iso8601":
        read = run.source.partial_dates(ref.column, ref.impute or "none")
        return read.values, date_issues(read, ref.impute, f"${ref.column}")
    if kind == "date":
        fmt = ref.format or ("native" if run.source.kind(ref.column) == "date" else "iso")
        value, bad = run.source.dates(ref.column, fmt)
        _add(issues, bad, "not_a_date", f"${ref.column}: not a date in the format {fmt}")
        return value, issues
    if kind == "number":
        value, bad = run.source.numbers(ref.column)
        _add(issues, bad, "not_a_number", f"${ref.column}: not a number")
        return value, issues
    return run.source.value(ref.column), issues


def _combined_ref(ref: rules.CombinedRef, kind: str, run: RuleRun) -> tuple[Any, list[Issue]]:
    issues: list[Issue] = []
    parts = []
    for r in ref.refs:
        v, more = _ref_value(r, kind, run)
        issues += more
        parts.append(v)
    if ref.how == "coalesce":
        value = parts[0]
        for p in parts[1:]:
            value = value.where(value.notna(), p)
        return value, issues
    if all(p.dtype == "datetime64[ns]" for p in parts):  # dates: numpy, NaT skipped
        pick = np.fmin if ref.how == "earliest" else np.fmax
        arrays = [p.to_numpy() for p in parts]
        out = arrays[0]
        for a in arrays[1:]:
            out = pick(out, a)
        return pd.Series(out, index=run.index), issues
    frame = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    value = frame.min(axis=1) if ref.how == "earliest" else frame.max(axis=1)
    value.index = run.index
    return value, issues


def _expression_ref(ref: rules.ExpressionRef, kind: str, run: RuleRun
                    ) -> tuple[Any, list[Issue]]:
    value, issues = evaluate(ref.expression, run)
    return _broadcast(value, run.n, run.index), issues


_REF_READERS: dict[type, Callable[[Any, str, RuleRun], tuple[Any, list[Issue]]]] = {
    rules.VariableRef: _variable_ref,
    rules.ColumnRef: _column_ref,
    rules.CombinedRef: _combined_ref,
    rules.ExpressionRef: _expression_ref,
}


def _as_kind(value: pd.Series, kind: str, run: RuleRun,
             issues: list[Issue]) -> tuple[pd.Series, list[Issue]]:
    """A reference's values as ``kind`` needs them: dates, numbers (Float64) or as they are."""
    if kind == "date" and not pd.api.types.is_datetime64_any_dtype(value.dtype):
        if value.isna().all():
            value = pd.Series(np.full(run.n, np.datetime64("NaT"), dtype="datetime64[ns]"),
                              index=run.index)
        else:
            raise HarmonisationError(f"a date is needed but the value is {value.dtype}; give the "
                                     "column's date format", reason=Reason.TYPE)
    if kind == "number":
        if pd.api.types.is_numeric_dtype(value.dtype):
            value = value.astype("Float64")
        elif value.isna().all():
            value = pd.Series(missing_array(run.n, "Float64"), index=run.index)
        else:
            value, bad = run.source.to_number(value)
            _add(issues, bad, "not_a_number", "not a number")
    return value, issues


#: rules whose output, when it already has the variable's dtype, needs no cast: the loader
#: checked their literal codes against the dictionary, and dates come out normalised
_TRUSTED = (rules.Recode, rules.DateParse, rules.IdCreation, rules.Impossible, rules.Undetermined)

_EVALUATORS: dict[type, Callable[[Any, Variable, RuleRun], Result]] = {
    rules.IdCreation: _id_creation,
    rules.Direct: _direct,
    rules.Recode: _recode,
    rules.CaseWhen: _case_when,
    rules.Operation: _operation,
    rules.UnitConversion: _unit,
    rules.DateParse: _date,
    rules.Derive: _derive,
    rules.Constant: _constant,
    rules.Impossible: _nothing,
    rules.Undetermined: _nothing,
}
