"""One contract for both object stores: the workspace directory and S3 (a real moto server).
Written once, content-addressed, every read checked against the hash."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from repository.errors import CorruptObject, NotFound


@pytest.fixture(params=["directory", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """(store, tamper(sha256, data)) for each implementation."""
    if request.param == "directory":
        from repository.objects import ObjectStore

        store = ObjectStore(tmp_path / "objects")

        def tamper(sha: str, data: bytes) -> None:
            path = store.path_for(sha)
            path.chmod(0o600)
            path.write_bytes(data)

        yield store, tamper
        return
    import boto3

    from repository.objects_s3 import S3ObjectStore

    endpoint = request.getfixturevalue("moto_endpoint")
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    bucket = f"objects-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    store = S3ObjectStore(f"s3://{bucket}/team", endpoint_url=endpoint)

    def tamper_s3(sha: str, data: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=store.key_for(sha), Body=data)

    yield store, tamper_s3


def test_object_store_contract(objects: tuple[Any, Any], tmp_path: Path) -> None:
    store, tamper = objects
    source = tmp_path / "delivery.csv"
    source.write_bytes(b"patid,arm\n1,0\n")
    first = store.put(source)
    assert first.created and store.has(first.sha256)
    again = store.put(source)
    assert not again.created and again.sha256 == first.sha256
    assert store.read_bytes(first.sha256, what="x") == source.read_bytes()
    assert store.verified_path(first.sha256, what="x").read_bytes() == source.read_bytes()
    other = store.put_bytes(b"an attachment")
    assert store.stored() == sorted([first.sha256, other.sha256])
    assert store.verify(first.sha256)
    tamper(first.sha256, b"patid,arm\n1,1\n")
    with pytest.raises(CorruptObject) as err:
        store.read_bytes(first.sha256, what="delivery #1")
    assert err.value.expected_sha256 == first.sha256 and "delivery #1" in err.value.message
    with pytest.raises(CorruptObject):
        store.verified_path(first.sha256, what="delivery #1")
    assert not store.verify(first.sha256)
    store.discard(other)
    assert not store.has(other.sha256)
    with pytest.raises(NotFound):
        store.read_bytes(other.sha256, what="the attachment")


def test_s3_store_from_settings(moto_endpoint: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace whose ipdrepo.toml names an s3:// store keeps its deliveries there, and
    nothing in the workspace."""
    import boto3

    from repository.deliveries import ingest, load_delivery
    from repository.models import Delivery
    from repository.settings import load_settings
    from repository.store import Store
    from repository.trials import TrialSpec, add_trial, parse_arm
    from repository.workspace import init_workspace

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="team-store")
    init_workspace(tmp_path / "ws", topic="team-topic", actor="cur")
    with (tmp_path / "ws" / "ipdrepo.toml").open("a") as fh:
        fh.write(f'object_store = "s3://team-store/ipd"\ns3_endpoint_url = "{moto_endpoint}"\n')
    store = Store.open(load_settings(tmp_path / "ws", actor="cur", env={}))
    try:
        with store.transaction() as session:
            add_trial(session, store.topic(session), TrialSpec(
                acronym="T1", arms=(parse_arm("1=a"), parse_arm("2=b"))), actor="cur")
        path = tmp_path / "t1.csv"
        path.write_text("patid,arm\n" + "".join(f"{i},{1 + i % 2}\n" for i in range(1, 31)))
        result = ingest(store, "T1", path, id_column="patid")
        assert store.objects.location(result.sha256).startswith("s3://team-store/ipd/sha256/")
        assert not list((tmp_path / "ws" / "objects").rglob("*"))
        with store.reading() as session:
            delivery = session.get(Delivery, result.delivery_id)
            assert len(load_delivery(store, delivery).frame) == 30
    finally:
        store.close()
