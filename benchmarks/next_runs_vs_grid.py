"""Does following next_runs shrink the interval on D*(1e24) faster than a uniform IsoFLOP grid?

Start: a small synthetic study (Chinchilla's law, 16 configurations at 1e17-1e18 FLOPs). Both
arms spend the same extra compute. The uniform arm trains an IsoFLOP grid: 5 sizes at each of
3e18, 1e19 and 3e19 FLOPs. The advised arm lets `next_runs` pick from the same 15 candidates
plus 15 more (one size multiplier either side), under the grid's total compute. New outcomes
are drawn from the true law with the generator's noise; each arm is refitted with NUTS and
the 90% interval of D*(1e24) is compared (width as the ratio hi/lo).

    python benchmarks/next_runs_vs_grid.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling import laws, planning
from bayes_scaling.data.synthetic import CHINCHILLA_PARAMS, DEMO_NOISE, chinchilla_optimum

TARGET = 1e24
BUDGETS = (3e18, 1e19, 3e19)
GRID_MULT = (1 / 8, 1 / 3, 1, 3, 8)
EXTRA_MULT = (1 / 16, 1 / 5, 1 / 2, 2, 5, 16)


def simulate(points, rng):
    """Losses of new single-seed runs at (N, D) from the true law and the demo noise model."""
    p, z = CHINCHILLA_PARAMS, DEMO_NOISE
    rows = []
    for n, d in points:
        sd = z["sigma_ref"] * (n / z["n_ref"]) ** (-z["gamma"])
        log_l = np.log(laws.chinchilla_loss(n, d, **p)) + rng.normal(0, z["tau"]) + rng.normal(0, sd)
        rows.append({"params": n, "tokens": d, "loss": float(np.exp(log_l))})
    return pd.DataFrame(rows)


def isoflop(budgets, mults):
    out = []
    for c in budgets:
        n_opt = float(chinchilla_optimum(c)[0])
        out += [(n_opt * m, c / (6 * n_opt * m)) for m in mults]
    return out


def width(fit):
    lo, hi = fit.compute_optimal([TARGET], prob=0.9)[["tokens_lo", "tokens_hi"]].iloc[0]
    return hi / lo


def one(seed):
    base = bs.synthetic.chinchilla_runs(
        n_configs=16, flops_range=(1e17, 1e18), n_budgets=4, random_seed=seed
    ).to_frame()
    base = base[["params", "tokens", "loss"]]
    fit0 = bs.fit(bs.Runs.from_frame(base), random_seed=seed, progressbar=False)
    grid = isoflop(BUDGETS, GRID_MULT)
    budget = sum(6 * n * d for n, d in grid)
    candidates = grid + isoflop(BUDGETS, EXTRA_MULT)
    start = time.perf_counter()
    advice = planning.next_runs(fit0, candidates, budget_flops=budget, target_flops=TARGET, random_seed=seed)
    advice_s = time.perf_counter() - start
    chosen = list(zip(advice["params"], advice["tokens"], strict=True))
    arms = {}
    for name, points in (("uniform grid", grid), ("next_runs", chosen)):
        data = pd.concat([base, simulate(points, np.random.default_rng([seed, len(name)]))], ignore_index=True)
        arms[name] = bs.fit(bs.Runs.from_frame(data), random_seed=seed, progressbar=False)
    return {
        "seed": seed,
        "before": width(fit0),
        "uniform grid": width(arms["uniform grid"]),
        "next_runs": width(arms["next_runs"]),
        "runs (grid / advised)": f"{len(grid)} / {len(chosen)}",
        "FLOPs (grid / advised)": f"{budget:.2e} / {advice['cumulative_flops'].iloc[-1]:.2e}",
        "advice time (s)": round(advice_s, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = [one(seed) for seed in range(args.repeats)]
    table = pd.DataFrame(rows).set_index("seed")
    print("90% interval of D*(1e24) as hi/lo ratio (smaller is better)")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    better = (table["next_runs"] < table["uniform grid"]).mean()
    print(
        f"\nnext_runs narrower in {better:.0%} of repeats; median ratio advised/grid = "
        f"{np.median(np.log(table['next_runs']) / np.log(table['uniform grid'])):.2f} (in log-width)"
    )
    return table


if __name__ == "__main__":
    main()
