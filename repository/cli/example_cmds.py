"""CLI: ``ipdrepo example create`` writes the synthetic example topic."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from repository.cli._common import IPDGroup, emit_json, json_option, print_table

__all__ = ["example"]

_DEFAULT_SEED = 20261123  # repository.example.DEFAULT_SEED (kept here so --help stays fast)


@click.group(cls=IPDGroup)
def example() -> None:
    """The synthetic example topic (gastric-adjuvant) used by the demo and the tests."""


@example.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Number of fictional trials.")
@click.option("--participants", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Participants in all trials together (at least 30 per trial).")
@click.option("--seed", type=int, default=_DEFAULT_SEED, show_default=True,
              help="Random seed; the same seed gives byte-identical files.")
@click.option("--force", is_flag=True,
              help="Replace an example topic already in DIRECTORY (only the files this "
                   "command writes).")
@json_option
def create(directory: Path, trials: int, participants: int, seed: int, force: bool,
           as_json: bool) -> None:
    """Write the example topic "gastric-adjuvant" into DIRECTORY.

    Fictional trials of adjuvant chemotherapy versus surgery alone after resection of gastric
    cancer deliver their data in CSV (UTF-8; cp1252 with ';' and decimal commas), tab-delimited
    text, Excel, SPSS, Stata, SAS transport and Parquet, each with its own codings and a
    codebook. Also written: topic.yaml (topic and trial registry), the ground truth
    (truth/participants.parquet, trial effects, planted data problems), a corrected
    re-delivery and a delivery that still carries direct identifiers. DIRECTORY must be empty
    or new unless --force.

    \b
    Examples:
      ipdrepo example create example
      ipdrepo example create big --trials 100 --participants 1000000 --seed 7
    """
    from repository.example import check_options
    from repository.example import create as create_topic

    check_options(directory, trials=trials, participants=participants, force=force)
    with click.progressbar(length=trials, label="Writing trial deliveries", show_pos=True,
                           show_eta=True, file=sys.stderr) as bar:
        result = create_topic(directory, trials=trials, participants=participants, seed=seed,
                              force=force, progress=lambda _t: bar.update(1))
    if as_json:
        emit_json(result.to_dict())
        return
    rows = [{"trial": t.acronym, "format": t.format, "file": t.file, "N": t.randomised,
             "rows": t.rows, "arms": t.arms_text, "planted": t.problem or ""}
            for t in result.trials]
    print_table(rows, ["trial", "format", "file", "N", "rows", "arms", "planted"])
    click.echo(f"\nWrote {len(result.trials)} trials, {participants} participants (seed {seed}) "
               f"to {directory}; {len(result.planted)} planted problems in "
               "truth/planted.yaml; see README.md there.")
