"""Forecast's fast path: draws computed a block of points at a time, and median and intervals
from one partial sort per interval, give np.quantile's answers on the same draws."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling.forecast.predictive as predictive
from bayes_scaling.forecast.predictive import draw_quantiles

QS = [0.0, 0.05, 0.25, 1 / 3, 0.5, 0.9, 0.95, 1.0]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few points (1000 draws x 3 points), so that small arrays span many blocks."""
    monkeypatch.setattr(predictive, "BLOCK_VALUES", 3000)


def points(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return 10 ** rng.uniform(8, 10, n), 10 ** rng.uniform(9, 11, n)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (999, 1), (1000, 7), (4000, 37)])
@pytest.mark.parametrize("workers", [1, 2])
def test_draw_quantiles_equal_numpy(shape, workers, small_blocks):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    x = np.exp(rng.standard_normal(shape))
    got = draw_quantiles(x, QS, workers=workers)
    np.testing.assert_allclose(got, np.quantile(x, QS, axis=0), rtol=1e-12, atol=0)


def test_draw_quantiles_ties_nan_and_inf_as_numpy(small_blocks):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(1000, 9)).astype(float)  # many ties
    x[17, 2] = np.nan  # a column with a NaN: NaN, as np.quantile
    x[:, 5] = np.inf  # all infinite: inf - inf in the interpolation, as np.quantile
    x[::2, 7] = -np.inf
    with np.errstate(invalid="ignore"):
        expected = np.quantile(x, QS, axis=0)
    got = draw_quantiles(x, QS, workers=2)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert np.isnan(got[:, 2]).all()


@pytest.mark.parametrize("first", ["median", "interval"])
def test_forecast_summaries_are_numpys_on_its_draws(fake_fit, small_blocks, first):
    n, d = points(50)
    fc = fake_fit.predict(n, d)
    if first == "interval":
        lo80, hi80 = fc.interval(0.8)
    median = fc.median
    lo, hi = fc.interval(0.9)
    if first == "median":
        lo80, hi80 = fc.interval(0.8)
    np.testing.assert_allclose(median, np.median(fc.draws, axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(lo, np.quantile(fc.draws, 0.05, axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(hi, np.quantile(fc.draws, 0.95, axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(lo80, np.quantile(fc.draws, 0.1, axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(hi80, np.quantile(fc.draws, 0.9, axis=0), rtol=1e-12, atol=0)
    lo[:] = 0.0  # the caller's copy: the kept interval does not change
    fc.median[:] = 0.0
    assert (fc.interval(0.9)[0] > 0).all()
    np.testing.assert_array_equal(fc.median, median)
    with pytest.raises(ValueError, match="read-only"):  # nor can the draws behind them change
        fc.draws[0, 0] = 0.0
    frame = fc.to_frame(0.9)
    np.testing.assert_array_equal(frame["loss_median"], median)
    np.testing.assert_array_equal(frame["loss_hi"], hi)


def test_predict_blocks_give_the_whole_array_answer(fake_fit, small_blocks):
    """The expected-loss draws, computed a block at a time, are exp(log_mean_draws) of all points."""
    n, d = points(40)
    fc = fake_fit.predict(n, d, kind="mean", workers=2)
    assert fc.draws.dtype == np.float64 and fc.draws.shape == (fake_fit.n_draws, 40)
    np.testing.assert_allclose(fc.draws, np.exp(fake_fit.log_mean_draws(n, d)), rtol=1e-14, atol=0)


def test_predict_draws_depend_on_the_seed_not_on_threads(fake_fit, small_blocks):
    n, d = points(40)
    one = fake_fit.predict(n, d, random_seed=3, workers=1).draws
    np.testing.assert_array_equal(fake_fit.predict(n, d, random_seed=3, workers=2).draws, one)
    # whole blocks (3 points here) do not depend on the points after them
    np.testing.assert_array_equal(fake_fit.predict(n[:6], d[:6], random_seed=3).draws, one[:, :6])
    other = fake_fit.predict(n, d, random_seed=4).draws
    assert not np.array_equal(other, one)
    # the noise of different blocks is not repeated
    noise = np.log(one) - fake_fit.log_mean_draws(n, d)
    assert np.unique(noise[0]).size == noise.shape[1]
    # seeds as a Generator or None are accepted as before
    assert np.isfinite(fake_fit.predict(n, d, random_seed=np.random.default_rng(0)).draws).all()
    assert np.isfinite(fake_fit.predict(n, d, random_seed=None).draws).all()


def test_new_run_draws_are_independent_across_points(fake_fit):
    """Each point gets its own noise (not a per-draw scale shared by the points, which only
    per-point summaries may use): the standardised noise of two points is uncorrelated, also in
    its magnitude."""
    n, d = np.full(2, 1e9), np.full(2, 2e10)
    noise = np.log(fake_fit.predict(n, d, random_seed=0).draws) - fake_fit.log_mean_draws(n, d)
    r = np.corrcoef(np.abs(noise[:, 0]), np.abs(noise[:, 1]))[0, 1]
    assert abs(r) < 0.15  # 1000 draws: sd of r about 0.03
