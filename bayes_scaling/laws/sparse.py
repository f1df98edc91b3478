r"""Chinchilla on the average parameter count (Jin et al. 2025): sparse and dense runs, one law.

.. math::  L(\bar N, D) = E + A \bar N^{-\alpha} + B D^{-\beta},\qquad
           \bar N = \frac{1}{T}\sum_{t=1}^{T} N_t

:math:`\bar N` is the number of non-zero parameters averaged over the training steps (the
``average_params`` column): a run pruned from N to N/4 between 25% and 75% of its steps has
:math:`\bar N` = 0.625 N. A dense run has :math:`\bar N` = N, its default, so on dense runs the law
is Chinchilla's. The authors validated it from 58M to 468M parameters and up to 20x the
Chinchilla-optimal tokens; their fitted constants could not be read here, so the default priors
are Chinchilla's data-aware ones. The compute-optimal allocation is Chinchilla's in
:math:`\bar N`: the dense model that spends C best, and the average count a sparse run should
have for the same loss.
"""

from __future__ import annotations

from collections.abc import Mapping

from .chinchilla import (
    CHINCHILLA_ALLOCATION,
    CHINCHILLA_MEANINGS,
    CHINCHILLA_SYMBOLS,
    allocation_exponents,
    chinchilla_default_priors,
    chinchilla_log_mean,
    chinchilla_optimal,
    chinchilla_reported,
)
from .registry import DataScale, Law, register_law


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale, average_params):
    return chinchilla_log_mean(theta, average_params + 0.0 * log_n, log_d, scale)


CHINCHILLA_AVERAGE_N = register_law(
    Law(
        name="chinchilla_average_n",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha", "beta"),
        reported=("E", "A", "B", "alpha", "beta"),
        formula=r"L(\bar N, D) = E + A \bar N^{-\alpha} + B D^{-\beta},\quad \bar N = \tfrac{1}{T}\sum_t N_t",
        log_mean=_log_mean,
        reported_values=chinchilla_reported,
        default_priors=chinchilla_default_priors,
        optimal_params=chinchilla_optimal,
        description=(
            "Jin et al. (2025): Chinchilla with N replaced by the non-zero parameter count averaged over "
            "training, so that sparse (gradually pruned) and dense runs share one law. Reads an "
            "average_params column; a run without one is dense (average = N). The allocation is in the "
            "average count."
        ),
        references=(
            "Jin et al. 2025, The Journey Matters: Average Parameter Count over Pre-training Unifies Sparse "
            "and Dense Scaling Laws (ICLR 2025)",
        ),
        inputs=("params", "tokens", "average_params"),
        symbols={**CHINCHILLA_SYMBOLS},
        meanings={
            **CHINCHILLA_MEANINGS,
            "A": "amplitude of the model-size term A N̄^−α (N̄: the parameter count averaged over training)",
            "alpha": "exponent of the average parameter count N̄",
            "a": "allocation exponent of the average count: N̄* grows as C^a, a = β/(α+β)",
        },
        exponents=("alpha", "beta"),
        allocation=CHINCHILLA_ALLOCATION + r",\quad \text{in } N = \bar N",
        derived=allocation_exponents,
    )
)
