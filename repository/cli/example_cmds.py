"""CLI: ``ipdrepo example create`` writes the synthetic example topic."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from repository.cli._common import (
    MAX_PARTICIPANTS,
    MAX_TRIALS,
    IPDGroup,
    emit_json,
    json_option,
    print_table,
)
from repository.cli.access import requires

__all__ = ["example"]

_DEFAULT_SEED = 20261123  # repository.example.DEFAULT_SEED (kept here so --help stays fast)


@click.group(cls=IPDGroup)
def example() -> None:
    """The synthetic example topic (gastric-adjuvant) used by the demo and the tests."""


@example.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--trials", type=click.IntRange(min=1, max=MAX_TRIALS), default=8,
              show_default=True,
              help="Number of fictional trials.")
@click.option("--participants", type=click.IntRange(min=1, max=MAX_PARTICIPANTS),
              default=3000, show_default=True,
              help="Participants in all trials together (at least 30 per trial).")
@click.option("--seed", type=click.IntRange(min=0), default=_DEFAULT_SEED, show_default=True,
              help="Random seed; the same seed gives byte-identical files.")
@click.option("--force", is_flag=True,
              help="Replace an example topic already in DIRECTORY (only the files this "
                   "command writes).")
@json_option
@requires("workspace.create")
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


@example.group("stage", cls=IPDGroup)
def stage() -> None:
    """The example pipeline one stage at a time (the stages of dvc.yaml).

    \b
    ipdrepo example stage ingest    --example build/example --out build/ingest
    ipdrepo example stage harmonise --input build/ingest    --out build/harmonise
    ipdrepo example stage validate  --input build/harmonise --example build/example \\
                                    --out build/validate --metrics build/metrics/validation.json
    ipdrepo example stage release   --input build/validate  --version 1.0.0 --out build/release
    ipdrepo example stage analyse   --release build/release --method REML \\
                                    --out build/analysis --metrics build/metrics/analysis.json

    Each stage copies its input workspace and works on the copy, so every stage's output is
    its own directory. The workspace's secret is derived from the example's seed so that the
    pipeline reproduces the same pseudonyms, and so the same release bytes (an example-only
    convenience: a real repository's secret is random).
    """


_in = click.option("--input", "input_dir", type=click.Path(exists=True, file_okay=False,
                                                           path_type=Path), required=True,
                   help="The previous stage's output.")
_out = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                    required=True, help="This stage's output directory (replaced).")


def _expect(directory: Path, inside: str, what: str) -> None:
    """Refuse a stage input that is not what the stage reads (instead of a traceback)."""
    from repository.errors import ConfigError

    if not (directory / inside).is_file():
        raise ConfigError(f"{directory} is not {what} (no {inside}); give the directory the "
                          "previous stage wrote (see `ipdrepo example stage --help`).",
                          directory=str(directory))


_EXAMPLE = ("topic.yaml", "an example topic written by `ipdrepo example create`")
_STAGE = ("workspace/ipdrepo.toml", "a stage's output")
_RELEASE = ("data.parquet", "the output of `ipdrepo example stage release`")


@stage.command("ingest")
@click.option("--example", "example_dir", type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path), required=True)
@_out
@requires("workspace.create")
def stage_ingest(example_dir: Path, out_dir: Path) -> None:
    """A new workspace with the example's trials registered and every delivery ingested."""
    from repository.cli.example_pipeline import ingest_stage

    _expect(example_dir, *_EXAMPLE)
    ingest_stage(example_dir, out_dir)


@stage.command("harmonise")
@_in
@_out
@requires("workspace.create")
def stage_harmonise(input_dir: Path, out_dir: Path) -> None:
    """Harmonise every trial and pool them (harmonised/*.parquet)."""
    from repository.cli.example_pipeline import harmonise_stage

    _expect(input_dir, *_STAGE)
    harmonise_stage(input_dir, out_dir)


@stage.command("validate")
@_in
@click.option("--example", "example_dir", type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path), required=True)
@_out
@click.option("--metrics", type=click.Path(dir_okay=False, path_type=Path), required=True)
@requires("workspace.create")
def stage_validate(input_dir: Path, example_dir: Path, out_dir: Path, metrics: Path) -> None:
    """Validate, raise queries, answer them from the truth, correct, re-deliver, re-validate."""
    from repository.cli.example_pipeline import validate_stage

    _expect(input_dir, *_STAGE)
    _expect(example_dir, *_EXAMPLE)
    validate_stage(input_dir, example_dir, out_dir, metrics)


@stage.command("release")
@_in
@click.option("--version", "version", required=True)
@_out
@requires("workspace.create")
def stage_release(input_dir: Path, version: str, out_dir: Path) -> None:
    """Release the curated topic dataset; export its data.parquet and manifest.json."""
    from repository.cli.example_pipeline import release_stage

    _expect(input_dir, *_STAGE)
    release_stage(input_dir, version, out_dir)


@stage.command("analyse")
@click.option("--release", "release_dir", type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path), required=True)
@click.option("--method", default="REML", show_default=True)
@_out
@click.option("--metrics", type=click.Path(dir_okay=False, path_type=Path), required=True)
@requires("workspace.create")
def stage_analyse(release_dir: Path, method: str, out_dir: Path, metrics: Path) -> None:
    """Two-stage IPD meta-analysis of overall survival on the released data."""
    from repository.cli.example_pipeline import analyse_stage

    _expect(release_dir, *_RELEASE)
    analyse_stage(release_dir, method, out_dir, metrics)
