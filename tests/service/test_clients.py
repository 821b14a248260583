"""The clients against a real server: the CLI with --server and versions.load(server=), run
from a directory holding nothing but the credentials file (no database, key or workspace)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.service.world import PASSWORD, ROOT, Server, World


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only: the clients see nothing of the database, and the server's PostgreSQL
    variant is exercised by test_policy, test_outside, test_requests and test_two_workers."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.sqlite'}"


def _home(tmp_path: Path, server: Server, token: str, mode: int = 0o600) -> dict[str, str]:
    """A bare home directory whose only file is the credentials file; the environment to run
    a client in it."""
    home = tmp_path / "home"
    creds = home / ".config" / "ipdrepo" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({server.url: token}))
    os.chmod(creds, mode)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IPDREPO_", "AWS_", "PG"))}
    env.update({"HOME": str(home), "PYTHONPATH": str(ROOT)})
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repository", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_analyst_loads_their_extract_with_nothing_but_a_token(world: World, server: Server,
                                                              tmp_path: Path) -> None:
    env = _home(tmp_path, server, world.tokens["ana.ok"])
    home = Path(env["HOME"])
    assert _files(home) == [".config/ipdrepo/credentials.json"]
    code = ("import versions.consumers as c, sys; "
            f"f = c.load('gastric-adjuvant', '1.0', server='{server.url}'); "
            "print(len(f), sorted(f.columns))")
    got = subprocess.run([sys.executable, "-c", code], env=env, cwd=home, capture_output=True,
                         text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    rows, columns = got.stdout.split(" ", 1)
    assert int(rows) == world.extras["rows:REQ-OK"]
    assert "age" in columns and "death_date" not in columns  # only the request's variables
    cli = _run(["--server", server.url, "release", "get", "1.0", "-o", "mine.parquet"], env,
               home)
    assert cli.returncode == 0, cli.stderr
    out = _run(["--server", server.url, "request", "get", "REQ-OK",
                str(world.extras["extract:REQ-OK"]), "-o", "extract"], env, home)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((home / "extract" / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == "data.parquet")
    assert hashlib.sha256((home / "mine.parquet").read_bytes()).hexdigest() == entry["sha256"]
    assert oct((home / "mine.parquet").stat().st_mode & 0o777) == "0o600"
    # nothing else arrived on the analyst's machine: no database, key or workspace
    assert not [f for f in _files(home) if f.endswith((".sqlite", ".key", ".toml"))]


def test_expired_request_downloads_are_refused(world: World, server: Server,
                                               tmp_path: Path) -> None:
    env = _home(tmp_path, server, world.tokens["ana.old"])
    got = _run(["--server", server.url, "release", "get", "1.0", "--request", "REQ-OLD"], env,
               Path(env["HOME"]))
    assert got.returncode != 0 and "expired" in got.stderr, got.stderr
    status = _run(["--server", server.url, "request", "status", "REQ-OLD"], env,
                  Path(env["HOME"]))
    assert status.returncode == 0 and "2021-01-01" in status.stdout
    other = _run(["--server", server.url, "request", "status", "REQ-OK"], env,
                 Path(env["HOME"]))
    # answered like a request that does not exist (exit 3), naming only what was asked for
    assert other.returncode == 3 and "no data request 'REQ-OK' visible" in other.stderr


def test_an_open_credentials_file_is_refused(world: World, server: Server,
                                             tmp_path: Path) -> None:
    env = _home(tmp_path, server, world.tokens["tri.a"], mode=0o644)
    got = _run(["--server", server.url, "queries", "list"], env, Path(env["HOME"]))
    assert got.returncode == 4 and "chmod 600" in got.stderr


def test_trialist_works_through_the_server(world: World, server: Server,
                                          tmp_path: Path) -> None:
    env = _home(tmp_path, server, "unused")
    home = Path(env["HOME"])
    (home / ".config" / "ipdrepo" / "credentials.json").unlink()
    login = subprocess.run([sys.executable, "-m", "repository", "login", "--server", server.url,
                            "--user", "tri.b", "--name", "laptop"], input=f"{PASSWORD}\n",
                           env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert login.returncode == 0, login.stderr
    creds = home / ".config" / "ipdrepo" / "credentials.json"
    assert creds.stat().st_mode & 0o777 == 0o600
    listed = _run(["--server", server.url, "queries", "list", "--json"], env, home)
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    assert rows and {r["trial"] for r in rows} == {"BETA-2"}
    qid = rows[0]["id"]
    answer = _run(["--server", server.url, "queries", "answer", str(qid), "--response", "other",
                   "--comment", "seen"], env, home)
    assert answer.returncode == 0, answer.stderr
    other = _run(["--server", server.url, "queries", "show", str(world.queries["ALPHA-1"])],
                 env, home)
    assert other.returncode == 3 and "ALPHA-1" not in other.stderr
    delivery = home / "beta-2-again.csv"
    delivery.write_text("patid,arm\n" + "".join(f"B{i:03d},{i % 2}\n" for i in range(1, 21)))
    sent = _run(["--server", server.url, "upload", "BETA-2", str(delivery), "--json"], env,
                home)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["status"] == "pending"
    refused = _run(["--server", server.url, "upload", "ALPHA-1", str(delivery)], env, home)
    assert refused.returncode == 3 and "no trial 'ALPHA-1' visible" in refused.stderr


@pytest.mark.parametrize("role", ["tri.a", "ana.ok"])
def test_a_wrong_token_is_refused_by_the_client(role: str, world: World, server: Server,
                                                tmp_path: Path) -> None:
    env = _home(tmp_path, server, world.tokens[role][:-2] + "xx")
    got = _run(["--server", server.url, "release", "list"], env, Path(env["HOME"]))
    assert got.returncode == 7 and "not valid" in got.stderr
