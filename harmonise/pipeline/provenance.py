"""Cell-level provenance: why a harmonised value differs from what the trialist sent.

:func:`explain_cell` follows one cell from the delivery to the harmonised table: the raw value
of every raw column behind it as delivered (through derived variables: a time-to-event computed
from dates shows the date columns, and the dates' harmonised values under ``derived_from``), each
correction of those cells (with its query,
reason, author and date), the values after correction, the mapping rule (as written, with its
file and line) and the harmonised value. What a released version holds for the same cell is
the versions package's to say (``ipdrepo explain --version`` adds it from
:func:`versions.releases.released_value`, in :attr:`CellExplanation.release`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from harmonise.pipeline.harmonising import harmonise_trial
from harmonise.queries.corrections import correction_to_dict
from harmonise.queries.row_corrections import on_row
from harmonise.values.cells import canonical_text
from repository.deliveries import current_delivery
from repository.errors import MappingError, NotFound
from repository.models import Correction, Query
from repository.pseudonyms import normalise_raw_id
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial

__all__ = ["CellExplanation", "explain_cell", "resolve_participant"]

_PSEUDONYM = re.compile(r"^P[A-Z2-7]{16}$")


@dataclass(frozen=True)
class CellExplanation:
    trial: str
    participant: str  # pseudonym
    trial_id: str | None  # the trial's own ID (shown to curators and the trial's trialists)
    variable: str
    row: int
    delivered: dict[str, str | None]
    corrected: dict[str, str | None]
    corrections: tuple[dict[str, Any], ...]
    rule: str
    rule_description: str
    rule_spec: dict[str, Any]
    mapping_file: str
    mapping_line: int | None
    value: Any
    label: str | None
    problems: tuple[dict[str, Any], ...] = ()
    release: dict[str, Any] | None = field(default=None)
    #: the table of the variable and the trial's dataset its row comes from
    table: str = "participants"
    dataset: str | None = None
    #: an aggregate variable: the rows of other datasets or tables it read (dataset, row,
    #: value, taken)
    contributions: tuple[dict[str, Any], ...] = ()
    #: the cells a rule completed as documented (a partial date imputed)
    imputed: tuple[dict[str, Any], ...] = ()
    #: the harmonised variables the value is computed from (nearest first), with their values
    derived_from: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "participant": self.participant, "trial_id": self.trial_id,
                "variable": self.variable, "row": self.row, "delivered": self.delivered,
                "corrections": list(self.corrections), "after_corrections": self.corrected,
                "rule": {"type": self.rule, "description": self.rule_description,
                         "spec": self.rule_spec, "file": self.mapping_file,
                         "line": self.mapping_line},
                "value": None if self.value is None else canonical_text(self.value),
                "label": self.label, "problems": list(self.problems),
                "derived_from": self.derived_from, "release": self.release,
                "table": self.table, "dataset": self.dataset,
                "contributions": list(self.contributions), "imputed": list(self.imputed)}

    def __str__(self) -> str:
        who = f"{self.trial_id} ({self.participant})" if self.trial_id else self.participant
        where = f"{self.dataset} row {self.row}" if self.dataset else f"delivery row {self.row}"
        table = f" in table {self.table}" if self.table != "participants" else ""
        lines = [f"{self.trial} participant {who}, {self.variable}{table} ({where})",
                 "  as delivered:"]
        lines += [f"    {c} = {v!r}" for c, v in self.delivered.items()] or ["    (no columns)"]
        if self.corrections:
            lines.append("  corrections:")
            for c in self.corrections:
                lines.append(f"    #{c['id']} {c['source_column']}: {c['old_value']!r} -> "
                             f"{c['new_value']!r} ({c['status']}; query {c['query_id']}; "
                             f"{c['reason']}; by {c['created_by']} on {c['created_at']})")
        else:
            lines.append("  corrections: none")
        where = f"{self.mapping_file}:{self.mapping_line}" if self.mapping_line else \
            self.mapping_file
        lines.append(f"  rule: {self.rule} - {self.rule_description} ({where})")
        if self.derived_from:
            lines.append("  computed from:")
            lines += [f"    {v} = {'missing' if x is None else x}"
                      for v, x in self.derived_from.items()]
        if self.contributions:
            lines.append(f"  rows read ({len(self.contributions)}):")
            for c in self.contributions[:50]:
                mark = "  <- taken" if c["taken"] else ""
                lines.append(f"    {c['dataset']} row {c['row']}: {c['value']!r}{mark}")
        for i in self.imputed:
            lines.append(f"  imputed: {i.get('value')!r} ({i.get('message')})")
        shown = canonical_text(self.value) if self.value is not None else "missing"
        lines.append(f"  harmonised value: {shown}" + (f" ({self.label})" if self.label else ""))
        for p in self.problems:
            lines.append(f"  problem: {p.get('message')}")
        if self.release:
            lines.append(f"  in release {self.release['version']}: {self.release['value']}")
        return "\n".join(lines)


def resolve_participant(store: Store, topic: str, trial: str, participant: str,
                        raw_ids: pd.Series) -> tuple[str, str | None]:
    """(pseudonym, the trial's own ID) for a participant given either way."""
    pseudonymiser = store.pseudonymiser(topic)
    ids = [normalise_raw_id(v) for v in raw_ids]
    if _PSEUDONYM.match(participant):
        mapping = dict(zip(pseudonymiser.many(trial, [i for i in ids if i is not None]),
                           [i for i in ids if i is not None]))
        return participant, mapping.get(participant)
    own = normalise_raw_id(participant)
    if own is None or own not in ids:
        raise NotFound(f"trial {trial} has no participant {participant!r} in its current "
                       "delivery (give the trial's own ID or the repository pseudonym).",
                       trial=trial, participant=participant)
    return pseudonymiser.pseudonym(trial, own), own


def explain_cell(store: Store, trial: str, participant: str, variable: str, *,
                 key: dict[str, str] | None = None, row: int | None = None) -> CellExplanation:
    """Follow one cell of ``trial`` (``participant``: the trial's own ID or the pseudonym)
    from the delivery to the harmonised ``variable``, for the current data. A variable of a
    long table needs the row: ``key`` (the table's key variables, e.g. ``{"ae_seq": "3"}``) or
    ``row`` (the row of the table's dataset), unless the participant has one row there."""
    actor = store.settings.actor
    with store.reading() as session:
        require(session, actor, "explain", trial=trial)
        topic = store.topic(session)
        get_trial(session, topic, trial)
    run = harmonise_trial(store, trial, write=False, trace=True)
    raw = run.raw.frame
    id_column = _id_column(store, trial, run.harmonised.mapping.source.dataset)
    pseudonym, own_id = resolve_participant(store, run.harmonised.dictionary.topic, trial,
                                            participant, raw[id_column])
    hits = run.data.index[run.data["participant_id"] == pseudonym].tolist()
    if not hits:
        raise NotFound(f"participant {participant} is not in trial {trial}'s harmonised data.",
                       trial=trial, participant=participant)
    table_name = run.harmonised.dictionary.table_of(variable) or "participants"
    harmonised = run.harmonised if table_name == "participants" else run.tables[table_name]
    own_table = table_name == "participants"
    if own_table:
        position = int(hits[0]) + 1
    else:
        position = _table_position(harmonised, pseudonym, participant, variable, key, row)
    exp = harmonised.explain(variable, row=position)
    mapping = run.harmonised.mapping
    direct = [name for kind, name, _ in exp.inputs if kind == "column"]
    # every raw column behind the value, through the variables it is computed from
    lineage, upstream = _lineage(mapping, variable) if own_table else ([], [])
    columns = list(dict.fromkeys(direct + lineage))
    as_delivered = raw if own_table else harmonised.raw
    delivered = {c: canonical_text(as_delivered[c].iloc[position - 1]) for c in columns
                 if c in as_delivered.columns}
    corrected: dict[str, str | None] = {name: value for kind, name, value in exp.inputs
                                        if kind == "column"}
    for name in columns:  # the corrected raw cells of the variables it is computed from
        if name not in corrected and name in harmonised.raw.columns:
            corrected[name] = canonical_text(harmonised.raw[name].iloc[position - 1])
    derived_from: dict[str, str | None] = {}
    for v in upstream:
        if v in run.data.columns:
            x = run.data[v].iloc[hits[0]]
            derived_from[v] = None if pd.isna(x) else canonical_text(x)
    dataset_row = int(harmonised.data["_row"].iloc[position - 1])
    with store.reading() as session:
        rows = session.scalars(select(Correction).where(
            Correction.trial_id == get_trial(session, store.topic(session), trial).id,
            Correction.participant == pseudonym).order_by(Correction.id)).all()
        history = []
        for c in rows:
            if c.source_column not in columns and c.variable != variable:
                continue
            if not on_row(c, None if own_table else harmonised.dataset, harmonised.raw,
                          position - 1):
                continue  # another dataset's or another row's correction
            if not own_table and c.status == "active" and c.source_column in delivered:
                delivered[c.source_column] = c.old_value  # the long row as delivered
            item = correction_to_dict(c, trial)
            q = session.get(Query, c.query_id) if c.query_id else None
            item["query"] = {"id": q.id, "check": q.check_id, "status": q.status,
                             "resolution": q.resolution} if q else None
            history.append(item)
    imputed = harmonised.imputed
    notes = imputed[(imputed["row"] == dataset_row) & (imputed["variable"] == variable)]
    return CellExplanation(
        trial=trial, participant=pseudonym, trial_id=own_id, variable=variable,
        row=dataset_row, delivered=delivered, corrected=corrected, corrections=tuple(history),
        rule=exp.rule, rule_description=exp.description, rule_spec=exp.spec,
        mapping_file=exp.file, mapping_line=exp.line, value=exp.value, label=exp.label,
        problems=exp.problems, table=table_name, dataset=harmonised.dataset,
        contributions=tuple(harmonised.contributions(variable, position)),
        imputed=tuple(notes.to_dict("records")), derived_from=derived_from)


def _lineage(mapping: Any, variable: str) -> tuple[list[str], list[str]]:
    """The raw columns and the variables ``variable`` is computed from; across tables (an
    aggregate over a long table) the rows read are listed instead (``contributions``)."""
    try:
        return list(mapping.source_columns(variable)), list(mapping.lineage(variable))
    except MappingError:
        return [], []


def _table_position(harmonised: Any, pseudonym: str, participant: str, variable: str,
                    key: dict[str, str] | None, row: int | None) -> int:
    """The 1-based position in a long table of the participant's row asked for."""
    data = harmonised.data
    mine = data["participant_id"] == pseudonym
    if row is not None:
        mine &= data["_row"] == row
    for name, value in (key or {}).items():
        if name not in data.columns:
            raise NotFound(f"table {harmonised.table} has no variable {name!r}; its "
                           "variables: " + ", ".join(c for c in data.columns
                                                     if c not in ("trial", "_row")) + ".",
                           variable=name)
        mine &= data[name].map(canonical_text) == str(value)
    hits = data.index[mine.to_numpy(dtype=bool)].tolist()
    if len(hits) == 1:
        return int(hits[0]) + 1
    if not hits:
        raise NotFound(f"participant {participant} has no such row in table "
                       f"{harmonised.table} ({variable}).", participant=participant)
    keys = [c for c in data.columns if c not in ("trial", "participant_id", "_row")][:3]
    listing = "; ".join(f"{harmonised.dataset} row {int(data.loc[h, '_row'])} (" +
                        ", ".join(f"{k}={canonical_text(data.loc[h, k])}" for k in keys) + ")"
                        for h in hits[:10])
    raise NotFound(f"participant {participant} has {len(hits)} rows in table "
                   f"{harmonised.table}: {listing}; say which with --key NAME=VALUE or --row N.",
                   participant=participant, rows=[int(data.loc[h, "_row"]) for h in hits])


def _id_column(store: Store, trial: str, dataset: str = "main") -> str:
    with store.reading() as session:
        return current_delivery(get_trial(session, store.topic(session), trial),
                                dataset).id_column
