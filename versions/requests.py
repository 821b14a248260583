"""Data requests: what a later research team asks for, and its approval.

A team asks for data (:func:`add_request`): requestor, institution, purpose, the trials and
dictionary variables wanted, the data use agreement, the quasi-identifiers they will hold (with
k, and l with a sensitive attribute), and whether dates must be shifted. Every problem is listed
at once (unknown trials, variables outside the latest release's dictionary, inconsistent k/l).

``trial`` is in every extract, so it is always a quasi-identifier. A request without ``k`` on at
least one declared quasi-identifier besides ``trial`` (:func:`protected`) needs an
``anonymity_justification``: it is recorded in the request, the audit trail and every extract's
manifest, and :attr:`RequestInfo.warnings` says what goes out unprotected. Without one the
request is refused on submission, approval and extraction.
A curator approves it with an expiry date (:func:`approve_request`), or rejects or revokes it.
Extracts are made by :func:`versions.extracts.extract`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import AlreadyExists, NotFound, RequestError
from repository.models import DataRequest, Release, Topic, Trial, utcnow
from repository.names import check_name, check_text
from repository.pseudonyms import Pseudonymiser
from repository.roles import require
from repository.store import Store
from versions.inputs import KEY_COLUMNS

__all__ = [
    "REQUEST_STATUSES",
    "RequestInfo",
    "RequestList",
    "add_request",
    "approve_request",
    "reject_request",
    "revoke_request",
    "get_request",
    "list_requests",
    "request_pseudonymiser",
    "request_row",
    "request_info",
    "disclosure_warnings",
    "no_anonymity_problem",
    "protected",
]

REQUEST_STATUSES = ("submitted", "approved", "rejected", "revoked")
_ACTIONS = {"approved": "request.approve", "rejected": "request.reject",
            "revoked": "request.revoke"}
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def request_pseudonymiser(store: Store, code: str) -> Pseudonymiser:
    """The pseudonymiser of one request: its scope is ``request:<code>``."""
    return Pseudonymiser(store.secret, f"request:{code}")


# -- results -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RequestInfo:
    code: str
    status: str
    requestor: str
    institution: str
    email: str | None
    purpose: str
    trials: tuple[str, ...]
    variables: tuple[str, ...]
    dua_reference: str
    quasi_identifiers: tuple[str, ...]
    k: int | None
    l: int | None  # noqa: E741
    sensitive_attribute: str | None
    anonymity_justification: str | None
    date_shift: bool
    max_shift_days: int
    submitted_by: str
    submitted_at: str
    approved_by: str | None
    approved_on: date | None
    expires_on: date | None
    notes: str | None
    extracts: tuple[Mapping[str, Any], ...] = ()
    #: the version of the data use agreement the approval accepted (and its document's name)
    dua_version: str | None = None
    dua_file_name: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What goes out without protection (empty for a k-anonymous, date-shifted request)."""
        return disclosure_warnings(self.code, k=self.k,
                                   quasi_identifiers=self.quasi_identifiers,
                                   date_shift=self.date_shift,
                                   justification=self.anonymity_justification)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("trials", "variables", "quasi_identifiers"):
            out[key] = list(out[key])
        for key in ("approved_on", "expires_on"):
            out[key] = out[key].isoformat() if out[key] else None
        out["extracts"] = [dict(e) for e in self.extracts]
        out["warnings"] = list(self.warnings)
        return out

    @property
    def summary(self) -> pd.DataFrame:
        d = self.to_dict()
        d.pop("extracts")
        d.pop("warnings")
        return pd.DataFrame({"field": list(d), "value": [str(v) for v in d.values()]})

    def __repr__(self) -> str:
        return f"RequestInfo({self.code}, {self.status}, {self.requestor})"

    def _repr_html_(self) -> str:
        return (f"<p><b>Data request {html.escape(self.code)}</b></p>"
                + self.summary.to_html(index=False))


@dataclass(frozen=True, eq=False)
class RequestList:
    """``summary`` columns: code, status, requestor, institution, trials, variables,
    approved_on, expires_on, extracts."""

    topic: str
    requests: tuple[RequestInfo, ...]

    @property
    def summary(self) -> pd.DataFrame:
        cols = ["code", "status", "requestor", "institution", "trials", "variables",
                "approved_on", "expires_on", "extracts"]
        return pd.DataFrame([{"code": r.code, "status": r.status, "requestor": r.requestor,
                              "institution": r.institution, "trials": len(r.trials),
                              "variables": len(r.variables), "approved_on": r.approved_on,
                              "expires_on": r.expires_on, "extracts": len(r.extracts)}
                             for r in self.requests], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "requests": [r.to_dict() for r in self.requests]}

    def __len__(self) -> int:
        return len(self.requests)

    def __repr__(self) -> str:
        return f"RequestList({self.topic!r}, {[r.code for r in self.requests]})"

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)


# -- helpers -------------------------------------------------------------------------------

def protected(k: int | None, quasi_identifiers: Sequence[str]) -> bool:
    """True when a request has k-anonymity on at least one declared quasi-identifier besides
    ``trial`` (k on ``trial`` alone protects nothing a record's other values reveal)."""
    return k is not None and any(q != "trial" for q in quasi_identifiers)


def disclosure_warnings(code: str, *, k: int | None, quasi_identifiers: Sequence[str],
                        date_shift: bool, justification: str | None) -> tuple[str, ...]:
    """What a request without disclosure control sends out unprotected (none when it has k on
    declared quasi-identifiers)."""
    if protected(k, quasi_identifiers):
        return ()
    how = "no record is suppressed" if k is None else f"k = {k} is checked on trial alone"
    out = [f"data request {code} goes out without k-anonymity on declared quasi-identifiers: "
           f"{how} (justification: {justification or 'none'})"]
    if not date_shift:
        out.append(f"data request {code} shifts no dates: its extracts hold the real dates")
    return tuple(out)


def no_anonymity_problem(k: int | None, quasi_identifiers: Sequence[str],
                         justification: str | None) -> str | None:
    """The problem with a request's disclosure-control settings, or None."""
    given = bool((justification or "").strip())
    if not protected(k, quasi_identifiers) and not given:
        return ("the request is without k-anonymity on declared quasi-identifiers: declare "
                "them with k (--quasi-identifiers age,sex,... --k N; trial is always one), or "
                "say why its extracts may go out without with --anonymity-justification TEXT "
                "(recorded in the request and in every extract's manifest)")
    if protected(k, quasi_identifiers) and given:
        return (f"an anonymity justification was given but k ({k}) and quasi-identifiers are "
                "declared: give one or the other")
    return None


def request_row(session: Session, topic: Topic, code: str) -> DataRequest:
    row = session.scalar(select(DataRequest).where(DataRequest.topic_id == topic.id,
                                                   DataRequest.code == code))
    if row is None:
        known = session.scalars(select(DataRequest.code).where(
            DataRequest.topic_id == topic.id).order_by(DataRequest.id)).all()
        raise NotFound(f"there is no data request {code!r} in topic {topic.slug} (requests: "
                       f"{', '.join(known) or 'none'}).", request=code)
    return row


def request_info(row: DataRequest) -> RequestInfo:
    return RequestInfo(
        code=row.code, status=row.status, requestor=row.requestor,
        institution=row.institution, email=row.email, purpose=row.purpose,
        trials=tuple(row.trials), variables=tuple(row.variables),
        dua_reference=row.dua_reference, quasi_identifiers=tuple(row.quasi_identifiers or ()),
        k=row.k, l=row.l_diversity, sensitive_attribute=row.sensitive_attribute,
        anonymity_justification=row.anonymity_justification,
        date_shift=row.date_shift, max_shift_days=row.max_shift_days,
        submitted_by=row.submitted_by,
        submitted_at=row.submitted_at.isoformat(timespec="seconds"),
        approved_by=row.approved_by, approved_on=row.approved_on, expires_on=row.expires_on,
        notes=row.notes, dua_version=row.dua_version, dua_file_name=row.dua_file_name,
        extracts=tuple({"id": e.id, "watermark": e.watermark, "rows": e.rows,
                        "output": e.output, "created_by": e.created_by,
                        "created_at": e.created_at.isoformat(timespec="seconds"),
                        "release": e.release.version,
                        "files": [f.get("name") for f in e.files or ()]}
                       for e in row.extracts))


def _latest_dictionary(session: Session, topic: Topic) -> tuple[str, list[str]] | None:
    row = session.scalar(select(Release).where(Release.topic_id == topic.id)
                         .order_by(Release.created_at.desc(), Release.id.desc()).limit(1))
    if row is None:
        return None
    return row.version, [v["name"] for v in row.manifest["dictionary"]["variables"]]


def _problems(session: Session, topic: Topic, *, trials: Sequence[str],
              variables: Sequence[str], quasi_identifiers: Sequence[str], k: int | None,
              l: int | None, sensitive: str | None,  # noqa: E741
              max_shift_days: int, justification: str | None) -> list[str]:
    problems = []
    if not trials:
        problems.append("no trials requested")
    if not variables:
        problems.append("no variables requested")
    known = set(session.scalars(select(Trial.acronym).where(Trial.topic_id == topic.id)))
    unknown = [t for t in trials if t not in known]
    if unknown:
        problems.append(f"trials {', '.join(unknown)} are not registered in topic "
                        f"{topic.slug} (known: {', '.join(sorted(known)) or 'none'})")
    latest = _latest_dictionary(session, topic)
    if latest is not None:
        version, names = latest
        outside = [v for v in variables if v not in names]
        if outside:
            problems.append(f"variables {', '.join(outside)} are not in the dictionary of the "
                            f"latest release ({version})")
    allowed = set(variables) | set(KEY_COLUMNS)
    stray = [q for q in quasi_identifiers if q not in allowed]
    if stray:
        problems.append(f"quasi-identifiers {', '.join(stray)} are not among the requested "
                        "variables")
    return problems + _disclosure_problems(
        variables=variables, quasi_identifiers=quasi_identifiers, k=k, l=l,
        sensitive=sensitive, max_shift_days=max_shift_days, justification=justification)


def _disclosure_problems(*, variables: Sequence[str], quasi_identifiers: Sequence[str],
                         k: int | None, l: int | None, sensitive: str | None,  # noqa: E741
                         max_shift_days: int, justification: str | None) -> list[str]:
    """What is wrong with a request's k-anonymity, l-diversity and date-shift settings."""
    problems = []
    if k is not None and k < 2:
        problems.append(f"k must be at least 2 (got {k})")
    anonymity = no_anonymity_problem(k, quasi_identifiers, justification)
    if anonymity:
        problems.append(anonymity)
    if l is not None:
        if l < 2:
            problems.append(f"l must be at least 2 (got {l})")
        if not sensitive:
            problems.append("l-diversity needs a sensitive attribute")
        if k is not None and l > k:
            problems.append(f"l ({l}) cannot exceed k ({k}): a class of k records holds at "
                            "most k distinct values")
    if sensitive is not None:
        if sensitive not in variables:
            problems.append(f"the sensitive attribute {sensitive} is not a requested variable")
        if sensitive in quasi_identifiers:
            problems.append(f"{sensitive} cannot be both a quasi-identifier and sensitive")
    if max_shift_days < 1 or max_shift_days > 3650:
        problems.append(f"the maximum date shift must be 1-3650 days (got {max_shift_days})")
    return problems


def _next_code(session: Session, topic: Topic) -> str:
    n = session.scalar(select(func.count(DataRequest.id)).where(
        DataRequest.topic_id == topic.id)) or 0
    while True:
        n += 1
        code = f"REQ-{n:04d}"
        if session.scalar(select(DataRequest.id).where(DataRequest.topic_id == topic.id,
                                                       DataRequest.code == code)) is None:
            return code


# -- requests ------------------------------------------------------------------------------

def _check_names(*, code: str | None, purpose: str, notes: str | None,
                 **names: str | None) -> None:
    if code is not None:
        check_name(code, what="request code", pattern=_CODE, error=RequestError,
                   rule="1-64 letters, digits, '.', '_' or '-'")
    for what, value in names.items():
        if value is not None:
            check_name(str(value), what=what.replace("_", " "), error=RequestError)
    for what, value in (("purpose", purpose), ("notes", notes)):
        if value is not None:
            check_text(str(value), what=what, error=RequestError)


def add_request(store: Store, *, requestor: str, institution: str, purpose: str,
                trials: Sequence[str], variables: Sequence[str], dua_reference: str,
                code: str | None = None, email: str | None = None,
                quasi_identifiers: Sequence[str] = (), k: int | None = None,
                l: int | None = None, sensitive_attribute: str | None = None,  # noqa: E741
                anonymity_justification: str | None = None,
                date_shift: bool = False, max_shift_days: int = 182,
                notes: str | None = None, topic: str | None = None) -> RequestInfo:
    """Record a data request (status ``submitted``). Trials must be registered; variables must
    be in the dictionary of the latest release (when there is one); a request without ``k``
    needs ``anonymity_justification`` (see the module docstring); every problem is listed."""
    for name, value in (("requestor", requestor), ("institution", institution),
                        ("purpose", purpose), ("dua_reference", dua_reference)):
        if not value or not str(value).strip():
            raise RequestError(f"a data request needs a {name.replace('_', ' ')}.",
                               field=name)
    _check_names(code=code, requestor=requestor, institution=institution, email=email,
                 dua_reference=dua_reference, purpose=purpose, notes=notes)
    actor = store.settings.actor
    with store.transaction() as session:
        require(session, store.settings.actor, "requests.manage")
        topic_row = store.topic(session, topic)
        problems = _problems(session, topic_row, trials=list(trials), variables=list(variables),
                             quasi_identifiers=list(quasi_identifiers), k=k, l=l,
                             sensitive=sensitive_attribute, max_shift_days=max_shift_days,
                             justification=anonymity_justification)
        if problems:
            raise RequestError("the data request cannot be recorded:\n"
                               + "\n".join(f"  - {p}" for p in problems)
                               + "\nCorrect the request and submit it again.",
                               problems=problems)
        code = code or _next_code(session, topic_row)
        if session.scalar(select(DataRequest.id).where(DataRequest.topic_id == topic_row.id,
                                                       DataRequest.code == code)) is not None:
            raise AlreadyExists(f"data request {code} already exists; choose another code.",
                                request=code)
        row = DataRequest(topic_id=topic_row.id, code=code, requestor=requestor.strip(),
                          institution=institution.strip(), email=email, purpose=purpose.strip(),
                          trials=list(dict.fromkeys(trials)),
                          variables=list(dict.fromkeys(variables)),
                          dua_reference=dua_reference.strip(),
                          quasi_identifiers=list(dict.fromkeys(quasi_identifiers)), k=k,
                          l_diversity=l, sensitive_attribute=sensitive_attribute,
                          anonymity_justification=(anonymity_justification.strip()
                                                   if anonymity_justification else None),
                          date_shift=date_shift, max_shift_days=max_shift_days,
                          status="submitted", submitted_by=actor, notes=notes)
        session.add(row)
        session.flush()
        audit.append(session, actor=actor, action="request.add", topic=topic_row.slug,
                     entity_type="data_request", entity_id=code,
                     details={"requestor": row.requestor, "institution": row.institution,
                              "purpose": row.purpose, "trials": row.trials,
                              "variables": row.variables, "dua_reference": row.dua_reference,
                              "quasi_identifiers": row.quasi_identifiers, "k": k, "l": l,
                              "sensitive_attribute": sensitive_attribute,
                              "anonymity_justification": row.anonymity_justification,
                              "date_shift": date_shift, "max_shift_days": max_shift_days})
        return request_info(row)


def _transition(store: Store, code: str, *, to: str, allowed_from: Sequence[str],
                topic: str | None, note: str | None,
                changes: Mapping[str, Any] | None = None) -> RequestInfo:
    actor = store.settings.actor
    with store.transaction() as session:
        require(session, store.settings.actor, "requests.manage")
        topic_row = store.topic(session, topic)
        row = request_row(session, topic_row, code)
        if row.status not in allowed_from:
            raise RequestError(f"data request {code} is {row.status}; it cannot become {to} "
                               f"(only a request that is {' or '.join(allowed_from)} can).",
                               request=code, status=row.status)
        before = row.status
        row.status = to
        for key, value in (changes or {}).items():
            setattr(row, key, value)
        if note:
            row.notes = (row.notes + "\n" if row.notes else "") + note
        session.flush()
        audit.append(session, actor=actor, action=_ACTIONS[to], topic=topic_row.slug,
                     entity_type="data_request", entity_id=code,
                     details={"from": before, "to": to, "note": note,
                              **{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                 for k, v in (changes or {}).items()}})
        return request_info(row)


def approve_request(store: Store, code: str, *, expires_on: date,
                    approved_on: date | None = None, note: str | None = None,
                    topic: str | None = None, dua_version: str | None = None,
                    dua_file: Path | None = None) -> RequestInfo:
    """Approve a submitted request until ``expires_on`` (the data use agreement's end), with
    the version of the data use agreement the requestor accepted and, if given, the signed
    document itself (kept in the object store; it goes into the governance pack)."""
    approved_on = approved_on or date.today()
    dua: dict[str, Any] = {}
    if dua_version is not None:
        check_name(dua_version, what="DUA version")
        dua["dua_version"] = dua_version
    if dua_file is not None:
        from repository.names import check_file_name

        if not dua_file.is_file():
            raise RequestError(f"the data use agreement {dua_file} does not exist.",
                               request=code, file=str(dua_file))
        name = check_file_name(dua_file.name, what="DUA file name", error=RequestError)
        stored = store.objects.put(dua_file)
        dua.update(dua_sha256=stored.sha256, dua_file_name=name)
    if expires_on <= approved_on:
        raise RequestError(f"the expiry date {expires_on} must be after the approval date "
                           f"{approved_on}.", request=code)
    with store.reading() as session:
        require(session, store.settings.actor, "requests.manage")
        topic_row = store.topic(session, topic)
        row = request_row(session, topic_row, code)
        problems = _problems(session, topic_row, trials=row.trials, variables=row.variables,
                             quasi_identifiers=row.quasi_identifiers or [], k=row.k,
                             l=row.l_diversity, sensitive=row.sensitive_attribute,
                             max_shift_days=row.max_shift_days,
                             justification=row.anonymity_justification)
    if problems:
        raise RequestError(f"data request {code} cannot be approved:\n"
                           + "\n".join(f"  - {p}" for p in problems), request=code,
                           problems=problems)
    return _transition(store, code, to="approved", allowed_from=("submitted",), topic=topic,
                       note=note, changes={"approved_by": store.settings.actor,
                                           "approved_at": utcnow(), "approved_on": approved_on,
                                           "expires_on": expires_on, **dua})


def reject_request(store: Store, code: str, *, note: str,
                   topic: str | None = None) -> RequestInfo:
    return _transition(store, code, to="rejected", allowed_from=("submitted",), topic=topic,
                       note=note)


def revoke_request(store: Store, code: str, *, note: str,
                   topic: str | None = None) -> RequestInfo:
    """Revoke an approved request: no further extracts (those already sent are recorded)."""
    return _transition(store, code, to="revoked", allowed_from=("approved",), topic=topic,
                       note=note)


def get_request(store: Store, code: str, *, topic: str | None = None) -> RequestInfo:
    with store.reading() as session:
        require(session, store.settings.actor, "requests.manage")
        return request_info(request_row(session, store.topic(session, topic), code))


def list_requests(store: Store, *, topic: str | None = None) -> RequestList:
    with store.reading() as session:
        require(session, store.settings.actor, "requests.manage")
        topic_row = store.topic(session, topic)
        rows = session.scalars(select(DataRequest).where(DataRequest.topic_id == topic_row.id)
                               .order_by(DataRequest.id)).all()
        return RequestList(topic=topic_row.slug, requests=tuple(request_info(r) for r in rows))


