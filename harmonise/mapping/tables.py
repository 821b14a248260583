"""The relational mapping engine: several datasets, joins, aggregates and long tables.

:func:`run_relational` runs a mapping whose trial delivered several datasets
(:mod:`harmonise.mapping.datasets`): the base dataset's rows are the participant table, one-to-one
datasets are joined onto them by participant (their columns read by rules with ``dataset:``),
``aggregate`` rules reduce the participant's rows of one-to-many datasets and long tables to one
value, and each long table of the dictionary is made from its dataset's rows. Rules of every
table run in one dependency order (a long table's rule may read a participant variable; an
aggregate may read a long table's variables), each evaluated by the ordinary engine
(:func:`harmonise.mapping.engine.evaluate_rule`). Everything is vectorised: joins are index
look-ups, aggregates are group-wise reductions over numpy arrays.

A participant is matched across datasets by the key the caller gives per dataset (the
repository pseudonyms), else by the normalised text of the dataset's ID column.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.dictionary.spec import Dictionary, Variable
from harmonise.dictionary.tables import PARTICIPANTS
from harmonise.expressions.evaluation import evaluate
from harmonise.mapping.aggregate import reduce_rows
from harmonise.mapping.datasets import DatasetSpec
from harmonise.mapping.engine import RuleRun, evaluate_rule, ref_value
from harmonise.mapping.harmonised import (
    HarmonisedTrial,
    LongIssue,
    build_imputed,
    build_problems,
    build_summary,
    empty_frame,
)
from harmonise.mapping.rules import Aggregate, Rule
from harmonise.mapping.source import SourceContext, SourceFrame, positional
from harmonise.mapping.spec import Mapping
from harmonise.values.problems import Issue
from repository.errors import HarmonisationError, MappingError

__all__ = ["RawDataset", "RelationalRun", "run_relational", "participant_keys",
           "is_relational", "assemble"]


def is_relational(mapping: Mapping, dictionary: Dictionary) -> bool:
    """Whether the mapping reads more than its base dataset or the dictionary has long
    tables (then :func:`run_relational` runs it)."""
    return bool(mapping.datasets or mapping.tables or dictionary.tables)


def participant_keys(frame: pd.DataFrame, id_column: str | None,
                     ids: Sequence[Any] | None = None) -> np.ndarray:
    """Each row's participant key: ``ids`` when given (pseudonyms), else the normalised text
    of ``id_column`` (None for a blank ID)."""
    if ids is not None:
        given = np.asarray(ids, dtype=object)
        blank = pd.isna(given)
        if pd.api.types.infer_dtype(given[~blank], skipna=False) in ("string", "empty"):
            out = given.copy()  # pseudonyms: text already (no conversion row by row)
        else:
            out = np.array([str(i) for i in given], dtype=object)
        out[blank] = None
        return out
    if id_column is None or id_column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    codes, uniques = pd.factorize(frame[id_column].to_numpy(dtype=object), use_na_sentinel=True)
    norm = _normalised(uniques)
    out = np.full(len(frame), None, dtype=object)
    present = codes >= 0
    out[present] = norm[codes[present]]
    return out


def _normalised(uniques: np.ndarray) -> np.ndarray:
    """Distinct raw IDs normalised as :func:`repository.pseudonyms.normalise_raw_id` does,
    without a Python call per ID when they are all text or all integers."""
    from repository.pseudonyms import normalise_raw_id

    kind = pd.api.types.infer_dtype(uniques, skipna=False)
    if kind == "string":
        stripped = pd.Series(uniques, dtype=object).str.strip()
        return stripped.where(stripped != "", None).to_numpy(dtype=object)
    if kind == "integer":
        return np.array(uniques.astype(np.int64).astype(str), dtype=object)
    return np.array([normalise_raw_id(u) for u in uniques], dtype=object)


@dataclass(eq=False)
class RawDataset:
    """One raw dataset as the engine reads it: its (filtered) rows, each row's participant key
    and position in the participant table (-1: not a participant of the base dataset), and the
    rows' 1-based numbers in the delivered dataset."""

    name: str
    frame: pd.DataFrame
    keys: np.ndarray
    pos: np.ndarray
    rows: np.ndarray


class LongRun(RuleRun):
    """A rule run over the rows of a long dataset or table, reading the participant's
    harmonised variables broadcast to each row."""

    def __init__(self, source: SourceFrame, mapping: Mapping, dictionary: Dictionary,
                 data: RawDataset, participants: RuleRun) -> None:
        super().__init__(source, mapping, dictionary)
        self.data = data
        self.participants = participants

    def variable_value(self, name: str) -> pd.Series:
        if name in self.values:
            return self.values[name]
        if name in self.participants.values:
            return broadcast(self.participants.values[name], self.data.pos, self.index)
        return super().variable_value(name)


def broadcast(values: pd.Series, pos: np.ndarray, index: pd.Index) -> pd.Series:
    """Participant values spread to long rows (``pos``: each row's participant position)."""
    taken = pd.api.extensions.take(values.array, pos, allow_fill=True)
    return pd.Series(taken, index=index)


class RelationalRun:
    """Every table's rule run over a trial's datasets (see :func:`run_relational`)."""

    def __init__(self, datasets: MappingABC[str, pd.DataFrame], mapping: Mapping,
                 dictionary: Dictionary, ids: MappingABC[str, Sequence[Any]] | None,
                 *, check: bool = False, trace: bool = False) -> None:
        self.mapping = mapping
        self.dictionary = dictionary
        self.check = check
        self.trace = trace
        #: aggregate variable -> the rows each participant matched and the one taken (trace)
        self.traces: dict[str, Any] = {}
        self.frames = dict(datasets)
        self.ids = dict(ids or {})
        base_name = mapping.source.dataset
        if base_name not in self.frames:
            raise HarmonisationError(f"{mapping.trial}: no {base_name!r} dataset (the mapping's "
                                     f"source.dataset); the trial's datasets: "
                                     f"{', '.join(self.frames) or 'none'}.",
                                     trial=mapping.trial, dataset=base_name)
        base = positional(self.frames[base_name])
        keys = participant_keys(base, mapping.id_column, self.ids.get(base_name))
        self.base = RawDataset(base_name, base, keys, np.arange(len(base)),
                               np.arange(1, len(base) + 1))
        self._index = _first_positions(keys)
        self._datasets: dict[str, RawDataset] = {}
        self.join_problems: dict[str, np.ndarray] = {}
        wide = self._join(base)
        src = mapping.source
        self.participants = RuleRun(
            SourceFrame(wide, missing_codes=src.missing_codes, decimal=src.decimal,
                        thousands=src.thousands), mapping, dictionary)
        self.participants.evaluators[Aggregate] = self._aggregate
        self.tables: dict[str, LongRun] = {}
        self._long_sources: dict[str, SourceFrame] = {}

    # -- datasets and joins ----------------------------------------------------------------
    def dataset(self, alias: str) -> RawDataset:
        """The rows of dataset ``alias`` (its ``where`` applied), with participant positions."""
        found = self._datasets.get(alias)
        if found is not None:
            return found
        spec = self.mapping.dataset(alias)
        if spec is None:
            raise HarmonisationError(f"{self.mapping.trial}: the mapping reads dataset "
                                     f"{alias!r}, which it does not declare under datasets:.",
                                     trial=self.mapping.trial, dataset=alias)
        if alias == self.base.name:
            self._datasets[alias] = self.base
            return self.base
        if spec.dataset not in self.frames:
            raise HarmonisationError(
                f"{self.mapping.trial}: the mapping reads dataset {spec.dataset!r} "
                f"({self.mapping.file}, datasets: {alias}), but the trial has not delivered it "
                f"(its datasets: {', '.join(self.frames)}); ingest it with `ipdrepo ingest "
                f"{self.mapping.trial} FILE --dataset {spec.dataset}`.",
                trial=self.mapping.trial, dataset=spec.dataset)
        frame = positional(self.frames[spec.dataset])
        rows = np.arange(1, len(frame) + 1)
        id_column = spec.id_column or self.mapping.id_column
        keys = participant_keys(frame, id_column, self.ids.get(spec.dataset))
        if spec.where is not None:
            keep = self._raw_filter(spec, frame)
            frame, rows, keys = frame[keep].reset_index(drop=True), rows[keep], keys[keep]
        pos = _positions(self._index, keys)
        found = RawDataset(spec.dataset, frame, keys, pos, rows)
        self._datasets[alias] = found
        return found

    def _raw_filter(self, spec: DatasetSpec, frame: pd.DataFrame) -> np.ndarray:
        assert spec.where is not None
        src = self.mapping.source
        ctx = _RawContext(SourceFrame(frame, missing_codes=src.missing_codes,
                                      decimal=src.decimal, thousands=src.thousands))
        value, _ = evaluate(spec.where, ctx)
        return _truth(value, len(frame))

    def _join(self, base: pd.DataFrame) -> pd.DataFrame:
        """The base dataset with the columns one-to-one datasets give the rules (named
        ``ALIAS.COLUMN``); participants with several rows of such a dataset get none of them
        (``join_problems``: alias -> their base rows)."""
        wanted: dict[str, list[str]] = {}
        for rule in self.mapping.rules:
            if rule.dataset is not None:
                prefix = f"{rule.dataset}."
                wanted.setdefault(rule.dataset, [])
                wanted[rule.dataset] += [c[len(prefix):] for c in rule.columns()
                                         if c.startswith(prefix)]
        if not wanted:
            return base
        columns: dict[str, Any] = {}
        for alias, cols in wanted.items():
            data = self.dataset(alias)
            take, duplicated = one_to_one(data.pos, len(base))
            self.join_problems[alias] = duplicated
            for c in dict.fromkeys(cols):
                if c not in data.frame.columns:
                    continue
                values = data.frame[c]
                source = values.to_numpy(dtype=object) if values.dtype == object else \
                    values.array if isinstance(values.array, pd.api.extensions.ExtensionArray) \
                    and not isinstance(values.array, pd.arrays.NumpyExtensionArray) else \
                    values.to_numpy()
                columns[f"{alias}.{c}"] = pd.api.extensions.take(source, take, allow_fill=True)
        joined = pd.DataFrame(columns, index=base.index)
        return pd.concat([base, joined], axis=1, copy=False)

    # -- long tables ---------------------------------------------------------------------------
    def table_run(self, name: str) -> LongRun | None:
        """The run of long table ``name`` (None when the trial does not deliver it)."""
        if name in self.tables:
            return self.tables[name]
        tm = self.mapping.table(name)
        if tm is None or tm.dataset is None or tm.status == "impossible":
            return None
        data = self.dataset(tm.dataset)
        mapping = self.mapping.for_table(name)
        view = self.dictionary.view(name)
        src = self.mapping.source
        source = SourceFrame(data.frame, missing_codes=src.missing_codes, decimal=src.decimal,
                             thousands=src.thousands)
        if tm.where is not None:
            probe = LongRun(source, mapping, view, data, self.participants)
            value, _ = evaluate(tm.where, probe)
            keep = _truth(value, len(data.frame))
            data = RawDataset(data.name, data.frame[keep].reset_index(drop=True),
                              data.keys[keep], data.pos[keep], data.rows[keep])
            source = SourceFrame(data.frame, missing_codes=src.missing_codes,
                                 decimal=src.decimal, thousands=src.thousands)
        run = LongRun(source, mapping, view, data, self.participants)
        self.tables[name] = run
        return run

    # -- running -------------------------------------------------------------------------------
    def run(self) -> RelationalRun:
        """Evaluate every rule of every table in dependency order."""
        lacking = self._lacking()
        for table, rule in self.order():
            if table == PARTICIPANTS:
                run: RuleRun | None = self.participants
            else:
                run = self.table_run(table)
            if run is None:
                continue
            evaluate_rule(run, rule, lacking=lacking.get(table, {}), check=self.check)
        for name in self.dictionary.table_names[1:]:
            self.table_run(name)
        self._join_issues()
        return self

    def _join_issues(self) -> None:
        """A participant with several rows of a one-to-one dataset: what the rules read from
        it is left empty, never guessed, and each such rule's variable says why
        (``duplicate_key``, on those participants' rows)."""
        for rule in self.mapping.rules:
            duplicated = self.join_problems.get(rule.dataset or "")
            if duplicated is None or not len(duplicated) or \
                    rule.variable not in self.participants.issues:
                continue
            mask = np.zeros(len(self.base.frame), dtype=bool)
            mask[duplicated] = True
            self.participants.issues[rule.variable].append(Issue(
                mask, "duplicate_key", f"several rows of the one-to-one dataset "
                f"{rule.dataset!r} for the participant; the value is left empty"))

    def order(self) -> list[tuple[str, Rule]]:
        """(table, rule) of every rule, each after the rules it reads, across tables."""
        nodes = self._nodes()
        table_of = {v.name: (v.table or PARTICIPANTS) for v in self.dictionary.all_variables}
        deps = {k: self._deps(k, rule, nodes, table_of) for k, rule in nodes.items()}
        done: list[tuple[str, Rule]] = []
        placed: set[tuple[str, str]] = set()
        remaining = list(nodes)
        while remaining:
            ready = [k for k in remaining if all(d in placed for d in deps.get(k, []))]
            if not ready:
                cycle = ", ".join(f"{t}.{v}" for t, v in remaining[:6])
                raise MappingError(f"the rules of {self.mapping.trial} read each other in a cycle "
                                   f"across tables ({cycle}); compute one of them from raw "
                                   "columns.", trial=self.mapping.trial)
            for k in ready:
                done.append((k[0], nodes[k]))
                placed.add(k)
                remaining.remove(k)
        return done

    def _nodes(self) -> dict[tuple[str, str], Rule]:
        """(table, variable) -> rule, for the participant table and every delivered table."""
        nodes: dict[tuple[str, str], Rule] = {}
        for rule in self.mapping.rules:
            nodes[(PARTICIPANTS, rule.variable)] = rule
        for tm in self.mapping.tables:
            if tm.status == "impossible" or tm.dataset is None:
                continue
            for rule in self.mapping.for_table(tm.table).rules:
                nodes[(tm.table, rule.variable)] = rule
        return nodes

    def _deps(self, node: tuple[str, str], rule: Rule, nodes: MappingABC[tuple[str, str], Rule],
              table_of: MappingABC[str, str]) -> list[tuple[str, str]]:
        """The (table, variable) nodes ``rule`` of ``node`` reads: the variables it names (and
        its table's ``where``), and every rule of a long table an aggregate reduces."""
        table = node[0]
        wanted = list(rule.variables())
        own = self.mapping.table(table) if table != PARTICIPANTS else None
        if own is not None and own.where is not None:
            wanted += list(own.where.variables)
        out: list[tuple[str, str]] = []
        if isinstance(rule, Aggregate):
            for src in rule.sources:
                if src.table is not None:  # the whole long table is made first
                    out.extend(k for k in nodes if k[0] == src.table)
        found = [(table_of.get(w, table), w) for w in wanted]
        out.extend(k for k in found if k in nodes and k != node)
        return out

    def _lacking(self) -> dict[str, dict[str, list[str]]]:
        """table -> variable -> the raw columns its rule reads that its dataset lacks."""
        out: dict[str, dict[str, list[str]]] = {}
        base_cols = set(self.participants.source.frame.columns)
        for rule in self.mapping.rules:
            if isinstance(rule, Aggregate):
                missing = []
                for s in rule.sources:
                    if s.dataset is None:
                        continue
                    have = set(self.frames.get(self._stored(s.dataset), pd.DataFrame()).columns)
                    missing += [c for c in s.columns() if c.split(".", 1)[1] not in have]
            else:
                missing = [c for c in rule.columns() if c not in base_cols]
            if missing:
                out.setdefault(PARTICIPANTS, {})[rule.variable] = missing
        for tm in self.mapping.tables:
            if tm.dataset is None or tm.status == "impossible":
                continue
            have = set(self.frames.get(self._stored(tm.dataset), pd.DataFrame()).columns)
            for rule in self.mapping.for_table(tm.table).rules:
                missing = [c for c in rule.columns() if c not in have]
                if missing:
                    out.setdefault(tm.table, {})[rule.variable] = missing
        if out and not self.check:
            where = "; ".join(f"{t}.{v} reads {', '.join(cols)}" for t, vs in out.items()
                              for v, cols in vs.items())
            raise HarmonisationError(
                f"{self.mapping.trial}: the datasets lack columns the mapping {self.mapping.file} "
                f"reads: {where}. Fix the mapping or ask for the columns; `ipdrepo mapping check "
                f"{self.mapping.trial}` lists every problem at once.", trial=self.mapping.trial,
                file=self.mapping.file)
        return out

    def _stored(self, alias: str) -> str:
        spec = self.mapping.dataset(alias)
        return spec.dataset if spec is not None else alias

    # -- aggregates ----------------------------------------------------------------------------
    def _aggregate(self, rule: Aggregate, var: Variable, run: RuleRun) -> tuple[Any, list[Issue]]:
        parts = []
        for source in rule.sources:
            ctx, data = self._context(source)
            parts.append(self._source_rows(rule, var, source, ctx, data))
        values, taken = reduce_rows(rule, var, parts, self.participants.n, trace=self.trace)
        if self.trace:
            self.traces[rule.variable] = {"parts": parts, "taken": taken}
        return pd.Series(values, index=self.participants.index), []

    def _context(self, source: Any) -> tuple[Any, RawDataset]:
        if source.dataset is not None:
            data = self.dataset(source.dataset)
            src = self._long_sources.get(source.dataset)
            if src is None:
                m = self.mapping.source
                src = SourceFrame(data.frame, missing_codes=m.missing_codes, decimal=m.decimal,
                                  thousands=m.thousands)
                self._long_sources[source.dataset] = src
            return LongRun(src, self.mapping, self.dictionary, data, self.participants), data
        if source.table is not None:
            run = self.table_run(source.table)
            if run is None:  # the trial did not deliver the table: no rows
                empty = RawDataset(source.table, pd.DataFrame(), np.zeros(0, dtype=object),
                                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
                view = self.dictionary.view(source.table)
                return LongRun(SourceFrame(pd.DataFrame()), self.mapping, view, empty,
                               self.participants), empty
            return run, run.data
        return self.participants, self.base

    def _source_rows(self, rule: Aggregate, var: Variable, source: Any, ctx: Any,
                     data: RawDataset) -> dict[str, Any]:
        """One source's matching rows: participant positions, values, order and time."""
        n = ctx.n
        issues: list[Issue] = []
        mask = data.pos >= 0
        if source.where is not None:
            cond, more = evaluate(source.where, ctx)
            issues += more
            mask &= _truth(cond, n)
        kind = _value_kind(rule, var)
        value = order = at = None
        if source.value is not None:
            value, more = ref_value(source.value, kind, ctx)
            issues += more
        for key, bound in (("on_or_after", source.on_or_after),
                           ("on_or_before", source.on_or_before)):
            if bound is None or value is None:
                continue
            limit, more = ref_value(bound, kind, ctx)
            issues += more
            ok = (value >= limit) if key == "on_or_after" else (value <= limit)
            mask &= ok.astype("boolean").to_numpy(dtype=bool, na_value=False)
        if source.order_by is not None:
            order, more = ref_value(source.order_by, "any", ctx)
            issues += more
        if source.at is not None:
            at, more = ref_value(source.at, "number", ctx)
            issues += more
        self._long_issues(rule, source, ctx, data, issues)
        return {"pos": data.pos, "mask": mask, "value": value, "order": order, "at": at,
                "rows": data.rows, "dataset": data.name}

    def _long_issues(self, rule: Aggregate, source: Any, ctx: Any, data: RawDataset,
                     issues: list[Issue]) -> None:
        if not issues:
            return
        if ctx is self.participants:
            self.participants.issues.setdefault(rule.variable, [])
            self.participants.long_issues.setdefault(rule.variable, [])
            self.participants.long_issues[rule.variable].append(
                ("participants", issues, source))
            return
        columns = [c.split(".", 1)[-1] for c in source.columns()]
        for issue in issues:
            idx = np.flatnonzero(issue.mask & (data.pos >= 0))
            if not len(idx):
                continue
            shown = _display(ctx, columns, idx, source.table is not None)
            self.participants.long_issues.setdefault(rule.variable, []).append(LongIssue(
                dataset=data.name, rows=data.rows[idx], participant_pos=data.pos[idx],
                values=shown, columns=", ".join(source.columns()), reason=issue.reason,
                message=issue.message))


class _RawContext(SourceContext):
    """Expression context over a raw dataset's own columns (a dataset's ``where``)."""

    def variable_value(self, name: str) -> pd.Series:
        raise HarmonisationError(f"{name}: a dataset's where reads its raw columns only.")


def _value_kind(rule: Aggregate, var: Variable) -> str:
    if rule.take in ("count", "any"):
        return "any"
    if rule.take in ("sum", "mean"):
        return "number"
    if var.type in ("date", "datetime"):
        return "date"
    if var.kind == "number" and rule.take in ("min", "max"):
        return "number"
    return "any"


def _truth(value: Any, n: int) -> np.ndarray:
    if isinstance(value, pd.Series):
        return value.astype("boolean").to_numpy(dtype=bool, na_value=False)
    return np.full(n, bool(value) if value is not None else False)


def _first_positions(keys: np.ndarray) -> pd.Index:
    """An index from participant key to the first base row holding it."""
    series = pd.Series(np.arange(len(keys)), index=pd.Index(keys, dtype=object))
    series = series[series.index.notna()]
    return series[~series.index.duplicated(keep="first")].index


def _positions(index: pd.Index, keys: np.ndarray) -> np.ndarray:
    """Each key's base row (-1: not in the base dataset, or blank)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    pos = index.get_indexer(pd.Index(keys, dtype=object))
    return np.asarray(pos, dtype=np.int64)


def one_to_one(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each base row, the dataset row joined to it (-1: none, or several: those base rows
    are returned as the second array)."""
    take = np.full(n, -1, dtype=np.int64)
    valid = pos >= 0
    counts = np.bincount(pos[valid], minlength=n)
    rows = np.flatnonzero(valid)
    take[pos[rows]] = rows
    duplicated = np.flatnonzero(counts > 1)
    take[duplicated] = -1
    return take, duplicated


def _display(ctx: Any, columns: Sequence[str], idx: np.ndarray, harmonised: bool) -> np.ndarray:
    if harmonised or not columns:
        return np.full(len(idx), "", dtype=object)
    pieces = []
    for c in dict.fromkeys(columns):
        if not ctx.source.has(c):
            continue
        vals = ctx.source.display(c, idx)
        pieces.append([f"{c}={v}" if len(columns) > 1 else v for v in vals])
    if not pieces:
        return np.full(len(idx), "", dtype=object)
    return np.array(["; ".join(p) for p in zip(*pieces)], dtype=object)


def run_relational(datasets: MappingABC[str, pd.DataFrame], mapping: Mapping,
                   dictionary: Dictionary, *, ids: MappingABC[str, Sequence[Any]] | None = None,
                   check: bool = False, trace: bool = False) -> RelationalRun:
    """Run every rule of every table (see the module docstring)."""
    return RelationalRun(datasets, mapping, dictionary, ids, check=check, trace=trace).run()



def assemble(rel: RelationalRun, trial: str, *, pseudonyms: bool) -> HarmonisedTrial:
    """The participant table and every long table of a relational run as a
    :class:`~harmonise.mapping.harmonised.HarmonisedTrial` (``tables`` holding the long ones).
    ``pseudonyms``: the participant keys the caller gave are pseudonyms (else the trial's own
    IDs, as text, fill ``participant_id``)."""
    from harmonise.mapping.engine import _assemble

    run = rel.participants
    pids = pd.Series(rel.base.keys) if pseudonyms else None
    data = _assemble(run, trial, pids)
    tables: dict[str, HarmonisedTrial] = {}
    for name in rel.dictionary.table_names[1:]:
        long = rel.tables.get(name)
        view = rel.dictionary.view(name)
        if long is None:
            tables[name] = _empty_table(rel, trial, name, view)
            continue
        tdata = _assemble(long, trial, pd.Series(long.data.keys) if pseudonyms else None)
        tdata["_row"] = long.data.rows.astype("int64")
        tables[name] = HarmonisedTrial(
            trial=trial, data=tdata,
            problems=build_problems(long, trial, tdata["participant_id"], long.data.rows),
            summary=build_summary(long, tdata), mapping=long.mapping, dictionary=view,
            raw=long.source.frame,
            imputed=build_imputed(long, trial, tdata["participant_id"], long.data.rows),
            table=name, dataset=long.data.name)
    return HarmonisedTrial(
        trial=trial, data=data, problems=build_problems(run, trial, data["participant_id"]),
        summary=build_summary(run, data), mapping=rel.mapping, dictionary=rel.dictionary,
        raw=run.source.frame, imputed=build_imputed(run, trial, data["participant_id"]),
        tables=tables, dataset=rel.base.name, traces=dict(rel.traces))


def _empty_table(rel: RelationalRun, trial: str, name: str, view: Dictionary) -> HarmonisedTrial:
    mapping = rel.mapping.for_table(name)
    src = SourceFrame(pd.DataFrame())
    run = RuleRun(src, mapping, view)
    data = empty_frame([*(v.name for v in view.variables), "_row"],
                       [*(v.dtype for v in view.variables), "int64"])
    return HarmonisedTrial(trial=trial, data=data, problems=build_problems(
        run, trial, data["participant_id"]), summary=build_summary(run, data), mapping=mapping,
        dictionary=view, raw=src.frame, table=name,
        dataset=_dataset_of(mapping, name))


def _dataset_of(mapping: Mapping, name: str) -> str:
    tm = mapping.table(name)
    return (tm.dataset or "") if tm is not None else ""
