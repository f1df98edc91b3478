r"""Synthetic runs from published parameters, for the demo, examples and recovery tests.

Runs follow the package's own generative model: Chinchilla's fitted law (Hoffmann et al. 2022,
Approach 3: E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28) on an IsoFLOP design,
with a per-configuration discrepancy (sd ``tau``) and seed noise whose sd shrinks with size,
:math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}`, on log loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..laws import maths as laws
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


#: Kaplan et al. (2020) Table 2, the fit of eq. 1.5 (N without embeddings, D in tokens).
KAPLAN_PARAMS = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
#: Muennighoff et al. (2023) eq. 5-7 fit on C4: Chinchilla terms on effective N', D' and the
#: half-lives of repeated data (R*_D) and excess parameters (R*_N).
DATA_CONSTRAINED_PARAMS = {
    "E": 1.87,
    "A": 521.0,
    "B": 1488.0,
    "alpha": 0.35,
    "beta": 0.353,
    "R_D_star": 15.4,
    "R_N_star": 5.3,
}


def isoflop_grid(
    flops_range: tuple[float, float] = (1e18, 1e21),
    n_budgets: int = 8,
    per_budget: int = 12,
    tokens_per_param: tuple[float, float] = (2.0, 400.0),
) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) of an IsoFLOP design: ``per_budget`` sizes at each of ``n_budgets`` log-spaced
    budgets C = 6ND, spanning ``tokens_per_param`` (D/N) from its largest to its smallest."""
    n, d = [], []
    for c in np.geomspace(*flops_range, n_budgets):
        ratio = np.geomspace(tokens_per_param[1], tokens_per_param[0], per_budget)
        size = np.round(np.sqrt(c / (6.0 * ratio)), -3)
        n.append(size)
        d.append(c / (6.0 * size))
    return np.concatenate(n), np.concatenate(d)


def runs_from_law(
    mean_loss,
    params,
    tokens,
    *,
    unique_tokens=None,
    inputs: dict | None = None,
    noise: dict | None = None,
    replicate_every: int = 4,
    n_replicates: int = 3,
    random_seed: int = 0,
) -> Runs:
    r"""Runs whose expected loss is ``mean_loss(N, D)`` (or ``mean_loss(N, D, U)`` with
    ``unique_tokens``; ``mean_loss(N, D, **inputs)`` with other law inputs such as
    ``{"parallel_streams": P}``), with the package's noise model: a per-configuration discrepancy
    (sd ``tau``) and seed noise :math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}` on log loss
    (``noise`` overrides :data:`DEMO_NOISE`). Every ``replicate_every``-th configuration gets
    ``n_replicates`` seeds. The inputs become columns of the table."""
    z = {**DEMO_NOISE, **(noise or {})}
    rng = np.random.default_rng(random_seed)
    n = np.asarray(params, dtype=float)
    d = np.broadcast_to(np.asarray(tokens, dtype=float), n.shape)
    u = None if unique_tokens is None else np.broadcast_to(np.asarray(unique_tokens, dtype=float), n.shape)
    extra = {k: np.broadcast_to(np.asarray(v, dtype=float), n.shape) for k, v in (inputs or {}).items()}
    mean = mean_loss(n, d, **extra) if u is None else mean_loss(n, d, u, **extra)
    rows = []
    for j in range(n.size):
        delta = rng.normal(0.0, z["tau"])
        sd = z["sigma_ref"] * (n[j] / z["n_ref"]) ** (-z["gamma"])
        for seed in range(n_replicates if j % replicate_every == 0 else 1):
            row = {"run_id": f"c{j:03d}-s{seed}", "seed": seed, "params": n[j], "tokens": d[j]}
            if u is not None:
                row["unique_tokens"] = u[j]
            row.update({k: v[j] for k, v in extra.items()})
            row["loss"] = float(np.exp(np.log(mean[j]) + delta + rng.normal(0.0, sd)))
            rows.append(row)
    return Runs.from_frame(pd.DataFrame(rows))


def data_constrained_loss(n, d, u, E, A, B, alpha, beta, R_D_star, R_N_star):
    """Expected loss of Muennighoff et al.'s law evaluated directly (numpy)."""
    from ..laws import DataScale

    scale = DataScale(0.0, 0.0, 1.0, 1.0, 0.0)
    log_an, log_bd = laws.reference_from_amplitudes(A, B, alpha, beta, 0.0, 0.0)
    n_eff, d_eff = laws.data_constrained_sizes(
        np.log(n),
        np.log(d),
        np.log(u),
        alpha,
        beta,
        log_an,
        log_bd,
        R_N_star,
        R_D_star,
        scale.log_n_ref,
        scale.log_d_ref,
    )
    return laws.chinchilla_loss(np.exp(n_eff), np.exp(d_eff), E, A, B, alpha, beta)
