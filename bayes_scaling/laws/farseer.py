r"""Farseer (Li et al. 2025): a loss surface whose data term's amplitude and exponent move with N.

The paper's form (eq. 3, fitted in eq. 15; N non-embedding parameters, D tokens, raw counts) is

.. math::  L(N, D) = e^{a_3 N^{\gamma} + b_3} + e^{a_2 N^{\beta} + b_2}\, D^{-e^{a_1 N^{\alpha} + b_1}}

with no separate irreducible loss: the first term is :math:`E + U(N)` of their decomposition
(eq. 14) and may tend to a constant or to 0 as N grows, as the signs of :math:`a_3, \gamma` say.
The published fit (eq. 15, loss in bits per character, 21 sizes from 2e8 to 6.4e9) is
:math:`a_3 = -0.021, \gamma = 0.169, b_3 = -0.091`; :math:`a_2 = 88.01, \beta = -0.1,
b_2 = -6.287`; :math:`a_1 = -0.124, \alpha = 0.123, b_1 = 0.424`.

Sampled in coordinates at the centre :math:`(N_r, D_r)` of the data (the middle of its log N
and log D ranges; :func:`centre`; :math:`x = \ln N/N_r`), each
inner power law as a Box-Cox term :math:`s\,(e^{c x} - 1)/c` (its log value's slope at
:math:`N_r` times a curvature that is smooth through :math:`c = 0`):

.. math::
    \ln U(N) = u_r + s_u\,\mathrm{bc}_\gamma(x),\qquad
    \ln A(N) = \ell_a + s_a\,\mathrm{bc}_\alpha(x),\qquad
    \ln B(N) = \ell_t + A(N_r) \ln D_r + \bigl(s_t + A(N_r)\, s_a \ln D_r\bigr)\,\mathrm{bc}_\beta(x)

so that :math:`u_r` is the log of the N term at :math:`N_r`, :math:`\ell_t` the log of the data
term at :math:`(N_r, D_r)` and :math:`s_t` its log slope in N there. This is the paper's law
exactly (a change of coordinates), but the paper's :math:`a_2 = 88` against :math:`\beta = -0.1`
(a cancellation of two large numbers) becomes a slope of order 1 that the data pin. The paper's
nine parameters are reported per draw.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import chinchilla_default_priors
from .registry import DataScale, Law, register_law

#: Li et al. (2025), eq. 15 (bits per character; N non-embedding parameters, D tokens).
FARSEER_PUBLISHED = {
    "a1": -0.124,
    "b1": 0.424,
    "alpha": 0.123,
    "a2": 88.01,
    "b2": -6.287,
    "beta": -0.1,
    "a3": -0.021,
    "b3": -0.091,
    "gamma3": 0.169,
}


def box_cox(x, c):
    r""":math:`(e^{c x} - 1)/c`, and :math:`x` at :math:`c = 0` (numpy or pytensor)."""
    ops = laws._ops(x, c)
    small = ops.abs(c) < 1e-6
    safe = ops.where(small, 1.0, c)
    return ops.where(small, x * (1.0 + 0.5 * c * x), ops.expm1(safe * x) / safe)


def centre(scale: DataScale) -> tuple[float, float]:
    """Where Farseer's coordinates are taken: the middle of the data's log N and log D ranges
    (the package's reference size is placed for Chinchilla's amplitudes and can sit at a corner
    of a Farseer design, where every coordinate is an extrapolation and they all correlate); the
    reference size when the ranges are unknown."""
    x = 0.5 * (scale.log_n_min + scale.log_n_max)
    z = 0.5 * (scale.log_d_min + scale.log_d_max)
    return (x if np.isfinite(x) else scale.log_n_ref), (z if np.isfinite(z) else scale.log_d_ref)


def _published_at(log_n_ref: float) -> dict:
    """The published law's sampled coordinates at :math:`N_r` (slopes and logs, unit-free except
    :math:`u_r` and :math:`\\ell_t`, which the data set)."""
    p = FARSEER_PUBLISHED
    n_pow = {k: float(np.exp(p[k] * log_n_ref)) for k in ("alpha", "beta", "gamma3")}
    a_ref = float(np.exp(p["a1"] * n_pow["alpha"] + p["b1"]))
    s_a = p["a1"] * p["alpha"] * n_pow["alpha"]
    s_b = p["a2"] * p["beta"] * n_pow["beta"]
    return {
        "u_slope": p["a3"] * p["gamma3"] * n_pow["gamma3"],
        "log_a_ref": float(np.log(a_ref)),
        "a_slope": s_a,
        "b_slope": s_b,
    }


def _farseer_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    ch = chinchilla_default_priors(scale)
    x_r, z_r = centre(scale)
    at = _published_at(x_r)
    # The data term's log slope in N at (N_r, D_r) under the published law.
    a_ref = float(np.exp(at["log_a_ref"]))
    t_slope = at["b_slope"] - a_ref * at["a_slope"] * z_r
    e_center = 0.75 * scale.min_loss
    reducible = max(scale.median_loss - e_center, 0.05 * scale.median_loss)
    p = FARSEER_PUBLISHED
    # The curvatures (the paper's gamma, beta, alpha): 95% within +-0.3 of the published values.
    # Each enters as s (e^{cx} - 1)/c, so where its slope s is near 0 the data say nothing of c:
    # a funnel. With sd 0.3, NUTS stuck in its neck on 2 of 4 synthetic sets (R-hat 1.02-1.09,
    # ESS 33-420 of 8000 draws); with 0.15, 8 of 8 fits had R-hat <= 1.01 and ESS >= 378.
    curvature = 0.15
    return {
        # The N term holds the floor: about E plus half the reducible loss at N_r.
        "log_u_ref": Prior("Normal", mu=float(np.log(e_center + reducible / 2)), sigma=0.3),
        "u_slope": Prior("Normal", mu=float(at["u_slope"]), sigma=0.1),
        "gamma3": Prior("Normal", mu=p["gamma3"], sigma=curvature),
        # The data term at the centre: as Chinchilla's (a term of the same size).
        "log_t_ref": ch["log_BD_ref"],
        "t_slope": Prior("Normal", mu=float(t_slope), sigma=0.5),
        "beta": Prior("Normal", mu=p["beta"], sigma=curvature),
        # The data exponent at N_r, its log slope and curvature in N.
        "log_a_ref": Prior("Normal", mu=float(at["log_a_ref"]), sigma=0.5),
        "a_slope": Prior("Normal", mu=float(at["a_slope"]), sigma=0.15),
        "alpha": Prior("Normal", mu=p["alpha"], sigma=curvature),
    }


def _log_terms(theta: Mapping, log_n, log_d, scale: DataScale):
    """``(ln U(N), ln [B(N) D^-A(N)])`` of the law."""
    x_r, z_r = centre(scale)
    x = log_n - x_r
    exp = laws._exp_of(log_n, log_d, *theta.values())
    log_u = theta["log_u_ref"] + theta["u_slope"] * box_cox(x, theta["gamma3"])
    a_ref = exp(theta["log_a_ref"])
    a_n = exp(theta["log_a_ref"] + theta["a_slope"] * box_cox(x, theta["alpha"]))
    b_slope = theta["t_slope"] + a_ref * theta["a_slope"] * z_r
    log_b = theta["log_t_ref"] + a_ref * z_r + b_slope * box_cox(x, theta["beta"])
    return log_u, log_b - a_n * log_d


def _farseer_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    log_u, log_data = _log_terms(theta, log_n, log_d, scale)
    return laws.logaddexp(log_u, log_data)


def _farseer_reported(theta: Mapping, scale: DataScale) -> dict:
    """The paper's nine parameters (raw N and D): :math:`b = \\ell - s/c`, :math:`a = (s/c) N_r^{-c}`."""
    x_r, z_r = centre(scale)
    a_ref = np.exp(theta["log_a_ref"])
    b_slope = theta["t_slope"] + a_ref * theta["a_slope"] * z_r
    log_b_ref = theta["log_t_ref"] + a_ref * z_r
    out = {}
    for idx, level, slope, c in (
        ("1", theta["log_a_ref"], theta["a_slope"], theta["alpha"]),
        ("2", log_b_ref, b_slope, theta["beta"]),
        ("3", theta["log_u_ref"], theta["u_slope"], theta["gamma3"]),
    ):
        ratio = slope / c
        out["a" + idx] = ratio * np.exp(-c * x_r)
        out["b" + idx] = level - ratio
    return {
        "a1": out["a1"],
        "b1": out["b1"],
        "alpha": theta["alpha"],
        "a2": out["a2"],
        "b2": out["b2"],
        "beta": theta["beta"],
        "a3": out["a3"],
        "b3": out["b3"],
        "gamma3": theta["gamma3"],
    }


def farseer_theta(reported: Mapping, scale: DataScale) -> dict:
    """The sampled coordinates of the law with the paper's nine parameters ``reported`` (the
    inverse of the reported values)."""
    r = {k: np.asarray(v, dtype=float) for k, v in reported.items()}
    x_r, z_r = centre(scale)
    pw = {c: np.exp(r[c] * x_r) for c in ("alpha", "beta", "gamma3")}
    a_ref = np.exp(r["a1"] * pw["alpha"] + r["b1"])
    a_slope = r["a1"] * r["alpha"] * pw["alpha"]
    b_slope = r["a2"] * r["beta"] * pw["beta"]
    return {
        "log_u_ref": r["a3"] * pw["gamma3"] + r["b3"],
        "u_slope": r["a3"] * r["gamma3"] * pw["gamma3"],
        "gamma3": r["gamma3"],
        "log_t_ref": r["a2"] * pw["beta"] + r["b2"] - a_ref * z_r,
        "t_slope": b_slope - a_ref * a_slope * z_r,
        "beta": r["beta"],
        "log_a_ref": np.log(a_ref),
        "a_slope": a_slope,
        "alpha": r["alpha"],
    }


def farseer_loss(n, d, a1, b1, alpha, a2, b2, beta, a3, b3, gamma3):
    """The paper's eq. 3 evaluated directly (the numpy reference of the tests and synthetic data)."""
    n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
    return np.exp(a3 * n**gamma3 + b3) + np.exp(a2 * n**beta + b2) * d ** (-np.exp(a1 * n**alpha + b1))


FARSEER = register_law(
    Law(
        name="farseer",
        parameters=(
            "log_u_ref",
            "u_slope",
            "gamma3",
            "log_t_ref",
            "t_slope",
            "beta",
            "log_a_ref",
            "a_slope",
            "alpha",
        ),
        reported=("a1", "b1", "alpha", "a2", "b2", "beta", "a3", "b3", "gamma3"),
        formula=(r"L(N, D) = e^{a_3 N^{\gamma} + b_3} + e^{a_2 N^{\beta} + b_2}\, D^{-e^{a_1 N^{\alpha} + b_1}}"),
        log_mean=_farseer_log_mean,
        reported_values=_farseer_reported,
        default_priors=_farseer_priors,
        description=(
            "Li et al. (2025), Farseer: the data term's amplitude B(N) and exponent A(N) are themselves "
            "exponentials of power laws in N, so the compute-optimal tokens per parameter can change with "
            "the budget (found numerically). N counts non-embedding parameters in the paper. Priors are "
            "centred on the published fit's shapes (eq. 15, in bits per character), with the levels set "
            "by the data. Sampled at the centre of the data (the middle of its log N and log D ranges), "
            "each inner power law as a Box-Cox term; NUTS runs at a target acceptance of 0.95."
        ),
        references=(
            "Li et al. 2025, Predictable Scale: Part II, Farseer - A Refined Scaling Law in Large Language "
            "Models, arXiv 2506.10972, eq. 3 and 15",
        ),
        symbols={
            "a1": "a_1",
            "b1": "b_1",
            "alpha": r"\alpha",
            "a2": "a_2",
            "b2": "b_2",
            "beta": r"\beta",
            "a3": "a_3",
            "b3": "b_3",
            "gamma3": r"\gamma",
            "log_u_ref": r"u_r",
            "u_slope": r"s_u",
            "log_t_ref": r"\ell_t",
            "t_slope": r"s_t",
            "log_a_ref": r"\ell_a",
            "a_slope": r"s_a",
        },
        meanings={
            "a1": "coefficient of N^α in the log of the data exponent A(N) = exp(a1 N^α + b1)",
            "b1": "constant in the log of the data exponent A(N)",
            "alpha": "power of N in the log of the data exponent (published 0.123)",
            "a2": "coefficient of N^β in the log of the data amplitude B(N) = exp(a2 N^β + b2)",
            "b2": "constant in the log of the data amplitude B(N)",
            "beta": "power of N in the log of the data amplitude (published −0.1)",
            "a3": "coefficient of N^γ in the log of the model term exp(a3 N^γ + b3) (E + U(N) in the paper)",
            "b3": "constant in the log of the model term; exp(b3) is its limit at infinite N when a3 N^γ → 0",
            "gamma3": "the paper's γ: power of N in the log of the model term (published 0.169)",
            "log_u_ref": "log of the model term exp(a3 N^γ + b3) at the centre N_r of the data",
            "u_slope": "slope of that log in ln N at N_r (a3 γ N_r^γ)",
            "log_t_ref": "log of the data term B(N) D^−A(N) at the centre (N_r, D_r) of the data",
            "t_slope": "slope of that log in ln N at (N_r, D_r)",
            "log_a_ref": "log of the data exponent A(N) at N_r",
            "a_slope": "slope of log A(N) in ln N at N_r (a1 α N_r^α)",
        },
        exponents=("alpha", "beta", "gamma3"),
        # The published fit's loss falls without end as D/N -> 0 at budgets >= 1e22 (A(N) -> 0, B(N)
        # falling): the isoflop minimum is searched among runs with at least one token per
        # parameter, the range of the paper's data (D/N from 0.16 to 2500) and of any sane run.
        allocation_ratios=(1.0, 1e5),
        # The slopes of the three inner power laws trade off in a narrow valley: at 0.9 a fit of
        # runs drawn from the published law had 16 divergences and bulk ESS 69-124 per 4000
        # draws; at 0.95, none and 450-700 (and it samples in 3-5 s).
        target_accept=0.95,
        # exp(a3 N^gamma + b3) tends to exp(b3), 0 or infinity, and the data term's limit likewise
        # turns on the signs of alpha, beta and a1: no floor a planner could compare with a target.
        floor=False,
    )
)
