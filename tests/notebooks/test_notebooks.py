"""The example notebooks run top to bottom on the example topic, and show rich output.

Each notebook is executed with nbclient in a fresh directory, with
``IPDREPO_NOTEBOOK_WORKSPACE`` pointing at the session's demo workspace (see conftest.py).
The committed notebooks carry no outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "analyses" / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
EXPECTED = ["01-curate.ipynb", "02-release-and-load.ipynb", "03-two-stage.ipynb",
            "04-one-stage-and-interactions.ipynb", "05-survival.ipynb",
            "06-report-export.ipynb"]


def test_the_six_notebooks_are_there() -> None:
    assert ALL == EXPECTED


@pytest.mark.parametrize("name", ALL)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{name}: cells {dirty} carry outputs or execution counts; clear them "
                       "(Edit > Clear Outputs of All Cells) before committing")
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, nb["metadata"].keys()
    # kept small: a notebook is a worked example, the work is in the library
    assert len(nb["cells"]) <= 40 and (NOTEBOOKS / name).stat().st_size < 25_000


def execute(path: Path, cwd: Path, workspace: Path) -> Any:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    env = {**os.environ, "IPDREPO_NOTEBOOK_WORKSPACE": str(workspace)}
    env.pop("IPDREPO_WORKSPACE", None)
    client.execute(env=env)
    return nb


def outputs(nb: Any) -> list[tuple[int, Any]]:
    return [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs]


def html_of(nb: Any) -> str:
    return "\n".join(o["data"]["text/html"] for _, o in outputs(nb)
                     if "text/html" in o.get("data", {}))


def assert_rich(nb: Any, name: str) -> None:
    """Every displayed result is HTML or an image, except plain Python lists and dicts."""
    for i, o in outputs(nb):
        assert o.output_type != "error", f"{name} cell {i}: {o.get('ename')}: {o.get('evalue')}"
        if o.output_type not in ("execute_result", "display_data"):
            continue
        data = o["data"]
        plain = data.get("text/plain", "")
        if "text/html" in data or "image/png" in data or plain.startswith(("[", "{")):
            continue
        pytest.fail(f"{name} cell {i} shows only plain text: {plain[:200]}")


@pytest.mark.parametrize("name", ALL)
def test_notebook_runs_on_the_example(name: str, notebook_workspace: Path, tmp_path: Path) -> None:
    nb = execute(NOTEBOOKS / name, tmp_path, notebook_workspace)
    assert_rich(nb, name)
    text = html_of(nb)
    images = sum("image/png" in o.get("data", {}) for _, o in outputs(nb))
    if name.startswith("01"):
        # the planted problems of the three trials were queried, answered and resolved
        assert "Data queries of gastric-adjuvant</b>: 4 (4 open)" in text  # one per root cause
        assert "Data queries of gastric-adjuvant</b>: 4 (3 closed, 1 resolved)" in text
        assert "Corrections of gastric-adjuvant</b>: 3 (3 active)" in text
        assert (tmp_path / "output" / "01-curate" / "workbooks" / "MISTRAL-queries.xlsx").is_file()
    elif name.startswith("02"):
        assert "<b>gastric-adjuvant/v1.0.0</b>: complete" in text  # verify_release
        # the withdrawn participant is left out of 1.1.0, and 1.0.0 still loads unchanged
        assert "1.0.0 &rarr; 1.1.0</b>: 0 rows added, 1 removed, 0 cells changed" in text
        assert "Release gastric-adjuvant/v1.1.0</b>" in text and "2999 rows" in text
    elif name.startswith("03"):
        assert images == 5  # five forest plots, inline
    elif name.startswith("04"):
        assert images == 1 and "arm:age_within" in text
    elif name.startswith("05"):
        assert images == 3  # KM per trial, pooled, stratified
    elif name.startswith("06"):
        out = tmp_path / "output" / "06-report-export"
        for f in ("analysis-os.html", "forest-os.png", "forest-os.svg", "dashboard.html",
                  "trials/index.html", "trials/MISTRAL.html"):
            assert (out / f).is_file() and (out / f).stat().st_size > 0, f
        assert images == 1
