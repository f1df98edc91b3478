r"""The law registry: each law is a small component found by name.

A :class:`Law` bundles the maths of :mod:`bayes_scaling.laws.maths` with its parameter names, its
data-aware default priors and (where one exists) its closed-form compute-optimal allocation.
Users select one by name (``fit(runs, law="chinchilla")``) and override any prior with
``priors={"alpha": Prior(...)}``. New forms are added with :func:`register_law`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from . import maths as laws


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


#: The laws every fresh process has (the package's own modules register them at import).
_BUILTIN: dict[str, Law] = {}


def _freeze_builtins() -> None:
    """Record the laws registered so far as the package's own (called once, by ``laws/__init__``)."""
    _BUILTIN.update(_REGISTRY)


def is_registered(name: str) -> bool:
    """Whether a law called ``name`` is registered in this process."""
    return name in _REGISTRY


def is_builtin(law: str | Law) -> bool:
    """Whether ``law`` is one of the package's own laws as a fresh process has it: not defined,
    or replaced, in this session (worker processes of a backtest only have those)."""
    name = law if isinstance(law, str) else law.name
    builtin = _BUILTIN.get(name)
    if builtin is None or _REGISTRY.get(name) is not builtin:
        return False
    return isinstance(law, str) or law is builtin or (builtin.factory is not None and law.factory is builtin.factory)
