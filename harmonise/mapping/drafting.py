"""Proposing a mapping from a delivery's metadata: ``ipdrepo mapping draft TRIAL``.

:func:`draft_mapping` reads what a trial's delivery says about itself - the datasets, their
participant-ID columns and row keys, the column names, labels, types and value labels (from
define.xml codelists, SAS/SPSS/Stata formats) and the distinct values - and proposes a rule
for every variable of the topic dictionary. Nothing is guessed silently: every proposed rule
carries ``draft: <why it was proposed>``, and a mapping with ``draft`` keys is refused by
``ipdrepo harmonise`` until the curator has checked each rule and deleted the line (or run
``ipdrepo mapping confirm``). Confirmed rules are ordinary mapping YAML.

How a column is chosen for a variable (pure functions over the metadata, no store access):

* **name and label**: the variable's name and label against the column's name and label
  (similarity of the names, shared words of the labels), plus the CDISC conventions for common
  variables (``AGE``, ``SEX``, ``RACE``; a treatment variable from ``TRT01PN``/``TRT01P``/
  ``ARM``, the planned treatment before the actual one);
* **type**: numbers from numeric columns, dates from date columns (``native``) or ISO 8601
  text (``iso8601``, partial dates left missing and reported), categories from columns whose
  values can be matched to the dictionary's codes;
* **values** of a categorical variable: a column whose values are the codes becomes ``direct``;
  otherwise a ``recode`` whose map comes from the value labels (``M`` -> ``Male``), the values
  themselves (``Placebo``), or an unambiguous first letter; values it cannot match are listed.

A time-to-event pair of the dictionary (an outcome of kind ``time_to_event``) is looked for in
an ADaM BDS time-to-event dataset (``PARAMCD``, ``AVAL``, ``CNSR``): the parameter whose
``PARAM`` best matches the outcome is declared as a one-to-one dataset with ``where: $PARAMCD ==
'...'``; the time is ``AVAL``, the event ``CNSR`` recoded (CNSR 0 is the event). Long tables of
the dictionary get the long dataset whose columns best match their variables. A variable nothing
matches gets ``{rule: undetermined}`` with the reason, for the curator to write.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.values.cells import canonical_text

__all__ = ["DatasetInfo", "MappingDraft", "Proposal", "draft_mapping", "confirm_drafts"]

#: a proposal below this score is not made (the variable stays undetermined)
MIN_SCORE = 0.6

#: CDISC (SDTM/ADaM) column names for common dictionary variables, best first
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "treatment": ("TRT01PN", "TRT01P", "TRTPN", "TRTP", "ARMCD", "ARM", "TRT01AN", "TRT01A"),
    "age": ("AGE",),
    "sex": ("SEX",),
    "race": ("RACEN", "RACE"),
    "ethnicity": ("ETHNIC",),
    "weight": ("WEIGHTBL",),
    "height": ("HEIGHTBL",),
    "bmi": ("BMIBL",),
    "country": ("COUNTRY",),
    "site": ("SITEID",),
    "death": ("DTHDTC", "DTHDT"),
}

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"of", "the", "a", "an", "to", "for", "in", "at", "on", "and", "or", "by", "date", "n",
         "time", "first"}
_ISO_TEXT = re.compile(r"^\d{4}(-(\d{2}|-)(-(\d{2}|-)?)?)?(T[\d:.]+)?$")


@dataclass(frozen=True)
class DatasetInfo:
    """One delivered dataset as the draft sees it: ``row_key`` None for one row per
    participant; ``columns`` the stored column metadata (name, dtype, label, value_labels,
    define); ``frame`` its values."""

    name: str
    id_column: str | None
    row_key: tuple[str, ...] | None
    columns: tuple[dict[str, Any], ...]
    frame: pd.DataFrame = field(repr=False)

    @property
    def long(self) -> bool:
        return self.row_key is not None

    def column(self, name: str) -> dict[str, Any] | None:
        for c in self.columns:
            if str(c.get("name")) == name:
                return c
        return None


@dataclass(frozen=True)
class Proposal:
    """The rule proposed for one variable (``table``: participants or a long table)."""

    variable: str
    table: str
    rule: dict[str, Any]
    why: str
    score: float

    @property
    def undetermined(self) -> bool:
        return self.rule.get("rule") == "undetermined"


@dataclass(frozen=True)
class MappingDraft:
    """A proposed mapping: :attr:`data` is the mapping document (every rule marked ``draft``),
    :attr:`proposals` one per dictionary variable."""

    trial: str
    data: dict[str, Any]
    proposals: tuple[Proposal, ...]

    @property
    def summary(self) -> str:
        found = sum(not p.undetermined for p in self.proposals)
        lines = [f"{self.trial}: {found} of {len(self.proposals)} variables proposed from the "
                 "delivery's metadata; check each (draft: says why) and delete its draft line."]
        for p in self.proposals:
            lines.append(f"  {p.variable:<24} {_describe(p.rule):<44} {p.why}")
        return "\n".join(lines)

    def to_yaml(self) -> str:
        head = (f"# Proposed by `ipdrepo mapping draft {self.trial}` from the delivery's metadata\n"
                "# (define.xml, labels, value labels, names, types). Every rule marked `draft:`\n"
                "# is a proposal: check it, then delete its `draft:` line (or run `ipdrepo\n"
                f"# mapping confirm {self.trial} VARIABLE`). Format: docs/mapping-format.md.\n")
        return head + yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True,
                                     default_flow_style=False, width=10**6)

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "mapping": self.data,
                "proposals": [{"variable": p.variable, "table": p.table, "rule": p.rule,
                               "why": p.why, "score": round(p.score, 3)}
                              for p in self.proposals]}

    def __str__(self) -> str:
        return self.summary


def _describe(rule: dict[str, Any]) -> str:
    kind = str(rule.get("rule"))
    where = f"{rule['dataset']}." if "dataset" in rule else ""
    if "column" in rule:
        return f"{kind} {where}{rule['column']}"
    return kind


# --- scoring ------------------------------------------------------------------------------

def _words(text: str | None) -> set[str]:
    return {w for w in _WORD.findall((text or "").lower()) if w not in _STOP}


def _name_score(var: Variable, col: dict[str, Any]) -> float:
    name = str(col.get("name", ""))
    label = str(col.get("label") or "")
    ratio = difflib.SequenceMatcher(None, var.name.lower().replace("_", ""),
                                    name.lower().replace("_", "")).ratio()
    short, long_ = name.lower().replace("_", ""), var.name.lower().replace("_", "")
    if len(short) >= 4 and long_.startswith(short):
        ratio = max(ratio, 0.8)
    theirs = _words(label)
    overlap = 0.0
    for mine in (_words(var.name.replace("_", " ") + " " + (var.label or "")),
                 _words(var.label)):
        if mine and theirs:
            overlap = max(overlap, len(mine & theirs) / min(len(mine), len(theirs)))
    score = max(ratio if ratio >= 0.8 else 0.0, overlap * 0.9)
    own = _words(var.name.replace("_", " "))
    for key, names in CONVENTIONS.items():
        applies = var.role == "treatment" if key == "treatment" else \
            key == var.name.lower() or key in own
        if applies and name.upper() in names:
            score = max(score, 1.2 - 0.02 * names.index(name.upper()))
    return score


def _norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value).replace("\u00a0", " ")).strip().casefold()


def _distinct(frame: pd.DataFrame, column: str, limit: int = 200) -> list[Any]:
    values = pd.unique(frame[column].dropna().to_numpy(dtype=object))
    out = [v for v in values if not (isinstance(v, str) and not v.strip())]
    return out[:limit]


def _value_map(var: Variable, col: dict[str, Any], values: Sequence[Any]) -> \
        tuple[str, dict[Any, Any], list[Any], str]:
    """How the column's values become the variable's codes: ("direct"|"recode", map,
    unmatched values, how)."""
    codes = {canonical_text(c.code): c.code for c in var.categories}
    by_label = {_norm(c.label): c.code for c in var.categories}
    texts = [canonical_text(v) for v in values]
    if texts and all(t in codes for t in texts):
        return "direct", {}, [], "its values are the dictionary's codes"
    labels = {_norm(k): v for k, v in (col.get("value_labels") or {}).items()}
    mapping: dict[Any, Any] = {}
    unmatched: list[Any] = []
    hows: set[str] = set()
    for raw, text in zip(values, texts):
        key = raw if not isinstance(raw, float) or not raw.is_integer() else int(raw)
        if isinstance(key, str):
            key = key.strip()
        decode = labels.get(_norm(text))
        if decode is not None and _norm(decode) in by_label:
            mapping[key] = by_label[_norm(decode)]
            hows.add("value labels")
        elif _norm(text) in by_label:
            mapping[key] = by_label[_norm(text)]
            hows.add("values equal to the labels")
        else:
            starts = [code for lab, code in by_label.items() if text and
                      lab.startswith(_norm(text))]
            if len(starts) == 1 and len(_norm(text)) <= 2:
                mapping[key] = starts[0]
                hows.add("first letters of the labels")
            else:
                unmatched.append(key)
    return "recode", mapping, unmatched, ", ".join(sorted(hows)) or "nothing matched"


def _is_date(col: dict[str, Any], frame: pd.DataFrame) -> str | None:
    """The date format of a column: ``native``, ``iso8601``, or None."""
    name = str(col.get("name"))
    if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
        return "native"
    define = col.get("define") or {}
    sample = [v for v in _distinct(frame, name, 50) if isinstance(v, str)]
    if sample and all(_ISO_TEXT.match(v.strip()) for v in sample) and (
            define.get("data_type") in ("date", "datetime", "partialDate", None) or
            name.upper().endswith("DTC")):
        return "iso8601"
    return None


def _candidate(var: Variable, ds: DatasetInfo, col: dict[str, Any]) -> \
        tuple[float, dict[str, Any], str] | None:
    """The rule ``col`` of ``ds`` would give ``var``, its score and why; None if it cannot."""
    name = str(col.get("name"))
    if name == ds.id_column or name not in ds.frame.columns:
        return None
    score = _name_score(var, col)
    if score < MIN_SCORE:
        return None
    label = f" {col['label']!r}" if col.get("label") else ""
    source = f"{ds.name}.{name}{label}"
    frame = ds.frame
    if var.type in ("date", "datetime"):
        fmt = _is_date(col, frame)
        if fmt is None:
            return None
        rule = {"rule": "date", "column": name, "format": fmt}
        note = "a date column" if fmt == "native" else "ISO 8601 text (partial dates reported)"
        return score, rule, f"{source}: {note}"
    if var.type in ("integer", "decimal"):
        if not pd.api.types.is_numeric_dtype(frame[name].dtype):
            return None
        unit = f"; check the unit ({var.unit})" if var.unit else ""
        return score, {"rule": "direct", "column": name}, f"{source}: numbers{unit}"
    if var.type == "categorical":
        values = _distinct(frame, name)
        kind, mapping, unmatched, how = _value_map(var, col, values)
        if kind == "direct":
            return score + 0.1, {"rule": "direct", "column": name}, f"{source}: {how}"
        matched = len(mapping) / max(1, len(mapping) + len(unmatched))
        if not mapping or matched < 0.5:
            return None
        recode: dict[str, Any] = {"rule": "recode", "column": name, "map": mapping}
        rest = ""
        if unmatched:
            recode["else"] = "missing"
            rest = f"; not matched (become missing): {', '.join(map(str, unmatched[:8]))}"
        return score * matched, recode, f"{source}: codes from the {how}{rest}"
    if var.type in ("text", "id", "boolean"):
        return score, {"rule": "direct", "column": name}, f"{source}: same kind of values"
    return None


def _best(var: Variable, datasets: Sequence[DatasetInfo], base: str) -> \
        tuple[float, dict[str, Any], str, str] | None:
    best: tuple[float, dict[str, Any], str, str] | None = None
    for ds in datasets:
        for col in ds.columns:
            found = _candidate(var, ds, col)
            if found is None:
                continue
            score = found[0] + (0.05 if ds.name == base else 0.0)
            if best is None or score > best[0]:
                best = (score, found[1], found[2], ds.name)
    return best


# --- time-to-event pairs ------------------------------------------------------------------

def _bds(datasets: Sequence[DatasetInfo]) -> list[DatasetInfo]:
    return [d for d in datasets if {"PARAMCD", "AVAL", "CNSR"} <= set(d.frame.columns)]


def _time_to_event(dictionary: Dictionary, datasets: Sequence[DatasetInfo]) -> \
        tuple[dict[str, dict[str, Any]], dict[str, Proposal]]:
    """Declared datasets and proposals for the time/event variables of time-to-event outcomes."""
    declared: dict[str, dict[str, Any]] = {}
    out: dict[str, Proposal] = {}
    sources = _bds(datasets)
    for outcome in dictionary.outcomes:
        if outcome.kind != "time_to_event" or not sources:
            continue
        wanted = _words(f"{outcome.name} {outcome.label or ''}")
        choice: tuple[float, DatasetInfo, str, str] | None = None
        for ds in sources:
            params = ds.frame[["PARAMCD", "PARAM"]].drop_duplicates() if "PARAM" in \
                ds.frame.columns else ds.frame[["PARAMCD"]].drop_duplicates().assign(PARAM="")
            for code, text in params.itertuples(index=False):
                theirs = _words(f"{text} {code}")
                score = len(wanted & theirs) / max(1, len(wanted)) + \
                    (0.5 if str(code).lower() == outcome.name.lower() else 0.0)
                if choice is None or score > choice[0]:
                    choice = (score, ds, str(code), str(text))
        if choice is None or choice[0] < 0.5:
            continue
        _, ds, code, text = choice
        alias = re.sub(r"[^a-z0-9_]", "_", code.lower()) or "tte"
        declared[alias] = {"dataset": ds.name, "join": "one-to-one",
                           "where": f"$PARAMCD == '{code}'"}
        why = f"{ds.name} PARAMCD {code} ({text!r}), an ADaM time-to-event parameter"
        time_var = dictionary.variable(outcome.time) if outcome.time else None
        if time_var is not None:
            unit = ds.frame["AVALU"].dropna().iloc[0] if "AVALU" in ds.frame.columns and \
                ds.frame["AVALU"].notna().any() else None
            note = f"; AVAL in {unit}, check against {time_var.unit}" if unit else \
                f"; check AVAL is in {time_var.unit or 'the dictionary unit'}"
            out[time_var.name] = Proposal(time_var.name, "participants",
                                          {"rule": "direct", "column": "AVAL", "dataset": alias},
                                          f"{why}: AVAL is the time{note}", 1.0)
        event_var = dictionary.variable(outcome.event) if outcome.event else None
        if event_var is not None:
            out[event_var.name] = Proposal(event_var.name, "participants",
                                           _event_rule(event_var, alias),
                                           f"{why}: CNSR 0 is the event, 1 censored", 1.0)
    return declared, out


def _event_rule(var: Variable, alias: str) -> dict[str, Any]:
    if var.type == "categorical":
        event = censored = None
        for c in var.categories:
            words = _words(c.label)
            if words & {"event", "died", "death", "yes", "occurred"}:
                event = c.code
            elif words & {"censored", "censor", "no", "alive"}:
                censored = c.code
        if event is not None and censored is not None:
            return {"rule": "recode", "column": "CNSR", "dataset": alias,
                    "map": {0: event, 1: censored}}
    return {"rule": "operation", "expression": "1 - $CNSR", "dataset": alias}


# --- the draft ------------------------------------------------------------------------------

def _base(datasets: Sequence[DatasetInfo]) -> DatasetInfo:
    level = [d for d in datasets if not d.long and d.id_column is not None]
    if not level:
        level = [d for d in datasets if d.id_column is not None]
    for preferred in ("adsl", "dm"):
        for d in level:
            if d.name.lower() == preferred:
                return d
    return max(level, key=lambda d: (len(d.frame), len(d.columns)))


def _mark(rule: dict[str, Any], why: str) -> dict[str, Any]:
    return {**rule, "draft": why}


def draft_mapping(dictionary: Dictionary, trial: str,
                  datasets: Sequence[DatasetInfo]) -> MappingDraft:
    """Propose a mapping of ``trial``'s delivered ``datasets`` onto ``dictionary`` (see the
    module docstring)."""
    with_ids = [d for d in datasets if d.id_column is not None]
    if not with_ids:
        raise ValueError(f"{trial}: no delivered dataset has a participant-ID column")
    base = _base(with_ids)
    level = [d for d in with_ids if not d.long]
    declared, tte = _time_to_event(dictionary, with_ids)
    proposals = [tte[var.name] if var.name in tte and var.role != "id"
                 else _propose(var, base, level)
                 for var in dictionary.variables if var.role != "trial"]
    variables = {p.variable: _mark(p.rule, p.why) for p in proposals}
    used = {str(p.rule["dataset"]) for p in proposals
            if p.rule.get("dataset") is not None
            and (p.rule["dataset"] in declared or p.variable not in tte)}
    data: dict[str, Any] = {
        "format": "ipdrepo-mapping/1", "trial": trial, "dictionary": dictionary.topic,
        "dictionary_version": dictionary.version,
        "source": {"dataset": base.name, "id_column": base.id_column}}
    datasets_doc: dict[str, Any] = {name: declared.get(name, {"join": "one-to-one"})
                                    for name in sorted(used)}
    tables_doc, table_props = _tables(dictionary, [d for d in with_ids if d.long])
    for ds_name in {t["dataset"] for t in tables_doc.values() if "dataset" in t}:
        ds = next(d for d in with_ids if d.name == ds_name)
        entry: dict[str, Any] = {"join": "one-to-many"}
        if ds.row_key:
            entry["key"] = list(ds.row_key)
        datasets_doc[ds_name] = entry
    if datasets_doc:
        data["datasets"] = datasets_doc
    data["variables"] = variables
    if tables_doc:
        data["tables"] = tables_doc
    return MappingDraft(trial=trial, data=data, proposals=tuple(proposals + table_props))


def _propose(var: Variable, base: DatasetInfo, level: Sequence[DatasetInfo]) -> Proposal:
    """The rule proposed for a participant variable: the ID column, or the best-matching
    column of a participant-level dataset (read from another dataset with ``dataset:``)."""
    if var.role == "id":
        rule = {"rule": "id_creation", "column": base.id_column}
        return Proposal(var.name, "participants", rule,
                        f"{base.name}.{base.id_column}: the participant-ID column", 1.0)
    found = _best(var, level, base.name)
    if found is None:
        return Proposal(var.name, "participants", {
            "rule": "undetermined",
            "comment": "no column of the delivery matched by name, label, type and "
                       "values; write the rule (an aggregate over a long dataset?)"},
            "nothing matched", 0.0)
    score, rule, why, name = found
    if name != base.name:
        rule = {**rule, "dataset": name}
    return Proposal(var.name, "participants", rule, why, score)


def _tables(dictionary: Dictionary, long: Sequence[DatasetInfo]) -> \
        tuple[dict[str, Any], list[Proposal]]:
    docs: dict[str, Any] = {}
    props: list[Proposal] = []
    for table in dictionary.tables:
        variables = [v for v in dictionary.all_variables if v.table == table.name]
        best: tuple[float, DatasetInfo, dict[str, Any]] | None = None
        for ds in long:
            found = {v.name: _best(v, [ds], ds.name) for v in variables}
            hits = [f for f in found.values() if f is not None]
            keyed = all(found[k] is not None for k in table.key)
            total = sum(f[0] for f in hits)
            if keyed and 2 * len(hits) >= len(variables) and (best is None or total > best[0]):
                best = (total, ds, found)
        if best is None:
            docs[table.name] = {"status": "impossible",
                                "comment": "no long dataset of the delivery matched half its "
                                           "variables and its key (proposed by ipdrepo "
                                           "mapping draft; check)"}
            continue
        _, ds, found = best
        rules: dict[str, Any] = {}
        for v in variables:
            f = found[v.name]
            if f is None:
                rule = {"rule": "undetermined", "comment": f"no column of {ds.name} matched"}
                p = Proposal(v.name, table.name, rule, "nothing matched", 0.0)
            else:
                p = Proposal(v.name, table.name, f[1], f[2], f[0])
            props.append(p)
            rules[v.name] = _mark(p.rule, p.why)
        docs[table.name] = {"dataset": ds.name, "variables": rules}
    return docs, props


def confirm_drafts(text: str, variables: Sequence[str] | None) -> tuple[str, list[str]]:
    """``text`` (a mapping file in block style, as the draft writes it) without the ``draft:``
    lines of the rules of ``variables`` (None: every rule), and the variables confirmed.
    Comments and layout are kept: only those lines go."""
    out: list[str] = []
    confirmed: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines(keepends=True):
        body = line.strip()
        if not body or body.startswith("#"):
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = re.match(r"([^:#'\"]+):(\s|$)", body)
        if key and key.group(1) == "draft" and len(stack) >= 2 and \
                stack[-2][1] == "variables" and \
                (variables is None or stack[-1][1] in variables):
            confirmed.append(stack[-1][1])
            continue
        if key:
            stack.append((indent, key.group(1).strip()))
        out.append(line)
    return "".join(out), list(dict.fromkeys(confirmed))
