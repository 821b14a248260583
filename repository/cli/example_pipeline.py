"""The DVC stages of the example pipeline (dvc.yaml): ingest -> harmonise -> validate ->
release -> analyse, each reading the previous stage's directory and writing its own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from repository.cli import example_steps as steps
from repository.objects import private_dir

__all__ = ["ingest_stage", "harmonise_stage", "validate_stage", "release_stage",
           "analyse_stage", "ACTOR"]

ACTOR = "pipeline-curator"


def _fresh(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _copy(src: Path, out: Path) -> Path:
    shutil.copytree(src, _fresh(out), symlinks=True)
    return out


def _store(workspace: Path) -> Any:
    from repository.settings import load_settings
    from repository.store import Store

    return Store.open(load_settings(workspace, actor=ACTOR, env={}))


def _example_secret(example_dir: Path, workspace: Path) -> None:
    """An example-only secret derived from the example's seed (reproducible pseudonyms)."""
    topic = yaml.safe_load((example_dir / "topic.yaml").read_text())
    seed = json.dumps(topic.get("generated_by", {}), sort_keys=True, default=str)
    key = hashlib.sha256(f"ipdrepo example pipeline key {seed}".encode()).hexdigest()
    keys = private_dir(workspace / "keys")
    fd = os.open(keys / "pseudonym.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")


def ingest_stage(example_dir: Path, out: Path) -> None:
    from repository.trials import add_trial, load_registry_file
    from repository.workspace import init_workspace

    out = _fresh(out)
    workspace = out / "workspace"
    workspace.mkdir(parents=True)
    dictionary = steps.make_dictionary(workspace, example_dir)  # inside: copies keep it
    _example_secret(example_dir, workspace)
    init_workspace(workspace, topic="gastric-adjuvant", dictionary=dictionary, actor=ACTOR,
                   title="Adjuvant chemotherapy after resection of gastric cancer (example)")
    registry = yaml.safe_load((example_dir / "topic.yaml").read_text())["trials"]
    with _store(workspace) as store:
        with store.transaction() as session:
            topic = store.topic(session)
            for spec in load_registry_file(example_dir / "topic.yaml"):
                add_trial(session, topic, spec, actor=ACTOR)
        for note in steps.ingest_all(store, example_dir, registry):
            click.echo(f"  note: {note}")


def harmonise_stage(input_dir: Path, out: Path) -> None:
    from harmonise.pipeline.harmonising import (
        harmonise_trial,
        load_topic_dictionary,
        pool,
        trials_with_data,
    )

    _copy(input_dir, out)
    with _store(out / "workspace") as store:
        dictionary = load_topic_dictionary(store)
        for trial in trials_with_data(store):
            harmonise_trial(store, trial, dictionary=dictionary)
        data = pool(store)
    click.echo(f"  harmonised {len(data)} rows")


def validate_stage(input_dir: Path, example_dir: Path, out: Path, metrics: Path) -> None:
    from repository.example.planted import load_planted, match_planted

    _copy(input_dir, out)
    registry = yaml.safe_load((example_dir / "topic.yaml").read_text())["trials"]
    with _store(out / "workspace") as store:
        first = steps.check(store)
        findings = [f for r in first for f in r.findings]
        matches, unexplained = match_planted(load_planted(example_dir), findings,
                                             store.pseudonymiser("gastric-adjuvant").pseudonym)
        steps.queries_round(store, example_dir, out / "workbooks")
        steps.redeliver(store, example_dir, registry)
        final = steps.check(store)
        steps.write_reports(store, final)
        confirmed = steps.accepted_keys(store)
        left = [f for r in final for f in r.findings]
    result = {
        "findings_before_queries": len(findings),
        "planted_problems": len(matches),
        "planted_found": sum(m.found for m in matches),
        "unexplained_findings": len(unexplained),
        "findings_after_corrections": len(left),
        "open_findings": sum(f.key not in confirmed for f in left),
        "confirmed_correct": sum(f.key in confirmed for f in left),
    }
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def release_stage(input_dir: Path, version: str, out: Path) -> None:
    from versions.releases import create_release
    from versions.store_inputs import release_inputs

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipdrepo-release-") as tmp:
        workspace = _copy(input_dir, Path(tmp) / "stage") / "workspace"
        with _store(workspace) as store:
            result = create_release(store, release_inputs(store), version=version,
                                    message="example pipeline release")
        tag_dir = workspace / "releases" / "gastric-adjuvant" / version
        for name in ("data.parquet", "manifest.json"):
            shutil.copy(tag_dir / name, out / name)
        if (tag_dir / "tables").is_dir():  # the long tables the manifest lists
            shutil.rmtree(out / "tables", ignore_errors=True)
            (out / "tables").mkdir()
            for table in sorted((tag_dir / "tables").glob("*.parquet")):
                shutil.copy(table, out / "tables" / table.name)
        click.echo(f"  released {result.to_dict().get('tag', version)}")


def analyse_stage(release_dir: Path, method: str, out: Path, metrics: Path) -> None:
    import numpy as np
    import pandas as pd

    data = pd.read_parquet(release_dir / "data.parquet")
    d = steps.os_meta_analysis(data, out, method=method).to_dict()
    summary = {"outcome": "os", "model": "cox", "method": method, "k": d["k"],
               "log_hr": round(float(d["estimate"]), 6), "se": round(float(d["se"]), 6),
               "hr": round(float(np.exp(d["estimate"])), 6),
               "tau2": round(float(d.get("tau2") or 0.0), 8),
               "I2": round(float(d.get("I2") or 0.0), 4)}
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
