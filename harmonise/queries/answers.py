"""Accepting trialists' answers: an answered question becomes a resolution and, where the answer
gives corrected values, attributed corrections of the trial's raw cells. Accepting a question
settles every finding behind it: the next validation re-checks them all (a correction that did
not fix one reopens the question).

============================  =================================================================
answer (response code)        accepted as
============================  =================================================================
typographical_error + value   correction(s) of the question's cell(s); resolved *corrected*
data_missing + value(s)       likewise (the values were found; a question about several
                              participants takes one value per participant)
data_missing, no value        resolved *cannot be resolved* (the data do not exist)
confirmed_correct             resolved *confirmed correct*: the values stay, later runs of the
                              checks accept them (unless a value changes)
wrong_source / other          the curator chooses: with a value, corrected; without, cannot be
                              resolved - or re-asks the trial (:func:`reask`)
============================  =================================================================

The corrected value is written in the trial's own coding, as the workbook showed the value. A
question about several cells takes ``LABEL=value; LABEL2=value`` (labels are the trial's
column names, or ``row N`` for one column on several rows, e.g. a repeated participant ID).

:func:`accept_answers` accepts several answers all or nothing: if any of them cannot be
accepted, none is, and the error lists every one that failed and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harmonise.queries.corrections import correction_to_dict, participant_rows, record_correction
from harmonise.queries.lifecycle import _move, get_query, last_response, resolve
from harmonise.queries.row_corrections import record_row_correction
from repository.deliveries import current_delivery, load_delivery, pseudonymised_ids
from repository.errors import QueryError
from repository.models import Correction, Delivery, Participant, Query, Topic, Trial
from repository.roles import require
from repository.store import Store

__all__ = ["AcceptResult", "accept_answer", "accept_answers", "reask",
           "parse_corrected_values", "planned_cells"]


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


def _question_cells(query: Query) -> list[dict[str, Any]]:
    """The cells a question may correct, with the labels the trial writes them by."""
    cells = [dict(c) for c in (query.detail or {}).get("cells", [])]
    if cells:
        return cells
    rows = list(query.rows or [])
    row = int(rows[0]) if len(rows) == 1 else None
    return [{"row": row, "column": str(c), "label": str(c), "participant": query.participant}
            for c in query.source_columns or []]


def planned_cells(query: Query, value: str | None,
                  cells: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The raw cells an answer corrects: ``{participant, row, column, value}`` each."""
    if cells:
        return [{"participant": c.get("participant"), "row": c.get("row"),
                 "column": str(c["column"]), "value": c.get("value"),
                 "dataset": str(c.get("dataset") or "main")} for c in cells]
    if not value:
        return []
    known = _question_cells(query)
    if not known:
        raise QueryError(f"query {query.id} is about the whole trial; its answer cannot be "
                         "applied as a cell correction (ask for a new delivery).",
                         query=query.id)
    labels = [str(c.get("label") or c["column"]) for c in known]
    by_label = {str(c.get("label") or c["column"]): c for c in known}
    out = []
    for label, new in parse_corrected_values(value, labels).items():
        cell = by_label[label]
        out.append({"participant": cell.get("participant") or query.participant,
                    "row": cell.get("row"), "column": str(cell["column"]), "value": new,
                    "dataset": str(cell.get("dataset") or "main")})
    return out


class _Raw:
    """Each trial's current deliveries, read once, with their pseudonyms."""

    def __init__(self, store: Store, topic: Topic) -> None:
        self.store, self.topic = store, topic
        self.loaded: dict[tuple[int, str], tuple[Delivery, Any, list[str | None]]] = {}

    def of(self, trial: Trial, dataset: str = "main") -> tuple[Delivery, Any, list[str | None]]:
        """The current delivery of ``dataset`` ("main": the participant table's own dataset,
        the mapping's ``source.dataset`` when the trial delivered several)."""
        if (trial.id, dataset) not in self.loaded:
            delivery = current_delivery(trial, self._named(trial, dataset))
            raw = load_delivery(self.store, delivery)
            pseudonyms = pseudonymised_ids(self.store, self.topic.slug, trial.acronym,
                                           raw.frame[delivery.id_column])
            self.loaded[(trial.id, dataset)] = (delivery, raw.frame, pseudonyms)
        return self.loaded[(trial.id, dataset)]

    def _named(self, trial: Trial, dataset: str) -> str:
        if dataset != "main" or any(d.is_current and d.dataset == "main"
                                    for d in trial.deliveries):
            return dataset
        from harmonise.mapping.stored import load_topic_dictionary, load_trial_mapping

        mapping = load_trial_mapping(self.store, load_topic_dictionary(self.store), trial.acronym)
        return mapping.source.dataset


def _occurrence(pseudonyms: list[str | None], participant: str, row: int | None) -> int:
    """Which of the participant's rows a cell is on (1 unless their ID repeats)."""
    positions = participant_rows(pseudonyms, participant)
    if row is not None and row - 1 in positions:
        return positions.index(row - 1) + 1
    return 1


def _who(pseudonyms: list[str | None], cell: Mapping[str, Any]) -> str | None:
    participant = cell.get("participant")
    if participant:
        return str(participant)
    row = cell.get("row")
    if row is not None and 1 <= int(row) <= len(pseudonyms):
        return pseudonyms[int(row) - 1]
    return None


def _resolution(query: Query, code: str, value: str | None, cells: Any,
                resolution: str | None) -> str:
    if resolution is not None:
        return resolution
    if code == "confirmed_correct":
        return "confirmed_correct"
    if value or cells:
        return "corrected"
    if code == "data_missing":
        return "cannot_be_resolved"
    raise QueryError(f"query {query.id} was answered {code!r} without a corrected value; "
                     "choose a resolution (--resolution cannot_be_resolved|confirmed_correct) "
                     "or re-ask the trial.", query=query.id)


def _accept(session: Session, store: Store, topic: Topic, raws: _Raw, query: Query, *,
            actor: str, resolution: str | None, comment: str | None) -> AcceptResult:
    trial = session.get(Trial, query.trial_id)
    assert trial is not None  # a foreign key
    require(session, actor, "corrections.accept", trial=trial.acronym)
    if query.status != "answered":
        raise QueryError(f"query {query.id} is {query.status}, not answered; only answered "
                         "queries can be accepted.", query=query.id, status=query.status)
    answer = last_response(query)
    assert answer is not None
    code, value = answer.response_code or "other", answer.corrected_value
    chosen = _resolution(query, code, value, answer.cells, resolution)
    made: list[Correction] = []
    if chosen == "corrected":
        planned = planned_cells(query, value, answer.cells)
        if not planned:
            raise QueryError(f"query {query.id}: the answer has no corrected value to apply.",
                             query=query.id)
        reason = (f"query {query.id} answered {code.replace('_', ' ')} by {answer.author}"
                  + (f": {answer.comment}" if answer.comment else ""))
        for cell in planned:
            if cell.get("dataset", "main") != "main":  # a row of a long dataset, by its key
                made.append(_row_correction(session, topic, raws, trial, query, cell,
                                            reason=reason, actor=actor))
                continue
            delivery, frame, pseudonyms = raws.of(trial)
            who = _who(pseudonyms, cell)
            if who is None:
                raise QueryError(f"query {query.id}: row {cell.get('row')} of trial "
                                 f"{trial.acronym} has no participant ID to correct it by; "
                                 "ask the trial for a new delivery.", query=query.id)
            row = None if cell.get("row") is None else int(cell["row"])
            made.append(record_correction(
                session, topic, trial, delivery=delivery, frame=frame, pseudonyms=pseudonyms,
                participant=who, source_column=str(cell["column"]), new_value=cell["value"],
                query=query, variable=query.variable, actor=actor, reason=reason,
                occurrence=_occurrence(pseudonyms, who, row)))
            if cell["column"] == delivery.id_column and cell["value"]:
                _register_participant(session, store, topic.slug, trial, delivery,
                                      str(cell["value"]))
    resolve(session, query, actor=actor, topic=topic.slug, resolution=chosen, comment=comment)
    return AcceptResult(query=query.id, resolution=chosen,
                        corrections=tuple(correction_to_dict(c, trial.acronym) for c in made))


def _row_correction(session: Session, topic: Topic, raws: _Raw, trial: Trial, query: Query,
                    cell: Mapping[str, Any], *, reason: str, actor: str) -> Correction:
    """An answer's cell on a row of a long dataset, as a correction keyed by the row's key."""
    delivery, frame, pseudonyms = raws.of(trial, str(cell["dataset"]))
    if cell.get("row") is None:
        raise QueryError(f"query {query.id}: the cell {cell['column']} of dataset "
                         f"{cell['dataset']} names no row; ask the trial for a new delivery.",
                         query=query.id)
    return record_row_correction(session, topic, trial, delivery=delivery, frame=frame,
                                 pseudonyms=pseudonyms, row=int(cell["row"]),
                                 source_column=str(cell["column"]), new_value=cell["value"],
                                 reason=reason, actor=actor, query=query,
                                 variable=query.variable)


def accept_answers(store: Store, query_ids: Iterable[int], *, resolution: str | None = None,
                   comment: str | None = None) -> list[AcceptResult]:
    """Accept the answers of ``query_ids`` (curators), all or nothing: in one transaction; if
    any of them cannot be accepted, none is, and one :class:`QueryError` lists every query
    that failed with the reason (and how many others were fine but not accepted either)."""
    actor = store.settings.actor
    ids = list(dict.fromkeys(query_ids))
    with store.transaction() as session:
        topic = store.topic(session)
        raws = _Raw(store, topic)
        results: list[AcceptResult] = []
        failed: list[tuple[int, str]] = []
        for qid in ids:
            try:
                query = get_query(session, topic, qid)
                results.append(_accept(session, store, topic, raws, query, actor=actor,
                                       resolution=resolution, comment=comment))
            except QueryError as exc:
                failed.append((qid, exc.message))
        if failed:
            lines = "\n".join(f"  - query {qid}: {why}" for qid, why in failed)
            raise QueryError(
                f"{len(failed)} of {len(ids)} answer(s) cannot be accepted, so none was "
                f"accepted ({len(results)} other(s) were fine and are still answered). Decide "
                f"these first (--resolution, `ipdrepo queries reask`, or leave them out), then "
                f"accept again:\n{lines}", queries=[q for q, _ in failed])
        return results


def accept_answer(store: Store, query_id: int, *, resolution: str | None = None,
                  comment: str | None = None) -> AcceptResult:
    """A curator accepts the answer to an answered question (see the module docstring)."""
    return accept_answers(store, [query_id], resolution=resolution, comment=comment)[0]


def reask(store: Store, query_id: int, *, comment: str) -> None:
    """Send an answered query back to the trial with a comment (it goes out again as sent)."""
    actor = store.settings.actor
    with store.transaction() as session:
        topic = store.topic(session)
        query = get_query(session, topic, query_id)
        trial = session.get(Trial, query.trial_id)
        assert trial is not None  # a foreign key
        require(session, actor, "queries.manage", trial=trial.acronym)
        if query.status != "answered":
            raise QueryError(f"query {query.id} is {query.status}; only an answered query can "
                             "be re-asked (reopen a closed or resolved one).", query=query.id)
        _move(session, query, "sent", author=actor, kind="reask", topic=topic.slug,
              comment=comment)


def _register_participant(session: Any, store: Store, topic: str, trial: Trial,
                          delivery: Delivery, raw_id: str) -> None:
    pseudonym = store.pseudonymiser(topic).pseudonym(trial.acronym, raw_id)
    exists = session.scalar(select(Participant.id).where(Participant.trial_id == trial.id,
                                                         Participant.pseudonym == pseudonym))
    if exists is None:
        session.add(Participant(trial_id=trial.id, pseudonym=pseudonym,
                                first_delivery_id=delivery.id))
