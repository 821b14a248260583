"""Benchmark: many random-effects pools at once.

    .venv/bin/python tests/benchmarks/bench_pooling.py [--pools 10000] [--k 20] [--r-pools 1000]

Times, in one run on the same simulated data (seeded):

* ``analyses.pool_many`` - 10,000 REML pools of 20 studies as (10000, 20) arrays;
* the scalar ``analyses.pool`` in a Python loop (same numbers; Q-profile CIs off);
* statsmodels' ``combine_effects`` in a loop (its default Paule-Mandel "iterated" estimator:
  statsmodels has no REML) - the goal is pool_many >= 100x faster than this;
* metafor ``rma(method="REML")`` looped inside one Rscript process when Rscript is present
  (over ``--r-pools`` pools, timed inside R to leave out start-up, scaled per pool).

Every figure is printed as a ratio against pool_many measured in the same run, and the
largest difference between pool_many and metafor's estimates and tau^2 is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analyses.batch import pool_many  # noqa: E402
from analyses.pooling import pool  # noqa: E402
from repository.errors import ConvergenceError  # noqa: E402


def simulate(n: int, k: int, seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.1, size=(n, k))
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return yi, vi


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_metafor(yi: np.ndarray, vi: np.ndarray) -> tuple[float, np.ndarray] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        np.savetxt(Path(tmp) / "yi.csv", yi, delimiter=",")
        np.savetxt(Path(tmp) / "vi.csv", vi, delimiter=",")
        script = Path(tmp) / "bench.R"
        script.write_text(f"""
suppressMessages(library(metafor))
yi <- as.matrix(read.csv("{tmp}/yi.csv", header = FALSE))
vi <- as.matrix(read.csv("{tmp}/vi.csv", header = FALSE))
out <- matrix(NA_real_, nrow(yi), 2)
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(nrow(yi))) {{
  fit <- try(rma(yi[i, ], vi[i, ], method = "REML"), silent = TRUE)
  if (!inherits(fit, "try-error")) out[i, ] <- c(fit$beta, fit$tau2)
}}
el <- proc.time()[["elapsed"]] - t0
write.table(out, "{tmp}/out.csv", sep = ",", row.names = FALSE, col.names = FALSE, na = "nan")
cat(el, "\\n")
""")
        proc = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            print("metafor run failed:", proc.stderr[-500:])
            return None
        elapsed = float(proc.stdout.strip().split()[-1])
        out = np.loadtxt(Path(tmp) / "out.csv", delimiter=",", ndmin=2)
        return elapsed, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--r-pools", type=int, default=1_000,
                    help="pools to time in metafor (scaled per pool); 0 to skip R")
    ap.add_argument("--loop-pools", type=int, default=2_000,
                    help="pools to time for the Python loops (scaled per pool)")
    args = ap.parse_args()
    yi, vi = simulate(args.pools, args.k)
    n = args.pools

    res = pool_many(yi, vi, method="REML", errors="flag")
    t_batch = best_of(lambda: pool_many(yi, vi, method="REML", errors="flag"))
    t_batch_dl = best_of(lambda: pool_many(yi, vi, method="DL"))
    print(f"{n} pools of k={args.k} studies; {len(res.failed)} REML pools did not converge "
          "(flagged)")
    print(f"pool_many REML       : {t_batch:8.4f} s  ({t_batch / n * 1e6:7.2f} us/pool)   "
          "ratio 1 (reference)")
    print(f"pool_many DL         : {t_batch_dl:8.4f} s  ({t_batch_dl / n * 1e6:7.2f} us/pool)"
          f"   ratio {t_batch_dl / t_batch:.2f}")

    m = min(args.loop_pools, n)

    def loop_pool() -> None:
        for i in range(m):
            with contextlib.suppress(ConvergenceError):
                pool(yi[i], vi[i], method="REML", qprofile=False)

    t_loop = best_of(loop_pool, repeat=1) * n / m
    print(f"loop analyses.pool   : {t_loop:8.4f} s  (scaled from {m} pools)          "
          f"ratio {t_loop / t_batch:8.1f}x slower than pool_many")

    from statsmodels.stats.meta_analysis import combine_effects

    def loop_sm() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(m):
                combine_effects(yi[i], vi[i], method_re="iterated")

    t_sm = best_of(loop_sm, repeat=1) * n / m
    ratio_sm = t_sm / t_batch
    print(f"loop statsmodels     : {t_sm:8.4f} s  (combine_effects PM, scaled from {m})  "
          f"ratio {ratio_sm:8.1f}x slower than pool_many  [goal >= 100x: "
          f"{'met' if ratio_sm >= 100 else 'NOT met'}]")

    if args.r_pools > 0:
        r = min(args.r_pools, n)
        got = time_metafor(yi[:r], vi[:r])
        if got is None:
            print("metafor              : Rscript not available, skipped")
        else:
            el, out = got
            t_r = el * n / r
            ok = ~np.isnan(out[:, 0]) & res.converged[:r]
            d_est = np.max(np.abs(out[ok, 0] - res.estimate[:r][ok]))
            d_tau = np.max(np.abs(out[ok, 1] - res.tau2[:r][ok]))
            print(f"loop metafor rma     : {t_r:8.4f} s  (timed in R on {r} pools, scaled)  "
                  f"ratio {t_r / t_batch:8.1f}x slower than pool_many")
            print(f"agreement with metafor on {ok.sum()} pools: max |d estimate| = "
                  f"{d_est:.2e}, max |d tau2| = {d_tau:.2e}")


if __name__ == "__main__":
    main()
