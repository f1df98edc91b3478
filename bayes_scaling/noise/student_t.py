r"""Student-t configuration means (the default): robust to outlying runs.

.. math::  \bar y_j \sim t_\nu(\log\mu_j,\ s_j), \qquad s_j^2 = \tau^2 + \sigma_j^2 / n_j,
           \qquad \nu \sim \operatorname{Gamma}(2, 0.1),

the Bayesian counterpart of Approach 3's Huber loss: digitisation errors and under-tuned runs
get little weight. The marginalisation of the discrepancy in :mod:`.model` is exact for Gaussian
tails; Student-t tails of the same scale are a robust approximation. A new single-seed run
deviates from the law by :math:`t_\nu(0, \sqrt{\tau^2 + \sigma(N)^2})` with the draw's
:math:`\nu`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .registry import Likelihood, register_likelihood


def student_t_logpdf(y, nu, loc, scale):
    r""":math:`\log t_\nu(y \mid \mu, s) = \log\Gamma(\tfrac{\nu+1}{2}) - \log\Gamma(\tfrac{\nu}{2})
    - \tfrac12\log(\nu\pi) - \log s - \tfrac{\nu+1}{2}\log(1 + z^2/\nu)`."""
    from scipy.special import gammaln

    nu = np.asarray(nu, dtype=float)
    z = (y - loc) / scale
    const = gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * np.pi)
    return const - np.log(scale) - (nu + 1.0) / 2.0 * np.log1p(z * z / nu)


def _default_priors() -> dict:
    """nu: degrees of freedom, Gamma(2, 0.1) (Juarez & Steel 2010)."""
    from pymc_extras.prior import Prior

    return {"nu": Prior("Gamma", alpha=2.0, beta=0.1)}


def _observe(name: str, theta: Mapping, loc, var, observed, dims) -> None:
    import pymc as pm
    import pytensor.tensor as pt

    pm.StudentT(name, nu=theta["nu"], mu=loc, sigma=pt.sqrt(var), observed=observed, dims=dims)


def _log_density(y, theta: Mapping, loc, scale):
    return student_t_logpdf(y, theta["nu"], loc, scale)


def _new_run_noise(theta: Mapping, sd, shape, rng: np.random.Generator, marginal_only: bool = False):
    r"""Draws of :math:`\mathrm{sd}\cdot t_\nu`; ``marginal_only``: as :math:`z\sqrt{\nu/\chi^2_\nu}` with
    one :math:`\chi^2` per posterior draw shared by all points (float32 normals)."""
    if marginal_only:  # (float32 normals: this path only feeds per-point summaries)
        nu = np.asarray(theta["nu"], dtype=float)
        scale = sd * np.sqrt(nu / rng.chisquare(nu)).astype(np.float32)
        return scale * rng.standard_normal(shape, dtype=np.float32)
    return sd * rng.standard_t(np.broadcast_to(theta["nu"], shape))


def _new_run_cdf(z, theta: Mapping):
    from scipy import stats

    return stats.t.cdf(z, df=theta["nu"])


def _new_run_log_density(z, theta: Mapping):
    from scipy import stats

    return stats.t.logpdf(z, df=theta["nu"])


STUDENT_T = register_likelihood(
    Likelihood(
        name="student_t",
        label="Student-t",
        description="Student-t tails (nu estimated): robust to an outlying configuration",
        formula=r"\bar y_j \sim t_\nu(\log\mu_j,\ s_j)",
        parameters=("nu",),
        default_priors=_default_priors,
        observe=_observe,
        log_density=_log_density,
        new_run_noise=_new_run_noise,
        new_run_cdf=_new_run_cdf,
        new_run_log_density=_new_run_log_density,
        symbols={"nu": r"\nu"},
        meanings={"nu": "Student-t degrees of freedom (tails)"},
    )
)
