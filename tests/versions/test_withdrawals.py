"""Consent withdrawal, and who may do what with releases (roles)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from repository.errors import AlreadyExists, NotFound, PermissionDenied, ReleaseError
from repository.models import AuditEvent, Withdrawal
from repository.roles import add_user
from tests.versions.conftest import Env
from versions.consumers import load
from versions.dataset import sha256_hex
from versions.releases import (
    create_release,
    get_release,
    list_releases,
    show_release,
)
from versions.requests import add_request
from versions.verify import verify_release
from versions.withdrawals import list_withdrawals, withdraw


def test_withdrawal_applies_to_later_releases_only(env: Env) -> None:
    trial, other = env.trials[0], env.trials[1]
    first = create_release(env.store, env.inputs(), version="1.0")
    gone = env.participant(trial, 4)
    raw_id = next(k for k, v in env.pseudonyms[other].items() if v == env.participant(other))
    rec = withdraw(env.store, trial, gone, reason="consent withdrawn by letter",
                   requested_on=date(2024, 3, 1))
    assert (rec.trial, rec.participant, rec.recorded_by) == (trial, gone, "tester")
    # by the trial's own ID: pseudonymised with the secret, never stored as given
    rec2 = withdraw(env.store, other, raw_id, raw_id=True, reason="asked the trial team")
    assert rec2.participant == env.participant(other)
    with env.store.reading() as session:
        assert raw_id not in {w.participant for w in session.scalars(select(Withdrawal))}
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "consent.withdraw")).all()
        assert [e.details["participant"] for e in events] == [gone, env.participant(other)]
    assert list_withdrawals(env.store).summary["participant"].tolist() == \
        sorted([gone, env.participant(other)], key=lambda p: (p != gone, p))

    second = create_release(env.store, env.inputs(version="1.1"), version="1.1")
    frame = get_release(env.store, "1.1")
    assert len(frame) == len(env.truth) - 2
    assert not frame["participant_id"].isin([gone, env.participant(other)]).any()
    w = show_release(env.store, "1.1").manifest["withdrawals"]
    assert w["total"] == 2 and w["records_removed"] == {trial: 1, other: 1}
    assert {x["participant"] for x in w["applied"]} == {gone, env.participant(other)}
    assert second.manifest["withdrawals"] == w
    # the earlier release is untouched and still reproducible
    old = load("gastric-adjuvant", "1.0", repo=str(env.repo.root))
    assert gone in set(old["participant_id"]) and len(old) == len(env.truth)
    assert verify_release(env.store, "1.0").ok
    assert sha256_hex((env.repo.root / first.path / "data.parquet").read_bytes()) == \
        first.data_sha256
    assert show_release(env.store, "1.0").manifest["withdrawals"]["total"] == 0


def test_withdrawal_refusals(env: Env) -> None:
    trial = env.trials[0]
    pid = env.participant(trial)
    with pytest.raises(ReleaseError, match="needs a reason"):
        withdraw(env.store, trial, pid, reason="  ")
    with pytest.raises(NotFound, match="has no participant with pseudonym PXXXX"):
        withdraw(env.store, trial, "PXXXX", reason="r")
    with pytest.raises(NotFound, match="not registered"):
        withdraw(env.store, "NO-TRIAL", pid, reason="r")
    withdraw(env.store, trial, pid, reason="r")
    with pytest.raises(AlreadyExists, match="already withdrew"):
        withdraw(env.store, trial, pid, reason="again")
    assert len(list_withdrawals(env.store)) == 1


def test_roles(env: Env) -> None:
    """Curators release and manage requests; analysts only read releases; trialists neither."""
    create_release(env.store, env.inputs(), version="1.0")
    with env.store.transaction() as session:
        add_user(session, name="ana", role="analyst", by="tester")
        from repository.trials import get_trial

        t = get_trial(session, env.store.topic(session), env.trials[0])
        add_user(session, name="tri", role="trialist", by="tester", trial=t)
    analyst = type(env.store)(env.store.settings.with_(actor="ana"), env.store.engine)
    assert list_releases(analyst).summary["version"].tolist() == ["1.0"]
    assert len(get_release(analyst, "1.0")) == len(env.truth)
    with pytest.raises(PermissionDenied, match="analyst and may not releases.write"):
        create_release(analyst, env.inputs(version="1.1"), version="1.1")
    with pytest.raises(PermissionDenied, match="may not requests.manage"):
        add_request(analyst, requestor="x", institution="y", purpose="z",
                    trials=env.trials[:1], variables=["age"], dua_reference="d")
    with pytest.raises(PermissionDenied, match="may not store.write"):
        withdraw(analyst, env.trials[0], env.participant(env.trials[0]), reason="r")
    trialist = type(env.store)(env.store.settings.with_(actor="tri"), env.store.engine)
    with pytest.raises(PermissionDenied, match="trialist .* may not releases.read"):
        list_releases(trialist)
    stranger = type(env.store)(env.store.settings.with_(actor="nobody"), env.store.engine)
    with pytest.raises(PermissionDenied, match="not a user of this store"):
        show_release(stranger, "1.0")
