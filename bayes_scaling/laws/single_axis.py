r"""Laws of one variable (C, N or D): a saturating power law and broken neural scaling laws (BNSL)."""

from __future__ import annotations

import numpy as np

from ..errors import SpecError, option
from . import maths as laws
from .chinchilla import EXPONENT_PRIOR
from .registry import DataScale, Law, register_law

# --------------------------------------------------------------------------- one variable
_AXES = ("C", "N", "D")


def _log_x(x: str, log_n, log_d, scale: DataScale):
    if x == "N":
        return log_n + 0.0 * log_d
    if x == "D":
        return log_d + 0.0 * log_n
    return scale.log_k + log_n + log_d


def _check_axis(law: str, x) -> None:
    if x not in _AXES:
        raise SpecError(f"law '{law}' takes x = 'C', 'N' or 'D' ({option('law_options', {'x': 'D'})}), got {x!r}")


def _log_x_ref(scale: DataScale, x: str) -> float:
    lo, hi = scale.log_x_range(x)
    if not np.isfinite(lo + hi):
        raise SpecError("this fit's data scale has no data range (a file from an older version): refit it")
    return 0.5 * (lo + hi)


def _reducible_prior_mu(scale: DataScale) -> float:
    return float(np.log(max(scale.median_loss - 0.75 * scale.min_loss, 0.05 * scale.median_loss)))


def _power_law(x="C") -> Law:
    _check_axis("power_law", x)

    def priors(scale):
        from pymc_extras.prior import Prior

        return {
            "E": Prior("LogNormal", mu=float(np.log(0.75 * scale.min_loss)), sigma=0.25),
            "log_A_ref": Prior("Normal", mu=_reducible_prior_mu(scale), sigma=1.0),
            "alpha": Prior("LogNormal", **EXPONENT_PRIOR),
        }

    def log_mean(theta, log_n, log_d, scale):
        return laws.power_law_log_loss(
            _log_x(x, log_n, log_d, scale),
            laws.log(theta["E"]),
            theta["log_A_ref"],
            theta["alpha"],
            _log_x_ref(scale, x),
        )

    def reported(theta, scale):
        A = laws._exp_of(theta["log_A_ref"])(theta["log_A_ref"] + theta["alpha"] * _log_x_ref(scale, x))
        return {"E": theta["E"], "A": A, "alpha": theta["alpha"]}

    return Law(
        name="power_law",
        parameters=("E", "log_A_ref", "alpha"),
        reported=("E", "A", "alpha"),
        formula=rf"L({x}) = E + A\,{x}^{{-\alpha}}",
        log_mean=log_mean,
        reported_values=reported,
        default_priors=priors,
        description=f"A saturating power law in one variable, here x = {x} (law_options={{'x': 'C' | 'N' | 'D'}}).",
        references=("Hestness et al. 2017, Deep Learning Scaling is Predictable, Empirically",),
        allocates=False,
        symbols={"E": "E", "A": "A", "alpha": r"\alpha", "log_A_ref": r"\ell_A"},
        meanings={
            "E": "irreducible loss (nats/token)",
            "A": f"amplitude of the term A {x}^−α",
            "alpha": f"exponent of {x}: how fast the loss falls with it",
            "log_A_ref": f"log of the A term at the middle of the data's {x} (sampled in place of A)",
        },
        exponents=("alpha",),
        options={"x": x},
        factory=_power_law,
    )


register_law(_power_law())


def _bnsl(x="C", breaks=1) -> Law:
    _check_axis("bnsl", x)
    if breaks not in (1, 2, 3):
        raise SpecError(f"bnsl takes 1, 2 or 3 breaks ({option('law_options', {'breaks': 2})}), got {breaks!r}")
    names = [f"{p}{i}" for i in range(1, breaks + 1) for p in ("c", "f")]
    positions = ["log_d1", *[f"log_gap{i}" for i in range(2, breaks + 1)]]

    def break_positions(theta):
        out = [theta["log_d1"]]
        for i in range(2, breaks + 1):
            out.append(out[-1] + laws._exp_of(theta[f"log_gap{i}"])(theta[f"log_gap{i}"]))
        return out

    def priors(scale):
        from pymc_extras.prior import Prior

        lo, hi = scale.log_x_range(x)
        span = max(hi - lo, 1e-3)
        out = {
            "E": Prior("LogNormal", mu=float(np.log(0.75 * scale.min_loss)), sigma=0.25),
            "log_b_ref": Prior("Normal", mu=_reducible_prior_mu(scale), sigma=1.0),
            "c0": Prior("Normal", mu=0.3, sigma=0.5),
            # The first break inside the data (95% within its range), later ones after it.
            "log_d1": Prior("Normal", mu=float(lo + span / (breaks + 1)), sigma=float(span / 4)),
        }
        for i in range(1, breaks + 1):
            out[f"c{i}"] = Prior("Normal", mu=0.0, sigma=1.0)
            # Sharpness: f -> 0 is a sharp corner; f ~ the data's span is a gentle bend.
            out[f"f{i}"] = Prior("LogNormal", mu=float(np.log(span / 10)), sigma=1.0)
        for i in range(2, breaks + 1):
            out[f"log_gap{i}"] = Prior("Normal", mu=float(np.log(span / (breaks + 1))), sigma=0.75)
        return out

    def log_mean(theta, log_n, log_d, scale):
        ds = break_positions(theta)
        spec = [(theta[f"c{i}"], ds[i - 1], theta[f"f{i}"]) for i in range(1, breaks + 1)]
        log_red = laws.bnsl_log_reducible(
            _log_x(x, log_n, log_d, scale), theta["log_b_ref"], theta["c0"], spec, _log_x_ref(scale, x)
        )
        return laws.logaddexp(laws.log(theta["E"]), log_red)

    def reported(theta, scale):
        exp = laws._exp_of(theta["log_b_ref"])
        ref = _log_x_ref(scale, x)
        ds = break_positions(theta)
        log_b = theta["log_b_ref"] + theta["c0"] * ref
        out = {"E": theta["E"], "c0": theta["c0"]}
        for i in range(1, breaks + 1):
            c, f = theta[f"c{i}"], theta[f"f{i}"]
            log_b = log_b + c * f * laws.softplus((ref - ds[i - 1]) / f)
            out.update({f"c{i}": c, f"d{i}": exp(ds[i - 1]), f"f{i}": f})
        return {"E": out.pop("E"), "b": exp(log_b), **out}

    reported_names = ("E", "b", "c0", *[f"{p}{i}" for i in range(1, breaks + 1) for p in ("c", "d", "f")])
    symbols = {"E": "E", "b": "b", "c0": "c_0", "log_b_ref": r"\ell_b", "log_d1": r"\log d_1"}
    meanings = {
        "E": "irreducible loss (nats/token)",
        "b": f"amplitude of the power law b {x}^−c0 before the first break",
        "c0": f"exponent of {x} before the first break",
        "log_b_ref": f"log of the reducible loss at the middle of the data's {x} (sampled in place of b)",
        "log_d1": "log of the first break's position d_1",
    }
    for i in range(1, breaks + 1):
        symbols |= {f"c{i}": f"c_{i}", f"d{i}": f"d_{i}", f"f{i}": f"f_{i}", f"log_gap{i}": rf"\log g_{i}"}
        meanings |= {
            f"c{i}": f"change of the exponent at break {i} (c{i} < 0: the loss rises after it)",
            f"d{i}": f"position of break {i} (in {x})",
            f"f{i}": f"sharpness of break {i}: near 0 a sharp corner, larger a gentle bend",
        }
        if i > 1:
            meanings[f"log_gap{i}"] = (
                f"log of g_{i} = log d_{i} − log d_{i - 1}, the distance between breaks {i - 1} and {i}"
            )
    factors = r" \prod_{i=1}^{" + str(breaks) + r"} \left(1 + (x/d_i)^{1/f_i}\right)^{-c_i f_i}"
    return Law(
        name="bnsl",
        parameters=("E", "log_b_ref", "c0", *positions, *names),
        reported=reported_names,
        formula=rf"L(x) = E + b\,x^{{-c_0}}{factors},\quad x = {x}",
        log_mean=log_mean,
        reported_values=reported,
        default_priors=priors,
        description=(
            f"Broken neural scaling law in one variable (x = {x}) with {breaks} break(s): a power law whose "
            "slope changes smoothly at each break d_i (sharpness f_i); c_i < 0 makes the loss rise after a "
            "break (double descent). law_options={'x': 'C' | 'N' | 'D', 'breaks': 1 | 2 | 3}."
        ),
        references=("Caballero et al. 2023, Broken Neural Scaling Laws, eq. 1",),
        allocates=False,
        options={"x": x, "breaks": breaks},
        symbols=symbols,
        meanings=meanings,
        exponents=("c0",),
        factory=_bnsl,
        multimodal=True,
    )


register_law(_bnsl())
