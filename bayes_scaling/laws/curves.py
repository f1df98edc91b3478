r"""Laws of whole training curves: loss at every step of a run, given its learning-rate schedule.

Each law is a :class:`CurveLaw` found by name (:func:`get_curve_law`); its mean works on numpy
arrays and pytensor tensors alike, from the features of :mod:`.schedules` (areas in units of
1,000 steps at the peak rate, rates relative to the peak; in a fit, the area of the power law
relative to a reference area and the drop's rates relative to a reference rate, so that
:math:`A` and :math:`\kappa` are sampled where they are nearly uncorrelated with
:math:`\alpha` and :math:`\gamma`: see :class:`CurveScale`). Model size enters every law the same
way, through :math:`x = N / N_r`:

.. math::  L_0(N) = l_0 + P\,(x^{-p} - 1), \qquad A(N) = A_r\, x^{-a_N}, \qquad B(N) = B_r\, x^{-b_N}

(:math:`l_0` is :math:`L_0` at the reference size :math:`N_r`, so it is pinned by the data even
with one size; :math:`E = l_0 - P` is the loss of an infinite model), and the shape parameters
as power laws in N about their reference values (:math:`\alpha(N) = \alpha x^{\alpha_N}`, and
:math:`\kappa, \gamma` of the Multi-Power Law likewise; :math:`\nu` shared): fitted size by
size to the public curves, :math:`\alpha` falls from 0.49 to 0.44 over 25M-400M and the drop's
shape moves too.

- ``multipower``: the Multi-Power Law of Luo et al. (2025),
  :math:`L(t) = L_0 + A\,S(t)^{-\alpha} - \mathrm{LD}(t)`,
  :math:`\mathrm{LD}(t) = B \sum_k (\eta_{k-1} - \eta_k)\, G(\eta_k^{-\gamma} S_k(t))`, with
  :math:`G(x) = 1 - (C x + 1)^{-\beta}` sampled as :math:`\kappa = C \beta` (G's slope at 0) and
  :math:`\nu = 1/\beta \ge 0`: :math:`G(x) = 1 - (1 + \kappa \nu x)^{-1/\nu}`, which tends to
  :math:`1 - e^{-\kappa x}` as :math:`\nu \to 0`. Fitted directly, C and :math:`\beta` run to a
  boundary on schedule-poor data; :math:`\kappa, \nu` do not. :math:`S(t)` is the area from step
  0 (the paper's :math:`S_1 + S_W`).
- ``annealing``: Tissue et al. (2024)'s LR-annealing law,
  :math:`L(t) = L_0 + A\,S(t)^{-\alpha} - C\,S_2(t)` with the momentum-decayed annealing area
  :math:`S_2` (momentum 0.999, as in the paper).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from .maths import is_symbolic
from .schedules import CurveFeatures, SparseCurveFeatures

__all__ = [
    "CurveLaw",
    "CurveScale",
    "register_curve_law",
    "get_curve_law",
    "is_curve_law",
    "available_curve_laws",
    "SIZE_PARAMETERS",
    "DROP_SCALE",
    "DEFAULT_CURVE_LAW",
]

#: The curve law ``fit`` uses when a Curves table is given without one.
DEFAULT_CURVE_LAW = "multipower"
#: The parameters that carry model size (see the module doc), in every curve law.
SIZE_PARAMETERS = ("log_P", "p")
#: An optional key of theta: a factor on the loss drop of the schedule's decreases (a run's own
#: departure from the law's drop; see :mod:`bayes_scaling.inference.curves`). 1 when absent.
DROP_SCALE = "drop_scale"


@dataclass(frozen=True)
class CurveScale:
    """What a curve law's default priors may know of the data."""

    log_n_ref: float
    min_loss: float
    max_loss: float
    lr_unit: float
    median_steps: float
    n_sizes: int
    #: Where the laws' amplitude and drop shape are sampled, so that they are nearly uncorrelated
    #: with the exponents (as Chinchilla's amplitudes at a reference size): the LR area at which A
    #: is defined (the geometric mean of the fitted rows' areas) and the rate, in peak units, at
    #: which kappa is defined (the decrement-weighted geometric mean rate of the fitted
    #: cooldowns). 1 in fits saved before they existed (A at area 1, kappa at the peak rate).
    area_ref: float = 1.0
    lr_drop_ref: float = 1.0


@dataclass(frozen=True)
class CurveLaw:
    """A law of loss along a run (see the module doc).

    ``mean(theta, features, log_x)`` gives the loss (numpy or pytensor; theta holds scalars, or
    draws as ``(n_draws, 1)`` arrays against the features' ``(n,)`` observations, giving
    ``(n_draws, n)``); ``default_priors(scale)`` a ``{name: Prior}`` for every parameter.
    """

    name: str
    parameters: tuple[str, ...]
    formula: str
    mean: Callable
    default_priors: Callable[[CurveScale], dict]
    description: str = ""
    references: tuple[str, ...] = ()
    symbols: Mapping[str, str] = field(default_factory=dict)
    meanings: Mapping[str, str] = field(default_factory=dict)

    def symbol(self, name: str) -> str:
        return self.symbols.get(name, name)


_REGISTRY: dict[str, CurveLaw] = {}


def register_curve_law(law: CurveLaw) -> CurveLaw:
    if law.name in _REGISTRY:
        raise SpecError(f"a curve law named '{law.name}' is already registered")
    _REGISTRY[law.name] = law
    return law


def is_curve_law(name) -> bool:
    return isinstance(name, str) and name in _REGISTRY


def available_curve_laws() -> list[str]:
    return sorted(_REGISTRY)


def get_curve_law(name: str) -> CurveLaw:
    if name not in _REGISTRY:
        raise SpecError(f"unknown curve law '{name}'; available: {available_curve_laws()}")
    return _REGISTRY[name]


# --------------------------------------------------------------------------- shared maths
def _ops(*values):
    if is_symbolic(*values):
        import pytensor.tensor as pt

        return pt
    return np


def _size_terms(theta: Mapping, log_x, amplitude: str, slope: str):
    """``(L0(N), A(N), amplitude(N))`` of the module doc."""
    xp = _ops(log_x, *theta.values())
    l0 = theta["l0"] + xp.exp(theta["log_P"]) * (xp.exp(-theta["p"] * log_x) - 1.0)
    a = xp.exp(theta["log_A"] - theta["a_N"] * log_x)
    b = xp.exp(theta[amplitude] - theta[slope] * log_x)
    return l0, a, b


def _pad(value):
    """One more trailing axis (the blocks'), on numpy or pytensor."""
    if is_symbolic(value):
        import pytensor.tensor as pt

        return pt.shape_padright(value)
    return np.asarray(value)[..., None]


def multipower_drop(shape: Mapping, f: CurveFeatures | SparseCurveFeatures):
    r""":math:`\sum_k w_k G(\eta_k^{-\gamma} S_k)` per observation (without B), for ``shape`` =
    ``{"gamma", "kappa", "nu"}`` (scalars, one per observation, or draws ``(n_draws, 1)``).
    On :class:`SparseCurveFeatures` (one value per observation, or scalars) the sum runs over
    the non-zero blocks only and is gathered back to the observations."""
    xp = _ops(*shape.values())
    if isinstance(f, SparseCurveFeatures):
        gamma, kappa, nu = (_per_block(shape[k], f.block_row) for k in ("gamma", "kappa", "nu"))
    else:
        gamma, kappa, nu = (_pad(shape[k]) for k in ("gamma", "kappa", "nu"))
    x = xp.exp(-gamma * xp.log(f.block_lr)) * f.block_gap
    g = 1.0 - xp.exp(-xp.log1p(kappa * nu * x) / nu)
    if not isinstance(f, SparseCurveFeatures):
        return (f.block_w * g).sum(axis=-1)
    if xp is np:
        terms = np.broadcast_to(f.block_w * g, f.block_row.shape)
        return np.bincount(f.block_row, weights=terms, minlength=len(f)).astype(float)
    return xp.inc_subtensor(xp.zeros(f.area.shape)[f.block_row], f.block_w * g)


def _per_block(value, row):
    """A per-observation value at each flat block (a scalar as it is)."""
    ndim = getattr(value, "ndim", 0)
    if ndim > 1:
        raise SpecError(
            "sparse curve features take one value per observation or a scalar, not draws: use CurveFeatures"
        )
    return value if ndim == 0 else value[row]


def _sized(theta: Mapping, name: str, log_x):
    """A shape parameter at size N: ``theta[name] * x^theta[name_N]``."""
    xp = _ops(log_x, theta[name])
    return theta[name] * xp.exp(theta[f"{name}_N"] * log_x)


def _multipower_mean(theta: Mapping, f: CurveFeatures, log_x):
    l0, a, b = _size_terms(theta, log_x, "log_B", "b_N")
    shape = {"gamma": _sized(theta, "gamma", log_x), "kappa": _sized(theta, "kappa", log_x), "nu": theta["nu"]}
    drop = b * theta.get(DROP_SCALE, 1.0) * multipower_drop(shape, f)
    return l0 + a * f.area ** (-_sized(theta, "alpha", log_x)) - drop


def _annealing_mean(theta: Mapping, f: CurveFeatures, log_x):
    l0, a, c = _size_terms(theta, log_x, "log_C", "c_N")
    return l0 + a * f.area ** (-_sized(theta, "alpha", log_x)) - c * theta.get(DROP_SCALE, 1.0) * f.s2


def _shared_priors(scale: CurveScale) -> dict:
    from pymc_extras.prior import Prior

    spread = max(scale.max_loss - scale.min_loss, 0.05)
    return {
        # L0 at the reference size lies below every loss the runs reached.
        "l0": Prior("Normal", mu=scale.min_loss - 0.25 * spread, sigma=max(0.5 * spread, 0.2)),
        # A S^-alpha is the loss still to lose: of the order of the spread of the losses.
        # (at area 1 the term is of the order of the spread; at area_ref smaller by area_ref^-alpha)
        "log_A": Prior("Normal", mu=float(np.log(spread) - 0.5 * np.log(scale.area_ref)), sigma=1.0),
        "alpha": Prior("LogNormal", mu=float(np.log(0.5)), sigma=0.5),
        # L0's size dependence: Chinchilla's A/N^alpha at ~100M parameters is ~0.5 nats, alpha ~0.3.
        "log_P": Prior("Normal", mu=float(np.log(0.5)), sigma=1.0),
        "p": Prior("LogNormal", mu=float(np.log(0.3)), sigma=0.5),
        "a_N": Prior("Normal", mu=0.0, sigma=0.5),
        # alpha(N) = alpha x^alpha_N: fitted per size, alpha falls ~0.49 -> 0.44 over 25M-400M.
        "alpha_N": Prior("Normal", mu=0.0, sigma=0.1),
    }


def _multipower_priors(scale: CurveScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        **_shared_priors(scale),
        # B x (total decrement / peak) is the loss a full cooldown removes: ~0.05-0.5 nats.
        "log_B": Prior("Normal", mu=float(np.log(0.2)), sigma=1.0),
        "b_N": Prior("Normal", mu=0.0, sigma=0.5),
        # G's slope at the reference rate: ~1 at the peak rate, times lr_drop_ref^-gamma (gamma ~ 0.5).
        "kappa": Prior("LogNormal", mu=float(-0.5 * np.log(scale.lr_drop_ref)), sigma=1.5),
        "nu": Prior("HalfNormal", sigma=2.0),
        "gamma": Prior("LogNormal", mu=float(np.log(0.5)), sigma=0.5),
        # kappa(N), gamma(N): the drop's shape may drift with size (fitted per size it does).
        "kappa_N": Prior("Normal", mu=0.0, sigma=0.3),
        "gamma_N": Prior("Normal", mu=0.0, sigma=0.3),
    }


def _annealing_priors(scale: CurveScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        **_shared_priors(scale),
        "log_C": Prior("Normal", mu=float(np.log(0.1)), sigma=1.5),
        "c_N": Prior("Normal", mu=0.0, sigma=0.5),
    }


_COMMON_SYMBOLS = {
    "l0": r"L_0(N_r)",
    "log_A": r"\log A_r",
    "alpha": r"\alpha",
    "log_P": r"\log P",
    "p": "p",
    "a_N": "a_N",
}
_COMMON_MEANINGS = {
    "l0": "loss after infinite LR area at the reference size",
    "log_A": "log of the LR-area term A S^-alpha at the reference size and reference area",
    "alpha": "exponent of the LR area",
    "log_P": "log of how much L0 falls from the reference size to an infinite model",
    "p": "exponent of model size in L0",
    "a_N": "exponent of model size in A",
    "alpha_N": "exponent of model size in alpha",
}

MULTIPOWER = register_curve_law(
    CurveLaw(
        name="multipower",
        parameters=(
            "l0",
            "log_A",
            "alpha",
            "log_B",
            "kappa",
            "nu",
            "gamma",
            "log_P",
            "p",
            "a_N",
            "b_N",
            "alpha_N",
            "kappa_N",
            "gamma_N",
        ),
        formula=(
            r"L(t) = L_0 + A\,S(t)^{-\alpha} - B \sum_{k \le t} (\eta_{k-1} - \eta_k)\,"
            r"G(\eta_k^{-\gamma} S_k(t)),\quad G(x) = 1 - (1 + \kappa\nu x)^{-1/\nu}"
        ),
        mean=_multipower_mean,
        default_priors=_multipower_priors,
        description=(
            "Luo et al. (2025)'s Multi-Power Law: a power law in the LR area minus a loss drop for every "
            "decrease of the rate, saturating in the area since the decrease; predicts any schedule's curve."
        ),
        references=("Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules",),
        symbols={
            **_COMMON_SYMBOLS,
            "log_B": r"\log B_r",
            "kappa": r"\kappa",
            "nu": r"\nu",
            "gamma": r"\gamma",
            "b_N": "b_N",
        },
        meanings={
            **_COMMON_MEANINGS,
            "log_B": "log amplitude of the loss drop (per unit of peak-rate decrease) at the reference size",
            "kappa": "slope of the drop's saturation G at 0 (C beta), for decrements at the reference rate",
            "nu": "1/beta: how slowly G saturates",
            "gamma": "exponent of the rate in the drop's area scale",
            "b_N": "exponent of model size in B",
            "kappa_N": "exponent of model size in kappa",
            "gamma_N": "exponent of model size in gamma",
        },
    )
)

ANNEALING = register_curve_law(
    CurveLaw(
        name="annealing",
        parameters=("l0", "log_A", "alpha", "log_C", "log_P", "p", "a_N", "c_N", "alpha_N"),
        formula=r"L(t) = L_0 + A\,S(t)^{-\alpha} - C\,S_2(t)",
        mean=_annealing_mean,
        default_priors=_annealing_priors,
        description=(
            "Tissue et al. (2024)'s LR-annealing law: a power law in the LR area minus a term linear in the "
            "momentum-decayed annealing area S2 (momentum 0.999)."
        ),
        references=("Tissue et al. 2024, Scaling Law with Learning Rate Annealing",),
        symbols={**_COMMON_SYMBOLS, "log_C": r"\log C_r", "c_N": "c_N"},
        meanings={
            **_COMMON_MEANINGS,
            "log_C": "log amplitude of the annealing term at the reference size",
            "c_N": "exponent of model size in C",
        },
    )
)
