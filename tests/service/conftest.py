"""Fixtures of the service tests: one world and one real server per module and backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.world import Server, World, build_world, pg_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.sqlite'}"
        return
    if not os.environ.get("IPDREPO_TEST_PG_URL"):
        if os.environ.get("IPDREPO_REQUIRE_PG") == "1":
            pytest.fail("IPDREPO_REQUIRE_PG=1 but no PostgreSQL server (IPDREPO_TEST_PG_URL)")
        pytest.skip("no PostgreSQL server: run the tests with `python3 dev.py test`")
    yield from pg_database()  # type: ignore[misc]


@pytest.fixture(scope="module")
def world(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(Path(tmp_path_factory.mktemp("world")), backend_url)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    srv = Server(world)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page_world(backend_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[World, dict[str, Any]]:
    """The world with a question about an impossible date (:mod:`tests.service.pages_world`)."""
    from tests.service.pages_world import add_date_question

    root = Path(tmp_path_factory.mktemp("pages"))
    world = build_world(root, backend_url)
    return world, add_date_question(world, root)
