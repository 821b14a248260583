"""The example workspace the notebook tests share: ``ipdrepo demo`` run once per session.

Set ``IPDREPO_NOTEBOOK_WORKSPACE`` to a workspace where the demo ran to skip the demo (local
iterations); note that the release notebook adds a withdrawal and release 1.1.0 to it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner


def _demo(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """``ipdrepo demo`` in a new temporary directory ``name``; its workspace (or the one
    ``IPDREPO_NOTEBOOK_WORKSPACE`` names)."""
    given = os.environ.get("IPDREPO_NOTEBOOK_WORKSPACE")
    if given:
        return Path(given).resolve()
    from repository.cli import cli

    directory = tmp_path_factory.mktemp(name) / "demo"
    result = CliRunner().invoke(cli, ["demo", str(directory)], catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]
    return directory / "workspace"


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding release 1.0.0 of the example topic (``DIR/workspace`` of the demo)."""
    return _demo(tmp_path_factory, "notebook-demo")


@pytest.fixture(scope="module")
def notebook_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace of the notebooks' own: the release notebook makes release 1.1.0, which
    the release gate refuses while a query is open, and other tests (the guides' commands)
    raise queries on the shared ``demo_workspace``."""
    return _demo(tmp_path_factory, "notebooks-own-demo")
