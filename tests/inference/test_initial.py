"""The multi-start mode search that places NUTS chains for multimodal laws."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pymc as pm
import pytest

import bayes_scaling as bs
from bayes_scaling.errors import SamplingWarning, SpecError
from bayes_scaling.inference.initial import find_mode


def test_mode_of_a_conjugate_normal_model():
    y = np.array([1.0, 2.0, 3.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", mu, sigma, observed=y)
    search = find_mode(model, starts=8, random_seed=0)
    # The mode on the unconstrained scale (log sigma, with Jacobian) has mu at the sample
    # mean (the prior on mu is nearly flat) and sigma on the constrained scale.
    assert abs(float(search.initvals["mu"]) - 2.0) < 0.01
    assert float(search.initvals["sigma"]) > 0
    assert set(search.initvals) == {"mu", "sigma"}
    assert search.n_at_best == 8 and search.runner_up_gap == float("inf")


@pytest.mark.parametrize(("weights", "best", "gap"), [((0.5, 0.5), None, 0.0), ((0.9, 0.1), -3.0, np.log(9.0))])
def test_a_second_mode_is_found_and_its_gap_measured(weights, best, gap):
    with pm.Model() as model:
        pm.NormalMixture("x", w=np.array(weights), mu=np.array([-3.0, 3.0]), sigma=0.5)
    search = find_mode(model, starts=24, random_seed=1)
    assert search.runner_up_gap == pytest.approx(gap, abs=0.01)
    assert 0 < search.n_at_best < 24
    if best is not None:
        assert float(search.initvals["x"]) == pytest.approx(best, abs=0.01)


def test_fit_refuses_an_unknown_init_before_sampling():
    runs = bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0)
    with pytest.raises(SpecError, match="init must be 'auto', 'jitter' or 'multistart'"):
        bs.fit(runs, init="best")


def test_fit_warns_when_another_mode_is_nearly_as_high(monkeypatch):
    import sys

    fit_module = sys.modules["bayes_scaling.forecast.fitting"]
    real = fit_module.find_mode

    def two_modes(model, **kwargs):
        search = real(model, **kwargs)
        far = search.optima[0] + 5.0
        return dataclasses.replace(
            search,
            log_density=np.array([search.log_density[0], search.log_density[0] - 1.0]),
            optima=np.stack([search.optima[0], far]),
        )

    monkeypatch.setattr(fit_module, "find_mode", two_modes)
    runs = bs.synthetic.chinchilla_runs(n_configs=30, random_seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bs.fit(runs, init="multistart", draws=100, tune=200, chains=2, random_seed=0, progressbar=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, SamplingWarning)]
    assert any("at least two modes" in m and "1.0 log-density units below the best" in m for m in messages)
    record = json.loads(fit.idata.attrs["init"])
    assert record["method"] == "multistart" and record["runner_up_gap"] == pytest.approx(1.0)
    assert json.loads(fit.idata.attrs["sampler_settings"])["init"] == "multistart"
