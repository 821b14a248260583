"""Every HTML page the tool writes is rendered from a template with autoescape and uses the one
stylesheet (repository/html/style.css); a hostile cell in a delivery is printed as text."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repository.html import STYLESHEET, TEMPLATES, environment, stylesheet

HOSTILE = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def assert_page(page: str) -> None:
    """One self-contained page in the shared style, with nothing hostile left in it."""
    assert page.startswith("<!DOCTYPE html>")
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    assert styles == [STYLESHEET.read_text(encoding="utf-8")]
    assert "<script" not in page
    outside_figures = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    assert " style=" not in outside_figures  # no inline styles of its own


def test_every_template_autoescapes_and_extends_the_frame() -> None:
    env = environment()
    assert env.autoescape is True
    pages = [p for p in TEMPLATES.rglob("*.html.j2") if p.parent != TEMPLATES]
    assert len(pages) >= 6
    for path in pages:
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text, path  # markup is passed as Markup, never marked in place
        if "{% extends" in text:
            assert '{% extends "page.html.j2" %}' in text, path
    rendered = env.from_string("{{ v }}").render(v=HOSTILE)
    assert rendered == ESCAPED
    assert "<" not in stylesheet()  # nothing in the stylesheet can close the style element


def test_hostile_cell_in_a_delivery_is_escaped_in_the_trial_report(tmp_path: Path,
                                                                   make_store) -> None:
    from harmonise.pipeline.checking import check_trial
    from harmonise.pipeline.reports import write_reports
    from repository.deliveries import ingest
    from tests.example_topic import register_trials, write_example

    example, dictionary = write_example(tmp_path, trials=1, participants=60)
    store = make_store(dictionary=dictionary)
    register_trials(store, example)
    frame = pd.read_csv(example / "deliveries" / "MISTRAL.csv", dtype=str,
                        keep_default_na=False)
    frame.loc[3, "sex"] = HOSTILE  # a value that is no category: shown in the report
    frame.loc[5, "tumour_site"] = HOSTILE
    delivery = tmp_path / "MISTRAL.csv"
    frame.to_csv(delivery, index=False)
    ingest(store, "MISTRAL", delivery)
    run = check_trial(store, "MISTRAL")
    report, index = write_reports(store, [run], out=tmp_path / "reports")
    page = report.read_text(encoding="utf-8")
    assert_page(page)
    assert HOSTILE not in page
    assert page.count(ESCAPED) >= 2
    assert_page(index.read_text(encoding="utf-8"))


def test_dashboard_escapes_what_trialists_and_curators_wrote() -> None:
    from harmonise.queries.dashboard import dashboard_html

    queries = [{"id": 1, "trial": "T<b>1</b>", "status": "open", "age_days": 3,
                "participant": "P1", "variable": "age", "check": "range:age",
                "question": HOSTILE, "first_response_days": None}]
    page = dashboard_html("topic <i>x</i>", queries)
    assert_page(page)
    assert ESCAPED in page and "T&lt;b&gt;1&lt;/b&gt;" in page
    assert "<title>Data queries of topic &lt;i&gt;x&lt;/i&gt;</title>" in page


def test_dictionary_page_escapes_labels() -> None:
    from harmonise.dictionary.exports import to_html
    from harmonise.dictionary.spec import load_dictionary

    root = Path(__file__).resolve().parents[1]
    d = load_dictionary(root / "dictionaries" / "gastric-adjuvant")
    page = to_html(d)
    assert_page(page)
    assert "<code>participant_id</code>" in page  # markup of the template itself


def test_analysis_report_and_release_diff_use_the_shared_frame() -> None:
    from analyses.pooling import pool
    from analyses.report import analysis_report
    from versions.diff import ReleaseDiff

    result = pool(np.array([0.1, -0.2, 0.3]), np.array([0.04, 0.05, 0.03]),
                  labels=["A", HOSTILE, "C"], method="REML")
    page = analysis_report(result, title="Pooled <em>effect</em>", description=HOSTILE)
    assert_page(page)
    assert HOSTILE not in page and ESCAPED in page
    empty = pd.DataFrame()
    diff = ReleaseDiff(topic="t", old="1.0", new="1.1",
                       rows=pd.DataFrame({"trial": [HOSTILE], "added": [1]}), added=empty,
                       removed=empty, cells=pd.DataFrame({"variable": ["age"], "new": [HOSTILE]}),
                       dictionary={"old_version": "1", "new_version": "2", "added": [HOSTILE],
                                   "removed": [], "changed": [], "changelog": []})
    page = diff.to_html()
    assert_page(page)
    assert HOSTILE not in page and page.count(ESCAPED) == 3


@pytest.mark.parametrize("package", ["harmonise", "versions", "analyses"])
def test_no_page_builds_its_own_frame_or_style(package: str) -> None:
    root = Path(__file__).resolve().parents[1] / package
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "<!DOCTYPE" not in text and "<!doctype" not in text, path
        assert "<style" not in text, path
