"""CLI groups ``ipdrepo queries`` (data queries to trialists and their answers) and
``ipdrepo corrections`` (the corrections accepted answers made).

``export`` writes a trial's query workbook, ``import`` reads an answered one back (all or
nothing). The acting user is ``IPDREPO_USER`` (default: the login name); the library checks
their role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from repository.cli._common import (
    ROW_ID,
    IPDGroup,
    emit_json,
    get_settings,
    json_option,
    print_table,
)
from repository.cli.access import requires

__all__ = ["queries", "corrections"]

topic_option = click.option("--topic", default=None, envvar="IPDREPO_TOPIC",
                            help="Topic slug, when the store holds several.")


@click.group(cls=IPDGroup)
def queries() -> None:
    """Data queries to trialists: workbooks out, answers in."""


@queries.command("export")
@click.argument("trial")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Workbook to write (.xlsx; default TRIAL-queries-YYYYMMDD-HHMMSS.xlsx in the "
                   "current directory). An existing file is never overwritten.")
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date the answers are due (YYYY-MM-DD; default: 28 days from today), shown "
                   "on every question.")
@topic_option
@json_option
@requires("queries.manage", trial="trial")
def export_cmd(trial: str, output: Path | None, due: dt.datetime | None, topic: str | None,
               as_json: bool) -> None:
    """Write the query workbook of TRIAL for its team (curators only).

    One row per question (one root cause: what else fails because of the same value is listed
    under it), in the trial's own participant IDs, column names, coding and date layout, and in
    the trial's language where ipdrepo has the words (English, French). A question about
    several participants lists them on a sheet of its own. The workbook carries the trial's
    open, reopened and sent questions for the trial (mapping problems wait on your list until
    you forward them: `ipdrepo queries forward`); each is marked sent and due. Send the file
    to the trial; import the answered file with `ipdrepo queries import`.

    \b
    Example:
      ipdrepo queries export GAST-01 -o GAST-01-queries.xlsx --due 2026-12-31
    """
    from harmonise.queries.workbook import export_workbook
    from repository.store import Store

    settings = get_settings(topic=topic)
    path = output or Path(f"{trial}-queries-{dt.datetime.now():%Y%m%d-%H%M%S}.xlsx")
    with Store.open(settings) as store:
        result = export_workbook(store, trial, path, actor=settings.actor, topic=topic,
                                 due=due.date() if due else None)
    if as_json:
        emit_json(result.to_dict())
        return
    noun = "question" if result.n_queries == 1 else "questions"
    click.echo(f"Wrote {result.path}: {result.n_queries} {noun} for trial {result.trial} "
               f"(export {result.export_id}, due {result.due_on}).")
    if result.contact:
        click.echo(f"Send it to {result.contact}.")
    click.echo("Import the answered workbook with `ipdrepo queries import FILE`.")


@queries.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trial", default=None,
              help="The trial the workbook must belong to (a trialist's own trial by default).")
@json_option
@requires("queries.answer", trial="trial")
def import_cmd(file: Path, trial: str | None, as_json: bool) -> None:
    """Import the answers of an answered query workbook FILE.

    Everything is checked first; if anything is wrong, every problem is listed (sheet, cell,
    what to do) and nothing is imported. Rows left blank stay sent.

    \b
    Example:
      ipdrepo queries import GAST-01-queries-answered.xlsx --trial GAST-01
    """
    from harmonise.queries.workbook import import_workbook
    from repository.store import Store

    settings = get_settings()
    with Store.open(settings) as store:
        result = import_workbook(store, file, actor=settings.actor, trial=trial)
    if as_json:
        emit_json(result.to_dict())
        return
    codes = ", ".join(f"{n} {code.replace('_', ' ')}" for code, n in result.by_code().items())
    click.echo(f"Imported {len(result.answered)} answer(s) from {file.name} (trial "
               f"{result.trial}, export {result.export_id})" + (f": {codes}" if codes else "")
               + ".")
    if result.unchanged:
        click.echo(f"{len(result.unchanged)} answer(s) were already imported, unchanged.")
    if result.not_answered:
        waiting = len(result.not_answered)
        noun = "query is" if waiting == 1 else "queries are"
        click.echo(f"{waiting} {noun} not answered yet (still sent).")
    print_table(result.summary.to_dict("records"))


def _open_store(topic: str | None = None) -> Any:
    from repository.store import Store

    return Store.open(get_settings(topic=topic))


_STATUS = click.Choice(["open", "sent", "answered", "resolved", "closed", "reopened"])


@queries.command("list")
@click.option("--trial", help="Only this trial's queries.")
@click.option("--status", "statuses", type=_STATUS, multiple=True,
              help="Only queries in these states (repeatable).")
@click.option("--active", is_flag=True, help="Only queries awaiting an answer or a decision.")
@click.option("--audience", type=click.Choice(["trial", "curator"]),
              help="Only questions for the trial, or only those on the curator's list "
                   "(mapping problems, until fixed or forwarded).")
@topic_option
@json_option
@requires("queries.read", trial="trial")
def list_cmd(trial: str | None, statuses: tuple[str, ...], active: bool, audience: str | None,
             topic: str | None, as_json: bool) -> None:
    """List data queries: one per question, with how many findings (failed checks) are
    behind it (a trialist sees only their own trial's questions for the trial).

    \b
    Examples:
      ipdrepo queries list --active
      ipdrepo queries list --audience curator
      ipdrepo queries list --trial SIROCCO --status answered --json
    """
    from harmonise.queries.lifecycle import list_queries, query_to_dict

    wanted = list(statuses) or (["open", "reopened", "sent", "answered"] if active else None)
    with _open_store(topic) as store, store.reading() as session:
        rows = [query_to_dict(session, q) for q in list_queries(
            session, store.topic(session), actor=store.settings.actor, trial=trial,
            status=wanted, audience=audience)]
    if as_json:
        emit_json(rows)
        return
    print_table([{"id": r["id"], "trial": r["trial"], "status": r["status"],
                  "for": r["audience"], "resolution": r["resolution"] or "",
                  "age": r["age_days"], "participants": r["participants"],
                  "findings": r["n_findings"], "question": (r["question"] or "")[:70]}
                 for r in rows])


@queries.command("show")
@click.argument("query_id", type=ROW_ID)
@topic_option
@json_option
@requires("queries.read", query="query_id")
def show_cmd(query_id: int, topic: str | None, as_json: bool) -> None:
    """Show one query with its whole thread."""
    from harmonise.queries.lifecycle import get_query, query_to_dict
    from repository.roles import require

    with _open_store(topic) as store, store.reading() as session:
        q = get_query(session, store.topic(session), query_id, actor=store.settings.actor)
        data = query_to_dict(session, q, thread=True)
        require(session, store.settings.actor, "queries.read", trial=data["trial"])
    if as_json:
        emit_json(data)
        return
    who = data["participant"] or ("several participants" if data["participants"] > 1
                                  else "(whole trial)")
    click.echo(f"Query {data['id']} [{data['status']}"
               + (f", {data['resolution']}" if data["resolution"] else "") + f"] trial "
               f"{data['trial']}, participant {who}, for the {data['audience']}"
               + (f", due {data['due_on']}" if data["due_on"] else ""))
    click.echo(f"  {data['question']}")
    for c in data["consequences"]:
        click.echo(f"    because of it: {c}")
    click.echo(f"  findings ({data['n_findings']} active):")
    for f in data["findings"]:
        where = f"row {f['row']}" if f["row"] is not None else "trial"
        click.echo(f"    [{'x' if f['active'] else ' '}] {f['role']:<11} {f['check']} "
                   f"({f['severity']}, {where}) value {f['value']!r}: {f['message']}")
    click.echo("  thread:")
    for m in data["thread"]:
        extra = " ".join(x for x in (m["response_code"], m["corrected_value"] and
                                     f"-> {m['corrected_value']!r}",
                                     m["cells"] and f"-> {len(m['cells'])} value(s)") if x)
        click.echo(f"  {m['at']} {m['author']}: {m['kind']} {m['from']}->{m['to']} {extra} "
                   f"{m['comment'] or ''}".rstrip())


@queries.command("raise")
@click.argument("trial")
@click.option("--question", required=True, help="What to ask the trial.")
@click.option("--participant", help="The participant (the trial's own ID or the pseudonym).")
@click.option("--variable", help="The dictionary variable concerned.")
@topic_option
@json_option
@requires("queries.manage", trial="trial")
def raise_cmd(trial: str, question: str, participant: str | None, variable: str | None,
              topic: str | None, as_json: bool) -> None:
    """Raise a query by hand on TRIAL (a participant, a variable or the whole trial)."""
    from harmonise.queries.lifecycle import query_to_dict, raise_query
    from repository.trials import get_trial

    with _open_store(topic) as store:
        pseudonym = _participant(store, trial, participant) if participant else None
        with store.transaction() as session:
            topic_row = store.topic(session)
            q = raise_query(session, topic_row, get_trial(session, topic_row, trial),
                            question=question, actor=store.settings.actor,
                            participant=pseudonym, variable=variable)
            data = query_to_dict(session, q)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"Raised query {data['id']} on {trial}.")


def _participant(store: Any, trial: str, given: str) -> str:
    from harmonise.pipeline.provenance import resolve_participant
    from repository.deliveries import current_delivery, load_delivery
    from repository.trials import get_trial

    with store.reading() as session:
        topic = store.topic(session)
        delivery = current_delivery(get_trial(session, topic, trial))
        raw = load_delivery(store, delivery)
        slug, id_column = topic.slug, delivery.id_column  # read while the session is open
    return resolve_participant(store, slug, trial, given, raw.frame[id_column])[0]


@queries.command("answer")
@click.argument("query_id", type=ROW_ID)
@click.option("--response", "code", required=True,
              type=click.Choice(["typographical_error", "data_missing", "confirmed_correct",
                                 "wrong_source", "other"]))
@click.option("--value", "corrected", help="The corrected value, in the trial's own coding "
              "(several columns: 'COLUMN=value; COLUMN2=value').")
@click.option("--comment")
@topic_option
@requires("queries.answer", query="query_id")
def answer_cmd(query_id: int, code: str, corrected: str | None, comment: str | None,
               topic: str | None) -> None:
    """Answer query QUERY_ID (a trialist, or a curator on their behalf, e.g. by phone)."""
    from harmonise.queries.lifecycle import get_query, respond

    with _open_store(topic) as store, store.transaction() as session:
        topic_row = store.topic(session)
        respond(session, get_query(session, topic_row, query_id, actor=store.settings.actor),
                actor=store.settings.actor,
                topic=topic_row.slug, response_code=code, corrected_value=corrected,
                comment=comment)
    click.echo(f"Answered query {query_id} ({code}).")


@queries.command("accept")
@click.argument("query_ids", type=ROW_ID, nargs=-1)
@click.option("--all-answered", is_flag=True, help="Accept every answered query.")
@click.option("--resolution", type=click.Choice(["corrected", "confirmed_correct",
                                                 "cannot_be_resolved"]),
              help="Override the resolution implied by the answer.")
@click.option("--comment")
@topic_option
@json_option
@requires("corrections.accept", query="query_ids")
def accept_cmd(query_ids: tuple[int, ...], all_answered: bool, resolution: str | None,
               comment: str | None, topic: str | None, as_json: bool) -> None:
    """Accept answers (curators): corrections from corrected values, or a resolution.

    A typographical error or found missing value becomes an attributed correction of the
    trial's raw cell(s), applied at the next `ipdrepo harmonise`/`validate`; "confirmed
    correct" keeps the values and stops the checks raising them again. Accepting a question
    settles every finding behind it. All or nothing: if one answer cannot be accepted (e.g.
    "other" without a value: choose --resolution or re-ask), none is, and every such answer is
    listed.
    """
    from harmonise.queries.answers import accept_answers
    from harmonise.queries.lifecycle import list_queries

    with _open_store(topic) as store:
        ids = list(query_ids)
        if all_answered:
            with store.reading() as session:
                ids += [q.id for q in list_queries(session, store.topic(session),
                                                   actor=store.settings.actor,
                                                   status=["answered"])]
        if not ids:
            raise click.UsageError("give query ids or --all-answered")
        results = [r.to_dict() for r in accept_answers(store, ids, resolution=resolution,
                                                       comment=comment)]
    if as_json:
        emit_json(results)
        return
    for r in results:
        click.echo(f"query {r['query']}: {r['resolution'].replace('_', ' ')}"
                   + (f", {len(r['corrections'])} correction(s)" if r["corrections"] else ""))


@queries.command("close")
@click.argument("query_id", type=ROW_ID)
@click.option("--reason", required=True)
@topic_option
@requires("queries.manage", query="query_id")
def close_cmd(query_id: int, reason: str, topic: str | None) -> None:
    """Close a query with the reason (curators)."""
    from harmonise.queries.lifecycle import close

    _on_query(topic, query_id, close, reason=reason)
    click.echo(f"Closed query {query_id}.")


@queries.command("reopen")
@click.argument("query_id", type=ROW_ID)
@click.option("--reason", required=True)
@topic_option
@requires("queries.manage", query="query_id")
def reopen_cmd(query_id: int, reason: str, topic: str | None) -> None:
    """Reopen a closed or resolved query with the reason (curators).

    The query is yours from then on: a later `ipdrepo validate` never closes it, even when its
    checks pass; it goes out in the trial's next workbook (the reason in its history) and waits
    for the answer and your decision (`accept`, `close`).
    """
    from harmonise.queries.lifecycle import reopen

    _on_query(topic, query_id, reopen, reason=reason)
    click.echo(f"Reopened query {query_id}.")


@queries.command("forward")
@click.argument("query_id", type=ROW_ID)
@click.option("--note", help="What to ask the trial, added to the question.")
@topic_option
@requires("queries.manage", query="query_id")
def forward_cmd(query_id: int, note: str | None, topic: str | None) -> None:
    """Send a question from the curator's list (a mapping problem) to the trial: it goes out
    in the trial's next workbook.

    \b
    Example:
      ipdrepo queries forward 14 --note "What does code 9 in STAGE mean?"
    """
    from harmonise.queries.lifecycle import forward

    _on_query(topic, query_id, forward, note=note)
    click.echo(f"Query {query_id} goes to the trial in its next workbook.")


@queries.command("reask")
@click.argument("query_id", type=ROW_ID)
@click.option("--comment", required=True, help="What the trial should look at again.")
@topic_option
@requires("queries.manage", query="query_id")
def reask_cmd(query_id: int, comment: str, topic: str | None) -> None:
    """Send an answered question back to the trial with a comment (it goes out again in the
    next workbook, with the earlier answer in its history)."""
    from harmonise.queries.answers import reask

    with _open_store(topic) as store:
        reask(store, query_id, comment=comment)
    click.echo(f"Query {query_id} goes back to the trial.")


@queries.command("dashboard")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the dashboard as an HTML page.")
@topic_option
@json_option
@requires("queries.read")
def dashboard_cmd(html_path: Path | None, topic: str | None, as_json: bool) -> None:
    """Open queries by trial, age, check, and response times."""
    from harmonise.queries.dashboard import dashboard_html, dashboard_tables
    from harmonise.queries.lifecycle import list_queries, query_to_dict

    with _open_store(topic) as store, store.reading() as session:
        topic_row = store.topic(session)
        rows = [query_to_dict(session, q, thread=True) for q in
                list_queries(session, topic_row, actor=store.settings.actor)]
        slug = topic_row.slug
    tables = dashboard_tables(rows)
    if html_path:
        html_path.write_text(dashboard_html(slug, rows))
    if as_json:
        emit_json({k: v.to_dict("records") for k, v in tables.items()})
        return
    for name, table in tables.items():
        click.echo(f"\n{name.replace('_', ' ')}:")
        print_table(table.astype(str).to_dict("records"))
    if html_path:
        click.echo(f"\nwrote {html_path}")


@click.group(cls=IPDGroup)
def corrections() -> None:
    """Corrections: accepted answers applied to raw cells (attributed, never overwritten)."""


@corrections.command("list")
@click.argument("trial", required=False)
@click.option("--status", type=click.Choice(["active", "needs_review", "superseded",
                                             "withdrawn"]), multiple=True)
@json_option
@requires("queries.read", trial="trial")
def corrections_list(trial: str | None, status: tuple[str, ...], as_json: bool) -> None:
    """List corrections (of TRIAL), with their query, author and status (a trialist: their
    own trial's)."""
    from harmonise.queries.views import correction_view
    from repository.store import Store

    with Store.open(get_settings()) as store:
        rows = list(correction_view(store, trial=trial, status=status or None).corrections)
    if as_json:
        emit_json(rows)
    else:
        print_table([{k: r[k] for k in ("id", "trial", "participant", "source_column",
                                        "old_value", "new_value", "query_id", "created_by",
                                        "status")} for r in rows])


def _on_query(topic: str | None, query_id: int, change: Callable[..., Any],
              **options: Any) -> None:
    """Run a lifecycle ``change`` (close, reopen, forward) on one query, in one transaction,
    as the acting user."""
    from harmonise.queries.lifecycle import get_query

    with _open_store(topic) as store, store.transaction() as session:
        topic_row = store.topic(session)
        change(session, get_query(session, topic_row, query_id), actor=store.settings.actor,
               topic=topic_row.slug, **options)
