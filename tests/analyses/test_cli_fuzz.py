"""Fuzz ``ipdrepo analyse ...``: bad data cells and numeric options end in ``error: ...`` and a
documented exit code, never a traceback.

Hypothesis (derandomized: the same examples every run, no example database; bounded so the
file runs in seconds) writes a small valid data set, then spoils it - text in numeric columns,
empty cells, NaN/inf, negative or huge numbers, an empty file, only a header, one trial, one
row, no events at all - and calls each analyse command with numeric options drawn from the
awkward values (0, negative, NaN, inf, 1e308 ...). Whatever happens, the command either
succeeds (exit 0) or exits with a code from ``repository.errors`` (2 usage, 4 bad input,
5 refused, 6 did not converge) and ``error: ...`` (click's ``Error:`` for usage) on stderr.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repository.cli import cli

#: exit codes an analyse command may end with (repository.errors.exit_code_for; 1 is the
#: "internal error" code: an unexpected exception, which must not happen)
DOCUMENTED = {0, 2, 4, 5, 6}


def fuzz(examples: int) -> settings:
    """Deterministic, bounded Hypothesis settings."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

CELLS = st.sampled_from(["abc", "", " ", "nan", "inf", "-inf", "-1", "0", "-0.5", "1e308",
                         "-1e308", "1e-320", "2", "3.5", "yes", "NA"])
NUMBERS = st.sampled_from(["95", "50", "0", "100", "-1", "nan", "inf", "-inf", "1e308",
                           "1e-308", "0.5", "2"])
SHAPES = st.sampled_from(["as is", "as is", "as is", "empty file", "header only", "one trial",
                          "one row", "no events"])


def _ipd(trials: int = 5, per_arm: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(18)
    n = trials * 2 * per_arm
    trt = np.tile([0, 1], n // 2)
    time = np.round(rng.exponential(20, n) + 0.5, 2)
    event = np.tile([1, 0, 1, 1], n // 4)
    return pd.DataFrame({
        "trial": np.repeat([f"T{k}" for k in range(1, trials + 1)], 2 * per_arm),
        "trt": trt, "time": time, "event": event,
        "stime": np.round(time * rng.uniform(0.3, 1.0, n), 2), "sevent": event,
        "y": np.round(rng.normal(10 + trt, 2, n), 2), "yb": np.tile([1, 0, 0, 1], n // 4),
        "age": rng.integers(30, 80, n), "sex": np.tile([0, 0, 1, 1], n // 4)})


def _effects() -> pd.DataFrame:
    return pd.DataFrame({
        "study": ["A", "B", "C", "D", "E", "F"], "yi": [-0.9, -1.6, -1.3, 0.2, -0.4, -0.7],
        "vi": [0.33, 0.19, 0.42, 0.07, 0.05, 0.12], "se": [0.57, 0.44, 0.65, 0.26, 0.22, 0.35],
        "ai": [4, 6, 3, 62, 33, 180], "n1": [123, 306, 231, 13598, 5069, 1541],
        "ci": [11, 29, 11, 248, 47, 372], "n2": [139, 303, 220, 12867, 5808, 1451]})


def _spoil(base: pd.DataFrame, shape: str, edits: list[tuple[int, int, str]],
           path: Path) -> Path:
    d = base.copy()
    if shape == "one trial" and "trial" in d:
        d = d[d["trial"] == "T1"]
    elif shape == "one row":
        d = d.head(1)
    elif shape == "no events":
        for c in ("event", "sevent", "yb", "ai", "ci"):
            if c in d:
                d[c] = 0
    d = d.astype(object)
    for col, row, value in edits:
        if len(d):
            d.iat[row % len(d), col % d.shape[1]] = value
    if shape == "empty file":
        path.write_text("")
    elif shape == "header only":
        path.write_text(",".join(d.columns) + "\n")
    else:
        d.to_csv(path, index=False)
    return path


EDITS = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 60), CELLS), max_size=3)


def _check(args: list[str], estimate: str | None = None) -> None:
    """Exit code documented, ``error: ...`` on failure; on success with ``--json`` the
    ``estimate`` key (when named) is a finite number - never a silent NaN."""
    result = CliRunner().invoke(cli, ["analyse", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"ipdrepo analyse {' '.join(args)} raised {result.exception!r}")
    assert "Traceback" not in result.output
    assert result.exit_code in DOCUMENTED, (result.exit_code, args, result.output)
    if result.exit_code:
        first = result.stderr.lstrip().splitlines()[0] if result.stderr.strip() else ""
        expected = "Usage:" if result.exit_code == 2 else "error:"
        assert first.startswith(expected), (args, result.stderr)
    elif estimate is not None:
        value = json.loads(result.stdout)[estimate]
        assert isinstance(value, float) and math.isfinite(value), (args, value)


@fuzz(20 * 8)
@given(shape=SHAPES, edits=EDITS, level=NUMBERS, step=NUMBERS,
       how=st.sampled_from(["vi", "se", "MH", "Peto", "IV counts"]),
       method=st.sampled_from(["REML", "DL", "PM", "FE", "ML", "EB", "SJ", "HE", "HS"]),
       test=st.sampled_from(["z", "t", "knha", "adhoc"]))
def test_pool(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]], level: str,
              step: str, how: str, method: str, test: str) -> None:
    path = _spoil(_effects(), shape, edits, tmp_path_factory.mktemp("pool") / "effects.csv")
    args = ["pool", str(path), "--label", "study", "--level", level, "--test", test]
    if how in ("vi", "se"):
        args += ["--yi", "yi", f"--{how}", how, "--measure", "RR", "--method", method,
                 "--step-adjust", step]
    else:
        args += ["--events-treated", "ai", "--n-treated", "n1", "--events-control", "ci",
                 "--n-control", "n2", "--method", method if how == "IV counts" else how]
    _check(args + ["--json"], estimate="estimate")


MODELS = {"cox": ["--time", "time", "--event", "event"],
          "logrank": ["--time", "time", "--event", "event"],
          "rmst": ["--time", "time", "--event", "event"],
          "logistic": ["--outcome", "yb"], "2x2": ["--outcome", "yb"],
          "linear": ["--outcome", "y"]}


def _aggregate(path: Path, cells: tuple[str, str, str]) -> Path:
    """One aggregate-data trial (yi, vi, n) beside the IPD, its cells drawn from CELLS."""
    pd.DataFrame({"trial": ["AD1", "AD2"], "yi": ["-0.3", cells[0]], "vi": ["0.04", cells[1]],
                  "n": ["120", cells[2]]}).to_csv(path, index=False)
    return path


@fuzz(15 * 8)
@given(shape=SHAPES, edits=EDITS, level=NUMBERS, tau=NUMBERS,
       model=st.sampled_from(sorted(MODELS)), adjust=st.booleans(), subgroup=st.booleans(),
       drop=st.booleans(), treated=st.sampled_from(["1", "0", "1.0", "x"]),
       aggregate=st.none() | st.tuples(CELLS, CELLS, CELLS), interaction=st.booleans())
def test_two_stage(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]],
                   level: str, tau: str, model: str, adjust: bool, subgroup: bool, drop: bool,
                   treated: str, aggregate: tuple[str, str, str] | None,
                   interaction: bool) -> None:
    tmp = tmp_path_factory.mktemp("two")
    path = _spoil(_ipd(), shape, edits, tmp / "ipd.csv")
    args = ["two-stage", str(path), "--trial", "trial", "--treatment", "trt", "--model", model,
            *MODELS[model], "--level", level, "--treated-value", treated]
    if model == "rmst":
        args += ["--tau", tau]
    if adjust and model in ("cox", "logistic", "linear"):
        args += ["--adjust", "age"]
    if subgroup:
        args += ["--subgroup", "sex"]
    if drop:
        args += ["--drop-missing"]
    if aggregate is not None:
        args += ["--aggregate", str(_aggregate(tmp / "ad.csv", aggregate))]
    if interaction:
        args += ["--interaction", "age"]
    _check(args + ["--json"], estimate="estimate")


@fuzz(14 * 8)
@given(shape=SHAPES, edits=EDITS, level=NUMBERS, nagq=st.sampled_from(["1", "0", "-3", "2"]),
       model=st.sampled_from(["linear", "logistic", "cox"]), random=st.booleans())
def test_one_stage(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]],
                   level: str, nagq: str, model: str, random: bool) -> None:
    path = _spoil(_ipd(), shape, edits, tmp_path_factory.mktemp("one") / "ipd.csv")
    outcome = {"linear": ["--outcome", "y"], "logistic": ["--outcome", "yb"],
               "cox": ["--time", "time", "--event", "event"]}[model]
    args = ["one-stage", str(path), "--trial", "trial", "--treatment", "trt", "--model", model,
            *outcome, "--level", level,
            "--random-treatment" if random else "--common-treatment"]
    if model == "logistic":
        args += ["--nagq", nagq]
    _check(args + ["--json"], estimate="estimate")


@fuzz(6 * 8)
@given(shape=SHAPES, edits=EDITS, weights=st.sampled_from(["n", "events", "none"]))
def test_surrogacy(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]],
                   weights: str) -> None:
    path = _spoil(_ipd(), shape, edits, tmp_path_factory.mktemp("sur") / "ipd.csv")
    _check(["surrogacy", str(path), "--trial", "trial", "--treatment", "trt",
            "--surrogate-time", "stime", "--surrogate-event", "sevent", "--time", "time",
            "--event", "event", "--weights", weights, "--no-individual", "--json"])


@fuzz(4 * 8)
@given(shape=SHAPES, edits=EDITS, every=NUMBERS,
       how=st.sampled_from(["arms", "by trial", "pooled"]))
def test_km(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]], every: str,
            how: str) -> None:
    tmp = tmp_path_factory.mktemp("km")
    path = _spoil(_ipd(), shape, edits, tmp / "ipd.csv")
    args = ["km", str(path), "--time", "time", "--event", "event", "--treatment", "trt",
            "--break-every", every, "-o", str(tmp / "km.svg")]
    if how == "by trial":
        args += ["--trial", "trial", "--by-trial"]
    elif how == "pooled":
        args += ["--trial", "trial", "--pooled", "stratified"]
    _check(args)


@fuzz(5 * 8)
@given(shape=SHAPES, edits=EDITS, median=st.booleans(), by_trial=st.booleans())
def test_baseline(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]],
                  median: bool, by_trial: bool) -> None:
    path = _spoil(_ipd(), shape, edits, tmp_path_factory.mktemp("base") / "ipd.csv")
    args = ["baseline", str(path), "--treatment", "trt", "--variable", "age",
            "--variable", "sex", "--json"]
    if median:
        args.append("--median")
    if by_trial:
        args += ["--trial", "trial", "--by-trial"]
    _check(args)


TICKS = st.sampled_from(["0.5,1,2", "abc", ",,,", "5", "0,-1", "nan,1", "1e400,2", "-2,0,2",
                         "1e-300,1e300", "1,1"])
OUTPUTS = st.sampled_from(["forest.svg", "forest.png", "forest.bmp", "forest", "table.csv",
                           "table.xlsx", "table.docx", "table.tex", "table.foo", "report.html",
                           "funnel.svg", "baujat.png", "missing/forest.svg", "missing/table.csv",
                           "missing/report.html", "missing/funnel.svg"])
OPTION_OF = {"forest": "--forest", "table": "--table", "report": "--report",
             "funnel": "--funnel", "baujat": "--baujat"}


@fuzz(6 * 8)
@given(shape=SHAPES, edits=EDITS, at=TICKS, outputs=st.lists(OUTPUTS, max_size=2),
       order=st.sampled_from(["given", "weight", "effect", "vi", "zzz", "trial"]),
       measure=st.sampled_from(["OR", "MD"]), diagnostics=st.booleans(),
       two_stage=st.booleans())
def test_outputs(tmp_path_factory: Any, shape: str, edits: list[tuple[int, int, str]], at: str,
                 outputs: list[str], order: str, measure: str, diagnostics: bool,
                 two_stage: bool) -> None:
    """Figures, tables and reports: awkward ticks and orders, unknown formats, paths in
    folders that do not exist."""
    tmp = tmp_path_factory.mktemp("out")
    if two_stage:
        path = _spoil(_ipd(), shape, edits, tmp / "ipd.csv")
        args = ["two-stage", str(path), "--trial", "trial", "--treatment", "trt", "--model",
                "cox", "--time", "time", "--event", "event"]
    else:
        path = _spoil(_effects(), shape, edits, tmp / "effects.csv")
        args = ["pool", str(path), "--label", "study", "--yi", "yi", "--vi", "vi", "--measure",
                measure]
    args += ["--at", at, "--order", order, *(["--diagnostics"] if diagnostics else [])]
    for name in outputs:
        args += [OPTION_OF[Path(name).stem], str(tmp / name)]
    _check(args)


def test_unwritable_output_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "effects.csv"
    _effects().to_csv(path, index=False)
    for option in ("--forest", "--table", "--report", "--funnel"):
        target = tmp_path / "no such folder" / ("out" + (".csv" if option == "--table" else
                                                        ".html" if option == "--report"
                                                        else ".svg"))
        result = CliRunner().invoke(cli, ["analyse", "pool", str(path), "--yi", "yi", "--vi",
                                          "vi", option, str(target)])
        assert result.exit_code == 4, (option, result.output)
        assert result.stderr.startswith("error: cannot write the "), result.stderr
        assert str(target) in result.stderr and "existing folder" in result.stderr
        assert not target.parent.exists()


def test_forest_ticks_that_cannot_make_an_axis(tmp_path: Path) -> None:
    path = tmp_path / "effects.csv"
    _effects().to_csv(path, index=False)
    for at in ("1e400,2", ",,,", "5", "1,1"):
        result = CliRunner().invoke(cli, ["analyse", "pool", str(path), "--yi", "yi", "--vi",
                                          "vi", "--forest", str(tmp_path / "f.svg"), "--at", at])
        assert result.exit_code == 4, (at, result.output)
        assert "axis ticks (at) must be at least two different finite numbers" in result.stderr


def test_text_in_a_numeric_column_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """The case the issue reports: ``analyse pool`` on a text cell."""
    path = tmp_path / "effects.csv"
    _effects().astype(object).assign(yi=["-0.9", "abc", "-1.3", "0.2", "-0.4", "-0.7"]).to_csv(
        path, index=False)
    result = CliRunner().invoke(cli, ["analyse", "pool", str(path), "--yi", "yi", "--vi", "vi"])
    assert result.exit_code == 4, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: column yi in ")
    assert "row 2 ('abc')" in result.stderr


def test_numbers_beyond_floating_point_are_errors_not_nan(tmp_path: Path) -> None:
    """Estimates near 1e308 and variances too small to invert (found by the fuzz above):
    every method ends in ``error: ...`` naming the scale, or a finite estimate."""
    for yi, vi in (("1e308", "0.1"), ("-1e308", "0.1"), ("0.5", "1e-320"), ("1e300", "1e300")):
        path = tmp_path / "effects.csv"
        _effects().astype(object).assign(yi=[-0.9, yi, -1.3, 0.2, -0.4, -0.7],
                                         vi=[0.33, vi, 0.42, 0.07, 0.05, 0.12]).to_csv(
            path, index=False)
        for method in ("REML", "DL", "PM", "FE", "ML", "EB", "SJ", "HE", "HS"):
            _check(["pool", str(path), "--yi", "yi", "--vi", "vi", "--method", method,
                    "--json"], estimate="estimate")


def test_the_real_command_prints_only_the_error(tmp_path: Path) -> None:
    """Outside pytest's warning capture (a real process): no numpy floating-point warning
    before the ``error: ...`` line."""
    import subprocess
    import sys

    path = tmp_path / "effects.csv"
    _effects().assign(yi=[-0.9, 1e308, -1.3, 0.2, -0.4, -0.7]).to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "repository", "analyse", "pool", str(path),
                           "--yi", "yi", "--vi", "vi"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error: ") and "floating point" in proc.stderr
    assert "RuntimeWarning" not in proc.stderr


def test_aggregate_text_cells_and_a_bad_rmst_horizon(tmp_path: Path) -> None:
    ipd = tmp_path / "ipd.csv"
    _ipd().to_csv(ipd, index=False)
    agg = tmp_path / "agg.csv"
    agg.write_text("trial,yi,vi,n\nA9,abc,0.1,40\nA10,-0.2,0.04,x\n")
    base = ["analyse", "two-stage", str(ipd), "--trial", "trial", "--treatment", "trt",
            "--time", "time", "--event", "event"]
    result = CliRunner().invoke(cli, [*base, "--model", "cox", "--aggregate", str(agg)])
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith("error: invalid aggregate-data rows: A9: not a number: "
                                    "yi 'abc'; A10: not a number: n 'x'"), result.stderr
    for tau in ("-5", "0", "nan", "inf"):
        result = CliRunner().invoke(cli, [*base, "--model", "rmst", "--tau", tau])
        assert result.exit_code == 4, (tau, result.output)
        assert "the RMST horizon tau must be a positive number" in result.stderr


def test_one_stage_level_is_checked_in_the_cli_units(tmp_path: Path) -> None:
    ipd = tmp_path / "ipd.csv"
    _ipd().to_csv(ipd, index=False)
    for level in ("100", "0", "-5", "nan"):
        result = CliRunner().invoke(cli, ["analyse", "one-stage", str(ipd), "--trial", "trial",
                                          "--treatment", "trt", "--model", "linear",
                                          "--outcome", "y", "--level", level])
        assert result.exit_code == 4, (level, result.output)
        assert result.stderr.startswith("error: level must be a percentage between 0 and 100")
