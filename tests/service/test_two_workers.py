"""Two server workers sharing nothing but the database (PostgreSQL) and the object store (S3 on
a real moto server): each runs from its own copy of the workspace's settings and keys, on its
own port. A session started on one is used on the other; what one stores the other serves;
failed sign-ins count on both."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.world import PASSWORD, Server, World, bearer, build_world, pg_database, sign_in

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def team(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[World, Server, Server]]:
    if not os.environ.get("IPDREPO_TEST_PG_URL"):
        if os.environ.get("IPDREPO_REQUIRE_PG") == "1":
            pytest.fail("IPDREPO_REQUIRE_PG=1 but no PostgreSQL server")
        pytest.skip("no PostgreSQL server: run the tests with `python3 dev.py test`")
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"),
                           ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            mp.setenv(key, value)
        bucket = f"team-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
        databases = pg_database()
        url = next(databases)
        assert url is not None
        root = Path(tmp_path_factory.mktemp("team"))
        world = build_world(root, url, object_store=f"s3://{bucket}/ipd",
                            s3_endpoint_url=moto_endpoint)
        copy = root / "ws-b"
        shutil.copytree(world.workspace, copy)  # settings and keys only: no shared files
        first = Server(world)
        second = Server(world, workspace=copy)
        try:
            yield world, first, second
        finally:
            first.stop()
            second.stop()
            for _ in databases:  # drops the database
                pass


def _local_objects(world: World) -> list[Path]:
    root = world.workspace.parent
    return [p for ws in (root / "ws", root / "ws-b") for p in (ws / "objects").rglob("*")
            if p.is_file()]


def test_session_from_one_worker_works_on_the_other(team: tuple[World, Server, Server]) -> None:
    world, a, b = team
    with a.client() as on_a:
        got = sign_in(on_a, "tri.a")
        assert got.status_code == 200
        csrf = got.json()["csrf_token"]
        cookie = on_a.cookies.get("ipdrepo-session")
    with b.client() as on_b:
        on_b.cookies.set("ipdrepo-session", cookie, domain="127.0.0.1", path="/")
        assert on_b.get("/api/v1/auth/me").json()["user"] == "tri.a"
        query = world.queries["ALPHA-1"]
        assert on_b.post(f"/api/v1/queries/{query}/comments", json={"text": "from b"},
                         headers={"X-CSRF-Token": csrf}).status_code == 200
        assert on_b.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code \
            == 200
    with a.client() as again:
        again.cookies.set("ipdrepo-session", cookie, domain="127.0.0.1", path="/")
        assert again.get("/api/v1/auth/me").status_code == 401  # ended on b, ended on a


def test_stored_on_one_served_by_the_other(team: tuple[World, Server, Server]) -> None:
    world, a, b = team
    query = world.queries["ALPHA-1"]
    token = bearer(world.tokens["tri.a"])
    with a.client() as on_a, b.client() as on_b:
        made = on_a.post(f"/api/v1/queries/{query}/attachments", headers=token,
                         files={"file": ("scan-notes.txt", b"page 3: value confirmed")})
        assert made.status_code == 201, made.text
        got = on_b.get(f"/api/v1/queries/{query}/attachments/{made.json()['id']}",
                       headers=token)
        assert got.status_code == 200 and got.content == b"page 3: value confirmed"
        answered = on_a.post(f"/api/v1/queries/{query}/answer", headers=token,
                             json={"response": "confirmed_correct", "comment": "on a"})
        assert answered.status_code == 200
        thread = on_b.get(f"/api/v1/queries/{query}", headers=token).json()["thread"]
        assert thread[-1]["comment"] == "on a"
        extract = on_b.get(f"/api/v1/requests/REQ-OK/extracts/{world.extras['extract:REQ-OK']}"
                           "/files/data.parquet", headers=bearer(world.tokens["ana.ok"]))
        assert extract.status_code == 200 and extract.content[:4] == b"PAR1"
    assert _local_objects(world) == []  # everything is in S3


def test_failed_sign_ins_count_across_workers(team: tuple[World, Server, Server]) -> None:
    _, a, b = team
    with a.client() as on_a, b.client() as on_b:
        for client in (on_a, on_a, on_a, on_b, on_b):
            assert sign_in(client, "victim", "wrong, wrong, wrong").status_code == 401
        assert sign_in(on_a, "victim", PASSWORD).status_code == 429
        assert sign_in(on_b, "victim", PASSWORD).status_code == 429
