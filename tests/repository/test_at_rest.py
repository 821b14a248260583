"""At rest: workspace files are private, no database password is written to ipdrepo.toml,
names refuse control characters, and the CLI never prints a terminal escape it was given."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from repository.deliveries import ingest
from repository.errors import ConfigError, RequestError
from repository.roles import add_user
from repository.trials import ArmSpec, TrialSpec, add_trial
from repository.workspace import init_workspace

from .conftest import BASE, write_delivery
from .test_cli import ipdrepo

ROOT = Path(__file__).resolve().parents[2]
ESC = "\x1b"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(root: Path) -> list[str]:
    """Every file or directory under ``root`` that group or others may read, write or enter."""
    out = []
    for path in [root, *root.rglob("*")]:
        if mode(path) & 0o077:
            out.append(f"{path.relative_to(root.parent)} {oct(mode(path))}")
    return out


# -- files and directories ------------------------------------------------------------------

def test_a_fresh_workspace_is_private_to_its_owner(tmp_path: Path) -> None:
    before = os.umask(0o022)  # a typical login umask: what made store.sqlite 644 before
    try:
        r = ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path)
        assert r.exit_code == 0, r.output
        ws = tmp_path / "ws"
        ipdrepo("trial", "add", "T1", "--arm", "1=a", "--arm", "2=b", "--id-column", "PATNO",
                cwd=ws)
        r = ipdrepo("ingest", "T1", str(write_delivery(tmp_path / "in", "sav")), cwd=ws)
        assert r.exit_code == 0, r.output
        # a file another package writes into the workspace (a report, an export)
        r = ipdrepo("dictionary", "export", str(ROOT / "dictionaries" / "gastric-adjuvant"),
                    "--format", "html", "-o", "reports/dictionary.html", cwd=ws)
        assert r.exit_code == 0, r.output
        assert os.umask(0o022) == 0o022  # the CLI restores the caller's umask
    finally:
        os.umask(before)
    assert loose(ws) == []
    assert mode(ws / "store.sqlite") == 0o600 and mode(ws / "ipdrepo.toml") == 0o600
    assert mode(ws / "keys") == 0o700 and mode(ws / "keys" / "pseudonym.key") == 0o600
    assert mode(ws / "keys" / "audit.key") == 0o600
    objects = [p for p in (ws / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1 and mode(objects[0]) == 0o400
    assert all(mode(p) == 0o700 for p in (ws / "objects").rglob("*") if p.is_dir())
    assert mode(ws / "reports" / "dictionary.html") == 0o600


def test_the_library_alone_makes_private_files(make_store, tmp_path: Path) -> None:
    """Notebooks and scripts use the library without the CLI's umask."""
    before = os.umask(0o022)
    try:
        store = make_store()
        with store.transaction() as session:
            add_trial(session, store.topic(session), TrialSpec(
                acronym="T1", id_column="PATNO", arms=(ArmSpec("1", "a"), ArmSpec("2", "b"))),
                actor="tester")
        ingest(store, "T1", write_delivery(tmp_path / "in", "csv"))
    finally:
        os.umask(before)
    ws = store.settings.workspace
    assert [p for p in loose(ws) if "store.sqlite" in p or "objects" in p or "keys" in p
            or "ipdrepo.toml" in p] == []


# -- secrets --------------------------------------------------------------------------------

def test_init_refuses_a_password_on_the_command_line(tmp_path: Path) -> None:
    r = ipdrepo("init", "ws", "--topic", "t1", "--database-url",
                "postgresql+psycopg://curator:s3cret@127.0.0.1:1/gastric", cwd=tmp_path)
    assert r.exit_code == 4
    assert "password" in r.stderr and "PGPASSWORD" in r.stderr
    assert "IPDREPO_DATABASE_URL" in r.stderr and ".pgpass" in r.stderr
    assert "s3cret" not in r.output
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_password_from_the_environment_is_never_written(tmp_path: Path,
                                                          database_url: str) -> None:
    with_password = make_url(database_url).set(password="s3cret-pw")
    url = with_password.render_as_string(hide_password=False)
    env = {"IPDREPO_DATABASE_URL": url, "IPDREPO_USER": "tester"}
    r = ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path, env=env)
    assert r.exit_code == 0, r.output
    config = (tmp_path / "ws" / "ipdrepo.toml").read_text()
    assert "s3cret-pw" not in config and "s3cret-pw" not in r.output
    assert make_url(config.split('database_url = "')[1].split('"')[0]).password is None
    r = ipdrepo("status", "--json", cwd=tmp_path / "ws", env=env)
    assert r.exit_code == 0, r.output
    # the library strips it too; a second workspace on the same database shares its audit key
    with pytest.raises(ConfigError, match="copy the audit key"):
        init_workspace(tmp_path / "lib", topic="t2", database_url=url, actor="tester")
    (tmp_path / "lib" / "keys").mkdir(parents=True)
    shutil.copy(tmp_path / "ws" / "keys" / "audit.key", tmp_path / "lib" / "keys")
    init_workspace(tmp_path / "lib", topic="t2", database_url=url, actor="tester")
    assert "s3cret-pw" not in (tmp_path / "lib" / "ipdrepo.toml").read_text()


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["GAST-01\n", f"GAST{ESC}[2J", "GAST\r01", "GAST\u202e10"])
def test_trial_names_refuse_control_characters(make_store, bad: str) -> None:
    store = make_store()
    with store.transaction() as session, pytest.raises(ConfigError, match="control character"):
        add_trial(session, store.topic(session), TrialSpec(acronym=bad), actor="tester")
    with store.transaction() as session, pytest.raises(ConfigError, match="title"):
        add_trial(session, store.topic(session), TrialSpec(acronym="OK-1", title=f"x{bad}y"),
                  actor="tester")


def test_topics_users_datasets_and_requests_refuse_control_characters(make_store,
                                                                      tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="control character"):
        init_workspace(tmp_path / "a", topic="gastric\n", actor="t")
    with pytest.raises(ConfigError, match="title"):
        init_workspace(tmp_path / "b", topic="gastric", title=f"Gastric{ESC}]0;owned\a",
                       actor="t")
    with pytest.raises(ConfigError, match="control character"):
        init_workspace(tmp_path / "c", topic="gastric", actor=f"eve{ESC}[8m")
    store = make_store()
    with store.transaction() as session, pytest.raises(ConfigError, match="user name"):
        add_user(session, name=f"eve{ESC}[31m", role="analyst", by="tester")
    with store.transaction() as session:
        add_trial(session, store.topic(session), TrialSpec(
            acronym="T1", id_column="PATNO", arms=(ArmSpec("1", "a"), ArmSpec("2", "b"))),
            actor="tester")
    with pytest.raises(ConfigError, match="dataset"):
        ingest(store, "T1", write_delivery(tmp_path / "in", "csv"), dataset="main\nfake")
    from versions.requests import add_request

    common = dict(institution="Uni", purpose="a\nmulti-line purpose is fine", trials=["T1"],
                  variables=["age"], dua_reference="DUA-1",
                  anonymity_justification="aggregate outputs only, reviewed by the steering group")
    with pytest.raises(RequestError, match="control character"):
        add_request(store, requestor="Dr R", code="REQ-1\n", **common)
    with pytest.raises(RequestError, match="requestor"):
        add_request(store, requestor=f"Dr{ESC}[2J R", **common)
    assert add_request(store, requestor="Dr R", code="REQ-1", **common).code == "REQ-1"


# -- output ---------------------------------------------------------------------------------

def test_listings_escape_what_deliveries_carry(tmp_path: Path) -> None:
    ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path)
    ws = tmp_path / "ws"
    ipdrepo("trial", "add", "T1", "--arm", "1=a", "--arm", "2=b", "--id-column", "PATNO", cwd=ws)
    evil_id = f"A00{ESC}]0;pwned\a1"
    frame = BASE.assign(PATNO=[evil_id, "A002", "A003", "A004", "A005"])
    name = f"gast{ESC}[2J{ESC}[31mOK.csv"
    path = write_delivery(tmp_path / "in", "csv", frame)
    path = path.rename(path.with_name(name))
    r = ipdrepo("ingest", "T1", str(path), cwd=ws)
    assert r.exit_code == 0, r.output
    assert ESC not in r.output
    r = ipdrepo("deliveries", cwd=ws)
    assert ESC not in r.stdout and "gast\\x1b[2J\\x1b[31mOK.csv" in r.stdout
    r = ipdrepo("participants", "T1", "--map-back", cwd=ws)
    assert ESC not in r.stdout and "\a" not in r.stdout and "A00\\x1b]0;pwned\\x071" in r.stdout
    # JSON stays exact: the escapes are JSON's own, decoding gives back what was delivered
    r = ipdrepo("participants", "T1", "--map-back", "--json", cwd=ws)
    assert ESC not in r.stdout and evil_id in {p["trial_id"] for p in json.loads(r.stdout)}
    r = ipdrepo("deliveries", "--json", cwd=ws)
    assert json.loads(r.stdout)[0]["file_name"] == name
    # error messages quote user text safely too
    r = ipdrepo("trial", "show", f"T9{ESC}[2J", cwd=ws)
    assert r.exit_code == 3 and ESC not in r.stderr and "\\x1b[2J" in r.stderr


def test_table_cells_stay_on_one_line(tmp_path: Path) -> None:
    from repository.cli._common import print_table

    path = tmp_path / "out.txt"
    with path.open("w") as fh:
        print_table([{"a": "one\ntwo", "b": "tab\there"}], file=fh)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and "one\\ntwo" in lines[2] and "tab\\there" in lines[2]
