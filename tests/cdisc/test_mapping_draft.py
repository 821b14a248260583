"""``ipdrepo mapping draft``: from the pilot's ADaM datasets (ADSL + ADTTE with define.xml) the
draft proposes the right rules for treatment, age, sex and the time-to-event pair, every rule
marked for the curator; harmonise refuses the draft until it is confirmed, and the confirmed
mapping reproduces ADSL and ADTTE."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyreadstat
import pytest
import yaml
from click.testing import CliRunner

from harmonise.mapping.drafting import confirm_drafts
from harmonise.pipeline.harmonising import harmonise_trial
from repository.cli import cli
from repository.errors import MappingError
from repository.store import Store
from tests.cdisc.conftest import TOPIC, open_pilot_store


@pytest.fixture(scope="module")
def adam_store(pilot: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """ADSL and ADTTE of the pilot ingested (from the command line); the topic's dictionary
    without any mapping."""
    base = tmp_path_factory.mktemp("adam")
    (base / "topic").mkdir()
    shutil.copy(TOPIC / "dictionary.yaml", base / "topic" / "dictionary.yaml")
    store = open_pilot_store(base, topic_dir=base / "topic")
    args = ["ingest-package", "CDISCPILOT01", str(pilot / "adam"), "--dataset", "ADSL",
            "--dataset", "adtte", "--json"]
    refused = CliRunner().invoke(cli, args, env=_env(store))
    assert refused.exit_code != 0 and "DISONSDT" in refused.output  # flagged as a birth date
    result = CliRunner().invoke(cli, args + [
        "--accept-identifiers", "adsl:DISONSDT",
        "--justification", "date of onset of Alzheimer's disease, not of birth"], env=_env(store))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [(d["dataset"], d["n_rows"], d["row_key"]) for d in out["datasets"]] == [
        ("adsl", 254, None), ("adtte", 254, ["PARAMCD"])]
    assert out["metadata"][0]["kind"] == "define-xml"
    yield store
    store.close()


def _env(store: Store) -> dict[str, str]:
    return {"IPDREPO_WORKSPACE": str(store.settings.workspace), "IPDREPO_USER": "curator"}


def test_the_draft_proposes_treatment_age_sex_and_the_time_to_event_pair(
        adam_store: Store, pilot: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["mapping", "draft", "CDISCPILOT01", "--json"],
                           env=_env(adam_store))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    path = Path(out["file"])
    doc = yaml.safe_load(path.read_text())
    rules = doc["variables"]
    assert doc["source"] == {"dataset": "adsl", "id_column": "USUBJID"}
    # every rule is marked for the curator, with why
    assert all(r.get("draft") for r in rules.values())
    strip = {k: {x: y for x, y in v.items() if x != "draft"} for k, v in rules.items()}
    assert strip["participant_id"] == {"rule": "id_creation", "column": "USUBJID"}
    assert strip["arm"] in ({"rule": "direct", "column": "TRT01PN"},
                            {"rule": "recode", "column": "TRT01P",
                             "map": {"Placebo": 0, "Xanomeline Low Dose": 54,
                                     "Xanomeline High Dose": 81}})
    assert strip["age"] == {"rule": "direct", "column": "AGE"}
    assert strip["sex"] == {"rule": "recode", "column": "SEX", "map": {"F": 2, "M": 1}}
    assert doc["datasets"]["ttde"] == {"dataset": "adtte", "join": "one-to-one",
                                       "where": "$PARAMCD == 'TTDE'"}
    assert strip["ttde_days"] == {"rule": "direct", "column": "AVAL", "dataset": "ttde"}
    assert strip["ttde_event"] == {"rule": "recode", "column": "CNSR", "dataset": "ttde",
                                   "map": {0: 1, 1: 0}}
    # what nothing in ADaM gives stays for the curator to write
    assert strip["n_ae"]["rule"] == "undetermined"
    # the file is not overwritten by a second draft
    again = runner.invoke(cli, ["mapping", "draft", "CDISCPILOT01"], env=_env(adam_store))
    assert again.exit_code != 0 and "--force" in again.output

    # harmonise refuses a mapping with drafts, naming them and how to confirm
    with pytest.raises(MappingError, match=r"ipdrepo mapping confirm CDISCPILOT01 arm"):
        harmonise_trial(adam_store, "CDISCPILOT01", write=False)
    part = runner.invoke(cli, ["mapping", "confirm", "CDISCPILOT01", "arm", "age", "--json"],
                         env=_env(adam_store))
    assert part.exit_code == 0, part.output
    state = json.loads(part.stdout)
    assert state["confirmed"] == ["arm", "age"] and "sex" in state["still_draft"]
    assert "draft:" not in json.dumps(yaml.safe_load(path.read_text())["variables"]["arm"])
    done = runner.invoke(cli, ["mapping", "confirm", "CDISCPILOT01", "--all"],
                         env=_env(adam_store))
    assert done.exit_code == 0, done.output
    assert "draft:" not in path.read_text().split("variables:", 1)[1]
    assert path.read_text().startswith("# Proposed by `ipdrepo mapping draft CDISCPILOT01`")

    # the confirmed mapping gives ADSL's treatment, age, sex and ADTTE's pair
    run = harmonise_trial(adam_store, "CDISCPILOT01", write=False)
    adsl, _ = pyreadstat.read_xport(str(pilot / "adam" / "adsl.xpt"))
    adtte, _ = pyreadstat.read_xport(str(pilot / "adam" / "adtte.xpt"))
    data = run.data.copy()
    data["USUBJID"] = adsl["USUBJID"].to_numpy()[data["_row"].to_numpy() - 1]
    both = data.merge(adsl, on="USUBJID").merge(adtte[["USUBJID", "AVAL", "CNSR"]], on="USUBJID")
    assert len(both) == 254
    assert (both["arm"].astype(float) == both["TRT01PN"]).all()
    assert (both["age"].astype(float) == both["AGE"]).all()
    assert (both["sex"] == both["SEX"].map({"M": 1, "F": 2})).all()
    assert (both["ttde_days"].astype(float) == both["AVAL"]).all()
    assert (both["ttde_event"].astype(float) == 1 - both["CNSR"]).all()


def test_confirm_removes_only_the_draft_lines_of_rules() -> None:
    text = ("# kept\nvariables:\n  arm:\n    rule: direct\n    column: ARM\n"
            "    draft: 'why'\n  age:\n    rule: direct  # note\n    column: AGE\n"
            "    draft: because\ntables:\n  ae:\n    dataset: ae\n    variables:\n"
            "      ae_seq:\n        rule: direct\n        column: AESEQ\n        draft: seq\n")
    one, confirmed = confirm_drafts(text, ["age"])
    assert confirmed == ["age"] and "draft: because" not in one and "draft: 'why'" in one
    assert "# kept" in one and "# note" in one
    every, confirmed = confirm_drafts(text, None)
    assert confirmed == ["arm", "age", "ae_seq"] and "draft" not in every
    assert yaml.safe_load(every)["tables"]["ae"]["variables"]["ae_seq"] == {
        "rule": "direct", "column": "AESEQ"}
