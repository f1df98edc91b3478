"""Simulation-based calibration of the default model: rank table and histograms.

    .venv/bin/python benchmarks/sbc.py [--n-sims 200]

Writes benchmarks/results/sbc.md and sbc_ranks.png (the slow test asserts the same figures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.viz import plots  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-sims", type=int, default=200)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = bs.sbc(n_sims=args.n_sims, random_seed=0)
    elapsed = time.perf_counter() - t0
    table = result.uniformity().assign(p_value=lambda t: t["p_value"].round(3), chi2=lambda t: t["chi2"].round(1))
    lines = [
        "# Simulation-based calibration of the default model",
        "",
        f"`benchmarks/sbc.py`: {args.n_sims} data sets simulated from the prior on a fixed design of 40 synthetic "
        f"Chinchilla configurations (every 4th with 3 seeds), each refitted with nutpie (2 chains x 300 draws, "
        f"thinned by 3: ranks 0..{result.n_ranks - 1}); {elapsed:.0f} s on this 2-core machine. Chi-square test "
        "of uniform ranks over 10 bins per parameter (target p > 0.01).",
        "",
        table.to_markdown(),
        "",
        f"Divergences: {int(result.diagnostics['divergences'].sum())} in all, in "
        f"{int((result.diagnostics['divergences'] > 0).sum())} of {args.n_sims} fits.",
        "",
        "![SBC rank histograms](sbc_ranks.png)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sbc.md").write_text(text)
    fig = plots.sbc_ranks(result)
    fig.savefig(RESULTS / "sbc_ranks.png", dpi=110)


if __name__ == "__main__":
    main()
