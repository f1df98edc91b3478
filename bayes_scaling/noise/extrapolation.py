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
In a fit over families the form is fitted on every family's runs, so one family's forecasts
measure :math:`h` (and :math:`h_C` below) from all of them, whether the family has many runs,
a few small ones, or none.
The drift does not depend on the likelihood.

**Allocation drift.** The loss drift moves the level of the loss, not *where* along an IsoFLOP
line its minimum sits, and in a global law the compute-optimal exponent :math:`a` (N* ~ C^a) is
pinned by the arms of the IsoFLOP profiles, so its posterior is tight even where the minima of
real studies drift away from it (per-scale tuning, counting conventions;
``benchmarks/results/allocation.md``). Beyond the fitted compute every forecast therefore moves
each IsoFLOP profile along its line by a shift that grows linearly with the distance, as a change
of the exponent does:

.. math::  L_s(N, D) = L^{\text{law}}_s\!\left(N e^{-w_s}, D e^{w_s}\right),\qquad
           w_s(C) = \ln 10\; \lambda\, h_C(C)\, u_s,\qquad u_s \sim \mathcal N(0, 1),

where :math:`h_C` is the distance in decades of :math:`C = kND` outside the fitted compute range
and :math:`\lambda` (``allocation_sd``) the sd of :math:`\log_{10} N^*` per decade. C is unchanged,
the minimum loss of each IsoFLOP line is unchanged, and its argmin moves to
:math:`N^*_s = N^{*\,\text{law}}_s\, e^{w_s}`: the exponent of N* becomes :math:`a_s + \lambda u_s`.
Inside the fitted compute :math:`w = 0`. Only laws with an allocation move.

**A data set's own drifts.** Both defaults are cross-study values; what one data set's runs say
about them (an internal leave-future-out, :func:`bayes_scaling.calibrate_drift`) enters through
:func:`drift_evidence`: one held-out set is one draw of a drift shared by all its points.
"""

from __future__ import annotations

import numpy as np

#: Default :math:`\kappa`: log-loss sd of the drift one decade beyond the data (module docstring).
#: Estimated by ``benchmarks/calibration.py`` (CRPS-optimal over 7 public data sets; the
#: leave-one-data-set-out values and their coverage are in benchmarks/results/calibration.md).
#: 0.0275 until the allocation drift joined the forecasts (it adds loss variance off the IsoFLOP
#: minima beyond the data); re-estimated with it: 0.0225 (0.02-0.0275 leave-one-data-set-out);
#: since new-run seed noise no longer grows beyond the largest fitted size (2026-12-08): 0.025
#: (0.0225-0.03 leave-one-data-set-out).
DEFAULT_EXTRAPOLATION_SD = 0.025


#: Default :math:`\lambda`: sd of the drift of :math:`\log_{10} N^*` per decade of compute beyond
#: the fitted range (module docstring). Estimated by ``benchmarks/allocation.py`` (CRPS-optimal
#: over the public IsoFLOP studies; leave-one-data-set-out values in benchmarks/results/allocation.md).
DEFAULT_ALLOCATION_SD = 0.06


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


def compute_distance(log_c, fitted_log_c) -> np.ndarray:
    """Decades (log10) by which compute lies outside the fitted compute range (0 inside);
    natural-log inputs, broadcast."""
    fitted_log_c = np.asarray(fitted_log_c)
    log_c = np.asarray(log_c)
    out = np.maximum(np.maximum(fitted_log_c.min() - log_c, log_c - fitted_log_c.max()), 0.0)
    return out / np.log(10.0)


def allocation_shift(log_c, fitted_log_c, allocation_sd: float, u) -> np.ndarray:
    """The allocation drift :math:`w_s(C)` in natural log units of N (module docstring), one row
    per draw: shape ``(len(u), m)`` for ``log_c`` of shape ``(m,)``, ``(1, m)`` or ``(len(u), m)``
    (``(len(u), 1)`` for a scalar)."""
    h = compute_distance(log_c, fitted_log_c)
    return np.log(10.0) * allocation_sd * h * np.asarray(u, dtype=float).reshape(-1, 1)


def allocation_u(n_draws: int) -> np.ndarray:
    """The standard-normal :math:`u_s` of the allocation drift, one per draw (fixed seed,
    independent of the loss drift's :math:`z_s`)."""
    return np.random.default_rng(20220329).standard_normal(n_draws)


def extrapolation_z(n_draws: int) -> np.ndarray:
    """The standard-normal :math:`z_s` of the extrapolation drift, one per draw (fixed seed:
    the same fit gives the same forecasts in every process)."""
    return np.random.default_rng(20221129).standard_normal(n_draws)


def drift_evidence(residual, cov, loading) -> tuple[float, float]:
    r"""What points beyond a fit say about the sd of a drift shared by all of them: ``(p, q)``.

    With the forecast of held-out points Gaussian, residual :math:`r` (observed minus predicted)
    and covariance :math:`\Sigma` without drift, a drift :math:`s\, v_i z` with one
    :math:`z \sim \mathcal N(0, 1)` for every point adds :math:`s^2 v v^\top`. By the
    matrix-determinant lemma the log-likelihood of the sd :math:`s` then depends on the points
    only through :math:`p = v^\top\Sigma^{-1} r` and :math:`q = v^\top\Sigma^{-1} v`
    (:func:`drift_log_likelihood`): one held-out set is one draw of the drift,
    :math:`p/\sqrt q \sim \mathcal N(0,\ 1 + s^2 q)`.

    The loss drift has :math:`s = \kappa` and loading :math:`v_i = \sqrt{h_i}` on log loss; the
    allocation drift :math:`s = \lambda` and :math:`v_b = h_C` on :math:`\log_{10} N^*` of a budget.
    """
    r, v = np.asarray(residual, dtype=float), np.asarray(loading, dtype=float)
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    jitter = 1e-10 * np.trace(cov) / len(r)
    chol = np.linalg.cholesky(cov + jitter * np.eye(len(r)))
    a, b = np.linalg.solve(chol, v), np.linalg.solve(chol, r)
    return float(a @ b), float(a @ a)


def drift_log_likelihood(sd, p: float, q: float) -> np.ndarray:
    r""":math:`\log p(y \mid s)` up to a constant, from :func:`drift_evidence`'s ``(p, q)``:
    :math:`-\tfrac12\log(1+s^2 q) + \tfrac12\,s^2 p^2 / (1+s^2 q)`."""
    s2 = np.asarray(sd, dtype=float) ** 2
    return -0.5 * np.log1p(s2 * q) + 0.5 * s2 * p**2 / (1.0 + s2 * q)
