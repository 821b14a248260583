"""Keep docs/releases.md true: every option of the versions commands, every manifest key and
every diff cause is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from versions.cli import consent, prisma, release, request, withdraw
from versions.dataset import PARQUET_OPTIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "releases.md").read_text(encoding="utf-8")


def _commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [("withdraw", withdraw)]
    for name, group in (("release", release), ("request", request), ("consent", consent),
                        ("prisma", prisma)):
        assert isinstance(group, click.Group)
        out += [(f"{name} {sub}", cmd) for sub, cmd in group.commands.items()]
    return out


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda x: str(x))
def test_every_option_is_in_the_reference(name: str, command: click.Command) -> None:
    assert f"`{name}" in DOC, f"{name} is not in docs/releases.md"
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert f"`{longest}" in DOC or f"/{longest}`" in DOC, f"{name} {longest}"


def test_manifest_keys_and_diff_causes_are_documented(truth) -> None:
    from tests.versions.factory import make_inputs
    from versions.releases import build_release

    pseudonyms = {t: {str(i): f"P{i}" for i in rows["participant_id"]}
                  for t, rows in truth.groupby("trial")}
    manifest = build_release(make_inputs(truth, pseudonyms), version="1.0",
                             created_by="t").manifest
    for key in manifest:
        assert f"`{key}`" in DOC, f"manifest key {key}"
    for key in manifest["data"]:
        assert f"`{key}`" in DOC, f"manifest data.{key}"
    for cause in ("correction", "correction withdrawn", "new delivery", "mapping changed",
                  "dictionary changed", "unexplained"):
        assert f"| `{cause}` |" in DOC
    assert f"level {PARQUET_OPTIONS['compression_level']}" in DOC
