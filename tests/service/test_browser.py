"""The pages as people use them, in real headless Chromium (Debian's ``chromium``, driven by
Playwright for Python; ``playwright install`` is never needed).

The story of the issue: a trialist signs in, answers a question with a wrong date layout and
sees the inline error while typing, corrects it, sends it, uploads a re-delivery through the
identifier gate; a curator accepts the answer and the value as it stands now is the corrected
one; the trialist of the other trial sees none of it, even typing the first one's addresses.
Every page visited is checked by axe-core (bundled by axe-playwright-python) for WCAG 2 A/AA
violations, the keyboard reaches the content first, and the question page fits a phone.

Screenshots of every page are written to the test's temporary folder; with
``IPDREPO_SCREENSHOTS=DIR`` (e.g. ``docs/screenshots``) they are written there too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.pages_world import BAD_DATE, add_date_question, add_pattern_question
from tests.service.world import PASSWORD, Server, World, build_world, delivery_csv

CHROMIUM = os.environ.get("IPDREPO_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1100, "height": 760}


@pytest.fixture(scope="module")
def browser_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict[str, Any]]:
    root = Path(tmp_path_factory.mktemp("browser"))
    world = build_world(root, f"sqlite:///{root / 'store.sqlite'}")
    info: dict[str, Any] = add_date_question(world, root)
    info.update(add_pattern_question(world))
    return world, info


@pytest.fixture(scope="module")
def browser_server(browser_world: tuple[World, dict[str, Any]]) -> Iterator[Server]:
    srv = Server(browser_world[0])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install "
                    "chromium) or set IPDREPO_CHROMIUM")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Shots:
    """Screenshots of the pages, small PNGs (the viewport, not the whole page)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.extra = os.environ.get("IPDREPO_SCREENSHOTS")

    def take(self, page: Any, name: str) -> None:
        from PIL import Image

        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path))
        with Image.open(path) as image:  # 64 colours: a fraction of the bytes, still sharp
            small = image.convert("RGB").quantize(colors=64)
        small.save(path, optimize=True)
        if self.extra:
            Path(self.extra).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(self.extra) / path.name)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(Path(tmp_path_factory.mktemp("screenshots")))


def accessible(page: Any) -> None:
    """axe-core finds no WCAG 2 A/AA violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
        "resultTypes": ["violations"]})
    violations = results.response["violations"]
    assert not violations, f"{page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:3]}" for v in violations)


def sign_in(context: Any, url: str, user: str) -> Any:
    page = context.new_page()
    page.goto(f"{url}/sign-in")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    return page


def test_trialist_curator_and_the_other_trial(browser: Any, browser_server: Server,
                                              browser_world: tuple[World, dict[str, Any]],
                                              shots: Shots, tmp_path: Path) -> None:
    world, info = browser_world
    url, qid = browser_server.url, info["query"]
    _trialist_answers_and_uploads(browser, url, qid, shots, tmp_path)
    _curator_accepts(browser, url, qid, shots)
    _other_trial_sees_none_of_it(browser, url, world, info)


def _trialist_answers_and_uploads(browser: Any, url: str, qid: int, shots: Shots,
                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    trialist = browser.new_context(viewport=DESKTOP)
    first = trialist.new_page()
    first.goto(f"{url}/sign-in")
    accessible(first)
    shots.take(first, "sign-in")
    first.keyboard.press("Tab")  # the keyboard reaches "skip to the content" first
    assert first.evaluate("document.activeElement.className") == "skip"
    first.close()
    page = sign_in(trialist, url, "tri.a")
    accessible(page)
    page.get_by_role("link", name="Questions").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Questions about trial ALPHA-1")
    accessible(page)
    shots.take(page, "trialist-questions")
    page.get_by_role("link", name=f"{qid}", exact=True).click()
    expect(page.locator("p.question")).to_contain_text(f"randdate {BAD_DATE} is not a date")
    _wrong_layout_then_corrected(page, shots)
    data = tmp_path / "alpha-1-redelivery-2.csv"
    data.write_bytes(delivery_csv("ALPHA-1", n=20))
    page.get_by_role("link", name="Send new data").click()
    page.get_by_label("Data file").set_input_files(str(data))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("passed the identifier check")
    expect(page.get_by_role("status")).to_contain_text("20 rows")
    accessible(page)
    shots.take(page, "trialist-upload-report")
    trialist.close()


def _wrong_layout_then_corrected(page: Any, shots: Shots) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Response").select_option("typographical_error")
    value = page.get_by_label("Corrected value")
    value.fill("02/29/2020")  # month first: not the column's DD/MM/YYYY
    error = page.locator("#err-corrected")
    expect(error).to_contain_text("not valid for your column randdate", timeout=10_000)
    expect(error).to_contain_text("DD/MM/YYYY")
    expect(value).to_have_attribute("aria-invalid", "true")
    accessible(page)
    shots.take(page, "trialist-answer-inline-error")
    page.get_by_role("button", name="Send the answer").click()  # the server says it too
    expect(page.locator("#err-corrected")).to_contain_text("not valid for your column")
    value = page.get_by_label("Corrected value")
    value.fill("29/02/2020")
    expect(page.locator("#err-corrected")).to_be_empty(timeout=10_000)
    page.get_by_label("Comment", exact=True).fill("transcription error, CRF page 2")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_role("status")).to_contain_text("What happens next")
    expect(page.locator(".thread")).to_contain_text("corrected value: 29/02/2020")
    accessible(page)
    shots.take(page, "trialist-answered")


def _curator_accepts(browser: Any, url: str, qid: int, shots: Shots) -> None:
    from playwright.sync_api import expect

    curator = browser.new_context(viewport=DESKTOP)
    page = sign_in(curator, url, "cur")
    page.get_by_role("link", name="Resolve issues").first.click()
    expect(page.get_by_role("heading", name="Response times")).to_be_visible()
    page.get_by_label("Status").select_option("answered")
    page.get_by_role("button", name="Show").click()
    accessible(page)
    shots.take(page, "curator-resolve-issues")
    page.get_by_role("link", name=f"{qid}", exact=True).click()
    expect(page.locator("#now-1")).to_have_text(BAD_DATE)
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status")).to_contain_text("accepted")
    expect(page.locator("#now-1")).to_have_text("29/02/2020")  # the value as it stands now
    accessible(page)
    shots.take(page, "curator-accepted")
    page.goto(f"{url}/uploads")
    expect(page.get_by_text("alpha-1-redelivery-2.csv")).to_be_visible()
    accessible(page)
    page.goto(f"{url}/users")
    accessible(page)
    shots.take(page, "curator-users")
    page.goto(f"{url}/reports")
    accessible(page)
    curator.close()


def _other_trial_sees_none_of_it(browser: Any, url: str, world: World,
                                 info: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    qid = info["query"]
    other = browser.new_context(viewport=DESKTOP)
    page = sign_in(other, url, "tri.b")
    for path in (f"/queries/{qid}", f"/queries/{world.queries['ALPHA-1']}",
                 f"/queries/{qid}/check?value=1", f"/queries/{info['pattern']}",
                 f"/queries/{info['pattern']}/check?row-2=01/01/2020"):
        response = page.goto(f"{url}{path}")
        assert response is not None and response.status == 404, path
    expect(page.get_by_role("alert")).to_contain_text("nothing at this address visible")
    for path in ("/", "/queries?status=all", "/uploads", "/workbook"):
        page.goto(f"{url}{path}")
        text = page.content()
        for secret in [*world.secrets_of["ALPHA-1"], info["own_id"], info["pseudonym"],
                       "alpha-1-redelivery-2.csv", "29/02/2020"]:
            assert str(secret) not in text, (path, secret)
    other.close()


def _listed_row(page: Any, own_id: str) -> Any:
    return page.locator("table.listed tbody tr").filter(has_text=own_id)


def _bulk_fits_a_phone(browser: Any, url: str, qid: int, listed: list[str]) -> None:
    """At phone width each listed participant is a card (no sideways scrolling): the page is
    no wider than the phone and every participant's boxes are inside it, still labelled."""
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = sign_in(phone, url, "tri.a")
    page.goto(f"{url}/queries/{qid}")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the bulk-answer page is wider than the phone: {width}"
    for own in listed:
        for name in (f"Corrected value {own}", f"Comment {own}"):
            box = page.get_by_role("textbox", name=name, exact=True).bounding_box()
            assert box is not None and box["x"] >= 0 and \
                box["x"] + box["width"] <= PHONE["width"], (name, box)
    accessible(page)
    phone.close()


def test_bulk_answer_for_a_pattern_question(browser: Any, browser_server: Server,
                                            browser_world: tuple[World, dict[str, Any]],
                                            shots: Shots) -> None:
    """One question listing several participants, answered at once: one value for all of
    them, one participant's own value - first in the wrong date layout, shown beside its field
    while typing and again by the server - corrected, sent; the curator accepts; each
    participant's value now is the corrected one, recorded as a correction of their cell."""
    from playwright.sync_api import expect

    from harmonise.queries.corrections import active_corrections
    from repository.trials import get_trial

    world, info = browser_world
    url, qid, listed = browser_server.url, info["pattern"], info["listed"]
    trialist = browser.new_context(viewport=DESKTOP)
    page = sign_in(trialist, url, "tri.a")
    _bulk_fits_a_phone(browser, url, qid, listed)
    page.goto(f"{url}/queries/{qid}")
    expect(page.get_by_role("heading", name=f"The {len(listed)} participants")).to_be_visible()
    accessible(page)
    page.get_by_label("Response").select_option("typographical_error")
    page.get_by_label("One corrected value for every participant left empty").fill("01/03/2019")
    own = page.get_by_role("textbox", name=f"Corrected value {listed[0]}", exact=True)
    own.fill("03/31/2019")  # month first: not the column's DD/MM/YYYY
    error = page.locator(f"#{own.get_attribute('aria-describedby')}")
    expect(error).to_contain_text("not valid for your column randdate", timeout=10_000)
    expect(own).to_have_attribute("aria-invalid", "true")
    accessible(page)
    shots.take(page, "trialist-bulk-answer-inline-error")
    page.get_by_role("button", name="Send the answers").click()  # the server says it too
    expect(error).to_contain_text("not valid for your column randdate")
    own = page.get_by_role("textbox", name=f"Corrected value {listed[0]}", exact=True)
    own.fill("31/03/2019")
    expect(error).to_be_empty(timeout=10_000)
    page.get_by_role("textbox", name="Comment", exact=True).fill(
        "one centre typed the dates month first")
    page.get_by_role("button", name="Send the answers").click()
    expect(page.get_by_role("status")).to_contain_text("What happens next")
    trialist.close()

    curator = browser.new_context(viewport=DESKTOP)
    page = sign_in(curator, url, "cur")
    page.goto(f"{url}/queries/{qid}")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status")).to_contain_text("accepted")
    expect(_listed_row(page, listed[0]).locator("td.now")).to_contain_text("31/03/2019")
    for other in listed[1:]:
        expect(_listed_row(page, other).locator("td.now")).to_contain_text("01/03/2019")
    accessible(page)
    shots.take(page, "curator-bulk-accepted")
    curator.close()
    store = world.store()
    try:
        with store.reading() as session:
            trial = get_trial(session, store.topic(session), "ALPHA-1")
            made = {(c.participant, c.source_column): c.new_value
                    for c in active_corrections(session, trial)}
    finally:
        store.close()
    expected = ["31/03/2019"] + ["01/03/2019"] * (len(listed) - 1)
    assert [made.get((p, "randdate")) for p in info["listed_pseudonyms"]] == expected


def test_question_page_on_a_phone(browser: Any, browser_server: Server,
                                  browser_world: tuple[World, dict[str, Any]],
                                  shots: Shots) -> None:
    from playwright.sync_api import expect

    world, _ = browser_world
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = sign_in(phone, browser_server.url, "tri.a")
    page.goto(f"{browser_server.url}/queries/{world.queries['ALPHA-1']}")
    expect(page.get_by_label("Response")).to_be_visible()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is wider than the phone: {width}"
    for label in ("Response", "Corrected value", "Comment"):
        box = page.get_by_label(label, exact=True).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    accessible(page)
    shots.take(page, "trialist-question-phone")
    page.goto(f"{browser_server.url}/queries")
    width = page.evaluate("[document.body.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the list is wider than the phone: {width}"
    phone.close()


def test_the_accessibility_check_finds_problems(browser: Any) -> None:
    """The axe check is real: an unlabelled field and grey-on-white text fail it."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body>'
                     '<main><h1>Form</h1><input name="x">'
                     '<p style="color:#bbb">faint</p></main></body></html>')
    with pytest.raises(AssertionError) as failed:
        accessible(page)
    assert "label" in str(failed.value) and "color-contrast" in str(failed.value)
    context.close()
