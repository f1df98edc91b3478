"""The likelihood registry: every registered likelihood's PyMC term, numpy log-density and
new-run distribution agree with each other and with scipy; a likelihood registered here fits
end to end (adding one is a file plus these checks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling import noise
from bayes_scaling.errors import SpecError
from bayes_scaling.noise import Likelihood, NoiseOptions, available_likelihoods, get_likelihood
from bayes_scaling.planning import prob_below
from bayes_scaling.testing import fabricated_fit

#: Parameter values at which each built-in likelihood is checked; a new one needs an entry here.
VALUES = {
    "normal": {},
    "student_t": {"nu": 4.5},
    "outlier_mixture": {"outlier_prob": 0.15, "outlier_excess": 0.04},
}

#: Tolerance of the PyMC term against the numpy log-density, where a likelihood needs one.
PYMC_ATOL: dict[str, float] = {}


def _scipy_logpdf(name, y, theta, loc, scale):
    """Reference log-densities of the configuration means, written with scipy."""
    if name == "normal":
        return stats.norm.logpdf(y, loc, scale)
    if name == "student_t":
        return stats.t.logpdf(y, df=theta["nu"], loc=loc, scale=scale)
    if name == "outlier_mixture":
        pi, w = theta["outlier_prob"], theta["outlier_excess"]
        frontier = stats.norm.pdf(y, loc, scale)
        outlier = stats.skewnorm.pdf(y, w / scale, loc=loc, scale=np.sqrt(scale**2 + w**2))
        return np.log((1 - pi) * frontier + pi * outlier)
    if name == "laplace_test":
        return stats.laplace.logpdf(y, loc, scale / np.sqrt(2.0))
    raise KeyError(name)


def _points(seed=0, n=25):
    rng = np.random.default_rng(seed)
    loc = rng.normal(1.0, 0.1, n)
    scale = rng.uniform(0.005, 0.03, n)
    y = loc + scale * rng.standard_t(3, n) + np.where(np.arange(n) % 5 == 0, 0.05, 0.0)
    return y, loc, scale


def _pymc_logp(likelihood: Likelihood, theta, y, loc, scale):
    """Elementwise logp of the likelihood's PyMC term in a tiny compiled model."""
    import pymc as pm

    with pm.Model() as model:
        # float64 arrays: PyTensor would make a float32 constant of a Python float such as 4.5
        theta = {k: np.asarray(v, dtype=float) for k, v in theta.items()}
        likelihood.observe("ybar", theta, loc, scale**2, observed=y, dims=None)
    (logp,) = model.compile_logp(sum=False)({})
    return logp


def _check_likelihood(likelihood: Likelihood, theta: dict) -> None:
    """The checks every registered likelihood passes."""
    assert set(theta) == set(likelihood.parameters)
    assert likelihood.description and "\n" not in likelihood.description
    priors = likelihood.default_priors()
    assert list(priors) == list(likelihood.parameters)
    # The PyMC term and the numpy log-density (PSIS-LOO) are the same density, and scipy's.
    y, loc, scale = _points()
    numpy_logp = likelihood.log_density(y, theta, loc, scale)
    atol = PYMC_ATOL.get(likelihood.name, 1e-10)
    np.testing.assert_allclose(numpy_logp, _pymc_logp(likelihood, theta, y, loc, scale), rtol=0, atol=atol)
    np.testing.assert_allclose(numpy_logp, _scipy_logpdf(likelihood.name, y, theta, loc, scale), rtol=1e-10)
    # Broadcast as the package calls it: (n_draws, 1) parameters, (n_draws, n_configs) log mu.
    draws = {k: np.full((3, 1), v) for k, v in theta.items()}
    per_draw = likelihood.log_density(y[None, :], draws, np.tile(loc, (3, 1)), scale[None, :])
    np.testing.assert_allclose(per_draw, np.tile(numpy_logp, (3, 1)), rtol=1e-14)
    # A new run's draws follow its CDF (Kolmogorov-Smirnov); the CDF and log-density agree.
    rng = np.random.default_rng(7)
    sd = 0.02
    for marginal_only in (False, True):
        per_draw = {k: np.full((4000, 1), v) for k, v in theta.items()}
        draws = likelihood.new_run_noise(per_draw, np.full((4000, 1), sd), (4000, 3), rng, marginal_only)
        assert draws.shape == (4000, 3)
        z = np.asarray(draws[:, 0], dtype=float) / sd  # one point per draw: independent
        ks = stats.kstest(z, lambda x: likelihood.new_run_cdf(x, theta))
        assert ks.statistic < 0.03, (likelihood.name, marginal_only, ks)
    grid = np.linspace(-4, 4, 80)  # (not 0: a Laplace density has a kink there)
    h = 1e-5
    slope = (likelihood.new_run_cdf(grid + h, theta) - likelihood.new_run_cdf(grid - h, theta)) / (2 * h)
    np.testing.assert_allclose(np.exp(likelihood.new_run_log_density(grid, theta)), slope, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", available_likelihoods())
def test_the_pymc_term_has_finite_gradients_far_from_the_law(name):
    """A configuration 60 noise sds below (or above) the law: the log density is finite and so is
    its gradient in every input (an infinite component makes NUTS diverge)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    theta = {k: pt.scalar(k, dtype="float64") for k in VALUES[name]}
    loc = pt.vector("loc", dtype="float64")
    scale = 0.002
    y = np.array([1.0 - 60 * scale, 1.0, 1.0 + 60 * scale, 1.0 - 600 * scale])
    with pm.Model() as model:
        get_likelihood(name).observe("ybar", theta, loc, scale**2, observed=y, dims=None)
    logp = model.logp()
    inputs = [loc, *theta.values()]
    grads = pt.grad(logp, inputs)
    fn = pytensor.function(inputs, [logp, *grads], on_unused_input="ignore")
    values = fn(np.ones(4), *(np.float64(v) for v in VALUES[name].values()))
    for value in values:
        assert np.all(np.isfinite(value)), (name, values)


@pytest.mark.parametrize("name", available_likelihoods())
def test_prior_predictive_draws_follow_the_density(name):
    """The PyMC term draws what it scores (prior predictive checks and SBC simulate from it)."""
    import pymc as pm

    theta = {k: np.asarray(v, dtype=float) for k, v in VALUES[name].items()}
    loc, scale = 1.0, 0.01
    with pm.Model():
        get_likelihood(name).observe("ybar", theta, np.zeros(3) + loc, np.full(3, scale**2), observed=None, dims=None)
        per_config = pm.sample_prior_predictive(draws=4000, random_seed=3)["prior"]["ybar"].values.reshape(-1, 3)
    # configurations are drawn independently (sd of a correlation over 4000 draws: 0.016)
    corr = np.corrcoef(per_config.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(corr) < 0.08), (name, corr)
    draws = per_config[:, 0]
    grid = np.linspace(loc - 6 * scale, loc + 20 * scale, 4001)
    density = np.exp(get_likelihood(name).log_density(grid, VALUES[name], loc, scale))
    cdf = np.cumsum(density) * (grid[1] - grid[0])
    ks = stats.kstest(draws, lambda x: np.interp(x, grid, cdf))
    assert ks.statistic < 0.03, (name, ks)


@pytest.mark.parametrize("name", available_likelihoods())
def test_registered_likelihood_is_consistent(name):
    assert name in VALUES, f"add test values for the likelihood '{name}' to VALUES"
    _check_likelihood(get_likelihood(name), VALUES[name])


def test_registry_lookup_and_errors():
    assert {"normal", "student_t", "outlier_mixture"} <= set(available_likelihoods())
    assert noise.is_builtin("normal") and noise.is_builtin(get_likelihood("student_t"))
    assert NoiseOptions().likelihood_component is get_likelihood("student_t")
    with pytest.raises(SpecError, match=r"unknown likelihood 'cauchy'; choose one of \['normal'"):
        NoiseOptions(likelihood="cauchy")
    with pytest.raises(SpecError, match="unknown likelihood 'cauchy'"):
        bs.fit(bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0), likelihood="cauchy")
    with pytest.raises(SpecError, match="already registered"):
        noise.register_likelihood(get_likelihood("normal"))
    with pytest.raises(SpecError, match="cannot be unregistered"):
        noise.unregister_likelihood("normal")


def test_parameters_and_priors_come_from_the_likelihood():
    options = NoiseOptions(heteroscedastic=False, discrepancy=True, likelihood="outlier_mixture")
    assert options.parameters == ("noise_sd", "tau_share", "outlier_prob", "outlier_excess")
    assert options.reported == ("sigma_ref", "tau", "outlier_prob", "outlier_excess")
    assert list(noise.default_noise_priors(options)) == list(options.parameters)
    student = NoiseOptions()
    assert student.parameters == ("noise_sd", "tau_share", "gamma", "nu")
    assert student.reported == ("sigma_ref", "gamma", "tau", "nu")
    assert NoiseOptions(discrepancy=False, likelihood="normal").parameters == ("sigma_ref", "gamma")


def test_describe_is_one_line():
    text = NoiseOptions().describe()
    assert "\n" not in text
    assert "heteroscedastic" in text and "a configuration discrepancy" in text
    assert get_likelihood("student_t").description in text
    plain = NoiseOptions(heteroscedastic=False, discrepancy=False, likelihood="normal").describe()
    assert "constant seed noise" in plain and "no configuration discrepancy" in plain


def test_outlier_probabilities_need_an_outlier_component(fake_fit):
    with pytest.raises(
        SpecError, match=r"need a likelihood with an outlier component \(outlier_mixture\).*'student_t'"
    ):
        fake_fit.outlier_probabilities()
    mixture = fabricated_fit(likelihood="outlier_mixture", draws=50)
    probs = mixture.outlier_probabilities()["outlier_prob"].to_numpy()
    assert np.all((probs >= 0) & (probs <= 1))


# --------------------------------------------------------------------------- a new likelihood
# Everything a new likelihood needs, as it would stand in bayes_scaling/noise/laplace.py: a
# Laplace with the variance of the Gaussian it replaces (b = s / sqrt 2).
_ROOT2 = np.sqrt(2.0)


def _laplace_observe(name, theta, loc, var, observed, dims):
    import pymc as pm
    import pytensor.tensor as pt

    pm.Laplace(name, mu=loc, b=pt.sqrt(var / 2.0), observed=observed, dims=dims)


LAPLACE = Likelihood(
    name="laplace_test",
    label="Laplace",
    description="Laplace tails (test only)",
    formula=r"\bar y_j \sim \operatorname{Laplace}(\log\mu_j,\ s_j/\sqrt2)",
    parameters=(),
    default_priors=dict,
    observe=_laplace_observe,
    log_density=lambda y, theta, loc, scale: -np.abs(y - loc) * _ROOT2 / scale - np.log(_ROOT2 * scale),
    new_run_noise=lambda theta, sd, shape, rng, marginal_only=False: sd / _ROOT2 * rng.laplace(size=shape),
    new_run_cdf=lambda z, theta: stats.laplace.cdf(z, scale=1 / _ROOT2),
    new_run_log_density=lambda z, theta: stats.laplace.logpdf(z, scale=1 / _ROOT2),
)


@pytest.fixture
def laplace():
    noise.register_likelihood(LAPLACE)
    try:
        yield LAPLACE
    finally:
        noise.unregister_likelihood(LAPLACE.name)
    assert LAPLACE.name not in available_likelihoods()


def test_a_registered_likelihood_fits_end_to_end(laplace):
    _check_likelihood(laplace, {})
    assert not noise.is_builtin(laplace.name)  # worker processes of a backtest would not have it
    runs = bs.synthetic.chinchilla_runs(n_configs=30, random_seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # tiny draws: ESS warnings expected
        fit = bs.fit(runs, likelihood="laplace_test", draws=40, tune=40, chains=1, random_seed=0, progressbar=False)
    assert fit.noise.likelihood_component is laplace
    assert "Laplace tails (test only)" in fit.noise.describe()
    assert set(fit.noise.parameters) == {"noise_sd", "tau_share", "gamma"}
    log_lik = fit.log_likelihood().values
    assert log_lik.shape[-1] == runs.configs.shape[0] and np.isfinite(log_lik).all()
    fit = fit.accept_unconverged(warn=False)  # 40 draws, one chain: plumbing, not a posterior
    forecast = fit.predict([1e9], [2e10])
    assert np.isfinite(np.asarray(forecast.draws)).all()
    prob = prob_below(fit, 2.5, [1e9], [2e10])
    assert 0 <= prob[0] <= 1


def test_a_likelihood_of_this_session_keeps_backtest_fits_in_this_process(laplace):
    from bayes_scaling.evaluation import backtesting

    nuts = ("bayes_scaling", "chinchilla", None, None, "", {}, {})
    assert backtesting._choose_executor("auto", [nuts, nuts], ["chinchilla"], {"likelihood": laplace.name}) is None
    with pytest.raises(bs.SpecError, match=rf"likelihood {laplace.name}.*defined in this session only"):
        backtesting._choose_executor("process", [nuts, nuts], ["chinchilla"], {"likelihood": laplace.name})


def test_seed_noise_never_grows_beyond_the_largest_fitted_size():
    """A gamma < 0 (noise growing with N inside the data) stops at the largest fitted size;
    a gamma > 0 keeps shrinking; inside the data nothing changes."""
    options = NoiseOptions(heteroscedastic=True, discrepancy=True)
    log_n = np.log([1e8, 1e10, 1e12, 1e14])
    log_n_max = np.log(1e10)
    for gamma in (-1.0, 0.4):
        theta = {"noise_sd": np.array([[0.01]]), "tau_share": np.array([[0.2]]), "gamma": np.array([[gamma]])}
        free = noise.new_run_sd(theta, log_n, np.log(1e9), options)
        capped = noise.new_run_sd(theta, log_n, np.log(1e9), options, log_n_max)
        np.testing.assert_allclose(capped[:, :2], free[:, :2], rtol=1e-12)
        if gamma < 0:
            np.testing.assert_allclose(capped[:, 2:], capped[:, 1:2].repeat(2, axis=1), rtol=1e-12)
        else:
            np.testing.assert_allclose(capped, free, rtol=1e-12)


def test_a_new_run_far_beyond_the_data_keeps_the_noise_of_its_largest_runs():
    """With seed noise fitted to grow with N (gamma = -1), a new run 100x beyond the largest
    fitted size has a band of the width at that size, not 100x wider."""
    fit = fabricated_fit(noise={"gamma": -1.0}).with_extrapolation_sd(0.0)
    at_edge = fit.predict([1e10], [2e11], kind="new_run", random_seed=0).interval(0.9)
    beyond = fit.predict([1e12], [2e13], kind="new_run", random_seed=0).interval(0.9)
    width = [np.log(hi[0] / lo[0]) for lo, hi in (at_edge, beyond)]
    assert width[1] < 1.5 * width[0], width
