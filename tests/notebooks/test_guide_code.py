"""The meta-analyst's guide works as written: its Python blocks, run in order from a directory
holding ``demo-workspace/`` (the demo's output), load release 1.0.0 and analyse it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide" / "meta-analyst.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.S | re.M)


def test_meta_analyst_guide_runs(demo_workspace: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "demo-workspace").symlink_to(demo_workspace.parent, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(GUIDE)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{GUIDE.name} block {i + 1}", "exec"), namespace)
    data = namespace["data"]
    assert len(data) == 3000 and data["trial"].nunique() == 8  # type: ignore[attr-defined]
    assert namespace["os_cox"].pooled.k == 8  # type: ignore[attr-defined]
    for name in ("forest-os.svg", "forest-os.png", "analysis-os.html"):
        assert (tmp_path / name).stat().st_size > 0, name
