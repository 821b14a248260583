"""Extracts: what an approved data request (:mod:`versions.requests`) receives.

:func:`extract` writes only what the approved request covers, from one release:

1. refuses requests that are not approved, or expired, and trials or variables outside the
   release (or its dictionary);
2. keeps the approved trials' records, leaves out participants who withdrew consent (even from
   an earlier release), keeps ``trial``, ``participant_id`` and the approved variables;
3. shifts dates per participant when the request says so (:mod:`versions.dateshift`);
4. suppresses the records that break k-anonymity / l-diversity on ``trial`` (in every extract,
   so always a quasi-identifier) and the declared quasi-identifiers (:mod:`versions.anonymity`);
   the manifest reports the suppressed records as counts per class-size band, never their
   values. A request without k is extracted only with its recorded justification, which the
   manifest carries with the warnings (:attr:`ExtractResult.warnings`);
5. replaces the repository pseudonym by a request-specific one (``Pseudonymiser(secret,
   "request:<code>")`` over the repository pseudonym): two requests' extracts cannot be joined
   on ID, and only the repository can map back;
6. writes ``data.parquet`` (the watermark in its key-value metadata, ``ipdrepo.watermark``),
   optionally ``data.csv``, and ``manifest.json`` (request, release, watermark, files with
   sha256, disclosure-control report) into a new directory, then records the
   :class:`~repository.models.Extract` and an audit event. A failure leaves no directory and no
   record.
"""

from __future__ import annotations

import html
import json
import secrets as _secrets
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from repository import audit
from repository.errors import RequestError
from repository.models import Extract, Release, utcnow
from repository.objects import StoredObject
from repository.roles import require
from repository.store import Store
from versions.anonymity import AnonymityReport, anonymise
from versions.dataset import parquet_bytes, read_parquet_bytes, sha256_hex
from versions.dateshift import date_columns, offsets, shift_dates
from versions.inputs import KEY_COLUMNS
from versions.manifest import manifest_bytes
from versions.releases import release_bytes
from versions.requests import (
    no_anonymity_problem,
    request_info,
    request_pseudonymiser,
    request_row,
)
from versions.withdrawals import withdrawn_participants

__all__ = ["EXTRACT_FORMATS", "ExtractResult", "extract"]

EXTRACT_FORMATS = ("parquet", "csv")


@dataclass(frozen=True, eq=False)
class ExtractResult:
    """An extract written for a request. ``summary``: trial, records (after suppression)."""

    request: str
    release: str
    watermark: str
    output: Path
    files: tuple[Mapping[str, Any], ...]
    rows: int
    anonymity: AnonymityReport | None
    date_shift: Mapping[str, Any]
    withdrawn_excluded: int
    manifest: Mapping[str, Any] = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    #: what went out without protection (no k-anonymity, real dates), as the request says
    warnings: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        counts = self.frame.groupby("trial", sort=True).size()
        return pd.DataFrame({"trial": [str(t) for t in counts.index],
                             "records": [int(n) for n in counts]}, columns=["trial", "records"])

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "release": self.release, "watermark": self.watermark,
                "output": str(self.output), "files": [dict(f) for f in self.files],
                "rows": self.rows, "withdrawn_excluded": self.withdrawn_excluded,
                "date_shift": dict(self.date_shift),
                "anonymity": self.anonymity.to_dict() if self.anonymity else None,
                "warnings": list(self.warnings)}

    def __repr__(self) -> str:
        return (f"ExtractResult({self.request} from {self.release}: {self.rows} rows -> "
                f"{self.output})")

    def _repr_html_(self) -> str:
        return (f"<p><b>Extract for {html.escape(self.request)}</b> from "
                f"{html.escape(self.release)}: {self.rows} records in "
                f"<code>{html.escape(str(self.output))}</code>, watermark "
                f"<code>{self.watermark}</code></p>" + self.summary.to_html(index=False))


# -- extracts ------------------------------------------------------------------------------

def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with text cells that a spreadsheet would run as a formula (``=HYPERLINK(...``)
    prefixed with an apostrophe (the parquet file keeps every value as it is)."""
    from repository.names import spreadsheet_text

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) == "string":
            out[column] = out[column].map(lambda v: spreadsheet_text(v)
                                          if isinstance(v, str) else v)
    return out


def _keep_objects(store: Store, files: list[dict[str, Any]], manifest: dict[str, Any],
                  contents: list[bytes], stored: list[StoredObject]) -> list[dict[str, Any]]:
    """Put an extract's files and manifest in the object store, from which the service hands
    them out (appending each to ``stored``, to discard on failure); the files as recorded."""
    manifest_data = manifest_bytes(manifest)
    for content in (*contents, manifest_data):
        stored.append(store.objects.put_bytes(content))
    return [*files, {"name": "manifest.json", "format": "json",
                     "sha256": sha256_hex(manifest_data)}]


def _record(store: Store, *, code: str, topic_slug: str, info: Any, manifest: dict[str, Any],
            shift: dict[str, Any], frame: pd.DataFrame, watermark: str, output: Path,
            files: list[dict[str, Any]], recorded: list[dict[str, Any]],
            created_at: Any, anonymity: AnonymityReport | None, excluded: int) -> None:
    """Record the extract (with its files as kept in the object store) and its audit event."""
    actor = store.settings.actor
    with store.transaction() as session:
        require(session, actor, "requests.manage")
        topic_row = store.topic(session, topic_slug)
        req_row = request_row(session, topic_row, code)
        rel_row = session.scalar(select(Release).where(Release.topic_id == topic_row.id,
                                                       Release.version == info.version))
        assert rel_row is not None
        record = {"anonymity": manifest["anonymity"], "date_shift": shift,
                  "withdrawals": manifest["withdrawals"], "columns": list(frame.columns)}
        row = Extract(request_id=req_row.id, release_id=rel_row.id, watermark=watermark,
                      output=str(output), files=recorded, rows=len(frame), report=record,
                      created_by=actor, created_at=created_at)
        session.add(row)
        session.flush()
        audit.append(session, actor=actor, action="request.extract", topic=topic_slug,
                     entity_type="extract", entity_id=row.id,
                     details={"request": code, "release": info.tag,
                              "watermark": watermark, "output": str(output),
                              "files": files, "rows": len(frame),
                              "suppressed": anonymity.suppressed if anonymity else 0,
                              "withdrawn_excluded": excluded,
                              "date_shift": shift.get("offset_range_days")})


def _prepare_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise RequestError(f"{output} already exists and is not an empty directory; extracts "
                           "are written to a new directory.", output=str(output))
    if not output.parent.is_dir():
        raise RequestError(f"the parent directory of {output} does not exist; create it "
                           "first.", output=str(output))


def _check_formats(formats: Sequence[str]) -> None:
    bad_formats = [f for f in formats if f not in EXTRACT_FORMATS]
    if bad_formats or "parquet" not in formats:
        raise RequestError(f"extract formats are {', '.join(EXTRACT_FORMATS)} (parquet always "
                           f"included); got {', '.join(formats)}.", formats=list(formats))


def _check_request(code: str, req: Any, today: date) -> None:
    """Refuse a request that is not approved, lacks disclosure control, or has expired."""
    if req.status != "approved":
        raise RequestError(f"data request {code} is {req.status}, not approved; nothing can be "
                           "extracted until a curator approves it (`ipdrepo request approve`).",
                           request=code, status=req.status)
    refused = no_anonymity_problem(req.k, req.quasi_identifiers, req.anonymity_justification)
    if refused is not None:
        raise RequestError(f"data request {code} cannot be extracted: {refused}. Nothing was "
                           "extracted; record a new request.", request=code)
    if req.expires_on is not None and today > req.expires_on:
        raise RequestError(f"data request {code} expired on {req.expires_on.isoformat()}; "
                           "nothing was extracted. Renew the data use agreement and submit a "
                           "new request.", request=code, expired=req.expires_on.isoformat())


def _check_coverage(code: str, req: Any, info: Any, names: list[str]) -> None:
    """Refuse a request whose trials or variables the release (or its dictionary) lacks."""
    outside_vars = [v for v in req.variables if v not in names]
    released_trials = {r["trial"] for r in info.manifest["counts"]["by_trial"]}
    outside_trials = [t for t in req.trials if t not in released_trials]
    if outside_vars or outside_trials:
        problems = ([f"variables {', '.join(outside_vars)} are not in the dictionary of "
                     f"release {info.version} ({info.dictionary_version})"] if outside_vars
                    else []) + \
                   ([f"trials {', '.join(outside_trials)} are not in release {info.version}"]
                    if outside_trials else [])
        raise RequestError(f"data request {code} cannot be served from release "
                           f"{info.version}:\n" + "\n".join(f"  - {p}" for p in problems)
                           + "\nExtract from a release that holds them, or amend the request.",
                           request=code, problems=problems)


def _select(frame: pd.DataFrame, req: Any, names: list[str],
            withdrawn: set[tuple[str, str]]) -> tuple[pd.DataFrame, int]:
    """Step 2: the approved trials' records without withdrawn participants, and the approved
    columns; with the number of records left out for withdrawal."""
    frame = frame[frame["trial"].isin(req.trials)]
    keys = list(zip(frame["trial"].astype(str), frame["participant_id"].astype(str)))
    gone = pd.Series([k in withdrawn for k in keys], index=frame.index, dtype=bool)
    excluded = int(gone.sum())
    frame = frame[~gone]
    columns = list(KEY_COLUMNS) + [n for n in names if n in req.variables
                                   and n not in KEY_COLUMNS]
    return frame.loc[:, columns].reset_index(drop=True), excluded


def _protect(store: Store, frame: pd.DataFrame, req: Any, info: Any,
             scope: str) -> tuple[pd.DataFrame, dict[str, Any], AnonymityReport | None]:
    """Steps 3 and 4: date shifting (on the repository pseudonyms), then k-anonymity /
    l-diversity (``trial`` is in every extract, so always a quasi-identifier)."""
    shift: dict[str, Any] = {"applied": False}
    if req.date_shift:
        types = {v["name"]: v.get("type", "") for v in info.manifest["dictionary"]["variables"]}
        cols = [c for c in date_columns(frame, types) if c not in KEY_COLUMNS]
        frame, shifted = shift_dates(frame, secret=store.secret, scope=scope,
                                     max_days=req.max_shift_days, columns=cols)
        shift = shifted.to_dict()
    anonymity: AnonymityReport | None = None
    if req.k is not None or req.l is not None:
        qis = ["trial", *[q for q in req.quasi_identifiers if q != "trial"]]
        frame, anonymity = anonymise(frame, quasi_identifiers=qis, k=req.k,
                                     l=req.l, sensitive=req.sensitive_attribute)
        frame = frame.reset_index(drop=True)
    if shift["applied"]:  # report the offsets of the records actually released
        kept = offsets(store.secret, scope, frame["trial"].astype(str).tolist(),
                       frame["participant_id"].astype(str).tolist(),
                       max_days=req.max_shift_days)
        shift["participants"] = len(kept)
        shift["offset_range_days"] = ([int(kept.min()), int(kept.max())] if len(kept)
                                      else [None, None])
    return frame, shift, anonymity


def _pseudonymise(store: Store, code: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Step 5: request-specific pseudonyms, records sorted by them."""
    pseudonymiser = request_pseudonymiser(store, code)
    frame["participant_id"] = pd.array(
        [pseudonymiser.pseudonym(t, p) for t, p in zip(frame["trial"].astype(str),
                                                       frame["participant_id"].astype(str))],
        dtype="string")
    return frame.sort_values(list(KEY_COLUMNS), kind="mergesort").reset_index(drop=True)


def _data_files(frame: pd.DataFrame, formats: Sequence[str], mark: dict[str, Any]
                ) -> tuple[list[bytes], list[dict[str, Any]]]:
    """The contents of ``data.parquet`` (watermarked) and, if asked, ``data.csv``, with their
    entries for the manifest."""
    payload = parquet_bytes(frame, metadata={"watermark": mark})
    contents = [payload]
    files = [{"name": "data.parquet", "format": "parquet", "sha256": sha256_hex(payload),
              "rows": len(frame)}]
    if "csv" in formats:
        csv_bytes = _csv_safe(frame).to_csv(index=False, date_format="%Y-%m-%d",
                                            lineterminator="\n").encode("utf-8")
        contents.append(csv_bytes)
        files.append({"name": "data.csv", "format": "csv", "sha256": sha256_hex(csv_bytes),
                      "rows": len(frame)})
    return contents, files


def _manifest(*, req: Any, info: Any, mark: dict[str, Any], files: list[dict[str, Any]],
              frame: pd.DataFrame, scope: str, excluded: int, shift: dict[str, Any],
              anonymity: AnonymityReport | None, actor: str, created: str) -> dict[str, Any]:
    return {
        "format": "ipdrepo-extract-manifest/1",
        "watermark": mark,
        "request": {k: v for k, v in req.to_dict().items()
                    if k in ("code", "requestor", "institution", "purpose", "dua_reference",
                             "trials", "variables", "approved_by", "approved_on",
                             "expires_on", "anonymity_justification")},
        "release": {"topic": info.topic, "version": info.version, "tag": info.tag,
                    "commit": info.commit, "data_sha256": info.data_sha256,
                    "dictionary_version": info.dictionary_version},
        "files": files,
        "columns": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
        "pseudonyms": {"scope": scope, "note": "request-specific: not linkable to other "
                       "requests or to the repository without the repository secret"},
        "withdrawals": {"excluded_records": excluded},
        "date_shift": shift,
        "anonymity": anonymity.to_dict() if anonymity else {
            "applied": False, "justification": req.anonymity_justification,
            "warnings": list(req.warnings)},
        "created": {"by": actor, "at": created},
    }


def _write(output: Path, files: list[dict[str, Any]], contents: list[bytes],
           manifest: dict[str, Any]) -> None:
    """Write the files and the manifest into a staging directory beside ``output``, then
    rename it to ``output`` (so a failure never leaves a half-written extract)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for entry, content in zip(files, contents):
            (staging / entry["name"]).write_bytes(content)
        (staging / "manifest.json").write_bytes(manifest_bytes(manifest))
        if output.exists():
            output.rmdir()
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def extract(store: Store, code: str, *, release: str, output: str | Path,
            formats: Sequence[str] = ("parquet",), today: date | None = None,
            topic: str | None = None) -> ExtractResult:
    """Write the extract of approved request ``code`` from release ``release`` into the new
    directory ``output`` (see the module docstring)."""
    output = Path(output).expanduser().resolve()
    _check_formats(formats)
    _prepare_output(output)
    actor = store.settings.actor
    with store.reading() as session:
        require(session, store.settings.actor, "requests.manage")
        topic_row = store.topic(session, topic)
        req = request_info(request_row(session, topic_row, code))
        withdrawn = {(w.trial, w.participant) for w in withdrawn_participants(session,
                                                                              topic_row)}
        topic_slug = topic_row.slug
    _check_request(code, req, today or date.today())
    info, data = release_bytes(store, release, topic=topic_slug)
    names = [v["name"] for v in info.manifest["dictionary"]["variables"]]
    frame = read_parquet_bytes(data)
    _check_coverage(code, req, info, names)

    scope = f"request:{code}"
    frame, excluded = _select(frame, req, names, withdrawn)
    frame, shift, anonymity = _protect(store, frame, req, info, scope)
    frame = _pseudonymise(store, code, frame)

    # 6. files, manifest, record
    watermark = _secrets.token_hex(16)
    created_at = utcnow()
    mark = {"request": code, "watermark": watermark, "release": info.tag,
            "requestor": req.requestor, "institution": req.institution,
            "created": created_at.isoformat(timespec="seconds")}
    contents, files = _data_files(frame, formats, mark)
    manifest = _manifest(req=req, info=info, mark=mark, files=files, frame=frame, scope=scope,
                         excluded=excluded, shift=shift, anonymity=anonymity, actor=actor,
                         created=created_at.isoformat(timespec="seconds"))
    _write(output, files, contents, manifest)
    stored: list[StoredObject] = []
    try:
        recorded_files = _keep_objects(store, files, manifest, contents, stored)
        _record(store, code=code, topic_slug=topic_slug, info=info, manifest=manifest,
                shift=shift, frame=frame, watermark=watermark, output=output, files=files,
                recorded=recorded_files, created_at=created_at, anonymity=anonymity,
                excluded=excluded)
    except BaseException:
        shutil.rmtree(output, ignore_errors=True)
        for obj in stored:
            store.objects.discard(obj)
        raise
    return ExtractResult(request=code, release=info.tag, watermark=watermark, output=output,
                         files=tuple(files), rows=len(frame), anonymity=anonymity,
                         date_shift=shift, withdrawn_excluded=excluded,
                         manifest=json.loads(manifest_bytes(manifest)), frame=frame,
                         warnings=req.warnings)
