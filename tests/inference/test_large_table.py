"""Large tables: shorter default chains, chains started from a subsample's Laplace
approximation, one log-sum-exp for the law's mean, and a float32 log-likelihood for LOO."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.inference import model as model_module
from bayes_scaling.inference import psis, sampling
from bayes_scaling.inference.sampling import ChainStarts, chain_length


def test_chain_length_defaults_and_large_tables():
    small, large = sampling.LARGE_TABLE_CONFIGS - 1, sampling.LARGE_TABLE_CONFIGS
    assert chain_length(None, None, small) == (sampling.DEFAULT_DRAWS, sampling.DEFAULT_TUNE)
    assert chain_length(None, None, large) == (sampling.LARGE_TABLE_DRAWS, sampling.LARGE_TABLE_TUNE)
    assert chain_length(123, 45, large) == (123, 45)  # what the caller asks for is kept
    assert chain_length(123, None, small) == (123, sampling.DEFAULT_TUNE)


def test_chain_starts_draw_per_seed_in_the_samplers_layout():
    starts = ChainStarts(
        mean=np.array([1.0, 2.0, 3.0]),
        chol=np.diag([0.1, 0.2, 0.3]),
        layout=(("a", ()), ("b", (2,))),
        mode={"a": 1.0},
        n_configs=10,
    )
    one, again, other = starts.point(1), starts.point(1), starts.point(2)
    assert one["a"].shape == () and one["b"].shape == (2,)
    np.testing.assert_array_equal(one["b"], again["b"])
    assert not np.array_equal(one["b"], other["b"])
    flat = starts.flat(1, ["b", "a"], [slice(0, 2), slice(2, 3)])  # the sampler's own order
    np.testing.assert_array_equal(flat, [*one["b"], one["a"]])
    draws = np.array([starts.flat(s, ["a", "b"], [slice(0, 1), slice(1, 3)]) for s in range(2000)])
    np.testing.assert_allclose(draws.mean(axis=0), [1, 2, 3], atol=0.03)
    np.testing.assert_allclose(draws.std(axis=0), [0.1, 0.2, 0.3], rtol=0.1)


def test_flat_logaddexp_is_the_same_value_and_gradient():
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph import rewrite_graph

    a, b, c = pt.dvectors("a", "b", "c")
    nested = pt.logaddexp(a, pt.logaddexp(b, c))
    flat = model_module._flat_logaddexp(nested)
    assert flat is not nested

    def value_and_gradient(out):  # rewritten before the gradient, as the sampler compiles
        out = rewrite_graph(out, include=("canonicalize", "stabilize"), clone=True)
        return pytensor.function([a, b, c], [out, *pt.grad(out.sum(), [a, b, c])])

    x = [np.array([0.5, -3.0, 800.0, -20.0]), np.array([0.6, 2.0, 0.0, -800.0]), np.array([0.7, -1.0, 1.0, -30.0])]
    for ours, theirs in zip(value_and_gradient(flat)(*x), value_and_gradient(nested)(*x), strict=True):
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)
    assert model_module._flat_logaddexp(a) is a  # anything else is left alone


def test_float32_log_likelihood_gives_the_same_loo():
    rng = np.random.default_rng(0)
    log_lik = rng.normal(-1.0, 0.3, size=(1000, 37)) - rng.gamma(1.0, 0.2, size=(1000, 1))
    ours = psis.loo_pointwise(log_lik.astype(np.float32), r_eff=0.9)
    full = psis.loo_pointwise(log_lik, r_eff=0.9)
    assert ours["log_weights"].dtype == np.float32
    for key in ("elpd_i", "p_loo_i", "pareto_k"):
        np.testing.assert_allclose(ours[key], full[key], rtol=1e-4, atol=1e-5)


def test_a_fit_keeps_a_large_log_likelihood_in_float32(monkeypatch):
    from bayes_scaling.testing import fabricated_fit

    fit = fabricated_fit(random_seed=0)
    reference = fit.log_likelihood().values
    assert reference.dtype == np.float64
    monkeypatch.setattr(psis, "FLOAT32_VALUES", 0)
    compact = fabricated_fit(random_seed=0)
    assert compact.log_likelihood().dtype == np.float32
    np.testing.assert_allclose(compact.log_likelihood().values, reference, rtol=1e-6)
    assert compact.loo().elpd == pytest.approx(fit.loo().elpd, rel=1e-5)


def test_a_large_table_starts_each_chain_from_the_subsample_laplace(monkeypatch):
    """A table at the threshold (lowered here) starts its chains at their own draws of the
    subsample's Laplace approximation, and fit records it; draws and tune stay as asked."""
    monkeypatch.setattr(sampling, "LARGE_TABLE_CONFIGS", 100)
    monkeypatch.setattr(model_module, "START_CONFIGS", 60)
    seen = []
    flat = ChainStarts.flat
    monkeypatch.setattr(ChainStarts, "flat", lambda self, *a: seen.append(flat(self, *a)) or seen[-1])
    runs = bs.synthetic.chinchilla_runs(n_configs=120, random_seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # 60 draws: low ESS is expected
        fit = bs.fit(runs, draws=60, tune=60, chains=2, random_seed=0, progressbar=False)
    assert '"subsample_laplace"' in fit.idata.attrs["init"]
    assert len(seen) == 2 and not np.array_equal(seen[0], seen[1])  # one start per chain
    assert np.isfinite(fit.draws("alpha")).all() and fit.idata["posterior"].sizes["draw"] == 60
