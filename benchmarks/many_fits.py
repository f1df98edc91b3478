"""Many fits: one backtest over datasets x cutoffs x laws, in this process, on local worker
processes and on a local Dask cluster.

    .venv/bin/python benchmarks/many_fits.py [--cases 2] [--laws chinchilla kaplan]

Data: the first ``--cases`` backtest cases of ``benchmarks/datasets.py`` (real runs from
../shared/data, read in place), both of their cutoffs, each law fitted by NUTS (4 chains x 1000
draws, the defaults). The same ``bs.backtest`` call is timed with ``executor=None`` (one fit
after another in this process), ``"process"`` (the default ``"auto"`` picks it here: two or more
NUTS fits, two cores) and ``"dask"`` (a fresh local cluster of two single-threaded worker
processes). Each run is checked to give the same table as the serial one (same seeds, same
draws). Worker start-up (imports) is inside the times.

Writes benchmarks/results/many_fits.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATA, cases  # noqa: E402

import bayes_scaling as bs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=2)
    ap.add_argument("--laws", nargs="+", default=["chinchilla", "kaplan"])
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"error: {DATA} not found (the benchmark needs ../shared/data beside the repository)")
    chosen = cases()[: args.cases]
    datasets = {f"{c.dataset}/{c.family}": c.runs for c in chosen}
    holdout = {f"{c.dataset}/{c.family}": list(c.cutoffs) for c in chosen}
    n_fits = sum(len(h) for h in holdout.values()) * len(args.laws)
    call = {"law": args.laws, "holdout": holdout, "methods": ["bayes_scaling"], "random_seed": 0}

    rows, tables = [], {}
    for executor in (None, "process", "dask"):
        if executor == "dask":
            try:
                import distributed  # noqa: F401
            except ImportError:
                rows.append({"executor": "dask", "wall s": np.nan, "note": "distributed not installed"})
                continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = bs.backtest(datasets, executor=executor, **call)
        wall = time.perf_counter() - t0
        tables[executor] = bt.table
        rows.append({"executor": str(executor), "wall s": wall, "failures": len(bt.failures)})
        print(rows[-1], flush=True)

    serial = rows[0]["wall s"]
    for row in rows:
        row["fits"] = n_fits
        row["s per fit"] = row["wall s"] / n_fits
        row["speed-up vs serial"] = serial / row["wall s"]
        key = None if row["executor"] == "None" else row["executor"]
        if key in tables:
            same = tables[key].equals(tables[None])
            row["same table as serial"] = same
    table = pd.DataFrame(rows)
    for col in ("wall s", "s per fit", "speed-up vs serial"):
        table[col] = table[col].round(2)
    lines = [
        "# Many fits: one backtest over datasets x cutoffs x laws",
        "",
        f"`benchmarks/many_fits.py`, {bs.__version__}, {os.cpu_count()}-core machine. "
        f"{len(datasets)} datasets ({', '.join(datasets)}), their cutoffs, laws {args.laws}: "
        f"{n_fits} NUTS fits (4 chains x 1000 draws) in one `bs.backtest` call. "
        "`None` = one after another in this process; `process` = local worker processes (what the "
        "default `executor='auto'` picks here); `dask` = a fresh local Dask cluster (2 workers x 1 thread). "
        "Times include starting the workers.",
        "",
        table.to_markdown(index=False),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (RESULTS / "many_fits.md").write_text(text)


if __name__ == "__main__":
    main()
