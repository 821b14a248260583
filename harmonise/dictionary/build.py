"""Building a :class:`~harmonise.dictionary.spec.Dictionary` from plain data, checking everything.

Structure comes first (the JSON Schema ``harmonise/schemas/dictionary.schema.json``), then
meaning: duplicate names, codes and labels, units and analytes, ranges, the id and trial roles,
outcomes and the variables they use, cross-variable rules (parsed, typed, harmonised variables
only), the changelog. Every problem goes to the collector; :func:`build` raises one
:class:`~repository.errors.DictionaryError` listing them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from harmonise.dictionary import spec
from harmonise.dictionary.spec import OUTCOME_KINDS, ROLES, VARIABLE_TYPES
from harmonise.dictionary.tables import PARTICIPANTS, TABLE_KINDS, Table, Window, rule_table
from harmonise.expressions.kinds import infer_kind
from harmonise.expressions.language import Expression, parse_expression
from harmonise.yamlio import ProblemCollector, load_schema, schema_problems, suggest
from repository.errors import DictionaryError, SpecError

__all__ = ["build"]


def _fail(collector: ProblemCollector) -> DictionaryError:
    n = len(collector)
    return DictionaryError(
        f"{collector.file}: {n} problem{'s' if n != 1 else ''} in the dictionary; fix "
        f"{'them all' if n != 1 else 'it'} and run `ipdrepo dictionary check` again.",
        collector.sorted(), file=collector.file)


def _text(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def build(data: Any, col: ProblemCollector, *, source: str | None) -> spec.Dictionary:
    schema_problems(data, load_schema("dictionary"), col.add)
    if not isinstance(data, dict):
        if not col:
            col.add((), "a dictionary file must be a mapping with format, topic, title, "
                        "version and variables")
        raise _fail(col)
    declared = _declared_tables(data.get("tables"), col)
    everything = _variables(data.get("variables"), col, declared)
    variables = [v for v in everything if v.table is None]
    by_name = {v.name: v for v in variables}
    outcomes = _outcomes(data.get("outcomes"), by_name, col,
                         {v.name: v.table for v in everything if v.table})
    all_rules = _rules(data.get("rules"), {v.name: v for v in everything}, col)
    rules, tables = _tables(declared, everything, all_rules, col)
    changelog = _changelog(data.get("changelog"), col)
    version = _text(data, "version") or ""
    listed = {c.get("version") for c in data.get("changelog") or [] if isinstance(c, dict)} \
        if isinstance(data.get("changelog"), list) else set()
    if isinstance(data.get("changelog"), list) and version and version not in listed:
        col.add(("changelog",), f"no changelog entry for the current version {version}; add "
                                f"one saying what changed")
    elif "changelog" not in data and version:
        col.add(("version",), f"the dictionary has no changelog; add `changelog:` with an entry "
                              f"for version {version}")
    if col:
        raise _fail(col)
    return spec.Dictionary(topic=data["topic"], title=data["title"], version=version,
                      description=_text(data, "description"), variables=tuple(variables),
                      changelog=tuple(changelog), outcomes=tuple(outcomes), rules=tuple(rules),
                      source=source, tables=tuple(tables))


def _entries(items: Any, section: str, wanted: Mapping[str, type | Collection[str]]
             ) -> Iterator[tuple[tuple[str, int], dict[str, Any]]]:
    """The entries of the list ``section`` (variables, outcomes ...) whose keys hold what
    ``wanted`` says (a type, or the values allowed), each with its key path; the schema has
    reported the others."""
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        if isinstance(item, dict) and all(
                isinstance(item.get(key), want) if isinstance(want, type)
                else item.get(key) in want for key, want in wanted.items()):
            yield (section, i), item


def _variables(items: Any, col: ProblemCollector,
               declared: Mapping[str, dict[str, Any]]) -> list[spec.Variable]:
    if not isinstance(items, list):
        return []
    out: list[spec.Variable] = []
    first_line: dict[str, int | None] = {}
    for path, item in _entries(items, "variables", {"name": str, "type": VARIABLE_TYPES}):
        name = item["name"]
        if name in first_line:
            col.add(path + ("name",), f"variable {name!r} is defined twice (first on line "
                                      f"{first_line[name]}); names must be unique")
            continue
        first_line[name] = col.line(path)
        var = _variable(item, path, col)
        if var is not None and var.table is not None:
            _check_long_variable(var, path, declared, col)
        if var is not None:
            out.append(var)
    _check_key_roles(items, col)
    return out


def _check_long_variable(var: spec.Variable, path: tuple[Any, ...],
                         declared: Mapping[str, dict[str, Any]], col: ProblemCollector) -> None:
    """A variable of a long table: the table is declared; the key roles are not its."""
    assert var.table is not None
    if var.table not in declared:
        col.add(path + ("table",), f"{var.name} is in table {var.table!r}, which is not "
                                   f"declared under `tables:`{suggest(var.table, declared)}")
    if var.role in ("id", "trial", "treatment"):
        col.add(path + ("role",), f"{var.name} is in the long table {var.table}; role "
                                  f"{var.role!r} belongs to the participant table")


def _check_key_roles(items: list[Any], col: ProblemCollector) -> None:
    """One ``participant_id`` with role id and one ``trial`` with role trial."""
    roles = {"id": "participant_id", "trial": "trial"}
    for role, wanted in roles.items():
        having = [(i, it) for i, it in enumerate(items)
                  if isinstance(it, dict) and it.get("role") == role]
        if not having:
            col.add(("variables",), f"no variable has role {role!r}; add `{wanted}` with "
                                    f"`role: {role}` (type {'id' if role == 'id' else 'text'})")
        for i, _ in having[1:]:
            col.add(("variables", i, "role"), f"only one variable can have role {role!r}")
        for i, it in having[:1]:
            if it.get("name") != wanted:
                col.add(("variables", i, "name"), f"the variable with role {role!r} must be "
                                                  f"named {wanted!r} (harmonised tables of every "
                                                  "topic share these keys)")


def _variable(item: dict[str, Any], path: tuple[Any, ...], col: ProblemCollector) -> spec.Variable | None:
    vtype = item["type"]
    name = item["name"]
    categories = _variable_categories(item, path, col)
    if item.get("ordered") and vtype != "categorical":
        col.add(path + ("ordered",), "`ordered` only applies to categorical variables")
    unit = _text(item, "unit")
    analyte = _text(item, "analyte")
    _check_unit(unit, analyte, vtype, name, path, col)
    rng = None
    if isinstance(item.get("range"), dict):
        rng = _range(item["range"], path + ("range",), name, vtype, col)
    role = item.get("role") if item.get("role") in ROLES else None
    if role == "id" and vtype != "id":
        col.add(path + ("type",), f"the participant ID variable must have type id, not {vtype}")
    if role == "trial" and vtype not in ("text", "id"):
        col.add(path + ("type",), f"the trial variable must have type text, not {vtype}")
    table = _text(item, "table")
    return spec.Variable(
        name=name, type=vtype, label=_text(item, "label"),
        description=_text(item, "description"), role=role, group=_text(item, "group"),
        required=item.get("required") is True, unique=item.get("unique") is True,
        unit=unit, analyte=analyte, categories=tuple(categories),
        ordered=item.get("ordered") is True, range=rng,
        table=None if table in (None, PARTICIPANTS) else table)


def _variable_categories(item: dict[str, Any], path: tuple[Any, ...],
                         col: ProblemCollector) -> list[spec.Category]:
    """The categories of a categorical variable (and none for the other types)."""
    vtype, name = item["type"], item["name"]
    raw_cats = item.get("categories")
    if raw_cats is not None and vtype != "categorical":
        col.add(path + ("categories",), f"{name} has type {vtype}; only categorical variables "
                                        "have categories (use type: categorical)")
    if vtype != "categorical":
        return []
    if isinstance(raw_cats, list) and raw_cats:
        return _categories(raw_cats, path + ("categories",), name, col)
    if raw_cats is None:
        col.add(path, f"categorical variable {name} needs `categories:` (code and label "
                      "of every category)")
    return []


def _check_unit(unit: str | None, analyte: str | None, vtype: str, name: str,
                path: tuple[Any, ...], col: ProblemCollector) -> None:
    """A unit on a number variable, an analyte on a concentration."""
    if unit is None:
        if analyte is not None:
            col.add(path + ("analyte",), "an analyte needs a `unit:` (e.g. g/dL)")
        return
    if vtype not in ("integer", "decimal"):
        col.add(path + ("unit",), f"{name} has type {vtype}; only integer and decimal "
                                  "variables carry a unit")
        return
    from harmonise.values import units

    try:
        u = units.unit(unit)
        if analyte is not None:
            units.analyte(analyte)
            if u.dimension not in ("mass_concentration", "amount_concentration"):
                col.add(path + ("analyte",), f"an analyte only applies to "
                                             f"concentrations, not {u.dimension}")
    except SpecError as exc:
        col.add(path + ("analyte" if "analyte" in exc.problems[0].key else "unit",),
                exc.problems[0].message)


def _categories(items: list[Any], path: tuple[Any, ...], name: str,
                col: ProblemCollector) -> list[spec.Category]:
    out: list[spec.Category] = []
    seen_codes: dict[Any, int] = {}
    seen_labels: dict[str, int] = {}
    kinds = set()
    for j, c in enumerate(items):
        if not isinstance(c, dict) or "code" not in c or not isinstance(c.get("label"), str):
            continue
        code = c["code"]
        if isinstance(code, bool) or not isinstance(code, (int, str)):
            continue
        kinds.add(type(code))
        key = str(code)
        if key in seen_codes:
            col.add(path + (j, "code"), f"code {code!r} of {name} is listed twice")
            continue
        if c["label"] in seen_labels:
            col.add(path + (j, "label"), f"label {c['label']!r} of {name} is used for two codes "
                                         f"({items[seen_labels[c['label']]].get('code')!r} and "
                                         f"{code!r})")
        seen_codes[key] = j
        seen_labels[c["label"]] = j
        if isinstance(code, str) and not code.strip():
            col.add(path + (j, "code"), "a category code cannot be blank")
        out.append(spec.Category.from_dict(c))
    if len(kinds) > 1:
        col.add(path, f"the codes of {name} mix numbers and texts; use whole numbers for all "
                      "codes or quoted texts for all")
    return out


def _range(data: dict[str, Any], path: tuple[Any, ...], name: str, vtype: str,
           col: ProblemCollector) -> spec.Range | None:
    lo, hi = data.get("min"), data.get("max")
    if vtype in ("integer", "decimal"):
        for key, v in (("min", lo), ("max", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                col.add(path + (key,), f"the range of {name} ({vtype}) needs numbers, not "
                                       f"{v!r}")
                return None
        if lo is not None and hi is not None and lo > hi:
            col.add(path, f"the range of {name} is empty: min {lo} > max {hi}")
        return spec.Range(lo, hi)
    if vtype in ("date", "datetime"):
        parsed = {}
        for key, v in (("min", lo), ("max", hi)):
            if v is None:
                continue
            try:
                if not isinstance(v, str):
                    raise ValueError
                parsed[key] = dt.date.fromisoformat(v)
            except ValueError:
                col.add(path + (key,), f"the range of {name} (a date) needs ISO dates "
                                       f"(YYYY-MM-DD), not {v!r}")
                return None
        if len(parsed) == 2 and parsed["min"] > parsed["max"]:
            col.add(path, f"the range of {name} is empty: min {lo} > max {hi}")
        return spec.Range(lo, hi)
    col.add(path, f"{name} has type {vtype}; a range only applies to integer, decimal and date "
                  "variables")
    return None


def _outcomes(items: Any, by_name: Mapping[str, spec.Variable], col: ProblemCollector,
              long: Mapping[str, str] | None = None) -> list[spec.Outcome]:
    out: list[spec.Outcome] = []
    seen: set[str] = set()
    for path, item in _entries(items, "outcomes", {"name": str, "kind": OUTCOME_KINDS}):
        name, kind = item["name"], item["kind"]
        if name in seen:
            col.add(path + ("name",), f"outcome {name!r} is defined twice")
            continue
        seen.add(name)
        refs: dict[str, str] = {k: item[k] for k in spec.Outcome._REFS if isinstance(item.get(k), str)}
        _check_outcome_refs(name, kind, refs, by_name, long or {}, path, col)
        variables = {key: by_name[ref] for key, ref in refs.items() if ref in by_name}
        check = _check_time_to_event if kind == "time_to_event" else _check_one_variable
        check(name, kind, refs, variables, path, col)
        out.append(spec.Outcome(name=name, kind=kind, label=_text(item, "label"),
                           description=_text(item, "description"), **refs))
    return out


#: the keys each kind of outcome may give
_OUTCOME_KEYS = {"time_to_event": {"time", "event", "origin", "event_date", "censor_date"},
                 "binary": {"variable"}, "count": {"variable"},
                 "continuous": {"variable", "baseline"}}


def _check_outcome_refs(name: str, kind: str, refs: Mapping[str, str],
                        by_name: Mapping[str, spec.Variable], long: Mapping[str, str],
                        path: tuple[Any, ...], col: ProblemCollector) -> None:
    """An outcome's keys are its kind's, and name participant variables."""
    for key, ref in refs.items():
        if ref in long:
            col.add(path + (key,), f"outcome {name}: {key} refers to {ref!r} of the long "
                                   f"table {long[ref]}; outcomes are participant "
                                   "variables (derive one from the table in the mapping, "
                                   "e.g. with an aggregate rule)")
        elif ref not in by_name:
            col.add(path + (key,), f"outcome {name}: {key} refers to {ref!r}, which is not a "
                                   f"dictionary variable{suggest(ref, by_name)}")
    allowed = _OUTCOME_KEYS[kind]
    for key in refs:
        if key not in allowed:
            col.add(path + (key,), f"a {kind} outcome has no {key!r}; use "
                                   f"{', '.join(sorted(allowed))}")


def _check_time_to_event(name: str, kind: str, refs: Mapping[str, str],
                         variables: Mapping[str, spec.Variable], path: tuple[Any, ...],
                         col: ProblemCollector) -> None:
    has_pair = "time" in refs and "event" in refs
    has_dates = "origin" in refs and "event_date" in refs
    if not (has_pair or has_dates):
        col.add(path, f"time-to-event outcome {name} needs `time` and `event` variables, "
                      "or `origin` and `event_date` (plus `censor_date`) dates")
    if ("time" in refs) != ("event" in refs):
        col.add(path, f"outcome {name}: give both `time` and `event`, or neither")
    t = variables.get("time")
    if t is not None and t.type not in ("integer", "decimal"):
        col.add(path + ("time",), f"{t.name} is {t.type}; a time must be a number")
    e = variables.get("event")
    if e is not None and not _is_binary(e):
        col.add(path + ("event",), f"{e.name} must be boolean or have the codes 0 and 1 "
                                   "to be an event indicator")
    for key in ("origin", "event_date", "censor_date"):
        d = variables.get(key)
        if d is not None and d.type not in ("date", "datetime"):
            col.add(path + (key,), f"{d.name} is {d.type}; {key} must be a date")


def _check_one_variable(name: str, kind: str, refs: Mapping[str, str],
                        variables: Mapping[str, spec.Variable], path: tuple[Any, ...],
                        col: ProblemCollector) -> None:
    """A binary, count or continuous outcome: its variable (and baseline)."""
    if "variable" not in refs:
        col.add(path, f"{kind} outcome {name} needs `variable`")
    v = variables.get("variable")
    if v is not None:
        if kind == "binary" and not _is_binary(v):
            col.add(path + ("variable",), f"{v.name} must be boolean or a 0/1 "
                                          "categorical to be a binary outcome")
        if kind in ("continuous", "count") and v.type not in ("integer", "decimal"):
            col.add(path + ("variable",), f"{v.name} is {v.type}; a {kind} outcome "
                                          "needs a number")
    b = variables.get("baseline")
    if b is not None and b.type not in ("integer", "decimal"):
        col.add(path + ("baseline",), f"{b.name} is {b.type}; a baseline must be a "
                                      "number")


def _is_binary(v: spec.Variable) -> bool:
    if v.type == "boolean":
        return True
    if v.type in ("categorical", "integer"):
        codes = {c.code for c in v.categories if not c.missing}
        return v.type == "integer" or codes == {0, 1}
    return False


def _rules(items: Any, by_name: Mapping[str, spec.Variable], col: ProblemCollector) -> list[spec.CrossRule]:
    kinds = {n: v.kind for n, v in by_name.items()}
    out: list[spec.CrossRule] = []
    seen: set[str] = set()
    for path, item in _entries(items, "rules", {"id": str, "assert": str}):
        rid = item["id"]
        if rid in seen:
            col.add(path + ("id",), f"rule id {rid!r} is used twice")
            continue
        seen.add(rid)
        exprs: dict[str, Expression] = {}
        for key in ("when", "assert"):
            text = item.get(key)
            if isinstance(text, str):
                expr = _rule_expression(rid, text, by_name, kinds, path + (key,), col)
                if expr is not None:
                    exprs[key] = expr
        if "assert" not in exprs:
            continue
        out.append(spec.CrossRule(id=rid, expression=exprs["assert"], when=exprs.get("when"),
                             label=_text(item, "label"), description=_text(item, "description"),
                             severity=item.get("severity", "error")
                             if item.get("severity") in ("error", "warning") else "error"))
    return out


def _rule_expression(rid: str, text: str, by_name: Mapping[str, spec.Variable],
                     kinds: dict[str, str], path: tuple[Any, ...],
                     col: ProblemCollector) -> Expression | None:
    """A rule's condition: parsed, reading dictionary variables only, true or false; None when
    it does not parse (an expression with other problems is kept, the problems reported)."""
    try:
        expr = parse_expression(text)
    except SpecError as exc:
        col.add(path, exc.problems[0].message)
        return None
    if expr.columns:
        col.add(path, f"rule {rid} reads raw column(s) "
                      f"{', '.join('$' + c for c in expr.columns)}; dictionary "
                      "rules only see harmonised variables (write their names "
                      "without $)")
    unknown = [v for v in expr.variables if v not in by_name]
    for v in unknown:
        col.add(path, f"rule {rid} refers to {v!r}, which is not a dictionary "
                      f"variable{suggest(v, by_name)}")
    if not unknown:
        kind, clashes = infer_kind(expr, kinds)
        for message in clashes:
            col.add(path, f"rule {rid}: {message}")
        if not clashes and kind not in ("bool", "any"):
            col.add(path, f"rule {rid} must be a condition (true/false), but "
                          f"`{text}` gives a {kind}")
    return expr


def _changelog(items: Any, col: ProblemCollector) -> list[spec.ChangelogEntry]:
    out: list[spec.ChangelogEntry] = []
    seen: set[str] = set()
    for path, item in _entries(items, "changelog", {"version": str, "date": str, "changes": list}):
        try:
            date = dt.date.fromisoformat(item["date"])
        except ValueError:
            col.add(path + ("date",), f"{item['date']!r} is not a real date (YYYY-MM-DD)")
            continue
        if item["version"] in seen:
            col.add(path + ("version",), f"version {item['version']} has two changelog entries")
        seen.add(item["version"])
        out.append(spec.ChangelogEntry(version=item["version"], date=date,
                                  changes=tuple(str(c) for c in item["changes"])))
    return out


# --- long tables ---------------------------------------------------------------------------------

def _declared_tables(items: Any, col: ProblemCollector) -> dict[str, dict[str, Any]]:
    """The long tables declared under ``tables:`` (name -> item, with its index as ``_i``)."""
    out: dict[str, dict[str, Any]] = {}
    for path, item in _entries(items, "tables", {"name": str, "kind": TABLE_KINDS}):
        name = item["name"]
        if name == PARTICIPANTS:
            col.add(path + ("name",), f"{PARTICIPANTS!r} is the participant table (the "
                                      "variables without `table:`); name long tables "
                                      "otherwise, e.g. visits or adverse_events")
            continue
        if name in out:
            col.add(path + ("name",), f"table {name!r} is declared twice")
            continue
        out[name] = {**item, "_i": path[1]}
    return out


def _tables(declared: Mapping[str, dict[str, Any]], variables: list[spec.Variable],
            rules: list[spec.CrossRule], col: ProblemCollector) -> tuple[list[spec.CrossRule], list[Table]]:
    """The participant table's rules and the long tables (their variables and rules)."""
    by_table = _rules_by_table(variables, rules, col)
    participants = {v.name: v for v in variables if v.table is None}
    tables = [_table(name, item, variables, participants, by_table.get(name, []), col)
              for name, item in declared.items()]
    return by_table.get(PARTICIPANTS, []), tables


def _rules_by_table(variables: list[spec.Variable], rules: list[spec.CrossRule],
                    col: ProblemCollector) -> dict[str, list[spec.CrossRule]]:
    """Each rule under the one table whose rows it checks."""
    where = {v.name: v.table or PARTICIPANTS for v in variables}
    by_table: dict[str, list[spec.CrossRule]] = {}
    for i, rule in enumerate(rules):
        table, mixed = rule_table(rule.variables, where)
        if table is None:
            col.add(("rules", i), f"rule {rule.id} mixes the long tables {', '.join(mixed)}; a "
                                  "rule checks the rows of one table (it may also read the "
                                  "participant's variables)")
            continue
        by_table.setdefault(table, []).append(rule)
    return by_table


def _table(name: str, item: dict[str, Any], variables: list[spec.Variable],
           participants: Mapping[str, spec.Variable], rules: list[spec.CrossRule],
           col: ProblemCollector) -> Table:
    """One declared long table: its key, date, origin and window checked."""
    path = ("tables", item["_i"])
    own = tuple(v for v in variables if v.table == name)
    own_names = {v.name: v for v in own}
    key = [k for k in item.get("key") or [] if isinstance(k, str)]
    for k in key:
        if k not in own_names:
            col.add(path + ("key",), f"the key of table {name} names {k!r}, which is not a "
                                     f"variable of the table{suggest(k, own_names)}")
    if not own:
        col.add(path, f"table {name} has no variables; give variables `table: {name}`")
    date = _text(item, "date")
    if date is not None and (date not in own_names or
                             own_names[date].type not in ("date", "datetime")):
        col.add(path + ("date",), f"the date of table {name} must be a date variable of the "
                                  f"table, not {date!r}")
    if item.get("after_origin") is True and date is None:
        col.add(path + ("after_origin",), "after_origin needs the table's `date`")
    origin = _text(item, "origin")
    if origin is not None and (origin not in participants or
                               participants[origin].type not in ("date", "datetime")):
        col.add(path + ("origin",), f"the origin of table {name} must be a date variable "
                                    f"of the participant table, not {origin!r}"
                                    f"{suggest(origin, participants)}")
    raw = item.get("window")
    window = _window(name, raw, own_names, date, path, col) if isinstance(raw, dict) else None
    return Table(name=name, kind=item["kind"], key=tuple(key), variables=own,
                 label=_text(item, "label"), description=_text(item, "description"),
                 date=date, origin=origin, window=window, rules=tuple(rules),
                 after_origin=item.get("after_origin") is True)


def _window(name: str, raw: dict[str, Any], own_names: Mapping[str, spec.Variable],
            date: str | None, path: tuple[Any, ...], col: ProblemCollector) -> Window | None:
    """A table's visit window: a planned-day variable of the table, and the table's date."""
    planned = raw.get("planned_day")
    if not isinstance(planned, str) or planned not in own_names or \
            own_names[planned].type not in ("integer", "decimal"):
        col.add(path + ("window", "planned_day"),
                f"the window of table {name} needs `planned_day`: a number variable of "
                "the table (the visit's planned day)")
        return None
    if date is None:
        col.add(path + ("window",), "a window needs the table's `date` (the day of the "
                                    "visit is counted from the origin to it)")
        return None
    return Window(planned_day=planned, before=int(raw.get("before", 0)),
                  after=int(raw.get("after", 0)), origin_day=int(raw.get("origin_day", 0)))
