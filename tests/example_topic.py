"""The example topic in a test store: one helper for every suite that needs it (generate the
trials, the dictionary with a mapping per trial, register the trials, ingest their deliveries),
instead of a copy of these steps in each test module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from repository.errors import IdentifierProblem
from repository.example import create
from repository.example.loading import ingest_trial
from repository.store import Store
from repository.trials import add_trial, load_registry_file


def write_example(base: Path, **create_options: Any) -> tuple[Path, Path]:
    """(example directory, dictionary directory): the generated trials under ``base/example``
    and the topic dictionary with their mappings under ``base/dictionary``."""
    from repository.cli.example_steps import make_dictionary

    example = base / "example"
    create(example, **create_options)
    return example, make_dictionary(base, example)


def register_trials(store: Store, example: Path, *, actor: str = "tester") -> None:
    with store.transaction() as session:
        for spec in load_registry_file(example / "topic.yaml"):
            add_trial(session, store.topic(session), spec, actor=actor)


def ingest_deliveries(store: Store, example: Path, *,
                      allow_id_problems: str = "to be queried") -> None:
    """Ingest every trial's delivery as the registry describes it; a delivery refused for its
    participant IDs is ingested with ``allow_id_problems`` (its IDs become data queries)."""
    for trial in yaml.safe_load((example / "topic.yaml").read_text())["trials"]:
        try:
            ingest_trial(store, example, trial)
        except IdentifierProblem:
            ingest_trial(store, example, trial, allow_id_problems=allow_id_problems)
