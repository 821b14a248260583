"""`ipdrepo mapping check CDISCPILOT01`: the dry run of a mapping that reads several SDTM
domains (one-to-one and one-to-many joins, aggregates, long tables) against the pilot as
delivered, from the store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from repository.cli import cli
from repository.store import Store


def test_the_pilot_mapping_is_checked_against_every_domain(sdtm_store: Store) -> None:
    env = {"IPDREPO_WORKSPACE": str(sdtm_store.settings.workspace), "IPDREPO_USER": "curator"}
    result = CliRunner().invoke(cli, ["mapping", "check", "CDISCPILOT01", "--json"], env=env,
                                catch_exceptions=False)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    out = json.loads(result.stdout)
    for name in ("dm", "ae", "ds", "sv"):
        assert f"({name}.xpt)" in out["delivery"], out["delivery"]
    assert result.exit_code == (0 if out["ok"] else 4)
    problems = out["problems"]
    assert all(p["file"].endswith("CDISCPILOT01.yaml") for p in problems)
    # SV repeats one unscheduled visit of 01-711-1143 (VISITNUM 9.2): a repeated key, with rows
    repeated = [p for p in problems if p["kind"] == "repeated_key"]
    assert repeated and repeated[0]["dataset"] == "sv" and len(repeated[0]["rows"]) == 2
    assert "01-711-1143" in repeated[0]["message"] and repeated[0]["line"]
    text = CliRunner().invoke(cli, ["mapping", "check", "CDISCPILOT01"], env=env,
                              catch_exceptions=False)
    assert "Traceback" not in text.output and "CDISCPILOT01: the mapping" in text.output
