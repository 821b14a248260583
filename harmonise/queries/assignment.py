"""Who on the trial's team should answer a query: a curator assigns it to one of the trial's
trialists (REDCap's DRW "assign to user").

An assignment is an entry of the query's thread (kind ``assign``, the assignee in its comment),
so it is kept, dated and attributed like everything else in the thread, and audited; the
latest one counts. Assigning does not change the query's status.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from repository import audit
from repository.errors import QueryError
from repository.models import Query, QueryMessage, Trial, User, utcnow
from repository.roles import get_user, require

__all__ = ["assign", "assignee"]


def assignee(query: Query) -> str | None:
    """The user the query is assigned to now (None: the trial's whole team)."""
    for msg in reversed(query.messages):
        if msg.kind == "assign":
            return msg.comment or None
    return None


def assign(session: Session, query: Query, *, actor: str, topic: str, user: str | None) -> None:
    """Assign ``query`` to trialist ``user`` of its trial (None: to the whole team)."""
    trial = session.get(Trial, query.trial_id)
    assert trial is not None  # a foreign key
    require(session, actor, "queries.manage", trial=trial.acronym)
    if user:
        row: User = get_user(session, user)
        if row.role != "trialist" or row.trial_id != trial.id or not row.active:
            raise QueryError(f"query {query.id}: {user!r} is not an active trialist of trial "
                             f"{trial.acronym}; assign it to one of the trial's trialists "
                             "(`ipdrepo user list`).", query=query.id, user=user)
    session.add(QueryMessage(query_id=query.id, author=actor, kind="assign",
                             status_from=query.status, status_to=query.status,
                             comment=user or ""))
    query.updated_at = utcnow()
    audit.append(session, actor=actor, action="query.assign", topic=topic, entity_type="query",
                 entity_id=query.id, details={"assignee": user})
    session.flush()
