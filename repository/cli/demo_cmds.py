"""``ipdrepo demo``: the whole job end to end on the bundled example topic.

Each step calls the same library functions as the individual commands and prints what a
curator would see; the workspace is left in place to explore afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from repository.cli._common import MAX_PARTICIPANTS, MAX_TRIALS
from repository.cli.access import requires
from repository.cli.example_steps import (
    analyse,
    check,
    ingest_all,
    make_dictionary,
    planted_report,
    prepare,
    queries_round,
    redeliver,
    release,
    revalidate,
    step,
    write_reports,
)
from repository.errors import IPDError, ValidationFailed

__all__ = ["demo"]



@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default="demo-workspace")
@click.option("--trials", type=click.IntRange(min=1, max=MAX_TRIALS), default=8,
              show_default=True,
              help="Trials in the example topic.")
@click.option("--participants", type=click.IntRange(min=1, max=MAX_PARTICIPANTS),
              default=3000, show_default=True,
              help="Participants in all trials together.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the example (default: the generator's).")
@requires("workspace.create")
def demo(directory: Path, trials: int, participants: int, seed: int | None) -> None:
    """Run the whole job end to end on the example topic, in DIRECTORY.

    \b
    1. write the example topic (deliveries in 8 formats, one trial sending three files:
       baseline, visits, events; codebooks, registry, truth)
    2. create a workspace with an empty store
    3. register the trials with their published numbers
    4. ingest every delivery (identifier gate, keyed pseudonyms, content-addressed files)
    5. show the identifier gate refusing a delivery that still carries identifiers

    \b
    6. harmonise every trial onto the dictionary, validate (dictionary checks), run the integrity
       checks, raise data queries, write HTML reports; show every planted problem found
    7. export a query workbook per trial, let simulated trialists answer from the ground
       truth, import the answers, accept them as corrections
    8. ingest the re-delivery of the trial with missing participants
    9. validate again: clean apart from values confirmed correct
    10. release version 1.0.0: the participant table and the long tables (visits, events)
        with one manifest (DVC, git tag)
    11. compare every released table, cell by cell, with the example's truth
    12. load the release as a consumer would and run a two-stage IPD meta-analysis of
        overall survival (Cox per trial, REML pooling), with forest plot and report
    13. summarise the store and verify the audit trail

    DIRECTORY (default demo-workspace) is replaced if an earlier demo made it.
    """
    from repository.example import DEFAULT_SEED, create
    from repository.settings import load_settings
    from repository.store import Store
    from repository.workspace import init_workspace

    directory = directory.resolve()
    prepare(directory)
    example_dir = directory / "example"
    workspace = directory / "workspace"

    step(f"1. Example topic: {trials} trials, {participants} participants -> {example_dir}")
    topic = create(example_dir, trials=trials, participants=participants,
                   seed=DEFAULT_SEED if seed is None else seed)
    registry = _list_trials(example_dir)

    step(f"2. Workspace {workspace}")
    dictionary_dir = make_dictionary(directory, example_dir)
    init_workspace(workspace, topic="gastric-adjuvant",
                   title="Adjuvant chemotherapy after resection of gastric cancer (example)",
                   dictionary=dictionary_dir, actor="demo-curator")
    settings = load_settings(workspace, actor="demo-curator")
    click.echo(f"  dictionary and mappings: {dictionary_dir}")

    with Store.open(settings) as store:
        _register_and_ingest(store, example_dir, registry)

        step("6. Harmonise, validate, check integrity, raise data queries")
        runs = check(store)
        planted_report(store, example_dir, runs)
        index = write_reports(store, runs)
        click.echo(f"  HTML reports: {index}")

        step("7. Query workbooks out, trialists' answers back, corrections")
        queries_round(store, example_dir, workspace / "workbooks")

        step("8. The trial with missing participants delivers again")
        redeliver(store, example_dir, registry["trials"])

        step("9. Validate again")
        open_findings = revalidate(store)

        step("10. Release 1.0.0 (parquet tables + one manifest, DVC remote, git tag)")
        release(store)
        _truth_check(store, example_dir)

        step("12. Analyse the released version (two-stage Cox, forest plot, report)")
        analyse(store, directory / "analysis")
        _summary(store, open_findings)
    click.echo(f"\nDone. Explore with: ipdrepo -w {workspace} status | queries list | report  "
               f"(example: {topic.directory})")


def _list_trials(example_dir: Path) -> dict[str, Any]:
    """The example's registry (topic.yaml), each trial's delivery listed."""
    registry: dict[str, Any] = yaml.safe_load((example_dir / "topic.yaml").read_text())
    for t in registry["trials"]:
        files = len(t["delivery"].get("datasets") or [t["delivery"]])
        click.echo(f"  {t['acronym']:<10} {t['delivery']['style']:<55} "
                   f"{t['delivery']['rows']:>5} rows" + (f" ({files} files)" if files > 1 else ""))
    return registry


def _register_and_ingest(store: Any, example_dir: Path, registry: dict[str, Any]) -> None:
    """Steps 3-5: register the trials, ingest every delivery, show the identifier gate."""
    from repository.trials import add_trial, load_registry_file

    step("3. Trial registry")
    specs = load_registry_file(example_dir / "topic.yaml")
    with store.transaction() as session:
        topic_row = store.topic(session)
        for spec in specs:
            add_trial(session, topic_row, spec, actor=store.settings.actor)
    click.echo(f"  registered {len(specs)} trials with arms and published numbers")

    step("4. Ingest every delivery")
    for note in ingest_all(store, example_dir, registry["trials"]):
        click.echo(f"  note: {note}")
    for t in registry["trials"]:
        if t["delivery"].get("datasets"):
            click.echo(f"  {t['acronym']}: one delivery of "
                       + ", ".join(f"{d['name']} ({d['rows']} rows)"
                                   for d in t["delivery"]["datasets"]))

    step("5. Identifier gate")
    for reject in registry.get("rejects") or []:
        _refused(store, reject["trial"], example_dir / reject["file"])


def _refused(store: Any, trial: str, path: Path) -> None:
    from repository.deliveries import ingest
    from repository.errors import DirectIdentifiers

    try:
        ingest(store, trial, path)
    except DirectIdentifiers as exc:
        findings = exc.findings or ()
        click.echo("  refused " + exc.message.splitlines()[0].split(" still ")[0] +
                   f": {len(findings)} identifier column(s): " +
                   ", ".join(f"{f['column']} [{f['kind']}]" for f in findings))
    except IPDError as exc:
        raise ValidationFailed(
            f"unexpected refusal of {path.name}: {exc.message}", file=path.name) from exc
    else:
        raise ValidationFailed(f"{path.name} was accepted but carries identifiers: the "
                               "identifier gate missed them.", file=path.name)


def _truth_check(store: Any, example_dir: Path) -> None:
    """Step 11: every released table, cell by cell, equals the simulated truth."""
    from repository.example.topic import TABLES
    from repository.example.verify import compare_with_truth
    from versions.releases import get_release

    step("11. The release equals the truth (every table, every cell)")
    released = {"participants": get_release(store, "1.0.0")}
    for name in TABLES:
        released[name] = get_release(store, "1.0.0", table=name)
    agreements = compare_with_truth(released, example_dir,
                                    store.pseudonymiser("gastric-adjuvant").pseudonym)
    for a in agreements:
        click.echo(f"  {a.summary}")
        for d in a.differences[:5]:
            click.echo(f"    {d}")
    if not all(a.equal for a in agreements):
        raise ValidationFailed("the release differs from the example's truth (see above): "
                               "a mapping, check or correction changed data it should not.")


def _summary(store: Any, open_findings: list[Any]) -> None:
    from repository.audit import verify
    from repository.status import topic_status

    step("13. Store summary")
    with store.reading() as session:
        status = topic_status(session, store.topic(session), actor=store.settings.actor)
        report = verify(session)
    totals = status.totals()
    click.echo(f"  {totals['trials']} trials, {totals['deliveries']} deliveries, "
               f"{totals['participants']} participants (published randomised "
               f"{totals['randomised_published']}); audit trail intact "
               f"({report.events} events)")
    if open_findings:
        raise ValidationFailed("the example did not end clean: findings remain (see above).")
