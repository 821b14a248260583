"""E-mail notifications: invitations, questions sent to a trial, reminders of overdue questions,
and the curators' daily digest, sent through the SMTP server of the settings (``smtp_host``
and friends; unset: nothing is sent and the pages show the links instead).

The e-mails carry no data: counts, question numbers and links to the pages, where the reader
signs in. A trialist's e-mail names only their own trial's questions. Composing is pure
(:func:`invitation_message`, ...); :func:`send` talks SMTP; :func:`reminders` and
:func:`digest` gather what to say from the store (``ipdrepo notify reminders|digest``, run
daily by cron or a systemd timer).
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, NamedTuple

from repository.errors import ConfigError
from repository.settings import Settings

__all__ = ["MailSettings", "send", "invitation_message", "questions_message",
           "reminder_message", "digest_message", "send_invitation", "send_questions",
           "reminders", "due_reminders", "send_reminders", "Reminder", "digest"]


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int = 25
    sender: str = "ipdrepo@localhost"
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    reminder_days: int = 14

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None
                      ) -> MailSettings:
        def get(name: str) -> str | None:
            return settings.setting(name, env)

        def number(name: str) -> int:
            text = get(name) or ""
            if not text.isdigit() or int(text) <= 0:
                raise ConfigError(f"setting {name} must be a positive whole number, not "
                                  f"{text!r}.", setting=name, value=text)
            return int(text)

        return cls(host=get("smtp_host") or None, port=number("smtp_port"),
                   sender=get("smtp_from") or "ipdrepo@localhost",
                   starttls=(get("smtp_starttls") or "").strip().lower() in ("true", "1",
                                                                             "yes"),
                   user=get("smtp_user") or None, password=get("smtp_password") or None,
                   public_url=(get("public_url") or "").rstrip("/"),
                   reminder_days=number("reminder_days"))


def _message(mail: MailSettings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body + "\n\n-- \nipdrepo, the topic's IPD repository. This e-mail holds no "
                    "participant data; sign in to see the details.\n")
    return msg


def send(mail: MailSettings, messages: Sequence[EmailMessage]) -> int:
    """Send ``messages`` over one SMTP connection; the number sent (0 when mail is off)."""
    if not mail.enabled or not messages:
        return 0
    assert mail.host is not None
    try:
        with smtplib.SMTP(mail.host, mail.port, timeout=30) as smtp:
            if mail.starttls:
                smtp.starttls()
            if mail.user:
                smtp.login(mail.user, mail.password or "")
            for msg in messages:
                smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise ConfigError(f"could not send e-mail through {mail.host}:{mail.port}: {exc}; "
                          "check the smtp_* settings (`ipdrepo --help`).",
                          setting="smtp_host") from exc
    return len(messages)


# --- what the e-mails say -------------------------------------------------------------------

def invitation_message(mail: MailSettings, *, to: str, user: str, role: str,
                       trial: str | None, url: str, expires: str) -> EmailMessage:
    what = {"trialist": f"answer the data curators' questions about trial {trial}",
            "curator": "curate the topic's data",
            "analyst": "reach the data of your approved requests"}.get(role, "use ipdrepo")
    body = (f"Hello,\n\nyou are invited to ipdrepo as {user} ({role}), to {what}.\n\n"
            f"Open this link to choose your password (it works once, until {expires} UTC):\n"
            f"{url}\n\nThen sign in at {mail.public_url}/sign-in with the user name {user}.")
    return _message(mail, to, "Your ipdrepo invitation", body)


def questions_message(mail: MailSettings, *, to: str, name: str, trial: str,
                      count: int) -> EmailMessage:
    body = (f"Hello {name},\n\nthe data curators sent {count} question(s) about the data of "
            f"trial {trial}. Please answer them at\n{mail.public_url}/queries\n\nEach "
            "question shows the values as you sent them and how to write a correction; you "
            "can also answer them all in a workbook.")
    return _message(mail, to, f"{count} question(s) about trial {trial}", body)


def reminder_message(mail: MailSettings, *, to: str, name: str, trial: str,
                     overdue: Sequence[tuple[int, int]]) -> EmailMessage:
    lines = "\n".join(f"  - question {qid}: waiting {days} days, "
                      f"{mail.public_url}/queries/{qid}" for qid, days in overdue)
    body = (f"Hello {name},\n\n{len(overdue)} question(s) about trial {trial} have waited "
            f"for an answer for more than {mail.reminder_days} days:\n{lines}\n\nAll your "
            f"questions: {mail.public_url}/queries?status=waiting")
    return _message(mail, to, f"Reminder: {len(overdue)} question(s) about trial {trial} "
                    "are overdue", body)


def digest_message(mail: MailSettings, *, to: str, name: str, metrics: Sequence[Any],
                   pending_uploads: int, when: datetime) -> EmailMessage:
    rows = "\n".join(f"  {m.trial:<16} waiting {m.waiting:>4}  overdue {m.overdue:>4}  "
                     f"to review {m.to_review:>4}  resolved {m.resolved:>4}" for m in metrics)
    review = sum(m.to_review for m in metrics)
    body = (f"Hello {name},\n\nthe repository on {when:%Y-%m-%d}:\n\n{rows or '  no questions'}"
            f"\n\n{review} answer(s) wait for your review: {mail.public_url}/queries?status="
            f"answered\n{pending_uploads} upload(s) wait to be ingested or rejected: "
            f"{mail.public_url}/uploads")
    return _message(mail, to, f"ipdrepo digest {when:%Y-%m-%d}: {review} to review, "
                    f"{sum(m.overdue for m in metrics)} overdue", body)


# --- gathering from the store ---------------------------------------------------------------

def send_invitation(service: Any, *, to: str, user: str, role: str, trial: str | None,
                    url: str, expires: str) -> int:
    mail = MailSettings.from_settings(service.store.settings)
    return send(mail, [invitation_message(mail, to=to, user=user, role=role, trial=trial,
                                          url=url, expires=expires)])


def _trialists(session: Any, trial: str) -> list[dict[str, Any]]:
    from repository.roles import list_users

    return [u for u in list_users(session) if u["role"] == "trialist" and u["trial"] == trial
            and u["active"] and u["email"]]


def send_questions(store: Any, trial: str, *, actor: str) -> tuple[int, int]:
    """Mark the trial's open and reopened questions sent and e-mail its trialists: (questions
    sent, e-mails sent)."""
    from harmonise.queries.lifecycle import list_queries, mark_sent

    mail = MailSettings.from_settings(store.settings)
    with store.transaction() as session:
        topic = store.topic(session)
        queries = list_queries(session, topic, actor=actor, trial=trial,
                               status=("open", "reopened"))
        for q in queries:
            mark_sent(session, q, actor=actor, topic=topic.slug)
        people = _trialists(session, trial) if queries else []
    messages = [questions_message(mail, to=u["email"], name=u["name"], trial=trial,
                                  count=len(queries)) for u in people]
    return len(queries), send(mail, messages)


class Reminder(NamedTuple):
    """One reminder due: to whom, about which of their trial's overdue questions (recorded in
    the audit log once sent)."""

    user: str
    trial: str
    queries: tuple[int, ...]
    message: EmailMessage


#: the audit action recording a reminder sent (what makes reminders once a day)
REMINDER_SENT = "notify.reminder"


def _reminded(session: Any, day: str, now: datetime) -> set[tuple[str, int]]:
    """(user, question) pairs already reminded on ``day`` (UTC), from the audit log."""
    from sqlalchemy import select

    from repository.models import AuditEvent

    events = session.scalars(select(AuditEvent).where(
        AuditEvent.action == REMINDER_SENT, AuditEvent.at >= now - timedelta(days=2)))
    return {(str(e.entity_id), int(q)) for e in events
            if (e.details or {}).get("day") == day for q in (e.details or {}).get("queries", [])}


def due_reminders(store: Any, *, now: datetime, mail: MailSettings | None = None
                  ) -> list[Reminder]:
    """One reminder per trialist of each trial with overdue questions (only that trial's),
    leaving out the questions that trialist was already reminded of on ``now``'s day (UTC):
    running the daily job twice sends each reminder once."""
    from harmonise.queries.lifecycle import list_queries, query_to_dict
    from harmonise.queries.metrics import is_overdue, waiting_days

    mail = mail or MailSettings.from_settings(store.settings)
    day = now.astimezone(UTC).date().isoformat()
    out = []
    with store.reading() as session:
        topic = store.topic(session)
        records = [query_to_dict(session, q, thread=True) for q in list_queries(
            session, topic, actor=store.settings.actor, status=("sent", "reopened"))]
        done = _reminded(session, day, now)
        for trial in sorted({r["trial"] for r in records}):
            overdue = [(r["id"], int(waiting_days(r, now) or 0)) for r in records
                       if r["trial"] == trial and is_overdue(r, now, mail.reminder_days)]
            for u in _trialists(session, trial) if overdue else []:
                mine = [(qid, days) for qid, days in overdue if (u["name"], qid) not in done]
                if mine:
                    out.append(Reminder(u["name"], trial, tuple(q for q, _ in mine),
                                        reminder_message(mail, to=u["email"], name=u["name"],
                                                         trial=trial, overdue=mine)))
    return out


def reminders(store: Any, *, now: datetime, mail: MailSettings | None = None
              ) -> list[EmailMessage]:
    """The reminder e-mails due (see :func:`due_reminders`)."""
    return [r.message for r in due_reminders(store, now=now, mail=mail)]


def send_reminders(store: Any, *, now: datetime, mail: MailSettings) -> int:
    """Send the reminders due and record each in the audit log (so a second run on the same
    day does not send them again); the number of e-mails sent."""
    from repository import audit

    due = due_reminders(store, now=now, mail=mail)
    sent = send(mail, [r.message for r in due])
    if sent:
        day = now.astimezone(UTC).date().isoformat()
        with store.transaction() as session:
            topic = store.topic(session)
            for r in due:
                audit.append(session, actor=store.settings.actor, action=REMINDER_SENT,
                             topic=topic.slug, entity_type="user", entity_id=r.user,
                             details={"day": day, "trial": r.trial, "queries": list(r.queries)})
    return sent


def digest(store: Any, *, now: datetime, mail: MailSettings | None = None
           ) -> list[EmailMessage]:
    """The daily digest for every active curator with an e-mail address."""
    from harmonise.queries.lifecycle import list_queries, query_to_dict
    from harmonise.queries.metrics import query_metrics
    from repository.roles import list_users
    from repository.uploads import list_uploads

    mail = mail or MailSettings.from_settings(store.settings)
    with store.reading() as session:
        topic = store.topic(session)
        records = [query_to_dict(session, q, thread=True) for q in list_queries(
            session, topic, actor=store.settings.actor)]
        curators = [u for u in list_users(session)
                    if u["role"] == "curator" and u["active"] and u["email"]]
    metrics = query_metrics(records, now=now, overdue_days=mail.reminder_days)
    pending = len(list_uploads(store, status="pending"))
    return [digest_message(mail, to=u["email"], name=u["name"], metrics=metrics,
                           pending_uploads=pending, when=now) for u in curators]
