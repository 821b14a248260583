"""Ingesting deliveries into a real store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from repository import audit
from repository.deliveries import ingest, load_delivery
from repository.errors import (
    DirectIdentifiers,
    IdentifierProblem,
    NotFound,
    StoreError,
    UnreadableDelivery,
)
from repository.models import Delivery, Participant
from repository.pseudonyms import reidentify
from repository.store import Store
from repository.trials import ArmSpec, TrialSpec, add_trial
from tests.store_snapshot import snapshot as snapshot

from .conftest import BASE, write_delivery

FORMATS = ["csv", "csv-semicolon", "tsv", "xlsx", "sas7bdat", "xpt", "dta", "sav", "parquet"]


def register(store: Store, acronym: str = "GAST-01") -> None:
    with store.transaction() as session:
        add_trial(session, store.topic(session), TrialSpec(
            acronym=acronym, registry_ids=("NCT01234567",), id_column="PATNO",
            arms=(ArmSpec("1", "Surgery alone", 1, 3), ArmSpec("2", "Chemo", 1, 2))),
            actor="tester")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_ingested(make_store, tmp_path: Path, fmt: str) -> None:
    store = make_store()
    register(store)
    path = write_delivery(tmp_path / "in", fmt)
    result = ingest(store, "GAST-01", path)
    assert result.status == "ingested"
    assert (result.n_rows, result.n_columns, result.new_participants) == (5, 6, 5)
    assert store.objects.verify(result.sha256)
    with store.reading() as session:
        delivery = session.get(Delivery, result.delivery_id)
        assert delivery.format == {"csv-semicolon": "csv", "tsv": "csv"}.get(fmt, fmt)
        table = load_delivery(store, delivery)
        assert table.frame["PATNO"].tolist() == BASE["PATNO"].tolist()


def test_reingesting_the_same_bytes_is_a_no_op(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    path = write_delivery(tmp_path / "in", "sav")
    first = ingest(store, "GAST-01", path)
    before = snapshot(store)
    copy = tmp_path / "renamed copy.sav"
    copy.write_bytes(path.read_bytes())
    again = ingest(store, "GAST-01", copy)
    assert again.status == "unchanged" and again.delivery_id == first.delivery_id
    assert snapshot(store) == before


def test_new_delivery_supersedes_and_keeps_the_old_one(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    first = ingest(store, "GAST-01", write_delivery(tmp_path / "a", "csv"))
    more = pd.concat([BASE, BASE.iloc[[0]].assign(PATNO="A006")], ignore_index=True)
    more.loc[1, "AGE"] = 59  # a corrected value
    second = ingest(store, "GAST-01", write_delivery(tmp_path / "b", "xlsx", more))
    assert second.superseded == first.delivery_id
    assert second.new_participants == 1  # A001-A005 keep their pseudonyms across formats
    with store.reading() as session:
        old = session.get(Delivery, first.delivery_id)
        assert old.superseded_by_id == second.delivery_id and not old.is_current
        assert store.objects.verify(old.sha256) and store.objects.verify(second.sha256)
        assert session.scalar(select(Participant).where(Participant.pseudonym == "x")) is None
        n = len(session.scalars(select(Participant.pseudonym)).all())
    assert n == 6


def test_pseudonyms_map_back_only_with_the_secret(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    result = ingest(store, "GAST-01", write_delivery(tmp_path / "a", "dta"))
    with store.reading() as session:
        pseudonyms = set(session.scalars(select(Participant.pseudonym)))
        table = load_delivery(store, session.get(Delivery, result.delivery_id))
    back = reidentify(store.pseudonymiser("gastric-adjuvant"), "GAST-01", table.frame["PATNO"])
    assert set(back) == pseudonyms
    assert sorted(back.values()) == BASE["PATNO"].tolist()


def test_identifier_gate_refuses_and_leaves_store_unchanged(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    frame = BASE.assign(email=["a@x.org", "", "", "", ""], notes=[
        "Patient lives alone and has a dog", "", "Daughter phones every week about results",
        "", ""])
    path = write_delivery(tmp_path / "in", "csv", frame)
    before = snapshot(store)
    with pytest.raises(DirectIdentifiers) as err:
        ingest(store, "GAST-01", path)
    assert {f["column"] for f in err.value.findings} == {"email", "notes"}
    assert "row 1" in err.value.message or "rows 1" in err.value.message
    assert snapshot(store) == before
    # accepting only one flagged column is not enough
    with pytest.raises(DirectIdentifiers):
        ingest(store, "GAST-01", path, accept_identifiers=["notes"], justification="x")
    # a justification is required
    with pytest.raises(DirectIdentifiers, match="justification"):
        ingest(store, "GAST-01", path, accept_identifiers=["notes", "email"])
    assert snapshot(store) == before
    result = ingest(store, "GAST-01", path, accept_identifiers=["email", "notes"],
                    justification="test data agreed with the DPO")
    assert result.accepted_identifiers == ("email", "notes")
    with store.reading() as session:
        d = session.get(Delivery, result.delivery_id)
        assert d.identifier_override["justification"] == "test data agreed with the DPO"


@pytest.mark.parametrize("problem", ["duplicate", "blank"])
def test_bad_participant_ids_are_refused_or_accepted_with_reason(make_store, tmp_path: Path,
                                                                 problem: str) -> None:
    store = make_store()
    register(store)
    frame = BASE.copy()
    frame.loc[3, "PATNO"] = "A002" if problem == "duplicate" else ""
    path = write_delivery(tmp_path / "in", "csv", frame)
    before = snapshot(store)
    with pytest.raises(IdentifierProblem) as err:
        ingest(store, "GAST-01", path)
    if problem == "duplicate":
        assert err.value.duplicate_rows == [2, 4] and err.value.duplicate_ids == ["A002"]
    else:
        assert err.value.blank_rows == [4]
    assert "--allow-id-problems" in err.value.message
    assert snapshot(store) == before
    result = ingest(store, "GAST-01", path, allow_id_problems="to be queried with the trial")
    with store.reading() as session:
        override = session.get(Delivery, result.delivery_id).id_override
    assert override["justification"] == "to be queried with the trial"


def test_bad_files_are_refused_and_leave_store_unchanged(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    good = write_delivery(tmp_path / "in", "xlsx")
    bad: dict[str, Path] = {}
    bad["empty"] = tmp_path / "empty.csv"
    bad["empty"].write_bytes(b"")
    bad["truncated"] = tmp_path / "truncated.sav"
    bad["truncated"].write_bytes(write_delivery(tmp_path / "s", "sav").read_bytes()[:300])
    bad["mislabelled"] = tmp_path / "excel.csv"
    bad["mislabelled"].write_bytes(good.read_bytes())
    bad["unknown"] = tmp_path / "data.zip"
    bad["unknown"].write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    bad["missing-id-column"] = write_delivery(tmp_path / "m", "csv", BASE.drop(columns="PATNO"))
    before = snapshot(store)
    for kind, path in bad.items():
        with pytest.raises(UnreadableDelivery) as err:
            ingest(store, "GAST-01", path)
        assert path.name in err.value.message, kind
    with pytest.raises(NotFound, match="not registered"):
        ingest(store, "NOPE", good)
    assert snapshot(store) == before


def test_database_failure_leaves_no_orphan_object(make_store, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()
    register(store)
    before = snapshot(store)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError("injected failure while writing the audit event")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(StoreError, match="injected"):
        ingest(store, "GAST-01", write_delivery(tmp_path / "in", "parquet"))
    assert snapshot(store) == before
