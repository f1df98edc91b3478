r"""The law's parameters: posterior pairs, correlations and what the data added to the prior."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..typeset import plot_label
from ._common import POSTERIOR, _quantiles


# --------------------------------------------------------------------------- pairs
def _prior_reported(fit) -> dict[str, np.ndarray] | None:
    """Prior draws of the law's reported parameters (the usual units), if stored."""
    if "prior" not in fit.idata:
        return None
    ds = fit.idata["prior"].to_dataset()
    if not all(name in ds for name in fit.law.parameters):
        return None
    theta = {name: np.asarray(ds[name].values, dtype=float).reshape(-1) for name in fit.law.parameters}
    values = fit.law.reported_values(theta, fit.scale)
    return {name: np.asarray(values[name], dtype=float) for name in fit.law.reported}


def contraction(fit, prob: float = 0.9) -> pd.DataFrame | None:
    """Prior and posterior ``prob`` intervals of the law's parameters and how much the data narrowed them.

    Columns: ``prior_lo``, ``prior_hi``, ``post_lo``, ``post_hi`` and ``width_ratio`` (posterior
    interval width / prior interval width, both measured on a log scale for positive
    parameters, where amplitudes such as A span decades a priori: near 1 means the data said
    little about it). None when the fit stores no prior draws.
    """
    prior = _prior_reported(fit)
    if prior is None:
        return None
    post = fit.reported_draws()
    rows = []
    for name in fit.law.reported:
        p_lo, p_hi = _quantiles(prior[name], prob)
        q_lo, q_hi = _quantiles(post[name], prob)
        rows.append(
            {
                "parameter": name,
                "prior_lo": p_lo,
                "prior_hi": p_hi,
                "post_lo": q_lo,
                "post_hi": q_hi,
                "width_ratio": _width(q_lo, q_hi) / _width(p_lo, p_hi),
            }
        )
    return pd.DataFrame(rows).set_index("parameter")


def _width(lo, hi) -> float:
    """Interval width: of the logs when both ends are positive (a ratio), else plain."""
    return float(np.log(hi / lo)) if lo > 0 and hi > 0 else float(hi - lo)


def pairs(fit, *, max_points: int = 1500, random_seed: int = 0):
    r"""Posterior pairs of the law's reported parameters (``fit.law.reported``, labelled with the
    law's symbols): correlations and contraction.

    Lower triangle: thinned draws of each pair with their correlation :math:`r` (red when
    :math:`|r| > 0.9`: the pair is identified only jointly, e.g. Chinchilla's :math:`A` with :math:`\alpha`);
    diagonal: posterior histograms with the median and 90% interval. Upper right, when the fit
    stores prior draws (fits from :func:`~bayes_scaling.fit` do): prior and posterior 90%
    intervals on a common log scale relative to the posterior median, with how many times
    narrower the data made each one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    draws = fit.reported_draws()
    names = [n for n in fit.law.reported if n in draws]
    symbols = {n: plot_label(fit.law.symbol(n)) for n in names}
    m = len(names)
    rng = np.random.default_rng(random_seed)
    total = draws[names[0]].size
    pick = rng.choice(total, size=min(max_points, total), replace=False)
    fig, axes = plt.subplots(m, m, figsize=(2.1 * m + 1, 2.1 * m + 0.4), layout="constrained")
    corr = np.corrcoef(np.stack([draws[n] for n in names]))
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                values = draws[xj]
                ax.hist(values, bins=40, color=POSTERIOR, alpha=0.55, lw=0)
                lo, hi = np.quantile(values, [0.05, 0.95])
                for v, ls in ((lo, ":"), (np.median(values), "-"), (hi, ":")):
                    ax.axvline(v, color=POSTERIOR, lw=1, ls=ls)
                ax.set_yticks([])
                ax.set_title(f"{symbols[xj]} = {np.median(values):.4g} [{lo:.4g}, {hi:.4g}]", fontsize=8)
            else:
                ax.scatter(draws[xj][pick], draws[yi][pick], s=2, color=POSTERIOR, alpha=0.3, lw=0, rasterized=True)
                r = corr[i, j]
                ax.text(
                    0.04,
                    0.93,
                    f"r = {r:+.2f}",
                    transform=ax.transAxes,
                    fontsize=8,
                    va="top",
                    color="#c62828" if abs(r) > 0.9 else "black",
                    fontweight="bold" if abs(r) > 0.9 else "normal",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
                )
            if i == m - 1:
                ax.set_xlabel(symbols[xj])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(symbols[yi])
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
            ax.locator_params(nbins=3)
    table = contraction(fit)
    if table is not None and m >= 4:
        start = max(2, m - 3)  # above the diagonal of the first two rows
        for i in range(2):
            for j in range(start, m):
                axes[i, j].remove()
        gridspec = axes[m - 1, 0].get_subplotspec().get_gridspec()
        _contraction_panel(fig.add_subplot(gridspec[0:2, start:]), table, draws, symbols)
    elif m >= 4:
        axes[0, m - 1].text(
            1.0,
            0.5,
            "no prior draws stored in this fit:\nprior vs posterior not shown",
            transform=axes[0, m - 1].transAxes,
            ha="right",
            va="center",
            fontsize=9,
            color="0.4",
        )
    fig.suptitle("Posterior of the law's parameters: pairs, correlations, and what the data added", fontsize=11)
    return fig


def _contraction_panel(ax, table: pd.DataFrame, draws, symbols: dict[str, str]) -> None:
    names = list(table.index)[::-1]
    for y, name in enumerate(names):
        med = float(np.median(draws[name]))
        row = table.loc[name]
        ax.plot([row.prior_lo / med, row.prior_hi / med], [y, y], color="0.6", lw=6, solid_capstyle="butt")
        ax.plot([row.post_lo / med, row.post_hi / med], [y, y], color=POSTERIOR, lw=6, solid_capstyle="butt")
        ax.plot([1.0], [y], marker="|", ms=12, color="black")
        ax.text(
            0.99,
            y + 0.28,
            f"{1 / row.width_ratio:,.0f}x narrower",
            transform=ax.get_yaxis_transform(),
            ha="right",
            fontsize=8,
        )
    ax.set_yticks(range(len(names)), [symbols.get(n, n) for n in names])
    ax.set_xscale("log")
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlabel("value / posterior median (log scale)")
    ax.set_title("Prior (grey) vs posterior (blue) 90% intervals;\nnarrowing measured on a log scale", fontsize=9)
    ax.grid(True, axis="x", alpha=0.25)
    ax.tick_params(labelsize=8)
