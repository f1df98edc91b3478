"""Forecast throughput: median + 90% interval of the new-run loss at many (N, D) points.

    .venv/bin/python benchmarks/predict_throughput.py

Loads the demo posterior (4000 draws) and times ``ScalingFit.predict_summary`` (chunked:
memory bounded) and ``predict`` + ``Forecast.median`` / ``interval`` (all draws kept) at 1e4,
1e5, 1e6 and (with every 10th draw) 1e7 points; median of 3 runs, peak RSS growth. Writes
benchmarks/results/predict_throughput.md. Targets: 1e4 points <= 1 s, 1e5 <= 10 s, 1e7 bounded.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def points(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    return 10 ** rng.uniform(8, 12, n), 10 ** rng.uniform(9, 13, n)


def main():
    fit = bs.load(REPO / "models" / "chinchilla_demo.nc")
    rng = np.random.default_rng(0)
    rows = []
    # 1e7 points x 4000 draws is 4e10 law evaluations (about 15 min here); memory does not depend
    # on the number of draws, so the 1e7 row uses every 10th draw to show the bound quickly.
    thinned = bs.ScalingFit(
        fit.idata.isel(draw=slice(None, None, 10)),
        spec_dict=fit.spec_dict,
        scale=fit.scale,
        flops_per_param_token=fit.flops_per_param_token,
    )
    # Chunked summaries first: peak RSS only grows, and predict keeps every draw.
    cases = (
        (fit, 10_000, 3, ("summary",)),
        (fit, 100_000, 3, ("summary",)),
        (fit, 1_000_000, 1, ("summary",)),
        (thinned, 10_000_000, 1, ("summary",)),
        (fit, 10_000, 3, ("predict",)),
        (fit, 100_000, 1, ("predict",)),
    )
    for post, n_points, repeats, methods in cases:
        n, d = points(n_points, rng)
        for method in methods:
            times = []
            before = peak_mb()
            for _ in range(repeats):
                t0 = time.perf_counter()
                if method == "summary":
                    post.predict_summary(n, d, probs=(0.9,))
                else:
                    fc = post.predict(n, d)
                    fc.median, fc.interval(0.9)
                    del fc
                times.append(time.perf_counter() - t0)
            rows.append(
                {
                    "points": f"{n_points:.0e}",
                    "draws": post.n_draws,
                    "method": "predict_summary (chunked)" if method == "summary" else "predict + median + interval",
                    "median s": round(float(np.median(times)), 2),
                    "runs": repeats,
                    "peak RSS growth MB": round(peak_mb() - before),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    text = "\n".join(
        [
            "# Forecast throughput",
            "",
            "`benchmarks/predict_throughput.py` on the demo posterior, new-run kind, median + 90% interval, "
            "2-core machine. Targets: 1e4 points <= 1 s, 1e5 <= 10 s, memory bounded at 1e7 "
            "(peak RSS growth is cumulative: a step that needs no more memory than an earlier one shows 0).",
            "",
            table.to_markdown(index=False),
            "",
        ]
    )
    print(text)
    (RESULTS / "predict_throughput.md").write_text(text)


if __name__ == "__main__":
    main()
