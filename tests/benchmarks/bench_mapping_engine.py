"""Benchmark: the mapping engine against pandas/pyarrow reading and writing the same data.

Generates the example topic (default 100 trials x 1,000,000 participants; ``--trials`` and
``--participants`` for a smaller run), writes each trial's mapping from its codebook, reads
every delivery once (not timed: reading raw files is ingest's business and has its own
benchmark), then times

* ``engine``: :func:`harmonise.apply_mapping` on every trial (all problems collected);
* ``dry run``: :func:`harmonise.check_mapping` on every trial;
* ``reference``: writing the harmonised tables as Parquet and reading them back with pandas
  (pyarrow), the cost of merely storing the same data.

and prints the times and the ratios engine / reference and dry run / reference. Run:
``.venv/bin/python tests/benchmarks/bench_mapping_engine.py [--trials 10 --participants 100000]``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _shared_example import ROOT, example_parser
from example_cache import single_file_trials


def main() -> None:
    parser = example_parser(__doc__, seed=20261123)
    parser.add_argument("--example", type=Path, help="an existing example directory to reuse")
    args = parser.parse_args()

    import pandas as pd
    import yaml

    from harmonise import apply_mapping, check_mapping, load_dictionary
    from harmonise.mapping.spec import Mapping
    from repository.example import create
    from repository.example.mappings import mapping_from_codebook
    from repository.formats import read_delivery

    dictionary = load_dictionary(ROOT / "dictionaries" / "gastric-adjuvant")
    with tempfile.TemporaryDirectory() as tmp:
        example = args.example
        if example is None:
            example = Path(tmp) / "example"
            t0 = time.perf_counter()
            create(example, trials=args.trials, participants=args.participants, seed=args.seed)
            print(f"generated {args.trials} trials, {args.participants:,} participants in "
                  f"{time.perf_counter() - t0:.1f} s")
        work = []
        t0 = time.perf_counter()
        for entry in single_file_trials(example):  # a package of datasets: bench_relational
            codebook = yaml.safe_load((example / "codebooks" / f"{entry['acronym']}.yaml")
                                      .read_text(encoding="utf-8"))
            mapping = Mapping.from_dict(mapping_from_codebook(codebook), dictionary=dictionary)
            raw = read_delivery(example / entry["delivery"]["file"],
                                options=dict(mapping.source.read_options),
                                id_column=mapping.id_column)
            work.append((mapping, raw))
        rows = sum(r.n_rows for _, r in work)
        print(f"read {len(work)} deliveries, {rows:,} rows in {time.perf_counter() - t0:.1f} s "
              "(not part of the comparison)")

        t0, c0 = time.perf_counter(), time.process_time()
        results = [apply_mapping(raw, mapping, dictionary) for mapping, raw in work]
        engine, engine_cpu = time.perf_counter() - t0, time.process_time() - c0
        problems = sum(len(r.problems) for r in results)

        t0, c0 = time.perf_counter(), time.process_time()
        checks = [check_mapping(mapping, dictionary, raw) for mapping, raw in work]
        dry, dry_cpu = time.perf_counter() - t0, time.process_time() - c0

        out = Path(tmp) / "parquet"
        out.mkdir()
        t0, c0 = time.perf_counter(), time.process_time()
        for r in results:
            r.data.to_parquet(out / f"{r.trial}.parquet", index=False)
        frames = [pd.read_parquet(out / f"{r.trial}.parquet") for r in results]
        reference, reference_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert sum(len(f) for f in frames) == rows

    print(f"engine:    {engine:7.2f} s wall, {engine_cpu:7.2f} s CPU  ({rows / engine:,.0f} "
          f"rows/s; {problems} problems collected)")
    print(f"dry run:   {dry:7.2f} s wall, {dry_cpu:7.2f} s CPU  "
          f"({sum(len(c.errors) for c in checks)} errors)")
    print(f"reference: {reference:7.2f} s wall, {reference_cpu:7.2f} s CPU  (pandas/pyarrow "
          "write + read of the harmonised tables as Parquet)")
    print(f"ratio engine / reference:  {engine / reference:5.2f} wall, "
          f"{engine_cpu / reference_cpu:5.2f} CPU")
    print(f"ratio dry run / reference: {dry / reference:5.2f} wall, "
          f"{dry_cpu / reference_cpu:5.2f} CPU")


if __name__ == "__main__":
    main()
