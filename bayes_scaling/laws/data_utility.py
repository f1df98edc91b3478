r"""Chinchilla with repeated data of decaying utility (Goyal et al. 2024, data filtering).

Goyal et al. model a pool's value by the exponent :math:`b` of :math:`y = a n^b + d` and let it
decay with each pass over the pool: during epoch :math:`j + 1` the exponent is
:math:`b\,\delta^j`, :math:`\delta = 2^{-1/\tau}`, so a sample's utility halves every
:math:`\tau` repetitions. As the data term of Chinchilla's law, next to Muennighoff et al.'s
``data_constrained``:

.. math::  L = E + A N^{-\alpha} + B D'^{-\beta},\qquad
           \log D' = \log U_D + \sum_{j \ge 1} \delta^j
           \log\frac{\min(\max(D, jU_D), (j+1)U_D)}{jU_D}

(:func:`bayes_scaling.laws.maths.repeated_data_log_tokens`). U is the ``unique_tokens`` column
(every token unique by default: then the law is Chinchilla's), D/U the epochs. Goyal et al.
fitted CLIP error, not language-model loss; carrying the decay to Chinchilla's data term is this
package's reading of their "D-side" utility, and their half-lives (2.3 to 8.6 epochs for the
pools of DataComp-medium) centre the prior on :math:`\tau`.
"""

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
from .data_constrained import UNIQUE_DATA_ALLOCATION
from .registry import DataScale, Law, register_law


def _priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        **chinchilla_default_priors(scale),
        # Half-lives of 1 to 45 epochs (95%): Goyal et al.'s 2.3-8.6 and Muennighoff et al.'s
        # R*_D = 15.4 (an e-folding: half-life 10.7) well inside.
        "log_half_life": Prior("Normal", mu=float(np.log(7.0)), sigma=1.0),
    }


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale, unique_tokens):
    half_life = laws._exp_of(theta["log_half_life"])(theta["log_half_life"])
    log_d_eff = laws.repeated_data_log_tokens(log_d, unique_tokens, half_life)
    return chinchilla_log_mean(theta, log_n + 0.0 * log_d_eff, log_d_eff, scale)


DATA_UTILITY = register_law(
    Law(
        name="data_utility",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha", "beta", "log_half_life"),
        reported=("E", "A", "B", "alpha", "beta", "half_life"),
        formula=(
            r"L = E + A N^{-\alpha} + B D_e^{-\beta},\quad \log D_e = \log U_D + \sum_{j \geq 1} 2^{-j/\tau}"
            r"\log\frac{\min(\max(D, jU_D), (j+1)U_D)}{jU_D}"
        ),
        log_mean=_log_mean,
        reported_values=lambda theta, scale: (
            chinchilla_reported(theta, scale)
            | {"half_life": laws._exp_of(theta["log_half_life"])(theta["log_half_life"])}
        ),
        default_priors=_priors,
        derived=allocation_exponents,  # (with unlimited unique data it is Chinchilla's)
        description=(
            "Goyal et al. (2024)'s decaying utility of repeated data as Chinchilla's data term: the exponent "
            "of D falls by half every tau epochs over the unique tokens U. Needs a unique_tokens column; "
            "forecasts without one take every token as unique. The allocation is found numerically."
        ),
        references=(
            "Goyal et al. 2024, Scaling Laws for Data Filtering: Data Curation cannot be Compute Agnostic, sec. 3",
        ),
        inputs=("params", "tokens", "unique_tokens"),
        symbols={**CHINCHILLA_SYMBOLS, "half_life": r"\tau", "log_half_life": r"\log \tau"},
        meanings={
            **CHINCHILLA_MEANINGS,
            "beta": "exponent of the effective data D_e (of D itself in the first epoch)",
            "half_life": "τ, the half-life of repeated data's utility, in epochs: the exponent of D halves every τ epochs",
            "log_half_life": "log τ (sampled in place of τ)",
            **UNIQUE_DATA_ALLOCATION,
        },
        exponents=("alpha", "beta"),
    )
)
