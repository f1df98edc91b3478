"""The registered laws beyond Chinchilla, the outlier mixture, user-defined laws, comparison
across laws (LOO and leave-future-out) and the stacked predictive (issue #4).

Fast tests check the maths against the papers' formulas; the slow ones fit each law with NUTS
on data sets it generated (tests/form_cases.py) and check that its intervals hold the truth as
often as calibrated intervals would (rates over data sets, tests/tolerances.py).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import form_cases  # noqa: E402
import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior
from tolerances import (  # noqa: E402
    MAX_DIVERGENT_SHARE,
    MAX_R_HAT,
    MIN_ESS,
    assert_sampler_ok,
    covers,
    max_covered,
    min_covered,
    near_truth,
)

import bayes_scaling as bs
from bayes_scaling import laws, synthetic
from bayes_scaling.errors import RunsValidationError, SpecError
from bayes_scaling.evaluation.stacking import StackedFit
from bayes_scaling.testing import fabricated_fit

FIT = {"random_seed": 1, "progressbar": False}
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------- maths
def test_kaplan_sampled_parameterisation_matches_eq_1_5():
    rng = np.random.default_rng(0)
    n, d = np.exp(rng.uniform(15, 25, 50)), np.exp(rng.uniform(18, 27, 50))
    log_loss_ref, alpha_d, ratio, delta, ln_ref, ld_ref = 1.1, 0.1, 0.75, 0.4, np.log(3e8), np.log(6e9)
    n_c, d_c, alpha_n = laws.kaplan_constants(log_loss_ref, alpha_d, ratio, delta, ln_ref, ld_ref)
    got = laws.kaplan_log_loss(np.log(n), np.log(d), log_loss_ref, alpha_d, ratio, delta, ln_ref, ld_ref)
    np.testing.assert_allclose(got, np.log(laws.kaplan_loss(n, d, n_c, d_c, alpha_n, alpha_d)), rtol=1e-10)
    # log_loss_ref is the loss at the reference size
    at_ref = laws.kaplan_log_loss(ln_ref, ld_ref, log_loss_ref, alpha_d, ratio, delta, ln_ref, ld_ref)
    assert at_ref == pytest.approx(log_loss_ref, rel=1e-12)


def test_bnsl_log_form_matches_caballero_eq_1():
    x = np.geomspace(1e7, 1e12, 40)
    p = form_cases.BNSL_DOUBLE_DESCENT
    breaks = [(p["c1"], np.log(p["d1"]), p["f1"]), (p["c2"], np.log(p["d2"]), p["f2"])]
    ref = 21.0
    log_red = laws.bnsl_log_reducible(np.log(x), 0.0, p["c0"], breaks, ref)
    # Same curve up to the amplitude: fix it by matching at one point.
    direct = laws.bnsl_loss(x, 0.0, 1.0, p["c0"], [(c, np.exp(ld), f) for c, ld, f in breaks])
    np.testing.assert_allclose(log_red - log_red[0], np.log(direct) - np.log(direct[0]), atol=1e-10)
    loss = laws.bnsl_loss(x, p["E"], p["b"], p["c0"], form_cases._bnsl_breaks(p))
    rises = np.diff(loss) > 0
    assert rises.any() and not rises[:5].any() and not rises[-5:].any(), "the test curve must fall, rise, fall"


def test_overtrain_law_is_chinchilla_with_one_exponent():
    k, eta = 6.0, 0.15
    ch = synthetic.CHINCHILLA_PARAMS
    n, d = np.geomspace(1e7, 1e10, 30), np.geomspace(1e9, 1e12, 30)[::-1]
    c, m = k * n * d, d / n
    a, b = ch["A"] * k**eta, ch["B"] * k**eta
    got = laws.overtrain_log_loss(np.log(c), np.log(m), np.log(ch["E"]), np.log(a), np.log(b), eta, 0.0, 0.0)
    want = np.log(laws.chinchilla_loss(n, d, ch["E"], ch["A"], ch["B"], 2 * eta, 2 * eta))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # and its optimum is the tied Chinchilla one
    flops = np.array([1e20, 1e23])
    np.testing.assert_allclose(
        laws.overtrain_optimal_params(flops, a, b, eta, k),
        laws.chinchilla_optimal_params(flops, ch["A"], ch["B"], 2 * eta, 2 * eta, k),
        rtol=1e-10,
    )


def test_data_constrained_is_chinchilla_without_repetition_and_discounts_repeats():
    p = synthetic.DATA_CONSTRAINED_PARAMS
    n, d = np.array([1e8, 1e9]), np.array([1e10, 2e10])
    single = synthetic.data_constrained_loss(n, d, d, **p)
    np.testing.assert_allclose(single, laws.chinchilla_loss(n, d, *(p[k] for k in ("E", "A", "B", "alpha", "beta"))))
    # 4 epochs are worth nearly 4x the data (Muennighoff et al.: up to ~4 epochs are almost free)...
    four = synthetic.data_constrained_loss(n, d, d / 4, **p)
    assert np.all(four > single) and np.all(four - single < 0.02 * single)
    # ...and 1000 epochs are worth at most U (1 + R*_D) tokens.
    many = synthetic.data_constrained_loss(n, d, d / 1000, **p)
    cap = laws.chinchilla_loss(n, d / 1000 * (1 + p["R_D_star"]), p["E"], p["A"], p["B"], p["alpha"], p["beta"])
    assert np.all(many >= cap - 1e-12)


def test_numeric_isoflop_optimum_matches_closed_forms():
    kp = synthetic.KAPLAN_PARAMS
    log_c = np.log(np.array([[1e19, 1e22, 1e25]]) / 6.0)
    closed = laws.kaplan_optimal_params(np.exp(log_c) * 6.0, kp["N_c"], kp["D_c"], kp["alpha_N"], kp["alpha_D"])
    numeric = np.exp(
        laws.isoflop_argmin(
            lambda ln, ld: np.log(
                laws.kaplan_loss(np.exp(ln), np.exp(ld), kp["N_c"], kp["D_c"], kp["alpha_N"], kp["alpha_D"])
            ),
            log_c,
        )
    )
    np.testing.assert_allclose(numeric, closed, rtol=1e-5)
    # no interior minimum (loss falls with N forever): NaN, not the edge of the search range
    assert np.isnan(laws.isoflop_argmin(lambda ln, ld: -ln + 0 * ld, log_c)).all()


# --------------------------------------------------------------------------- registry, options, errors
def test_every_form_of_the_issue_is_registered():
    assert {
        "chinchilla",
        "chinchilla_tied",
        "chinchilla_fixed_e",
        "kaplan",
        "power_law",
        "bnsl",
        "data_constrained",
        "overtrain",
        "farseer",
        "parscale",
        "chinchilla_average_n",
        "data_utility",
        "encoder_decoder",
        "isoflop_profile",
    } <= set(bs.available_laws())


def test_law_options_change_the_law_and_bad_ones_are_named():
    law = bs.get_law("power_law").with_options(x="N")
    assert law.options == {"x": "N"} and "N" in law.formula and law.axes == ("N",)
    two = bs.get_law("bnsl").with_options(breaks=2)
    assert {"c2", "f2", "log_gap2"} <= set(two.parameters)
    with pytest.raises(SpecError, match="x = 'C', 'N' or 'D'"):
        bs.get_law("power_law").with_options(x="tokens")
    with pytest.raises(SpecError, match="1, 2 or 3 breaks"):
        bs.get_law("bnsl").with_options(breaks=4)
    with pytest.raises(SpecError, match=r"no option\(s\) \['y'\]"):
        bs.get_law("power_law").with_options(y=1)
    with pytest.raises(SpecError, match="needs law_options"):
        bs.ScalingModel(law="chinchilla_fixed_e")
    spec = bs.ScalingModel(law="chinchilla_fixed_e", law_options={"E": 1.69})
    assert bs.ScalingModel.from_dict(spec.to_dict()) == spec
    # specs of laws without options keep their ids (no law_options key)
    assert "law_options" not in bs.ScalingModel().to_dict()


def test_one_variable_laws_have_no_allocation(fake_fit):
    law = bs.get_law("power_law")
    assert not law.allocates
    runs = form_cases.power_law().runs
    with pytest.raises(RunsValidationError, match="distinct compute budget"):
        runs.subset(runs.flops <= np.sort(np.unique(runs.flops))[1]).check_fittable(3, "power_law", ("C",))


def test_unique_tokens_make_configurations_and_are_required_by_data_constrained():
    frame = pd.DataFrame(
        {
            "params": [1e8] * 3 + [2e8, 4e8, 8e8],
            "tokens": [2e9] * 3 + [4e9, 8e9, 1.6e10],
            "loss": [3.1, 3.2, 3.3, 3.0, 2.9, 2.8],
        }
    )
    frame["unique_tokens"] = [2e9, 5e8, 1e8, 4e9, 8e9, 1.6e10]
    runs = bs.Runs.from_frame(frame)
    assert len(runs.configs) == 6  # same N, D but different U: three configurations, not replicate seeds
    plain = bs.Runs.from_frame(frame.drop(columns="unique_tokens").iloc[3:])
    with pytest.raises(RunsValidationError, match="needs the unique tokens"):
        plain.check_fittable(7, "data_constrained", ("N", "D"), inputs=("unique_tokens",))
    bad = frame.assign(unique_tokens=[2e9, -1, 1e8, 4e9, 8e9, 1.6e10])
    with pytest.raises(RunsValidationError, match="'unique_tokens' must be > 0"):
        bs.Runs.from_frame(bad)


def test_define_law_validates_its_inputs():
    with pytest.raises(SpecError, match="simple identifier"):
        bs.define_law("my law", lambda N, D, a: a, {"a": Prior("Normal")})
    with pytest.raises(SpecError, match="not a Prior: \\['a'\\]"):
        bs.define_law("my_law", lambda N, D, a: a, {"a": 1.0})
    with pytest.raises(SpecError, match="already registered"):
        bs.define_law("chinchilla", lambda N, D, a: a, {"a": Prior("Normal")})


# --------------------------------------------------------------------------- stacking (no sampling)
def test_stacked_fit_mixes_draws_by_weight_and_answers_like_a_fit():
    a, b = fabricated_fit(random_seed=0), fabricated_fit(params={"E": 1.9}, random_seed=1)
    mix = StackedFit({"a": a, "b": b}, {"a": 0.7, "b": 0.3}, n_draws=1000)
    assert mix.n_draws == 1000 and (mix.component_of_draws() == "a").sum() == 700
    pred = mix.predict([1e10], [2e11], kind="mean").draws[:, 0]
    from_a = a.predict([1e10], [2e11], kind="mean").draws[:, 0]
    from_b = b.predict([1e10], [2e11], kind="mean").draws[:, 0]
    # a mixture: its draws come from both components, in the stated shares
    assert np.mean(pred > (np.median(from_a) + np.median(from_b)) / 2) == pytest.approx(0.3, abs=0.05)
    table = mix.compute_optimal([1e22, 1e24])
    assert {"params_median", "tokens_per_param_lo", "loss_hi"} <= set(table.columns)
    summary = mix.predict_summary([1e10, 1e11], [2e11, 2e12])
    assert (summary["loss_lo_90"] < summary["loss_median"]).all()
    # weight 1 on one fit: its answers
    only = StackedFit({"a": a, "b": b}, {"a": 1.0, "b": 0.0}, n_draws=a.n_draws)
    assert np.median(only.predict([1e10], [2e11], kind="mean").draws) == pytest.approx(np.median(from_a), rel=1e-3)
    with pytest.raises(SpecError, match="sum to 1"):
        StackedFit({"a": a, "b": b}, {"a": 0.7, "b": 0.7})


def test_mean_abs_difference_matches_brute_force():
    from bayes_scaling.evaluation.stacking import mean_abs_difference

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)), rng.standard_t(3, size=(150, 3)) + 0.5
    brute = np.abs(x[:, None, :] - y[None, :, :]).mean(axis=(0, 1))
    np.testing.assert_allclose(mean_abs_difference(x, y), brute, rtol=1e-12)


def test_crps_stacking_weights_minimise_the_mixture_crps():
    from bayes_scaling.evaluation.scores import crps_from_draws
    from bayes_scaling.evaluation.stacking import crps_stacking_weights

    rng = np.random.default_rng(1)
    y = rng.normal(size=40)
    good, far = y + rng.normal(0, 0.3, (2000, 40)), y + 3 + rng.normal(0, 0.3, (2000, 40))
    w = crps_stacking_weights({"good": good, "far": far}, y)
    assert w["good"] > 0.99
    # Two forecasts biased in opposite directions: the mixture beats both, near equal weights.
    low, high = y - 1 + rng.normal(0, 0.2, (2000, 40)), y + 1 + rng.normal(0, 0.2, (2000, 40))
    w = crps_stacking_weights({"low": low, "high": high}, y)
    assert w["low"] == pytest.approx(0.5, abs=0.05)

    def mixture_crps(weights):
        n = (np.asarray(weights) * 2000).round().astype(int)
        return crps_from_draws(np.concatenate([low[: n[0]], high[: n[1]]]), y).mean()

    best = mixture_crps(w.to_numpy())
    assert best < min(mixture_crps([1, 0]), mixture_crps([0, 1]), mixture_crps([0.3, 0.7]))


# --------------------------------------------------------------------------- recovery (NUTS)
#: Independent data sets each law is fitted to in the recovery test.
RECOVERY_SETS = 3


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(form_cases.CASES))
def test_each_law_recovers_its_generating_parameters(name):
    """Each law, fitted with NUTS to 3 data sets it generated (4 for farseer's nine values),
    holds every true value in its 95%
    interval on at least as many of them as calibrated intervals would, but for a false alarm
    of 0.001 shared by the law's parameters (``min_covered``: here at least 1 of 3, since
    calibrated intervals miss on all 3 with probability 0.05^3 = 1.25e-4).

    One data set says little: at kaplan's first seed D_c and alpha_D lie outside their 90%
    intervals (a least-squares fit of those runs also lands 2 standard errors away); over seeds
    13-24 both did on 2, N_c on one more, none outside its 95% interval. And the parameters of
    one data set miss together, so the data sets are the trials. A parameter the fit gets wrong
    (a wrong transform or formula) misses on every data set and fails here; how well the
    intervals are calibrated is SBC's question (tests/evaluation/test_validate.py).
    """
    # bnsl's break trades off against the exponents around it: at the default target_accept 0.9,
    # 11 of 14 seeds gave 1-83 divergences (8 of 14 with nutpie's own compile of the same log
    # density); at 0.95, as the fit's warning advises, 1 divergence in 8 seeds.
    # farseer's slopes in N trade off against each other (the data term's N-curvature mixes its
    # amplitude's and its exponent's, weighted by log D ~ 24): bulk ESS ~380-1000 per 8000 draws.
    options = {"bnsl": {"target_accept": 0.95}, "farseer": {"draws": 2000}}.get(name, {})
    # As many data sets as make the bound check something (farseer's nine values need four).
    quantities = len(form_cases.CASES[name]().truth)
    n_sets = next(n for n in range(RECOVERY_SETS, 9) if min_covered(n, 0.95, quantities=quantities) >= 1)
    cases = form_cases.data_sets(name, n_sets)
    truth = cases[0].truth
    held = dict.fromkeys(truth, 0)
    for i, case in enumerate(cases):
        fit = _fit(case.runs, case.law, law_options=case.law_options, random_seed=i, **options)
        assert_sampler_ok(fit)
        for parameter, true in case.truth.items():
            held[parameter] += covers(fit.draws(parameter), true, 0.95)
    need = min_covered(n_sets, 0.95, quantities=len(truth))
    assert need >= 1  # (with fewer data sets the bound would check nothing)
    missed = {p: n for p, n in held.items() if n < need}
    assert not missed, f"{name}: true values inside their 95% intervals on {missed} of {n_sets} data sets"


def _fit(runs, law="chinchilla", **options):
    """A fit whose sampler diagnostics are asserted by the test itself. Pareto-k warnings are
    let through: an edge configuration of a synthetic design can carry k > 0.7 (kaplan), and
    the outlier tests plant such runs on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        return bs.fit(runs, law, **{**FIT, **options})


@pytest.fixture(scope="module")
def kaplan_fits():
    """Kaplan-generated runs fitted by kaplan and by chinchilla."""
    runs = form_cases.kaplan().runs
    fits = {law: _fit(runs, law) for law in ("kaplan", "chinchilla")}
    assert_sampler_ok(fits["kaplan"])
    return fits


@pytest.mark.slow
def test_compare_ranks_the_generating_law_first(kaplan_fits):
    table = bs.compare(kaplan_fits)
    assert table.index[0] == "kaplan"
    # (ArviZ 1.x reports elpd_diff as a negative number for the worse fits)
    assert -table.loc["chinchilla", "elpd_diff"] > 2 * table.loc["chinchilla", "dse"]


@pytest.mark.slow
def test_stack_weights_the_generating_law_and_forecasts_like_a_fit(kaplan_fits):
    mix = bs.stack(kaplan_fits)
    assert mix.weights["kaplan"] > 0.5
    assert list(mix.comparison.index) == list(bs.compare(kaplan_fits).index)
    kp = synthetic.KAPLAN_PARAMS
    far = mix.predict([7e10], [1.4e12], kind="mean").draws[:, 0]
    truth = laws.kaplan_loss(7e10, 1.4e12, kp["N_c"], kp["D_c"], kp["alpha_N"], kp["alpha_D"])
    assert near_truth(far, truth), (np.median(far), far.std(), truth)  # one data set: no coverage claim
    assert np.isfinite(mix.compute_optimal([1e24])["params_median"]).all()


@pytest.mark.slow
def test_stack_by_leave_future_out_crps(kaplan_fits):
    runs = form_cases.kaplan().runs
    cutoff = float(np.quantile(runs.flops, 0.7))
    mix = bs.stack(kaplan_fits, holdout=cutoff, fit_options={"draws": 500, "tune": 500})
    table = mix.comparison
    assert table.attrs["n_held_out"] == int((runs.flops > cutoff).sum())
    assert mix.weights["kaplan"] > 0.5
    # the chosen mixture scores no worse than either law alone on the held-out runs
    assert table.attrs["mixture_crps"] <= table["lfo_crps"].min() * 1.01
    assert np.isfinite(mix.compute_optimal([1e24])["params_median"]).all()


@pytest.mark.slow
def test_compare_by_leave_future_out(kaplan_fits):
    runs = form_cases.kaplan().runs
    cutoff = float(np.quantile(runs.flops, 0.7))
    table = bs.compare(kaplan_fits, holdout=cutoff, fit_options={"draws": 500, "tune": 500})
    n_future = int((runs.flops > cutoff).sum())
    assert (table["lfo_n_held_out"] == n_future).all()
    assert np.isfinite(table[["lfo_crps", "lfo_coverage_90", "lfo_median_ape"]].to_numpy()).all()
    assert table.loc["kaplan", "lfo_crps"] < table.loc["chinchilla", "lfo_crps"]


@pytest.mark.slow
def test_bnsl_fits_double_descent_that_a_power_law_cannot():
    case = form_cases.bnsl(form_cases.BNSL_DOUBLE_DESCENT, points=60, random_seed=21)
    # Default priors. From jittered prior centres, chains settled in different modes (R-hat
    # 1.75); bnsl starts them at the best of a multi-start mode search (init="auto"). The
    # exponents around two nearby breaks trade off (c1 with c2, correlation -0.99): at the
    # defaults (1000 draws, target_accept 0.9) seeds 1-3 gave a bulk ESS of 255-325 and up to
    # 2 divergences; as the fit's warning advises, this test samples longer at target_accept
    # 0.95. 2000 draws were not enough on every machine: seeds 1-4 gave R-hat 1.004-1.013, and
    # seed 1 inside the suite (another BLAS setting moves the mode search's start) 1.022, ESS
    # below 400. 4000 draws (seeds 1-4: R-hat <= 1.006, ESS 643-1438, at most 4 divergent of
    # 16,000) add about a second of sampling.
    fits = {
        "bnsl": _fit(case.runs, "bnsl", law_options={"x": "D", "breaks": 2}, draws=4000, target_accept=0.95),
        "power_law": _fit(case.runs, "power_law", law_options={"x": "D"}),
    }
    assert_sampler_ok(fits["bnsl"])
    search = json.loads(fits["bnsl"].idata.attrs["init"])
    # None: every start reached the best mode (a gap of 0.0 must fail, so no `or` here)
    gap = search["runner_up_gap"]
    assert search["method"] == "multistart" and (gap is None or gap > 3), search
    p = case.truth
    d = np.geomspace(1e8, 1e12, 200)
    truth = laws.bnsl_loss(d, p["E"], p["b"], p["c0"], form_cases._bnsl_breaks(p))
    medians = {k: f.predict_summary(1e8, d, kind="mean")["loss_median"].to_numpy() for k, f in fits.items()}
    assert np.max(np.abs(medians["bnsl"] / truth - 1)) < 0.01
    assert np.any(np.diff(medians["bnsl"]) > 0), "the BNSL fit must rise where the data rise"
    assert np.all(np.diff(medians["power_law"]) <= 1e-12), "a power law with a floor cannot rise"
    assert np.max(np.abs(medians["power_law"] / truth - 1)) > 0.03
    table = bs.compare(fits)
    assert table.index[0] == "bnsl" and -table.loc["power_law", "elpd_diff"] > 4 * table.loc["power_law", "dse"]


@pytest.mark.slow
def test_outlier_mixture_finds_the_under_tuned_runs():
    runs = synthetic.chinchilla_runs(n_configs=80, random_seed=3, replicate_every=1000)
    frame = runs.to_frame()
    bad = np.array([7, 23, 41, 66])
    frame.loc[bad, "loss"] *= 1.08  # under-tuned: 8% above the frontier
    fit = _fit(bs.Runs.from_frame(frame), likelihood="outlier_mixture")
    assert_sampler_ok(fit)
    probs = fit.outlier_probabilities()["outlier_prob"].to_numpy()
    assert probs[bad].min() > 0.5
    assert np.median(np.delete(probs, bad)) < 0.1
    # and the planted runs do not drag the exponents away (one data set: a gross-error check)
    truth = synthetic.CHINCHILLA_PARAMS
    for name in ("alpha", "beta"):
        assert near_truth(fit.draws(name), truth[name]), name


@pytest.mark.slow
def test_user_defined_law_gets_fits_and_a_numeric_allocation():
    # Written with its amplitudes at a reference size (1e8 parameters, 1e10 tokens), as the
    # built-in laws are sampled: with raw A and B the posterior is a thin ridge (divergences).
    law = bs.define_law(
        "test_tied_floor",
        lambda N, D, E, a, b, alpha: E + a * (N / 1e8) ** -alpha + b * (D / 1e10) ** -alpha,
        {
            "E": Prior("LogNormal", mu=0.5, sigma=0.3),
            "a": Prior("LogNormal", mu=0.0, sigma=1.0),
            "b": Prior("LogNormal", mu=0.0, sigma=1.0),
            "alpha": Prior("LogNormal", mu=-1.2, sigma=0.4),
        },
        replace=True,
    )
    case = form_cases.tied()
    fit = _fit(case.runs, law)
    assert_sampler_ok(fit)
    assert fit.law.optimal_params is None
    assert near_truth(fit.draws("alpha"), case.truth["alpha"])
    # the numeric optimum per draw equals the closed form of a tied Chinchilla law
    rep = {k: v[:, None] for k, v in fit.reported_draws().items()}
    big_a, big_b = rep["a"] * 1e8 ** rep["alpha"], rep["b"] * 1e10 ** rep["alpha"]
    flops = np.array([1e21, 1e24])
    numeric = fit.optimal_params_draws(flops[None, :], drift=False)  # the law's own minimum (no drift beyond the data)
    closed = laws.chinchilla_optimal_params(flops[None, :], big_a, big_b, rep["alpha"], rep["alpha"])
    np.testing.assert_allclose(numeric, closed, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "datablations_final.csv").exists(), reason="../shared/data not present")
def test_data_constrained_beats_chinchilla_on_datablations_by_loo():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from datasets import datablations_runs

    runs = datablations_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # diagnostics are checked below, in numbers
        fits = {law: bs.fit(runs, law, random_seed=0, progressbar=False) for law in ("data_constrained", "chinchilla")}
    table = bs.compare(fits)
    assert table.index[0] == "data_constrained"
    # measured: elpd difference -66.8 with standard error 19.2
    assert -table.loc["chinchilla", "elpd_diff"] > 2 * table.loc["chinchilla", "dse"]
    assert fits["data_constrained"].diagnostics(model_checks=False)["r_hat"].max() <= MAX_R_HAT


# --------------------------------------------------------------------------- downstream link
def test_downstream_link_refuses_bad_pairs_by_name():
    from bayes_scaling.forecast.downstream import fit_downstream

    with pytest.raises(RunsValidationError, match="pair up one to one"):
        fit_downstream([3.0, 2.9], [0.5])
    with pytest.raises(RunsValidationError, match="percent\\? divide by 100"):
        fit_downstream([3.0, 2.9, 2.8, 2.7, 2.6], [50, 48, 46, 44, 42])


@pytest.mark.slow
def test_downstream_link_recovers_gadre_form_calibrated_over_datasets():
    """One data set says little: on the data of seed 5, an independent least-squares fit also
    puts log k 2.1 standard errors from the truth (the posterior agreed: k = 2.3 at the top of
    its 95% interval). So the link is checked by rates over 20 synthetic data sets, per
    parameter (eps, k and gamma of one data set move together, so the data sets are the
    trials): each true value inside its 90% interval at least ``min_covered`` times, and
    inside its 50% interval at most ``max_covered`` times (intervals far too wide hold it
    nearly always), each bound at a false alarm of 0.001 over the 3 parameters. Measured on
    one machine: 4 of 60 true values outside their 90% intervals."""
    from bayes_scaling.forecast.downstream import fit_downstream

    truth = {"eps": 0.85, "k": 2.3, "gamma": 0.75}  # near what it gives on mlfoundations' 17-task mean
    seeds = range(200, 220)
    inside_90, inside_50 = dict.fromkeys(truth, 0), dict.fromkeys(truth, 0)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        loss = rng.uniform(2.4, 5.0, 60)
        error = laws.downstream_error(loss, **truth) + rng.normal(0.0, 0.01, loss.size)
        link = fit_downstream(loss, error, random_seed=0)
        table = link.diagnostics
        n_draws = link.eps.size
        assert table.attrs["n_divergences"] <= MAX_DIVERGENT_SHARE * n_draws, (seed, table.attrs["problems"])
        assert table["r_hat"].max() <= MAX_R_HAT and table["ess_bulk"].min() >= MIN_ESS, (seed, table)
        for name, true in truth.items():
            inside_90[name] += covers(getattr(link, name), true, 0.9)
            inside_50[name] += covers(getattr(link, name), true, 0.5)
    low = min_covered(len(seeds), 0.9, quantities=len(truth))
    high = max_covered(len(seeds), 0.5, quantities=len(truth))
    assert all(n >= low for n in inside_90.values()), (inside_90, low)
    assert all(n <= high for n in inside_50.values()), (inside_50, high)


@pytest.mark.slow
def test_downstream_link_turns_a_loss_forecast_into_an_error_forecast():
    from bayes_scaling.forecast.downstream import fit_downstream

    rng = np.random.default_rng(5)
    loss = rng.uniform(2.4, 5.0, 60)
    link = fit_downstream(loss, laws.downstream_error(loss, 0.85, 2.3, 0.75) + rng.normal(0, 0.01, 60), random_seed=0)
    # a lower predicted loss gives a lower predicted error, with an interval around it
    table = link.predict(fabricated_fit(), [1e8, 1e10], [2e9, 2e11])
    assert table["error_median"].iloc[1] < table["error_median"].iloc[0]
    assert (table["error_lo"] < table["error_median"]).all() and (table["error_median"] < table["error_hi"]).all()
