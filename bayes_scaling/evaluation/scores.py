r"""How honest are the intervals? Proper scores of a forecast against held-out runs.

A backtest fits on the runs an analyst would have had (below a compute cutoff, or all but the
largest model sizes) and scores forecasts of the held-out larger runs:

- coverage of the central 50/80/90/95% *new-run* intervals (does a new run land inside?);
- the probability integral transform :math:`\mathrm{PIT} = F(y)` (uniform when calibrated);
- CRPS, :math:`\mathbb{E}|X - y| - \tfrac12 \mathbb{E}|X - X'|`, on *log* loss (``crps_log``:
  about a relative error; for a point forecast it is :math:`|\log \hat L - \log y|`). On the
  loss itself it would not exist: a Student-t on log loss has no finite mean once exponentiated;
- the interval score of the 90% interval (Gneiting & Raftery 2007),
  :math:`(u - l) + \tfrac{2}{\alpha}(l - y)_+ + \tfrac{2}{\alpha}(y - u)_+`, :math:`\alpha = 0.1`;
- the absolute percent error of the median, and the extrapolation distance
  :math:`C_{\text{held out}} / \max C_{\text{fitted}}`.

Every method (ours and the baselines in :mod:`bayes_scaling.evaluation.baselines`) goes through the same
scorer, so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PROBS = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class MethodForecast:
    """What a method says about held-out points: a point (``median``) and, if it has one, draws
    of its predictive distribution (``draws``, shape ``(n_draws, n_points)``)."""

    median: np.ndarray
    draws: np.ndarray | None = None
    problems: tuple[str, ...] = ()  # e.g. failed sampler diagnostics: the forecast is kept, flagged


def crps_from_draws(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""CRPS of the empirical distribution of ``draws`` (``(n_draws, n_points)``) at ``y``.

    :math:`\mathrm{CRPS} = \frac1m\sum_i |x_i - y| - \frac{1}{m^2}\sum_i (2i - m - 1) x_{(i)}`,
    exact for the empirical distribution (sorted-sample form of :math:`\tfrac12\mathbb{E}|X-X'|`).
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=0)
    m = x.shape[0]
    y = np.asarray(y, dtype=float)
    first = np.abs(x - y[None, :]).mean(axis=0)
    weights = (2 * np.arange(1, m + 1) - m - 1)[:, None]
    return first - (weights * x).sum(axis=0) / m**2


def interval_score(lo, hi, y, prob: float) -> np.ndarray:
    """Interval score of the central ``prob`` interval (lower is better; Gneiting & Raftery)."""
    a = 1 - prob
    return (hi - lo) + (2 / a) * np.clip(lo - y, 0, None) + (2 / a) * np.clip(y - hi, 0, None)


#: A forecast draw of loss 0, infinity or NaN (a law whose nested exponentials overflow far from
#: its data) is scored as this many nats of log loss from the truth, not dropped: a mean over
#: runs would otherwise skip the NaN score and flatter the method that produced it.
WORST_LOG_ERROR = 50.0


def _bounded_log(draws, y) -> np.ndarray:
    """log draws within WORST_LOG_ERROR of log y (NaN draws as the worst above)."""
    log_y = np.log(np.asarray(y, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_draws = np.log(np.asarray(draws, dtype=float))
    log_draws = np.where(np.isnan(log_draws), np.inf, log_draws)
    return np.clip(log_draws, log_y - WORST_LOG_ERROR, log_y + WORST_LOG_ERROR)


def score(forecast: MethodForecast, y, probs: Sequence[float] = PROBS) -> pd.DataFrame:
    """One row per point: median, interval ends per ``prob``, PIT, CRPS (log loss), 90% interval score, APE %."""
    y = np.asarray(y, dtype=float)
    median = np.asarray(forecast.median, dtype=float)
    cols = {"median": median}
    if forecast.draws is not None and len(forecast.draws):
        draws = forecast.draws
        for p in probs:
            lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
            cols[f"lo_{p * 100:.0f}"], cols[f"hi_{p * 100:.0f}"] = lo, hi
        cols["pit"] = (draws < y).mean(axis=0) + 0.5 * (draws == y).mean(axis=0)
        cols["crps_log"] = crps_from_draws(_bounded_log(draws, y), np.log(y))
        cols["interval_score_90"] = interval_score(*np.quantile(draws, [0.05, 0.95], axis=0), y, 0.9)
    else:
        for p in probs:
            cols[f"lo_{p * 100:.0f}"] = cols[f"hi_{p * 100:.0f}"] = np.full_like(y, np.nan)
        cols["pit"] = np.full_like(y, np.nan)
        cols["crps_log"] = np.abs(np.log(median) - np.log(y))
        cols["interval_score_90"] = np.full_like(y, np.nan)
    cols["ape"] = 100 * np.abs(median - y) / y
    return pd.DataFrame(cols)


def summarize(table: pd.DataFrame, by: Sequence[str] = ("method",), probs: Sequence[float] = PROBS) -> pd.DataFrame:
    """Coverage per level, mean CRPS (log loss), mean 90% interval score, median APE and extrapolation, by group.

    Coverage is NaN for methods without intervals.
    """

    def agg(g: pd.DataFrame) -> pd.Series:
        row = {"n_held_out": len(g)}
        for p in probs:
            lo, hi = g[f"lo_{p * 100:.0f}"], g[f"hi_{p * 100:.0f}"]
            inside = (g["loss"] >= lo) & (g["loss"] <= hi)
            row[f"coverage_{p * 100:.0f}"] = inside.mean() if lo.notna().all() else np.nan
        row["crps_log"] = g["crps_log"].mean()
        row["interval_score_90"] = g["interval_score_90"].mean()
        row["median_ape"] = g["ape"].median()
        row["median_extrapolation"] = g["extrapolation"].median()
        row["max_extrapolation"] = g["extrapolation"].max()
        return pd.Series(row)

    return table.groupby(list(by), sort=False)[list(table.columns)].apply(agg)
