"""docs/cli.md is what docs/gen_cli.py makes from the real --help now, and documents every
command and every option."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tests.docs.generators import load_generator

ROOT = Path(__file__).resolve().parents[2]


GEN = load_generator("gen_cli")


def sections(text: str) -> dict[str, str]:
    """command title ("ipdrepo queries export") -> its help text in the page."""
    found = re.findall(r"^#{2,4} (ipdrepo[^{\n]*?) \{ #[^}]+ \}\n\n```text\n(.*?)```", text,
                       re.S | re.M)
    return {title: body for title, body in found}


def test_cli_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == GEN.render(), (
        "docs/cli.md differs from the CLI's --help; run `python docs/gen_cli.py` and commit it")


def test_every_command_and_option_is_in_the_reference() -> None:
    page = sections((ROOT / "docs" / "cli.md").read_text())
    missing: list[str] = []
    n_options = 0
    for path, command in GEN.commands():
        title = " ".join(("ipdrepo", *path))
        if title not in page:
            missing.append(f"command {title}")
            continue
        body = page[title]
        assert body.startswith(f"Usage: {title} "), title
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                n_options += 1
                for opt in (*param.opts, *param.secondary_opts):
                    if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", body):
                        missing.append(f"{title} {opt}")
    assert not missing, missing
    assert n_options > 200  # the walk really reached the sub-commands


def test_hidden_and_help_are_handled() -> None:
    """The walk sees the lazily registered groups and their sub-commands."""
    titles = {" ".join(p) for p, _ in GEN.commands()}
    for expected in ("lab", "demo", "queries export", "release create", "analyse two-stage",
                     "example stage ingest"):
        assert expected in titles, expected


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    try:
        stale = tmp_path / "cli.md"
        stale.write_text("# CLI reference\n\nold\n")
        mp.setattr(GEN, "TARGET", stale)
        mp.setattr(GEN, "ROOT", tmp_path)
        assert GEN.main(["--check"]) == 1
        assert GEN.main([]) == 0 and GEN.main(["--check"]) == 0
    finally:
        mp.undo()
