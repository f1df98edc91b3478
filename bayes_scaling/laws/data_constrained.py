r"""Muennighoff et al. (2023)'s data-constrained law: effective N' and D' under repeated data."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .chinchilla import (
    CHINCHILLA_MEANINGS,
    CHINCHILLA_SYMBOLS,
    allocation_exponents,
    chinchilla_default_priors,
    chinchilla_log_mean,
    chinchilla_reported,
)
from .registry import DataScale, Law, register_law

#: The allocation exponents of a law of repeated data, read where every token is unique.
UNIQUE_DATA_ALLOCATION = {
    "a": "allocation exponent of N when every token is unique: N* grows as C^a, a = β/(α+β)",
    "b": "allocation exponent of D when every token is unique: D* grows as C^b, b = α/(α+β)",
}


# --------------------------------------------------------------------------- data-constrained
def _data_constrained_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        **chinchilla_default_priors(scale),
        # Muennighoff et al. fitted R*_D = 15.4 and R*_N = 5.3 (epochs / excess parameter ratio
        # at which repeated data or parameters keep 1 - 1/e of their value).
        "log_rstar_D": Prior("Normal", mu=float(np.log(15.4)), sigma=1.0),
        "log_rstar_N": Prior("Normal", mu=float(np.log(5.3)), sigma=1.0),
    }


def _data_constrained_log_mean(theta: Mapping, log_n, log_d, scale: DataScale, unique_tokens):
    exp = laws._exp_of(theta["log_rstar_D"])
    n_eff, d_eff = laws.data_constrained_sizes(
        log_n,
        log_d,
        unique_tokens,
        theta["alpha"],
        theta["beta"],
        theta["log_AN_ref"],
        theta["log_BD_ref"],
        exp(theta["log_rstar_N"]),
        exp(theta["log_rstar_D"]),
        scale.log_n_ref,
        scale.log_d_ref,
    )
    return chinchilla_log_mean(theta, n_eff, d_eff, scale)


DATA_CONSTRAINED = register_law(
    Law(
        name="data_constrained",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha", "beta", "log_rstar_D", "log_rstar_N"),
        reported=("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"),
        formula=(
            r"L = E + A N'^{-\alpha} + B D'^{-\beta},\quad D' = U_D + U_D R_D^*\left(1 - e^{-R_D/R_D^*}\right),"
            r"\quad N' = U_N + U_N R_N^*\left(1 - e^{-R_N/R_N^*}\right)"
        ),
        log_mean=_data_constrained_log_mean,
        reported_values=lambda theta, scale: (
            chinchilla_reported(theta, scale)
            | {
                "R_D_star": laws._exp_of(theta["log_rstar_D"])(theta["log_rstar_D"]),
                "R_N_star": laws._exp_of(theta["log_rstar_N"])(theta["log_rstar_N"]),
            }
        ),
        default_priors=_data_constrained_priors,
        derived=allocation_exponents,  # (with unlimited unique data it is Chinchilla's)
        description=(
            "Muennighoff et al. (2023): Chinchilla on effective data D' and parameters N'. Repeated epochs "
            "(R_D = D/U_D - 1 over U_D unique tokens) are worth less and less (half-life set by R*_D); "
            "parameters beyond the compute-optimal size for U_D likewise (R*_N). Needs a unique_tokens "
            "column; forecasts without one take every token as unique. The allocation is found numerically."
        ),
        references=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, eq. 5-7",),
        inputs=("params", "tokens", "unique_tokens"),
        symbols={
            **CHINCHILLA_SYMBOLS,
            "R_D_star": "R_D^*",
            "R_N_star": "R_N^*",
            "log_rstar_D": r"\log R_D^*",
            "log_rstar_N": r"\log R_N^*",
        },
        meanings={
            **CHINCHILLA_MEANINGS,
            "alpha": "exponent of the effective model size N'",
            "beta": "exponent of the effective data D'",
            "R_D_star": "repeated epochs at which repeated data keep 1 − 1/e of their value (Muennighoff et al.: 15.4)",
            "R_N_star": "excess parameter ratio at which extra parameters keep 1 − 1/e of their value (5.3)",
            "log_rstar_D": "log R_D* (sampled in place of R_D*)",
            "log_rstar_N": "log R_N* (sampled in place of R_N*)",
            **UNIQUE_DATA_ALLOCATION,
        },
        exponents=("alpha", "beta"),
    )
)
