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
    6. summarise the store and verify the audit trail

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
    init_workspace(workspace, topic="gastric-adjuvant",
                   title="Adjuvant chemotherapy after resection of gastric cancer (example)",
                   actor="demo-curator")
    settings = load_settings(workspace, actor="demo-curator")

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

        _step("6. Store summary")
        with store.reading() as session:
            status = topic_status(session, store.topic(session))
            report = verify(session)
        totals = status.totals()
        click.echo(f"  {totals['trials']} trials, {totals['deliveries']} deliveries, "
                   f"{totals['participants']} participants (published randomised "
                   f"{totals['randomised_published']}); audit trail intact "
                   f"({report.events} events)")
        for t in status.trials:
            click.echo(f"  {t['trial']:<10} {t['format']:<8} {t['rows']:>5} rows, published "
                       f"{t['randomised_published']}")
    click.echo(f"\nDone. Explore with: ipdrepo -w {workspace} status   (example: {topic.directory})")
