"""Fixtures for the versions tests: a real store with registered trials, realistic release
inputs, and a real git + DVC release repository in a temporary workspace."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from repository.settings import load_settings
from repository.store import Store
from repository.workspace import init_workspace
from tests.versions.factory import make_inputs, register
from versions.gitdvc import ReleaseRepository
from versions.inputs import ReleaseInputs

TOPIC = "gastric-adjuvant"


@dataclass
class Env:
    """A workspace whose store knows the example trials and their participants."""

    store: Store
    truth: pd.DataFrame
    pseudonyms: dict[str, dict[str, str]]
    root: Path

    def inputs(self, **kwargs: Any) -> ReleaseInputs:
        kwargs.setdefault("deliveries", self.deliveries())
        return make_inputs(self.truth, self.pseudonyms, **kwargs)

    def deliveries(self) -> list[dict[str, Any]]:
        """The store's current delivery of every trial, as release inputs list them."""
        from sqlalchemy import select

        from repository.models import Delivery, Trial

        with self.store.reading() as session:
            rows = session.execute(select(Delivery, Trial.acronym)
                                   .join(Trial, Trial.id == Delivery.trial_id)
                                   .where(Delivery.superseded_by_id.is_(None))).all()
            return [{"trial": t, "delivery_id": d.id, "file_name": d.file_name,
                     "sha256": d.sha256, "rows": d.n_rows} for d, t in rows]

    @property
    def workspace(self) -> Path:
        return self.store.settings.workspace

    @property
    def repo(self) -> ReleaseRepository:
        from versions.releases import release_repository

        return release_repository(self.store)

    @property
    def trials(self) -> list[str]:
        return sorted(self.pseudonyms)

    def participant(self, trial: str, index: int = 0) -> str:
        return list(self.pseudonyms[trial].values())[index]


def new_env(root: Path, truth: pd.DataFrame, *, database_url: str | None = None,
            secret_from: Path | None = None) -> Env:
    """A new workspace with the truth's trials registered and delivered; with ``secret_from``,
    it shares that repository secret (as a team's second machine does), so its pseudonyms are
    the same."""
    if secret_from is not None:
        key = root / "ws" / "keys" / "pseudonym.key"
        key.parent.mkdir(parents=True, mode=0o700)
        key.write_bytes(secret_from.read_bytes())
        key.chmod(0o600)
    init_workspace(root / "ws", topic=TOPIC, actor="tester", database_url=database_url)
    store = Store.open(load_settings(root / "ws", actor="tester", env={}))
    pseudonyms = register(store, truth, root / "deliveries")
    return Env(store=store, truth=truth, pseudonyms=pseudonyms, root=root)


@pytest.fixture(scope="session")
def truth(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The ground truth of a small example topic (4 trials, 400 participants)."""
    from repository.example import create

    directory = tmp_path_factory.mktemp("example")
    create(directory / "topic", trials=4, participants=400)
    return pd.read_parquet(directory / "topic" / "truth" / "participants.parquet")


@pytest.fixture
def env(tmp_path: Path, truth: pd.DataFrame) -> Iterator[Env]:
    """A fresh SQLite workspace with the example trials registered."""
    e = new_env(tmp_path, truth)
    yield e
    e.store.close()


@pytest.fixture
def env_any(tmp_path: Path, truth: pd.DataFrame, database_url: str) -> Iterator[Env]:
    """As ``env``, once on SQLite and once on PostgreSQL."""
    e = new_env(tmp_path, truth, database_url=database_url)
    yield e
    e.store.close()


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout


def snapshot(e: Env) -> dict[str, Any]:
    """Everything a failed release must leave as it was: git refs, every file of the work tree
    (ignored ones too, apart from DVC's cache and temporary files), store rows, audit events."""
    from sqlalchemy import func, select

    from repository.models import AuditEvent, Release

    root = e.repo.root
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".git/", ".dvc/cache", ".dvc/tmp")) or rel == ".git":
            continue
        files[rel] = path.read_bytes() if path.is_file() else "<dir>"
    with e.store.reading() as session:
        releases = session.scalar(select(func.count(Release.id)))
        events = session.scalar(select(func.count(AuditEvent.id)))
    return {"head": git(root, "rev-parse", "HEAD").strip(),
            "refs": git(root, "show-ref"),
            "index": git(root, "ls-files", "--stage"),
            "files": files, "releases": releases, "audit": events}


@pytest.fixture
def fail_at() -> Callable[[str], Callable[[str], None]]:
    """``fail_at(step)``: a checkpoint that raises at ``step``."""
    class Injected(RuntimeError):
        pass

    def make(step: str, exc: type[BaseException] = Injected) -> Callable[[str], None]:
        def checkpoint(name: str) -> None:
            if name == step:
                raise exc(f"injected failure at {step}")
        return checkpoint

    return make


def ipdrepo(e: Env, *args: str) -> Any:
    """Run ``ipdrepo -w WORKSPACE ARGS`` as the workspace's curator; returns click's Result."""
    from click.testing import CliRunner

    from repository.cli import cli

    runner = CliRunner(env={"IPDREPO_USER": "tester", "IPDREPO_WORKSPACE": None})
    return runner.invoke(cli, ["-w", str(e.workspace), *args])
