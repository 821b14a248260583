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


def test_join_escapes_text_exactly_once_and_keeps_markup() -> None:
    """``str + Markup`` escapes the str side and ``str(Markup) + str`` trusts the str: pieces
    are combined with :func:`repository.html.join` instead."""
    from repository.html import Markup, escape, fragment, join

    piece = fragment("versions/dictionary_changes.html.j2",
                     d={"old_version": "1", "new_version": "2", "added": ["a&b"], "removed": [],
                        "changed": [], "changelog": []})
    joined = join(HOSTILE, piece, "&amp;", Markup("<hr>"), escape("<i>"))
    assert isinstance(joined, Markup)
    assert joined == ESCAPED + str(piece) + "&amp;amp;" + "<hr>" + "&lt;i&gt;"
    assert "a&amp;b" in piece and "a&amp;amp;b" not in joined  # the fragment is not re-escaped
    assert join() == ""


def test_results_table_escapes_hostile_names_once() -> None:
    """Trial names, the title, headers and notes of a results table are text, in to_html and
    in the notebook view alike."""
    from analyses.pooling import pool
    from analyses.tables import Table, results_table

    result = pool(np.array([0.1, -0.2]), np.array([0.04, 0.05]), labels=["A&B", HOSTILE])
    for text in (results_table(result).to_html(), results_table(result)._repr_html_()):
        assert HOSTILE not in text and "&amp;lt;" not in text
        assert text.count(f"<td>{ESCAPED}</td>") == 1 and "<td>A&amp;B</td>" in text
        assert text.startswith("<table class='journal'><caption>")
    hostile = Table(title=HOSTILE, frame=pd.DataFrame({HOSTILE: [HOSTILE, "x"]}),
                    notes=(HOSTILE,), sections=(0,))
    text = hostile.to_html()
    assert HOSTILE not in text and "&amp;" not in text
    assert text.count(ESCAPED) == 4  # caption, header, section row, note
    assert f"<tr class='section'><td colspan='1'><strong>{ESCAPED}</strong></td></tr>" in text


def test_analysis_report_escapes_a_hostile_trial_once_in_every_section() -> None:
    from analyses.report import analysis_report
    from analyses.two_stage import two_stage

    rng = np.random.default_rng(3)
    n = 240
    data = pd.DataFrame({"trial": np.repeat(["T1", HOSTILE, "T3"], n // 3),
                         "trt": np.tile([0, 1], n // 2),
                         "sex": rng.choice(["m", HOSTILE], n)})
    data["y"] = 0.3 * data["trt"] + rng.normal(size=n)
    result = two_stage(data, trial="trial", treatment="trt", outcome="y", model="linear",
                       subgroup="sex")
    page = analysis_report(result, title=HOSTILE, description=HOSTILE)
    assert_page(page)
    assert HOSTILE not in page and "&amp;lt;" not in page and "&amp;#39;" not in page
    outside_figures = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    assert f"<td>{ESCAPED}</td>" in outside_figures  # the trials table
    assert "Test for subgroup differences (sex)" in outside_figures
    assert f"<td>sex = {ESCAPED}</td>" in outside_figures  # the subgroups table


@pytest.mark.parametrize("module", ["analyses/report.py", "analyses/tables.py"])
def test_analysis_html_comes_from_templates(module: str) -> None:
    text = (Path(__file__).resolve().parents[1] / module).read_text(encoding="utf-8")
    for tag in ("<h2", "<table", "<tr", "<td", "<p "):
        assert tag not in text, (module, tag)


def test_release_diff_notebook_view_joins_text_and_fragments() -> None:
    """The diff's notebook view puts its own markup, pandas' table and a template fragment
    together: the topic escaped once, the fragment's markup kept."""
    from versions.diff import ReleaseDiff

    empty = pd.DataFrame()
    diff = ReleaseDiff(topic=HOSTILE, old="1.0", new="1.1",
                       rows=pd.DataFrame({"trial": ["T&1"], "added": [1]}), added=empty,
                       removed=empty, cells=empty,
                       dictionary={"old_version": "1", "new_version": "2", "added": ["x&y"],
                                   "removed": [], "changed": [], "changelog": []})
    text = diff._repr_html_()
    assert text.startswith(f"<p><b>{ESCAPED} 1.0 &rarr; 1.1</b>: 0 rows added")
    assert HOSTILE not in text and "&amp;amp;" not in text and "&lt;p&gt;" not in text
    assert "<td>T&amp;1</td>" in text and "x&amp;y" in text


def test_table_cells_are_what_cell_makes_of_each_value() -> None:
    """table() finds a column's missing values at once; the cells are those of cell() on
    every value (the plain reference), whatever the column holds."""
    from decimal import Decimal

    import numpy as np
    import pandas as pd

    from repository.html import Markup, cell, table

    frame = pd.DataFrame({
        "status": ["ok", "not tested", "failed", "ok", "ok"],
        "int": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "float": [1.5, np.nan, 0.0, -2.0, float("inf")],
        "text": ["a", None, "", "<b>", "x y"],
        "when": pd.to_datetime(["2020-01-02", None, "2021-03-04", "2022-05-06", None]),
        "cat": pd.Categorical(["u", None, "v", "u", "v"]),
        "flag": [True, False, None, True, False],
        "object": [[1, None], {"k": np.nan}, Markup("<i>m</i>"), Decimal("NaN"), pd.NA],
        "mixed": [np.array([1.0, np.nan]), (), pd.NaT, 7, None],
    })
    for limit in (None, 3):
        shown = frame if limit is None else frame.head(limit)
        got = table(frame, status_column="status", limit=limit,
                    classes={"not-tested": "untested"})
        assert [r.cells for r in got.rows] == [tuple(cell(v) for v in rec)
                                               for rec in shown.itertuples(index=False)]
        assert [r.cls for r in got.rows] == [
            {"not-tested": "untested"}.get(s.replace(" ", "-"), s.replace(" ", "-"))
            for s in shown["status"]]
        assert isinstance(got.rows[2].cells[7], Markup)
    assert [r.cells for r in table(frame.iloc[:, :0]).rows] == [()] * len(frame)
