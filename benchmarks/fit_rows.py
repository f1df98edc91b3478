"""Fit time against the number of rows, up to the ~50k-row hitchhiker_colpret checkpoint table.

    .venv/bin/python benchmarks/fit_rows.py [--sizes 100 1000 5000 20000 49823]

A *cost* benchmark: nested random subsets of ../shared/data/hitchhiker_colpret.csv (all 8
families pooled, every checkpoint a row of its own (run ids dropped, so the final-loss law is
not narrowed to final checkpoints), plausibility checks off; the pooled law means nothing
physically, the point is how the cost grows). Rows enter the likelihood through per-
configuration sufficient statistics (mean and within sum of squares of log loss), so the
sampler's cost grows with distinct (N, D) pairs, linearly. Each size is fitted in a fresh
process (4 chains x 1000 draws, default sampler) and timed as a whole and per phase.

Writes benchmarks/results/fit_rows.md and fit_rows.png (log-log). Target: 50k rows <= 120 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hitchhiker_colpret.csv"
RESULTS = REPO / "benchmarks" / "results"

ONE = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import pandas as pd, bayes_scaling as bs
frame = pd.read_csv(sys.argv[1])
# Every row as data: without run ids a row is its own run (a final-loss law would otherwise be
# fitted to each run's last checkpoint only, which is right for a forecast, not for this cost).
frame = frame.drop(columns=[c for c in ("run_id", "step", "is_final_checkpoint") if c in frame])
runs = bs.Runs.from_frame(frame, plausibility=False)
t_runs = time.perf_counter() - t0
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bs.SamplingWarning)
    t0 = time.perf_counter()
    fit = bs.fit(runs, random_seed=0, progressbar=False)
    t_fit = time.perf_counter() - t0
d = fit.diagnostics(model_checks=False)
print(json.dumps({"configs": int(len(runs.configs)), "load+validate": t_runs, "fit": t_fit,
                  "sampling": float(fit.idata["posterior"].attrs.get("sampling_time", float("nan"))),
                  "max_rhat": float(d["r_hat"].max()), "min_ess_bulk": float(d["ess_bulk"].min())}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 20000, 0], help="0 = all rows")
    ap.add_argument("--repeats", type=int, default=3, help="processes for the largest size (the target); median")
    args = ap.parse_args(argv)
    if not DATA.is_file():
        sys.exit(f"error: {DATA} not found (the benchmark needs ../shared/data beside the repository)")
    # Exact duplicate rows (digitised curves repeat points) would be replicate seeds with equal
    # losses, which fit() refuses (zero seed noise): keep one of each.
    df = pd.read_csv(DATA)[["params", "tokens", "loss"]].drop_duplicates(ignore_index=True)
    order = np.random.default_rng(0).permutation(len(df))
    tmp = Path(tempfile.mkdtemp(prefix="bs-fit-rows-"))
    rows = []
    for size in args.sizes:
        size = size or len(df)
        csv = tmp / f"rows_{size}.csv"
        df.iloc[order[:size]].to_csv(csv, index=False)
        repeats = args.repeats if size == max(s or len(df) for s in args.sizes) else 1
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", ONE, str(csv)], capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"error: the fit of {size} rows failed:\n{out.stderr[-2000:]}")
            wall = time.perf_counter() - t0
            runs.append({"process s": round(wall, 1), **json.loads(out.stdout.strip().splitlines()[-1])})
            print(size, runs[-1], flush=True)
        middle = sorted(runs, key=lambda r: r["process s"])[len(runs) // 2]  # the median run
        rows.append({"rows": size, **middle, "processes": repeats})
    table = pd.DataFrame(rows).round(3)
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    ax.loglog(table["rows"], table["process s"], "o-", label="whole process")
    ax.loglog(table["rows"], table["sampling"], "s--", label="NUTS sampling")
    ax.loglog(
        table["rows"], table["fit"] - table["sampling"], "^:", label="fit minus sampling (compile, diagnostics, LOO)"
    )
    ax.axhline(120, color="grey", lw=1, ls="--", label="target at 50k rows: 120 s")
    ax.set(xlabel="rows (checkpoints)", ylabel="seconds", title="Fit time vs rows (hitchhiker_colpret)")
    ax.legend(fontsize=8)
    fig.savefig(RESULTS / "fit_rows.png", dpi=110)
    last = table.iloc[-1]
    text = "\n".join(
        [
            "# Fit time vs rows (hitchhiker_colpret checkpoints)",
            "",
            "`benchmarks/fit_rows.py`: nested random subsets of all rows (exact duplicates dropped; 8 families pooled, plausibility "
            "checks off: a cost benchmark, not a meaningful law), 4 chains x 1000 draws, one fresh process per size "
            "(the largest: median of --repeats processes), 2-core machine. `configs` = distinct (N, D) pairs, what the likelihood's cost grows with.",
            "",
            table.to_markdown(index=False),
            "",
            f"At {int(last['rows'])} rows: {last['process s']:.0f} s whole process, the median of "
            f"{int(last['processes'])} processes (target <= 120 s): "
            + ("met." if last["process s"] <= 120 else "NOT met."),
            "",
            "![fit time vs rows](fit_rows.png)",
            "",
        ]
    )
    print(text)
    (RESULTS / "fit_rows.md").write_text(text)


if __name__ == "__main__":
    main()
