"""The identifier gate at ingest, over everything a file holds: every sheet of a workbook (the
whole file is stored), SPSS/Stata variable labels, value labels and notes, and column names;
on SQLite and PostgreSQL, leaving the store unchanged when it refuses."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
import pytest

from repository.deliveries import ingest
from repository.errors import DirectIdentifiers, UnreadableDelivery
from repository.formats import ColumnInfo, RawTable
from repository.identifiers import scan_table
from repository.models import Delivery

from .conftest import BASE
from .test_ingest import register, snapshot

NAMES = [("Rhys", "Pemberton"), ("Siobhan", "McAllister"), ("Hamish", "Cartwright"),
         ("Gwen", "Ashdown"), ("Declan", "Fairbrother"), ("Mary", "Thistlewood")]


def workbook_with_hidden_sheet(path: Path, *, hidden_rows: int = 6) -> Path:
    book = openpyxl.Workbook()
    data = book.active
    data.title = "data"
    data.append(list(BASE.columns))
    for row in BASE.itertuples(index=False):
        data.append([v.to_pydatetime() if hasattr(v, "to_pydatetime") else
                     (None if pd.isna(v) else v) for v in row])
    lookup = book.create_sheet("lookup")
    lookup.append(["PATNO", "Surname", "Forename", "Mobile"])
    for i in range(hidden_rows):
        first, last = NAMES[i % len(NAMES)]
        lookup.append([f"A{i + 1:03d}", last, first, f"07700 900{i:03d}"])
    lookup.sheet_state = "hidden"
    codes = book.create_sheet("codebook")
    codes.append(["Variable", "Description"])
    codes.append(["PATNO", "Participant number assigned at randomisation"])
    codes.append(["RANDDT", "Date of randomisation (dd/mm/yyyy)"])
    book.save(path)
    return path


def test_a_hidden_sheet_with_names_is_refused_naming_the_sheet(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    path = workbook_with_hidden_sheet(tmp_path / "delivery.xlsx")
    before = snapshot(store)
    with pytest.raises(DirectIdentifiers) as err:
        ingest(store, "GAST-01", path, read_options={"sheet": "data"})
    found = {(f["sheet"], f["column"], f["kind"]) for f in err.value.findings}
    assert found == {("lookup", "Surname", "name"), ("lookup", "Forename", "name"),
                     ("lookup", "Mobile", "phone")}
    message = err.value.message
    assert "hidden sheet 'lookup', column 'Surname'" in message and "delivery.xlsx" in message
    assert "P*******" in message and "Pemberton" not in message  # masked examples
    assert "rows 1, 2, 3" in message and "SHEET!COLUMN" in message
    assert snapshot(store) == before
    # the curator's override names another sheet's column as SHEET!COLUMN
    with pytest.raises(DirectIdentifiers):
        ingest(store, "GAST-01", path, read_options={"sheet": "data"},
               accept_identifiers=["lookup!Surname", "lookup!Forename"], justification="x")
    with pytest.raises(UnreadableDelivery, match="not in delivery.xlsx"):
        ingest(store, "GAST-01", path, read_options={"sheet": "data"},
               accept_identifiers=["Surname"], justification="x")
    assert snapshot(store) == before
    result = ingest(store, "GAST-01", path, read_options={"sheet": "data"},
                    accept_identifiers=["lookup!Surname", "lookup!Forename", "lookup!Mobile"],
                    justification="synthetic names agreed with the DPO")
    assert result.accepted_identifiers == ("lookup!Forename", "lookup!Mobile", "lookup!Surname")
    with store.reading() as session:
        override = session.get(Delivery, result.delivery_id).identifier_override
    assert override["justification"] == "synthetic names agreed with the DPO"
    assert {f["sheet"] for f in override["findings"]} == {"lookup"}


def test_a_workbook_whose_other_sheets_are_clean_is_ingested(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    path = workbook_with_hidden_sheet(tmp_path / "delivery.xlsx")
    book = openpyxl.load_workbook(path)
    del book["lookup"]
    book.save(path)
    result = ingest(store, "GAST-01", path, read_options={"sheet": "data"})
    assert result.status == "ingested" and result.n_rows == 5


def test_spss_labels_and_notes_are_scanned(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    frame = BASE.assign(GP=[1, 2, 3, 1, 2])
    path = tmp_path / "delivery.sav"
    pyreadstat.write_sav(frame, str(path),
                         column_labels={"AGE": "Age at randomisation",
                                        "WEIGHT": "Weight (kg), queries to j.bloggs@example.org"},
                         variable_value_labels={"SEX": {1: "Male", 2: "Female"},
                                                "GP": {1: "Dr A. Patel", 2: "Dr B. Okafor",
                                                       3: "Dr C. Jones"}},
                         note="Exported for Rhys Pemberton, tel 07700 900123")
    before = snapshot(store)
    with pytest.raises(DirectIdentifiers) as err:
        ingest(store, "GAST-01", path)
    found = {(f["column"], f["kind"], f["source"]) for f in err.value.findings}
    assert found == {("WEIGHT", "email", "variable label"), ("GP", "name", "value labels"),
                     ("(file label and notes)", "phone", "file notes")}
    assert "column 'GP' (its value labels)" in err.value.message
    assert snapshot(store) == before


def test_stata_variable_labels_and_file_label(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    path = tmp_path / "delivery.dta"
    pyreadstat.write_dta(BASE, str(path), file_label="GAST-01 export by Dr Patel",
                         column_labels={"AGE": "Age (years)", "ARM": "Arm (contact Mary Jones)"})
    with pytest.raises(DirectIdentifiers) as err:
        ingest(store, "GAST-01", path)
    found = {(f["column"], f["kind"], f["source"]) for f in err.value.findings}
    assert found == {("ARM", "name", "variable label"), ("(file label and notes)", "name",
                                                         "file notes")}


def test_label_sets_no_variable_uses_are_scanned() -> None:
    """A Stata file can carry value-label sets attached to no variable (pyreadstat cannot write
    them, so the table is built as the reader returns it)."""
    table = RawTable(frame=BASE.copy(), format="dta",
                     columns=tuple(ColumnInfo(str(c), "object") for c in BASE.columns),
                     read_options={},
                     label_sets={"names": {"1": "Rhys Pemberton", "2": "Mary Thistlewood",
                                           "3": "Siobhan McAllister"},
                                 "yesno": {"0": "No", "1": "Yes"}})
    (finding,) = scan_table(table, id_column="PATNO")
    assert (finding.column, finding.kind, finding.source) == ("label set names", "name",
                                                              "value labels")


def test_a_column_named_for_a_person_is_refused(make_store, tmp_path: Path) -> None:
    store = make_store()
    register(store)
    path = tmp_path / "delivery.csv"
    BASE.assign(**{"Mary Thistlewood": [1, 0, 0, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(DirectIdentifiers) as err:
        ingest(store, "GAST-01", path)
    (finding,) = err.value.findings
    assert (finding["column"], finding["source"]) == ("Mary Thistlewood", "column name")
