"""Simulation-based calibration (Talts et al. 2018): ranks of the true parameters among the
posterior draws over many simulated data sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.runs import Runs
from ..data.synthetic import chinchilla_runs


@dataclass
class SBCResult:
    """Simulation-based calibration (Talts et al. 2018): ``ranks`` has one row per simulation and
    one column per parameter, the rank of the true value among ``n_ranks - 1`` thinned
    posterior draws (uniform on 0..n_ranks-1 when the inference is calibrated)."""

    ranks: pd.DataFrame
    n_ranks: int
    diagnostics: pd.DataFrame

    def uniformity(self, bins: int = 10, alpha: float = 0.01) -> pd.DataFrame:
        """Chi-square test of uniform ranks per parameter (``bins`` equal bins).

        Columns: the statistic ``chi2``, its ``p_value``, ``p_holm`` (the p-value adjusted by
        Holm's step-down method over all the parameters tested, so that one threshold bounds
        the chance that *any* calibrated parameter is flagged), ``uniform`` (``p_holm > alpha``:
        with every parameter calibrated, all pass with probability at least ``1 - alpha``) and
        ``n_sims``. Testing nine parameters each at p > 0.01 would flag a calibrated model
        about one time in 12 (1 - 0.99^9); the Holm-adjusted threshold keeps that at ``alpha``.
        """
        from scipy import stats

        edges = np.linspace(0, self.n_ranks, bins + 1)
        rows = {}
        for name, ranks in self.ranks.items():
            counts, _ = np.histogram(ranks, bins=edges)
            chi2, p = stats.chisquare(counts)
            rows[name] = {"chi2": float(chi2), "p_value": float(p), "n_sims": len(ranks)}
        table = pd.DataFrame(rows).T
        if table.empty:
            return table
        table["n_sims"] = table["n_sims"].astype(int)
        table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
        table["uniform"] = table["p_holm"] > alpha
        return table[["chi2", "p_value", "p_holm", "uniform", "n_sims"]]


def holm(p_values) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values: the family-wise error rate over all the tests
    stays at most the threshold they are compared with, whatever their dependence.

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def sbc(
    n_sims: int = 200,
    *,
    runs: Runs | None = None,
    model=None,
    draws: int = 300,
    tune: int = 300,
    chains: int = 2,
    thin: int = 3,
    random_seed: int = 0,
    progress: bool = False,
) -> SBCResult:
    """Simulation-based calibration of a model on a fixed design of runs.

    Parameters and outcomes are drawn from the model's prior (with the reference sizes fixed
    from ``runs``, default: 40 synthetic Chinchilla configurations), each simulated data set is
    refitted with NUTS (nutpie, one compiled model for all of them), and the rank of each true
    parameter among the thinned posterior draws is recorded. Ranks are uniform when the sampler
    and the model's maths are right; a U shape means over-confident posteriors, a hump
    under-confident ones, a slope bias.
    """
    import nutpie
    import pymc as pm
    import pytensor

    from ..inference.model import ScalingModel, build_model, data_scale
    from ..inference.sampling import nuts_options

    runs = runs if runs is not None else chinchilla_runs(n_configs=40, random_seed=random_seed)
    spec = model if model is not None else ScalingModel()
    scale = data_scale(runs)
    pm_model = build_model(spec, runs, scale, mutable_observations=True)
    names = [*spec.law_component.reported, *spec.noise.reported]
    with pm_model:
        prior = pm.sample_prior_predictive(draws=n_sims, random_seed=random_seed)
    truth = {n: prior["prior"][n].values.reshape(-1) for n in names}
    sims = {
        k: prior["prior_predictive"][k].values.reshape(n_sims, -1)
        for k in ("mean_log_loss", "within_ss")
        if k in prior["prior_predictive"]
    }
    with pytensor.config.change_flags(numba__fastmath=False):
        compiled = nutpie.compile_pymc_model(pm_model)
    rows, diag = [], []
    for i in range(n_sims):
        updates = {"mean_log_loss_obs": sims["mean_log_loss"][i]}
        if "within_ss" in sims:
            updates["within_ss_obs"] = sims["within_ss"][i]
        trace = nutpie.sample(
            compiled.with_data(**updates),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_seed + 1 + i,
            progress_bar=False,
            **nuts_options("nutpie", 0.9),  # the settings fit() uses
        )
        post = trace["posterior"]
        rows.append({n: int((post[n].values[:, ::thin].reshape(-1) < truth[n][i]).sum()) for n in names})
        diag.append({"divergences": int(trace["sample_stats"]["diverging"].values.sum())})
        if progress:
            print(f"sbc {i + 1}/{n_sims}", flush=True)
    n_ranks = chains * len(range(0, draws, thin)) + 1
    return SBCResult(ranks=pd.DataFrame(rows), n_ranks=n_ranks, diagnostics=pd.DataFrame(diag))
