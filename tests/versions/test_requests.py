"""Data requests and extracts: approval, restrictions, unlinkable pseudonyms, date shifting,
k-anonymity, watermark, audit; refusals; nothing left behind on failure."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from repository.errors import AlreadyExists, NotFound, RequestError
from repository.models import AuditEvent, Extract
from repository.trials import TrialSpec, add_trial
from tests.versions.conftest import Env
from versions.anonymity import k_of
from versions.dataset import parquet_metadata, read_parquet_bytes, sha256_hex
from versions.extracts import extract
from versions.releases import create_release, get_release
from versions.requests import (
    add_request,
    approve_request,
    get_request,
    list_requests,
    reject_request,
    request_pseudonymiser,
    revoke_request,
)
from versions.withdrawals import withdraw

VARIABLES = ["age", "sex", "t_stage", "rand_date", "death_date", "os_time_days", "os_event"]


def _request(e: Env, **overrides) -> str:
    """A request; without k it carries a justification (test_extract_disclosure tests both)."""
    options = dict(requestor="A. Smith", institution="University X", purpose="prognosis",
                   trials=e.trials[:2], variables=VARIABLES, dua_reference="DUA-2024-7")
    options.update(overrides)
    if options.get("k") is None or not options.get("quasi_identifiers"):
        options.setdefault("anonymity_justification", "analysed in a trusted research "
                                                      "environment")
    return add_request(e.store, **options).code


def _repository_ids(e: Env) -> set[str]:
    return {p for trial in e.pseudonyms.values() for p in trial.values()}


def test_extract_holds_only_the_approved_subset(env_any: Env, tmp_path: Path) -> None:
    e = env_any
    create_release(e.store, e.inputs(), version="1.0")
    code = _request(e, quasi_identifiers=["sex", "t_stage", "age"], k=2, date_shift=True,
                    max_shift_days=60)
    assert code == "REQ-0001" and get_request(e.store, code).status == "submitted"
    with pytest.raises(RequestError, match="is submitted, not approved"):
        extract(e.store, code, release="1.0", output=tmp_path / "early")
    assert not (tmp_path / "early").exists()
    approve_request(e.store, code, expires_on=date(2099, 12, 31))

    result = extract(e.store, code, release="1.0", output=tmp_path / "x1",
                     formats=("parquet", "csv"))
    data = (tmp_path / "x1" / "data.parquet").read_bytes()
    frame = read_parquet_bytes(data)
    released = get_release(e.store, "1.0")
    wanted = released[released["trial"].isin(e.trials[:2])]
    # rows and columns: approved trials, trial + id + approved variables in dictionary order
    assert list(frame.columns) == ["trial", "participant_id", "rand_date", "age", "sex",
                                   "t_stage", "death_date", "os_event", "os_time_days"]
    assert set(frame["trial"]) <= set(e.trials[:2])
    assert len(frame) == len(wanted) - result.anonymity.suppressed
    assert 0 < result.anonymity.suppressed < len(wanted)
    assert k_of(frame, ["sex", "t_stage", "age"]) >= 2
    # request-specific pseudonyms that map back only through the request's pseudonymiser
    assert not set(frame["participant_id"]) & _repository_ids(e)
    back = {request_pseudonymiser(e.store, code).pseudonym(t, p): (t, p)
            for t, p in zip(wanted["trial"], wanted["participant_id"])}
    assert set(frame["participant_id"]) <= set(back)
    source = wanted.set_index("participant_id")
    original = source.loc[[back[i][1] for i in frame["participant_id"]]]
    # dates shifted per participant, intervals and durations kept exactly
    shift = (frame["rand_date"].to_numpy() - original["rand_date"].to_numpy())
    days = pd.to_timedelta(shift).days
    assert ((days != 0) & (abs(days) <= 60)).all()
    died = original["death_date"].notna().to_numpy()
    assert ((frame["death_date"] - frame["rand_date"]).to_numpy()[died] ==
            (original["death_date"] - original["rand_date"]).to_numpy()[died]).all()
    assert (frame["os_time_days"].to_numpy() == original["os_time_days"].to_numpy()).all()
    assert result.date_shift["offset_range_days"] == [int(days.min()), int(days.max())]
    # watermark: manifest, parquet key-value metadata, store row, audit event
    manifest = json.loads((tmp_path / "x1" / "manifest.json").read_text())
    mark = parquet_metadata(data)["watermark"]
    assert mark["request"] == code and mark["watermark"] == result.watermark
    assert manifest["watermark"] == mark
    assert manifest["files"][0]["sha256"] == sha256_hex(data)
    csv = pd.read_csv(tmp_path / "x1" / "data.csv")
    assert len(csv) == len(frame) and manifest["files"][1]["name"] == "data.csv"
    assert manifest["release"]["tag"] == "gastric-adjuvant/v1.0"
    assert manifest["anonymity"]["k"] == 2
    with e.store.reading() as session:
        row = session.scalars(select(Extract)).one()
        assert row.watermark == result.watermark and row.rows == len(frame)
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "request.extract")).one()
        assert event.details["watermark"] == result.watermark
        assert event.details["request"] == code
    assert get_request(e.store, code).extracts[0]["watermark"] == result.watermark


def test_two_requests_cannot_be_joined_on_id(env: Env, tmp_path: Path) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    frames = []
    for name in ("a", "b"):
        code = _request(env, variables=["age", "sex"])
        approve_request(env.store, code, expires_on=date(2099, 1, 1))
        extract(env.store, code, release="1.0", output=tmp_path / name)
        frames.append(pd.read_parquet(tmp_path / name / "data.parquet"))
    a, b = frames
    assert len(a) == len(b) > 0
    assert not set(a["participant_id"]) & set(b["participant_id"])
    assert not set(a["participant_id"]) & _repository_ids(env)
    # same people, same values: only the IDs differ
    cols = ["trial", "age", "sex"]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(cols).reset_index(drop=True),
        b[cols].sort_values(cols).reset_index(drop=True))


def test_refusals(env: Env, tmp_path: Path) -> None:
    # a request recorded before any release cannot be checked against a dictionary yet ...
    early = _request(env, variables=["age", "favourite_colour"])
    approve_request(env.store, early, expires_on=date(2099, 1, 1))
    create_release(env.store, env.inputs(), version="1.0")
    # ... the extract is where variables outside the release's dictionary are refused
    with pytest.raises(RequestError, match="favourite_colour are not in the dictionary of "
                                           "release 1.0"):
        extract(env.store, early, release="1.0", output=tmp_path / "x")
    # now that a release exists, new requests are checked on submission, every problem listed
    with pytest.raises(RequestError) as err:
        _request(env, trials=["NOPE", env.trials[0]], variables=["age", "shoe_size"],
                 quasi_identifiers=["height_cm"], k=3, l=4, sensitive_attribute="sex")
    text = err.value.message
    assert "trials NOPE are not registered" in text
    assert "variables shoe_size are not in the dictionary of the latest release (1.0)" in text
    assert "quasi-identifiers height_cm are not among the requested variables" in text
    assert "l (4) cannot exceed k (3)" in text
    assert "sensitive attribute sex is not a requested variable" in text
    # a trial registered after the release: the request is fine, the extract is refused
    with env.store.transaction() as session:
        add_trial(session, env.store.topic(session), TrialSpec(acronym="LATECOMER"),
                  actor="tester")
    late = _request(env, trials=["LATECOMER"], variables=["age"])
    approve_request(env.store, late, expires_on=date(2099, 1, 1))
    with pytest.raises(RequestError, match="trials LATECOMER are not in release 1.0"):
        extract(env.store, late, release="1.0", output=tmp_path / "x")
    # expired, revoked, rejected
    code = _request(env, variables=["age"])
    approve_request(env.store, code, approved_on=date(2024, 1, 1), expires_on=date(2025, 1, 1))
    with pytest.raises(RequestError, match="expired on 2025-01-01"):
        extract(env.store, code, release="1.0", output=tmp_path / "x", today=date(2025, 1, 2))
    extract(env.store, code, release="1.0", output=tmp_path / "ok", today=date(2024, 12, 31))
    revoke_request(env.store, code, note="DUA breached")
    with pytest.raises(RequestError, match="is revoked, not approved"):
        extract(env.store, code, release="1.0", output=tmp_path / "x", today=date(2024, 6, 1))
    rejected = _request(env, variables=["age"])
    reject_request(env.store, rejected, note="out of scope")
    with pytest.raises(RequestError, match="is rejected"):
        approve_request(env.store, rejected, expires_on=date(2099, 1, 1))
    with pytest.raises(RequestError, match="must be after the approval date"):
        approve_request(env.store, _request(env, variables=["age"]),
                        approved_on=date(2024, 5, 1), expires_on=date(2024, 5, 1))
    # output that already holds files; unknown release; unknown request; duplicate code
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(RequestError, match="not an empty directory"):
        extract(env.store, early, release="1.0", output=tmp_path / "full")
    with pytest.raises(NotFound, match="no release 7.0"):
        extract(env.store, late, release="7.0", output=tmp_path / "x")
    with pytest.raises(NotFound, match="no data request 'REQ-9999'"):
        get_request(env.store, "REQ-9999")
    with pytest.raises(AlreadyExists):
        _request(env, code="REQ-0001", variables=["age"])
    assert not (tmp_path / "x").exists()
    statuses = list_requests(env.store).summary.set_index("code")["status"].to_dict()
    assert statuses == {"REQ-0001": "approved", "REQ-0002": "approved",
                        "REQ-0003": "revoked", "REQ-0004": "rejected",
                        "REQ-0005": "submitted"}


def test_withdrawn_participants_are_left_out_of_extracts_from_older_releases(
        env: Env, tmp_path: Path) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    trial = env.trials[0]
    gone = env.participant(trial, 0)
    withdraw(env.store, trial, gone, reason="consent withdrawn")
    code = _request(env, trials=[trial], variables=["age"])
    approve_request(env.store, code, expires_on=date(2099, 1, 1))
    result = extract(env.store, code, release="1.0", output=tmp_path / "x")
    n_trial = int((env.truth["trial"] == trial).sum())
    assert result.rows == n_trial - 1 and result.withdrawn_excluded == 1
    assert request_pseudonymiser(env.store, code).pseudonym(trial, gone) not in \
        set(result.frame["participant_id"])
    # the release itself is untouched: the participant is still in 1.0
    assert gone in set(get_release(env.store, "1.0")["participant_id"])


def test_a_failure_while_recording_leaves_no_extract(env: Env, tmp_path: Path,
                                                     monkeypatch) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    code = _request(env, variables=["age"])
    approve_request(env.store, code, expires_on=date(2099, 1, 1))

    def broken(*_a, **_k):
        raise RuntimeError("database went away")

    monkeypatch.setattr("versions.extracts.audit.append", broken)
    out = tmp_path / "extracts" / "x"
    out.parent.mkdir()
    with pytest.raises(RuntimeError, match="database went away"):
        extract(env.store, code, release="1.0", output=out)
    assert list(out.parent.iterdir()) == []
    with env.store.reading() as session:
        assert session.scalars(select(Extract)).all() == []
