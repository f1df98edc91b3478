r"""Synthetic runs from published parameters, for the demo, examples and recovery tests.

Runs follow the package's own generative model: Chinchilla's fitted law (Hoffmann et al. 2022,
Approach 3: E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28) on an IsoFLOP design,
with a per-configuration discrepancy (sd ``tau``) and seed noise whose sd shrinks with size,
:math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}`, on log loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import laws
from .runs import Runs

#: Hoffmann et al. (2022) Approach-3 estimates, the demo's ground truth.
CHINCHILLA_PARAMS = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
#: Noise used by the demo: 1% seed sd at 100M params, shrinking as N^-0.2; 0.4% discrepancy.
DEMO_NOISE = {"sigma_ref": 0.01, "n_ref": 1e8, "gamma": 0.2, "tau": 0.004}


def chinchilla_runs(
    n_configs: int = 200,
    *,
    flops_range: tuple[float, float] = (1e18, 1e21),
    n_budgets: int = 8,
    replicate_every: int = 4,
    n_replicates: int = 3,
    params: dict | None = None,
    noise: dict | None = None,
    random_seed: int = 0,
) -> Runs:
    """An IsoFLOP grid of runs drawn from the Chinchilla law with heteroscedastic seed noise.

    ``n_configs`` configurations over ``n_budgets`` log-spaced budgets; at each budget the
    model sizes span 1/8x to 8x the true compute-optimal N. Every ``replicate_every``-th
    configuration is trained with ``n_replicates`` seeds.
    """
    p = {**CHINCHILLA_PARAMS, **(params or {})}
    z = {**DEMO_NOISE, **(noise or {})}
    rng = np.random.default_rng(random_seed)
    budgets = np.geomspace(*flops_range, n_budgets)
    per_budget = np.full(n_budgets, n_configs // n_budgets)
    per_budget[: n_configs % n_budgets] += 1
    rows = []
    config = 0
    for c, k in zip(budgets, per_budget, strict=True):
        n_opt = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"])
        for n in np.geomspace(n_opt / 8, n_opt * 8, k):
            n = float(np.round(n, -3))
            d = float(c / (6 * n))
            log_mu = np.log(laws.chinchilla_loss(n, d, **p))
            delta = rng.normal(0.0, z["tau"])
            sd = z["sigma_ref"] * (n / z["n_ref"]) ** (-z["gamma"])
            seeds = n_replicates if config % replicate_every == 0 else 1
            for seed in range(seeds):
                loss = float(np.exp(log_mu + delta + rng.normal(0.0, sd)))
                rows.append({"run_id": f"c{config:03d}-s{seed}", "seed": seed, "params": n, "tokens": d, "loss": loss})
            config += 1
    return Runs.from_frame(pd.DataFrame(rows))


def chinchilla_optimum(flops, params: dict | None = None, flops_per_param_token: float = 6.0):
    """True compute-optimal (N*, D*) of the generating law at budget(s) ``flops``."""
    p = {**CHINCHILLA_PARAMS, **(params or {})}
    n = laws.chinchilla_optimal_params(
        np.asarray(flops, dtype=float), p["A"], p["B"], p["alpha"], p["beta"], flops_per_param_token
    )
    return n, np.asarray(flops, dtype=float) / (flops_per_param_token * n)
