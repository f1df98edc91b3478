r"""Extrapolation discrepancy: how far the law may drift beyond the fitted range.

Runs inside the fitted range say nothing about how far the law drifts beyond it, yet on real data
it does (``benchmarks/results/calibration.md``: runs 3-10x beyond the data missed the fitted law by
1-5%, several times the in-range scatter, and the new-run intervals without this term covered
about half the held-out runs at 90%). Every forecast therefore adds a drift whose variance grows
linearly with the distance, as a random walk's does:

.. math::  \log L_s(N, D) = \log\mu_s(N, D) + \kappa \sqrt{h(N, D)}\; z_s,
           \qquad z_s \sim \mathcal N(0, 1)\ \text{per draw},

where :math:`h` is the distance in decades (log10) outside the fitted box of N, D and C and
:math:`\kappa` (``extrapolation_sd``) is a property of the method, not of one data set: its
default was chosen by leave-one-data-set-out backtests on seven public scaling studies (linear
growth :math:`\kappa h` and a drift of the reducible loss only were tried too and calibrated
worse). One :math:`z_s` per draw keeps each draw's deviation of one sign at every distance, so
answers over several budgets stay coherent. Inside the data :math:`h = 0` and nothing changes.
The drift does not depend on the likelihood.
"""

from __future__ import annotations

import numpy as np

#: Default :math:`\kappa`: log-loss sd of the drift one decade beyond the data (module docstring).
#: Estimated by ``benchmarks/calibration.py`` (CRPS-optimal over 7 public data sets; the
#: leave-one-data-set-out values and their coverage are in benchmarks/results/calibration.md).
DEFAULT_EXTRAPOLATION_SD = 0.0275


def extrapolation_distance(log_n, log_d, fitted_log_n, fitted_log_d):
    r"""Decades (log10) by which points lie outside the fitted box of N, D and C = kND.

    :math:`h = \max(0,\ \text{out}(\log_{10} N),\ \text{out}(\log_{10} D),\ \text{out}(\log_{10} C))`,
    where out(x) is how far x is below the smallest or above the largest fitted value.
    Broadcasts ``log_n`` and ``log_d`` (natural logs).
    """
    fitted_log_n, fitted_log_d = np.asarray(fitted_log_n), np.asarray(fitted_log_d)
    fitted_log_c = fitted_log_n + fitted_log_d
    log_c = np.asarray(log_n) + np.asarray(log_d)

    def out(x, fitted):
        return np.maximum(np.maximum(fitted.min() - x, x - fitted.max()), 0.0)

    h = np.maximum(np.maximum(out(log_n, fitted_log_n), out(log_d, fitted_log_d)), out(log_c, fitted_log_c))
    return h / np.log(10.0)


def extrapolation_z(n_draws: int) -> np.ndarray:
    """The standard-normal :math:`z_s` of the extrapolation drift, one per draw (fixed seed:
    the same fit gives the same forecasts in every process)."""
    return np.random.default_rng(20221129).standard_normal(n_draws)
