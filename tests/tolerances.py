"""Tolerances of the statistical tests, from Monte Carlo error rather than one machine's draws.

A test that samples with NUTS must pass on any CPU, BLAS and dependency build: there the same
seed gives other draws (and NumPy may change its random streams between versions, so even a
synthetic data set can change). No test asserts on one draw stream. Recovery and coverage are
rates over several independent data sets, held to binomial bounds computed here; sampler
health allows a few divergences and R-hat up to 1.02.

Parameters fitted to one data set miss their true values together (their posterior errors are
correlated: E, A and alpha moved as one in every law tried), so the data sets are the
independent trials, and quantities checked together share one false-alarm budget (Bonferroni,
valid whatever their dependence).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Chance that one statistical assertion fails for a correct model and sampler.
FALSE_ALARM = 0.001
#: Sampler health: divergent transitions as a share of all draws, and the largest R-hat.
MAX_DIVERGENT_SHARE = 0.005
MAX_R_HAT = 1.02
#: Bulk ESS below which a 90% interval's tail probabilities are uncertain by more than
#: +-0.015 (the standard error of a 5% tail from n effective draws is sqrt(0.05 * 0.95 / n)).
MIN_ESS = 200


def min_covered(n_sets: int, level: float, quantities: int = 1, false_alarm: float = FALSE_ALARM) -> int:
    """The fewest of ``n_sets`` independent data sets whose ``level`` interval must hold the true
    value, for each of ``quantities`` quantities checked together: calibrated intervals fail
    this with probability at most ``false_alarm`` (``false_alarm / quantities`` each).

    >>> min_covered(3, 0.95, quantities=7)  # no calibrated interval misses on all 3 (p = 1.25e-4 each)
    1
    >>> min_covered(6, 0.9, quantities=9)
    2
    """
    return int(stats.binom.ppf(false_alarm / quantities, n_sets, level))


def max_covered(n_sets: int, level: float, quantities: int = 1, false_alarm: float = FALSE_ALARM) -> int:
    """The most of ``n_sets`` independent data sets whose ``level`` interval may hold the true
    value (intervals far too wide hold it nearly always): calibrated intervals exceed this with
    probability at most ``false_alarm / quantities`` each.

    >>> max_covered(20, 0.5, quantities=3)  # P(Binomial(20, 0.5) > 17) = 2e-4
    17
    """
    return int(stats.binom.isf(false_alarm / quantities, n_sets, level))


def covers(draws, truth: float, level: float) -> bool:
    """Whether the central ``level`` interval of ``draws`` holds ``truth``."""
    lo, hi = np.quantile(np.asarray(draws).reshape(-1), [(1 - level) / 2, (1 + level) / 2])
    return bool(lo <= truth <= hi)


def near_truth(draws, truth: float, sds: float = 3.5) -> bool:
    """One data set's check that an estimate is not grossly off: ``truth`` within ``sds``
    posterior standard deviations of the posterior median. A calibrated, near-normal posterior
    fails it with probability 5e-4 at 3.5 (where a 90% interval fails one time in ten)."""
    draws = np.asarray(draws, dtype=float).reshape(-1)
    return bool(abs(np.median(draws) - truth) <= sds * draws.std())


def assert_sampler_ok(fit, min_ess: float = MIN_ESS) -> None:
    """At most 0.5% divergent draws, R-hat <= 1.02 and bulk ESS >= ``min_ess`` for every sampled
    parameter (the package warns beyond R-hat 1.01: on a well-mixed posterior that flag still
    flips with the draw stream)."""
    table = fit.diagnostics(model_checks=False)
    n_div = table.attrs["n_divergences"]
    assert n_div <= MAX_DIVERGENT_SHARE * fit.n_draws, (n_div, fit.n_draws, table.attrs["problems"])
    assert table["r_hat"].max() <= MAX_R_HAT, table
    assert table["ess_bulk"].min() >= min_ess, table
