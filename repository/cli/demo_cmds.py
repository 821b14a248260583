"""``ipdrepo demo``: the whole job end to end on the bundled example topic.

Each step calls the same library functions as the individual commands and prints what a
curator would see; the workspace is left in place to explore afterwards.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import click
import yaml

from repository.errors import IdentifierProblem, IPDError

__all__ = ["demo"]

MARKER = ".ipdrepo-demo"


def _step(title: str) -> None:
    click.secho(f"\n== {title}", bold=True)


def _prepare(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise click.ClickException(
                f"{directory} exists and was not made by `ipdrepo demo`; choose another "
                "directory or remove it.")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by `ipdrepo demo`; safe to delete\n")


def _ingest_all(store: Any, example_dir: Path, registry: list[dict[str, Any]]) -> list[str]:
    from repository.deliveries import ingest

    notes: list[str] = []
    with click.progressbar(registry, label="  ingesting deliveries",
                           item_show_func=lambda t: t["acronym"] if t else "") as bar:
        for trial in bar:
            d = trial["delivery"]
            options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
            kwargs = dict(id_column=d["id_column"], format=d["format"], read_options=options,
                          received_from=d.get("delivered_by"),
                          received_at=date.fromisoformat(str(d["received"]))
                          if d.get("received") else None)
            path = example_dir / d["file"]
            try:
                ingest(store, trial["acronym"], path, **kwargs)
            except IdentifierProblem as exc:
                # the curator accepts the file so the ID problems become data queries
                notes.append(f"{trial['acronym']}: refused at first ({exc.message.splitlines()[0]})"
                             " -> accepted with --allow-id-problems so the IDs are queried")
                ingest(store, trial["acronym"], path, allow_id_problems=(
                    "duplicate participant IDs: to be raised as a data query with the trial"),
                    **kwargs)
    return notes


def _dictionary(directory: Path, example_dir: Path) -> Path:
    """The topic dictionary with a mapping per trial, generated from the trials' codebooks."""
    from repository.example.mappings import write_mappings

    bundled = Path(__file__).resolve().parents[2] / "dictionaries" / "gastric-adjuvant"
    target = directory / "dictionary"
    target.mkdir()
    shutil.copy(bundled / "dictionary.yaml", target / "dictionary.yaml")
    write_mappings(example_dir, target / "mappings" / "1.0.0")
    return target


def _check(store: Any) -> list[Any]:
    from harmonise.pipeline import check_trials, pool, trials_with_data

    runs = check_trials(store, trials_with_data(store),
                        progress=lambda m: None)
    pool(store)
    for run in runs:
        failed = [f.check for f in run.integrity if f.failed]
        click.echo(f"  {run.trial:<10} {run.harmonised.n_rows:>5} rows; "
                   f"{len(run.validation.failures)} validation failure(s)"
                   + (f"; integrity: {', '.join(failed)}" if failed else "")
                   + (f"; queries +{len(run.queries.opened)} opened, "
                      f"{len(run.queries.closed)} closed" if run.queries else ""))
    return runs


def _planted_report(store: Any, example_dir: Path, runs: list[Any]) -> None:
    from repository.example.planted import load_planted, match_planted

    findings = [f for r in runs for f in r.findings]
    matches, unexplained = match_planted(load_planted(example_dir), findings,
                                         store.pseudonymiser("gastric-adjuvant").pseudonym)
    click.echo("  planted problems:")
    for m in matches:
        p = m.problem
        click.echo(f"    {'found' if m.found else 'MISSED'}  {p['id']} {p['kind']:<28} "
                   f"{p['trial']:<10} ({len(m.findings)} finding(s))")
    click.echo(f"  findings not explained by a planted problem: {len(unexplained)}")
    if unexplained or not all(m.found for m in matches):
        raise click.ClickException("the checks did not find exactly the planted problems")


def _reports(store: Any, runs: list[Any]) -> Path:
    from harmonise.pipeline import load_topic_dictionary, load_trial_mapping
    from harmonise.queries import list_queries, query_to_dict
    from harmonise.reports import topic_overview, trial_report

    out = store.settings.workspace / "reports"
    out.mkdir(exist_ok=True)
    dictionary = load_topic_dictionary(store)
    with store.reading() as session:
        queries = [query_to_dict(session, q) for q in
                   list_queries(session, store.topic(session), actor=store.settings.actor)]
    for run in runs:
        (out / f"{run.trial}.html").write_text(
            trial_report(run, queries=[q for q in queries if q["trial"] == run.trial]))
    mappings = {r.trial: load_trial_mapping(store, dictionary, r.trial) for r in runs}
    (out / "index.html").write_text(topic_overview(dictionary, runs, mappings, queries=queries))
    return out / "index.html"


def _queries_round(store: Any, example_dir: Path, folder: Path) -> None:
    from harmonise.answers import accept_answer
    from harmonise.queries import list_queries
    from harmonise.workbook import export_workbook, import_workbook
    from repository.example.trialist import answer_workbook

    folder.mkdir(exist_ok=True)
    actor = store.settings.actor
    with store.reading() as session:
        active = list_queries(session, store.topic(session), actor=actor,
                              status=["open", "reopened", "sent"])
        by_trial: dict[str, int] = {}
        for q in active:
            name = q.key.split("|", 1)[0]
            by_trial[name] = by_trial.get(name, 0) + 1
    for trial, n in sorted(by_trial.items()):
        exported = export_workbook(store, trial, folder / f"{trial}-queries.xlsx", actor=actor)
        answered = answer_workbook(Path(exported.path), example_dir)
        result = import_workbook(store, answered.path, actor=actor)
        click.echo(f"  {trial:<10} {n} queries -> {Path(exported.path).name} -> "
                   f"{answered.answered} answered -> imported")
    with store.reading() as session:
        answered_ids = [q.id for q in list_queries(session, store.topic(session), actor=actor,
                                                   status=["answered"])]
    outcomes: dict[str, int] = {}
    for qid in answered_ids:
        try:
            result = accept_answer(store, qid)
        except IPDError as exc:  # e.g. "a corrected delivery follows": handled next step
            outcomes["left for the re-delivery"] = outcomes.get("left for the re-delivery", 0) + 1
            _ = exc
            continue
        outcomes[result.resolution] = outcomes.get(result.resolution, 0) + 1
    click.echo("  curator accepted the answers: " +
               ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(outcomes.items())))


def _redeliver(store: Any, example_dir: Path, registry: list[dict[str, Any]]) -> None:
    from repository.deliveries import ingest

    for trial in registry:
        again = trial["delivery"].get("redelivery")
        if not again:
            continue
        d = trial["delivery"]
        result = ingest(store, trial["acronym"], example_dir / again["file"],
                        id_column=d["id_column"], received_from=d.get("delivered_by"),
                        received_at=date.fromisoformat(str(again["received"]))
                        if again.get("received") else None)
        click.echo(f"  {trial['acronym']}: {Path(again['file']).name} ingested as delivery "
                   f"#{result.delivery_id} ({result.n_rows} rows, {result.new_participants} new "
                   f"participants), superseding #{result.superseded}")


def _release(store: Any) -> None:
    from harmonise.pipeline import release_inputs
    from versions.releases import create_release

    result = create_release(store, release_inputs(store), version="1.0.0",
                            message="example topic after the first round of data queries")
    d = result.to_dict() if hasattr(result, "to_dict") else {}
    click.echo(f"  release {d.get('tag', '1.0.0')}: {d.get('rows', '?')} rows, data sha256 "
               f"{str(d.get('data_sha256', ''))[:12]}..., remote {d.get('remote', '')}")


def _analyse(store: Any, out: Path) -> None:
    import numpy as np

    from analyses import forest_plot, two_stage, write_report
    from versions.consumers import load

    out.mkdir(exist_ok=True)
    data = load("gastric-adjuvant", "1.0.0", repo=str(store.settings.workspace / "releases"))
    frame = data.assign(os_time_days=data["os_time_days"].astype(float),
                        os_event=data["os_event"].astype(float),
                        arm=data["arm"].astype(float))
    result = two_stage(frame, trial="trial", treatment="arm", time="os_time_days",
                       event="os_event", model="cox", method="REML")
    forest_plot(result, path=out / "forest-os.png",
                title="Overall survival: adjuvant chemotherapy vs surgery alone")
    write_report(result, out / "analysis-os.html",
                 title="Two-stage IPD meta-analysis of overall survival (release 1.0.0)")
    d = result.to_dict()
    lo, hi = d["ci"]
    click.echo(f"  HR {np.exp(d['estimate']):.3f} (95% CI {np.exp(lo):.3f} to {np.exp(hi):.3f}); "
               f"tau2 {d.get('tau2', 0):.4f}; I2 {d.get('I2', 0):.1f}%; {d['k']} trials")
    click.echo(f"  forest plot {out / 'forest-os.png'}; report {out / 'analysis-os.html'}")


def _accepted(store: Any) -> set[str]:
    from sqlalchemy import select

    from repository.models import Query

    with store.reading() as session:
        return set(session.scalars(select(Query.key).where(
            Query.status == "resolved", Query.resolution == "confirmed_correct")))


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default="demo-workspace")
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials in the example topic.")
@click.option("--participants", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Participants in all trials together.")
@click.option("--seed", type=int, default=None, help="Seed of the example (default: the "
              "generator's).")
def demo(directory: Path, trials: int, participants: int, seed: int | None) -> None:
    """Run the whole job end to end on the example topic, in DIRECTORY.

    \b
    1. write the example topic (deliveries in 8 formats, codebooks, registry, truth)
    2. create a workspace with an empty store
    3. register the trials with their published numbers
    4. ingest every delivery (identifier gate, keyed pseudonyms, content-addressed files)
    5. show the identifier gate refusing a delivery that still carries identifiers

    \b
    6. harmonise every trial onto the dictionary, validate (Pandera), run the integrity
       checks, raise data queries, write HTML reports; show every planted problem found
    7. export a query workbook per trial, let simulated trialists answer from the ground
       truth, import the answers, accept them as corrections
    8. ingest the re-delivery of the trial with missing participants
    9. validate again: clean apart from values confirmed correct
    10. release version 1.0.0 of the topic dataset (DVC, git tag, manifest)
    11. load the release as a consumer would and run a two-stage IPD meta-analysis of
        overall survival (Cox per trial, REML pooling), with forest plot and report
    12. summarise the store and verify the audit trail

    DIRECTORY (default demo-workspace) is replaced if an earlier demo made it.
    """
    from repository.audit import verify
    from repository.deliveries import ingest
    from repository.errors import DirectIdentifiers
    from repository.example import DEFAULT_SEED, create
    from repository.settings import load_settings
    from repository.status import topic_status
    from repository.store import Store
    from repository.trials import add_trial, load_registry_file
    from repository.workspace import init_workspace

    directory = directory.resolve()
    _prepare(directory)
    example_dir = directory / "example"
    workspace = directory / "workspace"

    _step(f"1. Example topic: {trials} trials, {participants} participants -> {example_dir}")
    topic = create(example_dir, trials=trials, participants=participants,
                   seed=DEFAULT_SEED if seed is None else seed)
    registry = yaml.safe_load((example_dir / "topic.yaml").read_text())
    for t in registry["trials"]:
        click.echo(f"  {t['acronym']:<10} {t['delivery']['style']:<55} "
                   f"{t['delivery']['rows']:>5} rows")

    _step(f"2. Workspace {workspace}")
    dictionary_dir = _dictionary(directory, example_dir)
    init_workspace(workspace, topic="gastric-adjuvant",
                   title="Adjuvant chemotherapy after resection of gastric cancer (example)",
                   dictionary=dictionary_dir, actor="demo-curator")
    settings = load_settings(workspace, actor="demo-curator")
    click.echo(f"  dictionary and mappings: {dictionary_dir}")

    with Store.open(settings) as store:
        _step("3. Trial registry")
        specs = load_registry_file(example_dir / "topic.yaml")
        with store.transaction() as session:
            topic_row = store.topic(session)
            for spec in specs:
                add_trial(session, topic_row, spec, actor=settings.actor)
        click.echo(f"  registered {len(specs)} trials with arms and published numbers")

        _step("4. Ingest every delivery")
        for note in _ingest_all(store, example_dir, registry["trials"]):
            click.echo(f"  note: {note}")

        _step("5. Identifier gate")
        for reject in registry.get("rejects") or []:
            path = example_dir / reject["file"]
            try:
                ingest(store, reject["trial"], path)
                raise click.ClickException(f"{path.name} was accepted but carries identifiers")
            except DirectIdentifiers as exc:
                click.echo("  refused " + exc.message.splitlines()[0].split(" still ")[0] +
                           f": {len(exc.findings)} identifier column(s): " +
                           ", ".join(f"{f['column']} [{f['kind']}]" for f in exc.findings))
            except IPDError as exc:
                raise click.ClickException(
                    f"unexpected refusal of {path.name}: {exc.message}") from exc

        _step("6. Harmonise, validate, check integrity, raise data queries")
        runs = _check(store)
        _planted_report(store, example_dir, runs)
        reports = _reports(store, runs)
        click.echo(f"  HTML reports: {reports}")

        _step("7. Query workbooks out, trialists' answers back, corrections")
        _queries_round(store, example_dir, workspace / "workbooks")

        _step("8. The trial with missing participants delivers again")
        _redeliver(store, example_dir, registry["trials"])

        _step("9. Validate again")
        runs = _check(store)
        remaining = [f for r in runs for f in r.findings]
        accepted = _accepted(store)
        open_findings = [f for f in remaining if f.key not in accepted]
        click.echo(f"  {len(remaining)} finding(s) left, all answered 'confirmed correct'"
                   if not open_findings else
                   f"  {len(open_findings)} finding(s) still need attention")
        for f in remaining:
            click.echo(f"    {f.trial}: {f.message} [confirmed correct]")
        _reports(store, runs)

        _step("10. Release 1.0.0 (parquet + manifest, DVC remote, git tag)")
        _release(store)

        _step("11. Analyse the released version (two-stage Cox, forest plot, report)")
        _analyse(store, directory / "analysis")

        _step("12. Store summary")
        with store.reading() as session:
            status = topic_status(session, store.topic(session))
            report = verify(session)
        totals = status.totals()
        click.echo(f"  {totals['trials']} trials, {totals['deliveries']} deliveries, "
                   f"{totals['participants']} participants (published randomised "
                   f"{totals['randomised_published']}); audit trail intact "
                   f"({report.events} events)")
        if open_findings:
            raise click.ClickException("the example did not end clean; see above")
    click.echo(f"\nDone. Explore with: ipdrepo -w {workspace} status | queries list | report  "
               f"(example: {topic.directory})")
