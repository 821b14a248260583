"""A small world for the service tests: a workspace with two trials (ALPHA-1, BETA-2), a data
query in each, users of every role with passwords and tokens, and a real uvicorn server.

Everything a trialist of one trial must never see of the other is listed in
:attr:`World.secrets_of` (acronym, contact and trialist e-mail, pseudonyms, file names, query
text), so a test can look for it in any response.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TRIALS = ("ALPHA-1", "BETA-2")
#: user -> (role, trial)
USERS: dict[str, tuple[str, str | None]] = {
    "cur": ("curator", None),
    "tri.a": ("trialist", "ALPHA-1"),
    "tri.b": ("trialist", "BETA-2"),
    "ana.ok": ("analyst", None),
    "ana.old": ("analyst", None),
    "victim": ("trialist", "ALPHA-1"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    workspace: Path
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    revoked_token: str = ""
    queries: dict[str, int] = field(default_factory=dict)
    secrets_of: dict[str, list[str]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def store(self, actor: str = "cur") -> Any:
        from repository.settings import load_settings
        from repository.store import Store

        return Store.open(load_settings(self.workspace, actor=actor, env={}))


def pg_database() -> Iterator[str | None]:
    """A new database on the test PostgreSQL server (None when there is none)."""
    admin = os.environ.get("IPDREPO_TEST_PG_URL")
    if not admin:
        yield None
        return
    name = f"s_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


def build_world(root: Path, database_url: str, *, object_store: str | None = None,
                s3_endpoint_url: str | None = None) -> World:
    """The workspace, trials, queries, users (passwords set through their invitation links)
    and one API token per user, made with the library; ``object_store``: an s3:// URL for
    the raw deliveries, attachments, uploads, extracts and DUAs."""
    from harmonise.queries.lifecycle import raise_query
    from repository.service import accounts, tokens
    from repository.trials import TrialSpec, add_trial, get_trial, parse_arm
    from repository.workspace import init_workspace

    init_workspace(root / "ws", topic="gastric-adjuvant", database_url=database_url,
                   actor="cur")
    world = World(workspace=root / "ws", database_url=database_url)
    if object_store:
        with (world.workspace / "ipdrepo.toml").open("a") as fh:
            fh.write(f'object_store = "{object_store}"\n')
            if s3_endpoint_url:
                fh.write(f's3_endpoint_url = "{s3_endpoint_url}"\n')
    store = world.store()
    try:
        with store.transaction() as session:
            topic = store.topic(session)
            for acronym in TRIALS:
                letter = acronym[0].lower()
                add_trial(session, topic, TrialSpec(
                    acronym=acronym, title=f"Trial {acronym}",
                    contact_email=f"contact.{letter}@trial-{letter}.example.org",
                    arms=(parse_arm("1=Surgery:1:10:0"), parse_arm("2=Chemo:1:10:1"))),
                    actor="cur")
        links = {}
        with store.transaction() as session:
            topic = store.topic(session)
            for name, (role, trial) in USERS.items():
                if name == "cur":
                    continue
                links[name] = accounts.invite(
                    session, by="cur", name=name, role=role,
                    trial=get_trial(session, topic, trial) if trial else None,
                    email=f"{name}@{(trial or 'analysts').lower()}.example.org",
                    topic=topic.slug)
            links["cur"] = accounts.reset_link(session, by="cur", name="cur")
        for link in links.values():
            with store.transaction() as session:
                accounts.redeem_link(session, link.token, password=PASSWORD)
        with store.transaction() as session:
            topic = store.topic(session)
            for acronym in TRIALS:
                q = raise_query(session, topic, get_trial(session, topic, acronym),
                                question=f"Question about {acronym}: please check marker "
                                         f"Q-{acronym}", actor="cur")
                world.queries[acronym] = q.id
            # a question still on the curators' list (as a mapping problem is): no trialist
            # may see it, not even the trial's own
            held = raise_query(session, topic, get_trial(session, topic, "ALPHA-1"),
                               question="Curators only: what does code 9 mean? marker Q-HELD",
                               actor="cur")
            held.audience = "curator"
            world.extras["held_query"] = held.id
            for name in USERS:
                world.tokens[name] = tokens.create_token(session, by=name, name="main",
                                                         expires_days=30).token
            revoked = tokens.create_token(session, by="tri.a", name="revoked")
            world.revoked_token = revoked.token
            tokens.revoke_token(session, by="tri.a", name="revoked")
        _deliveries(world, store, root)
    finally:
        store.close()
    for acronym in TRIALS:
        letter = acronym[0].lower()
        world.secrets_of[acronym] += [acronym, f"contact.{letter}@trial-{letter}.example.org",
                                      f"Q-{acronym}", f"tri.{letter}@{acronym.lower()}"]
    return world


def delivery_csv(acronym: str, n: int = 12, extra: str = "") -> bytes:
    """A small clean delivery of ``acronym``: participant ID, arm, age (and ``extra`` rows)."""
    prefix = acronym[0]
    rows = [f"{prefix}{i:03d},{1 + i % 2},{40 + i}" for i in range(1, n + 1)]
    return ("patid,arm,age\n" + "\n".join(rows) + "\n" + extra).encode()


def _truth(root: Path) -> Any:
    """The example generator's ground truth for two trials, renamed ALPHA-1 and BETA-2."""
    import pandas as pd

    from repository.example import create

    create(root / "example", trials=2, participants=60)
    truth = pd.read_parquet(root / "example" / "truth" / "participants.parquet")
    names = dict(zip(sorted(truth["trial"].unique()), TRIALS))
    truth["trial"] = truth["trial"].map(names)
    return truth


def _deliveries(world: World, store: Any, root: Path) -> None:
    """A delivery per trial (the truth's IDs and arms), an attachment on ALPHA-1's query, a
    pending upload of ALPHA-1, release 1.0, and two data requests with extracts: REQ-OK
    (approved until 2099, member ana.ok) and REQ-OLD (expired in 2021, member ana.old)."""
    from repository.attachments import attach
    from repository.deliveries import ingest, list_participants
    from repository.uploads import upload

    truth = _truth(root)
    pseudonyms: dict[str, dict[str, str]] = {}
    for acronym, rows in truth.groupby("trial", sort=True):
        name = f"{str(acronym).lower()}-secret-delivery.csv"
        path = root / name
        rows[["participant_id", "arm"]].rename(columns={"participant_id": "patid"}).to_csv(
            path, index=False)
        ingest(store, str(acronym), path, id_column="patid")
        ids = [str(i) for i in rows["participant_id"]]
        pseudonyms[str(acronym)] = dict(zip(ids, store.pseudonymiser("gastric-adjuvant")
                                            .many(str(acronym), ids)))
        shown = [p["pseudonym"] for p in list_participants(store, str(acronym))]
        world.secrets_of.setdefault(str(acronym), []).extend([name, *shown[:3]])
    world.extras["attachment"] = attach(store.as_actor("tri.a"), world.queries["ALPHA-1"],
                                        file_name="alpha-note.txt", data=b"see page 2")["id"]
    again = root / "upload" / "alpha-1-redelivery.csv"
    again.parent.mkdir()
    again.write_bytes(delivery_csv("ALPHA-1", n=13))
    world.extras["upload"] = upload(store.as_actor("tri.a"), "ALPHA-1", again,
                                    file_name=again.name)["id"]
    _release_and_requests(world, store, root, truth, pseudonyms)


def _release_and_requests(world: World, store: Any, root: Path, truth: Any,
                          pseudonyms: dict[str, dict[str, str]]) -> None:
    from datetime import date

    from sqlalchemy import select

    from repository.models import Delivery, Trial
    from tests.versions.factory import make_inputs
    from versions.access import grant
    from versions.extracts import extract
    from versions.releases import create_release
    from versions.requests import add_request, approve_request

    with store.reading() as session:
        rows = session.execute(select(Delivery, Trial.acronym).join(
            Trial, Trial.id == Delivery.trial_id).where(Delivery.superseded_by_id.is_(None)))
        deliveries = [{"trial": t, "delivery_id": d.id, "file_name": d.file_name,
                       "sha256": d.sha256, "rows": d.n_rows} for d, t in rows]
    create_release(store, make_inputs(truth, pseudonyms, deliveries=deliveries), version="1.0",
                   allow_open_queries="the service tests' world: its queries stay open")
    dua = root / "DUA-v2-signed.pdf"
    dua.write_bytes(b"%PDF-1.4 the signed data use agreement, version 2\n")
    for code, approved, expires, analyst in (("REQ-OK", None, date(2099, 12, 31), "ana.ok"),
                                             ("REQ-OLD", date(2020, 1, 1), date(2021, 1, 1),
                                              "ana.old")):
        add_request(store, code=code, requestor=f"Team of {analyst}", institution="Uni",
                    purpose=f"Purpose of {code}: survival by age", trials=list(TRIALS),
                    variables=["age", "sex", "os_time_days", "os_event"],
                    dua_reference="DUA-2026-7", anonymity_justification="test data only")
        approve_request(store, code, expires_on=expires, approved_on=approved,
                        dua_version="2", dua_file=dua)
        grant(store, code, analyst)
        made = extract(store, code, release="1.0", output=root / f"extract-{code}",
                       formats=("parquet", "csv"), today=approved)
        with store.reading() as session:
            from repository.models import DataRequest, Extract

            world.extras[f"extract:{code}"] = session.scalar(
                select(Extract.id).join(DataRequest).where(DataRequest.code == code))
        world.extras[f"rows:{code}"] = made.rows


class Server:
    """``ipdrepo serve`` in a subprocess on a free loopback port."""

    def __init__(self, world: World, *, workers: int = 1, env: dict[str, str] | None = None,
                 workspace: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("IPDREPO_")}
        run_env.update({"IPDREPO_USER": "cur", "IPDREPO_COOKIE_SECURE": "false",
                        "IPDREPO_PUBLIC_URL": self.url,
                        "IPDREPO_DATABASE_URL": world.database_url, **(env or {})})
        self.log = world.workspace.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "repository", "-w", str(workspace or world.workspace),
             "serve",
             "--port", str(self.port), "--workers", str(workers)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=run_env,
            cwd=ROOT)
        assert self.proc.stdout is not None
        seen = []
        for line in self.proc.stdout:  # blocks until uvicorn says it is up
            seen.append(line)
            if "Application startup complete" in line:
                workers -= 1
                if workers == 0:
                    break
        else:
            raise RuntimeError("the server did not start:\n" + "".join(seen))
        # keep reading the server's output (into its log file): a full pipe would block it
        self._drain = threading.Thread(target=self._keep_log, args=(seen,), daemon=True)
        self._drain.start()

    def _keep_log(self, seen: list[str]) -> None:
        assert self.proc.stdout is not None
        with self.log.open("a") as log:
            log.writelines(seen)
            for line in self.proc.stdout:
                log.write(line)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._drain.join(timeout=20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def sign_in(client: httpx.Client, user: str, password: str = PASSWORD,
            **extra: Any) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"user": user, "password": password,
                                                   **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


LONG_AGO = timedelta(days=400)
