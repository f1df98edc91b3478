"""Planning refuses what is almost surely a mistake (every argument checked, each problem named,
before any computation), goes through the fit's answer guard, and answers with labelled lines
that say what each number is (issue #24). Fabricated posteriors: no sampling."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bayes_scaling import planning
from bayes_scaling.errors import DiagnosticsWarning, SpecError, UnconvergedFitError
from bayes_scaling.forecast.result import ScalingFit
from bayes_scaling.planning import Allocation
from bayes_scaling.testing import fabricated_fit
from bayes_scaling.units import format_flops

#: The fabricated fit's runs: largest loss 4.04 nats, largest compute 1e21 FLOPs.
MAX_LOSS, MAX_FLOPS = 4.04, 1e21


@pytest.fixture(scope="module")
def post():
    fit = fabricated_fit(relative_spread=0.03, chains=2, draws=1000, random_seed=4)
    assert fit.runs.loss.max() == pytest.approx(MAX_LOSS, abs=5e-3) and fit.runs.flops.max() == pytest.approx(MAX_FLOPS)
    return fit


class _Untouchable:
    """A stand-in fit with nothing in it: an argument check that reaches the fit's draws fails
    with AttributeError instead of the SpecError expected."""


# ------------------------------------------------------------------ targets
@pytest.mark.parametrize("bad", [-1, 0, math.nan, math.inf, "two", None, [1.9, 2.0]])
def test_a_target_loss_must_be_a_positive_finite_number(post, bad):
    with pytest.raises(SpecError, match=r"target_loss must be a positive loss in nats \(finite, > 0\), got"):
        planning.prob_below(post, bad, [1e9], [2e10])
    with pytest.raises(SpecError, match="target_loss must be a positive loss"):
        planning.prob_below(post, bad, flops=[1e22])
    with pytest.raises(SpecError, match="target_loss must be a positive loss"):
        planning.compute_for_target(post, bad)
    if bad is not None:  # compare_plans: None means "no target"
        with pytest.raises(SpecError, match="target_loss must be a positive loss"):
            planning.compare_plans(post, [(1e9, 2e10)], target_loss=bad)


def test_a_target_above_every_fitted_loss_is_refused_with_its_likely_unit(post):
    # Loss 50 is met by the smallest run already: almost surely a perplexity (ln 50 = 3.91 nats).
    expected = (
        r"target_loss=50 is above every fitted loss \(max 4.04\): already met by the smallest run; "
        r"perplexity\? ln\(50\) = 3.91 nats; give a loss in nats"
    )
    with pytest.raises(SpecError, match=expected):
        planning.compute_for_target(post, 50)
    with pytest.raises(SpecError, match=expected):
        planning.prob_below(post, 50, flops=[1e22])
    with pytest.raises(SpecError, match=expected):
        planning.compare_plans(post, [(1e9, 2e10)], target_loss=50)
    with pytest.raises(SpecError, match=r"bits\? 5 bits = 3.47 nats"):  # 5 bits per token
        planning.compute_for_target(post, 5.0)
    with pytest.raises(SpecError, match=r"above every fitted loss \(max 4.04\).*perplexity or bits\?"):
        planning.compute_for_target(post, 1e6)
    # At the largest fitted loss and below, targets are answered.
    assert 0 <= planning.prob_below(post, post.runs.loss.max(), [1e9], [2e10])[0] <= 1


# ------------------------------------------------------------------ never reached: two shares
def test_the_floor_and_the_drift_are_told_apart(post):
    target = 1.70  # E ~ 1.69 +- 3%: many draws' floor is above it
    ans = planning.compute_for_target(post, target, prob=0.5)
    floor_above = float(np.mean(post.reported_draws()["E"] > target))  # Chinchilla's floor is E
    assert 0.2 < floor_above < 0.8
    assert ans.share_floor_above_target == floor_above
    # The other share: draws whose expected loss, drift included, is still above the target at
    # max_flops. The drift beyond the data moves losses either way, so the two shares differ.
    assert ans.prob_never_reached == pytest.approx(np.mean(~np.isfinite(ans.needed_flops)))
    assert abs(ans.prob_never_reached - ans.share_floor_above_target) > 0.03
    assert 0 < ans.prob_at_max_flops < 1 and ans.achieved_prob == ans.prob_at_max_flops
    # Without the drift, every draw whose floor is above the target never reaches it, and draws
    # whose floor is just below it need more than max_flops.
    still = post.with_extrapolation_sd(0.0)
    still = still.accept_unconverged(warn=False) if hasattr(still, "accept_unconverged") else still
    calm = planning.compute_for_target(still, target, prob=0.5)
    assert calm.share_floor_above_target == floor_above
    assert np.all(np.isinf(calm.needed_flops[post.reported_draws()["E"] > target]))
    assert calm.prob_never_reached > floor_above
    lines = ans.lines()
    assert not any("P(never" in line or "E above target" in line for line in lines)
    floor_line = next(line for line in lines if line.startswith("Share of posterior draws whose irreducible loss"))
    assert floor_line.endswith(f": {floor_above:.0%}")
    drift_line = next(
        line
        for line in lines
        if line.startswith("Probability that the expected loss of a compute-optimal run is still above")
    )
    assert "extrapolation drift" in drift_line and drift_line.endswith(f": {ans.prob_never_reached:.0%}")


# ------------------------------------------------------------------ labelled lines
def test_compute_for_target_says_which_compute_is_which(post):
    ans = planning.compute_for_target(post, 1.95, prob=0.9)
    assert ans.extrapolation_factor == pytest.approx(ans.flops / MAX_FLOPS)
    assert ans.fitted_max_flops == pytest.approx(MAX_FLOPS) and ans.kind == "new_run"
    assert ans.median_needed_flops == float(np.quantile(ans.needed_flops, 0.5, method="inverted_cdf"))
    assert ans.median_needed_flops < ans.flops  # a run's noise and the 90% ask for more than the median
    first, second, *_ = ans.lines()
    assert first.startswith("Compute for one compute-optimal training run to reach 1.95 nats with probability 90%: ")
    assert f"{format_flops(ans.flops)} FLOPs" in first and "x beyond the fitted compute" in first
    assert second.startswith("Compute at which the expected loss of a compute-optimal run")
    assert f"median {format_flops(ans.median_needed_flops)} FLOPs" in second and "90% interval" in second
    assert ans.describe() == "\n".join(ans.lines())
    mean = planning.compute_for_target(post, 1.95, prob=0.5, kind="mean")
    assert mean.lines()[0].startswith("Compute for the expected loss of a compute-optimal run to reach 1.95 nats")
    never = planning.compute_for_target(post, 1.0, prob=0.5)
    assert "more than 1e30 FLOPs" in never.lines()[0]


def test_allocation_says_plainly_when_the_plug_in_plan_is_as_good(post):
    a = planning.allocate(post, 3e23)
    # The two plans differ by less than their Monte Carlo error: say so, not "0.0001 vs 0.0001".
    diff = (
        np.exp(post.log_mean_draws(np.array([a.plugin_params]), np.array([a.plugin_tokens])))[:, 0]
        - np.exp(post.log_mean_draws(np.array([a.params]), np.array([a.tokens])))[:, 0]
    )
    assert a.risk_gap == pytest.approx(diff.mean(), abs=1e-9)
    assert a.risk_gap_se == pytest.approx(diff.std() / np.sqrt(diff.size), rel=0.2)  # bootstrap vs formula
    assert a.plugin_as_good and a.params_difference < 0.05
    assert a.extrapolation_factor == pytest.approx(300)
    lines = a.lines()
    assert lines[0] == "Budget 3e23 FLOPs (300x beyond the fitted compute), split to minimise the expected loss:"
    assert lines[1].startswith("Risk-optimal plan: N ") and f"expected loss {a.risk_value:#.3g} nats" in lines[1]
    assert lines[2].startswith("Plug-in plan (point fit at the posterior medians): N ")
    assert lines[3].startswith(
        f"The plug-in (point-fit) allocation is as good: same N within {a.params_difference:.1%}, and the same "
        "expected loss within Monte Carlo error"
    )
    assert not any("wastes" in line or " vs " in line for line in lines)
    cvar = planning.allocate(post, 3e23, risk=("cvar", 0.9))
    assert "CVaR 90% (mean of the worst 10% of the expected loss over the posterior)" in cvar.lines()[0]


def test_allocation_says_what_a_worse_plug_in_plan_costs():
    worse = Allocation(
        flops=1e24,
        risk="mean",
        params=4e10,
        tokens=1e24 / (6 * 4e10),
        risk_value=2.0,
        plugin_params=8e10,
        plugin_tokens=1e24 / (6 * 8e10),
        plugin_risk_value=2.012,
        penalty=0.001,
        plugin_penalty=0.013,
        plugin_deadweight=0.12,
        risk_gap_se=0.001,
        fitted_max_flops=1e22,
    )
    assert not worse.plugin_as_good and worse.risk_gap == pytest.approx(0.012)
    line = worse.lines()[3]
    assert line.startswith("The plug-in allocation is worse: its expected loss is higher by 0.0120 nats")
    assert "wastes 12.0% of the budget" in line
    assert worse.lines()[0].startswith("Budget 1e24 FLOPs (100x beyond the fitted compute)")


def test_fit_comparison_and_plan_tables_carry_the_extrapolation(post):
    assert planning.extrapolation_factor(post, 1e23) == pytest.approx(100)
    np.testing.assert_allclose(planning.extrapolation_factor(post, [1e20, 1e24]), [0.1, 1000])
    res = planning.compare_fits(post, post, flops=1e24)
    assert res.extrapolation_factor == pytest.approx(1000)
    assert res.lines()[0].startswith("Probability that A's compute-optimal expected loss is below B's at 1e24 FLOPs")
    table = planning.compare_plans(post, [(7e10, 1.4e12), (1e9, 2e10)])
    np.testing.assert_allclose(table["extrapolation_factor"], table["flops"] / MAX_FLOPS)
    cands = [(1e9, 2e10), (2e9, 1e10)]
    advice = planning.next_runs(post, cands, budget_flops=1e21, target_flops=1e24, n_draws=200, n_sims=20)
    assert advice.attrs["target_extrapolation_factor"] == pytest.approx(1000)


# ------------------------------------------------------------------ every argument checked first
BAD_CALLS = {
    "allocate: negative budget": (lambda f: planning.allocate(f, -1), "flops must be a compute budget in FLOPs"),
    "allocate: NaN budget": (lambda f: planning.allocate(f, math.nan), "flops must be a compute budget in FLOPs"),
    "allocate: zero budget": (lambda f: planning.allocate(f, 0), "flops must be a compute budget in FLOPs"),
    "allocate: risk": (lambda f: planning.allocate(f, 1e23, risk=("cvar", 1.5)), "risk must be"),
    "allocate: grid": (lambda f: planning.allocate(f, 1e23, grid=1), "grid must be a whole number >= 3"),
    "allocate: span": (lambda f: planning.allocate(f, 1e23, span=0.5), "span must be a factor > 1"),
    "compute_for_target: prob": (
        lambda f: planning.compute_for_target(f, 1.9, prob=1.5),
        "prob must be a probability strictly between 0 and 1",
    ),
    "compute_for_target: prob 0": (lambda f: planning.compute_for_target(f, 1.9, prob=0), "prob must be a probability"),
    "compute_for_target: kind": (lambda f: planning.compute_for_target(f, 1.9, kind="median"), "kind must be one of"),
    "compute_for_target: range": (
        lambda f: planning.compute_for_target(f, 1.9, min_flops=1e25, max_flops=1e20),
        "need min_flops < max_flops",
    ),
    "compute_for_target: max_flops": (
        lambda f: planning.compute_for_target(f, 1.9, max_flops=math.inf),
        "max_flops must be a compute budget in FLOPs",
    ),
    "prob_below: flops": (
        lambda f: planning.prob_below(f, 1.9, flops=[1e22, math.nan]),
        "flops must be compute budgets",
    ),
    "prob_below: nothing to score": (lambda f: planning.prob_below(f, 1.9), "give params and tokens"),
    "prob_below: both": (lambda f: planning.prob_below(f, 1.9, [1e9], [2e10], flops=[1e22]), "not both"),
    "prob_below: params": (lambda f: planning.prob_below(f, 1.9, [-1e9], [2e10]), "params must be parameter counts"),
    "prob_below: kind": (lambda f: planning.prob_below(f, 1.9, [1e9], [2e10], kind="median"), "kind must be one of"),
    "compare_plans: prob": (lambda f: planning.compare_plans(f, [(1e9, 2e10)], prob=2), "prob must be a probability"),
    "compare_plans: plan": (lambda f: planning.compare_plans(f, [(1e9, -1)]), "plan tokens must be token counts"),
    "compare_plans: shape": (lambda f: planning.compare_plans(f, [1e9, 2e10]), "plans must be a non-empty list"),
    "compare_fits: budget": (lambda f: planning.compare_fits(f, f, flops=0), "flops must be a compute budget"),
    "compare_fits: prob": (lambda f: planning.compare_fits(f, f, flops=1e24, prob=1.0), "prob must be a probability"),
    "next_runs: budget": (
        lambda f: planning.next_runs(f, [(1e9, 2e10)], budget_flops=-1, target_flops=1e24),
        "budget_flops must be a compute budget in FLOPs",
    ),
    "next_runs: target": (
        lambda f: planning.next_runs(f, [(1e9, 2e10)], budget_flops=1e21, target_flops=math.inf),
        "target_flops must be a compute budget in FLOPs",
    ),
    "next_runs: quantity": (
        lambda f: planning.next_runs(f, [(1e9, 2e10)], budget_flops=1e21, target_flops=1e24, quantity="loss_per_token"),
        "quantity must be one of",
    ),
    "next_runs: n_sims": (
        lambda f: planning.next_runs(f, [(1e9, 2e10)], budget_flops=1e21, target_flops=1e24, n_sims=0),
        "n_sims must be a whole number >= 1",
    ),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_every_argument_is_checked_before_any_computation(name):
    call, message = BAD_CALLS[name]
    with pytest.raises(SpecError, match=message):
        call(_Untouchable())  # a fit with no draws: a check after any computation would fail otherwise


def test_every_problem_is_reported_at_once():
    with pytest.raises(SpecError, match="3 problems with the arguments") as err:
        planning.compute_for_target(_Untouchable(), -1, prob=2, min_flops=0)
    text = str(err.value)
    assert "target_loss must be" in text and "prob must be" in text and "min_flops must be" in text


# ------------------------------------------------------------------ the fit's answer guard
def _answers(fit):
    """One call of every planning function that answers from a fit."""
    return {
        "prob_below": lambda: planning.prob_below(fit, 1.95, [7e10], [1.4e12]),
        "prob_below at flops": lambda: planning.prob_below(fit, 1.95, flops=[1e24]),
        "compute_for_target": lambda: planning.compute_for_target(fit, 1.95),
        "allocate": lambda: planning.allocate(fit, 3e23, grid=21),
        "compare_plans": lambda: planning.compare_plans(fit, [(7e10, 1.4e12)], target_loss=1.95),
        "compare_fits": lambda: planning.compare_fits(fit, fit, flops=1e24),
        "next_runs": lambda: planning.next_runs(
            fit, [(1e9, 2e10), (2e9, 1e10)], budget_flops=1e21, target_flops=1e24, n_draws=100, n_sims=10
        ),
    }


def test_every_planning_answer_goes_through_the_guard_and_warns_once_at_the_caller(post, monkeypatch):
    calls = []

    def check(self, stacklevel=3):  # the guard as ScalingFit has it: warn unless accepted quietly
        calls.append(self)
        if self._warn_verdict:
            warnings.warn("diagnostics NOT OK", DiagnosticsWarning, stacklevel=stacklevel)

    monkeypatch.setattr(ScalingFit, "_check_answerable", check)
    fit = post.accept_unconverged(warn=True)  # a fit whose verdict warns on each answer
    for name, answer in _answers(fit).items():
        calls.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            answer()
        diagnostics = [w for w in caught if issubclass(w.category, DiagnosticsWarning)]
        assert calls and calls[0] is fit, name  # the fit asked, before anything else
        expected = 2 if name == "compare_fits" else 1  # once per fit
        assert len(diagnostics) == expected, (name, [str(w.message) for w in diagnostics])
        assert all(w.filename == __file__ for w in diagnostics), (name, [w.filename for w in diagnostics])


def test_an_unconverged_fit_refuses_every_planning_answer(post, monkeypatch):
    def refuse(self, stacklevel=3):
        raise UnconvergedFitError("this fit did not converge")

    monkeypatch.setattr(ScalingFit, "_check_answerable", refuse)
    for name, answer in _answers(post).items():
        with pytest.raises(UnconvergedFitError):
            answer()
            pytest.fail(name)


def test_a_bad_plan_or_candidate_column_is_named_not_a_shape_error(post):
    with pytest.raises(SpecError, match="plan params must be parameter counts"):
        planning.compare_plans(post, [(7e10, 1.4e12), ("x", 3e12)])
    with pytest.raises(SpecError, match="candidate tokens must be token counts"):
        planning.next_runs(post, [(1e9, "bad"), (2e9, 4e10)], budget_flops=1e21, target_flops=1e24)
