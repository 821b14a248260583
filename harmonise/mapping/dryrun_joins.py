"""The dry run of a mapping that reads several datasets: datasets, columns, every table, joins.

:func:`check_relational` runs the relational engine (:mod:`harmonise.mapping.tables`) in check
mode over the trial's datasets and adds to the dry run's report (:mod:`harmonise.mapping.dryrun`),
each finding at the mapping's file, line and key, with the dataset and its rows (1 = the first
data row as delivered):

* datasets the mapping reads that the delivery lacks, and the columns each dataset lacks;
* the type, value and unit checks of the participant table's rules and of each long table's;
* values an ``aggregate`` rule cannot read in the rows it reduces;
* join problems: rows of a dataset whose participant is not in the base dataset (or that have
  no participant ID), participants with several rows of a dataset declared ``one-to-one`` (an
  error: harmonising would leave their columns empty rather than guess), participants of the
  base dataset a one-to-one dataset has no row for (info), and rows whose key repeats (a long
  table's key, or the ``key:`` declared for a dataset no long table is made from).

A problem on a few rows is a warning (harmonising reports those rows as data problems); when
most rows are affected the mapping does not fit the delivery (an error: a wrong ID column or
key, or the wrong dataset).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harmonise.dictionary.spec import Dictionary
from harmonise.mapping.datasets import DatasetSpec
from harmonise.mapping.harmonised import LongIssue
from harmonise.mapping.tables import RawDataset, RelationalRun, run_relational
from harmonise.values.problems import NOTES, REASONS
from repository.errors import IPDError

if TYPE_CHECKING:
    from harmonise.mapping.dryrun import _Report
    from harmonise.mapping.spec import Mapping

__all__ = ["check_relational"]

#: rows shown in a message (all of them are in the problem's ``rows``)
SHOWN = 20


def check_relational(report: _Report, mapping: Mapping, dictionary: Dictionary,
                     frames: MappingABC[str, pd.DataFrame], *, check_units: bool) -> None:
    """Add the findings of the module docstring to ``report``; ``frames``: the trial's
    datasets by name, the base dataset (``mapping.source.dataset``) among them."""
    from harmonise.mapping.dryrun import missing_column_problems, run_checks

    given = dict(frames)
    absent = _missing_datasets(report, mapping, given)
    try:
        rel = run_relational(given, mapping, dictionary, check=True)
    except IPDError as exc:
        report.add("error", "cannot_run", None, (),
                   f"the mapping cannot run on these datasets ({', '.join(given)}): "
                   f"{exc.message}")
        return
    for alias, lacking in _participant_lacking(rel).items():
        spec = mapping.dataset(alias)
        stored = spec.dataset if spec is not None else alias
        if stored not in absent:
            missing_column_problems(report, mapping, lacking, _columns(given, stored),
                                    dataset=stored,
                                    strip="" if alias == mapping.source.dataset else f"{alias}.")
    run_checks(report, rel.participants, dictionary, rel.participants.skipped,
               check_units=check_units)
    _aggregate_problems(report, rel)
    for name, run in rel.tables.items():
        sub = report.table(name, run.data.name)
        if run.data.name not in absent:
            missing_column_problems(sub, run.mapping, run.skipped,
                                    _columns(given, run.data.name), dataset=run.data.name)
        run_checks(sub, run, run.dictionary, run.skipped, check_units=check_units)
        _table_keys(sub, rel, name)
    for spec in mapping.datasets:
        if spec.dataset not in absent:
            _joins(report, rel, spec)


def _columns(frames: MappingABC[str, pd.DataFrame], name: str) -> list[str]:
    frame = frames.get(name)
    return [] if frame is None else [str(c) for c in frame.columns]


def _missing_datasets(report: _Report, mapping: Mapping,
                      frames: dict[str, pd.DataFrame]) -> set[str]:
    """An error per dataset the mapping reads that was not delivered; an empty stand-in lets
    the rest of the mapping be checked."""
    absent: set[str] = set()
    for spec in mapping.datasets:
        if spec.dataset in frames or spec.dataset in absent:
            continue
        absent.add(spec.dataset)
        frames[spec.dataset] = pd.DataFrame()
        report.add("error", "missing_dataset", None, ("datasets", spec.name),
                   f"{spec.name}: the delivery has no dataset {spec.dataset!r} (it has "
                   f"{', '.join(sorted(n for n in frames if n not in absent))}); deliver it "
                   "(`ipdrepo ingest TRIAL FILE --dataset NAME`, or `--delivery NAME=FILE` "
                   "here) or remove what reads it", dataset=spec.dataset)
    return absent


def _participant_lacking(rel: RelationalRun) -> dict[str, dict[str, list[str]]]:
    """The participant table's missing columns by the dataset alias they are read from."""
    aliases = {d.name for d in rel.mapping.datasets}
    out: dict[str, dict[str, list[str]]] = {}
    for variable, cols in rel.participants.skipped.items():
        for c in cols:
            alias = c.split(".", 1)[0] if "." in c else ""
            alias = alias if alias in aliases else rel.mapping.source.dataset
            out.setdefault(alias, {}).setdefault(variable, []).append(c)
    return out


def _shown_rows(rows: Sequence[int] | np.ndarray) -> str:
    text = ", ".join(str(int(r)) for r in rows[:SHOWN])
    return text + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def _counts(labels: Sequence[Any] | np.ndarray) -> tuple[tuple[str, int], ...]:
    counts = pd.Series(np.asarray(labels, dtype=object), dtype=object).value_counts(sort=True)
    return tuple((str(k), int(n)) for k, n in counts.items())


def _shown(counts: tuple[tuple[str, int], ...]) -> str:
    text = ", ".join(f"{v} ({n})" for v, n in counts[:10])
    return text + (f" and {len(counts) - 10} more" if len(counts) > 10 else "")


def _joins(report: _Report, rel: RelationalRun, spec: DatasetSpec) -> None:
    """The join problems of one declared dataset (see the module docstring)."""
    data = rel.dataset(spec.name)
    path: tuple[Any, ...] = ("datasets", spec.name)
    known = pd.notna(data.keys)
    orphan = known & (data.pos < 0)
    base = rel.base.name
    if orphan.any():
        counts = _counts(data.keys[orphan])
        severity = "error" if orphan.sum() > 0.5 * max(int(known.sum()), 1) else "warning"
        report.add(severity, "unknown_participants", None, path,
                   f"{spec.name}: {int(orphan.sum())} row(s) of {len(counts)} participant(s) "
                   f"not in the base dataset {base}: {_shown(counts)} (rows "
                   f"{_shown_rows(data.rows[orphan])}); they join no participant. Check these "
                   f"IDs with the trial, or the ID column of {spec.dataset}",
                   counts, dataset=spec.dataset, rows=data.rows[orphan])
    if (~known).any():
        report.add("warning", "missing_ids", None, path,
                   f"{spec.name}: {int((~known).sum())} row(s) have no participant ID (rows "
                   f"{_shown_rows(data.rows[~known])}); they join no participant",
                   dataset=spec.dataset, rows=data.rows[~known])
    if spec.one_to_one:
        _one_to_one(report, rel, spec, data)
    elif spec.key and not any(t.dataset == spec.name for t in rel.mapping.tables):
        columns = [c for c in spec.key if c in data.frame.columns]
        if columns:
            keys = pd.DataFrame({"participant": data.keys}).join(
                data.frame[columns].reset_index(drop=True))
            _repeated(report, path + ("key",), spec.name, spec.dataset, keys, data.rows,
                      known, ", ".join(columns))


def _one_to_one(report: _Report, rel: RelationalRun, spec: DatasetSpec,
                data: RawDataset) -> None:
    """Participants with several rows of a one-to-one dataset (an error), and base
    participants without a row (info)."""
    joined = data.pos >= 0
    counts = np.bincount(data.pos[joined], minlength=len(rel.base.keys))
    several = joined.copy()
    several[joined] = counts[data.pos[joined]] > 1
    path: tuple[Any, ...] = ("datasets", spec.name, "join")
    if several.any():
        ids = _counts(data.keys[several])
        report.add("error", "duplicate_key", None, path,
                   f"{spec.name}: declared one-to-one, but {len(ids)} participant(s) have "
                   f"several rows: {_shown(ids)} (rows {_shown_rows(data.rows[several])}). "
                   "Harmonising leaves their columns from it empty; ask the trial which row "
                   "holds, keep one row per participant with `where:`, or declare the join "
                   "one-to-many and read it with aggregate rules", ids, dataset=spec.dataset,
                   rows=data.rows[several])
    none = (counts == 0) & pd.notna(rel.base.keys)
    if none.any():
        report.add("info", "participants_without_rows", None, ("datasets", spec.name),
                   f"{spec.name}: {int(none.sum())} of {len(none)} participant(s) of "
                   f"{rel.base.name} have no row in {spec.dataset} (rows of {rel.base.name}: "
                   f"{_shown_rows(rel.base.rows[none])}); what the mapping reads from it is "
                   "missing for them", dataset=rel.base.name, rows=rel.base.rows[none])


def _table_keys(report: _Report, rel: RelationalRun, name: str) -> None:
    """Rows of long table ``name`` that repeat its key (participant and the key variables)."""
    run = rel.tables[name]
    table = rel.dictionary.table(name)
    key = [k for k in table.key if k in run.values]
    if not key or not len(run.data.keys):
        return
    keys = pd.DataFrame({"participant": run.data.keys})
    for k in key:
        keys[k] = run.values[k].to_numpy(dtype=object)
    known = pd.notna(run.data.keys) & keys[key].notna().all(axis=1).to_numpy()
    _repeated(report, ("variables", key[0]), name, run.data.name, keys, run.data.rows, known,
              ", ".join(key))


def _repeated(report: _Report, path: tuple[Any, ...], label: str, dataset: str,
              keys: pd.DataFrame, rows: np.ndarray, known: np.ndarray, what: str) -> None:
    """A problem for the rows of ``keys`` (participant and key columns) that repeat."""
    dup = known & keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    labels = keys[dup].astype(str).agg(", ".join, axis=1).to_numpy()
    counts = _counts(labels)
    severity = "error" if dup.sum() > 0.5 * max(int(known.sum()), 1) else "warning"
    report.add(severity, "repeated_key", None, path,
               f"{label}: {int(dup.sum())} row(s) of {dataset} repeat a participant and "
               f"{what}: {_shown(counts)} (rows {_shown_rows(rows[dup])}); each row needs a "
               "key of its own (harmonising reports them as data problems)", counts,
               dataset=dataset, rows=rows[dup])


def _aggregate_problems(report: _Report, rel: RelationalRun) -> None:
    """Values an aggregate rule cannot read in the rows of the datasets it reduces."""
    from harmonise.mapping.dryrun import _rule_key

    for variable, found in rel.participants.long_issues.items():
        key = _rule_key(rel.mapping, variable, "from")
        for issue in found:
            if not isinstance(issue, LongIssue):
                continue
            counts = _counts(issue.values)
            note = issue.reason in NOTES
            what = "completes" if note else "cannot read"
            meaning = REASONS.get(issue.reason, NOTES.get(issue.reason, issue.reason))
            report.add("info" if note else "warning", issue.reason if note else "value_problems",
                       variable, key,
                       f"{variable}: {len(issue.rows)} row(s) of {issue.dataset} hold values of "
                       f"{issue.columns} it {what} ({meaning}): {_shown(counts)} (rows "
                       f"{_shown_rows(issue.rows)})", counts, dataset=issue.dataset,
                       rows=issue.rows)
