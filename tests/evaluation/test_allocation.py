"""The design-consistent allocation score and the allocation drift it calibrates."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_scaling.data.runs import Runs
from bayes_scaling.data.synthetic import chinchilla_optimum
from bayes_scaling.evaluation import allocation as al
from bayes_scaling.testing import fabricated_fit
from tests.tolerances import FALSE_ALARM


def test_vertex_estimator_exact_and_vectorised():
    x = np.log(np.geomspace(1e8, 1e10, 7))
    m = np.log(1e9)
    curves = np.stack([3.0 + 0.05 * (x - m) ** 2, 3.0 + 0.05 * (x - m - 0.5) ** 2])
    v = al.vertex_log_params(x, curves)
    assert v.shape == (2,)
    np.testing.assert_allclose(v, [m, m + 0.5], atol=1e-9)
    # a flat or downward parabola: the end with the lower fitted loss; outside: the nearer end
    assert al.vertex_log_params(x, 3.0 - 0.01 * (x - x[0])) == pytest.approx(x[-1])
    assert al.vertex_log_params(x, 3.0 + 0.05 * (x - x[-1] - 3) ** 2) == pytest.approx(x[-1])
    many = np.broadcast_to(curves[0], (4, 3, x.size))
    assert al.vertex_log_params(x, many).shape == (4, 3)
    # robust: one outlying run (or a diverged one) does not move the vertex
    bad = curves[0].copy()
    bad[1] += 0.05
    assert al.vertex_log_params(x, bad) == pytest.approx(m, abs=0.05)
    bad[1] += 10.0
    assert al.vertex_log_params(x, bad) == pytest.approx(m, abs=1e-6)
    # one very low run does not make every other run "diverged" (the rule uses the second best)
    low = curves[0].copy()
    low[5] = 1.0
    assert al.vertex_log_params(x, low) == pytest.approx(m, abs=0.05)
    # a NaN loss is a dropped run; fewer than 3 runs kept: no vertex
    gap = curves[0].copy()
    gap[0] = np.nan
    assert al.vertex_log_params(x, gap) == pytest.approx(m, abs=1e-6)
    assert np.isnan(al.vertex_log_params(x[:3], [3.0, np.nan, 3.1]))


def _runs(n, d, loss):
    return Runs.from_frame(pd.DataFrame({"params": n, "tokens": d, "loss": loss}))


def _budget_rows(c, sizes, vertex, curvature=0.02, noise=0.0, rng=None):
    n = np.asarray(sizes, dtype=float)
    loss = 3.0 + curvature * (np.log(n) - np.log(vertex)) ** 2
    if noise:
        loss = loss + rng.normal(0, noise, n.size)
    return n, c / (6 * n), loss


def test_budgets_follow_the_design_rules_and_log_each_exclusion():
    parts = [
        _budget_rows(1e19, np.geomspace(1e8, 1e9, 6), 3e8),  # scored
        _budget_rows(1e20, np.geomspace(3e8, 3e9, 4), 1e9),  # 4 sizes
        _budget_rows(1e21, np.geomspace(1e9, 2e9, 6), 1.4e9),  # span 0.3 dex
        _budget_rows(1e22, np.geomspace(1e9, 1e10, 6), 1e10),  # vertex at the edge
    ]
    n, d, loss = (np.concatenate([part[k] for part in parts]) for k in range(3))
    loss[2] = 10.0  # one diverged run in the first budget: dropped, budget still scored
    budgets = al.isoflop_budgets(_runs(n, d, loss), name="toy")
    assert [b.flops for b in budgets.scored] == [pytest.approx(1e19)]
    assert budgets.scored[0].rows.size == 5
    text = "\n".join(budgets.excluded)
    assert "1 run(s) with loss > 1.5x the budget's second best dropped" in text
    assert "4 distinct sizes" in text
    assert "span 0.30 dex" in text
    assert "not at least one size inside" in text
    assert all(line.startswith("toy: ") for line in budgets.excluded)


def test_budgets_without_labels_need_exact_compute():
    n = np.geomspace(1e8, 1e9, 6)
    c = 1e19 * 10 ** np.array([0, 0.015, -0.015, 0.015, -0.015, 0])  # jitter 0.014 dex sd... grouped
    loss = 3.0 + 0.02 * (np.log(n) - np.log(3e8)) ** 2
    budgets = al.isoflop_budgets(_runs(n, c / (6 * n), loss))
    assert not budgets.scored and "sd of log10 C" in budgets.excluded[0]
    # with design labels (a digitized study snapped to its budgets) the jitter is allowed
    labels = al.snap_to_budgets(c, [1e18, 1e19])
    assert al.isoflop_budgets(_runs(n, c / (6 * n), loss), labels).scored


def test_scores_of_a_forecast_distribution():
    x = np.linspace(-1, 1, 2001)
    row = al.score_replicates(x, 0.0)
    assert row["pit"] == pytest.approx(0.5, abs=1e-3)
    assert row["covered_50"] and row["covered_90"]
    assert row["width90_dex"] == pytest.approx(1.8, abs=0.01)
    far = al.score_replicates(x, 0.85)  # PIT 0.925: outside the 80% interval, inside the 90%
    assert not far["covered_80"] and far["covered_90"] is True
    assert far["crps_dex"] > row["crps_dex"]
    # conditioned on the scoring window: replicates piled at the grid's ends do not count
    piled = np.concatenate([np.full(3000, -1.0), np.linspace(-0.5, 0.5, 1001), np.full(3000, 1.0)])
    naive = al.score_replicates(piled, 0.45)
    conditioned = al.score_replicates(piled, 0.45, window=(-0.5, 0.5))
    assert naive["covered_50"] and not conditioned["covered_80"]
    assert conditioned["accepted"] == pytest.approx(1001 / 7001)
    assert np.isnan(al.score_replicates(piled[:50], 0.0)["pit"])  # too few replicates: no score


def test_approach2_bootstrap_recovers_a_power_law():
    rng = np.random.default_rng(0)
    budgets = []
    for c in np.geomspace(1e18, 1e20, 5):
        vertex = 0.1 * c**0.5
        n, d, loss = _budget_rows(c, vertex * np.geomspace(0.1, 10, 9), vertex, noise=0.002, rng=rng)
        budgets.append(al.Budget(str(c), c, np.arange(9), n, d, loss))
    point, draws = al.approach2_bootstrap(budgets, [1e21], n_resamples=300)
    truth = np.log10(0.1 * 1e21**0.5)
    assert point[0] == pytest.approx(truth, abs=0.05)
    lo, hi = np.quantile(draws[:, 0], [0.05, 0.95])
    assert lo < truth < hi and hi - lo < 0.3


def _observed_study(fit, seed):
    """One IsoFLOP study beyond the fitted data (3 budgets x 7 sizes over 1.2 dex: narrow enough
    that the design rules drop some budgets, so the conditioning of the replicates is tested),
    drawn from the fit's own predictive: one random posterior draw, its drifts and a new run's
    noise."""
    rng = np.random.default_rng(seed)
    s = int(rng.integers(fit.n_draws))
    rows = []
    for c in (3e21, 1e22, 3e22):
        n_opt = chinchilla_optimum(c)[0]
        n = np.geomspace(n_opt / 4, n_opt * 4, 7)
        loss = fit.predict(n, c / (6 * n), kind="new_run", random_seed=seed).draws[s]
        rows.append(pd.DataFrame({"params": n, "tokens": c / (6 * n), "loss": loss}))
    return Runs.from_frame(pd.concat(rows, ignore_index=True))


def test_score_is_calibrated_when_the_observed_budgets_come_from_the_forecast():
    """A forecast that is right (the observed study drawn from its own predictive, allocation
    drift included) covers the observed vertex at the nominal rate: the score compares like
    with like (the estimator's own noise is in both)."""
    fit = fabricated_fit(relative_spread=0.01, draws=200).with_allocation_sd(0.1)
    n_studies, covered, total = 40, {50: 0, 90: 0}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(n_studies):
            table, _ = al.score_allocation(fit.runs, _observed_study(fit, 1000 + seed), fit, random_seed=seed)
            if not len(table):  # every budget of this study failed the design rules
                continue
            ours = table[(table["method"] == "bayes_scaling") & table["pit"].notna()]
            total += len(ours)
            for p in covered:
                covered[p] += int(ours[f"covered_{p}"].sum())
    assert total >= n_studies  # most budgets are scored
    for p, k in covered.items():
        # the 3 budgets of a study share one draw: bound as if they were one trial (conservative)
        lo, hi = 3 * stats.binom.ppf([FALSE_ALARM / 4, 1 - FALSE_ALARM / 4], n_studies, p / 100)
        assert lo <= k <= hi, (p, k, total)


def test_allocation_drift_moves_the_argmin_not_the_optimal_loss():
    fit = fabricated_fit(relative_spread=0.01, draws=500)
    flat, drift = fit.with_allocation_sd(0.0), fit.with_allocation_sd(0.2)
    largest = fit.fitted_compute[1]
    budgets = largest * np.array([0.1, 1.0, 100.0, 1e4])
    a, b = flat.optimal_draws(budgets), drift.optimal_draws(budgets)
    # inside the fitted compute nothing moves; each draw's loss at its optimum is unchanged
    np.testing.assert_array_equal(a["params"][:, :2], b["params"][:, :2])
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-10)
    # beyond it, log10 N* spreads by lambda per decade (MC error of an sd from 1000 draws ~ 2%)
    extra = np.std(np.log10(b["params"][:, 2:] / a["params"][:, 2:]), axis=0)
    np.testing.assert_allclose(extra, 0.2 * np.array([2.0, 4.0]), rtol=0.1)
    # the forecast loss along an IsoFLOP line has its minimum where N* says, draw by draw
    c = budgets[3]
    grid = b["params"][:, 3:4] * np.geomspace(0.5, 2.0, 41)[None, :]
    log_mu = drift.log_mean_draws(grid, c / (6 * grid))
    assert np.all(np.abs(np.argmin(log_mu, axis=1) - 20) <= 1)
    # scalars broadcast as one point: (draws, 1)
    assert drift.log_mean_draws(1e12, 2e13).shape == (drift.n_draws, 1)
    assert drift.optimal_params_draws(1e25).shape == (drift.n_draws, 1)
    # predictions inside the data are the same with or without the drift
    n, d = np.array([1e8, 1e9]), np.array([2e9, 2e10])
    np.testing.assert_array_equal(flat.log_mean_draws(n, d), drift.log_mean_draws(n, d))
