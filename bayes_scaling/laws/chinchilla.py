r"""Chinchilla's law (Hoffmann et al. 2022) and its variants: tied exponents, fixed E."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import SpecError
from . import maths as laws
from .registry import DataScale, Law, register_law

# --------------------------------------------------------------------------- chinchilla
#: A prior on an exponent that puts 95% of its mass in [0.05, 1.5]: LogNormal with
#: mu = log sqrt(0.05 * 1.5) and sigma = log(1.5 / 0.05) / (2 * 1.96).
EXPONENT_PRIOR = {"mu": float(np.log(np.sqrt(0.05 * 1.5))), "sigma": float(np.log(1.5 / 0.05) / 3.92)}


def chinchilla_default_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    e_center = 0.75 * scale.min_loss
    reducible = max(scale.median_loss - e_center, 0.05 * scale.median_loss)
    return {
        # The irreducible loss sits below the lowest observed loss: 95% in ~[0.46, 1.2] x min loss.
        "E": Prior("LogNormal", mu=float(np.log(e_center)), sigma=0.25),
        # Each reducible term at the reference size: around half the observed reducible loss.
        "log_AN_ref": Prior("Normal", mu=float(np.log(reducible / 2)), sigma=1.0),
        "log_BD_ref": Prior("Normal", mu=float(np.log(reducible / 2)), sigma=1.0),
        "alpha": Prior("LogNormal", **EXPONENT_PRIOR),
        "beta": Prior("LogNormal", **EXPONENT_PRIOR),
    }


def chinchilla_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    return laws.chinchilla_log_loss(
        log_n,
        log_d,
        laws.log(theta["E"]),
        theta["log_AN_ref"],
        theta["log_BD_ref"],
        theta["alpha"],
        theta["beta"],
        scale.log_n_ref,
        scale.log_d_ref,
    )


def chinchilla_reported(theta: Mapping, scale: DataScale) -> dict:
    A, B = laws.amplitudes_from_reference(
        theta["log_AN_ref"], theta["log_BD_ref"], theta["alpha"], theta["beta"], scale.log_n_ref, scale.log_d_ref
    )
    return {"E": theta["E"], "A": A, "B": B, "alpha": theta["alpha"], "beta": theta["beta"]}


def chinchilla_optimal(reported: Mapping, flops, k: float):
    return laws.chinchilla_optimal_params(flops, reported["A"], reported["B"], reported["alpha"], reported["beta"], k)


CHINCHILLA = register_law(
    Law(
        name="chinchilla",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha", "beta"),
        reported=("E", "A", "B", "alpha", "beta"),
        formula=r"L(N, D) = E + A N^{-\alpha} + B D^{-\beta}",
        log_mean=chinchilla_log_mean,
        reported_values=chinchilla_reported,
        default_priors=chinchilla_default_priors,
        optimal_params=chinchilla_optimal,
        description=(
            "Hoffmann et al. (2022) parametric loss. Sampled as E, alpha, beta and the log of each "
            "reducible term at the reference size (log_AN_ref = log A - alpha log N_ref, likewise "
            "log_BD_ref); A and B are reported in the usual units."
        ),
        references=("Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, eq. 2 and 4",),
    )
)


# --------------------------------------------------------------------------- chinchilla variants
def _tied_default_priors(scale: DataScale) -> dict:
    priors = chinchilla_default_priors(scale)
    del priors["beta"]
    return priors


def _tied(theta: Mapping) -> dict:
    return {**theta, "beta": theta["alpha"]}


CHINCHILLA_TIED = register_law(
    Law(
        name="chinchilla_tied",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha"),
        reported=("E", "A", "B", "alpha"),
        formula=r"L(N, D) = E + A N^{-\alpha} + B D^{-\alpha}",
        log_mean=lambda theta, log_n, log_d, scale: chinchilla_log_mean(_tied(theta), log_n, log_d, scale),
        reported_values=lambda theta, scale: chinchilla_reported(_tied(theta), scale) | {"beta": theta["alpha"]},
        default_priors=_tied_default_priors,
        optimal_params=chinchilla_optimal,
        description=(
            "Chinchilla with one exponent for N and D (alpha = beta), as Muennighoff et al. and others fit it; "
            "the compute-optimal tokens per parameter is then the same at every budget."
        ),
        references=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, sec. 3",),
    )
)


def _fixed_e_law(E=None) -> Law:
    if E is not None and not (isinstance(E, (int, float)) and not isinstance(E, bool) and E > 0):
        raise SpecError(f"chinchilla_fixed_e needs a positive irreducible loss E (nats), got {E!r}")

    def with_e(theta):
        return {**theta, "E": E}

    def priors(scale):
        out = chinchilla_default_priors(scale)
        del out["E"]
        return out

    return Law(
        name="chinchilla_fixed_e",
        parameters=("log_AN_ref", "log_BD_ref", "alpha", "beta"),
        reported=("A", "B", "alpha", "beta"),
        formula=rf"L(N, D) = {E if E is not None else 'E'} + A N^{{-\alpha}} + B D^{{-\beta}}",
        log_mean=lambda theta, log_n, log_d, scale: chinchilla_log_mean(with_e(theta), log_n, log_d, scale),
        reported_values=lambda theta, scale: chinchilla_reported(with_e(theta), scale),
        default_priors=priors,
        optimal_params=chinchilla_optimal,
        description=(
            "Chinchilla with the irreducible loss E given (law_options={'E': value}), e.g. from a larger "
            "study of the same data: removes the E-amplitude trade-off when few runs are near convergence."
        ),
        references=("Hoffmann et al. 2022, eq. 2",),
        options={"E": E},
        factory=_fixed_e_law,
    )


register_law(_fixed_e_law())
