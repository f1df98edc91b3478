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
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import chinchilla_default_priors
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

    chinchilla = chinchilla_default_priors(scale)
    e_center = 0.75 * scale.min_loss
    reducible = max(scale.median_loss - e_center, 0.05 * scale.median_loss)
    log_nd = reference_budget(scale)
    return {
        "E": chinchilla["E"],
        # The reducible loss at the vertex of the reference budget: around the data's reducible loss.
        "log_R_ref": Prior("Normal", mu=float(np.log(reducible)), sigma=1.0),
        # The vertex loss's exponent g against Chinchilla's alpha a: log(g / (alpha a)), 95% within
        # a factor 1.8 either way. Free, E, H and g trade off along the few budgets' vertex losses
        # (R-hat 1.2-1.4 on 3-5 budgets); centred on Chinchilla, the arms inform E as there.
        "log_g_ratio": Prior("Normal", mu=0.0, sigma=0.3),
        # The vertex of the reference budget: ~20 tokens per parameter; N* within ~19x either way
        # (95%), so tokens per parameter within ~360x.
        "log_N_opt_ref": Prior("Normal", mu=0.5 * (log_nd - float(np.log(PRIOR_TOKENS_PER_PARAM))), sigma=1.5),
        # The allocation exponent: published fits span 0.45-0.73; Beta(6, 6) puts 95% in [0.23, 0.77].
        "a": Prior("Beta", alpha=6.0, beta=6.0),
        # The profile's arms, as their sum alpha + beta: 95% in [0.15, 2.4] (Chinchilla 0.62).
        "arm_sum": Prior("LogNormal", mu=float(np.log(0.6)), sigma=0.7),
    }


def _arms(theta: Mapping):
    """(alpha, beta, g): the arms from their sampled sum, split as in Chinchilla (beta/(alpha+beta)
    = a), and the vertex loss's exponent g = alpha a exp(log_g_ratio)."""
    alpha, beta = theta["arm_sum"] * (1.0 - theta["a"]), theta["arm_sum"] * theta["a"]
    return alpha, beta, alpha * theta["a"] * laws.exp(theta["log_g_ratio"])


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    alpha, beta, g = _arms(theta)
    return laws.isoflop_profile_log_loss(
        log_n,
        log_d,
        laws.log(theta["E"]),
        theta["log_R_ref"],
        g,
        theta["log_N_opt_ref"],
        theta["a"],
        alpha,
        beta,
        reference_budget(scale),
    )


def _reported(theta: Mapping, scale: DataScale) -> dict:
    exp, log_nd = laws._exp_of(theta["a"], theta["log_g_ratio"]), reference_budget(scale)
    alpha, beta, g = _arms(theta)
    return {
        "E": theta["E"],
        "G": exp(theta["log_N_opt_ref"] - theta["a"] * log_nd),
        "a": theta["a"],
        "H": exp(theta["log_R_ref"] + g * log_nd),
        "g": g,
        "alpha": alpha,
        "beta": beta,
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
        parameters=("E", "log_R_ref", "log_g_ratio", "log_N_opt_ref", "a", "arm_sum"),
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
            "log_R_ref": r"\ell_R",
            "log_N_opt_ref": r"\ell_{N^*}",
            "arm_sum": r"\alpha+\beta",
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
            "log_R_ref": "log reducible loss at the optimum of the reference budget (sampled in place of H)",
            "log_N_opt_ref": "log N* of the reference budget (sampled in place of G)",
            "arm_sum": "alpha + beta, sampled (the profile's curvature at the vertex is (L* - E) alpha beta)",
            "log_g_ratio": "log(g / (alpha a)), sampled: 0 is Chinchilla's loss at its minima",
            "b": "allocation exponent of D: D* grows as C^b, b = 1 - a",
        },
        exponents=("g", "alpha", "beta"),
        allocation=r"N^*(C) = G\,(C/k)^{a},\quad D^* = C/(k N^*)",
        derived=lambda reported: {"b": 1.0 - reported["a"]},
        # E trades off against H and g along the vertex losses of a few budgets: at 0.9, 3 public
        # designs of 3-5 budgets gave R-hat 1.05-1.9; at 0.95, 1.01-1.05.
        target_accept=0.95,
    )
)
