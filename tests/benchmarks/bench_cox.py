"""Benchmark: trial-stratified Cox regression, ours vs lifelines vs R's survival::coxph.

    .venv/bin/python tests/benchmarks/bench_cox.py [--n 1000000] [--trials 100]
        [--per-trial-n 10000] [--no-lifelines] [--no-r] [--untied]

Two workloads on the same generated data (written once to a temporary CSV; every engine reads
it outside the timed region):

1. one stratified model ``Surv(time, status) ~ trt + strata(trial)`` on ``--n`` participants
   in ``--trials`` trials;
2. per-trial models (two-stage): ``--trials`` separate fits of ``--per-trial-n`` each.

lifelines handles tied times slowly (minutes per 100,000 participants with whole-day times),
so with tied times it is compared on a random 100,000 (``--lifelines-n``), ours re-timed on
the same subset; with ``--untied`` on everything.

Each engine runs in its own process, so peak memory (``ru_maxrss``) is its own; "fit peak" is
the memory allocated during the fit (tracemalloc for Python, ``gc()`` "max used" for R).
Figures are printed as ratios against the other engines measured in the same run. Times are
whole days (ties, handled by Efron) unless ``--untied``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def make_data(n: int, trials: int, seed: int, untied: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trial = np.sort(rng.integers(0, trials, n))
    trt = rng.integers(0, 2, n)
    base = rng.uniform(0.2, 1.0, trials)[trial] / 365.0
    hr = np.exp(-0.2 + rng.normal(0, 0.1, trials))[trial]
    t = rng.exponential(1.0 / (base * np.where(trt == 1, hr, 1.0)))
    c = rng.uniform(365, 8 * 365, n)
    time = np.minimum(t, c)
    if not untied:
        time = np.ceil(time)
    return pd.DataFrame({"trial": trial + 1, "trt": trt, "time": time,
                         "status": (t <= c).astype(int)})


PY_WORKER = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    import numpy as np, pandas as pd
    sys.path.insert(0, {root!r})
    engine, task, path, per_n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    d = pd.read_csv(path)
    out = {{}}
    if engine == "ours":
        from analyses.cox import coxph
        coxph(d.time.to_numpy()[:2000], d.status.to_numpy()[:2000], d.trt.to_numpy()[:2000])
    else:
        from lifelines import CoxPHFitter
    tracemalloc.start()
    t0 = time.perf_counter()
    if task == "stratified":
        if engine == "ours":
            fit = coxph(d.time.to_numpy(), d.status.to_numpy(), d.trt.to_numpy(),
                        strata=d.trial.to_numpy())
            out["coef"], out["se"] = float(fit.coef[0]), float(fit.se[0])
        else:
            cph = CoxPHFitter().fit(d[["time", "status", "trt", "trial"]], "time", "status",
                                    strata=["trial"])
            out["coef"], out["se"] = float(cph.params_["trt"]), float(cph.standard_errors_["trt"])
    else:
        trials = sorted(d.trial.unique())
        if engine == "lifelines":
            trials = trials[:10]  # lifelines is slow: time 10 trials, report per trial
        coefs = []
        for k in trials:
            s = d[d.trial == k].head(per_n)
            if engine == "ours":
                coefs.append(float(coxph(s.time.to_numpy(), s.status.to_numpy(),
                                         s.trt.to_numpy()).coef[0]))
            else:
                coefs.append(float(CoxPHFitter().fit(s[["time", "status", "trt"]], "time",
                                                     "status").params_["trt"]))
        out["per_trial_fits"] = len(trials)
        out["first_coef"] = coefs[0]
    out["seconds"] = time.perf_counter() - t0
    out["fit_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    out["process_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""")

R_WORKER = textwrap.dedent("""
    suppressPackageStartupMessages({library(survival); library(data.table)})
    args <- commandArgs(trailingOnly = TRUE)
    d <- as.data.frame(fread(args[2]))
    per_n <- as.integer(args[3])
    invisible(gc(reset = TRUE))
    if (args[1] == "stratified") {
      tm <- system.time(fit <- coxph(Surv(time, status) ~ trt + strata(trial), data = d))
      res <- list(coef = unname(coef(fit)), se = unname(sqrt(vcov(fit)[1, 1])))
    } else {
      trials <- sort(unique(d$trial))
      tm <- system.time(for (k in trials) {
        s <- head(d[d$trial == k, ], per_n)
        fit <- coxph(Surv(time, status) ~ trt, data = s)
      })
      res <- list(per_trial_fits = length(trials))
    }
    g <- gc()
    res$seconds <- unname(tm["elapsed"])
    res$fit_peak_mb <- sum(g[, ncol(g)])  # "max used" (Mb) since the reset
    cat(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA), "\\n")
""")


def run_py(engine: str, task: str, path: Path, per_n: int) -> dict:
    script = PY_WORKER.format(root=str(ROOT))
    p = subprocess.run([sys.executable, "-c", script, engine, task, str(path), str(per_n)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_r(task: str, path: Path, per_n: int, workdir: Path) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    script = workdir / "bench_cox.R"
    script.write_text(R_WORKER)
    p = subprocess.run(["Rscript", str(script), task, str(path), str(per_n)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  R failed: {p.stderr.strip()[:300]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--per-trial-n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--untied", action="store_true", help="continuous (untied) times")
    ap.add_argument("--no-lifelines", action="store_true")
    ap.add_argument("--lifelines-n", type=int, default=None,
                    help="participants for the lifelines comparison (default: --n with "
                         "--untied, else 100,000 - lifelines' tie handling takes minutes "
                         "per 100,000); ours is re-timed on the same subset for the ratio")
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_data(max(args.n, args.trials * args.per_trial_n), args.trials, args.seed,
                         args.untied)
        strat_path = work / "stratified.csv"
        data.head(args.n).to_csv(strat_path, index=False)
        per_path = work / "per_trial.csv"
        data.groupby("trial").head(args.per_trial_n).to_csv(per_path, index=False)
        print(f"data: {args.n:,} participants in {args.trials} trials "
              f"({'untied' if args.untied else 'whole-day'} times, "
              f"{int(data.head(args.n).status.sum()):,} events); per-trial: {args.trials} x "
              f"{args.per_trial_n:,}")

        print("\n1. stratified Cox, Surv(time, status) ~ trt + strata(trial)")
        ours = run_py("ours", "stratified", strat_path, args.per_trial_n)
        print(f"  ours      {ours['seconds']:8.2f} s   fit peak {ours['fit_peak_mb']:7.0f} MB   "
              f"process peak {ours['process_peak_mb']:7.0f} MB   coef {ours['coef']:.8f}")
        if not args.no_r:
            r = run_r("stratified", strat_path, args.per_trial_n, work)
            if r:
                print(f"  R coxph   {r['seconds']:8.2f} s   fit peak {r['fit_peak_mb']:7.0f} MB   "
                      f"coef {r['coef']:.8f}   -> ours / R = {ours['seconds'] / r['seconds']:.2f}"
                      f"  (|coef diff| {abs(ours['coef'] - r['coef']):.1e})")
        if not args.no_lifelines:
            ln = args.lifelines_n or (args.n if args.untied else min(args.n, 100_000))
            ref = ours
            lpath = strat_path
            if ln < args.n:
                lpath = work / "lifelines.csv"
                data.head(args.n).sample(n=ln, random_state=1).sort_values("trial").to_csv(
                    lpath, index=False)
                ref = run_py("ours", "stratified", lpath, args.per_trial_n)
                print(f"  (lifelines on a random {ln:,} of them; ours on the same: "
                      f"{ref['seconds']:.2f} s)")
            lf = run_py("lifelines", "stratified", lpath, args.per_trial_n)
            print(f"  lifelines {lf['seconds']:8.2f} s   fit peak {lf['fit_peak_mb']:7.0f} MB   "
                  f"process peak {lf['process_peak_mb']:7.0f} MB   coef {lf['coef']:.8f}   "
                  f"-> ours / lifelines = {ref['seconds'] / lf['seconds']:.3f}"
                  f"  (|coef diff| {abs(ref['coef'] - lf['coef']):.1e})")

        print(f"\n2. per-trial Cox, {args.trials} trials of {args.per_trial_n:,}")
        ours = run_py("ours", "per_trial", per_path, args.per_trial_n)
        per = ours["seconds"] / ours["per_trial_fits"] * 1000
        print(f"  ours      {per:8.1f} ms a trial ({ours['seconds']:.2f} s in all)")
        if not args.no_r:
            r = run_r("per_trial", per_path, args.per_trial_n, work)
            if r:
                rper = r["seconds"] / r["per_trial_fits"] * 1000
                print(f"  R coxph   {rper:8.1f} ms a trial   -> ours / R = {per / rper:.2f}")
        if not args.no_lifelines:
            lf = run_py("lifelines", "per_trial", per_path, args.per_trial_n)
            lper = lf["seconds"] / lf["per_trial_fits"] * 1000
            print(f"  lifelines {lper:8.1f} ms a trial (timed on {lf['per_trial_fits']} trials)"
                  f"   -> ours / lifelines = {per / lper:.3f}")


if __name__ == "__main__":
    main()
