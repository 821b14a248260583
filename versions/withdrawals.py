"""Consent withdrawal: a participant leaves every later release and extract.

:func:`withdraw` records who withdrew (the repository pseudonym), why, who recorded it and when,
with an audit event. From then on :func:`versions.create_release` drops the participant's rows
and lists the withdrawal in the manifest (``withdrawals``), and extracts made for data requests
leave the participant out even when they come from an earlier release. Earlier releases are not
touched: their bytes stay in the DVC remote, so analyses that used them remain reproducible, and
later manifests say which withdrawals they applied. (DVC cannot purge a file from history,
treeverse/dvc#4903; a withdrawal that must also remove old bytes needs the remote's own tools
and breaks those releases, which ``ipdrepo release verify`` then reports.)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import AlreadyExists, NotFound, ReleaseError
from repository.models import Participant, Topic, Trial, Withdrawal
from repository.pseudonyms import normalise_raw_id
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial
from versions.dataset import Withdrawn

__all__ = ["WithdrawalRecord", "WithdrawalList", "withdraw", "list_withdrawals",
           "withdrawn_participants"]


@dataclass(frozen=True)
class WithdrawalRecord:
    id: int
    trial: str
    participant: str
    reason: str
    requested_on: date | None
    recorded_by: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "trial": self.trial, "participant": self.participant,
                "reason": self.reason,
                "requested_on": self.requested_on.isoformat() if self.requested_on else None,
                "recorded_by": self.recorded_by, "recorded_at": self.recorded_at}


SUMMARY_COLUMNS = ["id", "trial", "participant", "reason", "requested_on", "recorded_by",
                   "recorded_at"]


@dataclass(frozen=True)
class WithdrawalList:
    """Every withdrawal of a topic. ``summary`` columns: id, trial, participant, reason,
    requested_on, recorded_by, recorded_at."""

    topic: str
    withdrawals: tuple[WithdrawalRecord, ...]

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([w.to_dict() for w in self.withdrawals], columns=SUMMARY_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "withdrawals": [w.to_dict() for w in self.withdrawals]}

    def __len__(self) -> int:
        return len(self.withdrawals)

    def __repr__(self) -> str:
        return f"WithdrawalList(topic={self.topic!r}, withdrawals={len(self.withdrawals)})"

    def _repr_html_(self) -> str:
        return (f"<p><b>Consent withdrawals</b> in {html.escape(self.topic)}: "
                f"{len(self.withdrawals)}</p>" + self.summary.to_html(index=False))


def _record(w: Withdrawal, trial: str) -> WithdrawalRecord:
    return WithdrawalRecord(id=w.id, trial=trial, participant=w.participant, reason=w.reason,
                            requested_on=w.requested_on, recorded_by=w.recorded_by,
                            recorded_at=w.recorded_at.isoformat(timespec="seconds"))


def withdraw(store: Store, trial: str, participant: str, *, reason: str,
             raw_id: bool = False, requested_on: date | None = None,
             topic: str | None = None) -> WithdrawalRecord:
    """Record that ``participant`` of ``trial`` withdrew consent.

    ``participant`` is the repository pseudonym; with ``raw_id=True`` it is the trial's own ID,
    which is pseudonymised with the repository secret (only curators hold it) and never stored.
    """
    if not reason or not reason.strip():
        raise ReleaseError("a consent withdrawal needs a reason (e.g. 'participant withdrew "
                           "consent for further use of data, letter of 2024-03-01').",
                           trial=trial, participant=participant)
    actor = store.settings.actor
    with store.transaction() as session:
        require(session, actor, "store.write")
        topic_row = store.topic(session, topic)
        trial_row = get_trial(session, topic_row, trial)
        pseudonym = participant
        if raw_id:
            normalised = normalise_raw_id(participant)
            if normalised is None:
                raise ReleaseError("the participant ID is blank.", trial=trial)
            pseudonym = store.pseudonymiser(topic_row.slug).pseudonym(trial_row.acronym,
                                                                       normalised)
        known = session.scalar(select(Participant.id).where(
            Participant.trial_id == trial_row.id, Participant.pseudonym == pseudonym))
        if known is None:
            what = "the trial's own ID given" if raw_id else f"pseudonym {pseudonym}"
            raise NotFound(
                f"trial {trial_row.acronym} has no participant with {what}; check the ID "
                "(pass --raw-id when giving the trial's own ID, which needs the repository "
                "secret) and that the participant's delivery was ingested.",
                trial=trial_row.acronym, participant=pseudonym if not raw_id else None)
        existing = session.scalar(select(Withdrawal).where(
            Withdrawal.trial_id == trial_row.id, Withdrawal.participant == pseudonym))
        if existing is not None:
            raise AlreadyExists(
                f"participant {pseudonym} of trial {trial_row.acronym} already withdrew "
                f"(recorded by {existing.recorded_by} on "
                f"{existing.recorded_at.date().isoformat()}); nothing to do.",
                trial=trial_row.acronym, participant=pseudonym)
        row = Withdrawal(topic_id=topic_row.id, trial_id=trial_row.id, participant=pseudonym,
                         reason=reason.strip(), requested_on=requested_on, recorded_by=actor)
        session.add(row)
        session.flush()
        audit.append(session, actor=actor, action="consent.withdraw", topic=topic_row.slug,
                     entity_type="withdrawal", entity_id=row.id,
                     details={"trial": trial_row.acronym, "participant": pseudonym,
                              "reason": row.reason,
                              "requested_on": requested_on.isoformat() if requested_on
                              else None})
        return _record(row, trial_row.acronym)


def _rows(session: Session, topic: Topic) -> Sequence[tuple[Withdrawal, str]]:
    return session.execute(
        select(Withdrawal, Trial.acronym).join(Trial, Trial.id == Withdrawal.trial_id)
        .where(Withdrawal.topic_id == topic.id)
        .order_by(Trial.acronym, Withdrawal.participant)).tuples().all()


def list_withdrawals(store: Store, *, topic: str | None = None) -> WithdrawalList:
    with store.reading() as session:
        require(session, store.settings.actor, "store.write")
        topic_row = store.topic(session, topic)
        return WithdrawalList(topic=topic_row.slug,
                              withdrawals=tuple(_record(w, t) for w, t in _rows(session,
                                                                                  topic_row)))


def withdrawn_participants(session: Session, topic: Topic) -> list[Withdrawn]:
    """The withdrawals a release or extract made now must apply."""
    return [Withdrawn(trial=t, participant=w.participant,
                      recorded_on=w.recorded_at.date().isoformat())
            for w, t in _rows(session, topic)]
