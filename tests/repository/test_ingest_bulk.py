"""The bulk steps of ingest (pseudonyms, participant registration, missing-cell counts) give
what the row-by-row ways gave, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from repository.deliveries import ingest
from repository.formats import _count_missing, read_delivery
from repository.models import Delivery, Participant

from .conftest import BASE, write_delivery
from .test_ingest import register


def test_participants_are_registered_in_bulk_as_the_orm_would(make_store,
                                                               tmp_path: Path) -> None:
    store = make_store()
    register(store)
    many = pd.DataFrame({**{c: [BASE[c].iloc[i % 5] for i in range(3000)]
                            for c in BASE.columns if c != "PATNO"},
                         "PATNO": [f"A{i:05d}" for i in range(3000)]})
    result = ingest(store, "GAST-01", write_delivery(tmp_path / "in", "csv", many))
    assert result.new_participants == 3000
    pseudonymiser = store.pseudonymiser("gastric-adjuvant")
    with store.reading() as session:
        delivery = session.get(Delivery, result.delivery_id)
        rows = session.scalars(select(Participant)).all()
        assert sorted(p.pseudonym for p in rows) == sorted(
            pseudonymiser.pseudonym("GAST-01", i) for i in many["PATNO"])
        assert {(p.trial_id, p.first_delivery_id, p.created_at) for p in rows} == {
            (delivery.trial_id, delivery.id, delivery.ingested_at)}


def test_missing_cells_of_delimited_text_are_counted_as_pandas_counts_them(
        tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    path.write_text("PATNO,A,B,\nP1, ,x,\nP2,\u3000,,\nP3,y,\t,\n", encoding="utf-8")
    table = read_delivery(path)
    assert [c.n_missing for c in table.columns] == _count_missing(table.frame) == [0, 2, 2]


def test_missing_cells_of_any_column_are_nulls_and_blank_texts() -> None:
    frame = pd.DataFrame({
        "text": ["x", " ", None, np.nan, "\u3000", pd.NA],
        "mixed": [1, None, "", " y", 2.5, pd.NaT],
        "numbers": [1.0, np.nan, 2, 3, 4, 5],
        "strings": pd.array(["a", None, " ", "b", "", "c"], dtype="string"),
        "times": pd.to_datetime(["2003-01-02", None, "2004-05-06", None, None, "2001-01-01"]),
    })
    expected = [sum(bool(pd.isna(v)) or (isinstance(v, str) and not v.strip()) for v in frame[c])
                for c in frame.columns]
    assert _count_missing(frame) == expected == [5, 3, 1, 3, 3]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet='PQ27az",\\\u00e9 \n', max_size=6), max_size=6))
def test_the_pseudonyms_array_is_the_json_the_encoder_writes(texts: list[str]) -> None:
    """register_participants passes the pseudonyms to SQLite as one JSON array, joined as they
    are when they are letters and digits: any text reads back as itself."""
    from repository.deliveries import _json_texts

    assert json.loads(_json_texts(texts)) == texts
    if texts and all(t.isascii() and t.isalnum() for t in texts):
        assert _json_texts(texts) == json.dumps(texts, separators=(",", ":"))
