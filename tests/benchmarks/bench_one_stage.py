"""Benchmark: one-stage IPD models, ours vs R (lme4's glmer / lmer, coxme when installed).

    .venv/bin/python tests/benchmarks/bench_one_stage.py [--n 100000] [--trials 100]
        [--nagq 1] [--no-r] [--r-timeout 1800] [--with-lmm] [--with-cox]

Main workload (the issue's): a logistic GLMM with stratified trial intercepts and a random
treatment effect, ``y ~ 0 + factor(trial) + trt + x + (0 + trt | trial)``, on ``--n``
participants in ``--trials`` trials, by Laplace (``--nagq 1``) or adaptive Gauss-Hermite
quadrature. Optional: the same design as a linear mixed model (REML, ``lmer``) and survival
times for the Cox model with a random treatment effect (``coxme``; needs coxme in R's
library path, e.g. ``R_LIBS``). R uses its default controls (what users run); data are read
outside the timed region. Each line prints ours / R as a ratio, plus the estimates side by
side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analyses.one_stage import one_stage  # noqa: E402


def make_data(n: int, trials: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = np.sort(rng.integers(0, trials, n))
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    alpha = rng.normal(-0.5, 0.5, trials)
    b = rng.normal(0, 0.3, trials)
    eta = alpha[k] + (-0.4 + b[k]) * arm + 0.3 * x
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    cont = 10 + 2 * alpha[k] + (0.5 + b[k]) * arm + 0.3 * x + rng.normal(0, 1.5, n)
    rate = np.exp(-6 + alpha[k] + (-0.3 + b[k]) * arm + 0.3 * x)
    t = rng.exponential(1 / rate)
    c = rng.uniform(300, 2000, n)
    return pd.DataFrame({"trial": [f"T{i + 1:03d}" for i in k], "trt": arm,
                         "x": np.round(x, 4), "y": y, "cont": np.round(cont, 4),
                         "time": np.ceil(np.minimum(t, c)), "status": (t <= c).astype(int)})


R_SCRIPT = textwrap.dedent("""
    suppressPackageStartupMessages({library(lme4); library(data.table)})
    args <- commandArgs(trailingOnly = TRUE)
    d <- as.data.frame(fread(args[2])); nagq <- as.integer(args[3])
    if (args[1] == "glmm") {
      tm <- system.time(fit <- glmer(y ~ 0 + factor(trial) + trt + x + (0 + trt | trial),
                                     data = d, family = binomial, nAGQ = nagq))
      res <- list(estimate = unname(fixef(fit)["trt"]), se = unname(sqrt(vcov(fit)["trt", "trt"])),
                  tau2 = as.data.frame(VarCorr(fit))$vcov[1])
    } else if (args[1] == "lmm") {
      tm <- system.time(fit <- lmer(cont ~ 0 + factor(trial) + trt + x + (0 + trt | trial),
                                    data = d, REML = TRUE))
      res <- list(estimate = unname(fixef(fit)["trt"]), se = unname(sqrt(vcov(fit)["trt", "trt"])),
                  tau2 = as.data.frame(VarCorr(fit))$vcov[1])
    } else {
      suppressPackageStartupMessages(library(coxme))
      tm <- system.time(fit <- coxme(Surv(time, status) ~ trt + x + strata(trial) + (trt | trial),
                                     data = d))
      res <- list(estimate = unname(fixef(fit)["trt"]), se = unname(sqrt(diag(vcov(fit)))[1]),
                  tau2 = unname(VarCorr(fit)$trial[1]))
    }
    res$seconds <- unname(tm["elapsed"])
    cat(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA), "\\n")
""")


def run_r(kind: str, path: Path, nagq: int, work: Path, timeout: float) -> dict | None:
    if shutil.which("Rscript") is None:
        print("  R: Rscript not found, skipped")
        return None
    script = work / "bench_one_stage.R"
    script.write_text(R_SCRIPT)
    try:
        p = subprocess.run(["Rscript", str(script), kind, str(path), str(nagq)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  R: still running after {timeout:.0f} s; stopped")
        return {"seconds": None, "timeout": timeout}
    if p.returncode != 0:
        print(f"  R failed: {p.stderr.strip()[-300:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def report(label: str, seconds: float, res, r: dict | None) -> None:  # type: ignore[no-untyped-def]
    print(f"  ours      {seconds:8.2f} s   estimate {res.estimate:.6f}  se {res.se:.6f}  "
          f"tau2 {res.tau2:.6f}")
    if r is None:
        return
    if r.get("seconds") is None:
        print(f"  R         > {r['timeout']:.0f} s   -> ours / R < {seconds / r['timeout']:.3f}")
        return
    print(f"  R {label:7s} {r['seconds']:8.2f} s   estimate {r['estimate']:.6f}  "
          f"se {r['se']:.6f}  tau2 {r['tau2']:.6f}   -> ours / R = {seconds / r['seconds']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--nagq", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-timeout", type=float, default=1800.0)
    ap.add_argument("--with-lmm", action="store_true")
    ap.add_argument("--with-cox", action="store_true")
    args = ap.parse_args()
    data = make_data(args.n, args.trials, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "ipd.csv"
        data.to_csv(path, index=False)
        print(f"data: {args.n:,} participants in {args.trials} trials")

        print(f"\n1. logistic GLMM, random treatment effect, nAGQ = {args.nagq}")
        t0 = time.perf_counter()
        res = one_stage(data, trial="trial", treatment="trt", outcome="y", model="logistic",
                        adjust=["x"], nagq=args.nagq)
        report("glmer", time.perf_counter() - t0, res,
               None if args.no_r else run_r("glmm", path, args.nagq, work, args.r_timeout))

        if args.with_lmm:
            print("\n2. linear mixed model (REML), random treatment effect")
            t0 = time.perf_counter()
            res = one_stage(data, trial="trial", treatment="trt", outcome="cont", adjust=["x"])
            report("lmer", time.perf_counter() - t0, res,
                   None if args.no_r else run_r("lmm", path, 1, work, args.r_timeout))

        if args.with_cox:
            print("\n3. Cox stratified by trial, random treatment effect")
            t0 = time.perf_counter()
            res = one_stage(data, trial="trial", treatment="trt", time="time", event="status",
                            model="cox", adjust=["x"])
            report("coxme", time.perf_counter() - t0, res,
                   None if args.no_r else run_r("cox", path, 1, work, args.r_timeout))


if __name__ == "__main__":
    main()
