r"""From loss to downstream error: Gadre et al.'s (2024) exponential link, fitted with NUTS.

.. math:: \mathrm{Err}_i \sim \mathcal N\bigl(\epsilon - k\, e^{-\gamma L_i},\ \sigma^2\bigr)

:math:`\epsilon` is the error of a model that has learnt nothing (chance level), :math:`k e^{-\gamma L}`
how far below it a model of loss L gets. For the sampler :math:`k` is replaced by the drop at
the median observed loss :math:`L_r`: :math:`\log\Delta_r = \log k - \gamma L_r`, which is
nearly uncorrelated with :math:`\gamma`. A :class:`DownstreamFit` turns any loss forecast
(a :class:`~bayes_scaling.forecast.result.ScalingFit` or a stacked mixture) into an error forecast by
pairing its loss draws with the link's draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import RunsValidationError
from ..laws import maths as laws


@dataclass(frozen=True, eq=False)
class DownstreamFit:
    """Posterior draws of the link :math:`\\mathrm{Err}(L) = \\epsilon - k e^{-\\gamma L}` (flat arrays)."""

    eps: np.ndarray
    k: np.ndarray
    gamma: np.ndarray
    sigma: np.ndarray
    diagnostics: pd.DataFrame

    @property
    def n_draws(self) -> int:
        return self.eps.size

    def error_draws(self, loss_draws: np.ndarray, *, new_task_noise: bool = False, random_seed: int = 0) -> np.ndarray:
        """Error draws for loss draws of shape ``(n, n_points)``: draw s of the loss is paired with
        draw ``s mod n_draws`` of the link. ``new_task_noise`` adds the link's residual sd."""
        loss_draws = np.asarray(loss_draws, dtype=float)
        idx = np.arange(loss_draws.shape[0]) % self.n_draws
        err = laws.downstream_error(loss_draws, self.eps[idx, None], self.k[idx, None], self.gamma[idx, None])
        if new_task_noise:
            err = err + self.sigma[idx, None] * np.random.default_rng(random_seed).standard_normal(err.shape)
        return err

    def predict(self, loss_fit, params, tokens, *, kind: str = "new_run", prob: float = 0.9, random_seed: int = 0):
        """Median and central ``prob`` interval of the error at ``(params, tokens)``, from the
        loss forecast of ``loss_fit`` (``kind`` as in ``predict``) through the link."""
        forecast = loss_fit.predict(params, tokens, kind=kind, random_seed=random_seed)
        err = self.error_draws(forecast.draws, new_task_noise=True, random_seed=random_seed)
        lo, med, hi = np.quantile(err, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
        return pd.DataFrame(
            {"params": forecast.params, "tokens": forecast.tokens, "error_median": med, "error_lo": lo, "error_hi": hi}
        ).rename_axis("point")


def fit_downstream(
    loss,
    error,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: str | None = None,
    progressbar: bool = False,
) -> DownstreamFit:
    """Fit the loss-to-error link to paired observations (one per model: its loss in nats and
    its downstream error rate in [0, 1], e.g. mean top-1 error over a task suite)."""
    import pymc as pm

    from ..inference.diagnostics import diagnostics_table
    from ..inference.sampling import default_sampler, nuts_options, run_nuts

    loss, error = np.asarray(loss, dtype=float).ravel(), np.asarray(error, dtype=float).ravel()
    problems = []
    if loss.shape != error.shape:
        problems.append(f"loss and error must pair up one to one: {loss.size} losses, {error.size} errors")
    else:
        if loss.size < 5:
            problems.append(f"the link has 4 parameters: give at least 5 (loss, error) pairs, got {loss.size}")
        bad = np.flatnonzero(~np.isfinite(loss) | (loss <= 0))
        if bad.size:
            problems.append(f"loss must be positive nats at positions {bad[:10].tolist()}")
        bad = np.flatnonzero(~np.isfinite(error) | (error < 0) | (error > 1))
        if bad.size:
            problems.append(f"error must be a rate in [0, 1] at positions {bad[:10].tolist()} (percent? divide by 100)")
    if problems:
        raise RunsValidationError(problems)
    l_ref = float(np.median(loss))
    sampler = sampler or default_sampler()
    with pm.Model():
        eps = pm.Beta("eps", alpha=2.0, beta=2.0)
        gamma = pm.LogNormal("gamma", mu=0.0, sigma=1.0)
        log_drop = pm.Normal("log_drop_ref", mu=float(np.log(max(np.median(error) / 2, 1e-3))), sigma=1.5)
        k = pm.Deterministic("k", pm.math.exp(log_drop + gamma * l_ref))
        sigma = pm.HalfNormal("sigma", sigma=0.05)
        pm.Normal("error", mu=eps - k * pm.math.exp(-gamma * loss), sigma=sigma, observed=error)
        idata = run_nuts(
            draws=draws,
            tune=tune,
            chains=chains,
            sampler=sampler,
            nuts=nuts_options(sampler, 0.9),
            random_seed=random_seed,
            progressbar=progressbar,
        )
    post = idata["posterior"].to_dataset()
    flat = {name: post[name].values.reshape(-1) for name in ("eps", "k", "gamma", "sigma")}
    table = diagnostics_table(idata, ["eps", "gamma", "log_drop_ref", "sigma"])
    return DownstreamFit(**flat, diagnostics=table)
