r"""The IsoFLOP-profile law: a Bayesian Approach 2 with the exact profile of Chinchilla's law.

Approach 2 of Hoffmann et al. (2022) fits a parabola in :math:`\log N` to each IsoFLOP budget
and a power law to the vertices; Approach 3 fits :math:`E + A N^{-\alpha} + B D^{-\beta}` to every
run, so that the allocation exponent :math:`a = \beta/(\alpha+\beta)` is set by the *arms* of
the profiles (runs 3-30x from each optimum). When the minima drift (per-scale tuning, small-scale
parameter and FLOP conventions) the two disagree, and a tight posterior on Chinchilla's
:math:`a` is a tight, biased band on :math:`N^*(C)`.

This law keeps Chinchilla's exact profile on each IsoFLOP line, :math:`L = L^*(C) + K(C)\,
\phi(\log N - \log N^*(C))` with :math:`\phi(u) = (e^{-\alpha u}-1)/\alpha + (e^{\beta u}-1)/\beta`
(no parabola bias; the vertex noise sits in the likelihood), and gives the vertex and the loss at
it exponents of their own:

.. math::  N^*(C) = G\,(C/k)^{a},\qquad L^*(C) - E = H\,(C/k)^{-g},\qquad
           K = (L^* - E)\,\frac{\alpha\beta}{\alpha+\beta} .

The arms split as Chinchilla's do (:math:`\beta/(\alpha+\beta) = a`; IsoFLOP profiles pin their
asymmetry weakly, so it is not a parameter of its own), and the vertex loss's exponent is
Chinchilla's times a factor, :math:`g = \alpha a\, e^{\delta}` with :math:`\delta \sim N(0, 0.3)`:
free, :math:`E`, :math:`H` and :math:`g` trade off along the vertex losses of a few budgets. So it is
Chinchilla at :math:`\delta = 0` (:func:`from_chinchilla`), with one parameter more, and
:math:`a` is a primary quantity with a direct prior (Beta(6, 6)). It describes the loss near the
compute-optimal frontier, where IsoFLOP designs put their runs: far from it (a tiny model on
endless data) a :math:`\delta` away from 0 need not keep the loss falling in N and in D
separately, so use Chinchilla to forecast strongly over-trained runs.

**What is sampled.** What IsoFLOP data pin is the profile of the reference budget (the middle of
the data's compute): its vertex :math:`N^*_r`, its loss :math:`L^*_r` and its curvature
:math:`\partial^2 L/\partial(\ln N)^2 = (L^*_r - E)\,\alpha\beta`. These are sampled
(``log_N_opt_ref``, ``log_L_ref``, ``log_curvature``), with the reducible share
:math:`(L^*_r - E)/L^*_r` on the logit scale (``reducible_logit``), :math:`\delta` and :math:`a`;
:math:`E`, :math:`H` and the arms follow. Sampled as :math:`E`, :math:`\log(L^*_r - E)` and
:math:`\alpha + \beta` instead, the three moved together along the data's ridge (posterior
correlation matrices with condition numbers in the thousands on the public IsoFLOP studies; a
median of 16 in this parameterisation), and 8 of 78 fits of the public studies did not converge.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .registry import DataScale, Law, register_law

#: Tokens per parameter at which the prior centres the vertex (Hoffmann et al.'s ~20).
PRIOR_TOKENS_PER_PARAM = 20.0


def reference_budget(scale: DataScale) -> float:
    """:math:`\\log(C_r/k)`: the IsoFLOP line the law's vertex and its loss are sampled on, the
    middle of the data's compute (``log N_r + log D_r`` in files written before the range was kept)."""
    if np.isfinite(scale.log_c_min) and np.isfinite(scale.log_c_max):
        return 0.5 * (scale.log_c_min + scale.log_c_max) - scale.log_k
    return scale.log_n_ref + scale.log_d_ref


def _default_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    e_center = 0.75 * scale.min_loss
    reducible = max(scale.median_loss - e_center, 0.05 * scale.median_loss)
    share = float(np.clip(reducible / scale.median_loss, 0.1, 0.9))
    log_nd = reference_budget(scale)
    return {
        # The vertex loss of the reference budget: the runs near it pin it to a fraction of a percent.
        "log_L_ref": Prior("Normal", mu=float(np.log(scale.median_loss)), sigma=0.5),
        # Its reducible share R/L* (logit): Chinchilla's E prior (~0.75 x the lowest loss) puts
        # it near (median - 0.75 min) / median; 95% of the prior within a factor ~5 of the odds.
        "reducible_logit": Prior("Normal", mu=float(np.log(share / (1.0 - share))), sigma=0.8),
        # The profile's curvature at the vertex, d2 L / d(ln N)^2 = R alpha beta: with Chinchilla's
        # arms (alpha + beta ~ 0.6, a ~ 0.5) about 0.09 R; 95% within a factor ~20 either way.
        "log_curvature": Prior("Normal", mu=float(np.log(0.09 * reducible)), sigma=1.5),
        # The vertex loss's exponent g against Chinchilla's alpha a: log(g / (alpha a)), 95% within
        # a factor 1.8 either way. Free, E, H and g trade off along the few budgets' vertex losses
        # (R-hat 1.2-1.4 on 3-5 budgets); centred on Chinchilla, the arms inform E as there.
        "log_g_ratio": Prior("Normal", mu=0.0, sigma=0.3),
        # The vertex of the reference budget: ~20 tokens per parameter; N* within ~19x either way
        # (95%), so tokens per parameter within ~360x.
        "log_N_opt_ref": Prior("Normal", mu=0.5 * (log_nd - float(np.log(PRIOR_TOKENS_PER_PARAM))), sigma=1.5),
        # The allocation exponent: published fits span 0.45-0.73; Beta(6, 6) puts 95% in [0.23, 0.77].
        "a": Prior("Beta", alpha=6.0, beta=6.0),
    }


def _terms(theta: Mapping) -> dict:
    """The law's quantities from the sampled ones: ``log_E``, ``log_R`` (the reducible loss at
    the reference vertex), the arms ``alpha``, ``beta`` (split as in Chinchilla, beta/(alpha+beta)
    = a, their product the curvature over R) and the vertex loss's exponent ``g`` = alpha a
    exp(log_g_ratio)."""
    a, ell, log_l = theta["a"], theta["reducible_logit"], theta["log_L_ref"]
    log_r = log_l - laws.softplus(-ell)
    arm_sum = laws.exp(0.5 * (theta["log_curvature"] - log_r - laws.log(a) - laws.log(1.0 - a)))
    alpha, beta = arm_sum * (1.0 - a), arm_sum * a
    return {
        "log_E": log_l - laws.softplus(ell),
        "log_R": log_r,
        "alpha": alpha,
        "beta": beta,
        "g": alpha * a * laws.exp(theta["log_g_ratio"]),
    }


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    t = _terms(theta)
    return laws.isoflop_profile_log_loss(
        log_n,
        log_d,
        t["log_E"],
        t["log_R"],
        t["g"],
        theta["log_N_opt_ref"],
        theta["a"],
        t["alpha"],
        t["beta"],
        reference_budget(scale),
    )


def _reported(theta: Mapping, scale: DataScale) -> dict:
    exp, log_nd = laws._exp_of(theta["a"], theta["log_L_ref"]), reference_budget(scale)
    t = _terms(theta)
    return {
        "E": exp(t["log_E"]),
        "G": exp(theta["log_N_opt_ref"] - theta["a"] * log_nd),
        "a": theta["a"],
        "H": exp(t["log_R"] + t["g"] * log_nd),
        "g": t["g"],
        "alpha": t["alpha"],
        "beta": t["beta"],
    }


def sampled_from_reported(reported: Mapping, scale: DataScale) -> dict:
    """The sampled parameters of the law with these reported values (the inverse of its
    ``reported_values``; numpy)."""
    log_nd = reference_budget(scale)
    alpha, beta, a = (np.asarray(reported[k], dtype=float) for k in ("alpha", "beta", "a"))
    log_r = np.log(reported["H"]) - reported["g"] * log_nd
    log_e = np.log(reported["E"])
    return {
        "log_L_ref": np.logaddexp(log_e, log_r),
        "reducible_logit": log_r - log_e,
        "log_curvature": log_r + np.log(alpha) + np.log(beta),
        "log_g_ratio": np.log(reported["g"] / (alpha * a)),
        "log_N_opt_ref": np.log(reported["G"]) + a * log_nd,
        "a": a,
    }


#: The sampled parameters before the vertex loss and curvature were sampled (files written
#: before 2026-12-08): E, log_R_ref and arm_sum = alpha + beta in place of log_L_ref,
#: reducible_logit and log_curvature.
EARLIER_PARAMETERS = ("E", "log_R_ref", "log_g_ratio", "log_N_opt_ref", "a", "arm_sum")


def from_earlier_parameters(draws: Mapping) -> dict:
    """The sampled parameters of this law from draws saved under :data:`EARLIER_PARAMETERS`
    (the same law; only what is sampled changed, so the draws map one to one)."""
    e, log_r, arm_sum, a = (draws[k] for k in ("E", "log_R_ref", "arm_sum", "a"))
    return {
        "log_L_ref": np.logaddexp(np.log(e), log_r),
        "reducible_logit": log_r - np.log(e),
        "log_curvature": log_r + 2.0 * np.log(arm_sum) + np.log(a) + np.log1p(-a),
        "log_g_ratio": draws["log_g_ratio"],
        "log_N_opt_ref": draws["log_N_opt_ref"],
        "a": a,
    }


def optimal_params(reported: Mapping, flops, k: float):
    """:math:`N^*(C) = G (C/k)^a`, in log space."""
    return np.exp(np.log(reported["G"]) + reported["a"] * (np.log(flops) - np.log(k)))


def from_chinchilla(E, A, B, alpha, beta) -> dict:
    """The reported values of the IsoFLOP-profile law that is exactly Chinchilla's
    ``E + A N^-alpha + B D^-beta`` (``a = beta/(alpha+beta)``, ``g = alpha a``)."""
    s = alpha + beta
    a = beta / s
    log_g = (np.log(alpha) + np.log(A) - np.log(beta) - np.log(B)) / s
    return {
        "E": E,
        "G": np.exp(log_g),
        "a": a,
        "H": A * np.exp(-alpha * log_g) * s / beta,
        "g": alpha * a,
        "alpha": alpha,
        "beta": beta,
    }


def loss(n, d, E, G, a, H, g, alpha, beta):
    r"""The law in the usual units, evaluated directly (the reference formula of the tests)."""
    u = np.log(n) - np.log(G) - a * np.log(n * d)
    return E + H * (n * d) ** -g * (beta * np.exp(-alpha * u) + alpha * np.exp(beta * u)) / (alpha + beta)


ISOFLOP_PROFILE = register_law(
    Law(
        name="isoflop_profile",
        parameters=("log_L_ref", "reducible_logit", "log_curvature", "log_g_ratio", "log_N_opt_ref", "a"),
        reported=("E", "G", "a", "H", "g", "alpha", "beta"),
        formula=(
            r"L = E + H (C/k)^{-g}\,\frac{\beta e^{-\alpha u} + \alpha e^{\beta u}}{\alpha+\beta},"
            r"\quad u = \ln N - \ln\bigl(G (C/k)^{a}\bigr),\quad C = kND"
        ),
        log_mean=_log_mean,
        reported_values=_reported,
        default_priors=_default_priors,
        optimal_params=optimal_params,
        description=(
            "A Bayesian Approach 2: Chinchilla's exact IsoFLOP profile around a vertex N*(C) = G (C/k)^a "
            "whose exponent a is sampled with its own prior, and a vertex loss E + H (C/k)^-g with "
            "g = alpha a exp(log_g_ratio); the arms split as Chinchilla's (beta/(alpha+beta) = a), and "
            "log_g_ratio = 0 is Chinchilla. For IsoFLOP designs; it describes the loss near the "
            "compute-optimal frontier, not strongly over-trained runs."
        ),
        references=(
            "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, Approach 2 and eq. 2",
            "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt",
        ),
        symbols={
            "E": "E",
            "G": "G",
            "a": "a",
            "H": "H",
            "g": "g",
            "alpha": r"\alpha",
            "beta": r"\beta",
            "log_L_ref": r"\ell_{L^*}",
            "reducible_logit": r"\mathrm{logit}\,\rho",
            "log_curvature": r"\ell_\kappa",
            "log_N_opt_ref": r"\ell_{N^*}",
            "log_g_ratio": r"\log(g/\alpha a)",
            "b": "b",
        },
        meanings={
            "E": "irreducible loss: that of an infinite model trained on infinite data (nats/token)",
            "G": "coefficient of the compute-optimal size N*(C) = G (C/k)^a",
            "a": "allocation exponent of N: N* grows as C^a (sampled directly)",
            "H": "coefficient of the reducible loss at the optimum, L*(C) - E = H (C/k)^-g",
            "g": "exponent of compute in the reducible loss at the optimum",
            "alpha": "left arm of each IsoFLOP profile: how fast the loss rises below the optimal size",
            "beta": "right arm of each IsoFLOP profile: how fast the loss rises above the optimal size",
            "log_L_ref": "log loss at the optimum of the reference budget (sampled; with reducible_logit in place of E and H)",
            "reducible_logit": "logit of the reducible share (L* - E)/L* at the optimum of the reference budget (sampled)",
            "log_curvature": "log curvature of the reference budget's profile at its vertex, d2L/d(ln N)^2 = (L* - E) alpha beta (sampled in place of alpha + beta)",
            "log_N_opt_ref": "log N* of the reference budget (sampled in place of G)",
            "log_g_ratio": "log(g / (alpha a)), sampled: 0 is Chinchilla's loss at its minima",
            "b": "allocation exponent of D: D* grows as C^b, b = 1 - a",
        },
        exponents=("g", "alpha", "beta"),
        allocation=r"N^*(C) = G\,(C/k)^{a},\quad D^* = C/(k N^*)",
        derived=lambda reported: {"b": 1.0 - reported["a"]},
        earlier=(EARLIER_PARAMETERS, from_earlier_parameters),
    )
)
