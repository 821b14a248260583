"""Everything the notebooks show renders as readable HTML (``_repr_html_``) with its key numbers.

Readable: well-formed HTML with a table, no ``nan``/``NaN``/``None`` cells, and the numbers a
reader looks for (counts, versions, estimates as the table formats them) actually in it.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

VOID = {"br", "hr", "img", "meta", "link", "input", "col", "wbr"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in VOID:
            self.stack.append(tag)
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
            return
        self.stack.pop()
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def readable(obj: Any, *expected: str) -> str:
    """``obj._repr_html_()``, checked: well formed, a table, no missing-value markers, and
    every ``expected`` text in it."""
    text = obj._repr_html_()
    assert isinstance(text, str) and text.lstrip().startswith("<"), type(obj)
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.problems and not checker.stack, (type(obj), checker.problems,
                                                        checker.stack)
    assert "<table" in text, f"{type(obj).__name__}: no table"
    bad = [c for c in checker.cells if c.strip() in ("nan", "NaN", "None", "NaT", "<NA>")]
    assert not bad, f"{type(obj).__name__} shows missing values as {sorted(set(bad))}"
    missing = [e for e in expected if e not in text]
    assert not missing, f"{type(obj).__name__}: {missing} not in its HTML"
    return text


def g4(x: float) -> str:
    """How the analysis tables format a number."""
    return f"{x:.4g}"


@pytest.fixture(scope="module")
def store(demo_workspace: Path) -> Any:
    from repository.settings import load_settings
    from repository.store import Store

    with Store.open(load_settings(demo_workspace, actor="demo-curator", env={})) as s:
        yield s


@pytest.fixture(scope="module")
def released(demo_workspace: Path) -> Any:
    import versions

    return versions.load("gastric-adjuvant", "1.0.0", repo=str(demo_workspace / "releases"))


def test_dictionary_and_mapping(store: Any) -> None:
    from harmonise.pipeline.harmonising import load_topic_dictionary, load_trial_mapping

    dictionary = load_topic_dictionary(store)
    readable(dictionary, "gastric-adjuvant", dictionary.version,
             *[f"<td>{v.name}</td>" for v in dictionary.variables])
    mapping = load_trial_mapping(store, dictionary, "MISTRAL")
    readable(mapping, "<b>MISTRAL</b>", *[f"<td>{r.variable}</td>" for r in mapping.rules])


def test_harmonised_trial_and_validation(store: Any) -> None:
    from harmonise.pipeline.checking import check_trial

    run = check_trial(store, "GREGALE", raise_queries=False, write=False)
    readable(run.harmonised, f"{run.harmonised.n_rows} rows", "GREGALE")
    n = len(run.validation.failures)
    assert n == 2  # the two values the trialist confirmed correct
    readable(run.validation, f"{n} failure(s)", "bmi", "weight_kg", ">52", ">182")


def test_queries_and_corrections(store: Any) -> None:
    from harmonise.queries.views import correction_view, query_view

    queries = query_view(store)
    counts = ", ".join(f"{n} {s}" for s, n in queries.by_status().items())
    readable(queries, f"Data queries of gastric-adjuvant</b>: {len(queries)} ({counts})",
             *[f"<td>{i}</td>" for i in queries.ids[:20]])
    corrections = correction_view(store, trial="LEVANTE")
    assert len(corrections) > 0
    readable(corrections, f"{len(corrections)} ({len(corrections)} active)", "LEVANTE")


def test_query_workbook_results() -> None:
    from harmonise.queries.workbook import ExportResult, ImportResult

    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    export = ExportResult(trial="MISTRAL", export_id=3, path="MISTRAL-queries.xlsx",
                          sha256="0" * 64, exported_at=when, exported_by="c",
                          rows=({"row": 2, "query": 68, "check": "range:age",
                                 "columns": "age", "status_before": "open"},))
    readable(export, "MISTRAL: 1 queries", "range:age", "<td>68</td>")
    imported = ImportResult(trial="MISTRAL", export_id=3, file="x.xlsx", imported_by="t",
                            imported_at=when,
                            rows=({"row": 2, "query": 68, "outcome": "answered",
                                   "response_code": "typographical_error",
                                   "corrected_value": "45"},))
    readable(imported, "Imported 1 answer(s)", "typographical_error", "<td>45</td>")


def test_releases(store: Any, released: Any) -> None:
    import versions

    listing = versions.list_releases(store)
    readable(listing, "<td>1.0.0</td>", "<td>3000</td>")
    info = versions.show_release(store, "1.0.0")
    readable(info, "gastric-adjuvant/v1.0.0", info.data_sha256, "<td>3000</td>")
    readable(versions.verify_release(store, "1.0.0"), "<b>gastric-adjuvant/v1.0.0</b>: complete")
    manifest = versions.load_manifest("gastric-adjuvant", "1.0.0",
                                      repo=str(store.settings.workspace / "releases"))
    fewer = released.iloc[1:].reset_index(drop=True)
    diff = versions.diff_frames(released, fewer, old_manifest=manifest,
                                new_manifest={**manifest, "version": "1.0.1"})
    readable(diff, "0 rows added, 1 removed, 0 cells changed")
    flow = versions.prisma_flow(store, release="1.0.0")
    readable(flow, "3000")
    withdrawals = versions.list_withdrawals(store)
    text = withdrawals._repr_html_()
    assert f"Consent withdrawals</b> in gastric-adjuvant: {len(withdrawals)}" in text


def test_example_objects(tmp_path: Path, demo_workspace: Path) -> None:
    from repository.cli.example_workspace import example_workspace
    from repository.example import create

    topic = create(tmp_path / "example", trials=2, participants=120)
    readable(topic, "2 trials, 120 participants", *[t.acronym for t in topic.trials])
    ex = example_workspace(env={"IPDREPO_NOTEBOOK_WORKSPACE": str(demo_workspace)})
    readable(ex, str(demo_workspace), "gastric-adjuvant", "1.0.0")


def test_analysis_results(released: Any) -> None:
    from analyses import (
        coxph,
        deft_interaction,
        km_by_group,
        logrank,
        one_stage,
        pool_oe,
        two_stage,
    )
    from analyses import logrank_by_trial as by_trial

    d = released
    surv = dict(trial="trial", treatment="arm", time="os_time_days", event="os_event")
    res = two_stage(d, model="cox", method="REML", **surv)
    p = res.pooled
    readable(res, g4(p.exp_estimate), g4(p.exp_ci[0]), g4(p.exp_ci[1]), g4(p.I2))
    readable(p, g4(p.estimate), g4(p.se))
    lr = two_stage(d, model="logrank", **surv)
    readable(lr, "Peto", g4(lr.pooled.exp_estimate))
    tox = two_stage(d, trial="trial", treatment="arm", outcome="grade3_toxicity",
                    model="2x2", measure="OR", method="MH")
    readable(tox, "MH", g4(tox.pooled.exp_estimate))
    qol_data = d.dropna(subset=["qol_12m", "qol_baseline"])
    qol = two_stage(qol_data, trial="trial", treatment="arm", outcome="qol_12m",
                    adjust=["qol_baseline"], model="linear")
    readable(qol, g4(qol.pooled.estimate), g4(qol.pooled.tau2))
    one = one_stage(d, model="cox", **surv)
    readable(one, g4(one.estimate), g4(float(np.exp(one.estimate))))
    lmm = one_stage(qol_data, trial="trial", treatment="arm", outcome="qol_12m",
                    adjust=["qol_baseline"], model="linear")
    readable(lmm, g4(lmm.estimate), g4(lmm.tau2))
    deft = deft_interaction(d, covariate="age", model="cox", **surv)
    readable(deft, "treatment x age", g4(deft.pooled.estimate), g4(deft.pooled.se))
    km = km_by_group(d["os_time_days"], d["os_event"], d["arm"])
    readable(km, *[g4(km[a].median) for a in (0, 1)])
    readable(km[1], g4(km[1].median))
    cox = coxph(d["os_time_days"], d["os_event"], d[["arm"]], strata=d["trial"])
    readable(cox, "arm", g4(float(cox.coef[0])), g4(float(np.exp(cox.coef[0]))))
    test = logrank(d["os_time_days"], d["os_event"], d["arm"], strata=d["trial"])
    readable(test, g4(test.o_minus_e), g4(test.chisq))
    oe = by_trial(d["os_time_days"], d["os_event"], d["arm"], d["trial"])
    peto = pool_oe(oe["o_minus_e"], oe["v"], labels=oe["trial"])
    readable(peto, g4(peto.exp_estimate), g4(peto.Q))
