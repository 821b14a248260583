"""Shared fixtures: fresh stores on SQLite and on a real PostgreSQL server.

``python3 dev.py test`` starts a throw-away PostgreSQL server and exports
``IPDREPO_TEST_PG_URL``; tests using ``database_url`` then run once per backend. Without a
server the PostgreSQL variants are SKIPPED (shown in the summary), or fail when
``IPDREPO_REQUIRE_PG=1`` (CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.gastric import gastric_path

ROOT = Path(__file__).resolve().parents[1]


def _pg_admin_url() -> str | None:
    return os.environ.get("IPDREPO_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    admin = _pg_admin_url()
    if not admin:
        if os.environ.get("IPDREPO_REQUIRE_PG") == "1":
            pytest.fail("IPDREPO_REQUIRE_PG=1 but no PostgreSQL server (IPDREPO_TEST_PG_URL)")
        pytest.skip("no PostgreSQL server: run the tests with `python3 dev.py test`")
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@pytest.fixture
def make_store(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_store(topic="t", **init_overrides)`` -> an open Store on a new workspace."""
    from repository.settings import load_settings
    from repository.store import Store
    from repository.workspace import init_workspace

    opened: list[Store] = []

    def factory(topic: str = "gastric-adjuvant", name: str = "ws", **overrides: Any) -> Store:
        url = overrides.pop("database_url", database_url if not opened else None)
        if url is None:  # a second store in one test gets its own SQLite file
            url = f"sqlite:///{tmp_path / (name + '.sqlite')}"
        init_workspace(tmp_path / name, topic=topic, database_url=url, actor="tester",
                       **overrides)
        store = Store.open(load_settings(tmp_path / name, actor="tester", env={}))
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def gastric_dir() -> Path:
    """The real GASTRIC data directory (skipped without it; failed under
    IPDREPO_REQUIRE_GASTRIC=1, see tests/gastric.py)."""
    return gastric_path("gastadj").parent


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto) on a free loopback port, for the whole session;
    yields its endpoint URL. Tests set AWS_* credentials ("testing") themselves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the server says it is listening
            if "Running on" in line:
                break
        else:
            pytest.fail("the moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
