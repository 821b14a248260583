"""Questions in the trial's own terms: one template per check, in the trial's language.

:func:`word_group` writes a group of findings (:mod:`harmonise.queries.questions`) as the
question a trial's data manager reads: their participant's values in their own column names,
dates laid out the way their data write them (the mapping's date format), codes with the labels
of their codebook (SPSS/Stata/SAS value labels, or the dictionary's label of the code the
mapping's recode gives), and the dictionary's label where a harmonised concept must be named
(a survival time worked out from dates). No expression syntax, no variable names.

Languages: English, and French for trials whose codebook is French (``Trial.language``);
anything else falls back to English.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harmonise.dictionary.spec import CrossRule, Variable
from harmonise.mapping.rules import DateParse, Direct, IdCreation, Recode, UnitConversion
from harmonise.pipeline.findings import CheckedTrial
from harmonise.queries.questions import ROW_WORD, Finding, Group, Wording
from harmonise.values.cells import canonical_text

__all__ = ["LANGUAGES", "word_group", "language_of", "TEMPLATES"]

LANGUAGES = ("en", "fr")


def _templates(language: str) -> dict[str, str]:
    """The templates of ``language``: harmonise/pipeline/wording.<language>.yaml."""
    path = Path(__file__).with_name(f"wording.{language}.yaml")
    templates: dict[str, str] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return templates


#: language -> check (or phrase) -> template, read from wording.<language>.yaml
TEMPLATES: dict[str, dict[str, str]] = {language: _templates(language) for language in LANGUAGES}

#: failing assertion operator -> (relation for dates, relation for numbers), per language
_RELATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {">=": ("before", "less than"), ">": ("not after", "not more than"),
           "<=": ("after", "more than"), "<": ("not before", "not less than"),
           "==": ("different from", "different from"), "!=": ("the same as", "the same as")},
    "fr": {">=": ("précède", "est inférieur à"), ">": ("ne suit pas", "n'est pas supérieur à"),
           "<=": ("suit", "est supérieur à"), "<": ("ne précède pas", "n'est pas inférieur à"),
           "==": ("diffère de", "diffère de"), "!=": ("égale", "égale")},
}
_UNITS_FR = {"days": "jours", "years": "ans", "months": "mois", "weeks": "semaines",
             "hours": "heures"}
_COMPARISON = re.compile(r"^\s*([A-Za-z_]\w*)\s*(>=|<=|==|!=|>|<)\s*([A-Za-z_]\w*)\s*$")
_HUMAN = {"%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "MON", "%H": "hh",
          "%M": "mm", "%S": "ss"}


def language_of(language: str | None) -> str:
    """The template language for a trial's language (English when we have no words)."""
    code = (language or "en").strip().lower()[:2]
    return code if code in TEMPLATES else "en"


class _Words:
    """One trial's words: its columns, values and layouts, the dictionary's concepts."""

    def __init__(self, t: CheckedTrial) -> None:
        self.t = t
        self.lang = language_of(t.language)
        self.words = TEMPLATES[self.lang]
        self.layout = t.mapping.date_format()

    def say(self, key: str, **values: Any) -> str:
        return self.words[key].format(**values)

    def quote(self, name: str) -> str:
        return self.say("quote", name=name)

    def col(self, column: str) -> str:
        """A trial's column as the question names it: its own name, or - when the trial
        names its column exactly like one of the dictionary's variables - the dictionary's
        label of it (the same thing, in words)."""
        var = self.variable(column)
        if var is not None and var.label:
            return self.quote(var.label)
        return self.quote(column)

    def join(self, items: list[str]) -> str:
        items = [i for i in items if i]
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + f" {self.words['and']} " + items[-1]

    # --- the dictionary's concepts ----------------------------------------------------------
    def variable(self, name: str) -> Variable | None:
        return self.t.dictionary.variable(name) if name in self.t.dictionary else None

    def is_date(self, name: str) -> bool:
        var = self.variable(name)
        return var is None or var.type in ("date", "datetime")

    def concept(self, name: str) -> str:
        var = self.variable(name)
        label = var.label if var is not None and var.label else name.replace("_", " ")
        return self.quote(label) if self.lang == "fr" else label

    def unit(self, var: Variable | None) -> str:
        if var is None or not var.unit:
            return ""
        return _UNITS_FR.get(var.unit, var.unit) if self.lang == "fr" else var.unit

    def column(self, variable: str) -> str | None:
        """The trial's own column a variable comes straight from (None: derived)."""
        if variable not in self.t.mapping:
            return None
        rule = self.t.mapping.rule(variable)
        if isinstance(rule, (Direct, Recode, UnitConversion, DateParse, IdCreation)):
            return rule.column if rule.column in self.t.raw.columns else None
        return None

    # --- values as the trial writes them ----------------------------------------------------
    def date(self, value: Any) -> str:
        stamp = pd.Timestamp(value)
        if self.layout:
            return stamp.strftime(self.layout)
        return stamp.strftime("%Y-%m-%d")

    def raw(self, column: str, row: int | None) -> str:
        """A raw cell as the trial wrote it, with its code's label."""
        if row is None or column not in self.t.raw.columns:
            return self.words["empty"]
        value = self.t.raw[column].iat[row - 1]
        if isinstance(value, pd.Timestamp) and not pd.isna(value):
            text: str | None = self.date(value) if self.layout else canonical_text(value)
        else:
            text = canonical_text(value)
        if text is None:
            return self.words["empty"]
        label = self.code_label(column, text)
        return f"{text} ({label})" if label and label != text else text

    def code_label(self, column: str, code: str) -> str | None:
        info = self.t.columns.get(column)
        if info is not None and info.value_labels:
            label = info.value_labels.get(code)
            if label is not None:
                return str(label)
        for rule in self.t.mapping.rules:
            if isinstance(rule, Recode) and rule.column == column:
                var = self.variable(rule.variable)
                for key, target in rule.map:
                    if canonical_text(key) == code and var is not None and var.categories:
                        category = var.category(target)
                        return category.label if category is not None else None
        return None

    def harmonised(self, variable: str, row: int | None) -> str:
        """A harmonised value in the trial's layout (dates) or with its label (codes)."""
        if row is None:
            return self.words["empty"]
        data = self.t.data
        hits = (data["_row"] == row).to_numpy()
        if not hits.any() or variable not in data.columns:
            return self.words["empty"]
        value = data.loc[hits, variable].iloc[0]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return self.words["empty"]
        var = self.variable(variable)
        if var is not None and var.type in ("date", "datetime"):
            return self.date(value)
        text = canonical_text(value) or ""
        if var is not None and var.categories:
            category = var.category(value)
            if category is not None:
                return f"{text} ({category.label})"
        unit = self.unit(var)
        return f"{text} {unit}".strip()

    def what(self, variable: str, row: int | None) -> tuple[str, str]:
        """(how to name it, its value): the trial's column and raw value where the variable
        comes straight from one column, else the dictionary's concept and the value we work
        out."""
        column = self.column(variable)
        if column is not None:
            return self.col(column), self.raw(column, row)
        return self.concept(variable), self.harmonised(variable, row)

    def range(self, var: Variable) -> str:
        r = var.range
        if r is None:
            return ""
        unit = self.unit(var)

        def show(x: Any) -> str:
            if var.type in ("date", "datetime"):
                return self.date(x)
            return canonical_text(x) or str(x)

        if r.min is not None and r.max is not None:
            text = f"{show(r.min)} {self.words['to']} {show(r.max)}"
        elif r.min is not None:
            text = f"{self.words['at_least']} {show(r.min)}"
        else:
            text = f"{self.words['at_most']} {show(r.max)}"
        return f"{text} {unit}".strip()

    def columns_of(self, variable: str) -> str:
        cols = [c for c in self.t.mapping.source_columns(variable) if c in self.t.raw.columns]
        return self.join([self.col(c) for c in cols])

    def rule(self, rule_id: str) -> CrossRule | None:
        return next((r for r in self.t.dictionary.rules if r.id == rule_id), None)

    def rule_label(self, rule: CrossRule) -> str:
        text = rule.label or rule.description or self.join(
            [self.concept(v) for v in rule.variables])
        return self.quote(text) if self.lang == "fr" else text

    def layout_text(self, column: str) -> str:
        fmt = None
        for rule in self.t.mapping.rules:
            if isinstance(rule, DateParse) and rule.column == column:
                fmt = rule.format
        if not fmt or "%" not in fmt:
            return ""
        human = fmt
        for directive, text in _HUMAN.items():
            human = human.replace(directive, text)
        return self.say("written", layout=human)


# --- the question of a group (its primary finding) -----------------------------------------

def _participant_text(w: _Words, f: Finding) -> str:
    if f.source == "mapping":
        return _mapping_text(w, f)
    kind = f.facts.get("kind", "")
    name = str(f.facts.get("name", ""))
    if kind in _NAMED and not name:
        return f.message
    text = _PARTICIPANT_TEXTS.get(kind)
    return text(w, f, name) if text is not None else f.message


def _range_text(w: _Words, f: Finding, name: str) -> str:
    var = w.variable(name)
    column = w.column(name)
    if column is not None and var is not None:
        subject = w.say("subject", what=w.col(column), value=w.raw(column, f.row))
        if isinstance(w.t.mapping.rule(name), UnitConversion):
            subject += f" ({w.harmonised(name, f.row)})"
        key = "range_same" if w.col(column) == w.concept(name) else "range"
        return w.say(key, subject=subject, concept=w.concept(name), range=w.range(var))
    if var is not None:
        return w.say("range_derived", concept=w.concept(name), columns=w.columns_of(name),
                     value=w.harmonised(name, f.row), range=w.range(var))
    return f.message


def _required_text(w: _Words, f: Finding, name: str) -> str:
    column = w.column(name)
    if column is not None:
        return w.say("required", what=w.col(column), concept=w.concept(name))
    cols = [c for c in w.t.mapping.source_columns(name) if c in w.t.raw.columns]
    empty = [c for c in cols if f.row is not None and w.t.blank(c, f.row)] or cols
    return w.say("required_derived", concept=w.concept(name),
                 columns=w.join([w.col(c) for c in empty]),
                 is_are=w.words["is"] if len(empty) == 1 else w.words["are"])


def _category_text(w: _Words, f: Finding, name: str) -> str:
    what, value = w.what(name, f.row)
    return w.say("category", subject=w.say("subject", what=what, value=value),
                 concept=w.concept(name), codes=_codes(w.variable(name)))


def _codes(var: Variable | None) -> str:
    """A categorical variable's codes and labels, ``1 = male, 2 = female``."""
    return ", ".join(f"{c.code} = {c.label}" for c in var.categories) if var else ""


def _unique_text(w: _Words, f: Finding, name: str) -> str:
    what, value = w.what(name, f.row)
    return w.say("unique", subject=w.say("subject", what=what, value=value))


def _before_randomisation_text(w: _Words, f: Finding, name: str) -> str:
    variables = list(f.facts.get("variables", []))
    rand = f.facts.get("rand")
    a_what, a = w.what(variables[0], f.row) if variables else ("", "")
    r_what, r = w.what(rand, f.row) if rand else ("", "")
    return w.say("before_rand", a_what=a_what, a=a, r_what=r_what, r=r)


def _duplicate_id_text(w: _Words, f: Finding, name: str) -> str:
    rows = [int(r) for r in f.facts.get("rows", [])]
    label = ROW_WORD[w.lang]
    return w.say("duplicate", n=len(rows), rows=w.join([str(r) for r in rows]),
                 example=f"{label} {rows[-1]}=…")


def _missing_id_text(w: _Words, f: Finding, name: str) -> str:
    return w.say("missing_id", row=f.row, column=w.col(w.t.id_column))


#: the kinds of participant-level finding whose question needs the variable's name
_NAMED = frozenset({"range", "required", "category", "unique"})

#: kind of finding -> its question
_PARTICIPANT_TEXTS: dict[str, Callable[[_Words, Finding, str], str]] = {
    "range": _range_text,
    "required": _required_text,
    "category": _category_text,
    "unique": _unique_text,
    "rule": lambda w, f, name: _rule_text(w, f),
    "before_randomisation": _before_randomisation_text,
    "duplicate_id": _duplicate_id_text,
    "missing_id": _missing_id_text,
}


def _rule_text(w: _Words, f: Finding) -> str:
    rule = w.rule(str(f.facts.get("name", "")))
    row = f.row
    if rule is None:
        return f.message
    match = _COMPARISON.match(rule.expression.text)
    if match and rule.when is None:
        a, op, b = match.groups()
        var_a = w.variable(a)
        is_date = var_a is not None and var_a.type in ("date", "datetime")
        relation = _RELATIONS[w.lang][op][0 if is_date else 1]
        a_what, a_value = w.what(a, row)
        b_what, b_value = w.what(b, row)
        return w.say("compare", a_what=a_what, a=a_value, relation=relation, b_what=b_what,
                     b=b_value)
    values = []
    for v in rule.variables:
        what, value = w.what(v, row)
        values.append(f"{what} {value}")
    return w.say("rule", rule=w.rule_label(rule), values=w.join(values))


def _mapping_text(w: _Words, f: Finding) -> str:
    reason = str(f.facts.get("reason", ""))
    variable = f.variable or ""
    cols = list(f.source_columns)
    row = f.row
    column = cols[0] if len(cols) == 1 else None
    n = int(f.facts.get("n_rows", 1))
    where = w.say("on_rows", n=n) if n > 1 else ""
    if reason == "unmatched_code" and column is not None:
        return w.say("unmatched_code", column=w.col(column), value=w.raw(column, row),
                     where=where)
    if reason == "missing_id":
        return w.say("missing_id", row=row, column=w.col(column or w.t.id_column))
    if column is not None and reason in ("not_a_number", "not_a_date", "not_whole_number",
                                         "not_boolean", "invalid_category"):
        subject = w.say("subject", what=w.col(column), value=w.raw(column, row))
        if reason == "invalid_category":
            return w.say("category", subject=subject, concept=w.concept(variable),
                         codes=_codes(w.variable(variable)))
        return w.say(reason, subject=subject, where=where, concept=w.concept(variable),
                     layout=w.layout_text(column) if reason == "not_a_date" else "")
    values = w.join([f"{w.col(c)} {w.raw(c, row)}" for c in cols])
    return w.say("cannot_compute", concept=w.concept(variable), values=values)


def _arm_label(w: _Words, code: Any) -> str:
    ctx = w.t.context
    label = str(code)
    if ctx is not None:
        for arm in ctx.arms:
            if str(arm.code) == str(code) or arm.label == str(code):
                label = arm.label
    return w.say("arm", label=label)


def _pattern_text(w: _Words, f: Finding) -> str:
    kind = str(f.facts.get("kind", ""))
    details: MappingABC[str, Any] = f.facts.get("details", {}) or {}
    ctx = w.t.context
    arm_var = ctx.arm_variable if ctx is not None else "arm"
    arm_column = w.col(w.column(arm_var) or arm_var)
    if kind == "missingness":
        variable = str(f.facts.get("variable"))
        columns = list(f.facts.get("columns", []))
        what = w.join([w.col(c) for c in columns]) or w.concept(variable)
        if len(columns) == 1 and w.column(variable) == columns[0] and \
                w.variable(columns[0]) is None:
            what = w.say("column_concept", column=what, concept=w.concept(variable))
        shares = [w.say("of_arm", share=f"{share:.0%}", arm=w.say("arm", label=arm))
                  for arm, share in dict(f.facts.get("missing_share", {})).items()]
        return w.say("missingness", what=what, shares=w.join(shares))
    if kind == "randomised-n":
        parts = []
        for arm in details.get("arms", []):
            if abs(float(arm.get("difference", 0))) > 0.10:
                parts.append(w.say("randomised_n", delivered=arm["delivered"],
                                   arm=w.say("arm", label=arm["arm"]),
                                   published=arm["published"],
                                   diff=f"{float(arm['difference']):+.0%}"))
        return " ".join(parts) or f.message
    if kind == "allocation-ratio":
        sizes = w.join([str(n) for n in details.get("observed", [])])
        ratio = ":".join(str(r) for r in details.get("planned_ratio", []))
        return w.say("allocation", sizes=sizes, ratio=ratio, column=arm_column)
    if kind == "baseline-balance":
        variable = str(f.facts.get("variable") or "")
        worst = min(details.get("tested", []), key=lambda t: t["p"], default={"p": math.nan})
        return w.say("balance", concept=w.concept(variable),
                     column=w.col(w.column(variable) or variable), p=f"{worst['p']:.2g}",
                     arm_column=arm_column)
    if kind == "randomisation-weekday":
        rand = ctx.rand_date if ctx is not None else None
        total = sum(details.get("by_weekday", {}).values())
        return w.say("weekday", n=len(f.affected), total=total,
                     column=w.col(w.column(rand) or str(rand)) if rand else "")
    if kind == "randomisation-sequence":
        rand = ctx.rand_date if ctx is not None else None
        return w.say("sequence", column=w.col(w.column(rand) or str(rand)) if rand else "",
                     arm_column=arm_column, runs=details.get("runs"), n=details.get("n"))
    if kind == "follow-up-by-arm":
        medians = w.join([f"{w.say('arm', label=k)} {v:.0f}" for k, v in
                          dict(details.get("median_follow_up", {})).items() if v is not None])
        return w.say("follow_up", medians=medians)
    return f.message


# --- consequences -----------------------------------------------------------------------------

def _consequence(w: _Words, f: Finding, primary: Finding) -> str:
    """A short phrase for a finding that fails because of the primary one ("" to leave it
    out: it says what the question says)."""
    kind = str(f.facts.get("kind", ""))
    name = str(f.facts.get("name", ""))
    row = f.row
    if f.check_id == primary.check_id and kind in ("duplicate_id", "missing_id"):
        return ""
    if kind == "missingness":
        return w.say("cons_missing", concept=w.concept(str(f.facts.get("variable"))))
    if f.scope == "trial":
        return w.say("cons_pattern", text=_pattern_text(w, f))
    if f.source == "mapping":
        return w.say("cons_mapping", concept=w.concept(f.variable or ""))
    if kind == "range" and name and w.variable(name) is not None:
        var = w.variable(name)
        assert var is not None
        what, value = w.what(name, row)
        return w.say("cons_range", concept=what, value=value, range=w.range(var))
    if kind == "required" and name:
        return w.say("cons_required", concept=w.concept(name))
    if kind == "rule":
        rule = w.rule(name)
        if rule is not None:
            return w.say("cons_rule", rule=w.rule_label(rule))
    if kind == "before_randomisation":
        named = set(primary.facts.get("variables", [])) | {str(primary.facts.get("name"))}
        variables = [v for v in f.facts.get("variables", []) if v not in named
                     and w.is_date(v)]
        return w.join([w.say("cons_before_rand", what=w.what(v, row)[0]) for v in variables])
    if kind in ("category", "unique"):
        return _participant_text(w, f)
    return w.say("check_generic", concept=w.concept(f.variable or ""))


def word_group(group: Group, trial: CheckedTrial) -> Wording:
    """The question for ``group`` in ``trial``'s terms and language."""
    w = _Words(trial)
    p = group.primary
    text = _pattern_text(w, p) if p.scope == "trial" else _participant_text(w, p)
    participants = group.participants
    if p.scope != "trial" and len(participants) > 1 and p.facts.get("kind") != "duplicate_id":
        text += w.say("several", n=len(participants))
    counts: dict[str, int] = {}
    order: list[str] = []
    for f in group.consequences:
        phrase = _consequence(w, f, p)
        if phrase and phrase != text:
            if phrase not in counts:
                order.append(phrase)
            counts[phrase] = counts.get(phrase, 0) + 1
    several = len(participants) > 1
    consequences = tuple(w.say("cons_count", text=c, n=counts[c])
                         if several and counts[c] > 1 else c for c in order)
    return Wording(text=text, consequences=consequences, language=w.lang)
