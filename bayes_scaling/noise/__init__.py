r"""Noise models: how observed log losses scatter around the law.

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
sampled. With the default Student-t likelihood the configuration means get Student-t tails of
the same scale: a robust approximation (the factorisation is exact for Gaussian tails).

**Parameterisation for the sampler.** With one seed per configuration only
:math:`\tau^2 + \sigma(N)^2` is identified, and (log tau, log sigma) form an L-shaped ridge
(R-hat > 1.01 seen). The sampler therefore works on the total sd of a one-seed run at the
centre of the data, :math:`s = \sqrt{\tau^2 + \sigma_r^2}`, and the discrepancy's share of
that variance, :math:`f = \tau^2 / s^2 \sim \operatorname{Beta}(2, 2)`; :math:`\tau = s\sqrt f`
and :math:`\sigma_r = s\sqrt{1 - f}` are reported. On 120 single-seed configurations this
raised the bulk ESS of tau from ~700 to ~2200 (4 x 1000 draws).

**Extrapolation discrepancy.** Runs inside the fitted range say nothing about how far the law
drifts beyond it, yet on real data it does (``benchmarks/results/calibration.md``: runs 3-10x
beyond the data missed the fitted law by 1-5%, several times the in-range scatter, and the
new-run intervals without this term covered about half the held-out runs at 90%). Every
forecast therefore adds a drift whose variance grows linearly with the distance, as a random
walk's does:

.. math::  \log L_s(N, D) = \log\mu_s(N, D) + \kappa \sqrt{h(N, D)}\; z_s,
           \qquad z_s \sim \mathcal N(0, 1)\ \text{per draw},

where :math:`h` is the distance in decades (log10) outside the fitted box of N, D and C and
:math:`\kappa` (``extrapolation_sd``) is a property of the method, not of one data set: its
default was chosen by leave-one-data-set-out backtests on seven public scaling studies (linear
growth :math:`\kappa h` and a drift of the reducible loss only were tried too and calibrated
worse). One :math:`z_s` per draw keeps each draw's deviation of one sign at every distance, so
answers over several budgets stay coherent. Inside the data :math:`h = 0` and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..laws import maths as laws

#: "normal": Gaussian configuration means; "student_t": heavy-tailed, robust to outlying runs
#: (digitisation errors, under-tuned runs), the Bayesian counterpart of Approach 3's Huber loss;
#: "outlier_mixture": Gaussian, except that with probability :math:`\pi` a configuration sits
#: *above* the law by a half-normal excess of scale :math:`w` (an under-tuned run cannot beat the
#: frontier). Gaussian noise plus a half-normal shift is exactly skew-normal:
#: :math:`\bar y_j \sim (1-\pi)\,\mathcal N(\log\mu_j, s_j^2) + \pi\,
#: \operatorname{SkewNormal}(\log\mu_j, \sqrt{s_j^2 + w^2}, w/s_j)`, and each configuration's
#: posterior probability of being an outlier can be read off (:func:`outlier_probability`).
#: Forecasts are of a run on the frontier (the Gaussian component).
LIKELIHOODS = ("normal", "student_t", "outlier_mixture")

#: Default :math:`\kappa`: log-loss sd of the drift one decade beyond the data (module docstring).
#: Estimated by ``benchmarks/calibration.py`` (CRPS-optimal over 7 public data sets; the
#: leave-one-data-set-out values and their coverage are in benchmarks/results/calibration.md).
DEFAULT_EXTRAPOLATION_SD = 0.0275


@dataclass(frozen=True)
class NoiseOptions:
    """Which noise terms the model has.

    heteroscedastic : seed-noise sd varies with N as :math:`\\sigma_r (N/N_r)^{-\\gamma}`
        (else constant :math:`\\sigma_r`).
    discrepancy : a per-configuration discrepancy :math:`\\delta_j` with scale :math:`\\tau`.
    likelihood : "student_t" (default) or "normal" tails for the configuration means.
    extrapolation_sd : :math:`\\kappa`, log-loss sd of the drift one decade beyond the fitted
        range (grows as the square root of the distance; forecasts only; 0 switches it off).
    """

    heteroscedastic: bool = True
    discrepancy: bool = True
    likelihood: str = "student_t"
    extrapolation_sd: float = 0.0

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise SpecError(f"unknown likelihood '{self.likelihood}'; choose one of {list(LIKELIHOODS)}")
        value = self.extrapolation_sd
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise SpecError(f"extrapolation_sd must be a number in [0, 1) (log loss per decade), got {value!r}")

    @property
    def parameters(self) -> tuple[str, ...]:
        """Sampled noise parameters."""
        names = ["noise_sd", "tau_share"] if self.discrepancy else ["sigma_ref"]
        if self.heteroscedastic:
            names.append("gamma")
        if self.likelihood == "student_t":
            names.append("nu")
        if self.likelihood == "outlier_mixture":
            names += ["outlier_prob", "outlier_excess"]
        return tuple(names)

    @property
    def reported(self) -> tuple[str, ...]:
        """Noise parameters as reported: seed sd at the reference, its slope, discrepancy, tails."""
        names = ["sigma_ref"]
        if self.heteroscedastic:
            names.append("gamma")
        if self.discrepancy:
            names.append("tau")
        if self.likelihood == "student_t":
            names.append("nu")
        if self.likelihood == "outlier_mixture":
            names += ["outlier_prob", "outlier_excess"]
        return tuple(names)


def default_noise_priors(options: NoiseOptions) -> dict:
    """Weakly informative priors on the noise of log loss (relative noise, since y = log L).

    noise_sd: sd of a one-seed run around the law at the reference size, 95% in ~[0.0014, 0.07]
    (0.14%-7% of the loss); tau_share: Beta(2, 2), the discrepancy's share of that variance;
    sigma_ref (without discrepancy): the same prior as noise_sd;
    gamma: how fast the seed sd shrinks with N, centred on no change, 95% in [-1, 1];
    nu (Student-t likelihood): degrees of freedom, Gamma(2, 0.1) (Juarez & Steel 2010);
    outlier_prob (outlier mixture): Beta(1, 19), 5% of configurations a priori;
    outlier_excess: scale of an outlier's excess log loss, 95% in ~[0.7%, 35%].
    """
    from pymc_extras.prior import Prior

    scale = Prior("LogNormal", mu=float(np.log(0.01)), sigma=1.0)
    priors = (
        {"noise_sd": scale, "tau_share": Prior("Beta", alpha=2.0, beta=2.0)}
        if options.discrepancy
        else {"sigma_ref": scale}
    )
    if options.heteroscedastic:
        priors["gamma"] = Prior("Normal", mu=0.0, sigma=0.5)
    if options.likelihood == "student_t":
        priors["nu"] = Prior("Gamma", alpha=2.0, beta=0.1)
    if options.likelihood == "outlier_mixture":
        priors["outlier_prob"] = Prior("Beta", alpha=1.0, beta=19.0)
        priors["outlier_excess"] = Prior("LogNormal", mu=float(np.log(0.05)), sigma=1.0)
    return priors


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


def config_sd(theta: Mapping, log_n, log_n_ref: float, options: NoiseOptions):
    """Seed-noise sd :math:`\\sigma(N)` per configuration (works on numpy and pytensor).

    ``theta`` must hold ``sigma_ref`` (see :func:`reported_noise`) and, if heteroscedastic, ``gamma``.
    """
    if options.heteroscedastic:
        return laws.seed_noise_sd(log_n, theta["sigma_ref"], theta["gamma"], log_n_ref)
    return theta["sigma_ref"] + 0.0 * log_n


def config_mean_variance(theta: Mapping, sd, n_seeds, options: NoiseOptions):
    """Variance of a configuration's mean log loss over ``n_seeds`` runs:
    :math:`\\tau^2 + \\sigma(N)^2 / n` (numpy or pytensor). ``theta`` holds ``tau`` (see
    :func:`reported_noise`) and ``sd`` is :math:`\\sigma(N)` from :func:`config_sd`."""
    var = sd**2 / n_seeds
    if options.discrepancy:
        var = var + theta["tau"] ** 2
    return var


def new_run_sd(theta: Mapping, log_n, log_n_ref: float, options: NoiseOptions):
    """Scale of a *new* single-seed run around the law: :math:`\\sqrt{\\tau^2 + \\sigma(N)^2}`.

    ``theta`` holds the sampled parameters (broadcastable arrays); numpy only.
    """
    theta = {**theta, **reported_noise(theta, options)}
    sd = config_sd(theta, log_n, log_n_ref, options)
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
):
    """Draws of a *new* run's log-loss deviation from the law, one per (draw, point).

    Scale :math:`\\sqrt{\\tau^2 + \\sigma(N)^2}` (the likelihood of a one-seed configuration),
    Gaussian or Student-t with the draw's :math:`\\nu`. ``theta`` holds the sampled parameters
    as (n_draws, 1) arrays and ``log_n`` is a (1, n_points) array.

    ``marginal_only``: Student-t draws as :math:`z\\sqrt{\\nu/\\chi^2_\\nu}` with one
    :math:`\\chi^2` per posterior draw shared by all points: each point's distribution is exact,
    but points are not independent, so use it only for per-point summaries (it is ~5x faster).
    """
    sd = new_run_sd(theta, log_n, log_n_ref, options)
    shape = np.broadcast_shapes(np.shape(sd), np.shape(log_n))
    if options.likelihood != "student_t":
        return sd * rng.standard_normal(shape)
    if marginal_only:  # (float32 normals: this path only feeds per-point summaries)
        nu = np.asarray(theta["nu"], dtype=float)
        scale = sd * np.sqrt(nu / rng.chisquare(nu)).astype(np.float32)
        return scale * rng.standard_normal(shape, dtype=np.float32)
    return sd * rng.standard_t(np.broadcast_to(theta["nu"], shape))


def add_likelihood(theta: Mapping, log_mu, data: Mapping, log_n_ref, options: NoiseOptions) -> None:
    """Add the marginal likelihood above to the current PyMC model context.

    ``theta`` holds the sampled parameters; ``tau`` and ``sigma_ref`` are added as
    deterministics. ``data`` holds pm.Data tensors: ``log_n`` and ``n_seeds`` per config, the
    observed ``mean_log_loss`` per config, and for replicated configs ``within_ss``, ``rep_index``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    reported = reported_noise(theta, options)
    if options.discrepancy:
        reported = {name: pm.Deterministic(name, value) for name, value in reported.items()}
    theta = {**theta, **reported}
    sd = config_sd(theta, data["log_n"], log_n_ref, options)
    var_mean = config_mean_variance(theta, sd, data["n_seeds"], options)
    if options.likelihood == "student_t":
        pm.StudentT(
            "mean_log_loss",
            nu=theta["nu"],
            mu=log_mu,
            sigma=pt.sqrt(var_mean),
            observed=data["mean_log_loss"],
            dims="config",
        )
    elif options.likelihood == "outlier_mixture":
        pi, w = theta["outlier_prob"], theta["outlier_excess"]
        pm.Mixture(
            "mean_log_loss",
            w=pt.stack([1.0 - pi, pi]),
            comp_dists=[
                pm.Normal.dist(mu=log_mu, sigma=pt.sqrt(var_mean)),
                pm.SkewNormal.dist(mu=log_mu, sigma=pt.sqrt(var_mean + w**2), alpha=w / pt.sqrt(var_mean)),
            ],
            observed=data["mean_log_loss"],
            dims="config",
        )
    else:
        pm.Normal("mean_log_loss", mu=log_mu, sigma=pt.sqrt(var_mean), observed=data["mean_log_loss"], dims="config")
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


def pointwise_log_likelihood(theta: Mapping, log_mu, data: Mapping, log_n_ref: float, options: NoiseOptions):
    """Log-likelihood of each configuration per draw, in numpy: shape (n_draws, n_configs).

    The same terms as :func:`add_likelihood` (configuration mean, plus the within sum of squares
    for replicated configurations), summed per configuration: the unit PSIS-LOO leaves out.
    ``theta`` holds (n_draws, 1) arrays; ``data`` numpy arrays ``log_n``, ``n_seeds``,
    ``mean_log_loss`` (per config) and ``within_ss``, ``rep_index`` (replicated configs).
    """
    theta = {**theta, **reported_noise(theta, options)}
    sd = config_sd(theta, data["log_n"][None, :], log_n_ref, options)
    scale = np.sqrt(config_mean_variance(theta, sd, data["n_seeds"][None, :], options))
    y = data["mean_log_loss"][None, :]
    if options.likelihood == "student_t":
        log_lik = student_t_logpdf(y, theta["nu"], log_mu, scale)
    elif options.likelihood == "outlier_mixture":
        log_in, log_out = _mixture_components(theta, log_mu, y, scale)
        log_lik = np.logaddexp(log_in, log_out)
    else:
        log_lik = normal_logpdf(y, log_mu, scale)
    rep = np.asarray(data.get("rep_index", []), dtype=int)
    if rep.size:
        dof = data["n_seeds"][rep] - 1.0
        log_lik[:, rep] += gamma_logpdf(data["within_ss"][None, :], dof / 2.0, 2.0 * sd[:, rep] ** 2)
    return log_lik


# Log densities on (n_draws, n_points) arrays. scipy.stats' are the reference (the tests compare
# with them) but ~12x slower here, and PSIS-LOO and power-scaling need 4000 draws x every
# configuration (10k configurations on the hitchhiker table): parameters that vary only per
# draw, such as nu, are broadcast (n_draws, 1), so their gammaln terms are computed once a draw.
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def normal_logpdf(y, loc, scale):
    r""":math:`\log \mathcal N(y \mid \mu, s) = -z^2/2 - \log s - \tfrac12\log 2\pi`, :math:`z = (y-\mu)/s`."""
    z = (y - loc) / scale
    return -0.5 * z * z - np.log(scale) - _HALF_LOG_2PI


def student_t_logpdf(y, nu, loc, scale):
    r""":math:`\log t_\nu(y \mid \mu, s) = \log\Gamma(\tfrac{\nu+1}{2}) - \log\Gamma(\tfrac{\nu}{2})
    - \tfrac12\log(\nu\pi) - \log s - \tfrac{\nu+1}{2}\log(1 + z^2/\nu)`."""
    from scipy.special import gammaln

    nu = np.asarray(nu, dtype=float)
    z = (y - loc) / scale
    const = gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * np.pi)
    return const - np.log(scale) - (nu + 1.0) / 2.0 * np.log1p(z * z / nu)


def gamma_logpdf(x, shape, scale):
    r""":math:`\log \operatorname{Gamma}(x \mid a, \theta) = (a-1)\log x - x/\theta - \log\Gamma(a) - a\log\theta`."""
    from scipy.special import gammaln

    shape = np.asarray(shape, dtype=float)
    return (shape - 1.0) * np.log(x) - x / scale - gammaln(shape) - shape * np.log(scale)


def _mixture_components(theta: Mapping, log_mu, y, scale):
    """log((1 - pi) f_frontier(y)) and log(pi f_outlier(y)) per draw and configuration."""
    from scipy import stats

    pi, w = theta["outlier_prob"], theta["outlier_excess"]
    log_in = np.log1p(-pi) + stats.norm.logpdf(y, loc=log_mu, scale=scale)
    log_out = np.log(pi) + stats.skewnorm.logpdf(y, w / scale, loc=log_mu, scale=np.sqrt(scale**2 + w**2))
    return log_in, log_out


def outlier_probability(theta: Mapping, log_mu, data: Mapping, log_n_ref: float, options: NoiseOptions):
    """Per draw, each configuration's probability of belonging to the outlier component of the
    ``outlier_mixture`` likelihood given its mean log loss: shape (n_draws, n_configs)."""
    if options.likelihood != "outlier_mixture":
        raise SpecError(
            f"outlier probabilities need likelihood='outlier_mixture' (this fit used '{options.likelihood}')"
        )
    theta = {**theta, **reported_noise(theta, options)}
    sd = config_sd(theta, data["log_n"][None, :], log_n_ref, options)
    scale = np.sqrt(config_mean_variance(theta, sd, data["n_seeds"][None, :], options))
    log_in, log_out = _mixture_components(theta, log_mu, data["mean_log_loss"][None, :], scale)
    return np.exp(log_out - np.logaddexp(log_in, log_out))


def extrapolation_distance(log_n, log_d, fitted_log_n, fitted_log_d):
    r"""Decades (log10) by which points lie outside the fitted box of N, D and C = kND.

    :math:`h = \max(0,\ \text{out}(\log_{10} N),\ \text{out}(\log_{10} D),\ \text{out}(\log_{10} C))`,
    where out(x) is how far x is below the smallest or above the largest fitted value.
    Broadcasts ``log_n`` and ``log_d`` (natural logs).
    """
    fitted_log_n, fitted_log_d = np.asarray(fitted_log_n), np.asarray(fitted_log_d)
    fitted_log_c = fitted_log_n + fitted_log_d
    log_c = np.asarray(log_n) + np.asarray(log_d)

    def out(x, fitted):
        return np.maximum(np.maximum(fitted.min() - x, x - fitted.max()), 0.0)

    h = np.maximum(np.maximum(out(log_n, fitted_log_n), out(log_d, fitted_log_d)), out(log_c, fitted_log_c))
    return h / np.log(10.0)


def extrapolation_z(n_draws: int) -> np.ndarray:
    """The standard-normal :math:`z_s` of the extrapolation drift, one per draw (fixed seed:
    the same fit gives the same forecasts in every process)."""
    return np.random.default_rng(20221129).standard_normal(n_draws)
