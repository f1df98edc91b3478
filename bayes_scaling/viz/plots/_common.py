r"""Figures of a fitted posterior (matplotlib): the forecast, the allocation, the checks.

Every function takes a :class:`~bayes_scaling.fit.ScalingFit` (fitted or loaded) and works on its
stored draws with numpy. Single-panel functions take ``ax=None`` (a new figure when None) and
return the :class:`~matplotlib.axes.Axes`; multi-panel ones return the
:class:`~matplotlib.figure.Figure`. Sizes and budgets are on log axes labelled in engineering
units (``70B``, ``1.4T``, ``1e24``). Bands are equal-tailed posterior intervals, the 50% band
darker than the 90% band. Two kinds of band appear:

- **expected loss**: :math:`L(N, D) = E + A N^{-\alpha} + B D^{-\beta}` under parameter
  uncertainty (``fit.predict(..., kind="mean")``, ``fit.optimal_draws(C)["loss"]``);
- **new run**: what one training run would show, adding the configuration discrepancy and the
  seed noise, scale :math:`\sqrt{\tau^2 + \sigma(N)^2}` (``kind="new_run"``).

``import bayes_scaling.plots`` imports matplotlib but not PyMC or ArviZ.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .. import _constants as K
from ..data.runs import Runs
from ..data.synthetic import CHINCHILLA_PARAMS, chinchilla_optimum
from ..noise import new_run_noise, new_run_sd
from ..units import as_counts, format_count, format_flops

#: Interval probabilities of the shaded bands, widest first; the 50% band is drawn darker.
LEVELS = (0.9, 0.5)
_BAND_ALPHA = {0.9: 0.18, 0.5: 0.42}
#: Colours: posterior (expected loss), new-run band, data, held-out runs, targets, references.
POSTERIOR = "#1f5fa8"
NEW_RUN = "#d95f02"
DATA = "0.35"
HELD_OUT = "#c2185b"
TARGET = "#7b1fa2"
CHINCHILLA = "black"
KAPLAN = "#2e7d32"
#: Kaplan et al. (2020): N_opt = 1.3e9 (C / 1 PF-day)^0.73, one PF-day = 8.64e19 FLOPs.
KAPLAN_COEF, KAPLAN_EXPONENT, PF_DAY = 1.3e9, 0.73, 8.64e19
#: Backtest columns: interval levels (percent) that a calibration plot reads, as lo_P / hi_P.
CALIBRATION_LEVELS = (50, 80, 90, 95)


# --------------------------------------------------------------------------- helpers
def _figure(ax, figsize):
    """``(fig, ax)``: the given Axes and its figure, or a new single-panel figure."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _log_axis(ax, axis: str, fmt) -> None:
    """Log scale on ``axis`` ("x" or "y") with ticks written by ``fmt`` (format_count / format_flops).

    Call after the data are drawn: the tick density follows the span of the limits (decades
    only over wide spans; 1-2-5 within a decade or two).
    """
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 10.0
    if decades < 1.3:
        subs = (1.0, 2.0, 3.0, 5.0)
    elif decades < 3.0:
        subs = (1.0, 3.0)
    else:
        subs = (1.0,)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10.0, subs=subs, numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v) if v > 0 else ""))
    target.set_minor_formatter(NullFormatter())


def _quantiles(draws, prob: float):
    return np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)


def _bands(ax, x, draws, color, label: str, levels=LEVELS, line: bool = True) -> None:
    """Shade the ``levels`` intervals of ``draws`` (n_draws, len(x)) and draw the median."""
    for prob in levels:
        lo, hi = _quantiles(draws, prob)
        ax.fill_between(x, lo, hi, color=color, alpha=_BAND_ALPHA.get(prob, 0.25), lw=0, label=f"{label}: {prob:.0%}")
    if line:
        ax.plot(x, np.median(draws, axis=0), color=color, lw=1.8, label=f"{label}: median")


def _dashed_interval(ax, x, draws, color, label: str, prob: float = 0.9) -> None:
    lo, hi = _quantiles(draws, prob)
    ax.plot(x, lo, color=color, lw=1.2, ls="--", label=f"{label}: {prob:.0%}")
    ax.plot(x, hi, color=color, lw=1.2, ls="--")


def _observed(fit) -> pd.DataFrame | None:
    """The fitted data as one row per run: params, tokens, flops, loss, n_seeds (=1).

    Files without a ``runs`` group fall back to the configuration means the model saw
    (``n_seeds`` > 1 where replicated); None when neither is stored.
    """
    runs = fit.runs
    if runs is not None:
        frame = runs.to_frame()
        out = pd.DataFrame(
            {
                K.PARAMS: frame[K.PARAMS].to_numpy(float),
                K.TOKENS: frame[K.TOKENS].to_numpy(float),
                K.FLOPS: frame[K.FLOPS].to_numpy(float),
                K.LOSS: frame[K.LOSS].to_numpy(float),
                "n_seeds": 1,
            }
        )
        if K.UNIQUE_TOKENS in frame:
            out[K.UNIQUE_TOKENS] = frame[K.UNIQUE_TOKENS].fillna(frame[K.TOKENS]).to_numpy(float)
        return out
    if "constant_data" not in fit.idata or "observed_data" not in fit.idata:
        return None
    const = fit.idata["constant_data"].to_dataset()
    obs = fit.idata["observed_data"].to_dataset()
    n, d = np.exp(const["log_n"].values), np.exp(const["log_d"].values)
    return pd.DataFrame(
        {
            K.PARAMS: n,
            K.TOKENS: d,
            K.FLOPS: fit.flops_per_param_token * n * d,
            K.LOSS: np.exp(obs["mean_log_loss"].values),
            "n_seeds": const["n_seeds"].values.astype(int),
        }
    )


def _runs_frame(data, flops_per_param_token: float, name: str) -> pd.DataFrame | None:
    """A ``Runs`` or DataFrame (params, tokens, loss, optional flops) as a plain frame."""
    if data is None:
        return None
    if isinstance(data, Runs):
        frame = data.to_frame()
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise TypeError(f"{name} must be a bayes_scaling.Runs or a DataFrame, got {type(data).__name__}")
    missing = [c for c in (K.PARAMS, K.TOKENS, K.LOSS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it needs params, tokens, loss (and optionally flops)")
    n, d = frame[K.PARAMS].to_numpy(float), frame[K.TOKENS].to_numpy(float)
    flops = flops_per_param_token * n * d
    if K.FLOPS in frame.columns:
        given = frame[K.FLOPS].to_numpy(float)
        flops = np.where(np.isfinite(given), given, flops)
    return pd.DataFrame({K.PARAMS: n, K.TOKENS: d, K.FLOPS: flops, K.LOSS: frame[K.LOSS].to_numpy(float)})


def _geomean(values) -> float:
    return float(np.exp(np.median(np.log(values))))


def _flops_grid(fit, observed, extra=(), n: int = 60, default=(1e18, 1e25)) -> np.ndarray:
    """Log-spaced budgets from below the smallest run to beyond the largest of runs and ``extra``."""
    lows, highs = [], []
    if observed is not None and len(observed):
        lows.append(observed[K.FLOPS].min() / 2)
        highs.append(observed[K.FLOPS].max() * 3)
    extra = [float(v) for v in extra if v is not None and np.isfinite(v) and v > 0]
    if extra:
        lows.append(min(extra) / 3)
        highs.append(max(extra) * 3)
    lo = min(lows) if lows else default[0]
    hi = max(highs) if highs else default[1]
    return np.geomspace(lo, hi, n)


def _noise_label(fit) -> str:
    tails = "Student-t" if fit.noise.likelihood == "student_t" else "Gaussian"
    return f"new run ({tails})"


# --------------------------------------------------------------------------- frontier
def frontier(fit, target_flops=None, holdout=None, ax=None, *, levels=LEVELS):
    r"""Loss against compute along the compute-optimal frontier, extrapolated to ``target_flops``.

    For each budget :math:`C` every posterior draw is at its own optimum
    :math:`N^*(C) = G (C/k)^{\beta/(\alpha+\beta)}`, :math:`D^* = C/(k N^*)`, and the shaded
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
    """
    fig, ax = _figure(ax, (8, 5))
    observed = _observed(fit)
    held = _runs_frame(holdout, fit.flops_per_param_token, "holdout")
    targets = [] if target_flops is None else list(as_counts(target_flops, "target_flops"))
    extra = [*targets, *(held[K.FLOPS] if held is not None else [])]
    grid = np.union1d(_flops_grid(fit, observed, extra), targets)
    opt = fit.optimal_draws(grid)
    n_med, d_med = np.median(opt["params"], axis=0), np.median(opt["tokens"], axis=0)
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


# --------------------------------------------------------------------------- IsoFLOP profiles
def isoflop_budgets(flops, params, *, tol: float = 0.05, min_configs: int = 4, min_span: float = 3.0):
    """IsoFLOP groups among fitted runs: ``[(budget, member_indices), ...]``, or None.

    Budgets are the densest values of log10 C (runs within ``tol`` decades of each other, centres
    at least 0.15 decades apart); a group counts when it has ``min_configs`` runs whose N spans a
    factor ``min_span``. None unless at least two groups hold half the runs or more.
    """
    log_c = np.log10(np.asarray(flops, dtype=float))
    log_n = np.log(np.asarray(params, dtype=float))
    if log_c.size < 2 * min_configs:
        return None
    near = np.abs(log_c[:, None] - log_c[None, :]) <= tol
    counts = near.sum(axis=1)
    centres: list[float] = []
    for i in np.lexsort((log_c, -counts)):
        if counts[i] < min_configs:
            break
        if all(abs(log_c[i] - c) >= 0.15 for c in centres):
            centres.append(float(log_c[i]))
    groups = []
    for c in sorted(centres):
        members = np.flatnonzero(np.abs(log_c - c) <= tol)
        if np.ptp(log_n[members]) >= np.log(min_span):
            groups.append((float(10 ** np.median(log_c[members])), members))
    covered = np.unique(np.concatenate([m for _, m in groups])) if groups else np.array([])
    if len(groups) >= 2 and covered.size >= 0.5 * log_c.size:
        return groups
    return None


def isoflop_profiles(fit, budgets=None, ax=None, *, prob: float = 0.9, max_budgets: int = 9):
    r"""Loss against N along each compute budget :math:`C` (D = C / (k N)), with the minimum's posterior.

    Each profile :math:`L(N, C/(kN))` is drawn as its posterior median and ``prob`` band
    (expected loss), with the fitted runs of that budget in the same colour. At each minimum,
    an error bar shows the ``prob`` interval of :math:`N^*(C)` at the median optimal loss.

    Parameters
    ----------
    budgets : FLOP budgets; default the IsoFLOP groups of the fitted runs
        (:func:`isoflop_budgets`), else four log-spaced budgets over the runs' compute range.
    max_budgets : at most this many profiles (evenly chosen) to keep the figure readable.

    Returns
    -------
    matplotlib.axes.Axes
    """
    fig, ax = _figure(ax, (9.5, 5))
    observed = _observed(fit)
    members: list[np.ndarray | None]
    if budgets is not None:
        budgets = as_counts(budgets, "budgets")
        members = [None] * len(budgets)
        if observed is not None:
            members = [np.flatnonzero(np.abs(np.log10(observed[K.FLOPS] / c)) <= 0.05) for c in budgets]
    else:
        groups = isoflop_budgets(observed[K.FLOPS], observed[K.PARAMS]) if observed is not None else None
        if groups:
            budgets = np.array([c for c, _ in groups])
            members = [m for _, m in groups]
        else:
            span = (observed[K.FLOPS].min(), observed[K.FLOPS].max()) if observed is not None else (1e18, 1e21)
            budgets = np.geomspace(*span, 4)
            members = [None] * 4
    if len(budgets) > max_budgets:
        keep = np.unique(np.round(np.linspace(0, len(budgets) - 1, max_budgets)).astype(int))
        budgets, members = budgets[keep], [members[i] for i in keep]
    k = fit.flops_per_param_token
    opt = fit.optimal_draws(budgets)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(budgets)))
    shown_data = False
    for j, (c, colour) in enumerate(zip(budgets, colours, strict=True)):
        n_med = float(np.median(opt["params"][:, j]))
        idx = members[j]
        if idx is not None and len(idx):
            n_lo, n_hi = observed[K.PARAMS].iloc[idx].min() / 1.5, observed[K.PARAMS].iloc[idx].max() * 1.5
            n_lo, n_hi = min(n_lo, n_med / 3), max(n_hi, n_med * 3)
        else:
            n_lo, n_hi = n_med / 10, n_med * 10
        n = np.geomspace(n_lo, n_hi, 60)
        draws = fit.predict(n, c / (k * n), kind="mean").draws
        lo, hi = _quantiles(draws, prob)
        ax.fill_between(n, lo, hi, color=colour, alpha=0.22, lw=0)
        ax.plot(n, np.median(draws, axis=0), color=colour, lw=1.6, label=f"C = {format_flops(c)}")
        if idx is not None and len(idx):
            ax.scatter(
                observed[K.PARAMS].iloc[idx],
                observed[K.LOSS].iloc[idx],
                s=14,
                color=colour,
                edgecolor="white",
                lw=0.4,
                zorder=4,
                label="fitted runs of each budget" if not shown_data else None,
            )
            shown_data = True
        n_lo_star, n_hi_star = _quantiles(opt["params"][:, j], prob)
        loss_star = float(np.median(opt["loss"][:, j]))
        ax.errorbar(
            n_med,
            loss_star,
            xerr=[[n_med - n_lo_star], [n_hi_star - n_med]],
            fmt="o",
            ms=5,
            mfc="white",
            mec="black",
            ecolor="black",
            elinewidth=1.4,
            capsize=3,
            zorder=6,
            label=f"N*(C): median and {prob:.0%} interval" if j == 0 else None,
        )
    if observed is not None:
        others = np.ones(len(observed), dtype=bool)
        for idx in members:
            if idx is not None:
                others[idx] = False
        if others.any() and not all(m is None for m in members):
            ax.scatter(
                observed.loc[others, K.PARAMS],
                observed.loc[others, K.LOSS],
                s=8,
                color="0.7",
                lw=0,
                zorder=1,
                label="other fitted runs",
            )
    ax.set(
        xlabel="parameters N (D = C / kN)",
        ylabel="final loss (nats/token)",
        title=f"IsoFLOP profiles: posterior median and {prob:.0%} band of the expected loss",
    )
    _log_axis(ax, "x", format_count)
    ax.grid(True, which="major", alpha=0.25)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- compute-optimal
def kaplan_optimal_params(flops) -> np.ndarray:
    r"""Kaplan et al. (2020)'s compute-efficient model size, as published.

    .. math::  N_{opt}(C) = 1.3 \times 10^{9}\, \Bigl(\frac{C}{8.64 \times 10^{19}}\Bigr)^{0.73}

    with :math:`C` in FLOPs (one PF-day is :math:`8.64 \times 10^{19}` FLOPs); their fit counts
    non-embedding parameters, so it is a reference line, not a like-for-like comparison.
    """
    return KAPLAN_COEF * (np.asarray(flops, dtype=float) / PF_DAY) ** KAPLAN_EXPONENT


def compute_optimal(fit, flops=None, *, levels=LEVELS):
    r"""Compute-optimal :math:`N^*(C)`, :math:`D^*(C)` and :math:`D^*/N^*` (three panels) with bands.

    Per posterior draw, under :math:`C = kND`:
    :math:`N^* = G (C/k)^{a}`, :math:`a = \beta/(\alpha+\beta)`,
    :math:`G = (\alpha A/\beta B)^{1/(\alpha+\beta)}`, :math:`D^* = C/(kN^*)`.

    Dashed reference lines:

    - Chinchilla (Hoffmann et al. 2022, Approach 3), the same formula at their published
      :math:`E=1.69, A=406.4, B=410.7, \alpha=0.34, \beta=0.28`;
    - Kaplan et al. (2020): :math:`N_{opt} = 1.3\times10^9\,(C/8.64\times10^{19})^{0.73}`
      (C in PF-days, :func:`kaplan_optimal_params`), :math:`D = C/(kN)`.

    Parameters
    ----------
    flops : budgets to draw; default from the smallest fitted run to 1000x the largest (at
        least 1e25).

    Returns
    -------
    matplotlib.figure.Figure
    """
    observed = _observed(fit)
    if flops is None:
        if observed is not None:
            lo, hi = observed[K.FLOPS].min(), max(1e25, 1000 * observed[K.FLOPS].max())
        else:
            lo, hi = 1e18, 1e25
        flops = np.geomspace(lo, hi, 60)
    flops = np.sort(as_counts(flops, "flops"))
    k = fit.flops_per_param_token
    opt = fit.optimal_draws(flops)
    n_chin, d_chin = chinchilla_optimum(flops, flops_per_param_token=k)
    n_kap = kaplan_optimal_params(flops)
    d_kap = flops / (k * n_kap)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), layout="constrained")
    panels = (
        (axes[0], "params", n_chin, n_kap, "N*: parameters", "Compute-optimal model size N*(C)", format_count),
        (axes[1], "tokens", d_chin, d_kap, "D*: training tokens", "Compute-optimal data D*(C)", format_count),
        (
            axes[2],
            "tokens_per_param",
            d_chin / n_chin,
            d_kap / n_kap,
            "D*/N*: tokens per parameter",
            "Tokens per parameter D*/N*",
            lambda v: f"{v:.3g}",
        ),
    )
    a = fit.draws("a") if "alpha" in fit.reported_draws() else None
    for ax, key, chin, kap, ylabel, title, fmt in panels:
        _bands(ax, flops, opt[key], POSTERIOR, "posterior", levels)
        ax.plot(
            flops, chin, color=CHINCHILLA, lw=1.3, ls="--", label=f"Chinchilla Approach 3 (a = {_chinchilla_a():.2f})"
        )
        ax.plot(flops, kap, color=KAPLAN, lw=1.3, ls=(0, (5, 2, 1, 2)), label="Kaplan et al. 2020 (N ∝ C^0.73)")
        if observed is not None:
            ax.axvline(observed[K.FLOPS].max(), color="0.55", lw=1, ls=":", label="largest fitted run")
        ax.set_xlim(flops[0], flops[-1])
        ax.set(xlabel="training compute C (FLOPs)", ylabel=ylabel, title=title)
        _log_axis(ax, "x", format_flops)
        _log_axis(ax, "y", fmt)
        ax.grid(True, which="major", alpha=0.25)
    axes[0].legend(loc="upper left", fontsize=8, framealpha=0.9)
    if a is not None:
        lo, hi = np.quantile(a, [0.05, 0.95])
        fig.suptitle(
            f"Compute-optimal allocation: N* ∝ C^a with a = {np.median(a):.3f} [{lo:.3f}, {hi:.3f}] (90%)", fontsize=11
        )
    return fig


def _chinchilla_a() -> float:
    p = CHINCHILLA_PARAMS
    return p["beta"] / (p["alpha"] + p["beta"])


# --------------------------------------------------------------------------- pairs
def _prior_reported(fit) -> dict[str, np.ndarray] | None:
    """Prior draws of the law's parameters in the usual units (E, A, B, alpha, beta), if stored."""
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


_SYMBOLS = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β"}


def pairs(fit, *, max_points: int = 1500, random_seed: int = 0):
    r"""Posterior pairs of the law's parameters (E, A, B, alpha, beta): correlations and contraction.

    Lower triangle: thinned draws of each pair with their correlation :math:`r` (red when
    :math:`|r| > 0.9`: the pair is identified only jointly, e.g. :math:`A` with :math:`\alpha`);
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
                ax.set_title(f"{_SYMBOLS.get(xj, xj)} = {np.median(values):.4g} [{lo:.4g}, {hi:.4g}]", fontsize=8)
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
                ax.set_xlabel(_SYMBOLS.get(xj, xj))
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(_SYMBOLS.get(yi, yi))
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
            ax.locator_params(nbins=3)
    table = contraction(fit)
    if table is not None and m >= 4:
        for i in range(2):
            for j in range(m - 3, m):
                axes[i, j].remove()
        gridspec = axes[m - 1, 0].get_subplotspec().get_gridspec()
        _contraction_panel(fig.add_subplot(gridspec[0:2, m - 3 :]), table, draws)
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


def _contraction_panel(ax, table: pd.DataFrame, draws) -> None:
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
    ax.set_yticks(range(len(names)), [_SYMBOLS.get(n, n) for n in names])
    ax.set_xscale("log")
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlabel("value / posterior median (log scale)")
    ax.set_title("Prior (grey) vs posterior (blue) 90% intervals; narrowing measured on a log scale", fontsize=9)
    ax.grid(True, axis="x", alpha=0.25)
    ax.tick_params(labelsize=8)


# --------------------------------------------------------------------------- residuals
def residuals(fit, *, bins: int = 8, random_seed: int = 0):
    r"""Residuals of log loss against N, D and C (three panels), with the noise model's bands.

    Residual of run :math:`i`: :math:`r_i = \log L_i - \operatorname{median}_s \log\mu_s(N_i, D_i)`.
    A new single-seed run deviates from the law by :math:`\delta + \varepsilon` with scale
    :math:`\sqrt{\tau^2 + \sigma(N)^2}`, :math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}`
    (Student-t with :math:`\nu` under the default likelihood); the shaded bands are its 50%
    and 90% intervals over the posterior, against N directly and, against D and C, averaged
    over the runs in each bin. Black ticks mark the 5% and 95% quantiles of the residuals per
    bin: where they leave the 90% band the noise model's heteroscedasticity is wrong there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    observed = _observed(fit)
    if observed is None or not len(observed):
        raise ValueError("this fit stores no runs or configuration data: nothing to plot residuals of")
    theta = {k: v[:, None] for k, v in fit.sampled_draws().items()}
    n, d = observed[K.PARAMS].to_numpy(), observed[K.TOKENS].to_numpy()
    log_u = np.log(observed[K.UNIQUE_TOKENS].to_numpy(dtype=float))[None, :] if K.UNIQUE_TOKENS in observed else None
    log_mu = fit.law.log_loss(theta, np.log(n)[None, :], np.log(d)[None, :], fit.scale, log_u)
    resid = np.log(observed[K.LOSS].to_numpy()) - np.median(log_mu, axis=0)
    rng = np.random.default_rng(random_seed)
    ref = fit.scale.log_n_noise_ref
    # Per-run new-run intervals (configuration means: the seed noise shrinks with sqrt(n_seeds)).
    seeds = observed["n_seeds"].to_numpy(dtype=float)[None, :]
    noise = new_run_noise(theta, np.log(n)[None, :], ref, fit.noise, rng)
    if (seeds > 1).any():
        scale_all = new_run_sd(theta, np.log(n)[None, :], ref, fit.noise)
        scale_mean = _config_mean_sd(fit, theta, np.log(n)[None, :], seeds)
        noise = noise * scale_mean / scale_all
    per_run = {p: _quantiles(noise, p) for p in LEVELS}
    inside = {p: float(np.mean((resid >= lo) & (resid <= hi))) for p, (lo, hi) in per_run.items()}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), layout="constrained", sharey=True)
    xs = (
        (axes[0], n, "parameters N", format_count),
        (axes[1], d, "training tokens D", format_count),
        (axes[2], observed[K.FLOPS].to_numpy(), "training compute C (FLOPs)", format_flops),
    )
    grid_n = np.geomspace(n.min() / 1.2, n.max() * 1.2, 60)
    grid_noise = new_run_noise(theta, np.log(grid_n)[None, :], ref, fit.noise, rng)
    for ax, x, xlabel, fmt in xs:
        if ax is axes[0]:
            for prob in LEVELS:
                lo, hi = _quantiles(grid_noise, prob)
                ax.fill_between(
                    grid_n, lo, hi, color=NEW_RUN, alpha=_BAND_ALPHA[prob], lw=0, label=f"new-run noise: {prob:.0%}"
                )
        else:
            centres, which = _bins(x, bins)
            half = 0.3 * (np.median(np.diff(np.log(centres))) if centres.size > 1 else 1.0)
            for b, centre in enumerate(centres):
                pooled = noise[:, which == b].ravel()
                for prob in LEVELS:
                    lo, hi = _quantiles(pooled, prob)
                    ax.fill_between(
                        [centre * np.exp(-half), centre * np.exp(half)],
                        lo,
                        hi,
                        color=NEW_RUN,
                        alpha=_BAND_ALPHA[prob],
                        lw=0,
                        label=f"new-run noise of the bin's runs: {prob:.0%}" if b == 0 else None,
                    )
        outside = (resid < per_run[0.9][0]) | (resid > per_run[0.9][1])
        ax.scatter(x[~outside], resid[~outside], s=9, color=DATA, alpha=0.65, lw=0, zorder=3, label="runs")
        ax.scatter(x[outside], resid[outside], s=14, color=HELD_OUT, lw=0, zorder=3, label="outside their 90% band")
        centres, which = _bins(x, bins)
        q = np.array(
            [
                np.quantile(resid[which == b], [0.05, 0.95]) if (which == b).sum() >= 8 else [np.nan, np.nan]
                for b in range(len(centres))
            ]
        )
        ok = np.isfinite(q[:, 0])
        if ok.any():
            ax.scatter(
                np.repeat(centres[ok], 2),
                q[ok].ravel(),
                marker="_",
                s=160,
                lw=2,
                color="black",
                zorder=5,
                label="runs' 5% / 95% per bin",
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.set(xlabel=xlabel)
        ax.set_xlim(x.min() / 1.3, x.max() * 1.3)
        _log_axis(ax, "x", fmt)
        ax.grid(True, which="major", alpha=0.25)
    axes[0].set_ylabel("residual of log loss (≈ relative error)")
    axes[0].legend(loc="upper right", fontsize=8, framealpha=0.9)
    handles, labels = axes[1].get_legend_handles_labels()
    keep = [i for i, label in enumerate(labels) if label.startswith("new-run noise of the bin")]
    axes[1].legend([handles[i] for i in keep], [labels[i] for i in keep], loc="upper right", fontsize=8, framealpha=0.9)
    what = "runs" if (observed["n_seeds"] == 1).all() else "configuration means"
    fig.suptitle(
        f"Residuals vs the posterior-median law: {inside[0.9]:.0%} of {len(observed)} {what} inside their 90% band, "
        f"{inside[0.5]:.0%} inside their 50% band",
        fontsize=11,
    )
    return fig


def _config_mean_sd(fit, theta, log_n, n_seeds):
    """Scale of a configuration mean of ``n_seeds`` runs: sqrt(tau^2 + sigma(N)^2 / n)."""
    from ..noise import config_mean_variance, config_sd, reported_noise

    full = {**theta, **reported_noise(theta, fit.noise)}
    sigma = config_sd(full, log_n, fit.scale.log_n_noise_ref, fit.noise)
    return np.sqrt(config_mean_variance(full, sigma, n_seeds, fit.noise))


def _bins(x, bins: int):
    """Bins of ``x`` on a log scale: ``(centres, index per point)``.

    When ``x`` takes few distinct values (an IsoFLOP design's budgets), each value is a bin.
    """
    log_x = np.log10(x)
    distinct = np.unique(np.round(log_x, 2))
    if distinct.size <= 2 * bins:
        which = np.argmin(np.abs(np.round(log_x, 2)[:, None] - distinct[None, :]), axis=1)
        centres = np.array([np.exp(np.mean(np.log(x[which == b]))) for b in range(distinct.size)])
        return centres, which
    edges = np.linspace(log_x.min(), log_x.max() + 1e-9, bins + 1)
    which = np.clip(np.searchsorted(edges, log_x, side="right") - 1, 0, bins - 1)
    return 10 ** ((edges[:-1] + edges[1:]) / 2), which


# --------------------------------------------------------------------------- calibration
BACKTEST_COLUMNS = ("method", "loss")


def backtest_frame(backtest) -> pd.DataFrame:
    """The backtest table: ``backtest.table`` (from ``bayes_scaling.validate.backtest``) or a DataFrame.

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
    """Rank histograms of a simulation-based calibration (:func:`bayes_scaling.validate.sbc`).

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


def close(figure_or_axes) -> None:
    """Close the figure of a plot's return value (Figure, Axes or sequence of Axes)."""
    if isinstance(figure_or_axes, Sequence | np.ndarray):
        figure_or_axes = np.asarray(figure_or_axes).ravel()[0]
    plt.close(getattr(figure_or_axes, "figure", figure_or_axes))


__all__ = [
    "backtest_frame",
    "calibration",
    "close",
    "compute_optimal",
    "contraction",
    "coverage_table",
    "frontier",
    "isoflop_budgets",
    "isoflop_profiles",
    "kaplan_optimal_params",
    "pairs",
    "residuals",
    "slices",
]
