"""Pareto-smoothed importance sampling LOO for every observation at once (numpy only).

The estimator is ArviZ's (arviz-stats ``loo``; Vehtari, Gelman & Gabry 2017; Vehtari et al.
2024): for observation :math:`i` the raw log ratios :math:`r_s = -\\log p(y_i \\mid
\\theta_s)` are shifted to a maximum of 0, the largest :math:`M = \\lfloor 3\\sqrt{S/r_{eff}}
\\rfloor` (:math:`\\lfloor S/5 \\rfloor` for few draws) are replaced by quantiles of a
generalized Pareto distribution fitted to them (Zhang & Stephens 2009 with a weak prior on the
shape :math:`\\hat k`), and

.. math:: \\mathrm{elpd}_i = \\log \\sum_s w_s\\, p(y_i \\mid \\theta_s), \\quad
   p_{loo,i} = \\log \\tfrac1S \\sum_s p(y_i \\mid \\theta_s) - \\mathrm{elpd}_i .

ArviZ loops over observations in Python (7.7 s for the 10,286 configurations of the
hitchhiker checkpoint table); here each step is one array operation over a block of columns
(~2 MB, so it stays in cache), blocks on every CPU this process may use: 2.5 s on one. A test
checks every output against ``arviz.loo`` to rounding.

A float32 log-likelihood (what a fit keeps above :data:`FLOAT32_VALUES` values, e.g. 200,000
configurations x 4000 draws: 6.4 GB in float64) is read a block at a time in float64, and its
log weights are returned in float32: memory stays at the input's size, and the estimates
differ from a float64 input's by the input's rounding (~1e-7 relative).
"""

from __future__ import annotations

import numpy as np

from .._threads import in_threads

PRIOR_BS = 3  # ArviZ's _gpdfit constants (Vehtari et al. 2024)
PRIOR_K = 10
CHUNK = 1 << 18  # values (draws x observations) per block of columns (2 MB)
#: Pointwise log-likelihoods of more values than this (2 GiB in float64) are kept in float32 by
#: a fit (:meth:`~bayes_scaling.ScalingFit.log_likelihood`), for PSIS-LOO and power-scaling.
FLOAT32_VALUES = 1 << 28


def logsumexp(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, max-shifted (a column of ``-inf`` gives ``-inf``).
    ``scipy.special.logsumexp`` (weights, complex values, signs) made ``loo_pointwise`` 2x slower."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - top).sum(axis=axis)) + np.squeeze(top, axis=axis)


def tail_length(n_draws: int, r_eff: float) -> int:
    """Draws in the smoothed right tail: ``3 sqrt(S / r_eff)``, or ``S / 5`` for few draws."""
    if n_draws * r_eff > 225:
        return int(np.floor(3 * (n_draws / r_eff) ** 0.5))
    return int(np.floor(n_draws / 5))


def gpd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Pareto shape and scale per column of ``x`` (``(M, n)``, each column sorted
    ascending, exceedances over the cutoff): the empirical-Bayes estimate of Zhang & Stephens
    with ArviZ's prior pulling :math:`\\hat k` towards 0.5. Columns whose first quartile is not
    above their minimum get ``nan``; a ``nan`` shape becomes ``inf``."""
    m = x.shape[0]
    m_est = 30 + int(m**0.5)
    xstar = x[int((m / 4 + 0.5) - 1)]
    grid = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
    with np.errstate(all="ignore"):
        b = grid[:, None] / (PRIOR_BS * xstar)[None, :] + 1 / x[-1][None, :]  # (m_est, n)
        k = np.log1p(-b[:, None, :] * x[None, :, :]).mean(axis=1)  # (m_est, n)
        len_scale = m * (np.log(-b / k) - k - 1)
        w = np.exp(len_scale - logsumexp(len_scale, axis=0))
        w = np.where(w >= 10 * np.finfo(float).eps, w, 0.0)  # negligible (or nan) weights out
        total = w.sum(axis=0)
        w = np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)  # none left: b = 0, as ArviZ
        b_post = np.where(w > 0, b * w, 0.0).sum(axis=0)  # dropped grid points may be infinite
        kappa = np.log1p(-b_post * x).mean(axis=0)
        sigma = -kappa / b_post
    kappa = (m * kappa + PRIOR_K * 0.5) / (m + PRIOR_K)
    sigma = np.where(np.isnan(kappa), np.nan, sigma)
    kappa = np.where(np.isnan(kappa), np.inf, kappa)
    bad = ~(xstar > x[0])
    return np.where(bad, np.nan, kappa), np.where(bad, np.nan, sigma)


def gpd_quantile(probs: np.ndarray, kappa: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Generalized Pareto quantiles, ``probs`` ``(M, 1)`` against per-column parameters."""
    with np.errstate(all="ignore"):
        safe_k = np.where(kappa == 0, 1.0, kappa)
        q = np.where(
            kappa == 0,
            mu - sigma * np.log1p(-probs),
            mu + sigma * np.expm1(-safe_k * np.log1p(-probs)) / safe_k,
        )
    return np.where(sigma > 0, q, np.nan)


def psis_log_weights(log_lik: np.ndarray, r_eff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised PSIS log weights ``(S, n)`` and Pareto :math:`\\hat k` ``(n,)`` for the
    leave-one-out ratios :math:`1 / p(y_i \\mid \\theta_s)` of ``log_lik`` ``(S draws, n)``."""
    log_lik = _as_float(log_lik)
    n_draws, n_obs = log_lik.shape
    m = tail_length(n_draws, r_eff)
    if m < 5:
        raise ValueError(f"PSIS needs at least 5 tail draws; {n_draws} draws give {m}")
    lw = np.empty(log_lik.shape, dtype=log_lik.dtype)
    khat = np.empty(n_obs)

    def work(cols: slice) -> None:
        lw[:, cols], khat[cols] = _smoothed_block(np.asarray(log_lik[:, cols], dtype=float), m)

    in_threads(work, _column_blocks(n_draws, n_obs))
    return lw, khat


def _as_float(log_lik) -> np.ndarray:
    """float32 stays float32 (read a block at a time in float64); anything else becomes float64."""
    log_lik = np.asarray(log_lik)
    return log_lik if log_lik.dtype == np.float32 else np.asarray(log_lik, dtype=float)


def _column_blocks(n_draws: int, n_obs: int):
    """Column slices of about ``CHUNK`` values: blocks that stay in cache run several times
    faster than whole-array passes (each a fresh allocation) at 4000 x 10,000."""
    width = max(1, CHUNK // max(n_draws, 1))
    return [slice(i, min(i + width, n_obs)) for i in range(0, n_obs, width)]


def _smoothed_block(log_lik: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    n_draws = log_lik.shape[0]
    block = -log_lik
    block -= block.max(axis=0)
    # the M + 1 largest per column (the cutoff and the tail), then sorted: O(S) a column
    top = np.argpartition(block, n_draws - m - 1, axis=0)[n_draws - m - 1 :]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(block, top, axis=0), axis=0), axis=0)
    tail_idx = top[1:]
    tail = np.take_along_axis(block, tail_idx, axis=0)  # ascending
    cutoff = np.take_along_axis(block, top[:1], axis=0)[0]
    if np.any(np.abs(tail[-1] - tail[0]) < np.finfo(float).tiny):
        raise ValueError("PSIS: all tail values of an observation's log-likelihood are the same")
    exp_cut = np.exp(cutoff)
    kappa, sigma = gpd_fit(np.exp(tail) - exp_cut)
    probs = ((np.arange(m) + 0.5) / m)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        smoothed = np.log(gpd_quantile(probs, kappa, sigma, exp_cut))
    smoothed = np.where(smoothed > tail[-1], tail[-1], smoothed)  # nan stays nan, as in ArviZ
    smoothed = np.where(np.isfinite(kappa), smoothed, tail)
    np.put_along_axis(block, tail_idx, smoothed, axis=0)
    block -= logsumexp(block, axis=0)
    return block, kappa


def loo_pointwise(log_lik: np.ndarray, r_eff: float = 1.0) -> dict:
    """PSIS-LOO of every observation of ``log_lik`` ``(S draws, n)``: ``elpd_i``, ``p_loo_i``,
    ``pareto_k`` (``(n,)`` each) and the smoothed ``log_weights`` ``(S, n)``."""
    log_lik = _as_float(log_lik)
    n_draws, n_obs = log_lik.shape
    lw, khat = psis_log_weights(log_lik, r_eff)
    elpd_i, lppd_i = np.empty(n_obs), np.empty(n_obs)

    def work(cols: slice) -> None:
        block = np.asarray(log_lik[:, cols], dtype=float)
        elpd_i[cols] = logsumexp(np.asarray(lw[:, cols], dtype=float) + block, axis=0)
        lppd_i[cols] = logsumexp(block, axis=0) - np.log(n_draws)

    in_threads(work, _column_blocks(n_draws, n_obs))
    return {"elpd_i": elpd_i, "p_loo_i": lppd_i - elpd_i, "pareto_k": khat, "log_weights": lw}


def good_k(n_samples: int) -> float:
    """ArviZ's threshold for a reliable Pareto :math:`\\hat k`: ``min(1 - 1/log10 S, 0.7)``."""
    return min(1 - 1 / np.log10(n_samples), 0.7) if n_samples > 1 else 0.7


def elpd_loo(log_lik, posterior, dim: str):
    """ArviZ's ``ELPDDataLOO`` (for ``az.compare``) from a ``(chain, draw, dim)`` log-likelihood
    DataArray, one point per ``dim`` (a configuration, a run of a curve fit) left out at a time;
    ``r_eff`` as ArviZ takes it, the mean relative ESS of every value of ``posterior`` (a Dataset)."""
    import xarray as xr
    from arviz_stats.utils import ELPDDataLOO

    n_chains, n_draws, n_points = log_lik.shape
    n_samples = n_chains * n_draws
    ess = posterior.azstats.ess(method="mean")
    r_eff = float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean()) / n_samples
    out = loo_pointwise(log_lik.values.reshape(n_samples, n_points), r_eff)
    per_point = {k: xr.DataArray(out[k], dims=(dim,), name="loss") for k in ("elpd_i", "p_loo_i", "pareto_k")}
    elpd, se, p_loo, _ = per_point["elpd_i"].azstats.loo_summary(per_point["p_loo_i"])
    threshold = good_k(n_samples)
    return ELPDDataLOO(
        elpd=elpd,
        se=se,
        p=p_loo,
        n_samples=n_samples,
        n_data_points=n_points,
        scale="log",
        warning=bool(np.any(out["pareto_k"] > threshold)),
        good_k=threshold,
        elpd_i=per_point["elpd_i"],
        pareto_k=per_point["pareto_k"],
        approx_posterior=False,
        log_weights=xr.DataArray(out["log_weights"].reshape(log_lik.shape), dims=log_lik.dims, name="loss"),
    )


def elpd_with_exact(base, log_lik, exact: dict):
    """``base`` (an ``ELPDDataLOO``) with the points of ``exact`` (``{index: elpd}``, from refits
    without them) replaced: their Pareto k set to 0 and their effective number of parameters
    the full posterior's log predictive density minus the exact elpd; totals and standard error
    recomputed as ArviZ does (``log_lik``: the full fit's ``(chain, draw, point)`` log-likelihood)."""
    import copy

    out = copy.copy(base)
    elpd_i = base.elpd_i.copy()
    pareto_k = base.pareto_k.copy()
    n_chains, n_draws, n_points = log_lik.shape
    flat = log_lik.values.reshape(n_chains * n_draws, n_points)
    lppd = np.logaddexp.reduce(flat, axis=0) - np.log(flat.shape[0])
    p_loo_i = lppd - elpd_i.values
    for index, value in exact.items():
        elpd_i[index] = value
        pareto_k[index] = 0.0
        p_loo_i[index] = lppd[index] - value
    p_loo_i = elpd_i.copy(data=p_loo_i)
    elpd, se, p_loo, _ = elpd_i.azstats.loo_summary(p_loo_i)
    out.elpd, out.se, out.p, out.elpd_i, out.pareto_k = elpd, se, p_loo, elpd_i, pareto_k
    out.warning = bool(np.any(pareto_k.values > base.good_k))
    if getattr(base, "log_weights", None) is not None:  # importance weights mean nothing for a refitted point
        weights = base.log_weights.copy()
        weights[{elpd_i.dims[0]: list(exact)}] = np.nan
        out.log_weights = weights
    return out
