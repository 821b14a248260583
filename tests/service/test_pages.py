"""The web pages over a real server, as a browser's forms use them (httpx with the session
cookie and the CSRF field): answering with the workbook's check, curators' decisions, files,
users and tokens, and nothing of another trial. The same story in real Chromium is in
``test_browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.pages_world import BAD_DATE
from tests.service.world import PASSWORD, Server, World, bearer, delivery_csv

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def page_server(page_world: tuple[World, dict[str, Any]]) -> Iterator[Server]:
    srv = Server(page_world[0])
    yield srv
    srv.stop()


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@contextmanager
def signed_in(server: Server, user: str) -> Iterator[httpx.Client]:
    with server.client(headers=HTML) as client:
        form = client.get("/sign-in")
        got = client.post("/sign-in", data={"user": user, "password": PASSWORD,
                                            "csrf_token": csrf(form.text)})
        assert got.status_code == 303, got.text
        yield client


def post(client: httpx.Client, page: str, action: str, **kwargs: Any) -> httpx.Response:
    token = csrf(client.get(page).text)
    data = {"csrf_token": token, **kwargs.pop("data", {})}
    return client.post(action, data=data, **kwargs)


def test_answer_is_checked_like_the_workbook_and_accepted(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    world, info = page_world
    qid = info["query"]
    page = f"/queries/{qid}"
    with signed_in(page_server, "tri.a") as tri:
        listing = tri.get("/queries")
        assert listing.status_code == 200 and info["own_id"] in listing.text
        shown = tri.get(page)
        assert "a date as DD/MM/YYYY (e.g. 17/02/2003)" in shown.text
        assert BAD_DATE in shown.text
        # while typing: the workbook import's check, nothing recorded
        check = tri.get(f"{page}/check", params={"response": "typographical_error",
                                                 "value": "02/29/2020"}).json()
        assert not check["ok"]
        assert check["problems"][0]["field"] == "corrected"
        assert "not valid for your column randdate" in check["problems"][0]["message"]
        # submitted wrong: shown beside the field, nothing recorded
        wrong = post(tri, page, f"{page}/answer", data={
            "response": "typographical_error", "value": "02/29/2020",
            "version": re.search(r'name="version" value="(\d+)"', shown.text).group(1)})
        assert wrong.status_code == 422
        assert re.search(r'id="err-corrected"[^>]*>[^<]*not valid for your column randdate',
                         wrong.text)
        assert 'aria-invalid="true"' in wrong.text
        assert "responded" not in tri.get(page).text and "answered" not in _statuses(tri, qid)
        # corrected: recorded in the column's own layout, "what happens next" shown
        right = post(tri, page, f"{page}/answer", data={
            "response": "typographical_error", "value": "2020-02-29",
            "comment": "typo in the CRF transcription"}, follow_redirects=True)
        assert right.status_code == 200
        assert "What happens next" in right.text and "29/02/2020" in right.text
        assert _statuses(tri, qid) == ["answered"]
    with signed_in(page_server, "cur") as cur:
        issues = cur.get("/queries", params={"trial": "ALPHA-1"})
        assert "Response times" in issues.text and f'href="/queries/{qid}"' in issues.text
        assert post(cur, page, f"{page}/accept", data={}).status_code == 303
        after = cur.get(page).text
        assert "resolved" in after
        # the values now: the accepted correction applied to the delivered cell
        assert re.search(r'id="now-1">29/02/2020<', after)
    store = world.store()
    try:
        from harmonise.queries.views import correction_view

        corrections = correction_view(store, trial="ALPHA-1").to_dict()
        assert any(c["old_value"] == BAD_DATE and c["new_value"] == "29/02/2020"
                   for c in corrections["corrections"])
    finally:
        store.close()


def _statuses(client: httpx.Client, qid: int) -> list[str]:
    got = client.get(f"/api/v1/queries/{qid}")
    assert got.status_code == 200, got.text
    return [got.json()["status"]]


def test_stale_form_is_refused(page_world: tuple[World, dict[str, Any]],
                               page_server: Server) -> None:
    world, _ = page_world
    qid = world.queries["ALPHA-1"]
    page = f"/queries/{qid}"
    with signed_in(page_server, "tri.a") as tri:
        got = post(tri, page, f"{page}/answer", data={
            "response": "other", "comment": "see the note", "version": "999"})
        assert got.status_code == 409 and "changed by someone else" in got.text


def test_form_without_csrf_is_refused(page_world: tuple[World, dict[str, Any]],
                                      page_server: Server) -> None:
    world, _ = page_world
    qid = world.queries["ALPHA-1"]
    with signed_in(page_server, "tri.a") as tri:
        got = tri.post(f"/queries/{qid}/comment", data={"text": "no token"})
        assert got.status_code == 403
        got = tri.post(f"/queries/{qid}/attach", files={"file": ("a.txt", b"x", "text/plain")})
        assert got.status_code == 403


def test_curator_close_needs_a_reason_the_trialist_sees(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    world, _ = page_world
    qid = world.queries["BETA-2"]
    page = f"/queries/{qid}"
    with signed_in(page_server, "cur") as cur:
        assert post(cur, page, f"{page}/close", data={"reason": ""}).status_code == 422
        assert post(cur, page, f"{page}/assign", data={"user": "tri.b"}).status_code == 303
        assert post(cur, page, f"{page}/assign",
                    data={"user": "tri.a"}).status_code == 400  # not BETA-2's
        assert post(cur, page, f"{page}/close",
                    data={"reason": "answered by the new delivery"}).status_code == 303
    with signed_in(page_server, "tri.b") as tri:
        text = tri.get(page).text
        assert "answered by the new delivery" in text and "closed" in text
        assert "assigned" in text


def test_curator_forwards_a_question_from_their_own_list(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    """A question a validation run left on the curators' list (a mapping problem) reaches
    the trial from the pages: forwarded with a note, it is the trialist's to answer."""
    world, _ = page_world
    qid = world.extras["held_query"]
    page = f"/queries/{qid}"
    with signed_in(page_server, "tri.a") as tri:
        assert tri.get(page).status_code == 404
    with signed_in(page_server, "cur") as cur:
        assert "curators' own list" in cur.get(page).text
        got = post(cur, page, f"{page}/forward",
                   data={"note": "Which label does code 9 have in your CRF?"})
        assert got.status_code == 303
        again = post(cur, page, f"{page}/forward", data={})
        assert again.status_code == 400 and "already goes to the trial" in again.text
    with signed_in(page_server, "tri.a") as tri:
        shown = tri.get(page)
        assert shown.status_code == 200
        assert "Which label does code 9 have in your CRF?" in shown.text
        assert 'id="answer-form"' in shown.text


def test_attachment_limits_and_reminder(page_world: tuple[World, dict[str, Any]],
                                        page_server: Server) -> None:
    world, _ = page_world
    qid = world.queries["ALPHA-1"]
    page = f"/queries/{qid}"
    with signed_in(page_server, "tri.a") as tri:
        shown = tri.get(page).text
        assert "Never upload identifiable documents" in shown
        bad = tri.post(f"{page}/attach", data={"csrf_token": csrf(shown)},
                       files={"file": ("run.exe", b"MZ...", "application/octet-stream")})
        assert bad.status_code == 422 and "only .csv" in bad.text
        good = tri.post(f"{page}/attach", data={"csrf_token": csrf(shown)},
                        files={"file": ("crf-page.txt", b"page 3", "text/plain")},
                        follow_redirects=True)
        assert good.status_code == 200 and "crf-page.txt" in good.text


def test_redelivery_through_the_gate_then_ingested(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    with signed_in(page_server, "tri.a") as tri:
        page = tri.get("/uploads").text
        refused = tri.post("/trials/ALPHA-1/uploads", data={"csrf_token": csrf(page)}, files={
            "file": ("with-names.csv", b"patid,arm,patient_name,email\n"
                     b"A1,1,Ann Smith,ann@example.org\nA2,2,Bob Jones,bob@example.org\n",
                     "text/csv")})
        assert refused.status_code == 422 and "nothing was kept" in refused.text
        ok = tri.post("/trials/ALPHA-1/uploads", data={"csrf_token": csrf(page)}, files={
            "file": ("alpha-again.csv", delivery_csv("ALPHA-1", n=14), "text/csv")})
        assert ok.status_code == 200 and "passed the identifier check" in ok.text
        assert "14 rows" in ok.text
    with signed_in(page_server, "cur") as cur:
        listing = cur.get("/uploads").text
        found = re.search(r'action="/uploads/(\d+)/ingest"', listing)
        assert found
        done = post(cur, "/uploads", f"/uploads/{found.group(1)}/ingest",
                    follow_redirects=True)
        assert "ingested as the trial" in done.text


def test_users_and_tokens(page_world: tuple[World, dict[str, Any]],
                          page_server: Server) -> None:
    with signed_in(page_server, "cur") as cur:
        made = post(cur, "/users", "/users", data={"name": "new.trialist", "role": "trialist",
                                                   "trial": "BETA-2"})
        link = re.search(r'id="one-time-link">([^<]+)<', made.text)
        assert made.status_code == 200 and link and "/welcome#" in link.group(1)
        token = post(cur, "/users", "/users/new.trialist/tokens",
                     data={"token_name": "laptop"})
        assert re.search(r'id="new-token">ipd', token.text)
        revoked = post(cur, "/users", "/users/new.trialist/tokens/laptop/revoke")
        assert revoked.status_code == 200 and "revoked" in revoked.text
    # the invitation link: choose a password on the page, then sign in
    secret = link.group(1).split("#", 1)[1]
    with page_server.client(headers=HTML) as anon:
        weak = anon.post("/welcome", data={"token": secret, "password": "short",
                                           "again": "short"})
        assert weak.status_code == 422 and "too weak" in weak.text
        chosen = anon.post("/welcome", data={"token": secret, "password": PASSWORD,
                                             "again": PASSWORD})
        assert chosen.status_code == 303 and chosen.headers["location"] == "/sign-in?done=password"
        again = anon.post("/welcome", data={"token": secret, "password": PASSWORD,
                                            "again": PASSWORD})
        assert again.status_code == 422 and "not valid" in again.text
    with signed_in(page_server, "new.trialist") as newbie:
        assert "trial <strong>BETA-2</strong>" in newbie.get("/").text


def test_another_trial_sees_none_of_it(page_world: tuple[World, dict[str, Any]],
                                       page_server: Server) -> None:
    world, info = page_world
    qid = info["query"]
    with signed_in(page_server, "tri.b") as other:
        for path in (f"/queries/{qid}", f"/queries/{qid}/check?value=1",
                     f"/queries/{world.queries['ALPHA-1']}"):
            got = other.get(path)
            assert got.status_code == 404, path
            assert "visible to you" in got.text
        for secret in [*world.secrets_of["ALPHA-1"], info["own_id"], info["pseudonym"]]:
            for path in ("/", "/queries?status=all", "/uploads", "/workbook"):
                assert str(secret) not in other.get(path).text, (path, secret)
        for action in (f"/queries/{qid}/answer", f"/queries/{qid}/comment"):
            page = other.get("/queries").text
            got = other.post(action, data={"csrf_token": csrf(page), "text": "x",
                                           "response": "other", "comment": "x"})
            assert got.status_code == 404
        got = other.post("/trials/ALPHA-1/uploads", data={"csrf_token": csrf(page)},
                         files={"file": ("x.csv", delivery_csv("ALPHA-1"), "text/csv")})
        assert got.status_code == 404


def test_page_check_is_the_workbook_check() -> None:
    """The answer form's messages are the workbook import's, for the same cells."""
    from harmonise.queries.answering import check_query_answer
    from harmonise.queries.workbook_checks import (
        ColumnRule,
        QueryState,
        SentQuery,
        SheetRow,
        check_answers,
    )

    rule = ColumnRule("randdate", "date", layout="%d/%m/%Y")
    cases = [("Typographical error", "02/29/2020", None), ("Confirmed correct", "1", None),
             ("Other", None, None), ("nonsense", "x", None), (None, "29/02/2020", None)]
    letters = {k: chr(65 + i) for i, k in enumerate(
        ("query", "participant", "columns", "delivered", "harmonised", "question", "expected",
         "response", "corrected", "comment"))}
    for code, value, comment in cases:
        sent = SentQuery(id=1, row=2, version=1, status="sent", previous_status="open",
                         participant=None, shown={}, columns=(rule,), question="q",
                         value=None, raw_values={})
        row = SheetRow(2, {"query": "1", "response": code, "corrected": value,
                           "comment": comment})
        state = QueryState(id=1, status="sent", question="q", value=None, raw_values={},
                           last_response=None)
        book = check_answers([row], [sent], {1: state}, sheet="Queries", letters=letters,
                             headers={k: k for k in letters}, trial="T", export_id=1,
                             pseudonym=str, participants=lambda p: True)
        page = check_query_answer((rule,), response=code, value=value, comment=comment)
        assert sorted(p.message for p in book.problems) == sorted(m for _, m in page.problems)
        assert page.problems, (code, value)


def test_pages_share_the_reports_frame_and_stylesheet(page_server: Server) -> None:
    """One visual style: every page template extends the reports' frame (page.html.j2, by
    way of base.html), and the stylesheet the pages link is the reports' own file."""
    from repository.html import STYLESHEET

    folder = Path(__file__).resolve().parents[2] / "repository" / "service" / "templates"
    base = (folder / "base.html").read_text(encoding="utf-8")
    assert '{% extends "page.html.j2" %}' in base
    for path in folder.glob("*.html"):
        if path.name != "base.html":
            assert '{% extends "base.html" %}' in path.read_text(encoding="utf-8"), path
    with page_server.client(headers=HTML) as client:
        page = client.get("/sign-in").text
        css = client.get("/static/ipdrepo.css")
    frame = (Path(STYLESHEET).parent / "templates" / "page.html.j2").read_text(encoding="utf-8")
    assert '<meta name="generator" content="ipdrepo">' in frame
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta name="generator" content="ipdrepo">' in page
    assert '<link rel="stylesheet" href="/static/ipdrepo.css">' in page
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.text == STYLESHEET.read_text(encoding="utf-8")


def test_from_the_invitation_to_every_question_answered(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    """The done-when, walked with the pages' own links: invited, a password chosen, the home
    page says how many questions wait and where to start, each answer leads to the next, until
    none waits - no curator's help after the invitation."""
    with signed_in(page_server, "cur") as cur:
        made = post(cur, "/users", "/users", data={"name": "walker", "role": "trialist",
                                                   "trial": "ALPHA-1"})
        link = re.search(r'id="one-time-link">([^<]+)<', made.text)
        assert link
    with page_server.client(headers=HTML) as anon:
        chosen = anon.post("/welcome", data={"token": link.group(1).split("#", 1)[1],
                                             "password": PASSWORD, "again": PASSWORD})
        assert chosen.status_code == 303
    with signed_in(page_server, "walker") as tri:
        home = tri.get("/").text
        start = re.search(r'(\d+) question\(s\) wait for your answer.*?href="(/queries/\d+)"',
                          home, flags=re.S)
        assert start, home
        total, page = int(start.group(1)), start.group(2)
        answered = []
        while page:
            shown = tri.get(page).text
            done = post(tri, page, f"{page}/answer", data={
                "response": "confirmed_correct", "comment": "checked against the CRF",
                "version": re.search(r'name="version" value="(\d+)"', shown).group(1),
                **({"bulk": "1"} if 'name="bulk"' in shown else {})}, follow_redirects=True)
            assert done.status_code == 200 and "your answer is recorded" in done.text, done.text
            answered.append(page)
            following = re.search(r'href="(/queries/\d+)">Next question waiting', done.text)
            page = following.group(1) if following else ""
        assert len(answered) == total == len(set(answered))
        assert "No other question waits for your answer" in done.text
        assert "No question waits for your answer" in tri.get("/").text


def test_an_api_answer_is_checked_as_the_workbook_checks_it(
        page_world: tuple[World, dict[str, Any]], page_server: Server) -> None:
    """The API records nothing the workbook import (and the answer page) would refuse: a date
    in another layout than the trial's column, a response that needs a value without one, a
    bad cell of a list answer - each 422 with the workbook's message; written right, it is
    recorded in the column's own layout."""
    from harmonise.queries.lifecycle import raise_query
    from repository.trials import get_trial

    world, info = page_world
    store = world.store()
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            trial = get_trial(session, topic, "ALPHA-1")
            query = raise_query(session, topic, trial,
                                question="Please confirm the date of randomisation", actor="cur",
                                participant=str(info["pseudonym"]),
                                variable="randomisation_date", source_columns=["randdate"],
                                rows=[3])
            # asked of the dated delivery (another test here re-delivers ALPHA-1 without it)
            query.delivery_id = next(d.id for d in trial.deliveries
                                     if d.file_name == "alpha-1-dated.csv")
            qid = query.id
    finally:
        store.close()
    path, token = f"/api/v1/queries/{qid}/answer", bearer(world.tokens["tri.a"])
    who = str(info["pseudonym"])  # a cell names its participant as the question's cells do
    with page_server.client() as client:
        for body, said in (
                ({"response": "typographical_error", "value": "02/29/2020"},
                 "not valid for your column randdate"),
                ({"response": "typographical_error"}, "needs the right value"),
                ({"response": "typographical_error", "cells": [
                    {"participant": who, "column": "randdate", "value": "2020-31-01"}]},
                 f"{who} randdate: ")):
            got = client.post(path, headers=token, json=body)
            assert got.status_code == 422, got.text
            assert said in got.json()["message"] and got.json()["problems"], got.text
            status = client.get(f"/api/v1/queries/{qid}", headers=token).json()["status"]
            assert status != "answered"
        got = client.post(path, headers=token, json={"response": "typographical_error",
                                                     "value": "2020-02-29"})
        assert got.status_code == 200, got.text
        assert got.json()["status"] == "answered"
        assert got.json()["thread"][-1]["corrected_value"] == "29/02/2020"
