r"""The forecast: loss along the compute-optimal frontier, and slices through the law."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ... import _constants as K
from ...units import as_counts, format_count, format_flops
from ._common import (
    DATA,
    HELD_OUT,
    LEVELS,
    NEW_RUN,
    POSTERIOR,
    TARGET,
    _bands,
    _dashed_interval,
    _figure,
    _flops_grid,
    _geomean,
    _log_axis,
    _noise_label,
    _observed,
    _quantiles,
    _runs_frame,
)


# --------------------------------------------------------------------------- frontier
def frontier(fit, target_flops=None, holdout=None, ax=None, *, levels=LEVELS):
    r"""Loss against compute along the compute-optimal frontier, extrapolated to ``target_flops``.

    For each budget :math:`C` every posterior draw is at its own optimum :math:`N^*(C)`,
    :math:`D^* = C/(k N^*)` (by the law's rule, ``fit.law.allocation_rule``), and the shaded
    bands are its expected loss :math:`L(N^*, D^*)` (``fit.optimal_draws(C)["loss"]``). The
    dashed lines are the 90% band of a *new run* trained at the posterior-median allocation
    (``fit.predict(N*, D*, kind="new_run")``): the loss one would actually observe.

    Parameters
    ----------
    fit : ScalingFit
    target_flops : float, str or sequence, optional
        Budget(s) to forecast (vertical line, with the new-run median and 90% interval written
        beside it). ``"1e24"`` style text is accepted.
    holdout : Runs or DataFrame, optional
        Runs not used in the fit (columns params, tokens, loss, optional flops), drawn with a
        different marker ("held out").
    ax : matplotlib Axes, optional
    levels : interval probabilities of the expected-loss bands.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    SpecError
        For a law of one variable (``fit.law.allocates`` is False): it has no frontier.
    """
    fig, ax = _figure(ax, (8, 5))
    observed = _observed(fit)
    held = _runs_frame(holdout, fit.flops_per_param_token, "holdout")
    targets = [] if target_flops is None else list(as_counts(target_flops, "target_flops"))
    extra = [*targets, *(held[K.FLOPS] if held is not None else [])]
    grid = np.union1d(_flops_grid(fit, observed, extra), targets)
    opt = fit.optimal_draws(grid)
    # Budgets where no draw has a loss minimum along the IsoFLOP line (a numerical optimum) have no
    # frontier point; elsewhere each summary is over the draws that have one.
    has = np.isfinite(opt["params"]).any(axis=0)
    grid, opt = grid[has], {k: v[:, has] for k, v in opt.items()}
    targets = [c for c in targets if np.isin(c, grid)]
    n_med, d_med = np.nanmedian(opt["params"], axis=0), np.nanmedian(opt["tokens"], axis=0)
    new_run = fit.predict(n_med, d_med, kind="new_run").draws

    if observed is not None and len(observed):
        largest = observed[K.FLOPS].max()
        ax.axvspan(largest, grid[-1], color="0.94", zorder=0, lw=0)
        ax.axvline(largest, color="0.55", lw=1, ls=":", label=f"largest fitted run ({format_flops(largest)})")
    _bands(ax, grid, opt["loss"], POSTERIOR, "expected loss at N*, D*", levels)
    _dashed_interval(ax, grid, new_run, NEW_RUN, _noise_label(fit))
    if observed is not None and len(observed):
        what = "fitted runs" if (observed["n_seeds"] == 1).all() else "fitted configurations (mean of seeds)"
        ax.scatter(
            observed[K.FLOPS], observed[K.LOSS], s=10, color=DATA, alpha=0.6, lw=0, label=f"{what} ({len(observed)})"
        )
    if held is not None and len(held):
        ax.scatter(
            held[K.FLOPS],
            held[K.LOSS],
            s=46,
            marker="D",
            facecolor="white",
            edgecolor=HELD_OUT,
            lw=1.6,
            zorder=5,
            label=f"held out ({len(held)})",
        )
    for i, c in enumerate(sorted(targets)):
        j = int(np.argmin(np.abs(np.log(grid) - np.log(c))))
        lo, hi = _quantiles(new_run[:, j], 0.9)
        med = float(np.median(new_run[:, j]))
        ax.axvline(c, color=TARGET, lw=1.3, ls="-.", label=f"target C = {format_flops(c)}")
        ax.annotate(
            f"C = {format_flops(c)}: N* {format_count(n_med[j])}, D* {format_count(d_med[j])}\n"
            f"new run {med:.3f} [{lo:.3f}, {hi:.3f}] (90%)",
            xy=(c, med),
            xytext=(c, 0.97 - 0.12 * (i % 3)),
            textcoords=("data", "axes fraction"),
            ha="right",
            va="top",
            fontsize=8,
            color=TARGET,
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": TARGET, "alpha": 0.9},
            arrowprops={"arrowstyle": "->", "color": TARGET, "lw": 0.8},
        )
    ax.set_xlim(grid[0], grid[-1])
    ax.set(
        xlabel="training compute C (FLOPs)",
        ylabel="final loss (nats/token)",
        title="Loss along the compute-optimal frontier",
    )
    _log_axis(ax, "x", format_flops)
    ax.grid(True, which="major", alpha=0.25)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- slices
def slices(fit, fixed_tokens=None, fixed_params=None, *, window: float = 2.0, levels=LEVELS):
    r"""Loss against N at fixed D, and against D at fixed N (two panels), with the runs nearby.

    Left: :math:`L(N, D_0)`; right: :math:`L(N_0, D)`. Shaded: expected-loss bands; dashed: a
    new run's 90% band. Points: runs whose D (left) or N (right) is within a factor ``window``
    of the slice, so the data that pin each curve down are visible.

    Parameters
    ----------
    fit : ScalingFit
    fixed_tokens, fixed_params : float or str, optional
        :math:`D_0` and :math:`N_0`; default the median over the fitted runs (log scale).
    window : a run is "nearby" when its D (or N) is within this factor of the slice.

    Returns
    -------
    matplotlib.figure.Figure
    """
    observed = _observed(fit)
    if fixed_tokens is None:
        fixed_tokens = _geomean(observed[K.TOKENS]) if observed is not None else np.exp(fit.scale.log_d_ref)
    if fixed_params is None:
        fixed_params = _geomean(observed[K.PARAMS]) if observed is not None else np.exp(fit.scale.log_n_ref)
    d0 = float(as_counts(fixed_tokens, "fixed_tokens")[0])
    n0 = float(as_counts(fixed_params, "fixed_params")[0])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained", sharey=True)
    specs = (
        (axes[0], K.PARAMS, K.TOKENS, d0, "parameters N", "tokens", "D"),
        (axes[1], K.TOKENS, K.PARAMS, n0, "training tokens D", "params", "N"),
    )
    for ax, vary, fixed, value, xlabel, fixed_unit, fixed_symbol in specs:
        if observed is not None:
            lo, hi = observed[vary].min() / 3, observed[vary].max() * 10
        else:
            lo, hi = value / 100, value * 100
        x = np.geomspace(lo, hi, 80)
        args = (x, np.full_like(x, value)) if vary == K.PARAMS else (np.full_like(x, value), x)
        _bands(ax, x, fit.predict(*args, kind="mean").draws, POSTERIOR, "expected loss", levels)
        _dashed_interval(ax, x, fit.predict(*args, kind="new_run").draws, NEW_RUN, _noise_label(fit))
        if observed is not None:
            near = np.abs(np.log(observed[fixed] / value)) <= np.log(window)
            ax.scatter(
                observed.loc[near, vary],
                observed.loc[near, K.LOSS],
                s=16,
                color=DATA,
                alpha=0.75,
                lw=0,
                label=f"runs with {fixed_symbol} within {window:g}x ({int(near.sum())})",
            )
            ax.axvspan(observed[vary].max(), hi, color="0.94", zorder=0, lw=0)
        ax.set_xlim(lo, hi)
        ax.set(
            xlabel=xlabel,
            title=f"Loss vs {xlabel.split()[-1]} at {fixed_symbol} = {format_count(value)} {fixed_unit}",
        )
        _log_axis(ax, "x", format_count)
        ax.grid(True, which="major", alpha=0.25)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    axes[0].set_ylabel("final loss (nats/token)")
    fig.suptitle("Slices through the fitted law (grey area: beyond the largest fitted size)", fontsize=11)
    return fig
