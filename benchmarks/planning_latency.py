"""How fast does a planning script answer from a saved posterior? (target: < 2 s, fresh process)

Each repeat starts a new Python process that imports bayes_scaling, loads the demo posterior
(4000 draws) and asks compute_for_target; the table gives the whole-process wall time and the
time of each phase measured inside the process.

    python benchmarks/planning_latency.py [--repeats 5] [--model models/chinchilla_demo.nc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import bayes_scaling as bs
from bayes_scaling import planning
t1 = time.perf_counter()
fit = bs.load(sys.argv[1])
t2 = time.perf_counter()
ans = planning.compute_for_target(fit, 1.95, prob=0.9)
t3 = time.perf_counter()
heavy = [m for m in ("pymc", "pytensor", "arviz") if m in sys.modules]
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "compute_for_target": t3 - t2, "flops": ans.flops, "heavy": heavy}))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "chinchilla_demo.nc"))
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, args.model], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        rows.append({"whole process": wall, **json.loads(out.stdout)})
    table = pd.DataFrame(rows)
    phases = ["whole process", "import", "load", "compute_for_target"]
    summary = table[phases].agg(["median", "min", "max"]).T.rename(columns=lambda c: f"{c} (s)")
    print(f"load + compute_for_target in a fresh process, {args.repeats} repeats (target: whole process < 2 s)")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"answer: {table['flops'].iloc[0]:.4g} FLOPs; heavy modules imported: {sorted(set(sum(table['heavy'], [])))}")
    ok = np.median(table["whole process"]) < 2.0
    print("target met" if ok else "TARGET MISSED")
    return table


if __name__ == "__main__":
    main()
