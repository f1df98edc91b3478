r"""The noise model: how observed log losses scatter around the law.

For run :math:`i` of configuration :math:`j` (replicate seeds share :math:`(N_j, D_j)`):

.. math::  y_{ij} = \log L_{ij} = \log\mu(N_j, D_j) + \delta_j + \varepsilon_{ij}, \qquad
           \delta_j \sim \mathcal N(0, \tau^2), \quad
           \varepsilon_{ij} \sim \mathcal N\bigl(0, \sigma(N_j)^2\bigr), \quad
           \sigma(N) = \sigma_r (N/N_r)^{-\gamma}.

:math:`\delta_j` (the configuration discrepancy, shared by its seeds) is integrated out
analytically: with :math:`n_j` seeds, mean :math:`\bar y_j` and within sum of squares
:math:`S_j`, the exact likelihood factorises into

.. math::  \bar y_j \sim \mathcal N\bigl(\log\mu_j,\; \tau^2 + \sigma_j^2 / n_j\bigr), \qquad
           S_j \sim \operatorname{Gamma}\bigl(\tfrac{n_j - 1}{2},\; \text{rate} = \tfrac{1}{2\sigma_j^2}\bigr)
           \quad (n_j \ge 2),

so the cost grows with the number of configurations, no latent variable per configuration is
sampled. The distribution of the configuration means :math:`\bar y_j` around
:math:`\log\mu_j` with scale :math:`s_j = \sqrt{\tau^2 + \sigma_j^2 / n_j}` is a registered
likelihood (:mod:`.registry`; Gaussian above, Student-t tails by default, or a mixture with
outliers); the within term :math:`S_j` and everything in this module are shared by all of them.

**Parameterisation for the sampler.** With one seed per configuration only
:math:`\tau^2 + \sigma(N)^2` is identified, and (log tau, log sigma) form an L-shaped ridge
(R-hat > 1.01 seen). The sampler therefore works on the total sd of a one-seed run at the
centre of the data, :math:`s = \sqrt{\tau^2 + \sigma_r^2}`, and the discrepancy's share of
that variance, :math:`f = \tau^2 / s^2 \sim \operatorname{Beta}(2, 2)`; :math:`\tau = s\sqrt f`
and :math:`\sigma_r = s\sqrt{1 - f}` are reported. On 120 single-seed configurations this
raised the bulk ESS of tau from ~700 to ~2200 (4 x 1000 draws).

Forecasts add an extrapolation drift beyond the fitted range (:mod:`.extrapolation`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import SpecError
from ..laws import maths as laws
from .options import NoiseOptions
from .registry import available_likelihoods, get_likelihood


def _sqrt(x):
    if laws.is_symbolic(x):
        import pytensor.tensor as pt

        return pt.sqrt(x)
    return np.sqrt(x)


def reported_noise(theta: Mapping, options: NoiseOptions) -> dict:
    """``tau`` and ``sigma_ref`` from the sampled ``noise_sd`` and ``tau_share`` (numpy or pytensor)."""
    if not options.discrepancy:
        return {"sigma_ref": theta["sigma_ref"]}
    s, f = theta["noise_sd"], theta["tau_share"]
    return {"sigma_ref": s * _sqrt(1.0 - f), "tau": s * _sqrt(f)}


def config_sd(theta: Mapping, log_n, log_n_ref: float, options: NoiseOptions, log_n_max: float | None = None):
    """Seed-noise sd :math:`\\sigma(N)` per configuration (works on numpy and pytensor).

    ``theta`` must hold ``sigma_ref`` (see :func:`reported_noise`) and, if heteroscedastic, ``gamma``.
    ``log_n_max`` (forecasts; numpy): the largest fitted log N. Beyond it the noise may shrink as
    fitted (:math:`\\gamma > 0`) but never grows. A :math:`\\gamma < 0` fitted inside the data is
    no evidence of noise at runs 10-1000x larger: on the digitised IsoFLOP points of Llama 3
    (gamma about -1.2) it is the law's misfit at the largest sizes, as the scatter about each
    budget's parabola is 0.04-0.3%, largest at the small budgets; carried out, it gave a new run
    at 1e25 FLOPs a 90% band of 0.0016-236 (its loss is about 0.6 there). Seed-to-seed spread
    falls with size where it has been measured.
    """
    if not options.heteroscedastic:
        return theta["sigma_ref"] + 0.0 * log_n
    if log_n_max is None or not np.isfinite(log_n_max):
        return laws.seed_noise_sd(log_n, theta["sigma_ref"], theta["gamma"], log_n_ref)
    gamma, log_n = theta["gamma"], np.asarray(log_n)
    inside = laws.seed_noise_sd(np.minimum(log_n, log_n_max), theta["sigma_ref"], gamma, log_n_ref)
    return inside * np.exp(-np.maximum(gamma, 0.0) * np.maximum(log_n - log_n_max, 0.0))


def config_mean_variance(theta: Mapping, sd, n_seeds, options: NoiseOptions):
    """Variance of a configuration's mean log loss over ``n_seeds`` runs:
    :math:`\\tau^2 + \\sigma(N)^2 / n` (numpy or pytensor). ``theta`` holds ``tau`` (see
    :func:`reported_noise`) and ``sd`` is :math:`\\sigma(N)` from :func:`config_sd`."""
    var = sd**2 / n_seeds
    if options.discrepancy:
        var = var + theta["tau"] ** 2
    return var


def new_run_sd(theta: Mapping, log_n, log_n_ref: float, options: NoiseOptions, log_n_max: float | None = None):
    """Scale of a *new* single-seed run around the law: :math:`\\sqrt{\\tau^2 + \\sigma(N)^2}`.

    ``theta`` holds the sampled parameters (broadcastable arrays); numpy only. ``log_n_max``: see
    :func:`config_sd` (forecasts pass the largest fitted log N).
    """
    theta = {**theta, **reported_noise(theta, options)}
    sd = config_sd(theta, log_n, log_n_ref, options, log_n_max)
    if options.discrepancy:
        sd = np.sqrt(theta["tau"] ** 2 + sd**2)
    return sd


def new_run_noise(
    theta: Mapping,
    log_n,
    log_n_ref: float,
    options: NoiseOptions,
    rng: np.random.Generator,
    *,
    marginal_only: bool = False,
    log_n_max: float | None = None,
):
    """Draws of a *new* run's log-loss deviation from the law, one per (draw, point).

    Scale :math:`\\sqrt{\\tau^2 + \\sigma(N)^2}` (the likelihood of a one-seed configuration),
    drawn by the likelihood (e.g. Gaussian, or Student-t with the draw's :math:`\\nu`).
    ``theta`` holds the sampled parameters as (n_draws, 1) arrays and ``log_n`` is a
    (1, n_points) array.

    ``marginal_only``: the likelihood may draw the points of one posterior draw dependently when
    each point's distribution stays exact (Student-t: :math:`z\\sqrt{\\nu/\\chi^2_\\nu}` with one
    :math:`\\chi^2` per posterior draw shared by all points); use it only for per-point
    summaries (it is ~5x faster). ``log_n_max``: see :func:`config_sd` (the largest fitted log N).
    """
    sd = new_run_sd(theta, log_n, log_n_ref, options, log_n_max)
    shape = np.broadcast_shapes(np.shape(sd), np.shape(log_n))
    return options.likelihood_component.new_run_noise(theta, sd, shape, rng, marginal_only)


def add_likelihood(theta: Mapping, log_mu, data: Mapping, log_n_ref, options: NoiseOptions, *, report=True) -> None:
    """Add the marginal likelihood above to the current PyMC model context.

    ``theta`` holds the sampled parameters; ``tau`` and ``sigma_ref`` are added as
    deterministics unless ``report`` is false (a model over families reports them per family). ``data`` holds pm.Data tensors: ``log_n`` and ``n_seeds`` per config, the
    observed ``mean_log_loss`` per config, and for replicated configs ``within_ss``, ``rep_index``.
    The configuration means are observed through the likelihood's ``observe``.
    """
    import pymc as pm

    reported = reported_noise(theta, options)
    if options.discrepancy and report:
        reported = {name: pm.Deterministic(name, value) for name, value in reported.items()}
    theta = {**theta, **reported}
    sd = config_sd(theta, data["log_n"], log_n_ref, options)
    var_mean = config_mean_variance(theta, sd, data["n_seeds"], options)
    options.likelihood_component.observe(
        "mean_log_loss", theta, log_mu, var_mean, observed=data["mean_log_loss"], dims="config"
    )
    if "within_ss" in data:
        rep = data["rep_index"]
        dof = data["n_seeds"][rep] - 1.0
        pm.Gamma(
            "within_ss",
            alpha=dof / 2.0,
            beta=1.0 / (2.0 * sd[rep] ** 2),
            observed=data["within_ss"],
            dims="replicated_config",
        )


def _config_mean_scale(theta: Mapping, data: Mapping, log_n_ref: float, options: NoiseOptions):
    """``theta`` with the reported noise, sigma(N) and the sd of each configuration mean, (n_draws, n_configs)."""
    theta = {**theta, **reported_noise(theta, options)}
    sd = config_sd(theta, data["log_n"][None, :], log_n_ref, options)
    scale = np.sqrt(config_mean_variance(theta, sd, data["n_seeds"][None, :], options))
    return theta, sd, scale


def pointwise_log_likelihood(theta: Mapping, log_mu, data: Mapping, log_n_ref: float, options: NoiseOptions):
    """Log-likelihood of each configuration per draw, in numpy: shape (n_draws, n_configs).

    The same terms as :func:`add_likelihood` (configuration mean, plus the within sum of squares
    for replicated configurations), summed per configuration: the unit PSIS-LOO leaves out.
    ``theta`` holds (n_draws, 1) arrays; ``data`` numpy arrays ``log_n``, ``n_seeds``,
    ``mean_log_loss`` (per config) and ``within_ss``, ``rep_index`` (replicated configs).
    """
    theta, sd, scale = _config_mean_scale(theta, data, log_n_ref, options)
    y = data["mean_log_loss"][None, :]
    log_lik = options.likelihood_component.log_density(y, theta, log_mu, scale)
    rep = np.asarray(data.get("rep_index", []), dtype=int)
    if rep.size:
        dof = data["n_seeds"][rep] - 1.0
        log_lik[:, rep] += gamma_logpdf(data["within_ss"][None, :], dof / 2.0, 2.0 * sd[:, rep] ** 2)
    return log_lik


def outlier_probability(theta: Mapping, log_mu, data: Mapping, log_n_ref: float, options: NoiseOptions):
    """Per draw, each configuration's probability of belonging to the outlier component of the
    likelihood given its mean log loss: shape (n_draws, n_configs). Only for likelihoods with an
    outlier component (their ``outlier_probability`` is not None); a SpecError otherwise."""
    likelihood = options.likelihood_component
    if likelihood.outlier_probability is None:
        able = [name for name in available_likelihoods() if get_likelihood(name).outlier_probability is not None]
        raise SpecError(
            f"outlier probabilities need a likelihood with an outlier component ({', '.join(able) or 'none registered'}); "
            f"this fit used '{likelihood.name}'"
        )
    theta, _, scale = _config_mean_scale(theta, data, log_n_ref, options)
    return likelihood.outlier_probability(data["mean_log_loss"][None, :], theta, log_mu, scale)


def gamma_logpdf(x, shape, scale):
    r""":math:`\log \operatorname{Gamma}(x \mid a, \theta) = (a-1)\log x - x/\theta - \log\Gamma(a) - a\log\theta`.

    Log densities here work on (n_draws, n_points) arrays. scipy.stats' are the reference (the
    tests compare with them) but ~12x slower, and PSIS-LOO and power-scaling need 4000 draws x
    every configuration (10k configurations on the hitchhiker table): parameters that vary only
    per draw, such as :math:`\nu`, are broadcast (n_draws, 1), so their gammaln terms are
    computed once a draw.
    """
    from scipy.special import gammaln

    shape = np.asarray(shape, dtype=float)
    return (shape - 1.0) * np.log(x) - x / scale - gammaln(shape) - shape * np.log(scale)
