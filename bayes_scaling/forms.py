r"""Registered functional forms: each law is a small component found by name.

A :class:`Law` bundles the maths of :mod:`bayes_scaling.laws` with its parameter names, its
data-aware default priors and (where one exists) its closed-form compute-optimal allocation.
Users select one by name (``fit(runs, law="chinchilla")``) and override any prior with
``priors={"alpha": Prior(...)}``. New forms are added with :func:`register_law`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from . import laws
from .errors import SpecError


@dataclass(frozen=True)
class DataScale:
    """What the model may know of the data: reference sizes and the loss range.

    ``log_n_ref``, ``log_d_ref``: where the law's amplitudes are sampled (see
    :func:`bayes_scaling.model.data_scale`); ``log_n_noise_ref``: the size at which the seed-noise
    sd ``sigma_ref`` is defined (the centre of the data's log N, so sigma_ref and gamma are
    nearly uncorrelated).
    """

    log_n_ref: float
    log_d_ref: float
    min_loss: float
    median_loss: float
    log_n_noise_ref: float

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Law:
    """A scaling law as a registered component.

    Attributes
    ----------
    name : lookup name used by ``fit(..., law=name)`` and stored in saved files.
    parameters : names of the sampled parameters, in order.
    reported : names of the parameters in the usual units (as in the papers), derived per draw.
    formula : the law in maths (LaTeX), shown in summaries and reports.
    log_mean : ``(theta, log_n, log_d, scale) -> log L`` on numpy or pytensor inputs.
    reported_values : ``(theta, scale) -> {name: value}`` giving the usual-unit parameters.
    default_priors : ``scale -> {name: Prior}``, data-aware defaults for every parameter.
    optimal_params : ``(reported, flops, k) -> N*`` in closed form, or None.
    """

    name: str
    parameters: tuple[str, ...]
    reported: tuple[str, ...]
    formula: str
    log_mean: Callable
    reported_values: Callable
    default_priors: Callable[[DataScale], dict]
    optimal_params: Callable | None = None
    description: str = ""
    references: tuple[str, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, Law] = {}


def register_law(law: Law, *, replace: bool = False) -> Law:
    """Make ``law`` available by name; refuses to shadow an existing name unless ``replace``."""
    if law.name in _REGISTRY and not replace:
        raise SpecError(f"a law named '{law.name}' is already registered; pass replace=True to replace it")
    _REGISTRY[law.name] = law
    return law


def get_law(name: str) -> Law:
    """The registered law called ``name`` (a SpecError lists the known names otherwise)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown law '{name}'; registered laws: {sorted(_REGISTRY)}") from None


def available_laws() -> list[str]:
    """Names of the registered laws."""
    return sorted(_REGISTRY)


# --------------------------------------------------------------------------- chinchilla
#: A prior on an exponent that puts 95% of its mass in [0.05, 1.5]: LogNormal with
#: mu = log sqrt(0.05 * 1.5) and sigma = log(1.5 / 0.05) / (2 * 1.96).
EXPONENT_PRIOR = {"mu": float(np.log(np.sqrt(0.05 * 1.5))), "sigma": float(np.log(1.5 / 0.05) / 3.92)}


def _chinchilla_default_priors(scale: DataScale) -> dict:
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


def _chinchilla_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    return laws.chinchilla_log_loss(
        log_n,
        log_d,
        _log(theta["E"]),
        theta["log_AN_ref"],
        theta["log_BD_ref"],
        theta["alpha"],
        theta["beta"],
        scale.log_n_ref,
        scale.log_d_ref,
    )


def _log(x):
    if laws._is_symbolic(x):
        import pytensor.tensor as pt

        return pt.log(x)
    return np.log(x)


def _chinchilla_reported(theta: Mapping, scale: DataScale) -> dict:
    A, B = laws.amplitudes_from_reference(
        theta["log_AN_ref"], theta["log_BD_ref"], theta["alpha"], theta["beta"], scale.log_n_ref, scale.log_d_ref
    )
    return {"E": theta["E"], "A": A, "B": B, "alpha": theta["alpha"], "beta": theta["beta"]}


def _chinchilla_optimal(reported: Mapping, flops, k: float):
    return laws.chinchilla_optimal_params(flops, reported["A"], reported["B"], reported["alpha"], reported["beta"], k)


CHINCHILLA = register_law(
    Law(
        name="chinchilla",
        parameters=("E", "log_AN_ref", "log_BD_ref", "alpha", "beta"),
        reported=("E", "A", "B", "alpha", "beta"),
        formula=r"L(N, D) = E + A N^{-\alpha} + B D^{-\beta}",
        log_mean=_chinchilla_log_mean,
        reported_values=_chinchilla_reported,
        default_priors=_chinchilla_default_priors,
        optimal_params=_chinchilla_optimal,
        description=(
            "Hoffmann et al. (2022) parametric loss. Sampled as E, alpha, beta and the log of each "
            "reducible term at the reference size (log_AN_ref = log A - alpha log N_ref, likewise "
            "log_BD_ref); A and B are reported in the usual units."
        ),
        references=("Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, eq. 2 and 4",),
    )
)
