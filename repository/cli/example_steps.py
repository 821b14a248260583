"""The steps of the example pipeline, shared by ``ipdrepo demo`` (all of them, one workspace)
and ``ipdrepo example stage`` (one step per DVC stage, see dvc.yaml)."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from repository.cli._common import raw_stream
from repository.errors import AlreadyExists, IdentifierProblem, IPDError, ValidationFailed

__all__ = ["MARKER", "step", "prepare", "ingest_all", "make_dictionary", "check", "planted_report",
           "write_reports", "queries_round", "redeliver", "release", "analyse", "os_meta_analysis", "accepted_keys",
           "revalidate"]

MARKER = ".ipdrepo-demo"


def step(title: str) -> None:
    # our own styling: written under the escaping of what values carry (see _common)
    click.secho(f"\n== {title}", bold=True, file=raw_stream(sys.stdout))


def prepare(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise AlreadyExists(
                f"{directory} exists and was not made by `ipdrepo demo`; choose another "
                "directory or remove it.", directory=str(directory))
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by `ipdrepo demo`; safe to delete\n")


def ingest_all(store: Any, example_dir: Path, registry: list[dict[str, Any]]) -> list[str]:
    from repository.example.loading import ingest_trial

    notes: list[str] = []
    with click.progressbar(registry, label="  ingesting deliveries",
                           item_show_func=lambda t: t["acronym"] if t else "") as bar:
        for trial in bar:
            try:
                ingest_trial(store, example_dir, trial)
            except IdentifierProblem as exc:
                # the curator accepts the file so the ID problems become data queries
                notes.append(f"{trial['acronym']}: refused at first ({exc.message.splitlines()[0]})"
                             " -> accepted with --allow-id-problems so the IDs are queried")
                ingest_trial(store, example_dir, trial, allow_id_problems=(
                    "duplicate participant IDs: to be raised as a data query with the trial"))
    return notes


def make_dictionary(directory: Path, example_dir: Path) -> Path:
    """The topic dictionary with a mapping per trial, generated from the trials' codebooks."""
    from repository.example.mappings import write_mappings

    bundled = Path(__file__).resolve().parents[2] / "dictionaries" / "gastric-adjuvant"
    target = directory / "dictionary"
    target.mkdir()
    shutil.copy(bundled / "dictionary.yaml", target / "dictionary.yaml")
    write_mappings(example_dir, target / "mappings" / "1.0.0")
    return target


def check(store: Any) -> list[Any]:
    from harmonise.pipeline.checking import check_trials
    from harmonise.pipeline.harmonising import pool, trials_with_data

    runs = check_trials(store, trials_with_data(store),
                        progress=lambda m: None)
    pool(store)
    for run in runs:
        failed = [f.check for f in run.integrity if f.failed]
        click.echo(f"  {run.trial:<10} {run.harmonised.n_rows:>5} rows; "
                   f"{len(run.failures)} validation failure(s)"
                   + (f"; integrity: {', '.join(failed)}" if failed else "")
                   + (f"; queries +{len(run.queries.opened)} opened, "
                      f"{len(run.queries.closed)} closed" if run.queries else ""))
    return runs


def planted_report(store: Any, example_dir: Path, runs: list[Any]) -> None:
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
        raise ValidationFailed("the checks did not find exactly the planted problems (see "
                               "above): a check misses one, or flags data that are fine.")


def write_reports(store: Any, runs: list[Any]) -> Path:
    from harmonise.pipeline.reports import write_reports as write

    return write(store, runs)[-1]


def queries_round(store: Any, example_dir: Path, folder: Path) -> None:
    from harmonise.queries.answers import accept_answer
    from harmonise.queries.lifecycle import list_queries
    from harmonise.queries.workbook import export_workbook, import_workbook
    from repository.example.trialist import answer_workbook

    folder.mkdir(exist_ok=True)
    actor = store.settings.actor
    with store.reading() as session:
        active = list_queries(session, store.topic(session), actor=actor,
                              status=["open", "reopened", "sent"], audience="trial")
        by_trial: dict[str, int] = {}
        findings: dict[str, int] = {}
        for q in active:
            name = q.key.split("|", 1)[0]
            by_trial[name] = by_trial.get(name, 0) + 1
            findings[name] = findings.get(name, 0) + sum(1 for f in q.findings if f.active)
    for trial, n in sorted(by_trial.items()):
        exported = export_workbook(store, trial, folder / f"{trial}-queries.xlsx", actor=actor)
        answered = answer_workbook(Path(exported.path), example_dir)
        imported = import_workbook(store, answered.path, actor=actor)
        listed = f" (+{answered.values} values on participant sheets)" if answered.values else ""
        click.echo(f"  {trial:<10} {n} question(s) from {findings[trial]} finding(s) -> "
                   f"{Path(exported.path).name} ({exported.language}) -> {answered.answered} "
                   f"answered{listed} -> {len(imported.answered)} answers imported")
    with store.reading() as session:
        answered_ids = [q.id for q in list_queries(session, store.topic(session), actor=actor,
                                                   status=["answered"])]
    outcomes: dict[str, int] = {}
    for qid in answered_ids:
        try:
            accepted = accept_answer(store, qid)
        except IPDError:  # e.g. "a corrected delivery follows": handled in the next step
            outcomes["left for the re-delivery"] = outcomes.get("left for the re-delivery", 0) + 1
            continue
        outcomes[accepted.resolution] = outcomes.get(accepted.resolution, 0) + 1
    click.echo("  curator accepted the answers: " +
               ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(outcomes.items())))


def redeliver(store: Any, example_dir: Path, registry: list[dict[str, Any]]) -> None:
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


def release(store: Any) -> None:
    from versions.releases import create_release
    from versions.store_inputs import release_inputs

    result = create_release(store, release_inputs(store), version="1.0.0",
                            message="example topic after the first round of data queries")
    d = result.to_dict() if hasattr(result, "to_dict") else {}
    click.echo(f"  release {d.get('tag', '1.0.0')}: {d.get('rows', '?')} rows, data sha256 "
               f"{str(d.get('data_sha256', ''))[:12]}..., remote {d.get('remote', '')}")


def os_meta_analysis(data: Any, out: Path, *, method: str = "REML",
                     title: str = "Two-stage IPD meta-analysis of overall survival") -> Any:
    """Two-stage Cox meta-analysis of overall survival with forest plot and HTML report."""
    from analyses import forest_plot, two_stage, write_report

    out.mkdir(parents=True, exist_ok=True)
    result = two_stage(data, trial="trial", treatment="arm", time="os_time_days",
                       event="os_event", model="cox", method=method)
    forest_plot(result, path=out / "forest-os.png",
                title="Overall survival: adjuvant chemotherapy vs surgery alone")
    write_report(result, out / "analysis-os.html", title=title)
    return result


def analyse(store: Any, out: Path) -> None:
    import numpy as np

    from versions.releases import get_release

    result = os_meta_analysis(get_release(store, "1.0.0"), out,
                              title="Two-stage IPD meta-analysis of overall survival "
                                    "(release 1.0.0)")
    d = result.to_dict()
    lo, hi = d["ci"]
    click.echo(f"  HR {np.exp(d['estimate']):.3f} (95% CI {np.exp(lo):.3f} to {np.exp(hi):.3f}); "
               f"tau2 {d.get('tau2', 0):.4f}; I2 {d.get('I2', 0):.1f}%; {d['k']} trials")
    click.echo(f"  forest plot {out / 'forest-os.png'}; report {out / 'analysis-os.html'}")


def accepted_keys(store: Any) -> set[str]:
    from harmonise.queries.lifecycle import confirmed_correct_keys

    with store.reading() as session:
        return confirmed_correct_keys(session, store.topic(session))


def revalidate(store: Any) -> list[Any]:
    """Step 9: validate again and say what is left; the findings not confirmed correct."""
    runs = check(store)
    remaining = [f for r in runs for f in r.findings]
    confirmed = accepted_keys(store)
    open_findings = [f for f in remaining if f.key not in confirmed]
    click.echo(f"  {len(remaining)} finding(s) left, all answered 'confirmed correct'"
               if not open_findings else
               f"  {len(open_findings)} finding(s) still need attention")
    for f in remaining:
        click.echo(f"    {f.trial}: {f.message} [confirmed correct]")
    write_reports(store, runs)
    return open_findings
