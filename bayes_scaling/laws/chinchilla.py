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


# --------------------------------------------------------------------------- how it reads
#: Display symbols (LaTeX) of the Chinchilla family's parameters, sampled and reported.
CHINCHILLA_SYMBOLS = {
    "E": "E",
    "A": "A",
    "B": "B",
    "alpha": r"\alpha",
    "beta": r"\beta",
    "log_AN_ref": r"\ell_N",
    "log_BD_ref": r"\ell_D",
    "a": "a",
    "b": "b",
}
CHINCHILLA_MEANINGS = {
    "E": "irreducible loss: that of an infinite model trained on infinite data (nats/token)",
    "A": "amplitude of the model-size term A N^−α",
    "B": "amplitude of the data term B D^−β",
    "alpha": "exponent of N: how fast the loss falls with model size",
    "beta": "exponent of D: how fast the loss falls with training tokens",
    "log_AN_ref": "log of the N term at the reference size, log A − α log N_r (sampled in place of A)",
    "log_BD_ref": "log of the D term at the reference size, log B − β log D_r (sampled in place of B)",
    "a": "allocation exponent of N: N* grows as C^a, a = β/(α+β)",
    "b": "allocation exponent of D: D* grows as C^b, b = α/(α+β)",
}


def allocation_exponents(reported: Mapping) -> dict:
    """Exponents of the compute-optimal allocation: N* ~ C^a, D* ~ C^b (a + b = 1)."""
    s = reported["alpha"] + reported["beta"]
    return {"a": reported["beta"] / s, "b": reported["alpha"] / s}


#: N*(C) under C = kND (Hoffmann et al. 2022, eq. 4).
CHINCHILLA_ALLOCATION = (
    r"N^*(C) = G\,(C/k)^{\beta/(\alpha+\beta)},\quad G = (\alpha A/\beta B)^{1/(\alpha+\beta)},\quad D^* = C/(k N^*)"
)


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
        symbols=CHINCHILLA_SYMBOLS,
        meanings=CHINCHILLA_MEANINGS,
        exponents=("alpha", "beta"),
        allocation=CHINCHILLA_ALLOCATION,
        derived=allocation_exponents,
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
        reported_values=lambda theta, scale: {
            k: v for k, v in chinchilla_reported(_tied(theta), scale).items() if k != "beta"
        },
        default_priors=_tied_default_priors,
        optimal_params=lambda reported, flops, k: chinchilla_optimal(_tied(reported), flops, k),
        description=(
            "Chinchilla with one exponent for N and D (alpha = beta), as Muennighoff et al. and others fit it; "
            "the compute-optimal tokens per parameter is then the same at every budget."
        ),
        references=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, sec. 3",),
        symbols=CHINCHILLA_SYMBOLS,
        meanings={
            **CHINCHILLA_MEANINGS,
            "alpha": "exponent of both N and D (α = β): how fast the loss falls with either",
            "log_BD_ref": "log of the D term at the reference size, log B − α log D_r (sampled in place of B)",
        },
        exponents=("alpha",),
        allocation=r"N^*(C) = (A/B)^{1/(2\alpha)}\,(C/k)^{1/2},\quad D^* = C/(k N^*)",
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
        reported_values=lambda theta, scale: {
            k: v for k, v in chinchilla_reported(with_e(theta), scale).items() if k != "E"
        },
        default_priors=priors,
        optimal_params=chinchilla_optimal,
        description=(
            "Chinchilla with the irreducible loss E given (law_options={'E': value}), e.g. from a larger "
            "study of the same data: removes the E-amplitude trade-off when few runs are near convergence."
        ),
        references=("Hoffmann et al. 2022, eq. 2",),
        options={"E": E},
        factory=_fixed_e_law,
        symbols=CHINCHILLA_SYMBOLS,
        meanings=CHINCHILLA_MEANINGS,
        exponents=("alpha", "beta"),
        allocation=CHINCHILLA_ALLOCATION,
        derived=allocation_exponents,
    )


register_law(_fixed_e_law())
