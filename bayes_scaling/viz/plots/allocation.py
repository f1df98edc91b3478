r"""The compute-optimal allocation: IsoFLOP profiles and N*(C), D*(C) with published references."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ... import _constants as K
from ...data.synthetic import CHINCHILLA_PARAMS, chinchilla_optimum
from ...units import as_counts, format_count, format_flops
from ._common import LEVELS, POSTERIOR, _bands, _figure, _log_axis, _observed, _quantiles

#: Colours of the published reference allocations.
CHINCHILLA = "black"
KAPLAN = "#2e7d32"
#: Kaplan et al. (2020): N_opt = 1.3e9 (C / 1 PF-day)^0.73, one PF-day = 8.64e19 FLOPs.
KAPLAN_COEF, KAPLAN_EXPONENT, PF_DAY = 1.3e9, 0.73, 8.64e19


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


def reference_allocations(flops, flops_per_param_token: float = 6.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    r"""Published compute-optimal allocations of language models, ``{label: (N, D)}`` at ``flops``.

    - Chinchilla Approach 3 (Hoffmann et al. 2022): :math:`N^* = G (C/k)^{\beta/(\alpha+\beta)}` at their
      :math:`E=1.69, A=406.4, B=410.7, \alpha=0.34, \beta=0.28`;
    - Kaplan et al. (2020): :math:`N_{opt} = 1.3\times10^9\,(C/8.64\times10^{19})^{0.73}`
      (:func:`kaplan_optimal_params`).

    :math:`D = C/(kN)` for both. Reference lines for any law that allocates, not that law's formula.
    """
    flops = np.asarray(flops, dtype=float)
    n_chin, d_chin = chinchilla_optimum(flops, flops_per_param_token=flops_per_param_token)
    n_kap = kaplan_optimal_params(flops)
    p = CHINCHILLA_PARAMS
    a = p["beta"] / (p["alpha"] + p["beta"])
    return {
        f"Chinchilla Approach 3 (a = {a:.2f})": (n_chin, d_chin),
        f"Kaplan et al. 2020 (N ∝ C^{KAPLAN_EXPONENT})": (n_kap, flops / (flops_per_param_token * n_kap)),
    }


def allocation_exponent(fit, flops) -> np.ndarray:
    r"""Per draw, the slope :math:`a` of :math:`\log N^*` against :math:`\log C` between the
    smallest and largest of ``flops``: :math:`N^* \propto C^a`.

    Exact for the laws whose optimum is a power law of C (Chinchilla: :math:`a = \beta/(\alpha+\beta)`);
    the average slope over the range otherwise. NaN where a draw has no optimum there. The law's
    own exponent: the allocation drift beyond the data (which widens the N* bands) is left out.
    """
    c = np.asarray(flops, dtype=float)
    lo, hi = float(c.min()), float(c.max())
    n_star = fit.optimal_params_draws(np.array([[lo, hi]]), drift=False)  # the law's own exponent
    return np.log(n_star[:, 1] / n_star[:, 0]) / np.log(hi / lo)


def compute_optimal(fit, flops=None, *, levels=LEVELS):
    r"""Compute-optimal :math:`N^*(C)`, :math:`D^*(C)` and :math:`D^*/N^*` (three panels) with bands.

    Per posterior draw, under :math:`C = kND`, by the law's rule (``fit.law.allocation_rule``:
    its closed form, else a numeric minimum along each IsoFLOP line). The title gives the
    exponent :math:`a` of :math:`N^* \propto C^a` (:func:`allocation_exponent`).

    Dashed: the published allocations of :func:`reference_allocations` (Chinchilla Approach 3,
    Kaplan et al. 2020), for comparison.

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
    opt = fit.optimal_draws(flops)
    references = reference_allocations(flops, fit.flops_per_param_token)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), layout="constrained")
    panels = (
        (axes[0], "params", lambda n, d: n, "N*: parameters", "Compute-optimal model size N*(C)", format_count),
        (axes[1], "tokens", lambda n, d: d, "D*: training tokens", "Compute-optimal data D*(C)", format_count),
        (
            axes[2],
            "tokens_per_param",
            lambda n, d: d / n,
            "D*/N*: tokens per parameter",
            "Tokens per parameter D*/N*",
            lambda v: f"{v:.3g}",
        ),
    )
    styles = ({"color": CHINCHILLA, "ls": "--"}, {"color": KAPLAN, "ls": (0, (5, 2, 1, 2))})
    for ax, key, pick, ylabel, title, fmt in panels:
        _bands(ax, flops, opt[key], POSTERIOR, "posterior", levels)
        for (label, (n, d)), style in zip(references.items(), styles, strict=True):
            ax.plot(flops, pick(n, d), lw=1.3, label=label, **style)
        if observed is not None:
            ax.axvline(observed[K.FLOPS].max(), color="0.55", lw=1, ls=":", label="largest fitted run")
        ax.set_xlim(flops[0], flops[-1])
        ax.set(xlabel="training compute C (FLOPs)", ylabel=ylabel, title=title)
        _log_axis(ax, "x", format_flops)
        _log_axis(ax, "y", fmt)
        ax.grid(True, which="major", alpha=0.25)
    axes[0].legend(loc="upper left", fontsize=8, framealpha=0.9)
    a = allocation_exponent(fit, flops)
    if np.isfinite(a).any():
        lo, hi = np.nanquantile(a, [0.05, 0.95])
        fig.suptitle(
            f"Compute-optimal allocation ({fit.law.name} law): N* ∝ C^a with a = {np.nanmedian(a):.3f} "
            f"[{lo:.3f}, {hi:.3f}] (90%)",
            fontsize=11,
        )
    return fig
