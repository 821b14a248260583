"""The CDISC SDTM/ADaM pilot (CDISCPILOT01) brought into a topic as a trial, read in place from
the shared data directory (never copied into the repository)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from repository.settings import load_settings
from repository.store import Store
from repository.trials import TrialSpec, add_trial
from repository.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[2]
TOPIC = ROOT / "tests" / "cdisc" / "topic"
PILOT = Path(os.environ.get("IPDREPO_CDISC_DIR",
                            ROOT.parent.parent / "shared" / "data" / "cdiscpilot01"))
if not (PILOT / "sdtm" / "dm.xpt").is_file():  # a worktree: the shared data one level up
    PILOT = Path("/work/shared/data/cdiscpilot01")


@pytest.fixture(scope="module")
def pilot() -> Path:
    if not (PILOT / "sdtm" / "dm.xpt").is_file():
        pytest.skip(f"CDISC pilot not found at {PILOT} (set IPDREPO_CDISC_DIR)")
    return PILOT


def open_pilot_store(base: Path, *, topic_dir: Path = TOPIC) -> Store:
    """A fresh workspace of the pilot's topic with the trial CDISCPILOT01 registered."""
    init_workspace(base / "ws", topic="dementia-patches", dictionary=topic_dir, actor="curator")
    store = Store.open(load_settings(base / "ws", actor="curator", env={}))
    with store.transaction() as session:
        add_trial(session, store.topic(session),
                  TrialSpec(acronym="CDISCPILOT01", title="CDISC SDTM/ADaM pilot"),
                  actor="curator")
    return store


@pytest.fixture(scope="module")
def sdtm_store(pilot: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The pilot's SDTM package (DM, AE, DS, EX, SV, SUPPDM, TA, TS and define.xml) ingested."""
    from repository.packages import ingest_package

    store = open_pilot_store(tmp_path_factory.mktemp("cdisc"))
    # the pilot as delivered: SV holds two rows of one unscheduled visit (01-711-1143, VISITNUM
    # 9.2), which become a data query; TS holds free-text trial parameters, not participant data
    ingest_package(store, "CDISCPILOT01", pilot / "sdtm",
                   allow_id_problems="SV repeats one unscheduled visit; queried",
                   accept_identifiers=["ts:TSVAL"],
                   justification="trial summary parameters, not about participants")
    yield store
    store.close()
