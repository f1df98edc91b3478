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
    #: Range of the data (natural logs of N, D and C = kND) and log k: where one-variable laws
    #: centre their amplitudes and place their breaks. NaN in files written before they existed.
    log_n_min: float = float("nan")
    log_n_max: float = float("nan")
    log_d_min: float = float("nan")
    log_d_max: float = float("nan")
    log_c_min: float = float("nan")
    log_c_max: float = float("nan")
    log_k: float = float(np.log(6.0))

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in self.__dict__.items()}

    def log_x_range(self, x: str) -> tuple[float, float]:
        """``(min, max)`` of the natural log of the data's C, N or D."""
        key = {"C": "c", "N": "n", "D": "d"}[x]
        return getattr(self, f"log_{key}_min"), getattr(self, f"log_{key}_max")


@dataclass(frozen=True)
class Law:
    """A scaling law as a registered component.

    Attributes
    ----------
    name : lookup name used by ``fit(..., law=name)`` and stored in saved files.
    parameters : names of the sampled parameters, in order.
    reported : names of the parameters in the usual units (as in the papers), derived per draw.
    formula : the law in maths (LaTeX), shown in summaries and reports.
    log_mean : ``(theta, log_n, log_d, scale) -> log L`` on numpy or pytensor inputs (with a
        fifth argument, log unique tokens, when ``inputs`` holds ``"unique_tokens"``).
    reported_values : ``(theta, scale) -> {name: value}`` giving the usual-unit parameters.
    default_priors : ``scale -> {name: Prior}``, data-aware defaults for every parameter.
    optimal_params : ``(reported, flops, k) -> N*`` in closed form; None: found numerically per
        draw (:func:`bayes_scaling.laws.isoflop_argmin`).
    allocates : whether the law depends on N and D separately (so that a compute-optimal
        allocation exists); one-variable laws (e.g. ``power_law`` in C) do not.
    inputs : the run columns the law reads (``unique_tokens`` for ``data_constrained``).
    options : fixed settings of the law (e.g. ``{"x": "C"}``; None marks a required one),
        changed with :meth:`with_options` and stored in the spec as ``law_options``.
    factory : ``(**options) -> Law`` that builds the law for other options.
    multimodal : whether the posterior often has several local modes (e.g. BNSL's breaks); NUTS
        then starts from a multi-start mode search (:mod:`bayes_scaling.initial`) by default.
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
    allocates: bool = True
    inputs: tuple[str, ...] = ("params", "tokens")
    options: Mapping = field(default_factory=dict)
    factory: Callable[..., Law] | None = None
    multimodal: bool = False

    def log_loss(self, theta: Mapping, log_n, log_d, scale: DataScale, log_unique=None):
        r""":math:`\log L` at (log N, log D) for parameters ``theta`` (numpy or pytensor).

        ``log_unique`` (log unique tokens) is read by laws that need it; without it every
        token is taken as unique (one epoch)."""
        if "unique_tokens" in self.inputs:
            return self.log_mean(theta, log_n, log_d, scale, log_d if log_unique is None else log_unique)
        return self.log_mean(theta, log_n, log_d, scale)

    def with_options(self, **options) -> Law:
        """This law with other ``options`` (e.g. ``get_law("power_law").with_options(x="N")``)."""
        if not options:
            return self
        unknown = sorted(set(options) - set(self.options))
        if unknown or self.factory is None:
            known = sorted(self.options) or "none"
            raise SpecError(f"law '{self.name}' has no option(s) {unknown or sorted(options)}; its options: {known}")
        return self.factory(**{**self.options, **options})

    @property
    def axes(self) -> tuple[str, ...]:
        """The sizes the law's exponents act along: ("N", "D"), or its one variable."""
        return ("N", "D") if self.allocates else (self.options.get("x", "C"),)

    @property
    def missing_options(self) -> list[str]:
        """Options that must be given before the law can be fitted."""
        return [k for k, v in self.options.items() if v is None]


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


# --------------------------------------------------------------------------- chinchilla variants
def _tied_default_priors(scale: DataScale) -> dict:
    priors = _chinchilla_default_priors(scale)
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
        log_mean=lambda theta, log_n, log_d, scale: _chinchilla_log_mean(_tied(theta), log_n, log_d, scale),
        reported_values=lambda theta, scale: _chinchilla_reported(_tied(theta), scale) | {"beta": theta["alpha"]},
        default_priors=_tied_default_priors,
        optimal_params=_chinchilla_optimal,
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
        out = _chinchilla_default_priors(scale)
        del out["E"]
        return out

    return Law(
        name="chinchilla_fixed_e",
        parameters=("log_AN_ref", "log_BD_ref", "alpha", "beta"),
        reported=("A", "B", "alpha", "beta"),
        formula=rf"L(N, D) = {E if E is not None else 'E'} + A N^{{-\alpha}} + B D^{{-\beta}}",
        log_mean=lambda theta, log_n, log_d, scale: _chinchilla_log_mean(with_e(theta), log_n, log_d, scale),
        reported_values=lambda theta, scale: _chinchilla_reported(with_e(theta), scale),
        default_priors=priors,
        optimal_params=_chinchilla_optimal,
        description=(
            "Chinchilla with the irreducible loss E given (law_options={'E': value}), e.g. from a larger "
            "study of the same data: removes the E-amplitude trade-off when few runs are near convergence."
        ),
        references=("Hoffmann et al. 2022, eq. 2",),
        options={"E": E},
        factory=_fixed_e_law,
    )


register_law(_fixed_e_law())


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
    )
)


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
        raise SpecError(f"law '{law}' takes x = 'C', 'N' or 'D' (law_options={{'x': ...}}), got {x!r}")


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
            _log_x(x, log_n, log_d, scale), _log(theta["E"]), theta["log_A_ref"], theta["alpha"], _log_x_ref(scale, x)
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
        options={"x": x},
        factory=_power_law,
    )


register_law(_power_law())


def _bnsl(x="C", breaks=1) -> Law:
    _check_axis("bnsl", x)
    if breaks not in (1, 2, 3):
        raise SpecError(f"bnsl takes 1, 2 or 3 breaks (law_options={{'breaks': n}}), got {breaks!r}")
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
        return laws.logaddexp(_log(theta["E"]), log_red)

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
        factory=_bnsl,
        multimodal=True,
    )


register_law(_bnsl())


# --------------------------------------------------------------------------- data-constrained
def _data_constrained_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        **_chinchilla_default_priors(scale),
        # Muennighoff et al. fitted R*_D = 15.4 and R*_N = 5.3 (epochs / excess parameter ratio
        # at which repeated data or parameters keep 1 - 1/e of their value).
        "log_rstar_D": Prior("Normal", mu=float(np.log(15.4)), sigma=1.0),
        "log_rstar_N": Prior("Normal", mu=float(np.log(5.3)), sigma=1.0),
    }


def _data_constrained_log_mean(theta: Mapping, log_n, log_d, scale: DataScale, log_unique):
    exp = laws._exp_of(theta["log_rstar_D"])
    n_eff, d_eff = laws.data_constrained_sizes(
        log_n,
        log_d,
        log_unique,
        theta["alpha"],
        theta["beta"],
        theta["log_AN_ref"],
        theta["log_BD_ref"],
        exp(theta["log_rstar_N"]),
        exp(theta["log_rstar_D"]),
        scale.log_n_ref,
        scale.log_d_ref,
    )
    return _chinchilla_log_mean(theta, n_eff, d_eff, scale)


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
            _chinchilla_reported(theta, scale)
            | {
                "R_D_star": laws._exp_of(theta["log_rstar_D"])(theta["log_rstar_D"]),
                "R_N_star": laws._exp_of(theta["log_rstar_N"])(theta["log_rstar_N"]),
            }
        ),
        default_priors=_data_constrained_priors,
        description=(
            "Muennighoff et al. (2023): Chinchilla on effective data D' and parameters N'. Repeated epochs "
            "(R_D = D/U_D - 1 over U_D unique tokens) are worth less and less (half-life set by R*_D); "
            "parameters beyond the compute-optimal size for U_D likewise (R*_N). Needs a unique_tokens "
            "column; forecasts without one take every token as unique. The allocation is found numerically."
        ),
        references=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, eq. 5-7",),
        inputs=("params", "tokens", "unique_tokens"),
    )
)


# --------------------------------------------------------------------------- over-training
def _overtrain_refs(scale: DataScale) -> tuple[float, float]:
    """(log C_r, log M_r) at the reference size."""
    return scale.log_k + scale.log_n_ref + scale.log_d_ref, scale.log_d_ref - scale.log_n_ref


def _overtrain_default_priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    priors = _chinchilla_default_priors(scale)
    return {
        "E": priors["E"],
        "log_a_ref": priors["log_AN_ref"],
        "log_b_ref": priors["log_BD_ref"],
        # eta = alpha/2 of a tied Chinchilla law: 95% in [0.025, 0.75].
        "eta": Prior("LogNormal", mu=EXPONENT_PRIOR["mu"] - float(np.log(2.0)), sigma=EXPONENT_PRIOR["sigma"]),
    }


def _overtrain_log_mean(theta: Mapping, log_n, log_d, scale: DataScale):
    log_c_ref, log_m_ref = _overtrain_refs(scale)
    return laws.overtrain_log_loss(
        scale.log_k + log_n + log_d,
        log_d - log_n,
        _log(theta["E"]),
        theta["log_a_ref"],
        theta["log_b_ref"],
        theta["eta"],
        log_c_ref,
        log_m_ref,
    )


def _overtrain_reported(theta: Mapping, scale: DataScale) -> dict:
    log_c_ref, log_m_ref = _overtrain_refs(scale)
    exp, eta = laws._exp_of(theta["eta"]), theta["eta"]
    return {
        "E": theta["E"],
        "a": exp(theta["log_a_ref"] - eta * (log_m_ref - log_c_ref)),
        "b": exp(theta["log_b_ref"] + eta * (log_m_ref + log_c_ref)),
        "eta": eta,
    }


OVERTRAIN = register_law(
    Law(
        name="overtrain",
        parameters=("E", "log_a_ref", "log_b_ref", "eta"),
        reported=("E", "a", "b", "eta"),
        formula=r"L(C, M) = E + \left(a M^{\eta} + b M^{-\eta}\right) C^{-\eta},\quad M = D/N",
        log_mean=_overtrain_log_mean,
        reported_values=_overtrain_reported,
        default_priors=_overtrain_default_priors,
        optimal_params=lambda rep, flops, k: laws.overtrain_optimal_params(flops, rep["a"], rep["b"], rep["eta"], k),
        description=(
            "Gadre et al. (2024): loss against compute C and the token multiplier M = D/N, the form to "
            "extrapolate over-trained runs; the optimal M* = (b/a)^(1/2 eta) is the same at every budget. "
            "Pair it with bayes_scaling.downstream for top-1 error."
        ),
        references=(
            "Gadre et al. 2024, Language models scale reliably with over-training and on downstream tasks, eq. 4",
        ),
    )
)


# --------------------------------------------------------------------------- user-defined
def define_law(
    name: str,
    loss: Callable,
    priors: Mapping,
    *,
    formula: str = "",
    description: str = "",
    replace: bool = False,
) -> Law:
    r"""Register a law from its loss function and a prior per parameter; everything else
    (fitting, noise models, prediction, LOO, stacking, a numeric compute-optimal allocation,
    saving) then works as for the built-in laws.

    ``loss(N, D, **params)`` returns the expected loss; write it with arithmetic operators and
    :func:`bayes_scaling.laws.exp` / :func:`~bayes_scaling.laws.log` so that it works on numpy
    arrays and on PyMC tensors alike. ``priors`` maps each parameter name to a
    ``pymc_extras.prior.Prior``. A fit of this law can be loaded only after the law is defined
    again under the same name.

    Examples
    --------
    >>> from pymc_extras.prior import Prior
    >>> import bayes_scaling as bs
    >>> law = bs.define_law(
    ...     "tied_no_floor",
    ...     lambda N, D, A, B, alpha: A * N**-alpha + B * D**-alpha,
    ...     {"A": Prior("LogNormal", mu=5, sigma=2), "B": Prior("LogNormal", mu=5, sigma=2),
    ...      "alpha": Prior("LogNormal", mu=-1.2, sigma=0.5)},
    ...     replace=True,
    ... )
    >>> law.parameters
    ('A', 'B', 'alpha')
    """
    from pymc_extras.prior import Prior

    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(f"a law's name must be a simple identifier such as 'my_law', got {name!r}")
    if not callable(loss):
        raise SpecError(f"loss must be a function loss(N, D, **params), got {type(loss).__name__}")
    bad = [k for k, v in priors.items() if not isinstance(v, Prior)]
    if not priors or bad:
        raise SpecError(
            f"priors must map every parameter of '{name}' to a pymc_extras.prior.Prior; not a Prior: {bad or 'none given'}"
        )
    parameters = tuple(priors)
    fixed = dict(priors)

    def log_mean(theta, log_n, log_d, scale):
        return laws.log(loss(laws.exp(log_n), laws.exp(log_d), **{p: theta[p] for p in parameters}))

    law = Law(
        name=name,
        parameters=parameters,
        reported=parameters,
        formula=formula or f"L(N, D) = {name}(N, D; {', '.join(parameters)})",
        log_mean=log_mean,
        reported_values=lambda theta, scale: {p: theta[p] for p in parameters},
        default_priors=lambda scale: dict(fixed),
        description=description or "A user-defined law.",
    )
    return register_law(law, replace=replace)


#: The laws every fresh process has (registered above, at import).
_BUILTIN: dict[str, Law] = dict(_REGISTRY)


def is_builtin(law: str | Law) -> bool:
    """Whether ``law`` is one of the package's own laws as a fresh process has it: not defined,
    or replaced, in this session (worker processes of a backtest only have those)."""
    name = law if isinstance(law, str) else law.name
    builtin = _BUILTIN.get(name)
    if builtin is None or _REGISTRY.get(name) is not builtin:
        return False
    return isinstance(law, str) or law is builtin or (builtin.factory is not None and law.factory is builtin.factory)
