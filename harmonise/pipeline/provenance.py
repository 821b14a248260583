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
from harmonise.values.cells import canonical_text
from repository.deliveries import current_delivery
from repository.errors import NotFound
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
                "derived_from": self.derived_from, "release": self.release}

    def __str__(self) -> str:
        who = f"{self.trial_id} ({self.participant})" if self.trial_id else self.participant
        lines = [f"{self.trial} participant {who}, {self.variable} (delivery row {self.row})",
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


def explain_cell(store: Store, trial: str, participant: str, variable: str) -> CellExplanation:
    """Follow one cell of ``trial`` (``participant``: the trial's own ID or the pseudonym)
    from the delivery to the harmonised ``variable``, for the current data."""
    actor = store.settings.actor
    with store.reading() as session:
        require(session, actor, "explain", trial=trial)
        topic = store.topic(session)
        get_trial(session, topic, trial)
    run = harmonise_trial(store, trial, write=False)
    raw = run.raw.frame
    id_column = _id_column(store, trial)
    pseudonym, own_id = resolve_participant(store, run.harmonised.dictionary.topic, trial,
                                            participant, raw[id_column])
    hits = run.data.index[run.data["participant_id"] == pseudonym].tolist()
    if not hits:
        raise NotFound(f"participant {participant} is not in trial {trial}'s harmonised data.",
                       trial=trial, participant=participant)
    row = int(run.data.loc[hits[0], "_row"])
    exp = run.harmonised.explain(variable, row=row)
    mapping = run.harmonised.mapping
    direct = [name for kind, name, _ in exp.inputs if kind == "column"]
    # every raw column behind the value, through the variables it is computed from
    columns = list(dict.fromkeys(direct + list(mapping.source_columns(variable))))
    delivered = {c: canonical_text(raw[c].iloc[row - 1]) for c in columns if c in raw.columns}
    corrected: dict[str, str | None] = {name: value for kind, name, value in exp.inputs
                                        if kind == "column"}
    for name in columns:  # the corrected raw cells of the variables it is computed from
        if name not in corrected and name in run.harmonised.raw.columns:
            corrected[name] = canonical_text(run.harmonised.raw[name].iloc[row - 1])
    derived_from: dict[str, str | None] = {}
    for v in mapping.lineage(variable):
        if v in run.data.columns:
            x = run.data[v].iloc[hits[0]]
            derived_from[v] = None if pd.isna(x) else canonical_text(x)
    with store.reading() as session:
        rows = session.scalars(select(Correction).where(
            Correction.trial_id == get_trial(session, store.topic(session), trial).id,
            Correction.participant == pseudonym).order_by(Correction.id)).all()
        history = []
        for c in rows:
            if c.source_column not in columns and c.variable != variable:
                continue
            item = correction_to_dict(c, trial)
            q = session.get(Query, c.query_id) if c.query_id else None
            item["query"] = {"id": q.id, "check": q.check_id, "status": q.status,
                             "resolution": q.resolution} if q else None
            history.append(item)
    return CellExplanation(
        trial=trial, participant=pseudonym, trial_id=own_id, variable=variable, row=row,
        delivered=delivered, corrected=corrected, corrections=tuple(history), rule=exp.rule,
        rule_description=exp.description, rule_spec=exp.spec, mapping_file=exp.file,
        mapping_line=exp.line, value=exp.value, label=exp.label, problems=exp.problems,
        derived_from=derived_from)


def _id_column(store: Store, trial: str) -> str:
    with store.reading() as session:
        return current_delivery(get_trial(session, store.topic(session), trial)).id_column
