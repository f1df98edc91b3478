r"""Gaussian configuration means, except for outliers above the frontier.

With probability :math:`\pi` a configuration sits *above* the law by a half-normal excess of
scale :math:`w` (an under-tuned run cannot beat the frontier). Gaussian noise plus a half-normal
shift is exactly skew-normal:

.. math::  \bar y_j \sim (1-\pi)\,\mathcal N(\log\mu_j, s_j^2) + \pi\,
           \operatorname{SkewNormal}\bigl(\log\mu_j, \sqrt{s_j^2 + w^2}, w/s_j\bigr),
           \qquad \pi \sim \operatorname{Beta}(1, 19),

and each configuration's posterior probability of being an outlier can be read off
(:func:`outlier_probability`). Forecasts are of a run on the frontier: a new run deviates from the
law by the Gaussian component, :math:`\mathcal N(0, \tau^2 + \sigma(N)^2)`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .normal import gaussian_new_run_cdf, gaussian_new_run_log_density, gaussian_new_run_noise
from .registry import Likelihood, register_likelihood


def _default_priors() -> dict:
    """outlier_prob: Beta(1, 19), 5% of configurations a priori; outlier_excess: scale of an
    outlier's excess log loss, 95% in ~[0.7%, 35%]."""
    from pymc_extras.prior import Prior

    return {
        "outlier_prob": Prior("Beta", alpha=1.0, beta=19.0),
        "outlier_excess": Prior("LogNormal", mu=float(np.log(0.05)), sigma=1.0),
    }


def _log_normal_cdf(z):
    r""":math:`\log\Phi(z)` with finite values and gradients everywhere: the asymptotic branch
    (``erfcx``) below -1, ``log1p(-erfc/2)`` above, each fed only the arguments of its own side
    (a ``switch`` differentiates both branches, and an infinite one would poison the gradient)."""
    import pytensor.tensor as pt

    low = z < -1.0
    z_low = pt.switch(low, z, -1.0)
    z_high = pt.switch(low, 0.0, z)
    return pt.switch(
        low,
        pt.log(pt.erfcx(-z_low / np.sqrt(2.0)) / 2.0) - 0.5 * z_low**2,
        pt.log1p(-pt.erfc(z_high / np.sqrt(2.0)) / 2.0),
    )


def _mixture_logp(value, loc, var, pi, w):
    """The mixture's log density in PyTensor. PyMC's SkewNormal computes log(1 + erf(.)), which is
    -inf (and its gradient nan) a few scales below the law when the seed noise is small: NUTS
    then diverges. Here the skew-normal's log Phi is the stable one above."""
    import pytensor.tensor as pt

    s2 = var
    omega2 = var + w**2
    r = value - loc
    log_in = pt.log1p(-pi) - 0.5 * r**2 / s2 - 0.5 * pt.log(2.0 * np.pi * s2)
    log_out = (
        pt.log(pi)
        + np.log(2.0)
        - 0.5 * r**2 / omega2
        - 0.5 * pt.log(2.0 * np.pi * omega2)
        + _log_normal_cdf(w * r / pt.sqrt(s2 * omega2))
    )
    return pt.logaddexp(log_in, log_out)


def _mixture_dist(loc, var, pi, w, size):
    """The generative graph (prior predictive, SBC): Gaussian noise, plus a half-normal excess of
    scale w with probability pi. Its log density is :func:`_mixture_logp`."""
    import pymc as pm
    import pytensor.tensor as pt

    # pi and w broadcast to every configuration: each draws its own outlier flag and excess
    shape = pt.zeros_like(loc + var)
    noise = pm.Normal.dist(loc, pt.sqrt(var), size=size)
    excess = pm.Bernoulli.dist(pi + shape, size=size) * pt.abs(pm.Normal.dist(0.0, w + shape, size=size))
    return noise + excess


def _observe(name: str, theta: Mapping, loc, var, observed, dims) -> None:
    import pymc as pm

    pm.CustomDist(
        name,
        loc,
        var,
        theta["outlier_prob"],
        theta["outlier_excess"],
        logp=_mixture_logp,
        dist=_mixture_dist,
        observed=observed,
        dims=dims,
    )


def _components(y, theta: Mapping, loc, scale):
    """log((1 - pi) f_frontier(y)) and log(pi f_outlier(y)) per draw and configuration."""
    from scipy import stats

    pi, w = theta["outlier_prob"], theta["outlier_excess"]
    log_in = np.log1p(-pi) + stats.norm.logpdf(y, loc=loc, scale=scale)
    log_out = np.log(pi) + stats.skewnorm.logpdf(y, w / scale, loc=loc, scale=np.sqrt(scale**2 + w**2))
    return log_in, log_out


def _log_density(y, theta: Mapping, loc, scale):
    log_in, log_out = _components(y, theta, loc, scale)
    return np.logaddexp(log_in, log_out)


def outlier_probability(y, theta: Mapping, loc, scale):
    r"""Probability that :math:`\bar y_j` comes from the outlier component:
    :math:`\pi f_\text{out}(\bar y_j) / \bigl((1-\pi) f_\text{in}(\bar y_j) + \pi f_\text{out}(\bar y_j)\bigr)`."""
    log_in, log_out = _components(y, theta, loc, scale)
    return np.exp(log_out - np.logaddexp(log_in, log_out))


OUTLIER_MIXTURE = register_likelihood(
    Likelihood(
        name="outlier_mixture",
        label="Gaussian + outliers",
        description=(
            "Gaussian tails plus a share of outlying configurations above the frontier (e.g. under-tuned); "
            "forecasts are of a run on the frontier"
        ),
        formula=(
            r"\bar y_j \sim (1-\pi)\,\mathcal N(\log\mu_j, s_j^2) + \pi\,"
            r"\operatorname{SkewNormal}\bigl(\log\mu_j, \sqrt{s_j^2 + w^2}, w/s_j\bigr)"
        ),
        parameters=("outlier_prob", "outlier_excess"),
        default_priors=_default_priors,
        observe=_observe,
        log_density=_log_density,
        new_run_noise=gaussian_new_run_noise,
        new_run_cdf=gaussian_new_run_cdf,
        new_run_log_density=gaussian_new_run_log_density,
        outlier_probability=outlier_probability,
        symbols={"outlier_prob": r"\pi", "outlier_excess": "w"},
        meanings={
            "outlier_prob": "share of outlying configurations",
            "outlier_excess": "typical excess log loss of an outlying configuration",
        },
    )
)
