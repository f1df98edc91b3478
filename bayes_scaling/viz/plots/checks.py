r"""The noise model against the data: residuals of log loss with a new run's bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ... import _constants as K
from ...noise import new_run_noise, new_run_sd
from ...units import format_count, format_flops
from ._common import _BAND_ALPHA, DATA, HELD_OUT, LEVELS, NEW_RUN, _log_axis, _observed, _quantiles


# --------------------------------------------------------------------------- residuals
def residuals(fit, *, bins: int = 8, random_seed: int = 0):
    r"""Residuals of log loss against N, D and C (three panels), with the noise model's bands.

    Residual of run :math:`i`: :math:`r_i = \log L_i - \operatorname{median}_s \log\mu_s(N_i, D_i)`.
    A new single-seed run deviates from the law by :math:`\delta + \varepsilon` with scale
    :math:`\sqrt{\tau^2 + \sigma(N)^2}`, :math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}`
    (with the tails of the fit's likelihood, e.g. Student-t); the shaded bands are its 50%
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
    inputs = {
        name: np.log(observed[name].to_numpy(dtype=float))[None, :] for name in fit.law.extra_inputs if name in observed
    }
    log_mu = fit.law.log_loss(theta, np.log(n)[None, :], np.log(d)[None, :], fit.scale, inputs)
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
