"""Every delivery format we claim to read, read from real files; bad files refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repository.errors import UnreadableDelivery
from repository.formats import detect_format, read_delivery

ALL_FORMATS = ["csv", "csv-semicolon", "tsv", "xlsx", "sas7bdat", "xpt", "dta", "sav", "parquet"]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_every_format_reads_back_the_same_values(fmt: str, delivery_writer) -> None:
    path = delivery_writer(fmt)
    table = read_delivery(path)
    assert table.format == {"csv-semicolon": "csv", "tsv": "csv"}.get(fmt, fmt)
    frame = table.frame
    assert list(frame.columns) == ["PATNO", "ARM", "SEX", "AGE", "RANDDT", "WEIGHT"]
    assert frame["PATNO"].tolist() == ["A001", "A002", "A003", "A004", "A005"]
    ages = pd.to_numeric(frame["AGE"].astype(str).str.replace(",", "."), errors="raise")
    assert ages.tolist() == [64, 58, 71, 49, 66]
    weight = frame["WEIGHT"]
    if fmt.startswith("csv") or fmt == "tsv":
        # text formats keep text exactly: blanks stay blank, decimal commas stay commas
        assert weight.tolist()[2] == ""
        assert weight.tolist()[0] == ("70,5" if fmt == "csv-semicolon" else "70.5")
    else:
        assert pd.isna(weight.iloc[2])
        assert float(weight.iloc[0]) == pytest.approx(70.5)
    assert table.column("WEIGHT").n_missing == 1


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_delivery_read_again_without_counting_missing_cells_is_the_same_table(
        fmt: str, delivery_writer) -> None:
    """A stored delivery is read again with ``count_missing=False`` (its metadata hold the
    counts): the same table, the same columns but for their missing counts, left 0."""
    path = delivery_writer(fmt)
    counted = read_delivery(path)
    again = read_delivery(path, options=counted.read_options, count_missing=False)
    pd.testing.assert_frame_equal(again.frame, counted.frame)
    assert [c.n_missing for c in again.columns] == [0] * len(counted.columns)
    assert [c.to_dict() | {"n_missing": 0} for c in counted.columns] == \
        [c.to_dict() for c in again.columns]
    assert counted.column("WEIGHT").n_missing == 1


def test_csv_encoding_and_delimiter_are_detected(delivery_writer) -> None:
    frame = pd.DataFrame({"id": ["1", "2"], "centre": ["Zürich", "Besançon"]})
    path = delivery_writer("csv-semicolon", frame)
    table = read_delivery(path)
    assert table.read_options == {"encoding": "cp1252", "delimiter": ";"}
    assert table.frame["centre"].tolist() == ["Zürich", "Besançon"]


def test_utf8_bom_and_leading_zeros_kept(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffid,code\n007,01\n010,02\n".encode("utf-8"))
    table = read_delivery(path)
    assert table.read_options["encoding"] == "utf-8-sig"
    assert table.frame["id"].tolist() == ["007", "010"]


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_value_labels_and_variable_labels_are_kept(fmt: str, delivery_writer) -> None:
    table = read_delivery(delivery_writer(fmt))
    sex = table.column("SEX")
    assert sex.value_labels == {"1": "Male", "2": "Female"}
    assert table.column("AGE").label == "Age at randomisation"


def test_sas7bdat_labels(delivery_writer) -> None:
    table = read_delivery(delivery_writer("sas7bdat"))
    assert table.column("AGE").label == "Age at randomisation (years)"
    assert str(table.frame["RANDDT"].iloc[0].date()) == "2003-02-03"


def test_excel_with_several_sheets_picks_the_one_with_the_id_column(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"note": ["read me"]}).to_excel(xl, sheet_name="README", index=False)
        pd.DataFrame({"patid": [1, 2], "x": [3, 4]}).to_excel(xl, sheet_name="data", index=False)
    with pytest.raises(UnreadableDelivery, match="several sheets"):
        read_delivery(path)
    table = read_delivery(path, id_column="patid")
    assert table.read_options["sheet"] == "data"
    assert table.frame["patid"].tolist() == [1, 2]


# --- bad input --------------------------------------------------------------------------------

def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(UnreadableDelivery, match="empty") as err:
        read_delivery(path)
    assert err.value.file == str(path)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,age\n")
    with pytest.raises(UnreadableDelivery, match="no data rows"):
        read_delivery(path)


def test_truncated_csv_names_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,age,sex\n1,50,M\n2,61,F\n3,4")
    with pytest.raises(UnreadableDelivery, match="row 3") as err:
        read_delivery(path)
    assert err.value.rows == [3]


@pytest.mark.parametrize("fmt", ["parquet", "sav", "dta", "xlsx", "xpt"])
def test_truncated_binary_files_are_refused(fmt: str, delivery_writer, tmp_path: Path) -> None:
    path = delivery_writer(fmt)
    data = path.read_bytes()
    cut = tmp_path / f"cut.{path.suffix.lstrip('.')}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableDelivery) as err:
        read_delivery(cut)
    assert cut.name in err.value.message
    assert "truncated" in err.value.message or "damaged" in err.value.message


def test_mislabelled_file_is_reported(delivery_writer, tmp_path: Path) -> None:
    xlsx = delivery_writer("xlsx")
    fake = tmp_path / "really_excel.csv"
    fake.write_bytes(xlsx.read_bytes())
    with pytest.raises(UnreadableDelivery, match="named like delimited text.*Excel") as err:
        read_delivery(fake)
    assert err.value.reason == "mislabelled"
    with pytest.raises(UnreadableDelivery, match="declared as a Stata"):
        read_delivery(xlsx, format="dta")
    # declaring the true format reads it
    assert read_delivery(fake, format="xlsx").n_rows == 5


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.4 binary\x00\x01")
    with pytest.raises(UnreadableDelivery, match="PDF document, which ipdrepo does not read"):
        read_delivery(path)
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 100)
    with pytest.raises(UnreadableDelivery, match="save as .xlsx"):
        read_delivery(legacy)


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,age,age\n1,2,3\n")
    with pytest.raises(UnreadableDelivery, match="duplicate column names: age"):
        read_delivery(path)


def test_detect_format_by_content(delivery_writer) -> None:
    for fmt in ["xlsx", "sav", "dta", "xpt", "parquet", "sas7bdat"]:
        assert detect_format(delivery_writer(fmt)) == fmt


def test_blank_text_counted_as_missing_exactly_as_str_strip_sees_it():
    """Text and mixed columns are measured once per distinct value: blank is what
    ``str.strip()`` empties, Unicode white space included, and nothing else; nulls of every
    kind are missing."""
    from repository.formats import _count_missing

    frame = pd.DataFrame({
        "text": ["x", " ", "", None, "\x1c\u3000", float("nan"), " y ", "\u200b"],
        "mixed": [1, "  ", None, 2.5, "z", "", pd.Timestamp("2020-01-01"), "\u2028"],
        "number": [1.0, float("nan"), 3, 4, 5, 6, 7, 8]})
    # "\u200b" (zero-width space) is not white space to Python
    assert _count_missing(frame) == [5, 4, 1]
    every = [None, float("nan"), pd.NaT, pd.NA, np.float64("nan"), "", " ", "\t\n", "a",
             " a ", "\u3000", "\x1c", "\u200b", 0, 1.5, np.str_(" "), np.str_("b")]
    values = [every[i] for i in np.random.default_rng(7).integers(0, len(every), 500)]
    plain = sum(pd.isna(v) or (isinstance(v, str) and not v.strip()) for v in values)
    assert _count_missing(pd.DataFrame({"c": pd.Series(values, dtype=object)})) == [plain]
    assert _count_missing(pd.DataFrame({"s": pd.Series(["", " x", None, "\u3000"],
                                                       dtype="string")})) == [3]


def test_blank_cells_of_a_csv_are_counted_as_str_strip_sees_them(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    cells = ["x", "", " ", "\u3000", "\x1c", "\u200b", " y ", "\t"]
    path.write_text("id,v\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)),
                    encoding="utf-8")
    table = read_delivery(path)
    assert table.frame["v"].tolist() == cells
    assert table.column("v").n_missing == sum(not c.strip() for c in cells) == 5
    assert table.column("id").n_missing == 0
    codes, uniques = table.distinct["v"]  # kept for the identifier gate
    assert [uniques[k] for k in codes] == cells
