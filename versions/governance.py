"""The governance pack of a data request: the retrieval drill in one folder.

The governance documents ask that, for any data request, the whole chain can be produced on
demand - policy, plan, anonymisation report, data use agreement, access logs, outputs - in
under five minutes. :func:`pack` writes it from the store::

    PACK/
      README.md           what is where, and the request in brief
      SHA256SUMS          the hash of every file in the pack
      1-policy/           the access policy (roles and actions) and the service's settings
      2-plan/             the request as approved: purpose, trials, variables, protection
      3-anonymisation/    per extract: the disclosure-control report and the manifest
      4-dua/              the data use agreement (document, reference, version, dates)
      5-access-log/       every read and download under the request (CSV and JSON), the
                          audit events about it, and whether the audit chain verifies
      6-outputs/          what was handed out: each extract's files with their sha256

Documents a consortium keeps itself are added from the workspace's ``governance/`` folder:
``governance/policy/*`` into 1-policy and ``governance/outputs/<CODE>/*`` (reviewed outputs
returned by the requestor) into 6-outputs. Making a pack is logged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from repository import audit
from repository.errors import RequestError
from repository.models import AuditEvent, Extract
from repository.objects import private_dir
from repository.roles import ACTIONS, ROLES, require
from repository.store import Store
from versions.access import access_log, access_log_csv, log_access, members, visible_request

__all__ = ["PackResult", "pack", "SECTIONS"]

SECTIONS = ("1-policy", "2-plan", "3-anonymisation", "4-dua", "5-access-log", "6-outputs")


@dataclass(frozen=True)
class PackResult:
    request: str
    path: Path
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "path": str(self.path), "files": list(self.files)}


def _json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _policy_md() -> str:
    lines = ["# Access policy", "", "Who may do what (repository.roles.ACTIONS), enforced by the "
             "library, the command line and the server on every route.", "",
             "| action | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for action, roles in sorted(ACTIONS.items()):
        cells = ["yes" if (r in roles or "anyone" in roles) else "" for r in ROLES]
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    lines += ["", "Trialists act on their own trial only; analysts receive only the extracts "
              "of the approved, unexpired data requests they are members of; every read and "
              "download is in the access log, which the keyed audit chain covers."]
    return "\n".join(lines) + "\n"


def _plan_md(info: dict[str, Any]) -> str:
    return "\n".join([
        f"# Data request {info['code']}", "",
        f"* requestor: {info['requestor']} ({info['institution']})",
        f"* purpose: {info['purpose']}",
        f"* trials: {', '.join(info['trials'])}",
        f"* variables: {', '.join(info['variables'])}",
        f"* quasi-identifiers: {', '.join(info['quasi_identifiers']) or 'none declared'}; "
        f"k = {info['k']}, l = {info['l']}",
        f"* date shifting: {'yes' if info['date_shift'] else 'no'}",
        f"* without k-anonymity because: {info['anonymity_justification'] or '-'}",
        f"* status: {info['status']}, approved by {info['approved_by']} on "
        f"{info['approved_on']}, expires {info['expires_on']}",
        f"* data use agreement: {info['dua_reference']} version {info['dua_version']}", ""])


def pack(store: Store, code: str, output: str | Path, *, topic: str | None = None
         ) -> PackResult:
    """Write the governance pack of request ``code`` into the new directory ``output``."""
    from versions.requests import request_info

    output = Path(output).expanduser().resolve()
    if output.exists():
        raise RequestError(f"{output} already exists; a governance pack goes into a new "
                           "folder.", file=str(output))
    actor = store.settings.actor
    with store.reading() as session:
        require(session, actor, "governance.pack")
        row = visible_request(session, store, code, actor=actor, topic=topic)
        info = request_info(row).to_dict()
        info["members"] = members(session, row)
        extracts = [{"id": e.id, "release": e.release.version, "watermark": e.watermark,
                     "rows": e.rows, "files": list(e.files or ()), "report": e.report,
                     "created_by": e.created_by, "created_at": e.created_at.isoformat()}
                    for e in session.scalars(select(Extract).where(Extract.request_id == row.id)
                                             .order_by(Extract.id))]
        dua = (row.dua_sha256, row.dua_file_name)
        events = [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                   "details": e.details, "hash": e.hash}
                  for e in session.scalars(select(AuditEvent).where(
                      AuditEvent.entity_type == "data_request", AuditEvent.entity_id == code)
                      .order_by(AuditEvent.seq))]
        chain = audit.verify(session, raise_on_error=False)
    log = access_log(store, request=code)
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(store, staging, code, info, extracts, dua, events, chain, log)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = tuple(sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()))
    with store.transaction() as session:
        who = require(session, actor, "governance.pack")
        log_access(session, actor=actor, role=who.role,
                   request=visible_request(session, store, code, actor=actor, topic=topic),
                   kind="read",
                   what=f"governance pack of {code}: {len(files)} files", via="governance pack",
                   topic=store.topic(session, topic).slug)
    return PackResult(request=code, path=output, files=files)


def _write(store: Store, root: Path, code: str, info: dict[str, Any],
           extracts: list[dict[str, Any]], dua: tuple[str | None, str | None],
           events: list[dict[str, Any]], chain: Any, log: list[dict[str, Any]]) -> None:
    for section in SECTIONS:
        private_dir(root / section)
    own = store.settings.workspace / "governance"
    (root / "1-policy" / "access-policy.md").write_text(_policy_md())
    for doc in sorted((own / "policy").glob("*")) if (own / "policy").is_dir() else ():
        if doc.is_file():
            shutil.copyfile(doc, root / "1-policy" / doc.name)
    _json(root / "2-plan" / "request.json", info)
    (root / "2-plan" / "plan.md").write_text(_plan_md(info))
    for e in extracts:
        _json(root / "3-anonymisation" / f"extract-{e['id']}-report.json", e["report"])
        manifest = next((f for f in e["files"] if f.get("name") == "manifest.json"), None)
        if manifest:
            (root / "3-anonymisation" / f"extract-{e['id']}-manifest.json").write_bytes(
                store.objects.read_bytes(manifest["sha256"], what=f"manifest of extract "
                                         f"{e['id']}"))
    sha, name = dua
    if sha and name:
        (root / "4-dua" / name).write_bytes(store.objects.read_bytes(sha, what=f"DUA of {code}"))
    _json(root / "4-dua" / "dua.json", {k: info[k] for k in (
        "dua_reference", "dua_version", "dua_file_name", "approved_by", "approved_on",
        "expires_on")} | {"sha256": sha})
    (root / "5-access-log" / "access-log.csv").write_text(access_log_csv(log))
    _json(root / "5-access-log" / "access-log.json", log)
    _json(root / "5-access-log" / "audit-events.json", events)
    _json(root / "5-access-log" / "audit-chain.json", {
        "ok": chain.ok, "events": chain.events, "keyed": chain.keyed, "key_id": chain.key_id,
        "problems": list(chain.problems)})
    _json(root / "6-outputs" / "extracts.json", [
        {k: e[k] for k in ("id", "release", "watermark", "rows", "files", "created_by",
                           "created_at")} for e in extracts])
    returned = own / "outputs" / code
    if returned.is_dir():
        for doc in sorted(returned.glob("*")):
            if doc.is_file():
                shutil.copyfile(doc, root / "6-outputs" / doc.name)
    (root / "README.md").write_text(
        f"# Governance pack of data request {code}\n\n" + _plan_md(info) + "\n"
        + "\n".join(f"* `{s}/`" for s in SECTIONS)
        + f"\n\n{len(log)} reads and downloads are logged under this request; the audit chain "
        f"{'verifies' if chain.ok else 'does NOT verify'} ({chain.events} events).\n")
    sums = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  "
                    f"{path.relative_to(root).as_posix()}")
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")
