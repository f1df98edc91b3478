r"""Encoder-decoder scaling (Ghorbani et al. 2021, neural machine translation).

.. math::  L(N_e, N_d) = \alpha \left(\frac{\bar N_e}{N_e}\right)^{p_e}
           \left(\frac{\bar N_d}{N_d}\right)^{p_d} + L_\infty

with :math:`N_e = sN` and :math:`N_d = (1 - s)N`: N the model's parameters and s the encoder's
share (the ``encoder_share`` column; an even split by default). The paper takes the reference
sizes :math:`\bar N_e, \bar N_d` from its baseline model; here both are 1e8, so :math:`\alpha` is
the reducible loss of a model with 1e8 parameters in each half (it is sampled at the data's
reference size, where it is least correlated with the exponents). At a fixed N the loss is least at the share
:math:`s^* = p_e / (p_e + p_d)` (minimise :math:`s^{-p_e}(1 - s)^{-p_d}`), reported as
``encoder_share_opt``. The law is for a fixed training set: it has no D term and no split of
compute into N and D. The paper's fitted constants could not be read here; the exponents take
the package's wide exponent prior and :math:`L_\infty` Chinchilla's data-aware prior on E.
Separating :math:`p_e` from :math:`p_d` needs runs at two or more encoder shares.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import EXPONENT_PRIOR
from .registry import DataScale, Law, register_law

_HALF = float(np.log(0.5))
#: log of the reference sizes \bar N_e = \bar N_d at which alpha is reported.
_REPORT_REF = float(np.log(1e8))


def encoder_decoder_loss(n_encoder, n_decoder, alpha, p_e, p_d, L_inf, n_encoder_ref, n_decoder_ref):
    """The law as the paper writes it (numpy), for references and synthetic runs."""
    return (
        alpha * (n_encoder_ref / np.asarray(n_encoder)) ** p_e * (n_decoder_ref / np.asarray(n_decoder)) ** p_d + L_inf
    )


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale, encoder_share):
    ops = laws._ops(log_n, encoder_share, theta["p_e"])
    log_decoder_share = ops.log1p(-ops.exp(encoder_share))
    log_red = (
        theta["log_alpha_ref"]
        - theta["p_e"] * (log_n + encoder_share - scale.log_n_ref - _HALF)
        - theta["p_d"] * (log_n + log_decoder_share - scale.log_n_ref - _HALF)
    )
    return laws.logaddexp(laws.log(theta["L_inf"]) + 0.0 * log_d, log_red)


def _reported(theta: Mapping, scale: DataScale) -> dict:
    shift = (theta["p_e"] + theta["p_d"]) * (_REPORT_REF - scale.log_n_ref - _HALF)
    alpha = laws._exp_of(theta["log_alpha_ref"])(theta["log_alpha_ref"] - shift)
    return {"alpha": alpha, "p_e": theta["p_e"], "p_d": theta["p_d"], "L_inf": theta["L_inf"]}


def _priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    reducible = max(scale.median_loss - 0.75 * scale.min_loss, 0.05 * scale.median_loss)
    return {
        "log_alpha_ref": Prior("Normal", mu=float(np.log(reducible)), sigma=1.0),
        "p_e": Prior("LogNormal", **EXPONENT_PRIOR),
        "p_d": Prior("LogNormal", **EXPONENT_PRIOR),
        "L_inf": Prior("LogNormal", mu=float(np.log(0.75 * scale.min_loss)), sigma=0.25),
    }


def _derived(reported: Mapping) -> dict:
    return {"encoder_share_opt": reported["p_e"] / (reported["p_e"] + reported["p_d"])}


ENCODER_DECODER = register_law(
    Law(
        name="encoder_decoder",
        parameters=("log_alpha_ref", "p_e", "p_d", "L_inf"),
        reported=("alpha", "p_e", "p_d", "L_inf"),
        formula=(
            r"L(N_e, N_d) = \alpha \left(\bar N_e / N_e\right)^{p_e} \left(\bar N_d / N_d\right)^{p_d} + L_\infty,"
            r"\quad N_e = sN,\ N_d = (1 - s)N,\ \bar N_e = \bar N_d = 10^8"
        ),
        log_mean=_log_mean,
        reported_values=_reported,
        default_priors=_priors,
        derived=_derived,
        description=(
            "Ghorbani et al. (2021): the loss of an encoder-decoder model as a product of power laws in its "
            "encoder and decoder sizes. Reads an encoder_share column (the encoder's share s of N; two or "
            "more shares separate p_e from p_d); the best share at any size is p_e / (p_e + p_d). Fixed "
            "training data: no compute-optimal split of C."
        ),
        references=("Ghorbani et al. 2021, Scaling Laws for Neural Machine Translation, eq. 2",),
        allocates=False,
        axis="N",
        inputs=("params", "tokens", "encoder_share"),
        symbols={
            "alpha": r"\alpha",
            "p_e": "p_e",
            "p_d": "p_d",
            "L_inf": r"L_\infty",
            "log_alpha_ref": r"\log \alpha",
            "encoder_share_opt": "s^*",
        },
        meanings={
            "alpha": "reducible loss of a model with 1e8 parameters in its encoder and 1e8 in its decoder",
            "p_e": "exponent of the encoder's size N_e",
            "p_d": "exponent of the decoder's size N_d",
            "L_inf": "irreducible loss (nats/token)",
            "log_alpha_ref": "log of the reducible loss of an even split at the data's reference size (sampled in place of α)",
            "encoder_share_opt": "the encoder's share of N that gives the least loss at any size, p_e / (p_e + p_d)",
        },
        exponents=("p_e", "p_d"),
    )
)
