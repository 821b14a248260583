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


#: commands of the guides that are run on the demo workspace (the others are only checked
#: against the CLI by tests/docs/test_commands.py: they need files or IDs of one's own)
RUNNABLE = {("status",), ("deliveries",), ("trial", "list"), ("explain",), ("queries", "list"),
            ("queries", "raise"), ("queries", "dashboard"), ("corrections", "list"),
            ("release", "list"), ("release", "show"), ("release", "verify"),
            ("release", "get"), ("audit", "verify"), ("dictionary", "check"),
            ("analyse", "two-stage"), ("analyse", "km"), ("analyse", "baseline"),
            ("analyse", "surrogacy"), ("analyse", "one-stage")}
PAGES = ["getting-started.md", "guide/curator.md", "guide/meta-analyst.md"]


def _link_gastric(directory: Path) -> bool:
    """Link the real GASTRIC files (the meta-analyst guide's forest plot command reads
    gastadj.csv) into ``directory``; False when they are absent (the test then leaves that
    command out, and fails instead under IPDREPO_REQUIRE_GASTRIC=1)."""
    from tests.gastric import find_gastric

    source = find_gastric()
    if source is None:
        return False
    for name in ("gastadj.csv", "gastadv.csv"):
        (directory / name).symlink_to(source / name)
    return True


def test_guide_commands_run_on_the_demo(demo_workspace: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from click.testing import CliRunner

    from repository.cli import cli
    from tests.docs.commands import command_lines

    (tmp_path / "demo-workspace").symlink_to(demo_workspace.parent, target_is_directory=True)
    (tmp_path / "dictionaries").symlink_to(ROOT / "dictionaries", target_is_directory=True)
    gastric = _link_gastric(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"IPDREPO_WORKSPACE": str(demo_workspace), "IPDREPO_USER": "demo-curator"}
    runner.invoke(cli, ["user", "add", "ann", "--role", "analyst"], env=env)
    ran = []
    for page in PAGES:
        for line in command_lines((ROOT / "docs" / page).read_text()):
            args = shlex.split(line, comments=True)[1:]
            words = [a for a in args if not a.startswith("-")]
            if args[:1] == ["-w"]:
                words = [a for a in args[2:] if not a.startswith("-")]
            if tuple(words[:1]) not in RUNNABLE and tuple(words[:2]) not in RUNNABLE:
                continue
            if not gastric and any(a in ("gastadj.csv", "gastadv.csv") for a in args):
                continue  # the real GASTRIC files are read in place (see _link_gastric)
            result = runner.invoke(cli, args, env=env, catch_exceptions=False)
            assert result.exit_code == 0, f"{page}: `{line}` -> {result.exit_code}\n" \
                                          f"{result.output[-2000:]}"
            ran.append(line)
    assert len(ran) >= 12, ran
    assert any("queries raise" in line for line in ran)
    assert any("analyse two-stage" in line for line in ran)


def test_trialist_guide_commands_run_as_a_trialist(demo_workspace: Path) -> None:
    """As a trialist of GREGALE: list, show and explain work; answering is left out (the
    demo's queries are resolved already)."""
    import shlex

    from click.testing import CliRunner

    from repository.cli import cli
    from tests.docs.commands import command_lines

    runner = CliRunner()
    curator = {"IPDREPO_WORKSPACE": str(demo_workspace), "IPDREPO_USER": "demo-curator"}
    runner.invoke(cli, ["user", "add", "dr.bianchi", "--role", "trialist", "--trial",
                        "GREGALE"], env=curator)
    env = {**curator, "IPDREPO_USER": "dr.bianchi"}
    ran = []
    for line in command_lines((ROOT / "docs" / "guide" / "trialist.md").read_text()):
        args = shlex.split(line, comments=True)[1:]
        if args[:2] in (["queries", "list"], ["queries", "show"]) or args[:1] == ["explain"]:
            result = runner.invoke(cli, args, env=env, catch_exceptions=False)
            assert result.exit_code == 0, f"`{line}` -> {result.exit_code}\n{result.output}"
            ran.append(line)
    assert len(ran) == 3, ran
    refused = runner.invoke(cli, ["queries", "list", "--trial", "MISTRAL"], env=env)
    assert refused.exit_code == 7 and "ask a curator" in refused.output


def test_figures_and_json_from_a_release_carry_its_version_and_hash(
        demo_workspace: Path, tmp_path: Path) -> None:
    """`analyse ... release:1.0.0`: the JSON's source, the forest plot and the report name
    the release and the SHA-256 of its data, as the release manifest records it."""
    import json

    from click.testing import CliRunner

    from repository.cli import cli

    env = {"IPDREPO_WORKSPACE": str(demo_workspace), "IPDREPO_USER": "demo-curator"}
    runner = CliRunner()
    shown = runner.invoke(cli, ["release", "show", "1.0.0", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    sha = json.loads(shown.output)["data_sha256"]
    out = runner.invoke(cli, ["analyse", "two-stage", "release:1.0.0", "--trial", "trial",
                              "--treatment", "arm", "--time", "os_time_days", "--event",
                              "os_event", "--model", "cox", "--forest", str(tmp_path / "f.svg"),
                              "--report", str(tmp_path / "r.html"), "--json"], env=env)
    assert out.exit_code == 0, out.output
    source = json.loads(out.output)["source"]
    assert (source["kind"], source["version"], source["sha256"]) == ("release", "1.0.0", sha)
    caption = f"release {source['topic']} 1.0.0, SHA-256 {sha[:16]}"
    assert caption in (tmp_path / "f.svg").read_text()
    assert caption in (tmp_path / "r.html").read_text()
