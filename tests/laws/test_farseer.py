"""Farseer (Li et al. 2025): the sampled coordinates are the paper's law exactly, on numpy and pytensor."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.laws import DataScale, farseer
from bayes_scaling.laws.farseer import FARSEER_PUBLISHED, box_cox, farseer_loss, farseer_theta

SCALE = DataScale(
    log_n_ref=float(np.log(7e8)),
    log_d_ref=float(np.log(3e10)),
    min_loss=0.4,
    median_loss=0.55,
    log_n_noise_ref=float(np.log(7e8)),
)
N = np.array([2.01e8, 1e9, 6.37e9, 2.51e10])
D = np.array([1e9, 1e11, 5.12e11, 5e11])


def test_the_published_fit_gives_the_papers_losses():
    """Eq. 15 in bits per character: about 0.50 at (1e9, 1e11), a little under 0.4 at 25B params."""
    loss = farseer_loss(N, D, **FARSEER_PUBLISHED)
    assert loss[1] == pytest.approx(0.4986, abs=1e-3)
    assert 0.38 < loss[3] < 0.40
    assert np.all(np.diff(farseer_loss(1e9, np.geomspace(1e9, 1e12, 7), **FARSEER_PUBLISHED)) < 0)


def test_sampled_coordinates_are_the_papers_law_on_numpy_and_pytensor():
    import pytensor
    import pytensor.tensor as pt

    law = bs.get_law("farseer")
    theta = farseer_theta(FARSEER_PUBLISHED, SCALE)
    want = farseer_loss(N, D, **FARSEER_PUBLISHED)
    np.testing.assert_allclose(np.exp(law.log_mean(theta, np.log(N), np.log(D), SCALE)), want, rtol=1e-10)
    sym = {k: pt.scalar(k) for k in theta}
    f = pytensor.function(
        list(sym.values()), law.log_mean(sym, pt.as_tensor(np.log(N)), pt.as_tensor(np.log(D)), SCALE)
    )
    np.testing.assert_allclose(np.exp(f(*[theta[k] for k in sym])), want, rtol=1e-8)
    # and the reported values are the paper's nine parameters again
    reported = law.reported_values(theta, SCALE)
    assert set(reported) == set(law.reported) == set(FARSEER_PUBLISHED)
    for name, value in FARSEER_PUBLISHED.items():
        assert float(reported[name]) == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_the_law_does_not_depend_on_where_it_is_centred():
    """The reference size is a coordinate choice: the same nine parameters give the same losses
    from any reference."""
    law = bs.get_law("farseer")
    other = DataScale(float(np.log(3e7)), float(np.log(4e12)), 0.4, 0.55, float(np.log(3e7)))
    for scale in (SCALE, other):
        theta = farseer_theta(FARSEER_PUBLISHED, scale)
        got = np.exp(law.log_mean(theta, np.log(N), np.log(D), scale))
        np.testing.assert_allclose(got, farseer_loss(N, D, **FARSEER_PUBLISHED), rtol=1e-10)


def test_box_cox_is_smooth_through_zero_curvature():
    x = np.linspace(-3, 3, 13)
    for c in (-0.3, -1e-4, 1e-4, 0.2):
        np.testing.assert_allclose(box_cox(x, c), np.expm1(c * x) / c, rtol=1e-9)
    np.testing.assert_allclose(box_cox(x, 0.0), x)
    np.testing.assert_allclose(box_cox(x, 1e-7), x, rtol=1e-6)


def test_allocation_is_found_numerically_and_is_the_isoflop_minimum():
    law = bs.get_law("farseer")
    assert law.allocation_kind == "numerical"
    theta = {k: np.atleast_1d(v)[:, None] for k, v in farseer_theta(FARSEER_PUBLISHED, SCALE).items()}
    log_budget = np.log(np.array([1e20, 1e21]) / 6.0)[None, :]
    ratios = np.log(law.allocation_ratios)
    log_n_star = bs.laws.isoflop_argmin(
        lambda x, z: law.log_mean(theta, x, z, SCALE), log_budget, log_ratio_range=ratios
    )
    assert np.all(np.isfinite(log_n_star))
    for j, c in enumerate((1e20, 1e21)):
        n_grid = np.sqrt(c / 6 / np.geomspace(*law.allocation_ratios, 4001))
        loss = farseer_loss(n_grid, c / (6 * n_grid), **FARSEER_PUBLISHED)
        assert np.exp(log_n_star[0, j]) == pytest.approx(n_grid[np.argmin(loss)], rel=0.01)


def test_the_published_fit_has_no_optimum_past_1e22_flops():
    """Rounded as printed, eq. 15's loss falls without end towards D/N < 1 from about 1e23 FLOPs
    (A(N) -> 0): inside the searched ratios the minimum is at the edge, so no optimum (NaN)."""
    law = bs.get_law("farseer")
    theta = {k: np.atleast_1d(v)[:, None] for k, v in farseer_theta(FARSEER_PUBLISHED, SCALE).items()}
    log_n_star = bs.laws.isoflop_argmin(
        lambda x, z: law.log_mean(theta, x, z, SCALE),
        np.log(np.array([1e24]) / 6.0)[None, :],
        log_ratio_range=np.log(law.allocation_ratios),
    )
    assert np.isnan(log_n_star).all()


def test_default_priors_hold_the_published_shapes():
    priors = bs.get_law("farseer").default_priors(SCALE)
    at = farseer_theta(FARSEER_PUBLISHED, SCALE)
    for name in ("u_slope", "t_slope", "log_a_ref", "a_slope", "gamma3", "beta", "alpha"):
        assert priors[name].parameters["mu"] == pytest.approx(float(at[name]), rel=1e-9), name
    assert farseer.FARSEER.name in bs.available_laws()


@pytest.mark.slow
def test_a_fit_answers_and_reports_where_some_draws_have_no_optimum(tmp_path):
    """Runs drawn from the published law; at 1e23-1e25 FLOPs its loss falls without end towards
    one token per parameter in some or all draws. compute_optimal counts those draws, and the
    report says so instead of failing on them."""
    import warnings

    from bayes_scaling import synthetic
    from bayes_scaling.viz.report import write_report

    n, d = np.meshgrid(np.round(np.geomspace(2e8, 3.2e9, 9), -6), np.geomspace(4e9, 2e11, 6))
    runs = synthetic.runs_from_law(
        lambda n, d: farseer_loss(n, d, **FARSEER_PUBLISHED), n.ravel(), d.ravel(), random_seed=18
    )
    budgets = [1e20, 1e23, 1e25]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # (this test is about the answers, not the sampler)
        fit = bs.fit(runs, "farseer", draws=500, random_seed=0, progressbar=False).accept_unconverged(warn=False)
        table = fit.compute_optimal(budgets)
        html = write_report(fit, tmp_path / "r.html", targets=budgets).read_text()
    missing = np.isnan(fit.optimal_draws(budgets)["params"]).mean(axis=0)
    assert missing[0] < 0.05 and np.isfinite(table["params_median"].iloc[0])
    if missing.any():
        np.testing.assert_allclose(table["share_without_optimum"], missing)
    for c, share in zip(budgets, missing, strict=True):
        label = bs.units.format_flops(c)
        if share == 1:
            assert f"at C = {label}" in html and "those budgets are not forecast" in html
        elif share > 0:
            assert f"C = {label} (compute-optimal) ({share:.0%} of draws without a minimum)" in html
    # Planners choose among runs inside the law's tokens per parameter: answers, not NaN.
    from bayes_scaling import planning

    plan = planning.allocate(fit, 1e25)
    assert np.isfinite([plan.params, plan.tokens, plan.plugin_params]).all()
    assert 1.0 <= plan.tokens / plan.params <= 1e5
    floor_free = planning.compute_for_target(fit, float(np.median(table["loss_median"])), prob=0.5)
    assert np.isnan(floor_free.share_floor_above_target) and np.isfinite(floor_free.params)
    assert any("no floor to compare with the target" in line for line in floor_free.lines())


def test_a_fit_takes_the_laws_target_acceptance_unless_told_otherwise(monkeypatch):
    """farseer asks for 0.95 (Law.target_accept), other laws get 0.9, and a value the user gives wins."""
    from bayes_scaling.forecast import fitting

    class Seen(Exception):
        pass

    def capture(sampler, target_accept):
        raise Seen(target_accept)

    monkeypatch.setattr(fitting, "nuts_options", capture)
    runs = bs.synthetic.chinchilla_runs(n_configs=40, random_seed=0)
    for law, given, want in (("farseer", None, 0.95), ("chinchilla", None, 0.9), ("farseer", 0.99, 0.99)):
        with pytest.raises(Seen) as seen:
            bs.fit(runs, law, target_accept=given, progressbar=False)
        assert seen.value.args[0] == want, (law, given)
