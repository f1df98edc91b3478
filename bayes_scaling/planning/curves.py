"""Decisions from curve forecasts: which schedule reaches a target loss soonest, and will a run in
progress reach it (numpy only, from :class:`~bayes_scaling.forecast.curves.CurveForecast` draws).

The draws of forecasts made from one fit are paired by posterior draw (row ``i`` of every
forecast uses the same parameters), so "which is fastest" is asked per draw, and the parameter
uncertainty the schedules share cancels out of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import SpecError


def schedule_race(forecasts: Mapping, target: float, prob: float = 0.9) -> pd.DataFrame:
    """For each ``{name: CurveForecast}``: the probability that the loss reaches ``target`` by the
    forecast's last step, the first step at which it does (median and ``prob`` interval over
    the draws that reach it), and the probability that it is the first of them to get there
    (ties shared; a draw that never reaches it is last)."""
    if not forecasts:
        raise SpecError("schedule_race needs at least one forecast")
    target = float(target)
    if not np.isfinite(target) or target <= 0:
        raise SpecError(f"the target loss must be a number > 0 (nats per token), got {target!r}")
    n = {f.draws.shape[0] for f in forecasts.values()}
    if len(n) != 1:
        raise SpecError("the forecasts must come from one fit (the same number of draws), to be compared draw by draw")
    first = {name: f.first_below(target) for name, f in forecasts.items()}
    steps = np.column_stack([np.where(np.isnan(v), np.inf, v) for v in first.values()])
    best = steps.min(axis=1, keepdims=True)
    winners = (steps == best) & np.isfinite(best)
    share = np.where(winners, 1.0 / np.maximum(winners.sum(axis=1, keepdims=True), 1), 0.0).mean(axis=0)
    rows = []
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    for (name, f), fastest in zip(forecasts.items(), share, strict=True):
        hit = first[name][np.isfinite(first[name])]
        rows.append(
            {
                "schedule": name,
                "last_step": int(f.steps[-1]),
                "p_reach": hit.size / first[name].size,
                "first_step_median": np.median(hit) if hit.size else np.nan,
                "first_step_lo": np.quantile(hit, lo_q) if hit.size else np.nan,
                "first_step_hi": np.quantile(hit, hi_q) if hit.size else np.nan,
                "p_fastest": fastest,
            }
        )
    table = pd.DataFrame(rows).set_index("schedule")
    table.attrs["target"] = target
    return table
