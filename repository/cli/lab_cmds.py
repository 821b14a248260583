"""``ipdrepo lab [WORKSPACE]``: JupyterLab on a workspace, with the example notebooks.

The bundled notebooks (``analyses/notebooks/*.ipynb``) are copied into
``<workspace>/notebooks/``. A copy the user edited is never overwritten: the hash of every copy
installed is kept in ``notebooks/.ipdrepo-notebooks.json``, and only a copy still equal to what
was installed is updated when the bundled notebook changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from repository.cli.access import requires

__all__ = ["lab", "NOTEBOOKS", "RECORD", "InstallResult", "bundled_notebooks",
           "install_notebooks", "lab_command"]

#: where the example notebooks live in the source tree (and the installed package)
NOTEBOOKS = Path(__file__).resolve().parents[2] / "analyses" / "notebooks"
#: the record of installed copies, inside ``<workspace>/notebooks``
RECORD = ".ipdrepo-notebooks.json"


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_notebooks` did, by notebook file name."""

    folder: Path
    copied: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # the user's edited (or own) copies, left alone

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "copied": list(self.copied),
                "updated": list(self.updated), "unchanged": list(self.unchanged),
                "kept": list(self.kept)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundled_notebooks(source: Path = NOTEBOOKS) -> list[Path]:
    """The example notebooks, in order of their names."""
    return sorted(source.glob("*.ipynb"))


def install_notebooks(workspace: Path, *, source: Path = NOTEBOOKS) -> InstallResult:
    """Copy the example notebooks into ``<workspace>/notebooks`` without overwriting edits."""
    folder = Path(workspace) / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / RECORD
    try:
        record: dict[str, str] = json.loads(record_path.read_text()) if record_path.is_file() \
            else {}
    except (OSError, ValueError):
        record = {}
    copied, updated, unchanged, kept = [], [], [], []
    for nb in bundled_notebooks(source):
        target = folder / nb.name
        new = _sha256(nb)
        if not target.exists():
            shutil.copyfile(nb, target)
            copied.append(nb.name)
            record[nb.name] = new
            continue
        current = _sha256(target)
        if current == new:
            unchanged.append(nb.name)
            record[nb.name] = new
        elif record.get(nb.name) == current:  # untouched since we installed it: update
            shutil.copyfile(nb, target)
            updated.append(nb.name)
            record[nb.name] = new
        else:
            kept.append(nb.name)
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return InstallResult(folder, tuple(copied), tuple(updated), tuple(unchanged), tuple(kept))


def lab_command(workspace: Path, *, port: int | None, ip: str | None, no_browser: bool,
                allow_root: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line for ``workspace`` (rooted there, opening notebooks/)."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}",
            "--LabApp.default_url=/lab/tree/notebooks"]
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if ip is not None:
        argv.append(f"--ServerApp.ip={ip}")
    if no_browser:
        argv.append("--no-browser")
    if allow_root:
        argv.append("--allow-root")
    return argv + list(extra)


def _exec(argv: list[str], env: Mapping[str, str]) -> None:
    """Become JupyterLab (POSIX), so that signals and the exit code are the server's own."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(argv[0], argv, dict(env))
    raise SystemExit(subprocess.call(argv, env=dict(env)))  # pragma: no cover - Windows


@click.command()
@click.argument("workspace", required=False,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: JupyterLab's, 8888 or the next free one).")
@click.option("--ip", default=None, help="Address to listen on (default: localhost).")
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option("--allow-root", is_flag=True,
              help="Let JupyterLab run as root (which it refuses otherwise), e.g. in a container.")
@click.pass_context
@requires("lab.start", workspace="workspace")
def lab(ctx: click.Context, workspace: Path | None, port: int | None, ip: str | None,
        no_browser: bool, allow_root: bool) -> None:
    """Start JupyterLab on WORKSPACE with the example notebooks.

    WORKSPACE defaults to --workspace / IPDREPO_WORKSPACE / the workspace containing the
    current directory. The example notebooks are copied into WORKSPACE/notebooks (copies you
    edited are kept). The server runs with IPDREPO_WORKSPACE=WORKSPACE, so the notebooks use
    release 1.0.0 of the example topic there when the workspace holds it (a workspace made by
    `ipdrepo demo`), else build the example next to the notebooks on first use.

    \b
    Examples:
      ipdrepo demo demo-workspace
      ipdrepo lab demo-workspace/workspace
      ipdrepo lab --no-browser --port 8890 --ip 127.0.0.1
    """
    from repository.extras import require_extra
    from repository.settings import load_settings

    require_extra("lab", needed_for="ipdrepo lab")
    if workspace is None:
        workspace = ctx.find_root().meta.get("ipdrepo.workspace")
    settings = load_settings(workspace)  # refuses a directory that is not a workspace
    root = settings.workspace
    result = install_notebooks(root)
    for label, names in (("copied", result.copied), ("updated", result.updated),
                         ("kept (you edited them)", result.kept)):
        if names:
            click.echo(f"notebooks {label}: {', '.join(names)}")
    click.echo(f"JupyterLab on {root} (notebooks in {result.folder}); stop it with Ctrl-C.")
    env = {**os.environ, "IPDREPO_WORKSPACE": str(root)}
    _exec(lab_command(root, port=port, ip=ip, no_browser=no_browser,
                      allow_root=allow_root), env)
