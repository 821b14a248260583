"""repository.cli.example_workspace: where the notebooks find release 1.0.0 of the example."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from repository.cli.example_workspace import example_workspace
from repository.errors import ConfigError


def empty_workspace(path: Path) -> Path:
    from repository.cli import cli

    result = CliRunner().invoke(cli, ["init", str(path), "--topic", "gastric-adjuvant"],
                                env={"IPDREPO_USER": "someone"})
    assert result.exit_code == 0, result.output
    return path


def test_notebook_workspace_wins(demo_workspace: Path) -> None:
    ex = example_workspace(env={"IPDREPO_NOTEBOOK_WORKSPACE": str(demo_workspace),
                                "IPDREPO_WORKSPACE": "/nonexistent"})
    assert ex.origin == "IPDREPO_NOTEBOOK_WORKSPACE"
    assert ex.workspace == demo_workspace.resolve()
    assert ex.releases == demo_workspace.resolve() / "releases"
    assert ex.actor == "demo-curator" and (ex.topic, ex.version) == ("gastric-adjuvant", "1.0.0")
    with ex.open_store() as store, store.reading() as session:
        assert store.topic(session).slug == "gastric-adjuvant"


def test_lab_workspace_with_the_release_is_used(demo_workspace: Path) -> None:
    ex = example_workspace(env={"IPDREPO_WORKSPACE": str(demo_workspace),
                                "IPDREPO_USER": "ann"})
    assert ex.origin == "IPDREPO_WORKSPACE" and ex.actor == "ann"


def test_a_notebook_workspace_without_the_release_is_refused(tmp_path: Path) -> None:
    ws = empty_workspace(tmp_path / "ws")
    with pytest.raises(ConfigError, match="not a workspace holding release 1.0.0"):
        example_workspace(env={"IPDREPO_NOTEBOOK_WORKSPACE": str(ws)})
    with pytest.raises(ConfigError, match="IPDREPO_NOTEBOOK_WORKSPACE"):
        example_workspace(env={"IPDREPO_NOTEBOOK_WORKSPACE": str(tmp_path / "nothing")})


def test_a_directory_not_made_by_the_demo_is_left_alone(tmp_path: Path) -> None:
    """A lab workspace without the release falls through to building, which refuses a
    directory that has other files in it (nothing is deleted)."""
    ws = empty_workspace(tmp_path / "ws")
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.docx").write_text("precious")
    with pytest.raises(ConfigError, match="was not made by `ipdrepo demo`"):
        example_workspace(target, env={"IPDREPO_WORKSPACE": str(ws)})
    assert (target / "thesis.docx").read_text() == "precious"


@pytest.mark.slow
def test_builds_the_example_once_then_finds_it(tmp_path: Path) -> None:
    built = example_workspace(tmp_path / "example-topic", env={})
    assert built.origin == "built" and built.workspace == tmp_path / "example-topic" / "workspace"
    again = example_workspace(tmp_path / "example-topic", env={})
    assert again.origin == "found" and again.workspace == built.workspace
