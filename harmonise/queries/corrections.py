"""Corrections: accepted answers, applied to raw cells before the mapping.

A correction names one raw cell - trial, participant (pseudonym; the n-th of their rows when a
delivery repeats an ID), the trial's own column - with the value as delivered and the value it
should have, the query it answers, the reason, who and when. The harmonised data are a pure
function of (raw delivery, mapping, active corrections): :func:`apply_corrections` rewrites the
raw cells, the mapping does the rest, so a correction speaks the trial's own coding.

Corrections are never overwritten. When the trial delivers again (:func:`carry_forward`), each
active correction is checked against the new delivery: still the old raw value -> carried
forward (a new correction row pointing back to the old one); already the corrected value -> no
longer needed; anything else -> flagged ``needs_review`` for a curator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.values.cells import canonical_text as cell_text
from repository import audit
from repository.errors import QueryError
from repository.models import Correction, Delivery, Query, Topic, Trial
from repository.roles import require

__all__ = [
    "parse_like",
    "AppliedCorrection",
    "apply_corrections",
    "record_correction",
    "carry_forward",
    "settle",
    "write_cell",
    "check_value",
    "store_correction",
    "is_row_correction",
    "active_corrections",
    "correction_to_dict",
    "participant_rows",
]


def parse_like(text: str | None, series: pd.Series) -> Any:
    """``text`` as a value of ``series``' kind (number, date or text); ValueError if not."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.Timestamp(text)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return float(text.replace(",", ".")) if "," in text and "." not in text else float(text)
    non_null = series.dropna()
    sample = non_null.iloc[0] if len(non_null) else None
    if isinstance(sample, (int, float, np.number)) and not isinstance(sample, bool):
        return float(text)
    if isinstance(sample, (datetime, pd.Timestamp, date)):
        return pd.Timestamp(text)
    return text


def participant_rows(pseudonyms: Sequence[str | None], participant: str) -> list[int]:
    """0-based positions of a participant's rows, in delivery order."""
    return [i for i, p in enumerate(pseudonyms) if p == participant]


@dataclass(frozen=True)
class AppliedCorrection:
    correction_id: int
    row: int  # 1-based delivery row
    column: str
    old_value: str | None
    new_value: str | None
    applied: bool
    reason: str = ""
    #: the trial's dataset of the cell ("main": the participant table's own)
    dataset: str = "main"


def apply_corrections(frame: pd.DataFrame, pseudonyms: Sequence[str | None],
                      corrections: Sequence[Correction]) -> tuple[pd.DataFrame, list[AppliedCorrection]]:
    """A copy of the raw ``frame`` with the corrections applied (pure; in id order).

    A correction applies only where the cell still holds its ``old_value``; otherwise it is
    reported as not applied (the delivery changed under it: see :func:`carry_forward`).
    """
    out = frame.copy()
    results: list[AppliedCorrection] = []
    for c in sorted(corrections, key=lambda c: c.id):
        if is_row_correction(c):  # a row of a long dataset: harmonise.queries.row_corrections
            continue
        positions = participant_rows(pseudonyms, c.participant)
        if c.source_column not in out.columns or len(positions) < c.occurrence:
            results.append(AppliedCorrection(c.id, 0, c.source_column, c.old_value, c.new_value,
                                             False, "participant or column not in the delivery"))
            continue
        pos = positions[c.occurrence - 1]
        current = cell_text(out.iat[pos, out.columns.get_loc(c.source_column)])
        if current != c.old_value:
            results.append(AppliedCorrection(c.id, pos + 1, c.source_column, c.old_value,
                                             c.new_value, False,
                                             f"the delivery now holds {current!r}"))
            continue
        write_cell(out, pos, c.source_column, c.new_value)
        results.append(AppliedCorrection(c.id, pos + 1, c.source_column, c.old_value,
                                         c.new_value, True))
    return out, results


def write_cell(frame: pd.DataFrame, position: int, column: str, text: str | None) -> None:
    """Write ``text`` (a corrected value) into ``frame`` (in place) at 0-based ``position``,
    as a value of the column's kind (text makes a typed column text)."""
    values = frame[column]
    value = parse_like(text, values)
    if values.dtype != object and not pd.api.types.is_datetime64_any_dtype(values) \
            and isinstance(value, str):
        frame[column] = values.astype(object)
    frame.iat[position, frame.columns.get_loc(column)] = value


def active_corrections(session: Session, trial: Trial) -> list[Correction]:
    return list(session.scalars(select(Correction).where(
        Correction.trial_id == trial.id, Correction.status == "active").order_by(Correction.id)))


def record_correction(session: Session, topic: Topic, trial: Trial, *, delivery: Delivery,
                      frame: pd.DataFrame, pseudonyms: Sequence[str | None], participant: str,
                      source_column: str, new_value: str | None, reason: str, actor: str,
                      query: Query | None = None, variable: str | None = None,
                      occurrence: int = 1) -> Correction:
    """Store a correction of one raw cell of ``delivery`` (whose raw ``frame`` is given)."""
    require(session, actor, "corrections.accept", trial=trial.acronym)
    if source_column not in frame.columns:
        raise QueryError(f"trial {trial.acronym}: the delivery has no column {source_column!r}; "
                         f"columns are {', '.join(map(str, frame.columns))}.",
                         trial=trial.acronym, column=source_column)
    positions = participant_rows(pseudonyms, participant)
    if len(positions) < occurrence:
        raise QueryError(f"trial {trial.acronym}: participant {participant} is not in delivery "
                         f"{delivery.id} (row {occurrence}).", trial=trial.acronym)
    pos = positions[occurrence - 1]
    old = cell_text(frame.iat[pos, frame.columns.get_loc(source_column)])
    check_value(frame, source_column, new_value, where=f"trial {trial.acronym}",
                trial=trial.acronym)
    earlier = list(session.scalars(select(Correction).where(
        Correction.trial_id == trial.id, Correction.participant == participant,
        Correction.occurrence == occurrence, Correction.source_column == source_column,
        Correction.dataset == "main", Correction.status == "active")))
    correction = Correction(topic_id=topic.id, trial_id=trial.id, participant=participant,
                            occurrence=occurrence, source_column=source_column,
                            variable=variable, old_value=old, new_value=new_value,
                            query_id=query.id if query else None, reason=reason,
                            created_by=actor, delivery_id=delivery.id)
    return store_correction(session, topic, trial, correction, earlier=earlier, actor=actor)


def check_value(frame: pd.DataFrame, column: str, text: str | None, *, where: str,
                trial: str) -> None:
    """QueryError unless ``text`` can be a value of ``frame[column]``."""
    try:
        parse_like(text, frame[column])
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{where}, column {column}: {text!r} is not a valid value for this "
                         f"column ({exc}).", trial=trial, column=column) from exc


def store_correction(session: Session, topic: Topic, trial: Trial, correction: Correction, *,
                     earlier: Sequence[Correction], actor: str) -> Correction:
    """Add ``correction`` (audited) unless an ``earlier`` active correction of the same cell
    makes the same change (that one is returned); a different change supersedes them (they
    stay, marked): one active correction per cell."""
    for e in earlier:
        if e.new_value == correction.new_value:
            return e
    for e in earlier:
        e.status = "superseded"
        e.review_note = "replaced by a later correction of the same cell"
    session.add(correction)
    session.flush()
    audit.append(session, actor=actor, action="correction.add", topic=topic.slug,
                 entity_type="correction", entity_id=correction.id,
                 details=correction_to_dict(correction, trial.acronym))
    return correction


def is_row_correction(c: Correction) -> bool:
    """Whether ``c`` corrects a row of a long dataset (not the participant table's dataset)."""
    return (getattr(c, "dataset", None) or "main") != "main"


def carry_forward(session: Session, topic: Topic, trial: Trial, *, delivery: Delivery,
                  frame: pd.DataFrame, pseudonyms: Sequence[str | None],
                  actor: str) -> dict[str, list[int]]:
    """Re-check the trial's active corrections against a new ``delivery``."""
    outcome: dict[str, list[int]] = {"carried": [], "no_longer_needed": [], "needs_review": []}
    for c in active_corrections(session, trial):
        if c.delivery_id == delivery.id or is_row_correction(c):
            continue
        positions = participant_rows(pseudonyms, c.participant)
        present = c.source_column in frame.columns and len(positions) >= c.occurrence
        now = (cell_text(frame.iat[positions[c.occurrence - 1],
                                   frame.columns.get_loc(c.source_column)])
               if present else None)
        missing = (f"participant or column {c.source_column!r} missing from delivery "
                   f"{delivery.id}")
        settle(session, topic, c, delivery=delivery, present=present, now=now, missing=missing,
               actor=actor, outcome=outcome)
    session.flush()
    return outcome


def settle(session: Session, topic: Topic, c: Correction, *, delivery: Delivery, present: bool,
           now: str | None, missing: str, actor: str, outcome: dict[str, list[int]]) -> None:
    """One active correction against a new ``delivery`` whose cell holds ``now`` (``present``:
    the cell was found; else ``missing`` says why not): carried forward, no longer needed, or
    flagged ``needs_review``; ``outcome`` collects the ids."""
    details: dict[str, Any]
    if present and now == c.old_value:
        c.status = "superseded"
        c.review_note = f"carried forward to delivery {delivery.id}"
        new = Correction(topic_id=c.topic_id, trial_id=c.trial_id, participant=c.participant,
                         occurrence=c.occurrence, source_column=c.source_column,
                         variable=c.variable, old_value=c.old_value, new_value=c.new_value,
                         query_id=c.query_id, reason=c.reason, created_by=c.created_by,
                         delivery_id=delivery.id, carried_from_id=c.id,
                         dataset=c.dataset or "main", row_key=c.row_key)
        session.add(new)
        session.flush()
        outcome["carried"].append(new.id)
        action, details = "correction.carry", {"from": c.id, "to": new.id}
    elif present and now == c.new_value:
        c.status = "superseded"
        c.review_note = f"delivery {delivery.id} already holds the corrected value"
        outcome["no_longer_needed"].append(c.id)
        action, details = "correction.superseded", {"id": c.id}
    else:
        c.status = "needs_review"
        c.review_note = (f"delivery {delivery.id} holds {now!r} where the correction expected "
                         f"{c.old_value!r}" if present else missing)
        outcome["needs_review"].append(c.id)
        action, details = "correction.review", {"id": c.id, "note": c.review_note}
    audit.append(session, actor=actor, action=action, topic=topic.slug,
                 entity_type="correction", entity_id=c.id, details=details)


def correction_to_dict(c: Correction, trial: str | None = None) -> dict[str, Any]:
    return {"id": c.id, "trial": trial, "participant": c.participant, "occurrence": c.occurrence,
            "source_column": c.source_column, "variable": c.variable, "old_value": c.old_value,
            "new_value": c.new_value, "query_id": c.query_id, "reason": c.reason,
            "created_by": c.created_by,
            "created_at": c.created_at.isoformat(timespec="seconds") if c.created_at else None,
            "delivery_id": c.delivery_id, "status": c.status, "review_note": c.review_note,
            "carried_from": c.carried_from_id,
            **({"dataset": c.dataset, "row_key": dict(c.row_key or {})}
               if is_row_correction(c) else {})}
