"""Sampler diagnostics of a posterior DataTree: R-hat, bulk/tail ESS and divergences, each failed
check in words with what to do (Vehtari et al. 2021 thresholds)."""

from __future__ import annotations

import pandas as pd

from .. import _constants as K
from ..errors import SpecError

#: Diagnostic thresholds (Vehtari et al. 2021): R-hat above, bulk/tail ESS below (per chain x 4).
RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
#: Power-scaling sensitivity above which a posterior counts as sensitive (ArviZ's default).
PSENSE_THRESHOLD = 0.05


def diagnostics_table(idata, parameters) -> pd.DataFrame:
    import arviz as az

    if "posterior" not in idata:
        raise SpecError("diagnostics need posterior draws (this holds prior draws only)")
    post = idata["posterior"].to_dataset()[list(parameters)]
    n_chains = post.sizes[K.CHAIN]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    ess_min = ESS_MIN_PER_CHAIN * n_chains
    table = pd.DataFrame(
        {
            "r_hat": [float(rhat[p]) for p in parameters],
            "ess_bulk": [float(ess_bulk[p]) for p in parameters],
            "ess_tail": [float(ess_tail[p]) for p in parameters],
        },
        index=pd.Index(parameters, name="parameter"),
    )
    table["ok"] = (table["r_hat"] <= RHAT_MAX) & (table["ess_bulk"] >= ess_min) & (table["ess_tail"] >= ess_min)
    n_div = 0
    if "sample_stats" in idata and "diverging" in idata["sample_stats"].to_dataset():
        n_div = int(idata["sample_stats"].to_dataset()["diverging"].values.sum())
    problems = []
    if n_div:
        problems.append(
            f"{n_div} divergent transition(s): the posterior has regions NUTS cannot explore; "
            "try target_accept=0.95-0.99, tighter priors on the exponents, or check for outlier runs"
        )
    bad_rhat = table.index[table["r_hat"] > RHAT_MAX].tolist()
    if bad_rhat:
        problems.append(
            f"R-hat > {RHAT_MAX} for {bad_rhat}: chains disagree; run more tune/draws or check for "
            "multiple modes (e.g. an irreducible loss against the amplitudes when few runs approach convergence)"
        )
    low_ess = table.index[(table["ess_bulk"] < ess_min) | (table["ess_tail"] < ess_min)].tolist()
    if low_ess:
        problems.append(f"effective sample size below {ess_min} for {low_ess}: intervals are imprecise; run more draws")
    table.attrs["n_divergences"] = n_div
    table.attrs["problems"] = problems
    return table
