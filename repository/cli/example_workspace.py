"""The example workspace the notebooks work on: found, or built with the demo's steps.

The example notebooks (``analyses/notebooks/``, opened by ``ipdrepo lab``) analyse release
1.0.0 of the example topic. :func:`example_workspace` finds a workspace that holds it, in this
order:

1. ``IPDREPO_NOTEBOOK_WORKSPACE``: a workspace where ``ipdrepo demo`` ran (CI sets it so that
   the demo runs once for all notebooks); it must hold the release, else the error says so;
2. ``IPDREPO_WORKSPACE`` (set by ``ipdrepo lab``), when it holds the release;
3. ``<directory>/workspace`` (default ``./example-topic``, beside the notebook), built by the
   demo's steps on first use (about a minute) and reused afterwards.

Example (a notebook cell)::

    from repository.cli.example_workspace import example_workspace
    ex = example_workspace()
    data = versions.load(ex.topic, ex.version, repo=str(ex.releases))
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repository.errors import ConfigError, IPDError

__all__ = ["ExampleWorkspace", "example_workspace", "TOPIC", "VERSION", "ACTOR",
           "DEFAULT_DIRECTORY"]

TOPIC = "gastric-adjuvant"
VERSION = "1.0.0"
#: the curator ``ipdrepo demo`` creates the workspace as
ACTOR = "demo-curator"
DEFAULT_DIRECTORY = "example-topic"


@dataclass(frozen=True)
class ExampleWorkspace:
    """A workspace holding release :data:`VERSION` of the example topic."""

    workspace: Path
    releases: Path
    actor: str
    origin: str  # which rule found it: IPDREPO_NOTEBOOK_WORKSPACE, IPDREPO_WORKSPACE, built, found
    topic: str = TOPIC
    version: str = VERSION

    def open_store(self) -> Any:
        """The workspace's :class:`~repository.store.Store`, acting as :attr:`actor`
        (close it with ``store.close()`` or use it in a ``with`` block)."""
        from repository.settings import load_settings
        from repository.store import Store

        return Store.open(load_settings(self.workspace, actor=self.actor))

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "releases": str(self.releases),
                "actor": self.actor, "origin": self.origin, "topic": self.topic,
                "version": self.version}

    def __repr__(self) -> str:
        return (f"ExampleWorkspace({str(self.workspace)!r}, {self.topic} {self.version}, "
                f"actor={self.actor!r}, from {self.origin})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td><code>{html.escape(str(v))}</code></td></tr>"
                       for k, v in self.to_dict().items())
        return f"<p><b>Example workspace</b></p><table>{rows}</table>"


def _release_repo(workspace: Path) -> Path:
    from repository.settings import load_settings

    settings = load_settings(workspace, env={})
    path = Path(settings.extra.get("release_repo") or workspace / "releases")
    return path if path.is_absolute() else workspace / path


def _holds_release(workspace: Path) -> Path | None:
    """The release repository of ``workspace`` if it has release VERSION of TOPIC."""
    from repository.workspace import WORKSPACE_FILE
    from versions.consumers import available_versions

    if not (workspace / WORKSPACE_FILE).is_file():
        return None
    repo = _release_repo(workspace)
    if not (repo / ".git").exists():
        return None
    return repo if VERSION in available_versions(TOPIC, repo=str(repo)) else None


def example_workspace(directory: str | os.PathLike[str] | None = None, *,
                      env: Mapping[str, str] | None = None) -> ExampleWorkspace:
    """Find (or build) a workspace holding release 1.0.0 of the example topic; see the module
    docstring for where it looks. Building runs the demo's steps into ``directory``
    (default ``./example-topic``), which must be empty or made by an earlier demo."""
    env = os.environ if env is None else env
    actor = env.get("IPDREPO_USER") or ACTOR
    given = env.get("IPDREPO_NOTEBOOK_WORKSPACE")
    if given:
        workspace = Path(given).expanduser().resolve()
        repo = _holds_release(workspace)
        if repo is None:
            raise ConfigError(
                f"IPDREPO_NOTEBOOK_WORKSPACE={given} is not a workspace holding release "
                f"{VERSION} of {TOPIC}; run `ipdrepo demo DIR` and point it at DIR/workspace, "
                "or unset it to let the notebook build one.", workspace=str(workspace))
        return ExampleWorkspace(workspace, repo, actor, "IPDREPO_NOTEBOOK_WORKSPACE")
    lab = env.get("IPDREPO_WORKSPACE")
    if lab:
        workspace = Path(lab).expanduser().resolve()
        repo = _holds_release(workspace)
        if repo is not None:
            return ExampleWorkspace(workspace, repo, actor, "IPDREPO_WORKSPACE")
    root = Path(directory if directory is not None else DEFAULT_DIRECTORY).expanduser().resolve()
    workspace = root / "workspace"
    repo = _holds_release(workspace)
    if repo is not None:
        return ExampleWorkspace(workspace, repo, actor, "found")
    _build(root)
    repo = _holds_release(workspace)
    if repo is None:  # pragma: no cover - the demo fails loudly before this
        raise ConfigError(f"the demo ran in {root} but {workspace} holds no release {VERSION}.",
                          workspace=str(workspace))
    return ExampleWorkspace(workspace, repo, ACTOR, "built")  # the demo's curator


def _build(root: Path) -> None:
    """Run ``ipdrepo demo ROOT`` in process (the same steps, the same output)."""
    import click

    from repository.cli.demo_cmds import demo

    click.echo(f"Building the example workspace in {root} with the demo's steps "
               "(about a minute; reused afterwards) ...")
    try:
        demo.callback(directory=root, trials=8, participants=3000, seed=None)  # type: ignore[misc]
    except (click.ClickException, IPDError) as exc:
        why = exc.message if isinstance(exc, IPDError) else exc.format_message()
        raise ConfigError(f"could not build the example workspace in {root}: {why}",
                          directory=str(root)) from exc
