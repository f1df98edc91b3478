r"""Gadre et al. (2024)'s over-training law: loss against compute and the token multiplier."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import EXPONENT_PRIOR, chinchilla_default_priors
from .registry import DataScale, Law, register_law


# --------------------------------------------------------------------------- over-training
def _overtrain_refs(scale: DataScale) -> tuple[float, float]:
    """(log C_r, log M_r) at the reference size."""
    return scale.log_k + scale.log_n_ref + scale.log_d_ref, scale.log_d_ref - scale.log_n_ref


def _overtrain_default_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    priors = chinchilla_default_priors(scale)
    return {
        "E": priors["E"],
        "log_a_ref": priors["log_AN_ref"],
        "log_b_ref": priors["log_BD_ref"],
        # eta = alpha/2 of a tied Chinchilla law: 95% in [0.025, 0.75].
        "eta": Prior("LogNormal", mu=EXPONENT_PRIOR["mu"] - float(np.log(2.0)), sigma=EXPONENT_PRIOR["sigma"]),
    }


def _overtrain_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    log_c_ref, log_m_ref = _overtrain_refs(scale)
    return laws.overtrain_log_loss(
        scale.log_k + log_n + log_d,
        log_d - log_n,
        laws.log(theta["E"]),
        theta["log_a_ref"],
        theta["log_b_ref"],
        theta["eta"],
        log_c_ref,
        log_m_ref,
    )


def _overtrain_reported(theta: Mapping, scale: DataScale) -> dict:
    log_c_ref, log_m_ref = _overtrain_refs(scale)
    exp, eta = laws._exp_of(theta["eta"]), theta["eta"]
    return {
        "E": theta["E"],
        "a": exp(theta["log_a_ref"] - eta * (log_m_ref - log_c_ref)),
        "b": exp(theta["log_b_ref"] + eta * (log_m_ref + log_c_ref)),
        "eta": eta,
    }


OVERTRAIN = register_law(
    Law(
        name="overtrain",
        parameters=("E", "log_a_ref", "log_b_ref", "eta"),
        reported=("E", "a", "b", "eta"),
        formula=r"L(C, M) = E + \left(a M^{\eta} + b M^{-\eta}\right) C^{-\eta},\quad M = D/N",
        log_mean=_overtrain_log_mean,
        reported_values=_overtrain_reported,
        default_priors=_overtrain_default_priors,
        optimal_params=lambda rep, flops, k: laws.overtrain_optimal_params(flops, rep["a"], rep["b"], rep["eta"], k),
        description=(
            "Gadre et al. (2024): loss against compute C and the token multiplier M = D/N, the form to "
            "extrapolate over-trained runs; the optimal M* = (b/a)^(1/2 eta) is the same at every budget. "
            "Pair it with bayes_scaling.forecast.downstream for top-1 error."
        ),
        references=(
            "Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, eq. 4",
        ),
        symbols={
            "E": "E",
            "a": "a",
            "b": "b",
            "eta": r"\eta",
            "log_a_ref": r"\ell_a",
            "log_b_ref": r"\ell_b",
        },
        meanings={
            "E": "irreducible loss (nats/token)",
            "a": "amplitude of the over-training term a M^η C^−η (large M: too few parameters)",
            "b": "amplitude of the under-training term b M^−η C^−η (small M: too few tokens)",
            "eta": "exponent of compute at a fixed token multiplier M = D/N",
            "log_a_ref": "log of the a term at the reference size (sampled in place of a)",
            "log_b_ref": "log of the b term at the reference size (sampled in place of b)",
        },
        exponents=("eta",),
        allocation=r"N^*(C) = \sqrt{C/(k M^*)},\quad M^* = (b/a)^{1/(2\eta)},\quad D^* = M^* N^*",
    )
)
