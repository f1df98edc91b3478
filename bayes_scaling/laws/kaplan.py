r"""Kaplan et al. (2020)'s joint law of N and D."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import EXPONENT_PRIOR
from .registry import DataScale, Law, register_law


# --------------------------------------------------------------------------- kaplan
def _kaplan_default_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        "log_loss_ref": Prior("Normal", mu=float(np.log(scale.median_loss)), sigma=0.5),
        "alpha_D": Prior("LogNormal", **EXPONENT_PRIOR),
        # alpha_N / alpha_D: Kaplan et al. found 0.076 / 0.095 = 0.8.
        "ratio": Prior("LogNormal", mu=0.0, sigma=0.75),
        # Log ratio of the N term to the D term at the reference size.
        "delta": Prior("Normal", mu=0.0, sigma=3.0),
    }


def _kaplan_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    return laws.kaplan_log_loss(
        log_n,
        log_d,
        theta["log_loss_ref"],
        theta["alpha_D"],
        theta["ratio"],
        theta["delta"],
        scale.log_n_ref,
        scale.log_d_ref,
    )


def _kaplan_reported(theta: Mapping, scale: DataScale) -> dict:
    n_c, d_c, alpha_n = laws.kaplan_constants(
        theta["log_loss_ref"], theta["alpha_D"], theta["ratio"], theta["delta"], scale.log_n_ref, scale.log_d_ref
    )
    return {"N_c": n_c, "D_c": d_c, "alpha_N": alpha_n, "alpha_D": theta["alpha_D"]}


KAPLAN = register_law(
    Law(
        name="kaplan",
        parameters=("log_loss_ref", "alpha_D", "ratio", "delta"),
        reported=("N_c", "D_c", "alpha_N", "alpha_D"),
        formula=r"L(N, D) = \left[(N_c/N)^{\alpha_N/\alpha_D} + D_c/D\right]^{\alpha_D}",
        log_mean=_kaplan_log_mean,
        reported_values=_kaplan_reported,
        default_priors=_kaplan_default_priors,
        optimal_params=lambda rep, flops, k: laws.kaplan_optimal_params(
            flops, rep["N_c"], rep["D_c"], rep["alpha_N"], rep["alpha_D"], k
        ),
        description=(
            "Kaplan et al. (2020) eq. 1.5: no irreducible loss. Sampled as the log loss at the reference "
            "size, alpha_D, the ratio alpha_N/alpha_D and the log ratio of the two terms there, which "
            "keeps N_c and D_c (far outside the data) from trading off against the exponents."
        ),
        references=("Kaplan et al. 2020, Scaling Laws for Neural Language Models, eq. 1.5",),
        symbols={
            "N_c": "N_c",
            "D_c": "D_c",
            "alpha_N": r"\alpha_N",
            "alpha_D": r"\alpha_D",
            "log_loss_ref": r"\log L_r",
            "ratio": r"\alpha_N/\alpha_D",
            "delta": r"\Delta",
        },
        meanings={
            "N_c": "critical model size: where the N term alone would give a loss of 1 nat/token",
            "D_c": "critical data size: where the D term alone would give a loss of 1 nat/token",
            "alpha_N": "exponent of N: how fast the loss falls with model size",
            "alpha_D": "exponent of D: how fast the loss falls with training tokens",
            "log_loss_ref": "log of the loss at the reference size (N_r, D_r)",
            "ratio": "ratio of the exponents α_N/α_D (Kaplan et al. found 0.8)",
            "delta": "log ratio of the N term to the D term inside the bracket at the reference size",
        },
        exponents=("alpha_N", "alpha_D"),
        allocation=(
            r"N^*(C) = \left(r\,N_c^{\,r}\,C/(k\,D_c)\right)^{1/(r+1)},\quad r = \alpha_N/\alpha_D,"
            r"\quad D^* = C/(k N^*)"
        ),
    )
)
