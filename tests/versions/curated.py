"""A curated example workspace: the example topic ingested, checked, its data queries answered
by the (simulated) trialists and accepted as corrections - the demo's steps 1-7, smaller.

Its corrections are real ones made by the query round: a duplicated trial ID corrected
(``BO-0007`` -> ``BO-0005``), dates swapped in the trial's own ``dd/mm/yyyy``, a unit slip, a
typing error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from repository.settings import load_settings
from repository.store import Store

ACTOR = "tester"


@dataclass
class Curated:
    store: Store
    example: Path
    workspace: Path


def curated_workspace(root: Path, *, trials: int = 4, participants: int = 300,
                      database_url: str | None = None) -> Curated:
    from repository.cli.example_steps import check, ingest_all, make_dictionary, queries_round
    from repository.example import create
    from repository.trials import add_trial, load_registry_file
    from repository.workspace import init_workspace

    root.mkdir(parents=True, exist_ok=True)
    example = root / "example"
    create(example, trials=trials, participants=participants)
    dictionary = make_dictionary(root, example)
    workspace = root / "workspace"
    init_workspace(workspace, topic="gastric-adjuvant", dictionary=dictionary, actor=ACTOR,
                   database_url=database_url)
    store = Store.open(load_settings(workspace, actor=ACTOR, env={}))
    registry = yaml.safe_load((example / "topic.yaml").read_text())["trials"]
    with store.transaction() as session:
        for spec in load_registry_file(example / "topic.yaml"):
            add_trial(session, store.topic(session), spec, actor=ACTOR)
    ingest_all(store, example, registry)
    check(store)
    queries_round(store, example, root / "workbooks")
    return Curated(store=store, example=example, workspace=workspace)
