"""CLI of the versions package: ``ipdrepo release|request|withdraw|consent|prisma``.

Commands only parse options, call the library and print; ``--json`` prints machine-readable
output on stdout. Domain errors become ``error: ...`` and an exit code (see repository.errors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from repository.cli._common import (
    COUNT,
    IPDGroup,
    emit_json,
    get_settings,
    json_option,
    print_table,
)
from repository.cli.access import requires
from repository.errors import ReleaseError
from versions.reasons import Reason

__all__ = ["release", "request", "withdraw", "consent", "prisma"]

topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                            help="Topic slug, when the store holds several.")


def _store(topic: str | None = None) -> Any:
    from repository.store import Store

    return Store.open(get_settings(topic=topic))


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD).",
                                 param_hint=option) from exc


def _pipeline_inputs(store: Any, topic: str | None) -> Any:
    """The release inputs built from the store by the harmonisation pipeline
    (:func:`versions.store_inputs.release_inputs`)."""
    from versions.store_inputs import release_inputs

    with store.reading() as session:
        slug = store.topic(session, topic).slug
    return release_inputs(store, slug)


# -- release -------------------------------------------------------------------------------

@click.group(cls=IPDGroup)
def release() -> None:
    """Versioned releases of the topic dataset (git + DVC).

    \b
    Examples:
      ipdrepo release create --version 1.0 -m "first harmonised release"
      ipdrepo release list
      ipdrepo release show 1.0 --json
      ipdrepo release diff 1.0 1.1 --html changes.html
      ipdrepo release get 1.0 --output gastric-1.0.parquet
      ipdrepo release get 1.0 --repo https://git.example.org/releases.git --output d.parquet
      ipdrepo release remote s3://bucket/ipd --endpoint-url https://s3.example.org
    """


@release.command("create")
@click.option("--version", "version", required=True, help="Release version, e.g. 1.0.")
@click.option("-m", "--message", help="What this release is for (commit and manifest).")
@click.option("--inputs", "inputs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Release inputs written by ReleaseInputs.write (default: build them from "
                   "the store with the harmonisation pipeline).")
@click.option("--allow-open-queries", "allow_open_queries", metavar="REASON",
              help="Release although data queries of severity error are still open (open, "
                   "sent, answered or reopened), for this reason; the reason and the open "
                   "queries per trial are recorded in the manifest (open_queries_allowed). "
                   "Without it the release is refused while any such query is open; open "
                   "warning queries never stop a release (the manifest lists them).")
@topic_option
@json_option
@requires("releases.write")
def release_create(version: str, message: str | None, inputs_dir: Path | None,
                   allow_open_queries: str | None, topic: str | None, as_json: bool) -> None:
    """Create release VERSION: parquet + manifest, DVC push, git commit and tag, all or nothing.

    Re-running with the same content is a no-op; other content under an existing version is
    refused (releases are immutable). Every byte written is checked (files, DVC pointer,
    commit, the remote). A release that was interrupted (a process killed) is rolled back or
    completed first, and what was found is printed as "recovered: ...". While data queries
    are open the release is refused (exit code 5) unless --allow-open-queries gives the reason.
    """
    from versions.inputs import ReleaseInputs
    from versions.releases import create_release

    with _store(topic) as store:
        inputs = (ReleaseInputs.read(inputs_dir) if inputs_dir is not None
                  else _pipeline_inputs(store, topic))
        result = create_release(store, inputs, version=version, message=message,
                                allow_open_queries=allow_open_queries)
    for text in result.recovered:
        click.echo(f"recovered: {text}", err=True)
    if as_json:
        emit_json(result.to_dict())
        return
    verb = "Created" if result.status == "created" else "Already released (same content):"
    click.echo(f"{verb} {result.tag}: {result.rows} rows, commit {result.commit[:12]}, "
               f"data sha256 {result.data_sha256[:12]}, pushed to {result.remote}")
    print_table(result.summary.to_dict(orient="records"))


@release.command("inputs")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@topic_option
@requires("releases.write")
def release_inputs_cmd(directory: Path, topic: str | None) -> None:
    """Build the release inputs from the store and write them to DIRECTORY."""
    with _store(topic) as store:
        inputs = _pipeline_inputs(store, topic)
    inputs.write(directory)
    click.echo(f"Wrote {inputs!r} to {directory}")


@release.command("list")
@topic_option
@json_option
@requires("releases.read")
def release_list(topic: str | None, as_json: bool) -> None:
    """List the topic's releases, oldest first."""
    from versions.releases import list_releases

    with _store(topic) as store:
        releases = list_releases(store, topic=topic)
    if as_json:
        emit_json(releases.to_dict())
        return
    print_table(releases.summary.to_dict(orient="records"))


@release.command("show")
@click.argument("version")
@topic_option
@json_option
@requires("releases.read")
def release_show(version: str, topic: str | None, as_json: bool) -> None:
    """Show a release's manifest in brief (--json: the whole manifest)."""
    from versions.releases import show_release

    with _store(topic) as store:
        info = show_release(store, version, topic=topic)
    if as_json:
        emit_json(info.to_dict())
        return
    for key, value in info.overview().items():
        if key == "software":
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        click.echo(f"{key:>20}: {value}")
    print_table(info.summary.to_dict(orient="records"))


@release.command("get")
@click.argument("version")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the data here: .parquet (the released bytes) or .csv.")
@click.option("--repo", help="Release repository (path or git URL); default: the workspace's. "
                             "No workspace is needed with --repo.")
@click.option("--remote", help="Read the data from this DVC remote URL instead of the "
                               "repository's.")
@click.option("--endpoint-url", help="S3 endpoint of --remote.")
@topic_option
@json_option
@requires("releases.read", store_free="repo")
def release_get(version: str, output: Path | None, repo: str | None, remote: str | None,
                endpoint_url: str | None, topic: str | None, as_json: bool) -> None:
    """Fetch release VERSION through DVC (from a fresh clone, only the remote is needed)."""
    from versions.consumers import load_bytes, load_manifest
    from versions.dataset import read_parquet_bytes

    options = {"endpointurl": endpoint_url} if endpoint_url else None
    if repo is None:
        from versions.releases import release_bytes

        with _store(topic) as store:
            info, data = release_bytes(store, version, topic=topic, remote=remote)
        manifest: dict[str, Any] = dict(info.manifest)
    else:
        if topic is None:
            raise click.UsageError("--repo needs --topic (or IPDREPO_TOPIC).")
        manifest = load_manifest(topic, version, repo=repo)
        data = load_bytes(topic, version, repo=repo, remote=remote, remote_options=options,
                          manifest=manifest)
    frame = read_parquet_bytes(data)
    if output is not None:
        if output.suffix.lower() == ".csv":
            frame.to_csv(output, index=False, date_format="%Y-%m-%d")
        elif output.suffix.lower() == ".parquet":
            output.write_bytes(data)
        else:
            raise click.BadParameter("use a .parquet or .csv file name.", param_hint="--output")
    summary = {"tag": manifest["tag"], "rows": len(frame), "columns": frame.shape[1],
               "data_sha256": manifest["data"]["sha256"],
               "output": str(output) if output else None}
    if as_json:
        emit_json(summary)
        return
    click.echo(f"{summary['tag']}: {summary['rows']} rows x {summary['columns']} columns, "
               f"sha256 {summary['data_sha256'][:12]} verified"
               + (f"; written to {output}" if output else ""))


@release.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the full diff as an HTML page.")
@click.option("--limit", type=COUNT, default=50, show_default=True,
              help="Changed cells to print (all go to --json / --html).")
@topic_option
@json_option
@requires("releases.read")
def release_diff(old: str, new: str, html_file: Path | None, limit: int, topic: str | None,
                 as_json: bool) -> None:
    """What changed from release OLD to NEW: rows, cells (with the correction/query behind each
    change) and the dictionary."""
    from versions.diff import diff_releases

    with _store(topic) as store:
        diff = diff_releases(store, old, new, topic=topic)
    if html_file is not None:
        html_file.write_text(diff.to_html(), encoding="utf-8")
    if as_json:
        emit_json(diff.to_dict())
        return
    click.echo(f"{diff.topic}: {diff.old} -> {diff.new}")
    print_table(diff.rows.to_dict(orient="records"))
    d = diff.dictionary
    click.echo(f"\nDictionary {d['old_version']} -> {d['new_version']}: "
               f"{len(d['added'])} added ({', '.join(d['added']) or '-'}), "
               f"{len(d['removed'])} removed ({', '.join(d['removed']) or '-'}), "
               f"{len(d['changed'])} changed "
               f"({', '.join(c['variable'] for c in d['changed']) or '-'})")
    for entry in d["changelog"]:
        click.echo(f"  changelog {entry.get('version')}: {'; '.join(entry.get('changes', []))}")
    if not diff.removed.empty:
        click.echo("\nRows removed:")
        print_table(diff.removed.to_dict(orient="records"))
    click.echo(f"\nChanged cells: {len(diff.cells)}"
               + (f" (first {limit})" if len(diff.cells) > limit else ""))
    if not diff.cells.empty:
        print_table(diff.to_dict(limit=limit)["cells"])
    if html_file is not None:
        click.echo(f"\nWrote {html_file}")


@release.command("verify")
@click.argument("version")
@topic_option
@json_option
@requires("releases.read")
def release_verify(version: str, topic: str | None, as_json: bool) -> None:
    """Check release VERSION: store record, tag and its hashes, manifest, DVC pointer, data in
    the remote, deliveries in the object store (every check reported)."""
    from versions.verify import verify_release

    with _store(topic) as store:
        check = verify_release(store, version, topic=topic)
    if as_json:
        emit_json(check.to_dict())
    else:
        print_table(check.summary.to_dict(orient="records"))
    if not check.ok:
        failed = [c for c, ok, _ in check.checks if not ok]
        raise ReleaseError(f"release {check.tag} is not complete: {', '.join(failed)} failed.",
                           tag=check.tag, failed=failed)


@release.command("remote")
@click.argument("url", required=False)
@click.option("--endpoint-url", help="S3-compatible endpoint (e.g. MinIO, moto).")
@click.option("--region", help="S3 region.")
@click.option("--access-key-id", envvar="IPDREPO_S3_ACCESS_KEY_ID",
              help="Kept in .dvc/config.local (never committed).")
@click.option("--secret-access-key", envvar="IPDREPO_S3_SECRET_ACCESS_KEY",
              help="Kept in .dvc/config.local (never committed).")
@json_option
@requires("releases.read", options={"url": "releases.write"})
def release_remote(url: str | None, endpoint_url: str | None, region: str | None,
                   access_key_id: str | None, secret_access_key: str | None,
                   as_json: bool) -> None:
    """Show or set the DVC remote of the release repository (URL: a directory, s3://...)."""
    from versions.releases import configure_remote, release_repository

    with _store() as store:
        if url is None:
            remote = release_repository(store).remote()
        else:
            options = {k: v for k, v in (("endpointurl", endpoint_url), ("region", region))
                       if v}
            secrets = {k: v for k, v in (("access_key_id", access_key_id),
                                         ("secret_access_key", secret_access_key)) if v}
            remote = configure_remote(store, url, options=options, secrets=secrets)
    data = remote.to_dict() if remote else None
    if as_json:
        emit_json(data)
    elif remote is None:
        click.echo("no DVC remote configured")
    else:
        opts = ", ".join(f"{k}={v}" for k, v in remote.options.items())
        click.echo(f"{remote.name}: {remote.url}" + (f" ({opts})" if opts else ""))


# -- requests ------------------------------------------------------------------------------

def _warn(warnings: Sequence[str]) -> None:
    for text in warnings:
        click.echo(f"warning: {text}", err=True)


@click.group(cls=IPDGroup)
def request() -> None:
    """Data requests and the extracts made for them.

    \b
    Examples:
      ipdrepo request add --requestor "A. Smith" --institution "Uni X" --purpose "..." \\
          --trials MISTRAL,SIROCCO --variables age,sex,os_time_days,os_event --dua DUA-2024-7 \\
          --quasi-identifiers age,sex --k 5 --date-shift
      ipdrepo request approve REQ-0001 --expires 2027-06-30
      ipdrepo request extract REQ-0001 --release 1.1 --output extracts/REQ-0001
    """


@request.command("add")
@click.option("--requestor", required=True)
@click.option("--institution", required=True)
@click.option("--purpose", required=True)
@click.option("--trials", required=True, help="Comma-separated trial acronyms.")
@click.option("--variables", required=True, help="Comma-separated dictionary variables.")
@click.option("--dua", "dua_reference", required=True, help="Data use agreement reference.")
@click.option("--code", help="Request code (default REQ-nnnn).")
@click.option("--email")
@click.option("--quasi-identifiers", help="Comma-separated declared quasi-identifiers (trial "
                                         "is always one: every extract holds it).")
@click.option("--k", type=int, help="k for k-anonymity on trial and the quasi-identifiers.")
@click.option("--anonymity-justification", "justification",
              help="Why the extracts may go out without k-anonymity (required when --k is not "
                   "given); recorded in the request and every extract's manifest.")
@click.option("--l", "l_div", type=int, help="l for l-diversity of --sensitive.")
@click.option("--sensitive", help="The sensitive attribute for l-diversity.")
@click.option("--date-shift/--no-date-shift", default=False, show_default=True)
@click.option("--max-shift-days", default=182, show_default=True, type=int)
@click.option("--notes")
@topic_option
@json_option
@requires("requests.manage")
def request_add(requestor: str, institution: str, purpose: str, trials: str, variables: str,
                dua_reference: str, code: str | None, email: str | None,
                quasi_identifiers: str | None, k: int | None, justification: str | None,
                l_div: int | None, sensitive: str | None, date_shift: bool,
                max_shift_days: int, notes: str | None, topic: str | None,
                as_json: bool) -> None:
    """Record a data request (status submitted).

    A request needs --k (k-anonymity on trial and --quasi-identifiers) or, to go without,
    --anonymity-justification; dates are real unless --date-shift.
    """
    from versions.requests import add_request

    with _store(topic) as store:
        info = add_request(store, requestor=requestor, institution=institution,
                           purpose=purpose, trials=_split(trials), variables=_split(variables),
                           dua_reference=dua_reference, code=code, email=email,
                           quasi_identifiers=_split(quasi_identifiers), k=k, l=l_div,
                           sensitive_attribute=sensitive, date_shift=date_shift,
                           anonymity_justification=justification,
                           max_shift_days=max_shift_days, notes=notes, topic=topic)
    _warn(info.warnings)
    if as_json:
        emit_json(info.to_dict())
        return
    click.echo(f"Recorded data request {info.code} ({info.status}).")


def _transition_cmd(name: str, help_text: str) -> click.Command:
    @request.command(name, help=help_text)
    @click.argument("code")
    @click.option("--note", required=True, help="Why.")
    @topic_option
    @json_option
    @requires("requests.manage")
    def cmd(code: str, note: str, topic: str | None, as_json: bool) -> None:
        from versions import requests as lib

        with _store(topic) as store:
            info = getattr(lib, f"{name}_request")(store, code, note=note, topic=topic)
        if as_json:
            emit_json(info.to_dict())
        else:
            click.echo(f"Data request {info.code} is now {info.status}.")

    return cmd


@request.command("approve")
@click.argument("code")
@click.option("--expires", required=True, help="Expiry date of the approval (YYYY-MM-DD).")
@click.option("--approved-on", help="Approval date (default today).")
@click.option("--dua-version", help="The version of the data use agreement accepted.")
@click.option("--dua-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The signed data use agreement (kept for the governance pack).")
@click.option("--note")
@topic_option
@json_option
@requires("requests.manage")
def request_approve(code: str, expires: str, approved_on: str | None, dua_version: str | None,
                    dua_file: Path | None, note: str | None, topic: str | None,
                    as_json: bool) -> None:
    """Approve a submitted request until --expires, with the DUA version accepted.

    Downloads under the request are refused after --expires. Make analysts members with
    `ipdrepo request grant CODE USER`.
    """
    from versions.requests import approve_request

    expires_on = _date(expires, "--expires")
    assert expires_on is not None
    with _store(topic) as store:
        info = approve_request(store, code, expires_on=expires_on,
                               approved_on=_date(approved_on, "--approved-on"), note=note,
                               topic=topic, dua_version=dua_version, dua_file=dua_file)
    _warn(info.warnings)
    if as_json:
        emit_json(info.to_dict())
        return
    click.echo(f"Approved {info.code} until {info.expires_on}.")


_transition_cmd("reject", "Reject a submitted request.")
_transition_cmd("revoke", "Revoke an approved request (no further extracts).")


@request.command("list")
@topic_option
@json_option
@requires("requests.manage")
def request_list(topic: str | None, as_json: bool) -> None:
    """List data requests."""
    from versions.requests import list_requests

    with _store(topic) as store:
        requests = list_requests(store, topic=topic)
    if as_json:
        emit_json(requests.to_dict())
        return
    print_table(requests.summary.to_dict(orient="records"))


@request.command("show")
@click.argument("code")
@topic_option
@json_option
@requires("requests.manage")
def request_show(code: str, topic: str | None, as_json: bool) -> None:
    """Show a data request and its extracts."""
    from versions.requests import get_request

    with _store(topic) as store:
        info = get_request(store, code, topic=topic)
    if as_json:
        emit_json(info.to_dict())
        return
    for row in info.summary.itertuples(index=False):
        click.echo(f"{row.field:>20}: {row.value}")
    if info.extracts:
        click.echo("\nExtracts:")
        print_table([dict(e) for e in info.extracts])


@request.command("extract")
@click.argument("code")
@click.option("--release", "release_version", required=True, help="Release version.")
@click.option("--output", "-o", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) directory for the extract.")
@click.option("--csv", "with_csv", is_flag=True, help="Also write data.csv.")
@topic_option
@json_option
@requires("requests.manage")
def request_extract(code: str, release_version: str, output: Path, with_csv: bool,
                    topic: str | None, as_json: bool) -> None:
    """Write the extract of an approved request from one release."""
    from versions.extracts import extract

    formats: Sequence[str] = ("parquet", "csv") if with_csv else ("parquet",)
    with _store(topic) as store:
        result = extract(store, code, release=release_version, output=output,
                         formats=formats, topic=topic)
    _warn(result.warnings)
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"Extract for {code} from {result.release}: {result.rows} records in "
               f"{result.output} (watermark {result.watermark}).")
    if result.withdrawn_excluded:
        click.echo(f"  {result.withdrawn_excluded} records left out: consent withdrawn.")
    if result.date_shift.get("applied"):
        lo, hi = result.date_shift["offset_range_days"]
        click.echo(f"  dates shifted per participant by {lo} to {hi} days "
                   f"({', '.join(result.date_shift['columns'])}).")
    if result.anonymity is not None:
        a = result.anonymity
        click.echo(f"  k-anonymity on {', '.join(a.quasi_identifiers)}: k={a.k} achieved "
                   f"{a.k_before} -> {a.k_after}"
                   + (f"; l={a.l} on {a.sensitive}: {a.l_before} -> {a.l_after}" if a.l
                      else "")
                   + f"; {a.suppressed} records suppressed.")
    print_table(result.summary.to_dict(orient="records"))


# -- consent withdrawal --------------------------------------------------------------------

@click.command()
@click.argument("trial")
@click.argument("participant")
@click.option("--reason", required=True, help="Why (recorded in the store and audit trail).")
@click.option("--raw-id", is_flag=True,
              help="PARTICIPANT is the trial's own ID (pseudonymised with the repository "
                   "secret, never stored), not the repository pseudonym.")
@click.option("--requested-on", help="When the participant asked (YYYY-MM-DD).")
@topic_option
@json_option
@requires("store.write", trial="trial")
def withdraw(trial: str, participant: str, reason: str, raw_id: bool,
             requested_on: str | None, topic: str | None, as_json: bool) -> None:
    """Record that PARTICIPANT of TRIAL withdrew consent: excluded from every later release and
    extract; earlier releases stay reproducible."""
    from versions.withdrawals import withdraw as lib_withdraw

    with _store(topic) as store:
        record = lib_withdraw(store, trial, participant, reason=reason, raw_id=raw_id,
                              requested_on=_date(requested_on, "--requested-on"), topic=topic)
    if as_json:
        emit_json(record.to_dict())
        return
    click.echo(f"Recorded withdrawal of {record.participant} ({record.trial}); later releases "
               "and extracts will leave the participant out.")


@click.group(cls=IPDGroup)
def consent() -> None:
    """Consent withdrawals."""


consent.add_command(withdraw, "withdraw")


@consent.command("list")
@topic_option
@json_option
@requires("consent.read")
def consent_list(topic: str | None, as_json: bool) -> None:
    """List consent withdrawals."""
    from versions.withdrawals import list_withdrawals

    with _store(topic) as store:
        withdrawals = list_withdrawals(store, topic=topic)
    if as_json:
        emit_json(withdrawals.to_dict())
        return
    print_table(withdrawals.summary.to_dict(orient="records"))


# -- PRISMA-IPD ----------------------------------------------------------------------------

@click.group(cls=IPDGroup)
def prisma() -> None:
    """The PRISMA-IPD flow diagram and the trials' IPD status."""


@prisma.command("show")
@click.option("--release", "release_version", help="Release (default: the latest).")
@click.option("--svg", "svg_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--png", "png_file", type=click.Path(dir_okay=False, path_type=Path))
@topic_option
@json_option
@requires("releases.read")
def prisma_show(release_version: str | None, svg_file: Path | None, png_file: Path | None,
                topic: str | None, as_json: bool) -> None:
    """The flow: trials identified, IPD sought/obtained (with reasons), participants, and per
    outcome analysed/excluded; as a table, JSON, and SVG/PNG diagrams."""
    from versions.prisma import prisma_flow

    with _store(topic) as store:
        flow = prisma_flow(store, release=release_version, topic=topic)
    if svg_file is not None:
        flow.to_svg(svg_file)
    if png_file is not None:
        flow.to_png(png_file)
    if as_json:
        emit_json(flow.to_dict())
        return
    print_table(flow.summary.astype(object).where(flow.summary.notna(), None)
                .to_dict(orient="records"))
    for f in (svg_file, png_file):
        if f is not None:
            click.echo(f"Wrote {f}")


@prisma.command("status")
@click.argument("trial")
@click.argument("status", type=click.Choice(["sought", "obtained", "not_obtained",
                                             "not_sought"]))
@click.option("--reason", help="Why IPD were not sought / not obtained.")
@topic_option
@json_option
@requires("store.write", trial="trial")
def prisma_status(trial: str, status: str, reason: str | None, topic: str | None,
                  as_json: bool) -> None:
    """Record whether IPD of TRIAL were sought and obtained."""
    from versions.prisma import set_ipd_status

    with _store(topic) as store:
        result = set_ipd_status(store, trial, status, reason=reason, topic=topic)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['trial']}: IPD {status.replace('_', ' ')}"
               + (f" ({result['reason']})" if result["reason"] else ""))


@release.command("export")
@click.argument("version")
@click.option("--format", "fmt", required=True,
              type=click.Choice(["frictionless", "stata", "spss", "cdisc"]),
              help="frictionless: CSV + datapackage.json; stata: .dta; spss: .sav; cdisc: SAS "
                   "transport (.xpt v8) + define-like define.json. Labels and value labels "
                   "from the dictionary.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write into (created; existing export files are refused).")
@topic_option
@json_option
@requires("releases.read")
def release_export(version: str, fmt: str, output: Path, topic: str | None,
                   as_json: bool) -> None:
    """Write every table of release VERSION for other tools (Stata, SPSS, R, SAS).

    The participant table and each long table (visits, events ...) are read through DVC and
    checked against the release manifest, then written with the dictionary of the release's
    version: variable labels, value labels of coded variables, keys and (for frictionless and
    cdisc) a metadata file describing every table.

    \b
    Examples:
      ipdrepo release export 1.0.0 --format stata -o export/stata
      ipdrepo release export 1.0.0 --format frictionless -o export/package
    """
    from harmonise.pipeline.harmonising import load_topic_dictionary
    from versions.consumers import load_tables
    from versions.exports import export_tables
    from versions.releases import release_repository, show_release

    with _store(topic) as store:
        info = show_release(store, version, topic=topic)
        repo = release_repository(store, create=False)
        dictionary = load_topic_dictionary(store)
        tables = load_tables(info.topic, info.version, repo=str(repo.root))
    if info.manifest.get("dictionary", {}).get("version") not in (None, dictionary.version):
        raise ReleaseError(f"release {version} was made with dictionary version "
                           f"{info.manifest['dictionary']['version']}, the workspace has "
                           f"{dictionary.version}; export from a workspace on that version.",
                           reason=Reason.DICTIONARY)
    result = export_tables(tables, dictionary, output, fmt=fmt,
                           title=f"{info.topic} release {info.version}")
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(result.summary)


def _governance_commands() -> None:
    from versions.cli_governance import access_log_cmd, grant_cmd, ungrant_cmd

    for command in (grant_cmd, ungrant_cmd, access_log_cmd):
        request.add_command(command)


_governance_commands()
