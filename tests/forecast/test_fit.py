"""A real (small) NUTS fit: the API a user touches, its diagnostics, priors and noise model."""

from __future__ import annotations

import json
import os
import re
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from tolerances import assert_sampler_ok  # noqa: E402

import bayes_scaling as bs
from bayes_scaling.errors import SamplingError, SamplingWarning, SpecError


def test_summary_table_has_parameters_and_diagnostics(small_fit):
    table = small_fit.summary()
    assert list(table.index) == ["E", "A", "B", "alpha", "beta", "a", "b", "sigma_ref", "gamma", "tau", "nu"]
    for column in ("median", "5%", "95%", "r_hat", "ess_bulk", "ess_tail"):
        assert column in table.columns
    assert (table["5%"] <= table["median"]).all() and (table["median"] <= table["95%"]).all()
    np.testing.assert_allclose(table.loc["a", "median"] + table.loc["b", "median"], 1.0, atol=1e-6)
    wider = small_fit.summary(prob=0.99)
    assert (wider["0.5%"] <= table["5%"]).all() and (wider["99.5%"] >= table["95%"]).all()


def test_small_fit_samples_cleanly(small_fit):
    """With tolerances (tests/tolerances.py), not the package's warning thresholds: at R-hat 1.01
    and 2000 draws its flag flips with the draw stream (alpha at 1.0104 with seed 3)."""
    diag = small_fit.diagnostics()
    assert set(diag.index) == {"E", "log_AN_ref", "log_BD_ref", "alpha", "beta", "noise_sd", "tau_share", "gamma", "nu"}
    assert_sampler_ok(small_fit, min_ess=400)


def test_log_prior_is_pymcs_for_every_variable_and_draw(small_fit, small_runs):
    """The vectorised log prior equals pm.stats.compute_log_prior, a call per draw."""
    import pymc as pm

    from bayes_scaling.inference.model import data_scale

    model = small_fit.spec.build(small_runs, data_scale(small_runs))
    with model:
        want = pm.stats.compute_log_prior(small_fit.idata, extend_inferencedata=False, progressbar=False)
    want = want.to_dataset() if hasattr(want, "to_dataset") else want
    got = small_fit.idata["log_prior"].to_dataset()
    assert set(got.data_vars) == set(want.data_vars) == {rv.name for rv in model.free_RVs}
    for name in want.data_vars:
        assert got[name].dims == want[name].dims
        np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-12, atol=1e-12, err_msg=name)


def test_predict_shapes_and_bands(small_fit):
    fc = small_fit.predict(params=[7e10, 1e9], tokens=[1.4e12, 2e10], kind="new_run")
    assert fc.draws.shape == (small_fit.n_draws, 2)
    lo, hi = fc.interval(0.9)
    assert lo.shape == hi.shape == fc.median.shape == (2,)
    assert np.all(lo < fc.median) and np.all(fc.median < hi)
    mean = small_fit.predict(params=[7e10, 1e9], tokens=[1.4e12, 2e10], kind="mean")
    mlo, mhi = mean.interval(0.9)
    # The new-run band adds discrepancy and seed noise: clearly wider than the expected-loss band
    # near the data (1e9 params), where the noise dominates (5.0-5.3x over sampler seeds 1-6);
    # far out (7e10 params, 1.4e12 tokens) the parameter uncertainty dominates and the two widths
    # differ by Monte Carlo error only, either way (ratio 0.989-1.011, sd 0.009, over the same
    # seeds): at least 0.95 is 5 sd of slack.
    assert (hi - lo)[1] > 2 * (mhi - mlo)[1]
    assert np.all(hi - lo > 0.95 * (mhi - mlo))
    # Bigger models at more tokens have lower loss.
    assert fc.median[0] < fc.median[1]


def test_predict_accepts_broadcasting_and_unit_strings(small_fit):
    grid = small_fit.predict(params=np.array([1e9, 1e10, 1e11]), tokens=2e11, kind="mean")
    assert grid.draws.shape[1] == 3
    assert np.all(np.diff(grid.median) < 0)
    text = small_fit.predict(params="70B", tokens="1.4T", kind="mean")
    number = small_fit.predict(params=7e10, tokens=1.4e12, kind="mean")
    np.testing.assert_array_equal(text.draws, number.draws)
    frame = number.to_frame()
    assert list(frame.columns) == ["params", "tokens", "loss_median", "loss_lo", "loss_hi", "kind"]


def test_predict_rejects_bad_input(small_fit):
    with pytest.raises(ValueError, match="kind must be"):
        small_fit.predict(1e9, 1e10, kind="median")
    with pytest.raises(ValueError, match="params must be finite and > 0"):
        small_fit.predict(-1, 1e10)
    with pytest.raises(ValueError, match="cannot read 'seven'"):
        small_fit.predict("seven", 1e10)


def test_new_run_draws_are_reproducible(small_fit):
    a = small_fit.predict(7e10, 1.4e12, random_seed=3).draws
    b = small_fit.predict(7e10, 1.4e12, random_seed=3).draws
    c = small_fit.predict(7e10, 1.4e12, random_seed=4).draws
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_compute_optimal_table(small_fit):
    table = small_fit.compute_optimal(flops=[1e21, 1e23, 1e25])
    assert len(table) == 3
    for name in ("params", "tokens", "tokens_per_param", "loss"):
        assert (table[f"{name}_lo"] <= table[f"{name}_median"]).all()
        assert (table[f"{name}_median"] <= table[f"{name}_hi"]).all()
    assert table["params_median"].is_monotonic_increasing and table["tokens_median"].is_monotonic_increasing
    assert table["loss_median"].is_monotonic_decreasing
    # C = 6 N D holds draw by draw.
    draws = small_fit.optimal_draws([1e23])
    np.testing.assert_allclose(6 * draws["params"] * draws["tokens"], 1e23, rtol=1e-10)
    assert table.attrs["interval"] == 0.9


def test_optimal_loss_is_the_minimum_along_the_isoflop(small_fit):
    """The closed-form N* beats nearby allocations on the same budget, draw by draw (far beyond
    the data the extrapolation drift depends on C only, so it does not move the optimum)."""
    c = 1e23
    draws = small_fit.optimal_draws([c])
    n_star = draws["params"][:, 0]
    for factor in (0.8, 1.25):
        n = n_star[:, None] * factor
        loss = np.exp(small_fit.log_mean_draws(n, c / (6 * n)))[:, 0]
        assert np.all(loss > draws["loss"][:, 0])


def test_extrapolation_drift_grows_with_distance_and_vanishes_inside(small_fit, small_runs):
    """log loss drifts by kappa * sqrt(h) * z: nothing inside the fitted box, a variance
    growing linearly in the decades h beyond it."""
    small_fit = small_fit.with_allocation_sd(0.0)  # the loss drift alone (tests/evaluation/test_allocation.py)
    n, d = small_runs.params[:5], small_runs.tokens[:5]
    np.testing.assert_array_equal(small_fit.extrapolation_distance(n, d), 0.0)
    theta = {k: v[:, None] for k, v in small_fit.sampled_draws().items()}
    law_only = small_fit.law.log_mean(theta, np.log(n)[None, :], np.log(d)[None, :], small_fit.scale)
    np.testing.assert_allclose(small_fit.log_mean_draws(n[None, :], d[None, :]), law_only)
    top_n, top_d = small_runs.params.max(), small_runs.tokens.max()
    h = small_fit.extrapolation_distance([top_n * 10, top_n * 100], [top_d * 10, top_d * 100])
    c_max = np.max(small_runs.params * small_runs.tokens)
    np.testing.assert_allclose(h, np.log10(np.array([100, 1e4]) * top_n * top_d / c_max))
    kappa = small_fit.noise.extrapolation_sd
    assert kappa > 0
    far = np.array([[top_n * 10, top_n * 100]]), np.array([[top_d * 10, top_d * 100]])
    law = small_fit.law.log_mean(theta, np.log(far[0]), np.log(far[1]), small_fit.scale)
    drift = small_fit.log_mean_draws(*far) - law
    # one z per draw: the drift at h[1] is the drift at h[0] scaled by sqrt(h[1] / h[0]), exactly...
    np.testing.assert_allclose(drift[:, 1], drift[:, 0] * np.sqrt(h[1] / h[0]), rtol=1e-9, atol=1e-12)
    # ...and its sd is kappa sqrt(h) up to the Monte Carlo error of an sd from n draws (1/sqrt(2n),
    # 1.6% at 2000): 5 of those, not a number one z stream happened to give
    np.testing.assert_allclose(drift.std(axis=0), kappa * np.sqrt(h), rtol=5 / np.sqrt(2 * small_fit.n_draws))
    off = small_fit.with_extrapolation_sd(0.0)
    np.testing.assert_allclose(off.log_mean_draws(*far), law)
    assert off.spec_dict["extrapolation_sd"] == 0.0 and small_fit.noise.extrapolation_sd == kappa
    # an expected drift m (sized from the runs by calibrate_drift) moves every draw by m sqrt(h)
    shifted = small_fit.with_extrapolation_sd(kappa, mean=-0.01)
    moved = shifted.log_mean_draws(*far) - small_fit.log_mean_draws(*far)
    np.testing.assert_allclose(moved, np.broadcast_to(-0.01 * np.sqrt(h), moved.shape))
    inside = np.array([[small_runs.params[0]]]), np.array([[small_runs.tokens[0]]])
    np.testing.assert_allclose(shifted.log_mean_draws(*inside), small_fit.log_mean_draws(*inside))
    assert shifted.spec.extrapolation_mean == -0.01 and "extrapolation_mean" not in off.spec_dict
    assert (
        shifted.spec.spec_id != small_fit.spec.spec_id and off.spec.to_dict().keys() == small_fit.spec.to_dict().keys()
    )


def test_fit_accepts_dataframe_and_rejects_unknown_law(small_runs):
    with pytest.raises(SpecError, match="unknown law 'chinchila'"):
        bs.fit(small_runs, law="chinchila")
    with pytest.raises(SpecError, match="unknown parameter"):
        bs.fit(small_runs, priors={"delta": None})
    with pytest.raises(bs.RunsValidationError, match="missing column 'loss'"):
        bs.fit(pd.DataFrame({"params": [1.0], "tokens": [2.0]}))


def test_too_few_runs_is_a_validation_error():
    runs = bs.synthetic.chinchilla_runs(n_configs=4, n_budgets=2, random_seed=0)
    with pytest.raises(bs.RunsValidationError, match="only 4 distinct"):
        bs.fit(runs)


def test_failed_diagnostics_warn_and_strict_raises(small_runs):
    with pytest.warns(SamplingWarning, match="effective sample size below") as record:
        fit = bs.fit(small_runs, draws=30, tune=30, chains=2, random_seed=0, progressbar=False)
    assert "run more draws" in str(record[0].message)
    assert not fit.diagnostics()["ok"].all()
    with pytest.raises(SamplingError, match="effective sample size"):
        bs.fit(small_runs, draws=30, tune=30, chains=2, random_seed=0, progressbar=False, strict=True)


def test_same_seed_same_draws(small_runs, small_fit):
    with warnings.catch_warnings():  # the same diagnostics as small_fit's, asserted there
        warnings.simplefilter("ignore", SamplingWarning)
        again = bs.fit(small_runs, draws=500, tune=500, chains=4, random_seed=1, progressbar=False)
    for name in ("E", "alpha", "beta", "tau"):
        np.testing.assert_array_equal(again.draws(name), small_fit.draws(name))


def test_prior_override_is_used_and_not_written_back(small_runs):
    from pymc_extras.prior import Prior

    tight = {"alpha": Prior("Normal", mu=0.5, sigma=0.001)}
    spec = bs.ScalingModel(priors=tight)
    prior = bs.sample_prior(small_runs, model=spec, draws=200, random_seed=0)
    np.testing.assert_allclose(np.median(prior.draws("alpha")), 0.5, atol=0.001)
    assert spec.to_dict()["priors"] == {"alpha": tight["alpha"].to_dict()}
    assert set(spec.priors) == {"alpha"}


def test_prior_predictive_curves_are_plausible(small_runs):
    """Prior draws give loss curves of plausible shape and size around the observed losses."""
    prior = bs.sample_prior(small_runs, draws=1000, random_seed=0)
    loss = small_runs.loss
    fc = prior.predict(small_runs.params, small_runs.tokens, kind="mean")
    # Every curve of the law is positive and decreasing in N (at fixed D) and in D (at fixed N).
    # (Beyond the data the extrapolation drifts can bend the flattest prior curves upward: a
    # law with alpha = 0.05 barely decays, so it is checked without them.)
    law = prior.with_extrapolation_sd(0.0).with_allocation_sd(0.0)
    grid = law.predict(np.geomspace(1e7, 1e11, 9), 1e10, kind="mean").draws
    assert np.all(np.diff(grid, axis=1) < 0)
    grid = law.predict(1e9, np.geomspace(1e9, 1e13, 9), kind="mean").draws
    assert np.all(np.diff(grid, axis=1) < 0)
    # The prior median curve is within a factor 1.5 of the data, and 90% of prior draws at the
    # data are within [0.3x, 5x] the observed range: broad, but not absurd.
    ratio = np.median(fc.draws, axis=0) / loss
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5))
    inside = (fc.draws > 0.3 * loss.min()) & (fc.draws < 5 * loss.max())
    assert inside.mean() > 0.9
    # E sits below the lowest observed loss for most prior draws.
    assert np.mean(prior.draws("E") < loss.min()) > 0.8


def test_repr_and_spec_roundtrip(small_fit):
    assert "chinchilla" in repr(small_fit)
    spec = small_fit.spec
    assert spec.to_dict() == bs.ScalingModel.from_dict(spec.to_dict()).to_dict()
    assert spec.spec_id == small_fit.idata.attrs["spec_id"]


def test_prior_data_conflict_is_named(small_runs):
    """A tight prior far from the data: power-scaling sensitivity flags the law's parameters."""
    from pymc_extras.prior import Prior

    wrong = {"beta": Prior("Normal", mu=0.8, sigma=0.02)}
    with pytest.warns(SamplingWarning, match=r"prior-data conflict for \[.*'beta'.*\]"):
        fit = bs.fit(small_runs, draws=500, tune=500, random_seed=1, progressbar=False, priors=wrong)
    sensitivity = fit.diagnostics().attrs["sensitivity"]
    assert sensitivity.loc["beta", "prior"] > 0.05 and sensitivity.loc["beta", "likelihood"] > 0.05
    assert "prior-data conflict" in fit.idata.attrs["diagnostics"]  # recorded for the saved file


def test_no_false_alarms_on_clean_data(small_fit):
    """No prior-data conflict on data from the law (the law's prior sensitivities were
    0.006-0.021 on three draw streams, the threshold is 0.05), and no configuration that PSIS
    cannot handle. The largest Pareto k is the one number here that Monte Carlo moves across
    the package's 0.7 threshold (0.52, 0.71, 0.61 with sampler seeds 1-3), so one configuration
    may cross it; a run the posterior truly hinges on gives k > 1."""
    diag = small_fit.diagnostics()
    sampler_problems = small_fit.diagnostics(model_checks=False).attrs["problems"]  # asserted above
    model_problems = [p for p in diag.attrs["problems"] if p not in sampler_problems]
    assert all(p.startswith("Pareto k >") for p in model_problems), model_problems  # no prior-data conflict
    law = diag.attrs["sensitivity"].loc[["E", "log_AN_ref", "log_BD_ref", "alpha", "beta"]]
    assert (law["prior"] < 0.05).all(), law
    k = diag.attrs["pareto_k"]
    assert (k > 0.7).sum() <= 1 and k.max() < 1.0, np.sort(k)[-3:]


def test_influential_outlier_is_named_and_strict_raises(small_runs):
    """One run 30% above the law under a Gaussian likelihood: Pareto k names its (N, D)."""
    frame = small_runs.to_frame()
    frame.loc[5, "loss"] *= 1.3
    runs = bs.Runs.from_frame(frame)
    n = frame.loc[5, "params"]
    with pytest.raises(SamplingError, match=r"Pareto k > 0\.\d+ for 1 configuration\(s\) \(N=" + re.escape(f"{n:.3g}")):
        bs.fit(runs, draws=500, tune=500, random_seed=1, progressbar=False, likelihood="normal", strict=True)


def test_pointwise_log_likelihood_matches_pymc(small_runs, small_fit):
    import pymc as pm

    ours = small_fit.log_likelihood().values
    model = small_fit.spec.build(small_runs)
    ref = pm.stats.compute_log_likelihood(
        small_fit.idata.copy(), model=model, extend_inferencedata=False, progressbar=False
    )
    ref = ref.to_dataset() if hasattr(ref, "to_dataset") else ref
    total = ref["mean_log_loss"].values.copy()
    rep = small_fit.idata["constant_data"].to_dataset()["rep_index"].values
    total[:, :, rep] += ref["within_ss"].values
    np.testing.assert_allclose(ours, total, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_same_seed_same_draws_across_processes(tmp_path):
    """The first process compiles into empty compile caches (a fresh JIT), the second loads
    the callbacks from them without building the PyTensor functions: both must draw the same
    samples (they did not while numba's fastmath was on)."""
    import os
    import subprocess
    import sys

    code = (
        "import bayes_scaling as bs, hashlib, sys\n"
        "runs = bs.synthetic.chinchilla_runs(n_configs=40, random_seed=2)\n"
        "fit = bs.fit(runs, draws=200, tune=300, random_seed=7, progressbar=False)\n"
        "print(hashlib.sha256(fit.idata['posterior'].to_dataset()['alpha'].values.tobytes()).hexdigest())\n"
    )
    env = {
        **os.environ,
        "BAYES_SCALING_COMPILE_CACHE": "1",  # it tests the cache
        "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
    }
    outs = [
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) == 64
    assert any(
        (tmp_path / "pytensor" / "numba").glob("*callback-bayes_scaling_*.nbi")
    )  # cached by the first for the second
    # and the record that lets the second load them without building the PyTensor functions
    assert any((tmp_path / "pytensor" / "bayes_scaling_graphs").glob("nutpie-*.json"))


def test_predict_summary_matches_predict_and_is_chunk_invariant_for_the_mean(fake_fit):
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(8, 11, 500), 10 ** rng.uniform(9, 12, 500)
    mean = fake_fit.predict(n, d, kind="mean")
    lo, hi = mean.interval(0.9)
    for chunk in (None, 7):
        table = fake_fit.predict_summary(n, d, kind="mean", probs=(0.9, 0.5), chunk_size=chunk)
        np.testing.assert_allclose(table["loss_median"], mean.median, rtol=1e-5)  # float32 inside
        np.testing.assert_allclose(table["loss_lo_90"], lo, rtol=1e-5)
        np.testing.assert_allclose(table["loss_hi_90"], hi, rtol=1e-5)
        assert list(table.columns) == [
            "params",
            "tokens",
            "loss_median",
            "loss_lo_90",
            "loss_hi_90",
            "loss_lo_50",
            "loss_hi_50",
        ]
        assert table.attrs["kind"] == "mean"
    # New-run quantiles agree with predict's up to Monte Carlo error, and repeat exactly.
    new = fake_fit.predict(n, d)
    table = fake_fit.predict_summary(n, d)
    assert np.median(np.abs(np.log(table["loss_hi_90"] / new.interval(0.9)[1]))) < 2e-3
    pd.testing.assert_frame_equal(table, fake_fit.predict_summary(n, d))


def test_diagnostics_are_computed_once_and_handed_out_as_copies(small_fit, monkeypatch):
    """fit() checks its diagnostics; later callers (CLI, report) reuse them, and editing the
    table one gets does not change what the next caller sees."""
    first = small_fit.diagnostics()
    expected = (first["ok"].copy(), list(first.attrs["problems"]))
    fit_module = sys.modules["bayes_scaling.forecast.result"]
    monkeypatch.setattr(fit_module, "diagnostics_table", lambda *a, **k: pytest.fail("recomputed"))
    first.attrs["problems"].append("edited by a caller")
    first.loc[:, "ok"] = ~first["ok"]
    again = small_fit.diagnostics()
    pd.testing.assert_series_equal(again["ok"], expected[0])
    assert again.attrs["problems"] == expected[1]
    assert small_fit.log_likelihood() is small_fit.log_likelihood() and small_fit.loo() is small_fit.loo()


def test_sampling_cores_default_env_and_bad_values(monkeypatch):
    """Every CPU this process may use (PyMC's default took half), at most one per chain;
    $BAYES_SCALING_CORES (backtest workers set 1) or an explicit value win; nonsense is refused."""
    from bayes_scaling.inference.sampling import sampling_cores

    monkeypatch.delenv("BAYES_SCALING_CORES", raising=False)
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert sampling_cores(64) == available
    assert sampling_cores(1) == 1
    assert sampling_cores(4, cores=3) == 3
    monkeypatch.setenv("BAYES_SCALING_CORES", "1")
    assert sampling_cores(4) == 1 and sampling_cores(4, cores=2) == 2
    monkeypatch.setenv("BAYES_SCALING_CORES", "two")
    with pytest.raises(bs.SpecError, match="BAYES_SCALING_CORES"):
        sampling_cores(4)
    with pytest.raises(bs.SpecError, match="positive integer"):
        sampling_cores(4, cores=0)


def test_run_nuts_names_the_cores_and_the_sampler(monkeypatch, small_runs):
    """PyMC's own default would take half the CPUs (one of two here): the count is always passed,
    to nutpie (which bayes_scaling runs itself) and to pm.sample, with the sampler named."""
    import nutpie
    import pymc as pm

    from bayes_scaling.inference.model import ScalingModel, data_scale
    from bayes_scaling.inference.sampling import run_nuts, sampling_cores

    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(nutpie, "sample", record)
    monkeypatch.setattr(pm, "sample", record)
    monkeypatch.delenv("BAYES_SCALING_CORES", raising=False)
    with ScalingModel().build(small_runs, data_scale(small_runs)):
        for sampler, cores, expected in [
            ("nutpie", None, sampling_cores(4)),
            ("nutpie", 1, 1),
            ("pymc", None, sampling_cores(4)),
        ]:
            seen.clear()
            with pytest.raises(_Stop):
                run_nuts(
                    draws=10, tune=10, chains=4, sampler=sampler, nuts={}, random_seed=0, progressbar=False, cores=cores
                )
            assert seen["cores"] == expected
            assert sampler == "nutpie" or seen["nuts_sampler"] == "pymc"


class _Stop(Exception):
    pass


def test_draws_do_not_depend_on_how_many_chains_run_at_once(small_runs):
    with warnings.catch_warnings():  # short chains: diagnostics may warn, not the point here
        warnings.simplefilter("ignore", SamplingWarning)
        fits = [
            bs.fit(small_runs, draws=100, tune=200, chains=2, cores=cores, random_seed=3, progressbar=False)
            for cores in (1, 2)
        ]
    for name in ("alpha", "beta", "E"):
        np.testing.assert_array_equal(fits[0].idata["posterior"][name].values, fits[1].idata["posterior"][name].values)
    assert json.loads(fits[1].idata.attrs["sampler_settings"])["cores"] == 2


# ------------------------------------------------------------------ the table a law is fitted to
class _TableSeen(Exception):
    """Raised where fit() would start building the model: the runs it would fit, no sampling."""

    def __init__(self, runs):
        super().__init__("stopped before sampling")
        self.runs = runs


def _fitted_table(monkeypatch, runs, law="chinchilla"):
    """The runs fit() hands to the model, and the warnings it gave on the way."""
    import bayes_scaling.inference.model as model

    def stop(runs):
        raise _TableSeen(runs)

    monkeypatch.setattr(model, "data_scale", stop)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(_TableSeen) as seen:
            bs.fit(runs, law, progressbar=False)
    return seen.value.runs, [str(w.message) for w in record if issubclass(w.category, bs.RunsWarning)]


def _curves(flags=None):
    rows = []
    for i, n in enumerate(np.geomspace(1e8, 2e9, 8)):
        for s, d in enumerate(np.geomspace(2e9, 40 * n, 4)):
            loss = 1.69 + 406.4 * n**-0.34 + 410.7 * d**-0.28
            rows.append(
                {"run_id": f"r{i}", "step": s, "params": n, "tokens": d, "loss": loss * (1 + 0.002 * (-1) ** s)}
            )
    frame = pd.DataFrame(rows)
    if flags is not None:
        frame["is_final_checkpoint"] = flags
    return frame


def test_a_final_loss_law_is_fitted_to_the_final_checkpoints_and_says_so(monkeypatch):
    runs = bs.Runs.from_frame(_curves())
    fitted, said = _fitted_table(monkeypatch, runs)
    assert len(fitted) == 8 and not fitted.has_checkpoints
    pd.testing.assert_frame_equal(fitted.to_frame(), runs.final().to_frame())
    assert len(said) == 1
    assert re.match(
        r"8 runs with checkpoints: fitting the final checkpoint of each run \(8 of 32 rows\); law 'chinchilla'", said[0]
    )
    _, said = _fitted_table(monkeypatch, runs.final())  # a final-checkpoint table: nothing to say
    assert said == []


def test_runs_flagged_as_stopped_early_are_left_out_of_a_final_loss_fit(monkeypatch):
    flags = ["false"] * 32
    for run in range(1, 8):  # run r0 never reached its final checkpoint
        flags[4 * run + 3] = "true"
    fitted, said = _fitted_table(monkeypatch, bs.Runs.from_frame(_curves(flags)))
    assert sorted(fitted.run_table["run_id"]) == [f"r{i}" for i in range(1, 8)] and len(fitted) == 7
    assert "(7 of 32 rows); 1 run(s) whose every row is flagged not final (stopped early) are left out" in said[0]


def test_a_law_that_reads_curves_gets_every_checkpoint(monkeypatch):
    import dataclasses

    from bayes_scaling.laws import registry

    curves = dataclasses.replace(bs.get_law("chinchilla"), name="test_fit_reads_curves")
    object.__setattr__(curves, "reads_curves", True)
    runs = bs.Runs.from_frame(_curves())
    try:
        fitted, said = _fitted_table(monkeypatch, runs, law=curves)
    finally:
        registry._REGISTRY.pop("test_fit_reads_curves", None)
    assert len(fitted) == 32 and said == []


def test_a_large_table_warns_once_that_the_fit_takes_minutes(monkeypatch, small_runs):
    from bayes_scaling.forecast import fitting

    _, said = _fitted_table(monkeypatch, small_runs)
    assert said == []
    monkeypatch.setattr(fitting, "SLOW_FIT_CONFIGS", 50)
    _, said = _fitted_table(monkeypatch, small_runs)
    assert len(said) == 1
    assert re.match(r"60 configurations: this fit will take minutes\. To aggregate: replicate seeds .* pooled", said[0])
    assert "round D to fewer distinct values, or fit a subsample (runs.subset(mask))" in said[0]
    from bayes_scaling.errors import spoken_as

    with spoken_as(lambda name, value: None):  # as the command line speaks: no Python to call
        _, said = _fitted_table(monkeypatch, small_runs)
    assert "--max-flops C" in said[0] and "runs.subset" not in said[0]
