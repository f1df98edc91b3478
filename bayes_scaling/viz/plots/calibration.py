r"""Calibration of forecasts: backtest coverage, PIT histograms, SBC rank histograms."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

#: Backtest columns: interval levels (percent) that a calibration plot reads, as lo_P / hi_P.
CALIBRATION_LEVELS = (50, 80, 90, 95)


# --------------------------------------------------------------------------- calibration
BACKTEST_COLUMNS = ("method", "loss")


def backtest_frame(backtest) -> pd.DataFrame:
    """The backtest table: ``backtest.table`` (from ``bayes_scaling.evaluation.backtesting.backtest``) or a DataFrame.

    One row per held-out run with columns ``method``, ``dataset``, ``loss`` (observed),
    ``median``, ``lo_P`` / ``hi_P`` for P in 50, 80, 90, 95 (NaN for point methods), ``pit`` (NaN
    without a predictive distribution) and ``extrapolation`` (held-out C / largest fitted C).
    """
    table = getattr(backtest, "table", backtest)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"backtest must be a DataFrame or have a .table DataFrame, got {type(backtest).__name__}")
    missing = [c for c in BACKTEST_COLUMNS if c not in table.columns]
    levels = [p for p in CALIBRATION_LEVELS if f"lo_{p}" in table.columns and f"hi_{p}" in table.columns]
    if not levels and "pit" not in table.columns:
        missing.append("pit or lo_P/hi_P interval columns")
    if missing:
        raise ValueError(f"backtest table lacks column(s) {missing}; columns present: {list(table.columns)}")
    return table


def coverage_table(backtest) -> pd.DataFrame:
    """Empirical coverage of each method's central intervals: one row per (method, level).

    Columns: ``method``, ``nominal`` (0.5 ... 0.95), ``empirical`` (share of held-out losses inside
    ``[lo_P, hi_P]``), ``n`` (rows with a finite interval). Methods without intervals are left out.
    """
    table = backtest_frame(backtest)
    rows = []
    for method, group in table.groupby("method", sort=False):
        for p in CALIBRATION_LEVELS:
            lo_col, hi_col = f"lo_{p}", f"hi_{p}"
            if lo_col not in group or hi_col not in group:
                continue
            lo, hi, y = (group[c].to_numpy(dtype=float) for c in (lo_col, hi_col, "loss"))
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
            if not ok.any():
                continue
            hit = (y[ok] >= lo[ok]) & (y[ok] <= hi[ok])
            rows.append({"method": method, "nominal": p / 100, "empirical": float(hit.mean()), "n": int(ok.sum())})
    return pd.DataFrame(rows, columns=["method", "nominal", "empirical", "n"])


def calibration(backtest_table, ax=None, *, bins: int = 10):
    """PIT histogram and coverage curve of a backtest (two panels).

    Left: the probability integral transform :math:`u = F(y_{obs})` of each held-out loss under
    each method's predictive distribution; a calibrated method gives a flat histogram (too many
    near 0 and 1: intervals too narrow). Right: nominal vs empirical coverage of the 50, 80, 90
    and 95% intervals, one line per method, with the range a calibrated method would show with
    this many held-out runs (binomial 90%).

    Parameters
    ----------
    backtest_table : DataFrame or an object with ``.table`` (see :func:`backtest_frame`).
    ax : a pair of Axes (PIT, coverage), optional.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy import stats

    table = backtest_frame(backtest_table)
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    else:
        axes = np.asarray(ax).ravel()
        if axes.size != 2:
            raise ValueError("calibration draws two panels: pass ax as a pair of Axes (PIT, coverage)")
        fig = axes[0].figure
    methods = list(dict.fromkeys(table["method"].tolist()))
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    pit_ax, cov_ax = axes
    edges = np.linspace(0, 1, bins + 1)
    with_pit, top = 0, 1.0
    if "pit" in table:
        for method in methods:
            pit = table.loc[table["method"] == method, "pit"].to_numpy(dtype=float)
            pit = pit[np.isfinite(pit)]
            if not pit.size:
                continue
            with_pit += 1
            top = max(top, float(np.histogram(pit, bins=edges, density=True)[0].max()))
            pit_ax.hist(
                pit,
                bins=edges,
                density=True,
                histtype="step",
                lw=2,
                color=colours[method],
                label=f"{method} ({pit.size})",
            )
    pit_ax.axhline(1.0, color="black", lw=1, ls="--", label="calibrated (uniform)")
    pit_ax.set_ylim(0, 1.35 * max(top, 1.5))  # room for the legend above the bars
    if not with_pit:
        pit_ax.text(0.5, 0.5, "no method in this backtest\nhas a predictive distribution", ha="center", va="center")
    pit_ax.set(
        xlim=(0, 1),
        xlabel="PIT: predictive CDF at the observed loss",
        ylabel="density",
        title="PIT histogram (flat = calibrated)",
    )
    pit_ax.legend(loc="upper center", fontsize=8, framealpha=0.9)

    cov = coverage_table(table)
    nominal = np.array(CALIBRATION_LEVELS) / 100
    if len(cov):
        n = int(cov["n"].max())
        lo = stats.binom.ppf(0.05, n, nominal) / n
        hi = stats.binom.ppf(0.95, n, nominal) / n
        cov_ax.fill_between(nominal, lo, hi, color="0.85", lw=0, label=f"calibrated, {n} runs: 90% range")
    cov_ax.plot([0.4, 1.0], [0.4, 1.0], color="black", lw=1, ls="--", label="nominal = empirical")
    for method, group in cov.groupby("method", sort=False):
        cov_ax.plot(
            group["nominal"],
            group["empirical"],
            marker="o",
            color=colours[method],
            lw=1.8,
            label=f"{method} ({int(group['n'].max())})",
        )
    pointwise = [m for m in methods if m not in set(cov["method"])]
    if pointwise:
        cov_ax.text(
            0.02,
            0.97,
            "no intervals: " + ", ".join(map(str, pointwise)),
            transform=cov_ax.transAxes,
            fontsize=8,
            va="top",
        )
    cov_ax.set(
        xlim=(0.4, 1.0),
        ylim=(0.0, 1.02),
        xlabel="nominal coverage of the central interval",
        ylabel="empirical coverage on held-out runs",
        title="Interval coverage (on the diagonal = calibrated)",
    )
    cov_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    cov_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    cov_ax.grid(True, alpha=0.25)
    cov_ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return fig


def sbc_ranks(result, *, bins: int = 10):
    """Rank histograms of a simulation-based calibration (:func:`bayes_scaling.evaluation.sbc`).

    One panel per parameter: counts of the true value's rank among posterior draws, with the
    band a uniform histogram stays in with 99% probability per bin (binomial) and the
    chi-square p-value. Flat = calibrated; U = over-confident; hump = under-confident.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy import stats

    ranks = result.ranks
    tests = result.uniformity(bins)
    names = list(ranks.columns)
    ncols = min(5, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.3 * nrows), layout="constrained", squeeze=False)
    edges = np.linspace(0, result.n_ranks, bins + 1)
    n = len(ranks)
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
    for ax, name in zip(axes.ravel(), names, strict=False):
        ax.axhspan(lo, hi, color="0.85", label="99% band if uniform")
        ax.hist(ranks[name], bins=edges, color="C0", edgecolor="white")
        ax.axhline(n / bins, color="black", lw=1, ls="--")
        ax.set_title(f"{name}  (p = {tests.loc[name, 'p_value']:.2f})", fontsize=9)
        ax.set_xticks([0, result.n_ranks - 1])
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"SBC rank histograms: {n} simulations, ranks among {result.n_ranks - 1} draws")
    return fig
