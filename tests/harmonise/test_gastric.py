"""The real GASTRIC adjuvant IPD (read in place from ../shared/data/gastric) is described by the
gastric-ipd dictionary and its per-trial mappings, and passes validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harmonise.pipeline.checking import check_trial
from harmonise.pipeline.harmonising import pool
from repository.deliveries import ingest
from repository.settings import load_settings
from repository.store import Store
from repository.trials import ArmSpec, TrialSpec, add_trial
from repository.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[2]


def test_gastric_adjuvant_harmonises_and_passes_validation(gastric_dir: Path,
                                                           tmp_path: Path) -> None:
    source = gastric_dir / "gastadj.csv"
    text = pd.read_csv(source, dtype=str)  # the IDs are text: "1.1" and "1.10" differ
    init_workspace(tmp_path / "ws", topic="gastric-ipd",
                   dictionary=ROOT / "dictionaries" / "gastric-ipd", actor="curator")
    store = Store.open(load_settings(tmp_path / "ws", actor="curator", env={}))
    trials = []
    for ref, rows in text.groupby("trialref", sort=True):
        name = f"GASTADJ-{int(ref):02d}"
        trials.append(name)
        delivery = tmp_path / "deliveries" / f"{name}.csv"
        delivery.parent.mkdir(exist_ok=True)
        rows.to_csv(delivery, index=False)  # each trial delivers its own rows, as in the file
        with store.transaction() as session:
            add_trial(session, store.topic(session), TrialSpec(
                acronym=name, id_column="id",
                arms=(ArmSpec("-0.5", "Surgery alone", harmonised="0"),
                      ArmSpec("0.5", "Adjuvant chemotherapy", harmonised="1"))),
                actor="curator")
        ingest(store, name, delivery)
    for name in trials:
        run = check_trial(store, name, raise_queries=False)
        assert run.harmonised.problems.empty, run.harmonised.problems.head().to_string()
        assert run.validation.failures.empty, run.validation.failures.head().to_string()
        checks = {c: s for c, s in zip(run.validation.checks["check"],
                                        run.validation.checks["status"])}
        assert checks["rule:dfs-not-after-os"] == "passed"
        by = {f.check: f for f in run.integrity}
        assert by["ids"].status == "passed"
        assert by["randomised-n"].status == "skipped"  # no published numbers registered
    data = pool(store)
    store.close()
    assert len(data) == len(text) == 3288
    original = pd.read_csv(source)
    original["arm"] = np.where(original["trt"] > 0, 1, 0)
    assert data["os_time_days"].sum() == original["timeT"].sum()
    assert data["os_event"].astype(int).sum() == original["statusT"].sum()
    assert data["dfs_event"].astype(int).sum() == original["statusS"].sum()
    assert (data.groupby("trial")["arm"].sum().to_numpy() ==
            original.groupby("trialref")["arm"].sum().to_numpy()).all()
