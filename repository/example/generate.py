"""``create``: write the whole example topic directory, trial by trial."""

from __future__ import annotations

import datetime as dt
import html
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from repository.errors import AlreadyExists, ConfigError
from repository.example.arrow import arrow_table
from repository.example.codebooks import STYLE_DESCRIPTION, build_codebook
from repository.example.codings import EXTENSION, Coding, coding_for
from repository.example.encode import Column, encode, not_collected_in
from repository.example.package import TABLE_TRUTH, write_package, write_table_truth
from repository.example.problems import CHECKS, PROBLEM_ORDER, plant, prepare_truth, problem_for
from repository.example.rejects import IDENTIFIER_COLUMNS, identifier_columns
from repository.example.simulate import MODEL, TrialEffects, draw_effects, simulate_trial
from repository.example.topic import (
    DERIVATIONS,
    TOPIC,
    VARIABLES,
    TrialSpec,
    make_trials,
    registry_entry,
    seed_sequence,
)
from repository.example.writers import render_text, write_delivery

__all__ = ["create", "check_options", "ExampleTopic", "TrialDelivery", "DEFAULT_SEED", "OUTPUTS"]

DEFAULT_SEED = 20261123
#: what create() writes in the directory (and what --force replaces)
OUTPUTS: tuple[str, ...] = ("topic.yaml", "README.md", "deliveries", "codebooks",
                            "redeliveries", "rejects", "truth")
_TRUTH_EXTRA = ("delivery_row", "redelivery_row")


@dataclass(frozen=True)
class TrialDelivery:
    """One trial's delivery as written."""

    acronym: str
    format: str
    style: str
    file: str
    rows: int
    randomised: int
    arms: tuple[tuple[str, int], ...]   # (delivered arm code, randomised as published)
    problem: str | None = None
    redelivery: str | None = None

    @property
    def arms_text(self) -> str:
        return " / ".join(f"{code}={n}" for code, n in self.arms)

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.acronym, "format": self.format, "style": self.style,
                "file": self.file, "rows": self.rows, "randomised": self.randomised,
                "arms": [{"code": c, "randomised_published": n} for c, n in self.arms],
                "problem": self.problem, "redelivery": self.redelivery}


@dataclass(frozen=True)
class ExampleTopic:
    """The result of :func:`create`: where it is and what is in it.

    ``summary`` columns: trial, format, file, rows (delivered), randomised (published N),
    arms (delivered code = published N per arm), problem (planted kind or empty).
    """

    directory: Path
    seed: int
    participants: int
    trials: tuple[TrialDelivery, ...]
    planted: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    reject: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"trial": t.acronym, "format": t.format, "file": t.file, "rows": t.rows,
              "randomised": t.randomised, "arms": t.arms_text, "problem": t.problem or ""}
             for t in self.trials],
            columns=["trial", "format", "file", "rows", "randomised", "arms", "problem"])

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "seed": self.seed,
                "participants": self.participants,
                "trials": [t.to_dict() for t in self.trials],
                "planted": [{"id": p["id"], "kind": p["kind"], "trial": p["trial"],
                             "variable": p["variable"]} for p in self.planted],
                "reject": self.reject}

    def __repr__(self) -> str:
        return (f"ExampleTopic({str(self.directory)!r}, seed={self.seed}, "
                f"trials={len(self.trials)}, participants={self.participants}, "
                f"planted={len(self.planted)})")

    def _repr_html_(self) -> str:
        head = (f"<p><b>Example topic</b> {html.escape(TOPIC['slug'])} in "
                f"<code>{html.escape(str(self.directory))}</code>: {len(self.trials)} trials, "
                f"{self.participants} participants, seed {self.seed}, "
                f"{len(self.planted)} planted problems.</p>")
        return head + self.summary.to_html(index=False)


def check_options(directory: str | Path, *, trials: int, participants: int,
                  force: bool = False) -> list[TrialSpec]:
    """Refuse bad options before any work: sizes, and a non-empty ``directory`` without force."""
    directory = Path(directory)
    specs = make_trials(trials, participants, 0)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a directory; choose another path.",
                          directory=str(directory))
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise AlreadyExists(
            f"{directory} is not empty; choose an empty or new directory, or pass --force "
            "to replace the example topic in it.", directory=str(directory))
    return specs


def _prepare_directory(directory: Path, force: bool) -> None:
    if directory.is_dir() and any(directory.iterdir()):
        for name in OUTPUTS:
            target = directory / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    for sub in ("deliveries", "codebooks", "truth", "rejects"):
        (directory / sub).mkdir(exist_ok=True)


def _dump_yaml(data: Any, path: Path, header: str | None = None) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text((f"# {header}\n" if header else "") + text, encoding="utf-8")


# ---- truth ---------------------------------------------------------------------------------

def _truth_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "integer": pa.int64(), "decimal": pa.float64(),
             "date": pa.date32(), "boolean": pa.bool_()}
    fields = [pa.field("trial", pa.string()), pa.field("participant_id", pa.string()),
              pa.field("delivery_row", pa.int64()), pa.field("redelivery_row", pa.int64())]
    fields += [pa.field(v.name, types[v.type]) for v in VARIABLES
               if v.name not in ("trial", "participant_id")]
    return pa.schema(fields)


# ---- one trial -----------------------------------------------------------------------------

@dataclass
class _TrialOutput:
    delivery: TrialDelivery
    registry: dict[str, Any]
    planted: list[dict[str, Any]]
    truth: pd.DataFrame
    columns: list[Column]
    coding: Coding
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # true long tables


def _simulate(spec: TrialSpec, effects: TrialEffects, seed: int, coding: Coding,
              kind: str | None) -> tuple[pd.DataFrame, Any, np.random.Generator, Any]:
    """The trial's truth (final), its encoding, the problem stream and prepared problem."""
    truth = simulate_trial(spec, effects, seed)
    problem_rng = np.random.default_rng(seed_sequence(seed, 5, spec.index))
    prepared = prepare_truth(kind, truth, problem_rng)
    for name in not_collected_in(coding):
        truth[name] = _all_missing(truth[name])
    encoded = encode(truth, coding, spec, np.random.default_rng(seed_sequence(seed, 6,
                                                                               spec.index)))
    truth["participant_id"] = encoded.participant_ids
    return truth, encoded, problem_rng, prepared


def _rows_in_truth_order(encoded: Any, n: int) -> pd.Series:
    rows = np.empty(n, dtype=np.int64)
    rows[encoded.order] = np.arange(1, n + 1)
    return pd.Series(rows, dtype="Int64")


def _make_trial(spec: TrialSpec, effects: TrialEffects, seed: int, directory: Path) -> \
        _TrialOutput:
    coding = coding_for(spec.index, seed)
    kind = problem_for(spec.index)
    ext = EXTENSION[coding.style]
    file = f"deliveries/{spec.acronym}{ext}"
    redelivery_file = f"redeliveries/{spec.acronym}{ext}"
    truth, encoded, problem_rng, prepared = _simulate(spec, effects, seed, coding, kind)
    planted = plant(kind, acronym=spec.acronym, coding=coding, encoded=encoded, truth=truth,
                    rng=problem_rng, prepared=prepared, redelivery_file=redelivery_file)
    columns = planted.columns if planted.columns is not None else encoded.columns
    n_rows = int(columns[0].values.size)
    if planted.delivery_rows is not None:
        truth["delivery_row"] = pd.Series(planted.delivery_rows, dtype="Int64").replace(0, pd.NA)
    else:
        truth["delivery_row"] = _rows_in_truth_order(encoded, len(truth))
    truth["redelivery_row"] = pd.Series([pd.NA] * len(truth), dtype="Int64")

    stamp = dt.datetime.combine(spec.received - dt.timedelta(days=7), dt.time(10, 0))
    label = f"{spec.acronym} trial data export"
    registry_delivery: dict[str, Any] = {
        "file": file, "format": coding.format, "style": STYLE_DESCRIPTION[coding.style],
        "id_column": encoded.id_column, "rows": n_rows,
        "codebook": f"codebooks/{spec.acronym}.yaml",
        "delivered_by": spec.delivered_by, "received": spec.received.isoformat()}
    package = None
    if coding.package:
        package = write_package(spec, coding, truth, encoded, columns, seed, directory,
                                label=label, stamp=stamp)
        file = registry_delivery["file"] = package.directory
        registry_delivery["datasets"] = package.datasets
    else:
        write_delivery(columns, directory / file, coding, label=label, stamp=stamp)
    if coding.text:
        registry_delivery.update({k: v for k, v in coding.layout.items() if k != "decimal"})
    if coding.format == "xlsx":
        registry_delivery["sheet"] = "data"
    redelivery = None
    if planted.redelivery is not None:
        redelivery = _write_redelivery(spec, coding, planted.redelivery, redelivery_file,
                                       directory, label, registry_delivery)
        truth["redelivery_row"] = _rows_in_truth_order(encoded, len(truth))
    codebook = build_codebook(spec, coding, encoded, columns, file=file, rows=n_rows,
                              sheet="data" if coding.format == "xlsx" else None)
    if package is not None:
        package.add_to(codebook)
    _dump_yaml(codebook, directory / "codebooks" / f"{spec.acronym}.yaml",
               f"Codebook of the {spec.acronym} delivery (fictional; ipdrepo example topic)")
    arms = tuple((a["code"], a["randomised_published"]) for a in encoded.arms)
    delivery = TrialDelivery(acronym=spec.acronym, format=coding.format, style=coding.style,
                             file=file, rows=n_rows, randomised=len(truth), arms=arms,
                             problem=kind, redelivery=redelivery)
    return _TrialOutput(delivery=delivery,
                        registry=registry_entry(spec, encoded.arms, registry_delivery,
                                                language=coding.language),
                        planted=planted.entries, truth=truth, columns=columns, coding=coding,
                        tables=package.truth if package is not None else {})


def _write_redelivery(spec: TrialSpec, coding: Coding, columns: list[Column], file: str,
                      directory: Path, label: str, registry_delivery: dict[str, Any]) -> str:
    (directory / "redeliveries").mkdir(exist_ok=True)
    later = spec.received + dt.timedelta(days=63)
    write_delivery(columns, directory / file, coding, label=f"{label} (corrected)",
                   stamp=dt.datetime.combine(later - dt.timedelta(days=2), dt.time(10, 0)))
    registry_delivery["redelivery"] = {"file": file, "rows": int(columns[0].values.size),
                                       "received": later.isoformat(),
                                       "reason": "corrected export: complete control arm"}
    return file


def _all_missing(series: pd.Series) -> pd.Series:
    if series.dtype == object:
        return pd.Series([None] * len(series), index=series.index, dtype=object)
    return series.mask(np.ones(len(series), dtype=bool))


def _write_reject(out: _TrialOutput, seed: int, index: int, directory: Path) -> str:
    truth = out.truth
    present = truth["delivery_row"].notna().to_numpy()
    order = np.argsort(truth["delivery_row"].to_numpy(dtype=np.float64, na_value=np.inf))
    order = order[: int(present.sum())]
    rng = np.random.default_rng(seed_sequence(seed, 7, index))
    ids = identifier_columns(order.size, truth["_birth_year"].to_numpy()[order],
                             truth["_birth_month"].to_numpy()[order], rng)
    layout = out.coding.layout if out.coding.text else {"encoding": "utf-8", "delimiter": ","}
    coding = out.coding
    frame = {out.columns[0].name: render_text(out.columns[0], coding)}
    for c in ids:
        frame[c.name] = render_text(c, coding)
    for c in out.columns[1:]:
        frame[c.name] = render_text(c, coding)
    path = f"rejects/{out.delivery.acronym}-with-identifiers.csv"
    pd.DataFrame(frame).to_csv(directory / path, sep=layout["delimiter"], index=False,
                               encoding=layout["encoding"], lineterminator="\n")
    return path


# ---- the topic -------------------------------------------------------------------------------

def create(directory: str | Path, *, trials: int = 8, participants: int = 3000,
           seed: int = DEFAULT_SEED, force: bool = False,
           progress: Callable[[TrialDelivery], None] | None = None) -> ExampleTopic:
    """Write the example topic "gastric-adjuvant" into ``directory``.

    ``trials`` fictional trials share ``participants`` participants; the same ``seed`` gives
    byte-identical files. Refuses a non-empty ``directory`` (:class:`AlreadyExists`) unless
    ``force``, which replaces only what this function writes (:data:`OUTPUTS`). ``progress`` is
    called after each trial is written.
    """
    directory = Path(directory)
    check_options(directory, trials=trials, participants=participants, force=force)
    specs = make_trials(trials, participants, seed)
    _prepare_directory(directory, force)
    effects = draw_effects(specs, seed)
    import pyarrow.parquet as pq

    schema = _truth_schema()
    reject_index = 7 if trials > 7 else trials - 1
    deliveries: list[TrialDelivery] = []
    registry: list[dict[str, Any]] = []
    planted: list[dict[str, Any]] = []
    reject: str | None = None
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLE_TRUTH}
    with pq.ParquetWriter(directory / "truth" / "participants.parquet", schema,
                          compression="zstd") as writer:
        for spec, eff in zip(specs, effects):
            out = _make_trial(spec, eff, seed, directory)
            writer.write_table(arrow_table(out.truth, schema))
            if spec.index == reject_index:
                reject = _write_reject(out, seed, spec.index, directory)
            deliveries.append(out.delivery)
            registry.append(out.registry)
            planted.extend(out.planted)
            for name, frame in out.tables.items():
                tables[name].append(frame)
            if progress is not None:
                progress(out.delivery)
    for name, frames in tables.items():
        write_table_truth(directory, name, frames)
    for i, entry in enumerate(planted, 1):
        entry_id = {"id": f"P{i}"}
        entry_id.update(entry)
        planted[i - 1] = entry_id
    _write_topic(directory, specs, registry, seed, trials, participants, reject)
    _write_truth_yaml(directory, specs, effects, planted, seed)
    _write_readme(directory, deliveries, seed, trials, participants, reject)
    return ExampleTopic(directory=directory, seed=seed, participants=participants,
                        trials=tuple(deliveries), planted=tuple(planted), reject=reject)


def _write_topic(directory: Path, specs: Sequence[TrialSpec], registry: list[dict[str, Any]],
                 seed: int, trials: int, participants: int, reject: str | None) -> None:
    data = {
        "topic": dict(TOPIC),
        "generated_by": {"command": "ipdrepo example create", "seed": seed, "trials": trials,
                         "participants": participants},
        "variables": [v.to_dict() for v in VARIABLES],
        "derivations": {k: {"from": list(v[0]), "definition": v[1]}
                        for k, v in DERIVATIONS.items()},
        "trials": registry,
        "rejects": ([{"file": reject, "trial": reject.split("/")[-1].rsplit("-with", 1)[0],
                      "identifier_columns": IDENTIFIER_COLUMNS,
                      "note": "a delivery that still carries direct identifiers; the "
                              "pseudonymisation gate must refuse it"}] if reject else []),
    }
    _dump_yaml(data, directory / "topic.yaml",
               "ipdrepo example topic (fictional trials, simulated data)")


def _write_truth_yaml(directory: Path, specs: Sequence[TrialSpec],
                      effects: Sequence[TrialEffects], planted: list[dict[str, Any]],
                      seed: int) -> None:
    sizes = {s.acronym: s.n for s in specs}
    data = {
        "seed": seed,
        "mu": {"log_hr_os": MODEL["mu_os"], "log_hr_dfs": MODEL["mu_dfs"],
               "qol_delta": MODEL["qol"]["mu_delta"],
               "tox_log_or": MODEL["toxicity"]["mu_log_or"]},
        "tau": {"log_hr_os": MODEL["tau"], "log_hr_dfs": MODEL["tau"],
                "qol_delta": MODEL["qol"]["tau_delta"],
                "tox_log_or": MODEL["toxicity"]["tau_log_or"]},
        "note": "log hazard ratios (chemotherapy vs surgery alone) are conditional on the "
                "prognostic index; see repository/example/simulate.py for the whole model",
        "model": MODEL,
        "trials": [{**e.to_dict(), "n": sizes[e.acronym]} for e in effects],
    }
    _dump_yaml(data, directory / "truth" / "trial_effects.yaml", "True trial effects")
    kinds = [p["kind"] for p in planted]
    _dump_yaml({"seed": seed,
                "order": list(PROBLEM_ORDER),
                "kinds_planted": sorted(set(kinds), key=PROBLEM_ORDER.index),
                "checks": CHECKS,
                "response_codes": ["typographical_error", "confirmed_correct",
                                   "data_missing", "redelivery"],
                "problems": planted},
               directory / "truth" / "planted.yaml",
               "Every planted data problem; nothing else in the deliveries is anomalous")


def _write_readme(directory: Path, deliveries: Sequence[TrialDelivery], seed: int, trials: int,
                  participants: int, reject: str | None) -> None:
    lines = [
        f"# Example topic: {TOPIC['slug']}",
        "",
        f"{TOPIC['title']}.",
        "",
        f"Made by `ipdrepo example create --trials {trials} --participants {participants} "
        f"--seed {seed}`. Every trial, person and value is fictional; the same command makes "
        "byte-identical files.",
        "",
        "| path | what |",
        "|---|---|",
        "| `topic.yaml` | the topic, its harmonised variables and the trial registry (registry "
        "IDs, arms with published N, contact, delivery file, format, ID column) |",
        "| `deliveries/` | one delivery per trial, as the trial sent it (a directory of three "
        "files, baseline, visits and events, for the trial that sends several) |",
        "| `codebooks/` | each trial's codebook: columns, codes, units, missing codes and how "
        "each harmonised variable is obtained |",
        "| `redeliveries/` | a corrected re-delivery (the trial whose first delivery misses "
        "control-arm participants) |",
        "| `rejects/` | a delivery that still carries direct identifiers (the gate refuses it) |",
        "| `truth/participants.parquet` | the true harmonised values of every participant, with "
        "the trial's own ID and delivery row |",
        "| `truth/visits.parquet`, `truth/events.parquet` | the true long tables (follow-up "
        "visits; adverse events, recurrences and deaths) |",
        "| `truth/trial_effects.yaml` | true per-trial effects, mu, tau and the model |",
        "| `truth/planted.yaml` | every planted data problem and how the trialist answers |",
        "",
        "| trial | format | file | rows | randomised | arms (code=N published) | planted |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in deliveries:
        lines.append(f"| {t.acronym} | {t.format} | `{t.file}` | {t.rows} | {t.randomised} | "
                     f"{t.arms_text} | {t.problem or ''} |")
    if reject:
        lines += ["", f"Identifier-gate demonstration: `{reject}`."]
    (directory / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
