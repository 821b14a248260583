"""The PRISMA-IPD flow: counts from a known case, from the store and a release; diagrams."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from repository.errors import ReleaseError
from repository.trials import TrialSpec, add_trial, parse_arm
from tests.versions.conftest import Env, ipdrepo
from versions.prisma import flow_from, prisma_flow, set_ipd_status
from versions.releases import create_release

TRIALS = [
    {"trial": "A", "ipd_status": "obtained", "randomised_published": 6},
    {"trial": "B", "ipd_status": "sought", "randomised_published": 4},
    {"trial": "C", "ipd_status": "not_obtained", "reason": "data destroyed",
     "randomised_published": 120},
    {"trial": "D", "ipd_status": "sought", "randomised_published": 80},
    {"trial": "E", "ipd_status": "not_sought", "reason": "not randomised"},
    {"trial": "F", "ipd_status": "not_obtained", "reason": "data destroyed"},
]
FRAME = pd.DataFrame({
    "trial": ["A"] * 6 + ["B"] * 4,
    "participant_id": [f"p{i}" for i in range(10)],
    "os_time": [10, 20, None, 40, 50, 60, 5, 6, 7, 8],
    "os_event": [1, 0, 1, None, 1, 0, 0, 0, 1, 1],
    "qol": [None] * 6 + [70, None, 80, 90],
    "rand_date": pd.to_datetime(["2001-01-01"] * 10),
    "death_date": pd.to_datetime([None] * 10),
    "last_fu": pd.to_datetime(["2003-01-01"] * 9 + [None]),
})
OUTCOMES = [
    {"name": "os", "kind": "time_to_event", "time": "os_time", "event": "os_event"},
    {"name": "qol", "kind": "continuous", "variable": "qol"},
    {"name": "os_dates", "kind": "time_to_event", "origin": "rand_date",
     "event_date": "death_date", "censor_date": "last_fu"},
]


def test_known_flow() -> None:
    flow = flow_from(TRIALS, topic="t", frame=FRAME, outcomes=OUTCOMES, release="2.0")
    c = flow.counts
    assert c == {"trials_identified": 6, "ipd_sought": 5, "ipd_not_sought": 1,
                 "ipd_not_sought_reasons": {"not randomised": 1}, "ipd_obtained": 2,
                 "ipd_not_obtained": 3,
                 "ipd_not_obtained_reasons": {"awaiting data": 1, "data destroyed": 2},
                 "participants_with_ipd": 10, "randomised_in_trials_not_obtained": 200}
    # B was still "sought" but its data are in the release: obtained
    assert flow.trials.set_index("trial")["flow"].to_dict() == {
        "A": "obtained", "B": "obtained", "C": "not obtained", "D": "not obtained",
        "E": "not sought", "F": "not obtained"}
    o = flow.outcomes.set_index("outcome")
    assert o.loc["os", ["analysed", "excluded", "trials_analysed"]].tolist() == [8, 2, 2]
    assert o.loc["os", "excluded_reason"] == "missing os_time / os_event"
    assert o.loc["qol", ["analysed", "excluded", "trials_analysed"]].tolist() == [3, 7, 1]
    assert o.loc["qol", "trials_without_data"] == "A"
    assert o.loc["os_dates", ["analysed", "excluded"]].tolist() == [9, 1]
    s = flow.summary.set_index("stage")
    assert s.loc["IPD obtained", "participants"] == 10
    assert s.loc["Excluded: qol", "participants"] == 7
    assert s.loc["IPD not obtained", "detail"] == "awaiting data (1); data destroyed (2)"
    json.dumps(flow.to_dict())


def test_diagrams_are_deterministic() -> None:
    flow = flow_from(TRIALS, topic="t", frame=FRAME, outcomes=OUTCOMES, release="2.0")
    svg = flow.to_svg()
    assert svg == flow.to_svg()
    text = svg.decode()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "PRISMA-IPD flow" in text
    assert "n = 10 participants" in text and "Excluded from qol: n = 7" in text
    assert "data destroyed: 2" in text
    png = flow.to_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "<svg" in flow._repr_html_()


def test_flow_from_the_store_and_a_release(env: Env, tmp_path) -> None:
    with env.store.transaction() as session:
        topic = env.store.topic(session)
        for name in ("LOST", "NOTASKED"):
            add_trial(session, topic, TrialSpec(acronym=name, arms=(
                parse_arm("0=Surgery:1:50"), parse_arm("1=Chemo:1:50"))), actor="tester")
    set_ipd_status(env.store, "LOST", "not_obtained", reason="sponsor declined")
    set_ipd_status(env.store, "NOTASKED", "not_sought", reason="single-centre pilot")
    with pytest.raises(ReleaseError, match="say why"):
        set_ipd_status(env.store, "LOST", "not_obtained")
    with pytest.raises(ReleaseError, match="not one of"):
        set_ipd_status(env.store, "LOST", "maybe")
    assert prisma_flow(env.store).counts["participants_with_ipd"] == 0  # no release yet
    create_release(env.store, env.inputs(), version="1.0")
    flow = prisma_flow(env.store)
    assert flow.release == "1.0"
    c = flow.counts
    assert (c["trials_identified"], c["ipd_sought"], c["ipd_obtained"]) == (6, 5, 4)
    assert c["ipd_not_obtained_reasons"] == {"sponsor declined": 1}
    assert c["randomised_in_trials_not_obtained"] == 100
    assert c["participants_with_ipd"] == len(env.truth)
    o = flow.outcomes.set_index("outcome")
    assert set(o.index) == {"os", "dfs", "toxicity", "qol"}
    assert o.loc["qol", "analysed"] == int(env.truth["qol_12m"].notna().sum())
    assert o.loc["os", "excluded"] == int(env.truth[["os_time_days", "os_event"]]
                                          .isna().any(axis=1).sum())

    svg, png = tmp_path / "flow.svg", tmp_path / "flow.png"
    result = ipdrepo(env, "prisma", "show", "--json", "--svg", str(svg), "--png", str(png))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == json.loads(json.dumps(c))
    assert svg.read_bytes() == flow.to_svg() and png.read_bytes()[:4] == b"\x89PNG"
    result = ipdrepo(env, "prisma", "status", "LOST", "not_sought")
    assert result.exit_code == 5 and "say why" in result.output
