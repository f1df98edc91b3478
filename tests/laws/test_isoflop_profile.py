"""The IsoFLOP-profile law (a Bayesian Approach 2, issue 21): its maths against Chinchilla's,
its vertex, and a fit that finds minima moving faster than Chinchilla's arms would say."""

from __future__ import annotations

import json
import warnings

import form_cases  # noqa: E402
import numpy as np
import pytest
from tolerances import assert_sampler_ok, covers  # noqa: E402

import bayes_scaling as bs
from bayes_scaling import laws, synthetic
from bayes_scaling.laws.isoflop_profile import (
    ISOFLOP_PROFILE,
    from_chinchilla,
    from_earlier_parameters,
    loss,
    reference_budget,
    sampled_from_reported,
)

CH = synthetic.CHINCHILLA_PARAMS
SCALE = laws.DataScale(
    log_n_ref=np.log(3e8),
    log_d_ref=np.log(6e9),
    min_loss=2.0,
    median_loss=2.5,
    log_n_noise_ref=20.0,
    log_c_min=np.log(1e18),
    log_c_max=np.log(1e21),
)


def _theta(reported: dict, scale=SCALE) -> dict:
    """Sampled parameters from reported ones (the inverse of the law's reported_values)."""
    return sampled_from_reported(reported, scale)


def _sizes(seed=0, m=40):
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(15, 25, m)), np.exp(rng.uniform(18, 27, m))


def test_chinchilla_is_the_case_a_equals_beta_share_and_g_equals_alpha_a():
    p = from_chinchilla(**CH)
    assert p["a"] == pytest.approx(CH["beta"] / (CH["alpha"] + CH["beta"]))
    assert p["g"] == pytest.approx(CH["alpha"] * p["a"])
    n, d = _sizes()
    want = np.log(laws.chinchilla_loss(n, d, **CH))
    np.testing.assert_allclose(np.log(loss(n, d, **p)), want, rtol=1e-12)
    # through the registered law's sampled parameterisation, and back to the reported values
    np.testing.assert_allclose(ISOFLOP_PROFILE.log_loss(_theta(p), np.log(n), np.log(d), SCALE), want, rtol=1e-12)
    back = ISOFLOP_PROFILE.reported_values(_theta(p), SCALE)
    for name, value in p.items():
        assert back[name] == pytest.approx(value, rel=1e-10), name
    flops = np.array([1e19, 1e22, 3.8e25])
    np.testing.assert_allclose(
        ISOFLOP_PROFILE.optimal_params(p, flops, 6.0),
        laws.chinchilla_optimal_params(flops, CH["A"], CH["B"], CH["alpha"], CH["beta"]),
        rtol=1e-10,
    )


def test_the_vertex_is_g_c_to_the_a_and_the_loss_there_is_e_plus_h_c_to_the_minus_g():
    p = form_cases.isoflop_profile_truth()
    flops = np.array([[1e18, 1e21, 1e24]])
    numeric = np.exp(laws.isoflop_argmin(lambda ln, ld: np.log(loss(np.exp(ln), np.exp(ld), **p)), np.log(flops / 6)))
    closed = ISOFLOP_PROFILE.optimal_params(p, flops, 6.0)
    np.testing.assert_allclose(numeric, closed, rtol=1e-5)
    at_vertex = loss(closed, flops / (6 * closed), **p)
    np.testing.assert_allclose(at_vertex, p["E"] + p["H"] * (flops / 6) ** -p["g"], rtol=1e-12)
    # a law no Chinchilla law is: the vertex loss falls faster than alpha a
    assert p["g"] - p["alpha"] * p["a"] > 0.04


def test_log_loss_symbolic_matches_numpy():
    import pytensor
    import pytensor.tensor as pt

    p = form_cases.isoflop_profile_truth()
    theta = _theta(p)
    n, d = _sizes(1, 10)
    symbols = {k: pt.dscalar(k) for k in theta}
    out = ISOFLOP_PROFILE.log_loss(symbols, pt.as_tensor(np.log(n)), pt.as_tensor(np.log(d)), SCALE)
    f = pytensor.function(list(symbols.values()), out)
    np.testing.assert_allclose(f(*theta.values()), np.log(loss(n, d, **p)), rtol=1e-10)


def test_a_is_sampled_with_its_own_prior_and_reference_budget_is_the_middle_of_the_data():
    priors = ISOFLOP_PROFILE.default_priors(SCALE)
    assert priors["a"].distribution == "Beta"
    assert reference_budget(SCALE) == pytest.approx(0.5 * (np.log(1e18) + np.log(1e21)) - SCALE.log_k)
    # files written before the compute range existed: the reference sizes' budget
    old = laws.DataScale(log_n_ref=1.0, log_d_ref=2.0, min_loss=2.0, median_loss=2.5, log_n_noise_ref=1.0)
    assert reference_budget(old) == 3.0


def test_the_sampled_vertex_loss_and_curvature_are_the_reference_budgets():
    """log_L_ref, log_curvature: the loss at the vertex of the reference budget and the
    profile's second derivative in ln N there (numerically)."""
    p = form_cases.isoflop_profile_truth()
    theta = _theta(p)
    log_nd = reference_budget(SCALE)
    n_opt = np.exp(theta["log_N_opt_ref"])
    h = 1e-3
    ln = np.log(n_opt) + np.array([-h, 0.0, h])
    profile = ISOFLOP_PROFILE.log_loss(theta, ln, log_nd - ln, SCALE)
    values = np.exp(profile)
    assert values[1] == pytest.approx(np.exp(theta["log_L_ref"]), rel=1e-12)
    assert (values[0] - 2 * values[1] + values[2]) / h**2 == pytest.approx(np.exp(theta["log_curvature"]), rel=1e-5)
    assert values[1] * (1 - 1 / (1 + np.exp(theta["reducible_logit"]))) == pytest.approx(values[1] - p["E"], rel=1e-10)


def _earlier_draws(reported: dict, scale=SCALE) -> dict:
    """The parameters the law sampled before 2026-12-08, from reported values."""
    nd = reference_budget(scale)
    return {
        "E": reported["E"],
        "log_R_ref": np.log(reported["H"]) - reported["g"] * nd,
        "log_g_ratio": np.log(reported["g"] / (reported["alpha"] * reported["a"])),
        "log_N_opt_ref": np.log(reported["G"]) + reported["a"] * nd,
        "a": reported["a"],
        "arm_sum": reported["alpha"] + reported["beta"],
    }


def test_draws_saved_under_the_earlier_parameters_map_to_the_same_law():
    p = form_cases.isoflop_profile_truth()
    back = ISOFLOP_PROFILE.reported_values(from_earlier_parameters(_earlier_draws(p)), SCALE)
    for name, value in p.items():
        assert back[name] == pytest.approx(value, rel=1e-10), name


def test_a_fit_saved_under_the_earlier_parameters_loads_with_the_same_answers(fake_fit, tmp_path):
    """A file of the law as it was sampled before: the draws convert one to one, so its reported
    values and allocations are the ones it was saved with; one with priors on the earlier parameters,
    or fitted over families, is refused by name."""
    from bayes_scaling import _constants as K
    from bayes_scaling.forecast.result import ScalingFit
    from bayes_scaling.inference.model import spec_id
    from bayes_scaling.viz.report import build_report

    tree = fake_fit.idata.copy()
    post = tree["posterior"].to_dataset()
    reported = from_chinchilla(*(post[k] for k in ("E", "A", "B", "alpha", "beta")))
    # (a vertex-loss exponent off Chinchilla's, so that no sampled parameter is constant)
    reported["g"] = reported["g"] * np.exp(0.05 * np.random.default_rng(0).standard_normal(reported["g"].shape))
    old = {**reported, **_earlier_draws(reported, fake_fit.scale)}
    tree["posterior"] = post.drop_vars(["A", "B", "log_AN_ref", "log_BD_ref"]).assign(old)

    def saved(spec, name):
        tree.attrs.update(law=spec["law"], spec=json.dumps(spec), spec_id=spec_id(spec))
        ScalingFit(tree, spec_dict=spec, scale=fake_fit.scale, flops_per_param_token=6.0).save(tmp_path / name)
        return tmp_path / name

    spec = {**fake_fit.spec_dict, "law": "isoflop_profile"}
    loaded = bs.load(saved(spec, "old.nc"))
    assert set(ISOFLOP_PROFILE.parameters) <= set(loaded.idata["posterior"].data_vars)
    for name in ("E", "G", "a", "H", "alpha", "beta"):
        np.testing.assert_allclose(loaded.draws(name), np.ravel(reported[name]), rtol=1e-9, err_msg=name)
    flops = np.array([1e21, 1e24])
    np.testing.assert_allclose(
        loaded.with_allocation_sd(0.0).optimal_draws(flops)["params"],
        fake_fit.with_allocation_sd(0.0).optimal_draws(flops)["params"],
        rtol=1e-8,
    )
    assert "converted" in loaded.idata.attrs[K.CONVERTED_ATTRIBUTE]
    assert "was saved under the law" in build_report(loaded)  # (its draws had the earlier priors)
    for name in ("arm_sum", "E"):  # (E is still reported, but no longer sampled)
        prior = {name: {"distribution": "LogNormal", "mu": -0.5, "sigma": 0.5}}
        with pytest.raises(bs.FormatVersionError, match="priors on.*refit"):
            bs.load(saved({**spec, "priors": prior}, f"prior-{name}.nc"))
    families = {**spec, "families": {"pooling": {}, "spread": {}, "noise": "shared"}}
    with pytest.raises(bs.FormatVersionError, match="fit over families.*refit"):
        bs.load(saved(families, "families.nc"))


@pytest.mark.slow
def test_fit_holds_the_generating_exponent_and_vertex_far_beyond_the_data():
    """On the IsoFLOP-profile case (no Chinchilla law has its minima, their losses and its
    profiles at once) the fit's a and its N* at 1e23 FLOPs, 100x beyond the largest budget and
    without the allocation drift, hold the truth in their 95% intervals; the parameters
    themselves are checked over data sets in tests/laws/test_forms.py."""
    case = form_cases.isoflop_profile()
    truth = form_cases.isoflop_profile_truth()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        fit = bs.fit(case.runs, "isoflop_profile", random_seed=1, progressbar=False)
    assert_sampler_ok(fit)
    assert covers(fit.draws("a"), truth["a"], 0.95)
    true_n = ISOFLOP_PROFILE.optimal_params(truth, np.array([1e23]), 6.0)[0]
    draws = fit.with_allocation_sd(0.0).optimal_draws(np.array([1e23]))["params"][:, 0]
    assert covers(np.log(draws), np.log(true_n), 0.95)
