"""Corrections of rows of long datasets (adverse events, visits), keyed by the row's own key.

A participant-table correction names its cell by participant (and the n-th of their rows); a
row of a long dataset is named by participant *and the row's key as the trial wrote it*
(``delivery.row_key``: e.g. ``AESEQ`` for adverse events, ``VISITNUM`` for visits), so the
correction follows its row when a re-delivery re-orders the rows or adds new ones. A dataset
delivered without a row key falls back to the n-th of the participant's rows.

Everything else is as for participant rows (:mod:`harmonise.queries.corrections`): a
correction applies only where the cell still holds the value it corrected; on a new delivery
of the dataset it is carried forward (the row and the value are still there), no longer needed
(the trial corrected it) or flagged ``needs_review`` (the keyed row is gone, is ambiguous, or
holds another value) - never silently dropped or applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.queries.corrections import (
    AppliedCorrection,
    active_corrections,
    check_value,
    is_row_correction,
    participant_rows,
    settle,
    store_correction,
    write_cell,
)
from harmonise.values.cells import canonical_text as cell_text
from repository.errors import QueryError
from repository.models import Correction, Delivery, Query, Topic, Trial
from repository.roles import require

__all__ = ["row_key_at", "keyed_rows", "apply_row_corrections", "carry_forward_rows",
           "carry_forward_datasets", "stale_rows", "on_row",
           "record_row_correction", "row_label"]


def row_key_at(frame: pd.DataFrame, position: int,
               key_columns: Sequence[str] | None) -> dict[str, str | None]:
    """The key of the row at 0-based ``position``: its key columns' values as text."""
    return {c: cell_text(frame[c].iat[position]) for c in key_columns or ()
            if c in frame.columns}


def keyed_rows(frame: pd.DataFrame, pseudonyms: Sequence[str | None], participant: str,
               row_key: Mapping[str, Any] | None, occurrence: int = 1) -> list[int]:
    """0-based positions of the participant's rows holding ``row_key`` (by its n-th row,
    ``occurrence``, when the correction has no key)."""
    positions = participant_rows(pseudonyms, participant)
    if not row_key:
        return positions[occurrence - 1:occurrence]
    if any(c not in frame.columns for c in row_key):
        return []
    return [p for p in positions
            if all(cell_text(frame[c].iat[p]) == v for c, v in row_key.items())]


def row_label(c: Correction) -> str:
    """How a row correction names its row: ``ae row AESEQ=3``."""
    key = ", ".join(f"{k}={v}" for k, v in (c.row_key or {}).items())
    return f"{c.dataset} row " + (key or f"#{c.occurrence} of the participant")


def apply_row_corrections(frames: Mapping[str, pd.DataFrame],
                          pseudonyms: Mapping[str, Sequence[str | None]],
                          corrections: Sequence[Correction]) -> tuple[dict[str, pd.DataFrame],
                                                                      list[AppliedCorrection]]:
    """The long datasets with their rows' corrections applied (pure; copies only the datasets
    corrected), and what each correction did."""
    out = dict(frames)
    results: list[AppliedCorrection] = []
    for c in sorted((c for c in corrections if is_row_correction(c)), key=lambda c: c.id):
        frame = out.get(c.dataset)
        if frame is None or c.source_column not in frame.columns:
            results.append(AppliedCorrection(c.id, 0, c.source_column, c.old_value, c.new_value,
                                             False, f"{row_label(c)}: dataset or column not "
                                             "in the delivery", dataset=c.dataset))
            continue
        hits = keyed_rows(frame, pseudonyms.get(c.dataset, ()), c.participant, c.row_key,
                          c.occurrence)
        if len(hits) != 1:
            why = "no longer in the delivery" if not hits else f"on {len(hits)} rows"
            results.append(AppliedCorrection(c.id, 0, c.source_column, c.old_value, c.new_value,
                                             False, f"{row_label(c)}: {why}",
                                             dataset=c.dataset))
            continue
        pos = hits[0]
        current = cell_text(frame[c.source_column].iat[pos])
        if current != c.old_value:
            results.append(AppliedCorrection(c.id, pos + 1, c.source_column, c.old_value,
                                             c.new_value, False,
                                             f"the delivery now holds {current!r}",
                                             dataset=c.dataset))
            continue
        if frame is frames.get(c.dataset):
            frame = frames[c.dataset].copy()
        write_cell(frame, pos, c.source_column, c.new_value)
        out[c.dataset] = frame
        results.append(AppliedCorrection(c.id, pos + 1, c.source_column, c.old_value,
                                         c.new_value, True, dataset=c.dataset))
    return out, results


def carry_forward_rows(session: Session, topic: Topic, trial: Trial, *,
                       deliveries: Mapping[str, Delivery], frames: Mapping[str, pd.DataFrame],
                       pseudonyms: Mapping[str, Sequence[str | None]],
                       actor: str) -> dict[str, list[int]]:
    """Re-check the active corrections of long datasets' rows whose dataset was delivered
    again (see the module docstring); ids by outcome, as
    :func:`~harmonise.queries.corrections.carry_forward`."""
    outcome: dict[str, list[int]] = {"carried": [], "no_longer_needed": [], "needs_review": []}
    for c in active_corrections(session, trial):
        delivery = deliveries.get(c.dataset)
        if not is_row_correction(c) or delivery is None or c.delivery_id == delivery.id:
            continue
        frame = frames[c.dataset]
        hits = keyed_rows(frame, pseudonyms[c.dataset], c.participant, c.row_key, c.occurrence)
        if not hits and c.source_column in (c.row_key or {}):  # a corrected key, now delivered
            hits = keyed_rows(frame, pseudonyms[c.dataset], c.participant,
                              {**(c.row_key or {}), c.source_column: c.new_value})
        present = len(hits) == 1 and c.source_column in frame.columns
        now = cell_text(frame[c.source_column].iat[hits[0]]) if present else None
        why = ("no longer in" if not hits else f"on {len(hits)} rows of" if len(hits) > 1
               else f"without column {c.source_column!r} in")
        settle(session, topic, c, delivery=delivery, present=present, now=now,
               missing=f"{row_label(c)} {why} delivery {delivery.id}", actor=actor,
               outcome=outcome)
    session.flush()
    return outcome


def record_row_correction(session: Session, topic: Topic, trial: Trial, *, delivery: Delivery,
                          frame: pd.DataFrame, pseudonyms: Sequence[str | None], row: int,
                          source_column: str, new_value: str | None, reason: str, actor: str,
                          query: Query | None = None,
                          variable: str | None = None) -> Correction:
    """Store a correction of the cell ``source_column`` on delivered ``row`` (1-based) of a
    long dataset's ``delivery``, keyed by the row's participant and key."""
    require(session, actor, "corrections.accept", trial=trial.acronym)
    where = f"trial {trial.acronym}, dataset {delivery.dataset}"
    if source_column not in frame.columns:
        raise QueryError(f"{where}: no column {source_column!r}; columns are "
                         f"{', '.join(map(str, frame.columns))}.", trial=trial.acronym,
                         column=source_column)
    if not 1 <= row <= len(frame) or pseudonyms[row - 1] is None:
        raise QueryError(f"{where}: row {row} is not a row of a participant of delivery "
                         f"{delivery.id}; ask the trial for a new delivery.",
                         trial=trial.acronym)
    participant = str(pseudonyms[row - 1])
    key = row_key_at(frame, row - 1, delivery.row_key)
    occurrence = participant_rows(pseudonyms, participant).index(row - 1) + 1
    if key and len(keyed_rows(frame, pseudonyms, participant, key)) != 1:
        key = {}  # the key does not single the row out: by the n-th of the participant's rows
    check_value(frame, source_column, new_value, where=where, trial=trial.acronym)
    earlier = [e for e in session.scalars(select(Correction).where(
        Correction.trial_id == trial.id, Correction.participant == participant,
        Correction.dataset == delivery.dataset, Correction.source_column == source_column,
        Correction.status == "active"))
        if (e.row_key or {}) == key and (key or e.occurrence == occurrence)]
    correction = Correction(topic_id=topic.id, trial_id=trial.id, participant=participant,
                            occurrence=occurrence, source_column=source_column,
                            variable=variable, old_value=cell_text(frame[source_column].iat[
                                row - 1]), new_value=new_value,
                            query_id=query.id if query else None, reason=reason,
                            created_by=actor, delivery_id=delivery.id, dataset=delivery.dataset,
                            row_key=key or None)
    return store_correction(session, topic, trial, correction, earlier=earlier, actor=actor)


def stale_rows(corrections: Sequence[Correction], delivery_ids: Mapping[str, int]) -> bool:
    """Whether a row correction was made on another delivery of its dataset than the current
    one (``delivery_ids``: dataset -> current delivery id): then it is carried forward first."""
    return any(is_row_correction(c) and c.dataset in delivery_ids
               and c.delivery_id != delivery_ids[c.dataset] for c in corrections)


def carry_forward_datasets(session: Session, topic: Topic, trial: Trial, *,
                           delivery_ids: Mapping[str, int],
                           frames: Mapping[str, pd.DataFrame],
                           pseudonyms: Mapping[str, Sequence[str | None]], actor: str,
                           carried: dict[str, list[int]]) -> dict[str, list[int]]:
    """:func:`carry_forward_rows` for the datasets read now, merged into ``carried``."""
    deliveries = {name: session.get(Delivery, i) for name, i in delivery_ids.items()}
    found = carry_forward_rows(session, topic, trial, frames=frames, pseudonyms=pseudonyms,
                               deliveries={n: d for n, d in deliveries.items() if d is not None},
                               actor=actor)
    out = {k: list(v) for k, v in carried.items()}
    for k, ids in found.items():
        out.setdefault(k, []).extend(ids)
    return out


def on_row(c: Correction, dataset: str | None, frame: pd.DataFrame, position: int) -> bool:
    """Whether ``c`` corrects the row at 0-based ``position`` of ``frame`` (a long table's rows
    of ``dataset``; None: the participant table's dataset)."""
    if dataset is None:
        return not is_row_correction(c)
    if c.dataset != dataset:
        return False
    return all(c_ in frame.columns and cell_text(frame[c_].iat[position]) == v
               for c_, v in (c.row_key or {}).items())
