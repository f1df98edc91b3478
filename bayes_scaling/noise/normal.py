r"""Gaussian configuration means: the exact marginal likelihood of the noise model.

.. math::  \bar y_j \sim \mathcal N(\log\mu_j,\ s_j^2), \qquad s_j^2 = \tau^2 + \sigma_j^2 / n_j,

and a new single-seed run deviates from the law by :math:`\mathcal N(0, \tau^2 + \sigma(N)^2)`.
No parameters of its own. This file is the smallest example of a registered likelihood.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .registry import Likelihood, register_likelihood

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def normal_logpdf(y, loc, scale):
    r""":math:`\log \mathcal N(y \mid \mu, s) = -z^2/2 - \log s - \tfrac12\log 2\pi`, :math:`z = (y-\mu)/s`."""
    z = (y - loc) / scale
    return -0.5 * z * z - np.log(scale) - _HALF_LOG_2PI


def _observe(name: str, theta: Mapping, loc, var, observed, dims) -> None:
    import pymc as pm
    import pytensor.tensor as pt

    pm.Normal(name, mu=loc, sigma=pt.sqrt(var), observed=observed, dims=dims)


def _log_density(y, theta: Mapping, loc, scale):
    return normal_logpdf(y, loc, scale)


def gaussian_new_run_noise(theta: Mapping, sd, shape, rng: np.random.Generator, marginal_only: bool = False):
    """Draws of :math:`\\mathcal N(0, \\mathrm{sd}^2)` of the given shape (``marginal_only`` changes nothing)."""
    return sd * rng.standard_normal(shape)


def gaussian_new_run_cdf(z, theta: Mapping):
    r""":math:`\Phi(z)`."""
    from scipy import special

    return special.ndtr(z)


def gaussian_new_run_log_density(z, theta: Mapping):
    r""":math:`\log\varphi(z)`."""
    from scipy import stats

    return stats.norm.logpdf(z)


NORMAL = register_likelihood(
    Likelihood(
        name="normal",
        label="Gaussian",
        description="Gaussian tails: the exact marginal likelihood, sensitive to an outlying configuration",
        formula=r"\bar y_j \sim \mathcal N(\log\mu_j,\ s_j^2)",
        parameters=(),
        default_priors=dict,
        observe=_observe,
        log_density=_log_density,
        new_run_noise=gaussian_new_run_noise,
        new_run_cdf=gaussian_new_run_cdf,
        new_run_log_density=gaussian_new_run_log_density,
    )
)
