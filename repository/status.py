"""What the store holds: per-trial summary of registry, deliveries and participants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from repository.models import Delivery, Participant, Topic

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TopicStatus", "topic_status"]


@dataclass(frozen=True)
class TopicStatus:
    topic: str
    title: str
    trials: tuple[dict[str, Any], ...]
    audit_events: int

    @property
    def summary(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(list(self.trials), columns=[
            "trial", "registry_ids", "arms", "randomised_published", "deliveries",
            "current_file", "format", "rows", "participants", "last_ingested"])

    def totals(self) -> dict[str, int]:
        return {
            "trials": len(self.trials),
            "trials_with_data": sum(1 for t in self.trials if t["deliveries"]),
            "deliveries": sum(t["deliveries"] for t in self.trials),
            "participants": sum(t["participants"] for t in self.trials),
            "randomised_published": sum(t["randomised_published"] or 0 for t in self.trials),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "title": self.title, "totals": self.totals(),
                "trials": list(self.trials), "audit_events": self.audit_events}

    def _repr_html_(self) -> str:
        return (f"<h4>Topic {self.topic}: {self.title}</h4>" +
                self.summary.to_html(index=False, na_rep=""))


def topic_status(session: Session, topic: Topic, *, actor: str) -> TopicStatus:
    """What the store holds, as ``actor`` may see it: every trial for a curator, their own
    trial for a trialist (and the audit events they may see); analysts are refused."""
    from repository.audit_view import count_visible_events
    from repository.trials import visible_trials

    trials = visible_trials(session, topic, actor=actor)
    participants: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
        select(Participant.trial_id, func.count())
        .where(Participant.trial_id.in_([t.id for t in trials]))
        .group_by(Participant.trial_id)).all())
    rows = []
    for trial in trials:
        deliveries = list(trial.deliveries)
        current = [d for d in deliveries if d.is_current]
        latest: Delivery | None = max(current, key=lambda d: d.id) if current else None
        rows.append({
            "trial": trial.acronym,
            "registry_ids": ", ".join(r["id"] for r in trial.registry_ids or []),
            "arms": " / ".join(f"{a.label} ({a.randomised_published if a.randomised_published is not None else '?'})"
                               for a in trial.arms),
            "randomised_published": trial.randomised_published,
            "deliveries": len(deliveries),
            "current_file": latest.file_name if latest else None,
            "format": latest.format if latest else None,
            "rows": sum(d.n_rows for d in current) if current else None,
            "participants": int(participants.get(trial.id, 0)),
            "last_ingested": latest.ingested_at.strftime("%Y-%m-%d %H:%M") if latest else None,
        })
    return TopicStatus(topic=topic.slug, title=topic.title, trials=tuple(rows),
                       audit_events=count_visible_events(session, actor=actor))
