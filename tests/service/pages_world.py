"""What the page tests add to the service world (:mod:`tests.service.world`): a delivery of
ALPHA-1 with a randomisation date written DD/MM/YYYY, one of them impossible (31/02/2020), and
a question about it - the kind of question a trialist answers with a date in the column's
own layout.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.service.world import World

BAD_DATE = "31/02/2020"


def add_date_question(world: World, root: Path) -> dict[str, str | int]:
    """Re-deliver ALPHA-1 with a ``randdate`` column and raise a question on one participant's
    impossible date; returns the query id, the participant's own ID and the bad value."""
    from harmonise.queries.lifecycle import raise_query
    from repository.deliveries import ingest
    from repository.models import Query
    from repository.trials import get_trial

    first = root / "alpha-1-secret-delivery.csv"
    frame = pd.read_csv(first, dtype=str)
    dates = [f"{1 + i % 28:02d}/{1 + i % 12:02d}/2019" for i in range(len(frame))]
    dates[2] = BAD_DATE
    frame["randdate"] = dates
    path = root / "alpha-1-dated.csv"
    frame.to_csv(path, index=False)
    store = world.store()
    try:
        ingest(store, "ALPHA-1", path, id_column="patid")
        own = str(frame["patid"].iloc[2])
        pseudonym = store.pseudonymiser("gastric-adjuvant").many("ALPHA-1", [own])[0]
        with store.transaction() as session:
            topic = store.topic(session)
            q = raise_query(session, topic, get_trial(session, topic, "ALPHA-1"),
                            question=f"randdate {BAD_DATE} is not a date; please give the "
                                     "date of randomisation", actor="cur",
                            participant=pseudonym, variable="randomisation_date",
                            source_columns=["randdate"], rows=[3])
            row = session.get(Query, q.id)
            assert row is not None
            row.raw_values = {"randdate": BAD_DATE}
            row.value_received = BAD_DATE
            query_id = q.id
    finally:
        store.close()
    return {"query": query_id, "own_id": own, "pseudonym": pseudonym, "bad": BAD_DATE}


def add_pattern_question(world: World, rows: tuple[int, ...] = (4, 5, 6, 7, 8, 9)
                         ) -> dict[str, object]:
    """A question about several participants of ALPHA-1 (after :func:`add_date_question`):
    their randomisation dates (delivery rows ``rows``) fall on the same suspicious pattern;
    returns the query id and the listed participants' own IDs and pseudonyms, in row order."""
    from harmonise.queries.lifecycle import raise_query
    from repository.deliveries import load_delivery
    from repository.models import Query
    from repository.trials import get_trial

    store = world.store()
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            trial = get_trial(session, topic, "ALPHA-1")
            current = next(d for d in trial.deliveries if d.is_current)
            own = [str(v) for v in load_delivery(store, current).frame["patid"]]
            listed = [own[r - 1] for r in rows]
            pseudonyms = store.pseudonymiser(topic.slug).many("ALPHA-1", listed)
            q = raise_query(session, topic, trial, actor="cur",
                            question=f"{len(rows)} participants were randomised on dates that "
                                     "look shifted by one month; please give each date of "
                                     "randomisation", variable="randomisation_date",
                            source_columns=["randdate"])
            row = session.get(Query, q.id)
            assert row is not None
            row.detail = {"scope": "participants", "columns": ["randdate"],
                          "participants": [{"participant": p, "row": r}
                                           for p, r in zip(pseudonyms, rows)]}
            query_id = q.id
    finally:
        store.close()
    return {"pattern": query_id, "listed": listed, "listed_pseudonyms": pseudonyms}
