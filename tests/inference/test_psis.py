"""The vectorised PSIS-LOO against ArviZ's own, observation by observation."""

import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from bayes_scaling.inference import psis


def _arviz_loo(log_lik, r_eff):
    chains, draws, _ = log_lik.shape
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"x": (("chain", "draw"), np.zeros((chains, draws)))}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), log_lik)}),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k on the heavy-tailed case, by design
        return az.loo(tree, pointwise=True, var_name="y", reff=r_eff)


def _cases():
    rng = np.random.default_rng(1)
    return {
        "well behaved": (rng.normal(-1.0, 0.3, (4, 1000, 300)), 0.7),
        # log-likelihoods with Cauchy-like spread: k far above 0.7, and nan where the tail is degenerate
        "heavy tails": (-np.abs(rng.standard_t(1.5, (4, 1000, 300))) * rng.uniform(0.1, 5.0, 300), 0.7),
        "uniform ratios": (np.log(rng.uniform(size=(4, 1000, 200))), 1.0),
        "few draws": (rng.normal(-1.0, 0.3, (2, 50, 30)), 1.0),  # tail = S / 5
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_loo_pointwise_matches_arviz(case):
    log_lik, r_eff = _cases()[case]
    ref = _arviz_loo(log_lik, r_eff)
    ours = psis.loo_pointwise(log_lik.reshape(-1, log_lik.shape[-1]), r_eff)
    k_ref = ref.pareto_k.values
    np.testing.assert_array_equal(np.isnan(ours["pareto_k"]), np.isnan(k_ref))
    np.testing.assert_array_equal(np.isinf(ours["pareto_k"]), np.isinf(k_ref))
    finite = np.isfinite(k_ref)
    np.testing.assert_allclose(ours["pareto_k"][finite], k_ref[finite], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["elpd_i"], ref.elpd_i.values, rtol=0, atol=1e-9)
    lw_ref = ref.log_weights.transpose("chain", "draw", "obs").values.reshape(ours["log_weights"].shape)
    np.testing.assert_allclose(ours["log_weights"], lw_ref, rtol=0, atol=1e-9)
    if case == "heavy tails":
        assert np.isnan(k_ref).any() and (k_ref[finite] > 0.7).any()  # the edge cases were exercised


def test_chunks_do_not_change_the_result(monkeypatch):
    log_lik, r_eff = _cases()["well behaved"]
    flat = log_lik.reshape(-1, log_lik.shape[-1])
    whole = psis.loo_pointwise(flat, r_eff)
    monkeypatch.setattr(psis, "CHUNK", 7)
    chunked = psis.loo_pointwise(flat, r_eff)
    for key in whole:
        np.testing.assert_allclose(whole[key], chunked[key], rtol=0, atol=1e-12)  # summation order only


def test_psis_refuses_too_few_draws_and_flat_tails():
    with pytest.raises(ValueError, match="at least 5 tail draws"):
        psis.psis_log_weights(np.zeros((20, 3)))
    with pytest.raises(ValueError, match="tail values"):
        psis.psis_log_weights(np.zeros((400, 3)))


def test_fit_loo_is_arviz_loo_of_its_log_likelihood(small_fit):
    """The fit's LOO (vectorised) equals ``az.loo`` on the same draws and log-likelihood."""
    tree = xr.DataTree.from_dict(
        {
            "posterior": small_fit.idata["posterior"].to_dataset(),
            "log_likelihood": small_fit.log_likelihood().to_dataset(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(tree, pointwise=True, var_name="loss")
    ours = small_fit.loo()
    for field in ("elpd", "se", "p"):
        assert getattr(ours, field) == pytest.approx(getattr(ref, field), abs=1e-9), field
    for field in ("n_samples", "n_data_points", "good_k", "warning", "scale", "kind"):
        assert getattr(ours, field) == getattr(ref, field), field
    np.testing.assert_allclose(ours.elpd_i.values, ref.elpd_i.values, atol=1e-9)
    np.testing.assert_allclose(ours.pareto_k.values, ref.pareto_k.values, atol=1e-9)
    # Draws where a chain stayed put have equal ratios: the smoothed tail weights may go to the
    # tied draws in either order. Compare each column's weights as a set, and draw by draw
    # wherever the draw's log-likelihood is not tied.
    mine, theirs = ours.log_weights.values, ref.log_weights.transpose(*ours.log_weights.dims).values
    n_configs = mine.shape[-1]
    np.testing.assert_allclose(
        np.sort(mine.reshape(-1, n_configs), axis=0), np.sort(theirs.reshape(-1, n_configs), axis=0), atol=1e-9
    )
    loglik = small_fit.log_likelihood().to_dataset()["loss"].transpose(*ours.log_weights.dims).values
    flat = loglik.reshape(-1, loglik.shape[-1])
    tied = np.zeros(flat.shape, dtype=bool)
    for j in range(flat.shape[1]):
        _, inverse, counts = np.unique(flat[:, j], return_inverse=True, return_counts=True)
        tied[:, j] = counts[inverse] > 1
    tied = tied.reshape(loglik.shape)
    np.testing.assert_allclose(mine[~tied], theirs[~tied], atol=1e-9)
    assert (~tied).mean() > 0.9
