"""The data's own drift: the evidence's maths, the internal cutoff, the posterior of kappa, and
the internal leave-future-out on a real fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from tolerances import FALSE_ALARM, min_covered

import bayes_scaling as bs
from bayes_scaling.errors import RunsValidationError
from bayes_scaling.evaluation.drift import (
    MIN_FITTED,
    MIN_GAP_DEX,
    RELATIVE_GRID,
    DriftCalibration,
    Evidence,
    calibrate_drift,
    drift_note,
    internal_cutoff,
)
from bayes_scaling.noise.extrapolation import DEFAULT_EXTRAPOLATION_SD, drift_evidence, drift_log_likelihood


def test_the_evidence_is_the_exact_gaussian_likelihood_of_kappa():
    """(p, q) give log N(r; 0, Sigma + kappa^2 v v') - log N(r; 0, Sigma) exactly (v = sqrt(h))."""
    rng = np.random.default_rng(0)
    n = 12
    a = rng.normal(size=(n, n)) * 0.01
    cov = a @ a.T + np.diag(rng.uniform(1e-5, 4e-4, n))
    h = rng.uniform(0.05, 0.8, n)
    r = rng.multivariate_normal(np.zeros(n), cov) + 0.03 * np.sqrt(h)
    v = np.sqrt(h)
    p, q = drift_evidence(r, cov, v)
    base = stats.multivariate_normal(np.zeros(n), cov).logpdf(r)
    for kappa in (0.0, 0.01, 0.03, 0.2):
        dense = stats.multivariate_normal(np.zeros(n), cov + kappa**2 * np.outer(v, v)).logpdf(r) - base
        np.testing.assert_allclose(drift_log_likelihood(kappa, p, q), dense, rtol=1e-6, atol=1e-8)


def calibration(p, q, prior_sd=DEFAULT_EXTRAPOLATION_SD):
    return Evidence(p, q, prior_sd)


def test_without_evidence_the_drift_is_the_prior_scale():
    # q -> 0: the held-out runs cannot tell drifts apart; the forecast keeps the default's variance
    cal = calibration(0.0, 1e-9)
    assert cal.sd == pytest.approx(DEFAULT_EXTRAPOLATION_SD, rel=0.01)
    lo, hi = cal.interval(0.9)
    assert lo < cal.sd < hi


def test_runs_that_match_the_law_shrink_the_drift_and_runs_that_miss_it_grow_it():
    q = 1e5  # a drift at the default would move these runs by about 7 of their spreads
    quiet, loud = calibration(0.0, q), calibration(8.0 * np.sqrt(q), q)
    assert quiet.z == 0.0 and loud.z == pytest.approx(8.0)
    # one held-out set is one draw of the drift: it moves kappa, it does not pin it
    assert quiet.sd < DEFAULT_EXTRAPOLATION_SD and calibration(0.0, 1e7).sd < quiet.sd
    assert DEFAULT_EXTRAPOLATION_SD < loud.sd
    # the sign of the miss does not matter, only its size
    assert calibration(-8.0 * np.sqrt(q), q).sd == pytest.approx(loud.sd)
    # a wider prior lets the same evidence move kappa further
    assert loud.with_prior_sd(0.1).sd > loud.sd
    assert loud.posterior.sum() == pytest.approx(1.0) and loud.posterior.shape == RELATIVE_GRID.shape


@pytest.mark.parametrize("rho", [0.0, 0.4, 1.0])
def test_persistence_carries_the_internal_miss_forward(rho):
    """The drift beyond the data, correlated rho with the internal one, given the internal
    evidence z_hat = sqrt(q) kappa z_i + e: mean rho sqrt(q) kappa z_hat / (1 + q kappa^2), variance
    1 - rho^2 q kappa^2 / (1 + q kappa^2) (the Gaussian conditional, written independently)."""
    q = 2e4
    for z_hat in (5.0, -3.0):
        evidence = Evidence(z_hat * np.sqrt(q), q, DEFAULT_EXTRAPOLATION_SD)
        cal = DriftCalibration(1e20, 20, 8, evidence, persistence=rho)
        kappa = cal.kappa
        sd, mean = cal.forecast_drift
        k2q = q * kappa**2
        assert mean == pytest.approx(kappa * rho * np.sqrt(q) * kappa * z_hat / (1 + k2q))
        assert sd == pytest.approx(kappa * np.sqrt(1 - rho**2 * k2q / (1 + k2q)))
        assert np.sign(mean) == (np.sign(z_hat) if rho else 0) and sd <= kappa
    assert DriftCalibration(1e20, 20, 8, evidence, persistence=0.0).forecast_drift == (pytest.approx(kappa), 0.0)


def test_the_expected_drift_reaches_the_forecast_and_its_note(fake_fit):
    evidence = Evidence(-6.0 * np.sqrt(2e4), 2e4, DEFAULT_EXTRAPOLATION_SD)
    cal = DriftCalibration(1e20, 20, 8, evidence, persistence=0.7)
    fitted = cal.apply(fake_fit)
    sd, mean = cal.forecast_drift
    assert fitted.noise.extrapolation_sd == pytest.approx(sd) and fitted.noise.extrapolation_mean == pytest.approx(mean)
    assert mean < 0 and drift_note(fitted) == cal.describe() and "expect a drift of -0.0" in cal.describe()
    # the forecast 1e4x beyond the data: lower by exp(mean sqrt(h)) in the median
    params, tokens = 1e12, 2e13
    h = fake_fit.extrapolation_distance(params, tokens)[0]
    ratio = (
        fitted.predict(params, tokens, kind="mean").median[0]
        / fake_fit.with_extrapolation_sd(sd).predict(params, tokens, kind="mean").median[0]
    )
    assert ratio == pytest.approx(np.exp(mean * np.sqrt(h)), rel=1e-6)
    assert drift_note(fitted.with_extrapolation_sd(sd)) is None  # the expected drift dropped: not the runs' any more


def runs_at(log10_flops, sizes_per_budget=5, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for b, lc in enumerate(log10_flops):
        for k, n in enumerate(np.geomspace(1e7, 1e9, sizes_per_budget)):
            c = 10 ** (lc + rng.uniform(-jitter, jitter))
            rows.append({"run_id": f"b{b}-{k}", "params": n, "tokens": c / (6 * n), "loss": 3.0})
    import pandas as pd

    return bs.Runs.from_frame(pd.DataFrame(rows), plausibility=False)


def test_the_internal_cutoff_falls_between_budgets():
    runs = runs_at(np.arange(18.0, 21.01, 0.5), jitter=0.02)  # a digitized grid: C jitters in a budget
    cutoff = np.log10(internal_cutoff(runs))
    log_c = np.log10(runs.flops)
    assert (np.abs(log_c - cutoff) >= MIN_GAP_DEX / 2).all()  # no budget is split
    held = (log_c > cutoff).mean()
    assert 0.15 <= held <= 0.45 and (log_c <= cutoff).sum() >= MIN_FITTED


def test_runs_at_one_budget_cannot_calibrate_the_drift():
    with pytest.raises(RunsValidationError) as exc:
        internal_cutoff(runs_at([19.0], sizes_per_budget=12))
    text = str(exc.value)
    assert "needs at least 8 configurations below a compute cutoff and 3 above it" in text
    assert "12 configurations" in text and "calibrate_drift" in text


def test_calibrate_drift_on_a_fit(small_fit, small_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        cal = bs.calibrate_drift(small_fit, draws=300, tune=300, chains=2)
    n_configs = len(small_runs.configs)
    assert cal.n_fitted + cal.n_held_out == n_configs and cal.n_held_out >= 3
    assert small_runs.flops.min() < cal.cutoff < small_runs.flops.max()
    assert np.isfinite(cal.loss.z) and cal.loss.q > 0 and 0 < cal.kappa < cal.loss.grid[-1]
    # the synthetic grid's top budgets are IsoFLOP designs the allocation score can use
    assert cal.allocation is not None and cal.n_budgets >= 1 and np.isfinite(cal.allocation.z)
    fitted = cal.apply(small_fit)
    sd, mean = cal.forecast_drift  # (kappa and the internal miss carried forward)
    assert fitted.spec.extrapolation_sd == pytest.approx(sd) and fitted.spec.extrapolation_mean == pytest.approx(mean)
    assert fitted.spec.allocation_sd == pytest.approx(cal.allocation_sd)
    assert drift_note(fitted) == cal.describe() and drift_note(fitted.with_allocation_sd(0.3)) is None
    assert "drift_calibration" not in small_fit.idata.attrs  # the original is untouched
    assert f"kappa {cal.kappa:.4f}" in cal.describe() and f"{cal.n_held_out} above it" in cal.describe()


@pytest.mark.slow
def test_the_drift_statistic_is_standard_normal_without_drift_and_large_with_one():
    """On runs drawn from the fitted law, z (the held-out miss in drift-free spreads, of the losses and
    of the IsoFLOP minima) is about N(0, 1):
    |z| <= 1.645 for at least the binomial share of 90% over independent data sets. A drift
    injected beyond the internal cutoff (log loss moved by 0.08 sqrt(h), 3x the default) is
    found: kappa above the prior scale on every set."""
    n_sets = 6
    quiet, quiet_allocation, found = 0, 0, 0
    for seed in range(n_sets):
        runs = bs.synthetic.chinchilla_runs(n_configs=64, random_seed=100 + seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)
            fit = bs.fit(runs, draws=300, tune=300, chains=2, random_seed=seed, progressbar=False)
            cal = calibrate_drift(fit, draws=300, tune=300, chains=2, random_seed=seed)
            quiet += abs(cal.loss.z) <= stats.norm.ppf(0.95)
            quiet_allocation += abs(cal.allocation.z) <= stats.norm.ppf(0.95)
            # the same runs with a drift beyond the internal cutoff
            log_c = np.log10(runs.flops)
            top = np.log10(cal.cutoff)
            frame = runs.to_frame()
            frame["loss"] *= np.exp(0.08 * np.sqrt(np.clip(log_c - top, 0, None)))
            drifted = bs.Runs.from_frame(frame, plausibility=False)
            fit = bs.fit(drifted, draws=300, tune=300, chains=2, random_seed=seed, progressbar=False)
            found += (
                calibrate_drift(fit, draws=300, tune=300, chains=2, random_seed=seed).kappa > DEFAULT_EXTRAPOLATION_SD
            )
    assert quiet >= min_covered(n_sets, 0.9, quantities=3)
    assert quiet_allocation >= min_covered(n_sets, 0.9, quantities=3)
    assert found >= n_sets - int(stats.binom.isf(FALSE_ALARM / 2, n_sets, 0.05))
