"""Accepting trialists' answers: an answered query becomes a resolution and, where the answer
gives a corrected value, an attributed correction of the trial's raw cells.

============================  =================================================================
answer (response code)        accepted as
============================  =================================================================
typographical_error + value   correction(s) of the query's source cell(s); resolved *corrected*
data_missing + value          likewise (the value was found)
data_missing, no value        resolved *cannot be resolved* (the data do not exist)
confirmed_correct             resolved *confirmed correct*: the value stays, later runs of the
                              check accept it (unless the value changes)
wrong_source / other          the curator chooses: with a value, corrected; without, cannot be
                              resolved - or re-asks the trial (:func:`reask`)
============================  =================================================================

The corrected value is written in the trial's own coding, as the workbook showed the value
received. A query about several of the trial's columns takes ``COLUMN=value; COLUMN2=value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from harmonise.queries.corrections import correction_to_dict, participant_rows, record_correction
from harmonise.queries.lifecycle import get_query, last_response, mark_sent, resolve
from repository.deliveries import load_delivery, pseudonymised_ids
from repository.errors import QueryError
from repository.models import Correction, Delivery, Participant, Query, Trial
from repository.roles import require
from repository.store import Store

__all__ = ["AcceptResult", "accept_answer", "reask", "parse_corrected_values"]


@dataclass(frozen=True)
class AcceptResult:
    query: int
    resolution: str
    corrections: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "resolution": self.resolution,
                "corrections": list(self.corrections)}


def parse_corrected_values(text: str, columns: list[str]) -> dict[str, str | None]:
    """The corrected value(s) of an answer: a plain value for a one-column query, or
    ``COLUMN=value; COLUMN2=value`` naming the columns (blank after ``=`` means missing)."""
    text = text.strip()
    if len(columns) == 1 and not re.match(rf"^\s*{re.escape(columns[0])}\s*=", text):
        return {columns[0]: text}
    out: dict[str, str | None] = {}
    for part in [p for p in re.split(r";\s*", text) if p.strip()]:
        if "=" not in part:
            raise QueryError(f"corrected value {text!r}: write COLUMN=value for each column "
                             f"(columns: {', '.join(columns)}).")
        column, _, value = part.partition("=")
        column = column.strip()
        if column not in columns:
            raise QueryError(f"corrected value names column {column!r}, which the query is not "
                             f"about (columns: {', '.join(columns)}).", column=column)
        out[column] = value.strip() or None
    if not out:
        raise QueryError(f"corrected value {text!r} names no column.")
    return out


def accept_answer(store: Store, query_id: int, *, resolution: str | None = None,
                  comment: str | None = None) -> AcceptResult:
    """A curator accepts the answer to an answered query (see the module docstring)."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id)
        trial = session.get(Trial, query.trial_id)
        assert trial is not None  # a foreign key
        require(session, actor, "corrections.accept", trial=trial.acronym)
        if query.status != "answered":
            raise QueryError(f"query {query.id} is {query.status}, not answered; only answered "
                             "queries can be accepted.", query=query.id, status=query.status)
        answer = last_response(query)
        assert answer is not None
        code, value = answer.response_code or "other", answer.corrected_value
        if resolution is None:
            if code == "confirmed_correct":
                resolution = "confirmed_correct"
            elif value:
                resolution = "corrected"
            elif code == "data_missing":
                resolution = "cannot_be_resolved"
            else:
                raise QueryError(
                    f"query {query.id} was answered {code!r} without a corrected value; choose "
                    "a resolution (--resolution cannot_be_resolved|confirmed_correct) or re-ask "
                    "the trial.", query=query.id)
        made: list[Correction] = []
        if resolution == "corrected":
            if not value:
                raise QueryError(f"query {query.id}: the answer has no corrected value to apply.",
                                 query=query.id)
            if not query.participant or not query.source_columns:
                raise QueryError(f"query {query.id} is about the whole trial; its answer cannot "
                                 "be applied as a cell correction (ask for a new delivery).",
                                 query=query.id)
            delivery = _current_delivery(session, trial)
            raw = load_delivery(store, delivery)
            pseudonyms = pseudonymised_ids(store, topic.slug, trial.acronym,
                                           raw.frame[delivery.id_column])
            occurrence = _occurrence(query, pseudonyms)
            values = parse_corrected_values(value, list(query.source_columns))
            for column, new in values.items():
                made.append(record_correction(
                    session, topic, trial, delivery=delivery, frame=raw.frame,
                    pseudonyms=pseudonyms, participant=query.participant,
                    source_column=column, new_value=new, query=query,
                    variable=query.variable, occurrence=occurrence, actor=actor,
                    reason=f"query {query.id} answered {code.replace('_', ' ')} by "
                           f"{answer.author}" + (f": {answer.comment}" if answer.comment else "")))
                if column == delivery.id_column and new:
                    _register_participant(session, store, topic.slug, trial, delivery, new)
        resolve(session, query, actor=actor, topic=topic.slug, resolution=resolution,
                comment=comment)
        return AcceptResult(query=query.id, resolution=resolution,
                            corrections=tuple(correction_to_dict(c, trial.acronym)
                                              for c in made))


def reask(store: Store, query_id: int, *, comment: str) -> None:
    """Send an answered query back to the trial with a comment (it goes out again as sent)."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id)
        trial = session.get(Trial, query.trial_id)
        assert trial is not None  # a foreign key
        require(session, actor, "queries.manage", trial=trial.acronym)
        query.question = f"{query.question}\nCurator: {comment}"
        mark_sent(session, query, actor=actor, topic=topic.slug)


def _current_delivery(session: Any, trial: Trial) -> Delivery:
    from repository.deliveries import current_delivery

    return current_delivery(trial)


def _occurrence(query: Query, pseudonyms: list[str | None]) -> int:
    """Which of the participant's rows the query is about (1 unless their ID repeats)."""
    positions = participant_rows(pseudonyms, query.participant or "")
    if len(positions) > 1 and query.rows:
        row = int(query.rows[0])
        if row - 1 in positions:
            return positions.index(row - 1) + 1
    return 1


def _register_participant(session: Any, store: Store, topic: str, trial: Trial,
                          delivery: Delivery, raw_id: str) -> None:
    pseudonym = store.pseudonymiser(topic).pseudonym(trial.acronym, raw_id)
    exists = session.scalar(select(Participant.id).where(Participant.trial_id == trial.id,
                                                         Participant.pseudonym == pseudonym))
    if exists is None:
        session.add(Participant(trial_id=trial.id, pseudonym=pseudonym,
                                first_delivery_id=delivery.id))
