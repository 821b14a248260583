"""A re-delivery of one long dataset of the pilot (AE corrected by the sponsor) supersedes only
that dataset; the long table and the derivations across tables follow it."""

from __future__ import annotations

from pathlib import Path

import pyreadstat

from harmonise.pipeline.harmonising import harmonise_trial
from repository.packages import ingest_package
from repository.store import Store


def test_a_redelivered_event_dataset_supersedes_only_itself(sdtm_store: Store, pilot: Path,
                                                            tmp_path: Path) -> None:
    before = harmonise_trial(sdtm_store, "CDISCPILOT01", write=False)
    ae, meta = pyreadstat.read_xport(str(pilot / "sdtm" / "ae.xpt"))
    row = ae.index[(ae["AESEV"] == "MILD")][0]
    who, seq = ae.loc[row, "USUBJID"], int(ae.loc[row, "AESEQ"])
    ae.loc[row, "AESEV"] = "SEVERE"
    (tmp_path / "ae").mkdir()
    pyreadstat.write_xport(ae, str(tmp_path / "ae" / "ae.xpt"), table_name="AE",
                           column_labels=meta.column_labels, file_format_version=5)
    result = ingest_package(sdtm_store, "CDISCPILOT01", tmp_path / "ae")
    assert [(d.dataset, d.status) for d in result.datasets] == [("ae", "ingested")]
    assert result.datasets[0].superseded is not None
    with sdtm_store.reading() as session:
        from repository.trials import get_trial

        trial = get_trial(session, sdtm_store.topic(session), "CDISCPILOT01")
        current = {d.dataset: d.id for d in trial.deliveries if d.is_current}
    assert current["ae"] == result.datasets[0].delivery_id and len(current) == 8

    after = harmonise_trial(sdtm_store, "CDISCPILOT01", write=False)
    dataset_ae = {name: delivery for name, delivery, _sha in after.inputs.datasets}
    assert dataset_ae["ae"] == result.datasets[0].delivery_id
    table = after.tables["adverse_events"].data
    changed = table[table["_row"] == row + 1]
    assert changed["ae_seq"].iloc[0] == seq and changed["ae_severity"].iloc[0] == 3
    # the participant's worst severity follows the corrected row; nobody else changed
    old = before.data.set_index("participant_id")["worst_severity"]
    new = after.data.set_index("participant_id")["worst_severity"]
    differs = old.index[(old.fillna(-1) != new.fillna(-1)).to_numpy()]
    own = after.tables["adverse_events"].data.loc[lambda d: d["_row"] == row + 1,
                                                    "participant_id"].iloc[0]
    assert set(differs) <= {own} and new[own] == 3
    assert who  # the trial's own ID is only in the raw delivery
