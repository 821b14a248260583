"""Issue 15, done when: the CDISC pilot brought into a topic as a trial; from its SDTM datasets
alone (DM, AE, DS, SV) the mapping in tests/cdisc/topic derives the time to the first
dermatologic adverse event after treatment start the way the pilot's ADaM define.xml documents
ADTTE (PARAMCD TTDE), and the result is compared with the delivered ADTTE row by row.

ADTTE as documented: STARTDT = RFSTDTC; the event is the first treatment-emergent (ASTDT >=
TRTSDT, TRTSDT the visit 3 date) AE of CQ01NAM = 'DERMATOLOGIC EVENTS' (AEDECOD containing
APPLICATION/DERMATITIS/ERYTHEMA/BLISTER, or body system SKIN AND SUBCUTANEOUS TISSUE DISORDERS
but not COLD SWEAT/HYPERHIDROSIS/ALOPECIA), its start day imputed as the 1st when missing;
otherwise censored at RFENDTC; AVAL = ADT - STARTDT + 1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from harmonise.pipeline.harmonising import TrialRun, harmonise_trial
from harmonise.pipeline.provenance import explain_cell
from repository.errors import NotFound
from repository.store import Store


@pytest.fixture(scope="module")
def run(sdtm_store: Store) -> TrialRun:
    return harmonise_trial(sdtm_store, "CDISCPILOT01", write=False)


def _with_usubjid(run: TrialRun, pilot: Path) -> pd.DataFrame:
    dm, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "dm.xpt"))
    data = run.data.copy()
    data["USUBJID"] = dm["USUBJID"].to_numpy()[data["_row"].to_numpy() - 1]
    return data


def test_time_to_first_dermatologic_event_agrees_with_adtte_row_by_row(
        run: TrialRun, pilot: Path) -> None:
    adtte, _ = pyreadstat.read_xport(str(pilot / "adam" / "adtte.xpt"))
    assert set(adtte["PARAMCD"]) == {"TTDE"} and len(adtte) == 254
    data = _with_usubjid(run, pilot)
    both = adtte.merge(data, on="USUBJID", how="left", validate="one_to_one")
    assert both["participant_id"].notna().all(), "every ADTTE subject is a participant"
    derived_date = both["derm_ae_date"].where(both["ttde_event"] == 1, both["ref_end"])
    differences = []
    for _, r in both.iterrows():
        mine = (int(r["ttde_days"]), 1 - int(r["ttde_event"]), derived_date[_].date(),
                r["ref_start"].date())
        theirs = (int(r["AVAL"]), int(r["CNSR"]), r["ADT"], r["STARTDT"])
        if mine != theirs:
            differences.append((r["USUBJID"], mine, theirs))
    assert differences == [], f"{len(differences)} of 254 differ: {differences[:10]}"
    # the events are the ones ADTTE names: the AE sequence number its ADT came from
    events = both[both["CNSR"] == 0]
    assert len(events) == 152 and (events["SRCDOM"] == "ADAE").all()
    # screen failures (in DM, not randomised) have no arm and no time-to-event pair
    others = data[~data["USUBJID"].isin(adtte["USUBJID"])]
    assert len(others) == len(data) - 254 > 0
    assert others["arm"].isna().all() and others["ttde_days"].isna().all()


def test_the_adverse_event_table_keeps_every_sdtm_row_and_flags_partial_dates(
        run: TrialRun, pilot: Path) -> None:
    ae, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "ae.xpt"))
    table = run.tables["adverse_events"]
    assert len(table.data) == len(ae) == 1191
    assert not table.data.duplicated(["participant_id", "ae_seq"]).any()
    year_month = ae["AESTDTC"].str.len() == 7
    year_only = ae["AESTDTC"].str.len() == 4
    # year-month starts are completed to the 1st and flagged; a year alone is never completed
    imputed = table.imputed
    assert set(imputed["row"]) == set((ae.index[year_month] + 1).tolist())
    assert (imputed["variable"] == "ae_start").all()
    partial = table.problems[table.problems["reason"] == "partial_date"]
    assert set(partial["row"]) == set((ae.index[year_only] + 1).tolist())
    starts = table.data.set_index("_row")["ae_start"]
    first = ae.index[year_month][0]
    assert starts[first + 1] == pd.Timestamp(ae.loc[first, "AESTDTC"] + "-01")
    assert starts.loc[(ae.index[year_only] + 1).tolist()].isna().all()
    # counts and the worst severity per participant come from the same rows
    data = _with_usubjid(run, pilot)
    counts = ae.groupby("USUBJID").size()
    assert (data.set_index("USUBJID")["n_ae"] == counts.reindex(data["USUBJID"]).fillna(0)
            .astype(int).to_numpy()).all()


def test_explain_shows_the_adverse_events_read_and_the_one_taken(
        sdtm_store: Store, pilot: Path) -> None:
    adtte, _ = pyreadstat.read_xport(str(pilot / "adam" / "adtte.xpt"))
    ae, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "ae.xpt"))
    event = adtte[adtte["CNSR"] == 0].iloc[0]
    exp = explain_cell(sdtm_store, "CDISCPILOT01", event["USUBJID"], "derm_ae_date")
    taken = [c for c in exp.contributions if c["taken"]]
    assert len(taken) == 1 and taken[0]["value"] == str(event["ADT"])
    mine = ae[ae["USUBJID"] == event["USUBJID"]]
    # the rows listed are the participant's matching AEs (dermatologic, treatment-emergent)
    read = ae.iloc[[c["row"] - 1 for c in exp.contributions]]
    assert 1 <= len(read) <= len(mine) and (read["USUBJID"] == event["USUBJID"]).all()
    assert all(c["dataset"] == "ae" for c in exp.contributions)
    taken_row = ae.iloc[taken[0]["row"] - 1]
    assert taken_row["USUBJID"] == event["USUBJID"] and taken_row["AESEQ"] == event["SRCSEQ"]
    assert "rows read" in str(exp) and "<- taken" in str(exp)
    # a long-table cell needs its row: by key, and a clear refusal without one
    seq = int(mine["AESEQ"].iloc[0])
    cell = explain_cell(sdtm_store, "CDISCPILOT01", event["USUBJID"], "ae_term",
                        key={"ae_seq": str(seq)})
    assert cell.table == "adverse_events" and cell.dataset == "ae"
    assert cell.value == mine["AEDECOD"].iloc[0] and cell.delivered == {
        "AEDECOD": mine["AEDECOD"].iloc[0]}
    if len(mine) > 1:
        with pytest.raises(NotFound, match="--key NAME=VALUE or --row N"):
            explain_cell(sdtm_store, "CDISCPILOT01", event["USUBJID"], "ae_term")


def test_explain_from_the_command_line_picks_a_long_table_row(sdtm_store: Store,
                                                              pilot: Path) -> None:
    import json

    from click.testing import CliRunner

    from repository.cli import cli

    ae, _ = pyreadstat.read_xport(str(pilot / "sdtm" / "ae.xpt"))
    env = {"IPDREPO_WORKSPACE": str(sdtm_store.settings.workspace), "IPDREPO_USER": "curator"}
    row = ae.iloc[5]
    runner = CliRunner()
    result = runner.invoke(cli, ["explain", "CDISCPILOT01", row["USUBJID"], "ae_soc", "--key",
                                 f"ae_seq={int(row['AESEQ'])}", "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["table"] == "adverse_events" and out["row"] == 6
    assert out["value"] == row["AEBODSYS"]
    bad = runner.invoke(cli, ["explain", "CDISCPILOT01", row["USUBJID"], "ae_soc", "--key",
                              "ae_seq"], env=env)
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output
