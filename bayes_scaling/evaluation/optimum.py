"""Legacy score of the compute-optimal allocation: forecasts of N*(C) against the raw vertex of
held-out IsoFLOP parabolas, as if it were exact.

Kept so that older results can be reproduced; it blames the forecast for the vertex estimator's
own noise and bias. Use :mod:`bayes_scaling.evaluation.allocation` (design-consistent) instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.runs import Runs
from ..laws.maths import chinchilla_optimal_params
from .baselines import approach2, approach3, isoflop_groups, isoflop_minimum


def score_optimum(train: Runs, test: Runs, fit=None, *, prob: float = 0.9, decimals: int = 1) -> pd.DataFrame:
    """Legacy: forecasts of the compute-optimal size N*(C) at held-out IsoFLOP budgets, scored
    against the raw parabola vertex (see :func:`bayes_scaling.evaluation.allocation.score_allocation`).

    The held-out runs are grouped into IsoFLOP budgets (log10 C rounded to ``decimals``); a group
    whose parabola in log N has an interior minimum gives an *empirical* N* (itself noisy).
    Scored against it: Approach 2 (power law through the fitted groups' minima), Approach 3
    (closed form at the point fit) and, if ``fit`` (a ScalingFit of ``train``) is given, the
    posterior median of N* and whether its central ``prob`` interval covers the empirical N*.
    One row per (budget, method): ``log10_error`` = log10(forecast / empirical).
    """
    labels = isoflop_groups(test.flops, decimals=decimals)
    k = train.flops_per_param_token
    try:
        a2 = approach2(train)
    except ValueError:
        a2 = None
    a3 = approach3(train)
    rows = []
    for label in np.unique(labels):
        sel = labels == label
        empirical = isoflop_minimum(test.params[sel], test.loss[sel])
        if empirical is None:
            continue
        c = float(np.median(test.flops[sel]))
        forecasts = {"approach3": float(chinchilla_optimal_params(c, a3.A, a3.B, a3.alpha, a3.beta, k))}
        if a2 is not None:
            forecasts["approach2"] = float(a2.optimal_params(c))
        intervals = {}
        if fit is not None:
            draws = fit.optimal_draws([c])["params"][:, 0]
            forecasts["bayes_scaling"] = float(np.median(draws))
            intervals["bayes_scaling"] = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
        for method, value in forecasts.items():
            lo, hi = intervals.get(method, (np.nan, np.nan))
            rows.append(
                {
                    "method": method,
                    "flops": c,
                    "extrapolation": c / train.flops.max(),
                    "empirical_params": empirical,
                    "forecast_params": value,
                    "log10_error": np.log10(value / empirical),
                    "lo": lo,
                    "hi": hi,
                    "covered": bool(lo <= empirical <= hi) if np.isfinite(lo) else np.nan,
                    "runs_in_group": int(sel.sum()),
                }
            )
    return pd.DataFrame(rows)
