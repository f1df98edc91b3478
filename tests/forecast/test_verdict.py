"""Answers from a failed fit carry its verdict; a fit that did not converge refuses to answer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import planning
from bayes_scaling.errors import DiagnosticsWarning, UnconvergedFitError, option, spoken_as
from bayes_scaling.forecast.result import ScalingFit
from bayes_scaling.testing import fabricated_fit


def _unchecked(fit, *, shift_chain: float = 0.0, recorded: dict | None = None) -> ScalingFit:
    """The fabricated posterior as a fit that checks its diagnostics: ``shift_chain`` moves the
    second chain's alpha by that many (relative) units, so the chains disagree."""
    tree = fit.idata.copy(deep=True)
    post = tree["posterior"].to_dataset()
    if shift_chain:
        for name in ("alpha", "log_AN_ref"):
            values = post[name].values.copy()
            values[1] *= 1 + shift_chain
            post[name] = post[name].copy(data=values)
        tree["posterior"] = post
    attrs = dict(tree.attrs)
    if recorded is None:
        attrs.pop("diagnostics")
    else:
        attrs["diagnostics"] = json.dumps(recorded)
    tree.attrs = attrs
    return ScalingFit(tree, spec_dict=fit.spec_dict, scale=fit.scale, flops_per_param_token=fit.flops_per_param_token)


@pytest.fixture(scope="module")
def unconverged():
    return _unchecked(fabricated_fit(random_seed=3), shift_chain=0.3)


def test_diagnostics_table_agrees_with_the_verdict(fake_fit):
    """The fabricated draws are not a posterior of its runs: PSIS flags configurations, so the
    verdict is NOT OK, and no row of the table may say ok (the failure was only in attrs)."""
    table = _unchecked(fake_fit).diagnostics()
    verdict = table.attrs["verdict"]
    assert not verdict.ok and verdict.converged
    assert bool(table["ok"].all()) == verdict.ok
    assert table["why_not"].str.contains("Pareto k").all()


def test_verdict_of_a_clean_table_is_ok(fake_fit):
    table = _unchecked(fake_fit).diagnostics(model_checks=False)
    assert table["ok"].all() and table.attrs["verdict"].ok


def test_unconverged_fit_refuses_every_answer(unconverged):
    verdict = unconverged.verdict
    assert not verdict.converged and verdict.max_r_hat > 1.1
    assert verdict.label == "NOT CONVERGED"
    for answer in (
        lambda f: f.predict(7e10, 1.4e12),
        lambda f: f.predict_summary([7e10], [1.4e12]),
        lambda f: f.compute_optimal([1e24]),
        lambda f: f.optimal_draws([1e24]),
        lambda f: planning.allocate(f, 1e24),
    ):
        with pytest.raises(UnconvergedFitError, match=r"did not converge.*fit\.accept_unconverged\(\)"):
            answer(unconverged)


def test_accepted_unconverged_fit_answers_with_a_warning(unconverged):
    accepted = unconverged.accept_unconverged()
    with pytest.warns(DiagnosticsWarning, match="NOT CONVERGED"):
        forecast = accepted.predict(7e10, 1.4e12)
    assert np.isfinite(forecast.median).all()
    assert not unconverged._accepted, "accepting returns a copy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unconverged.accept_unconverged(warn=False).compute_optimal([1e21])


def test_not_ok_fit_answers_with_its_verdict(fake_fit):
    fit = _unchecked(fake_fit)
    with pytest.warns(DiagnosticsWarning, match="NOT OK.*Pareto k"):
        fit.predict(7e10, 1.4e12)


def test_recorded_verdict_is_used_without_recomputing(fake_fit):
    """A saved fit carries its verdict: loading answers from it (no PSIS-LOO, no ArviZ)."""
    recorded = {"ok": False, "converged": False, "problems": ["R-hat > 1.01 for ['alpha']: ..."], "max_r_hat": 2.0}
    fit = _unchecked(fake_fit, recorded=recorded)
    assert fit.verdict.label == "NOT CONVERGED" and fit.verdict.max_r_hat == 2.0
    assert not fit._diagnostics, "the recorded verdict was enough"


def test_fit_records_its_verdict(small_fit):
    recorded = json.loads(small_fit.idata.attrs["diagnostics"])
    assert recorded["verdict"] == small_fit.diagnostics().attrs["verdict"].label
    assert recorded["converged"] is True


def test_advice_is_spelled_in_the_callers_words(unconverged):
    assert option("plausibility", False) == "plausibility=False"
    with spoken_as(lambda name, value: "--accept-unconverged" if name == "accept_unconverged" else None):
        assert option("plausibility", False) == "plausibility=False"  # no CLI spelling: Python's
        with pytest.raises(UnconvergedFitError, match="--accept-unconverged"):
            unconverged.predict(7e10, 1.4e12)
    assert option("accept_unconverged", True, python="fit.accept_unconverged()") == "fit.accept_unconverged()"


def test_answers_far_outside_the_fitted_compute_warn(fake_fit):
    lo, hi = fake_fit.fitted_compute
    assert fake_fit.decades_outside([lo, hi, hi * 10, lo / 100]).tolist() == pytest.approx([0, 0, 1, -2])
    with pytest.warns(bs.ExtrapolationWarning, match="largest fitted compute"):
        fake_fit.compute_optimal([hi * 1e4])
    with pytest.warns(bs.ExtrapolationWarning, match="smallest fitted compute"):
        fake_fit.predict(1e6, 1e7)  # 6e13 FLOPs: 17,000x below the data, as a CLI user once asked
    table = fake_fit.compute_optimal([hi * 10])
    assert table["decades_outside"].iloc[0] == pytest.approx(1.0)


@pytest.mark.parametrize("setting", [{"draws": 0}, {"draws": -5}, {"chains": 0}, {"tune": -1}, {"draws": 2.5}])
def test_sampler_settings_are_checked_before_any_work(small_runs, setting, monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "run_nuts", lambda **k: pytest.fail("sampled"))
    name = next(iter(setting))
    with pytest.raises(bs.SpecError, match=rf"{name} must be a whole number"):
        bs.fit(small_runs, **setting)


def test_a_mixture_answers_only_as_its_fits_would(fake_fit, unconverged):
    from bayes_scaling.evaluation.stacking import StackedFit

    mixture = StackedFit({"good": fake_fit, "bad": unconverged}, {"good": 0.5, "bad": 0.5}, n_draws=200)
    with pytest.raises(UnconvergedFitError):
        mixture.predict(7e10, 1.4e12)
    assert mixture.fitted_compute == fake_fit.fitted_compute
    accepted = StackedFit({"good": fake_fit, "bad": unconverged.accept_unconverged(warn=False)}, {"good": 1, "bad": 0})
    assert np.isfinite(accepted.predict(7e10, 1.4e12).median).all()


def test_one_chain_is_not_ok_and_says_why():
    import xarray as xr

    from bayes_scaling.inference.diagnostics import Verdict, diagnostics_table

    draws = np.random.default_rng(0).normal(size=(1, 400))
    idata = xr.DataTree.from_dict({"posterior": xr.Dataset({"alpha": (("chain", "draw"), draws)})})
    table = diagnostics_table(idata, ["alpha"])
    verdict = Verdict.from_table(table)
    assert not verdict.ok and verdict.problems
    assert "R-hat is undefined" in verdict.problems[0] and "2 or more chains" in verdict.problems[0]
    assert table.loc["alpha", "why_not"] == "R-hat undefined"
