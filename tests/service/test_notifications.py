"""E-mail notifications through a real SMTP server (aiosmtpd on 127.0.0.1): an invitation
from the users page, questions sent to a trial, reminders of overdue questions (each trial's
trialists hear only of their own trial), and the curators' digest - by the server and by
``ipdrepo notify``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.service.test_pages import csrf, post, signed_in
from tests.service.world import LONG_AGO, ROOT, Server, World, build_world, free_port


class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.received if address in rcpt]

    def clear(self) -> None:
        self.received.clear()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def mail_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = Path(tmp_path_factory.mktemp("mail"))
    world = build_world(root, f"sqlite:///{root / 'store.sqlite'}")
    from repository.service import accounts

    store = world.store()
    try:  # a second curator, with an e-mail address, for the digest
        with store.transaction() as session:
            accounts.invite(session, by="cur", name="cur2", role="curator",
                            email="cur2@curators.example.org")
    finally:
        store.close()
    return world


@pytest.fixture(scope="module")
def mail_server(mail_world: World, smtp: tuple[Inbox, int]) -> Iterator[Server]:
    srv = Server(mail_world, env={"IPDREPO_SMTP_HOST": "127.0.0.1",
                                  "IPDREPO_SMTP_PORT": str(smtp[1]),
                                  "IPDREPO_SMTP_FROM": "repository@consortium.example.org"})
    yield srv
    srv.stop()


def _body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_invitation_email_has_the_one_time_link(mail_server: Server,
                                                smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    inbox.clear()
    with signed_in(mail_server, "cur") as cur:
        page = post(cur, "/users", "/users", data={
            "name": "invited.one", "role": "trialist", "trial": "BETA-2",
            "email": "invited.one@beta-2.example.org"})
        assert page.status_code == 200, page.text
        shown = re.search(r'id="one-time-link">([^<]+)<', page.text)
        assert shown
    mails = inbox.to("invited.one@beta-2.example.org")
    assert len(mails) == 1
    assert mails[0]["From"] == "repository@consortium.example.org"
    body = _body(mails[0])
    assert shown.group(1) in body and "trial BETA-2" in body
    assert f"{mail_server.url}/welcome#" in body


def test_questions_sent_email_the_trials_own_team(mail_server: Server, mail_world: World,
                                                  smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    inbox.clear()
    with signed_in(mail_server, "cur") as cur:
        got = post(cur, "/queries", "/trials/ALPHA-1/send-questions", follow_redirects=True)
        assert got.status_code == 200 and "question(s) sent to trial ALPHA-1" in got.text
    got_mail = sorted(r for rcpt, _ in inbox.received for r in rcpt)
    assert got_mail == ["tri.a@alpha-1.example.org", "victim@alpha-1.example.org"]
    body = _body(inbox.to("tri.a@alpha-1.example.org")[0])
    assert f"{mail_server.url}/queries" in body
    for secret in mail_world.secrets_of["BETA-2"]:
        assert secret not in body


def _age_queries(world: World) -> None:
    """Make every sent question look sent 400 days ago."""
    from repository.models import Query, QueryMessage

    store = world.store()
    try:
        with store.transaction() as session:
            for q in session.query(Query).all():
                q.raised_at = q.raised_at - LONG_AGO
                for m in session.query(QueryMessage).filter_by(query_id=q.id):
                    m.at = m.at - LONG_AGO
    finally:
        store.close()


def test_reminders_and_digest(mail_server: Server, mail_world: World,
                              smtp: tuple[Inbox, int]) -> None:
    from repository.service.notifications import MailSettings, digest, reminders, send
    from repository.settings import load_settings

    inbox, port = smtp
    _age_queries(mail_world)  # ALPHA-1's questions were sent by the previous test
    with signed_in(mail_server, "cur") as cur:  # the resolve-issues list says so too
        listing = cur.get("/queries", params={"trial": "ALPHA-1"}).text
        assert '<strong class="error">overdue</strong>' in listing
        assert "waiting more than 14 days" in listing
    store = mail_world.store()
    try:
        settings = load_settings(mail_world.workspace, actor="cur", env={})
        mail = MailSettings.from_settings(settings, env={"IPDREPO_SMTP_HOST": "127.0.0.1",
                                                         "IPDREPO_SMTP_PORT": str(port)})
        now = datetime.now(UTC)
        due = reminders(store, now=now, mail=mail)
        assert sorted(m["To"] for m in due) == ["tri.a@alpha-1.example.org",
                                                "victim@alpha-1.example.org"]
        for m in due:
            assert "ALPHA-1" in m["Subject"]
            assert all(s not in m.get_content() for s in mail_world.secrets_of["BETA-2"])
        daily = digest(store, now=now, mail=mail)
        assert [m["To"] for m in daily] == ["cur2@curators.example.org"]
        text = daily[0].get_content()
        assert re.search(r"ALPHA-1\s+waiting\s+\d+\s+overdue\s+[1-9]", text)
        assert "upload(s) wait" in text
        inbox.clear()
        assert send(mail, [*due, *daily]) == 3
        assert len(inbox.received) == 3
    finally:
        store.close()


def _notify_env(world: World, port: int) -> dict[str, str]:
    """The environment of `ipdrepo notify` run by the curator against the test SMTP server."""
    return {"IPDREPO_USER": "cur", "IPDREPO_SMTP_HOST": "127.0.0.1",
            "IPDREPO_SMTP_PORT": str(port), "IPDREPO_DATABASE_URL": world.database_url,
            "PATH": "/usr/bin:/bin"}


def test_notify_command_sends_through_smtp(mail_world: World, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.clear()
    env = _notify_env(mail_world, port)
    done = subprocess.run([sys.executable, "-m", "repository", "-w", str(mail_world.workspace),
                           "notify", "digest"], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "1 e-mail(s) sent" in done.stdout
    assert inbox.to("cur2@curators.example.org")
    refused = subprocess.run([sys.executable, "-m", "repository", "-w",
                              str(mail_world.workspace), "notify", "reminders"],
                             capture_output=True, text=True, cwd=ROOT,
                             env={**env, "IPDREPO_USER": "tri.a"})
    assert refused.returncode != 0 and "curator" in (refused.stderr + refused.stdout)


def test_reminders_are_sent_once_a_day(mail_world: World, smtp: tuple[Inbox, int]) -> None:
    """The daily job run twice on one day: each overdue question's reminder goes out once."""
    from repository.service.notifications import MailSettings, reminders, send_questions

    inbox, port = smtp
    store = mail_world.store()  # ALPHA-1's questions sent (no mail: not set up), and overdue
    try:
        send_questions(store, "ALPHA-1", actor="cur")
    finally:
        store.close()
    _age_queries(mail_world)
    inbox.clear()
    env = _notify_env(mail_world, port)
    command = [sys.executable, "-m", "repository", "-w", str(mail_world.workspace), "notify",
               "reminders"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert "2 e-mail(s) sent" in first.stdout  # ALPHA-1's two trialists (aged questions)
    assert sorted(r for rcpt, _ in inbox.received for r in rcpt) == [
        "tri.a@alpha-1.example.org", "victim@alpha-1.example.org"]
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "0 e-mail(s) sent" in again.stdout
    assert len(inbox.received) == 2
    store = mail_world.store()
    try:  # tomorrow they are due again
        mail = MailSettings.from_settings(store.settings, env={"IPDREPO_SMTP_HOST": "x"})
        later = reminders(store, now=datetime.now(UTC) + timedelta(days=1), mail=mail)
        assert sorted(m["To"] for m in later) == ["tri.a@alpha-1.example.org",
                                                  "victim@alpha-1.example.org"]
    finally:
        store.close()


def test_without_smtp_nothing_is_sent_and_the_link_is_shown(
        mail_world: World, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    srv = Server(mail_world)  # no smtp_host
    try:
        inbox.clear()
        with signed_in(srv, "cur") as cur:
            page = post(cur, "/users", "/users", data={
                "name": "quiet.one", "role": "analyst", "email": "quiet@analysts.example.org"})
            assert 'id="one-time-link"' in page.text
            assert csrf(page.text)
        assert inbox.received == []
    finally:
        srv.stop()
