"""The commands trialists and analysts run against a server (``--server URL`` or
``IPDREPO_SERVER``), with an API token and nothing else: no database, key or workspace.

With a server given, the root group resolves ``queries``, ``release``, ``request``,
``token`` and ``upload`` to the commands here (same names and options as the local ones, where
they exist); the server authenticates the token and applies the same policy table.
``ipdrepo login --server URL`` signs in and keeps a token in the credentials file (0600).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from repository.cli._common import ROW_ID, IPDGroup, emit_json, emit_rows, json_option, print_table
from repository.cli.access import requires

__all__ = ["REMOTE_COMMANDS", "login", "logout", "queries", "release", "request", "token",
           "upload"]

#: command name -> attribute of this module, used instead of the local command with --server
REMOTE_COMMANDS = {"queries": "queries", "release": "release", "request": "request",
                   "token": "token", "upload": "upload"}


def _server() -> str:
    ctx = click.get_current_context()
    server = ctx.find_root().meta.get("ipdrepo.server")
    if not server:
        raise click.UsageError("give the server: --server URL (or IPDREPO_SERVER).")
    return str(server)


def _client() -> Any:
    from repository.client import Client

    return Client(_server())


def _write_new(path: Path, data: bytes) -> None:
    """Write a downloaded file; never over an existing one; readable by the owner only."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@click.command()
@click.option("--server", "server_url", envvar="IPDREPO_SERVER", required=True,
              help="The server's URL, e.g. https://ipd.example.org.")
@click.option("--user", prompt=True, help="Your user name on the server.")
@click.option("--password", prompt=True, hide_input=True, help="Prompted for when not given.")
@click.option("--code", default="", help="Your one-time code, if you set up a second factor.")
@click.option("--name", "token_name", default=None,
              help="Name of the token to create (default: this computer's name).")
@click.option("--expires", "days", type=click.IntRange(1, 366), default=90, show_default=True)
@requires("server.connect")
def login(server_url: str, user: str, password: str, code: str, token_name: str | None,
          days: int) -> None:
    """Sign in to SERVER and keep an API token in your credentials file (mode 0600).

    \b
    Example:
      ipdrepo login --server https://ipd.example.org --user dr.sato
      ipdrepo --server https://ipd.example.org queries list
    """
    import platform

    from repository.client import Client, save_token

    new = Client.sign_in(server_url, user=user, password=password, code=code or None,
                         name=token_name or platform.node()[:40] or "cli", expires_days=days)
    path = save_token(server_url, new["token"])
    click.echo(f"Signed in to {server_url} as {new['user']}; token {new['name']} (expires "
               f"{new['expires_at'][:10]}) kept in {path}.")


@click.command()
@click.option("--server", "server_url", envvar="IPDREPO_SERVER", required=True)
@requires("server.connect")
def logout(server_url: str) -> None:
    """Forget the token kept for SERVER (revoke it with `ipdrepo token revoke` first to make it
    stop working)."""
    from repository.client import forget_token

    removed = forget_token(server_url)
    click.echo(f"Forgot the token for {server_url}." if removed else
               f"No token was kept for {server_url}.")


# -- queries --------------------------------------------------------------------------------

@click.group(cls=IPDGroup)
def queries() -> None:
    """Data queries, through the server."""


_STATUS = click.Choice(["open", "sent", "answered", "resolved", "closed", "reopened"])


@queries.command("list")
@click.option("--trial")
@click.option("--status", "statuses", type=_STATUS, multiple=True)
@click.option("--active", is_flag=True, help="Only queries awaiting an answer or a decision.")
@json_option
@requires("server.connect")
def queries_list(trial: str | None, statuses: tuple[str, ...], active: bool,
                 as_json: bool) -> None:
    """List the data queries you may see (a trialist: their trial's)."""
    wanted = list(statuses) or (["open", "reopened", "sent", "answered"] if active else [])
    params: dict[str, Any] = {"status": wanted} if wanted else {}
    if trial:
        params["trial"] = trial
    with _client() as client:
        rows = client.json("GET", "/queries", params=params)
    if as_json:
        emit_json(rows)
        return
    print_table([{"id": r["id"], "trial": r["trial"], "status": r["status"],
                  "for": r["audience"], "participants": r["participants"],
                  "findings": r["n_findings"], "question": (r["question"] or "")[:70]}
                 for r in rows])


@queries.command("show")
@click.argument("query_id", type=ROW_ID)
@json_option
@requires("server.connect")
def queries_show(query_id: int, as_json: bool) -> None:
    """Show one query with its thread and attachments."""
    with _client() as client:
        data = client.json("GET", f"/queries/{query_id}")
    if as_json:
        emit_json(data)
        return
    who = data["participant"] or ("several participants" if data["participants"] > 1
                                  else "(whole trial)")
    click.echo(f"Query {data['id']} [{data['status']}] trial {data['trial']}, participant "
               f"{who}" + (f", due {data['due_on']}" if data["due_on"] else ""))
    click.echo(f"  {data['question']}")
    for c in data["consequences"]:
        click.echo(f"    because of it: {c}")
    for f in data["findings"]:
        where = f"row {f['row']}" if f["row"] is not None else "trial"
        click.echo(f"    finding {f['check']} ({f['severity']}, {where}) value {f['value']!r}")
    for m in data["thread"]:
        click.echo(f"  {m['at']} {m['author']}: {m['kind']} {m['response_code'] or ''} "
                   f"{m['corrected_value'] or ''} {m['comment'] or ''}".rstrip())
    for a in data.get("attachments", []):
        click.echo(f"  attachment {a['id']}: {a['file_name']} ({a['size_bytes']} bytes)")


@queries.command("answer")
@click.argument("query_id", type=ROW_ID)
@click.option("--response", "code", required=True,
              type=click.Choice(["typographical_error", "data_missing", "confirmed_correct",
                                 "wrong_source", "other"]))
@click.option("--value", "corrected", help="The corrected value (several columns: "
              "'COLUMN=value; COLUMN2=value').")
@click.option("--cell", "cells", multiple=True, metavar="PARTICIPANT:COLUMN=VALUE",
              help="A question about several participants: the corrected value of one of its "
                   "cells (repeatable).")
@click.option("--comment")
@requires("server.connect")
def queries_answer(query_id: int, code: str, corrected: str | None, cells: tuple[str, ...],
                   comment: str | None) -> None:
    """Answer query QUERY_ID."""
    body: dict[str, Any] = {"response": code, "value": corrected, "comment": comment}
    if cells:
        body["cells"] = [_cell(text) for text in cells]
    with _client() as client:
        client.json("POST", f"/queries/{query_id}/answer", json=body)
    click.echo(f"Answered query {query_id} ({code}).")


def _cell(text: str) -> dict[str, Any]:
    where, sep, value = text.partition("=")
    participant, colon, column = where.rpartition(":")
    if not sep or not column:
        raise click.BadParameter(f"{text!r}: write PARTICIPANT:COLUMN=VALUE.",
                                 param_hint="--cell")
    return {"participant": participant or None, "column": column, "value": value or None}


@queries.command("attach")
@click.argument("query_id", type=ROW_ID)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@requires("server.connect")
def queries_attach(query_id: int, file: Path) -> None:
    """Attach FILE to query QUERY_ID's thread (never an identifiable document)."""
    with _client() as client, file.open("rb") as fh:
        got = client.json("POST", f"/queries/{query_id}/attachments",
                          files={"file": (file.name, fh)})
    click.echo(f"Attached {got['file_name']} to query {query_id}.")


@queries.command("export")
@click.argument("trial")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@requires("server.connect")
def queries_export(trial: str, output: Path | None) -> None:
    """Download TRIAL's query workbook."""
    path = output or Path(f"{trial}-queries.xlsx")
    with _client() as client:
        data = client.get_bytes(f"/trials/{trial}/workbook")
    _write_new(path, data)
    click.echo(f"Wrote {path}.")


@queries.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trial", required=True, help="The trial the workbook belongs to.")
@json_option
@requires("server.connect")
def queries_import(file: Path, trial: str, as_json: bool) -> None:
    """Send the answered workbook FILE (all or nothing)."""
    with _client() as client, file.open("rb") as fh:
        result = client.json("POST", f"/trials/{trial}/workbook",
                             files={"file": (file.name, fh)})
    if as_json:
        emit_json(result)
    else:
        click.echo(f"Imported {len(result.get('answered', []))} answer(s) from {file.name}.")


# -- uploads --------------------------------------------------------------------------------

@click.command()
@click.argument("trial")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", default="main", show_default=True)
@click.option("--id-column", help="The participant-ID column (default: recognised by name).")
@json_option
@requires("server.connect")
def upload(trial: str, file: Path, dataset: str, id_column: str | None, as_json: bool) -> None:
    """Upload a delivery FILE of TRIAL: checked for identifiers now, ingested by a curator."""
    form = {"dataset": dataset, **({"id_column": id_column} if id_column else {})}
    with _client() as client, file.open("rb") as fh:
        got = client.json("POST", f"/trials/{trial}/uploads", data=form,
                          files={"file": (file.name, fh)})
    if as_json:
        emit_json(got)
    else:
        click.echo(f"Uploaded {got['file_name']} ({got['rows']} rows, {got['columns']} "
                   f"columns): upload {got['id']}, waiting for a curator.")


# -- releases and requests ------------------------------------------------------------------

@click.group(cls=IPDGroup)
def release() -> None:
    """Releases, through the server (analysts: those of their requests)."""


@release.command("list")
@json_option
@requires("server.connect")
def release_list(as_json: bool) -> None:
    with _client() as client:
        rows = client.json("GET", "/releases")
    if as_json:
        emit_json(rows)
    else:
        print_table([{k: r[k] for k in ("version", "created_at", "rows", "data_sha256")}
                     for r in rows])


@release.command("show")
@click.argument("version")
@json_option
@requires("server.connect")
def release_show(version: str, as_json: bool) -> None:
    with _client() as client:
        data = client.json("GET", f"/releases/{version}")
    if as_json:
        emit_json(data)
    else:
        data.pop("manifest", None)
        print_table([{"field": k, "value": json.dumps(v) if isinstance(v, dict) else v}
                     for k, v in data.items()])


@release.command("get")
@click.argument("version")
@click.option("--request", "code", help="Your data request (analysts; default: the only one "
                                        "with an extract of VERSION).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@requires("server.connect")
def release_get(version: str, code: str | None, output: Path | None) -> None:
    """Download release VERSION's data (analysts: their request's extract of it), checked
    against its sha256."""
    from repository.client import Client
    from versions.remote import fetch_release_bytes

    with Client(_server()) as client:
        name, data = fetch_release_bytes(client, version, request=code)
    path = output or Path(name)
    _write_new(path, data)
    click.echo(f"Wrote {path} ({len(data)} bytes).")


@click.group(cls=IPDGroup)
def request() -> None:
    """Data requests, through the server (analysts: their own)."""


@request.command("list")
@json_option
@requires("server.connect")
def request_list(as_json: bool) -> None:
    with _client() as client:
        rows = client.json("GET", "/requests")
    if as_json:
        emit_json(rows)
    else:
        print_table([{k: r[k] for k in ("code", "status", "expires_on", "dua_version",
                                        "purpose")} for r in rows])


@request.command("status")
@click.argument("code")
@json_option
@requires("server.connect")
def request_status(code: str, as_json: bool) -> None:
    """The status of data request CODE: approval, expiry, DUA version, extracts."""
    with _client() as client:
        data = client.json("GET", f"/requests/{code}")
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['code']}: {data['status']}, approved {data['approved_on']} until "
               f"{data['expires_on']}, DUA {data['dua_reference']} version "
               f"{data['dua_version']}")
    for e in data["extracts"]:
        click.echo(f"  extract {e['id']}: {e['rows']} rows, files {', '.join(e['files'])}")


@request.command("get")
@click.argument("code")
@click.argument("extract_id", type=ROW_ID)
@click.option("--output", "-o", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="A new directory for the files.")
@requires("server.connect")
def request_get(code: str, extract_id: int, directory: Path) -> None:
    """Download every file of extract EXTRACT_ID of request CODE into a new directory."""
    import hashlib

    from repository.errors import ServiceError

    with _client() as client:
        data = client.json("GET", f"/requests/{code}")
        extract = next((e for e in data["extracts"] if e["id"] == extract_id), None)
        if extract is None:
            raise click.UsageError(f"request {code} has no extract {extract_id}.")
        directory.mkdir(mode=0o700)
        manifest = json.loads(client.get_bytes(
            f"/requests/{code}/extracts/{extract_id}/files/manifest.json"))
        _write_new(directory / "manifest.json", json.dumps(manifest, indent=2).encode())
        for entry in manifest["files"]:
            got = client.get_bytes(f"/requests/{code}/extracts/{extract_id}/files/"
                                   f"{entry['name']}")
            if hashlib.sha256(got).hexdigest() != entry["sha256"]:
                raise ServiceError(f"{entry['name']} of extract {extract_id} does not match "
                                   "its manifest; nothing more was written.")
            _write_new(directory / entry["name"], got)
    click.echo(f"Wrote extract {extract_id} of {code} into {directory}.")


# -- tokens ---------------------------------------------------------------------------------

@click.group(cls=IPDGroup)
def token() -> None:
    """Your API tokens on the server."""


@token.command("create")
@click.argument("name")
@click.option("--expires", "days", type=click.IntRange(1, 366), default=90, show_default=True)
@json_option
@requires("server.connect")
def token_create(name: str, days: int, as_json: bool) -> None:
    with _client() as client:
        new = client.json("POST", "/tokens", json={"name": name, "expires_days": days})
    if as_json:
        emit_json(new)
    else:
        click.echo(f"Token {new['name']} (expires {new['expires_at'][:10]}):\n{new['token']}\n"
                   "It is shown only now.")


@token.command("list")
@json_option
@requires("server.connect")
def token_list(as_json: bool) -> None:
    with _client() as client:
        rows = client.json("GET", "/tokens")
    emit_rows(rows, as_json=as_json)


@token.command("revoke")
@click.argument("name")
@requires("server.connect")
def token_revoke(name: str) -> None:
    with _client() as client:
        client.json("DELETE", f"/tokens/{name}")
    click.echo(f"Revoked token {name}.")
