"""CLI commands for the store: init, trial, ingest, deliveries, participants, status, audit, db."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from repository.cli._common import (
    COUNT,
    IPDGroup,
    emit_json,
    emit_rows,
    get_settings,
    json_option,
    print_table,
)
from repository.cli.access import requires

__all__ = ["init", "trial", "ingest", "deliveries", "participants", "status", "audit", "db", "user"]


def _store(ctx: click.Context | None = None, topic: str | None = None):
    from repository.store import Store

    settings = get_settings(ctx, topic=topic)
    return Store.open(settings)


topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                             help="Topic slug, when the store holds several.")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--topic", required=True, help="Topic slug, e.g. gastric-adjuvant.")
@click.option("--title", help="Human title of the topic.")
@click.option("--description", help="What the topic covers.")
@click.option("--database-url", envvar="IPDREPO_DATABASE_URL",
              help="Store on a database server instead of a SQLite file, e.g. "
                   "postgresql+psycopg://curator@dbhost/gastric. Never put the password here: "
                   "give it in PGPASSWORD or ~/.pgpass (mode 0600), or the whole URL in "
                   "IPDREPO_DATABASE_URL; it is never written to ipdrepo.toml.")
@click.option("--dictionary", type=click.Path(file_okay=False, path_type=Path),
              help="Directory with the topic's dictionary.yaml and mappings/ (default: "
                   "<workspace>/dictionary).")
@json_option
@requires("workspace.create")
@click.pass_context
def init(ctx: click.Context, directory: Path, topic: str, title: str | None,
         description: str | None, database_url: str | None, dictionary: Path | None,
         as_json: bool) -> None:
    """Create a workspace in DIRECTORY (default: here) holding an empty topic store.

    Creates ipdrepo.toml, the database (SQLite file unless --database-url), the object store for
    raw deliveries, and the repository secret keys/pseudonym.key used for keyed pseudonyms. Keep
    the secret safe and out of version control: without it pseudonyms cannot be mapped back.

    \b
    Example:
      ipdrepo init gastric --topic gastric-adjuvant --title "Adjuvant chemotherapy, gastric cancer"
    """
    from repository.workspace import init_workspace, url_password, without_password

    source = ctx.get_parameter_source("database_url")
    if database_url and url_password(database_url) and \
            source == click.core.ParameterSource.COMMANDLINE:
        from repository.errors import ConfigError

        raise ConfigError(
            "refusing a database password on the command line: shell history and process "
            "lists would keep it. Give --database-url "
            f"{without_password(database_url)} and put the password in PGPASSWORD or a "
            "~/.pgpass file (mode 0600), or export the whole URL as IPDREPO_DATABASE_URL. "
            "ipdrepo never writes it to ipdrepo.toml.")
    result = init_workspace(directory, topic=topic, title=title, description=description,
                            database_url=database_url, dictionary=dictionary)
    for text in result.warnings:
        click.echo(f"warning: {text}", err=True)
    if as_json:
        emit_json(result.to_dict())
        return
    d = result.to_dict()
    click.echo(f"Created workspace {d['workspace']} for topic {topic}.")
    click.echo(f"  database: {d['database_url']}")
    click.echo(f"  secret:   {d['secret_file']}" + ("" if result.created_secret else " (existing)"))
    click.echo(f"  audit key: {result.settings.audit_key_file} (keep it where the database's "
               "users cannot write)")
    click.echo(f"  dictionary: {d['dictionary']}")
    click.echo("Next: register trials with `ipdrepo trial add` and ingest their deliveries.")


@click.group(cls=IPDGroup)
def trial() -> None:
    """Register and list the topic's trials (registry IDs, arms, published numbers)."""


def _check_arms(store: Any, specs: Any) -> None:
    """Refuse arms whose dictionary code is not one of the dictionary's arm codes (when the
    workspace has a dictionary with a categorical treatment variable)."""
    from repository.trials import check_arm_codes

    where = store.settings.dictionary_dir
    if not (where / "dictionary.yaml").is_file():
        return
    from harmonise.dictionary.spec import load_dictionary

    treatment = load_dictionary(where).with_role("treatment")
    if treatment and treatment[0].categories:
        arm = treatment[0]
        check_arm_codes(specs, arm.name, {str(c.code): c.label for c in arm.categories})


def _trial_options(*, registry: str, arms: str) -> Callable[[Any], Any]:
    """The options `trial add` and `trial update` share (title, registry IDs, arms, contact,
    ID column), with their own help for the registry IDs and the start of the arms' help."""
    options = [
        click.option("--title", help="Full title of the trial."),
        click.option("--registry-id", "registry_ids", multiple=True, help=registry),
        click.option("--arm", "arms", multiple=True,
                     metavar="CODE=LABEL[:RATIO[:N[:DICT_CODE]]]",
                     help=f"{arms}: its code in the delivery, label, allocation weight, "
                          "randomised N as published, and its code in the topic dictionary's "
                          "arm variable (needed when the delivery codes the arms differently, "
                          "e.g. A/B for 0/1; checked against the dictionary). E.g. --arm "
                          "'A=Surgery alone:1:150:0'."),
        click.option("--contact-name", help="Trialist to send data queries to."),
        click.option("--contact-email", help="Their e-mail address."),
        click.option("--id-column",
                     help="Default participant-ID column of this trial's deliveries."),
    ]

    return _stack(options)


def _stack(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """One decorator applying ``options`` as if written one above the other, in order."""
    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return apply


def _delivery_options(*, sender: str, received_on: str, accept_metavar: str, accept: str,
                      id_problems: str) -> Callable[[Any], Any]:
    """The provenance and gate options `ingest` and `ingest-package` share, with their own
    help texts."""
    return _stack([
        click.option("--received-from", help=sender),
        click.option("--received-on", type=click.DateTime(["%Y-%m-%d"]), help=received_on),
        click.option("--accept-identifiers", "accept", multiple=True, metavar=accept_metavar,
                     help=accept),
        click.option("--justification",
                     help="Why flagged columns are acceptable (recorded)."),
        click.option("--allow-id-problems", metavar="REASON", help=id_problems),
    ])


def _delivery_arguments(received_from: str | None, received_on: Any, accept: tuple[str, ...],
                        justification: str | None, allow_id_problems: str | None, *,
                        as_json: bool) -> dict[str, Any]:
    """The ingest functions' arguments from the options of :func:`_delivery_options`, with
    progress on stderr (not with ``--json``)."""
    def on_stage(name: str) -> None:
        if not as_json:
            click.echo(f"  {name} ...", err=True)

    return {"received_from": received_from,
            "received_at": received_on.date() if received_on else None,
            "accept_identifiers": accept, "justification": justification,
            "allow_id_problems": allow_id_problems, "on_stage": on_stage}


@trial.command("add")
@click.argument("acronym")
@_trial_options(registry="Trial registry ID (repeatable): NCT01234567, ISRCTN12345678, "
                         "EudraCT ...",
                arms="An arm (repeatable)")
@click.option("--notes")
@topic_option
@json_option
@requires("store.write")
def trial_add(acronym: str, title: str | None, registry_ids: tuple[str, ...],
              arms: tuple[str, ...], contact_name: str | None, contact_email: str | None,
              id_column: str | None, notes: str | None, topic: str | None,
              as_json: bool) -> None:
    """Register trial ACRONYM in the topic.

    \b
    Example:
      ipdrepo trial add GAST-01 --title "Adjuvant S-1 after D2 gastrectomy" \\
        --registry-id NCT01234567 --arm "A=Surgery alone:1:150:0" \\
        --arm "B=Surgery + S-1:1:152:1" \\
        --contact-name "Dr A. Trialist" --contact-email a.trialist@example.org

    Each arm's dictionary code (the last part of --arm; default: the arm's own code) must be
    a code of the dictionary's arm variable when the workspace has a dictionary: an arm that
    matches none is refused here, not found later as "0 delivered vs 150 published".
    Change a registered trial with `ipdrepo trial update`.
    """
    from repository.trials import TrialSpec, add_trial, parse_arm, trial_to_dict

    spec = TrialSpec(acronym=acronym, title=title, registry_ids=registry_ids,
                     arms=tuple(parse_arm(a) for a in arms), contact_name=contact_name,
                     contact_email=contact_email, id_column=id_column, notes=notes)
    with _store(topic=topic) as store, store.transaction() as session:
        _check_arms(store, [spec])
        row = add_trial(session, store.topic(session), spec, actor=store.settings.actor)
        data = trial_to_dict(row)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"Registered trial {acronym} ({len(spec.arms)} arms, allocation "
                   f"{data['allocation_ratio'] or 'not given'}).")


@trial.command("import")
@click.argument("registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@topic_option
@json_option
@requires("store.write")
def trial_import(registry_file: Path, topic: str | None, as_json: bool) -> None:
    """Register every trial listed in a registry YAML file (all or none).

    The file has a `trials:` list; each entry has acronym, title, registry_ids, arms (code,
    label, ratio, randomised, harmonised: the arm's code in the dictionary's arm variable,
    default its code; checked against the dictionary), contact (name, email) and id_column.
    `ipdrepo example create` writes one (topic.yaml). Trials already registered are left
    alone; change one with `ipdrepo trial update`.
    """
    from repository.trials import add_trial, list_trials, load_registry_file

    specs = load_registry_file(registry_file)
    added, skipped = [], []
    with _store(topic=topic) as store, store.transaction() as session:
        _check_arms(store, specs)
        topic_row = store.topic(session)
        known = {t.acronym for t in list_trials(session, topic_row)}
        for spec in specs:
            if spec.acronym in known:
                skipped.append(spec.acronym)
                continue
            add_trial(session, topic_row, spec, actor=store.settings.actor)
            added.append(spec.acronym)
    if as_json:
        emit_json({"added": added, "already_registered": skipped})
    else:
        click.echo(f"Registered {len(added)} trial(s)" +
                   (f"; {len(skipped)} already registered ({', '.join(skipped)})" if skipped else "")
                   + ".")


@trial.command("update")
@click.argument("acronym")
@_trial_options(registry="Trial registry ID (repeatable; replaces the registered ones).",
                arms="An arm (repeatable; the arms given replace all registered arms)")
@click.option("--language", help="Language of the trial's codebook (ISO 639-1, e.g. fr): its "
                                 "query workbooks are written in it where ipdrepo has the words.")
@click.option("--notes")
@topic_option
@json_option
@requires("store.write")
def trial_update(acronym: str, title: str | None, registry_ids: tuple[str, ...],
                 arms: tuple[str, ...], contact_name: str | None, contact_email: str | None,
                 id_column: str | None, language: str | None, notes: str | None,
                 topic: str | None, as_json: bool) -> None:
    """Change registered trial ACRONYM (curators); options not given stay as they are.

    \b
    Example (the delivery codes the arms A/B, the dictionary 0/1):
      ipdrepo trial update GAST-01 --arm "A=Surgery alone:1:150:0" --arm "B=Surgery + S-1:1:152:1"

    Arms are checked against the dictionary as in `ipdrepo trial add`; the change is audited
    (before and after). Run `ipdrepo validate` afterwards to re-run the checks.
    """
    from repository.trials import TrialSpec, parse_arm, trial_to_dict, update_trial

    parsed = tuple(parse_arm(a) for a in arms) or None
    with _store(topic=topic) as store, store.transaction() as session:
        if parsed:
            _check_arms(store, [TrialSpec(acronym=acronym, arms=parsed)])
        row = update_trial(session, store.topic(session), acronym, actor=store.settings.actor,
                           title=title, registry_ids=registry_ids or None, arms=parsed,
                           contact_name=contact_name, contact_email=contact_email,
                           id_column=id_column, language=language, notes=notes)
        data = trial_to_dict(row)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"Updated trial {acronym}.")


@trial.command("list")
@topic_option
@json_option
@requires("store.read")
def trial_list(topic: str | None, as_json: bool) -> None:
    """List the topic's trials with arms and published numbers (a trialist: their own)."""
    from repository.trials import trial_to_dict, visible_trials

    with _store(topic=topic) as store, store.reading() as session:
        rows = [trial_to_dict(t) for t in visible_trials(session, store.topic(session),
                                                          actor=store.settings.actor)]
    if as_json:
        emit_json(rows)
        return
    print_table([{"trial": r["acronym"],
                  "registry": ", ".join(x["id"] for x in r["registry_ids"]),
                  "arms": " / ".join(f"{a['code']}={a['label']}" for a in r["arms"]),
                  "ratio": r["allocation_ratio"], "published N": r["randomised_published"],
                  "contact": r["contact_name"]} for r in rows])


@trial.command("show")
@click.argument("acronym")
@topic_option
@json_option
@requires("store.read", trial="acronym")
def trial_show(acronym: str, topic: str | None, as_json: bool) -> None:
    """Show one trial: registry entry, arms and its deliveries."""
    from repository.deliveries import delivery_to_dict
    from repository.trials import trial_to_dict, visible_trial

    with _store(topic=topic) as store, store.reading() as session:
        row = visible_trial(session, store.topic(session), acronym, actor=store.settings.actor)
        data = trial_to_dict(row)
        data["deliveries"] = [delivery_to_dict(d) for d in row.deliveries]
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['acronym']}: {data['title'] or ''}")
    click.echo(f"  registry: {', '.join(r['id'] for r in data['registry_ids']) or '-'}")
    click.echo(f"  contact:  {data['contact_name'] or '-'} <{data['contact_email'] or '-'}>")
    for a in data["arms"]:
        click.echo(f"  arm {a['code']}: {a['label']} (ratio {a['ratio']}, published N "
                   f"{a['randomised_published'] if a['randomised_published'] is not None else '?'})")
    click.echo(f"  deliveries: {len(data['deliveries'])}")
    for d in data["deliveries"]:
        click.echo(f"    #{d['id']} {d['file_name']} {d['format']} {d['rows']} rows "
                   f"{'current' if d['current'] else 'superseded by #' + str(d['superseded_by'])}")


@click.command()
@click.argument("acronym")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id-column", help="Column holding the trial's participant IDs (default: the "
              "trial's registered id column, or a column named like one).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "sas7bdat", "xpt", "dta",
                                                    "sav", "parquet"]),
              help="Format of FILE when its extension does not say (checked against content).")
@click.option("--encoding", help="Text encoding of a CSV file, e.g. cp1252, cp1251, cp932 "
              "(Shift-JIS), gb18030, utf-16 (default: detected; give it when ipdrepo reports "
              "the encoding as ambiguous).")
@click.option("--delimiter", help="Delimiter of a CSV file (default: detected).")
@click.option("--sheet", help="Sheet of an Excel workbook (default: the only one, or the one "
              "with the ID column).")
@click.option("--dataset", default="main", show_default=True,
              help="Which of the trial's tables this is; a new file supersedes the current one "
                   "of the same dataset.")
@_delivery_options(
    sender="Who sent the file.", received_on="Date received (YYYY-MM-DD).",
    accept_metavar="COLUMN",
    accept="Accept a column the identifier gate flags (repeatable; SHEET!COLUMN for a column "
           "of another sheet of a workbook); needs --justification.",
    id_problems="Accept duplicate or blank participant IDs (recorded) so they are raised as "
                "data queries instead of refusing the file.")
@topic_option
@json_option
@requires("store.write", trial="acronym")
def ingest(acronym: str, file: Path, id_column: str | None, fmt: str | None,
           encoding: str | None, delimiter: str | None, sheet: str | None, dataset: str,
           received_from: str | None, received_on: Any, accept: tuple[str, ...],
           justification: str | None, allow_id_problems: str | None, topic: str | None,
           as_json: bool) -> None:
    """Ingest FILE as a delivery of trial ACRONYM.

    Reads CSV/delimited text, Excel (.xlsx), SAS (.sas7bdat, .xpt), Stata (.dta), SPSS (.sav)
    and Parquet. The file is kept byte for byte (content-addressed); ingesting the same bytes
    again changes nothing; a new file supersedes the trial's current one without deleting it.
    Files with direct identifiers (names, e-mail, phone, national IDs, full postcodes,
    addresses, full dates of birth, IP addresses, free text) in any sheet, label or column
    name, duplicate or blank participant IDs, beyond the limits (10,000 columns; workbooks too
    large once uncompressed), or that cannot be read are refused with a report, and the store
    is left unchanged. See docs/deliveries.md.

    \b
    Examples:
      ipdrepo ingest GAST-01 gast01_2026-10.sav --id-column PATNO --received-from "Dr Tanaka"
      ipdrepo ingest GAST-02 export.txt --format csv --delimiter ';'
    """
    from repository.deliveries import ingest as do_ingest

    options = {k: v for k, v in {"encoding": encoding, "delimiter": delimiter,
                                 "sheet": sheet}.items() if v}
    with _store(topic=topic) as store:
        result = do_ingest(store, acronym, file, id_column=id_column, format=fmt,
                           read_options=options, dataset=dataset,
                           **_delivery_arguments(received_from, received_on, accept,
                                                 justification, allow_id_problems,
                                                 as_json=as_json))
    if as_json:
        emit_json(result.to_dict())
        return
    if result.status == "unchanged":
        click.echo(f"{acronym}: nothing to do; {result.notes[0]}.")
        return
    click.echo(f"{acronym}: ingested {file.name} as delivery #{result.delivery_id} "
               f"({result.format}, {result.n_rows} rows x {result.n_columns} columns, ID column "
               f"{result.id_column}, {result.new_participants} new participants)"
               + (f"; supersedes #{result.superseded}" if result.superseded else "") + ".")
    for note in result.notes:
        click.echo(f"  note: {note}")
    if result.accepted_identifiers:
        click.echo(f"  accepted flagged columns: {', '.join(result.accepted_identifiers)}")


@click.command()
@click.argument("acronym", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include superseded deliveries.")
@topic_option
@json_option
@requires("store.read", trial="acronym")
def deliveries(acronym: str | None, show_all: bool, topic: str | None, as_json: bool) -> None:
    """List deliveries (of trial ACRONYM, or of every trial you may see): file, format, hash,
    rows, status."""
    from repository.deliveries import list_deliveries

    with _store(topic=topic) as store, store.reading() as session:
        rows = list_deliveries(session, store.topic(session), actor=store.settings.actor,
                               trial=acronym, superseded=show_all)
    if as_json:
        emit_json(rows)
        return
    print_table([{"#": r["id"], "trial": r["trial"], "file": r["file_name"],
                  "format": r["format"], "rows": r["rows"], "cols": r["columns"],
                  "sha256": r["sha256"][:12], "received": r["received_at"] or "",
                  "status": "current" if r["current"] else f"superseded by #{r['superseded_by']}"}
                 for r in rows])


@click.command()
@click.argument("acronym")
@click.option("--map-back", is_flag=True,
              help="Show each pseudonym with the trial's own ID (needs the repository secret).")
@topic_option
@json_option
@requires("store.read", trial="acronym", options={"map_back": "pseudonyms.map_back"})
def participants(acronym: str, map_back: bool, topic: str | None, as_json: bool) -> None:
    """List trial ACRONYM's participants by pseudonym (with --map-back, curators only: and
    their trial IDs)."""
    from repository.deliveries import list_participants

    with _store(topic=topic) as store:
        rows = list_participants(store, acronym, map_back=map_back, topic=topic)
    emit_rows(rows, as_json=as_json)


@click.command()
@topic_option
@json_option
@requires("store.read")
def status(topic: str | None, as_json: bool) -> None:
    """Summarise the topic: trials, published vs delivered numbers, deliveries, participants
    (a trialist: their own trial)."""
    from repository.status import topic_status

    with _store(topic=topic) as store, store.reading() as session:
        st = topic_status(session, store.topic(session), actor=store.settings.actor)
    if as_json:
        emit_json(st.to_dict())
        return
    totals = st.totals()
    click.echo(f"Topic {st.topic}: {st.title}")
    click.echo(f"  {totals['trials']} trials registered, {totals['trials_with_data']} with IPD; "
               f"{totals['deliveries']} deliveries; {totals['participants']} participants "
               f"(published randomised: {totals['randomised_published']}); "
               f"{st.audit_events} audit events")
    print_table([{"trial": t["trial"], "published N": t["randomised_published"],
                  "rows": t["rows"], "participants": t["participants"],
                  "deliveries": t["deliveries"], "current file": t["current_file"],
                  "format": t["format"]} for t in st.trials])


@click.group(cls=IPDGroup)
def audit() -> None:
    """The append-only, hash-chained audit trail."""


@audit.command("log")
@click.option("--limit", type=COUNT, default=50, show_default=True,
              help="Show the last N events.")
@click.option("--action", help="Only events of this action (e.g. delivery.ingest).")
@json_option
@requires("audit.read")
def audit_log(limit: int, action: str | None, as_json: bool) -> None:
    """Show the latest audit events (curators: all, with details; everyone else: their own
    and their trial's, without raw IDs and values)."""
    from repository.audit_view import audit_log as visible_log

    with _store() as store, store.reading() as session:
        rows = visible_log(session, actor=store.settings.actor, limit=limit, action=action)
    if as_json:
        emit_json(rows)
    else:
        print_table([{k: v for k, v in r.items() if k not in ("details", "hash")} for r in rows])


@audit.command("verify")
@json_option
@requires("audit.verify")
def audit_verify(as_json: bool) -> None:
    """Recompute the keyed hash chain and compare every delivery, correction and user row with
    the digests it recorded; exit 8 and name the events and rows if anything was changed.

    Says so when the chain is still unkeyed (run `ipdrepo audit rekey`). The raw delivery files
    are checked by `ipdrepo verify`, which also runs this check.
    """
    from repository.audit import verify

    with _store() as store, store.reading() as session:
        report = verify(session)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"audit trail intact: {report.events} events verified with the audit key "
                   f"(id {report.key_id}); {report.rows_checked} delivery, correction and user "
                   "rows match it.")
        click.echo("The raw delivery files are not checked here: run `ipdrepo verify` to hash "
                   "every object as well.")


@audit.command("rekey")
@click.option("--use-existing-key", is_flag=True,
              help="Key the chain with the audit key file that already exists (only after an "
                   "interrupted rekey).")
@json_option
@requires("store.admin")
def audit_rekey(use_existing_key: bool, as_json: bool) -> None:
    """Key an audit chain made by an earlier ipdrepo (plain SHA-256) with HMAC-SHA256.

    Checks the plain chain first (a chain that does not verify is not keyed: that would make
    the changes look genuine), creates the audit key (keys/audit.key, mode 0600, or
    IPDREPO_AUDIT_KEY_FILE), re-chains every event under it and records an audit.rekey event
    with the digests of every delivery, correction and user row. `ipdrepo db upgrade` does this
    by itself; run it after upgrading the schema with Alembic directly. Nothing to do when the
    chain is keyed already.
    """
    from repository.workspace import rekey_workspace

    result = rekey_workspace(get_settings(), use_existing_key=use_existing_key)
    if as_json:
        emit_json(result)
    elif result["rekeyed"]:
        click.echo(f"audit chain keyed: {result['events_rekeyed']} events re-chained with "
                   f"HMAC-SHA256 under {result['key_file']} (key id {result['key_id']}); "
                   f"{result['rows_recorded']} rows recorded. Back the key up apart from the "
                   "database.")
    else:
        click.echo(f"the audit chain is already keyed (key id {result['key_id']}); nothing to do.")


@click.group(cls=IPDGroup)
def db() -> None:
    """Database schema maintenance (migrations)."""


@db.command("upgrade")
@requires("store.admin")
def db_upgrade() -> None:
    """Apply pending schema migrations to the workspace's database (back it up first).

    Then keys an audit chain made by an earlier ipdrepo (see `ipdrepo audit rekey`).
    """
    from repository import db as dbmod
    from repository.store import Store
    from repository.workspace import rekey_workspace

    settings = get_settings()
    store = Store.open(settings, check_schema=False)
    try:
        before = dbmod.current_revision(store.engine)
        dbmod.upgrade(store.engine)
        click.echo(f"schema: {before} -> {dbmod.current_revision(store.engine)}")
    finally:
        store.close()
    result = rekey_workspace(settings)
    if result["rekeyed"]:
        click.echo(f"audit chain keyed: {result['events_rekeyed']} events re-chained under "
                   f"{result['key_file']} (key id {result['key_id']}); back the key up apart "
                   "from the database.")


@db.command("check")
@requires("store.admin")
def db_check() -> None:
    """Check that the models and the migrations agree (alembic check)."""
    from repository import db as dbmod
    from repository.store import Store

    with Store.open(get_settings()) as store:
        dbmod.check_models_match(store.engine)
    click.echo("models and migrations agree.")



@click.group(cls=IPDGroup)
def user() -> None:
    """Users and their roles: curator, trialist (of one trial), analyst."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["curator", "trialist", "analyst"]), required=True)
@click.option("--trial", "trial_acronym", help="The trialist's trial.")
@click.option("--email")
@click.option("--display-name")
@topic_option
@json_option
@requires("users.manage")
def user_add(name: str, role: str, trial_acronym: str | None, email: str | None,
             display_name: str | None, topic: str | None, as_json: bool) -> None:
    """Add user NAME with a role (curators only).

    \b
    Examples:
      ipdrepo user add dr.sato --role trialist --trial SIROCCO --email y.sato@example.org
      ipdrepo user add stats.team --role analyst
    """
    from repository.roles import add_user
    from repository.trials import get_trial

    with _store(topic=topic) as store, store.transaction() as session:
        topic_row = store.topic(session)
        trial_row = get_trial(session, topic_row, trial_acronym) if trial_acronym else None
        add_user(session, name=name, role=role, trial=trial_row, email=email,
                 display_name=display_name, by=store.settings.actor, topic=topic_row.slug)
    if as_json:
        emit_json({"name": name, "role": role, "trial": trial_acronym})
    else:
        click.echo(f"Added {role} {name}" + (f" of trial {trial_acronym}" if trial_acronym else "")
                   + ".")


@user.command("list")
@json_option
@requires("users.read")
def user_list(as_json: bool) -> None:
    """List users and their roles."""
    from repository.roles import list_users

    with _store() as store, store.reading() as session:
        rows = list_users(session)
    emit_rows(rows, as_json=as_json)


def _account_commands() -> None:
    from repository.cli.account_cmds import invite_cmd, reset_link_cmd, unlock_cmd

    for command in (invite_cmd, reset_link_cmd, unlock_cmd):
        user.add_command(command)


_account_commands()
