r"""The law registry: each law is a small component found by name.

A :class:`Law` bundles the maths of :mod:`bayes_scaling.laws.maths` with its parameter names, its
data-aware default priors, (where one exists) its closed-form compute-optimal allocation, and
what a reader needs to know about it: a symbol and a one-line meaning per parameter, which
parameters are exponents, and the allocation rule in maths or words. Tables, plots, the report
and the CLI ask the law for these; none of them knows a law by name.
Users select one by name (``fit(runs, law="chinchilla")``) and override any prior with
``priors={"alpha": Prior(...)}``. New forms are added with :func:`register_law`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import _constants as K
from ..errors import SpecError
from . import maths as laws


@dataclass(frozen=True)
class DataScale:
    """What the model may know of the data: reference sizes and the loss range.

    ``log_n_ref``, ``log_d_ref``: where the law's amplitudes are sampled (see
    :func:`bayes_scaling.inference.model.data_scale`); ``log_n_noise_ref``: the size at which the seed-noise
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
    r"""A scaling law as a registered component.

    Attributes
    ----------
    name : lookup name used by ``fit(..., law=name)`` and stored in saved files.
    parameters : names of the sampled parameters, in order.
    reported : names of the parameters in the usual units (as in the papers), derived per draw.
    formula : the law in maths (LaTeX), shown in summaries and reports.
    log_mean : ``(theta, log_n, log_d, scale, **inputs) -> log L`` on numpy or pytensor inputs;
        ``inputs`` are the log values of the law's :attr:`extra_inputs` by keyword.
    reported_values : ``(theta, scale) -> {name: value}`` giving the usual-unit parameters.
    default_priors : ``scale -> {name: Prior}``, data-aware defaults for every parameter.
    optimal_params : ``(reported, flops, k) -> N*`` in closed form; None: found numerically per
        draw (:func:`bayes_scaling.laws.isoflop_argmin`).
    allocates : whether the law depends on N and D separately (so that a compute-optimal
        allocation exists); one-variable laws (e.g. ``power_law`` in C) do not.
    inputs : the run columns the law reads: ``("params", "tokens")`` and any of
        ``_constants.LAW_INPUT_DEFAULTS`` (``unique_tokens`` for ``data_constrained``).
    options : fixed settings of the law (e.g. ``{"x": "C"}``; None marks a required one),
        changed with :meth:`with_options` and stored in the spec as ``law_options``.
    factory : ``(**options) -> Law`` that builds the law for other options.
    multimodal : whether the posterior often has several local modes (e.g. BNSL's breaks); NUTS
        then starts from a multi-start mode search (:mod:`bayes_scaling.inference.initial`) by default.
    symbols : ``{name: LaTeX}`` display symbol of a parameter (sampled, reported or derived, e.g.
        ``{"alpha": r"\alpha", "log_AN_ref": r"\ell_N"}``); see :meth:`symbol` for the default.
    meanings : ``{name: text}`` one line saying what a parameter is, in plain text.
    exponents : reported parameters that are exponents of a size: the forecast's reach depends on
        them, so a wide interval of one is worth a warning.
    allocation : the compute-optimal rule in LaTeX when it has a closed form (``optimal_params``);
        empty when it is found numerically or does not exist (see :attr:`allocation_rule`).
    derived : ``reported -> {name: value}``, quantities the summary adds after the reported
        values (Chinchilla's allocation exponents ``a``, ``b``), or None.
    allocation_ratios : ``(low, high)`` tokens per parameter D/N between which a numerical
        allocation is searched (None: 0.01 to 1e6); a minimum at either end is no optimum (NaN).
        For a law that is nonsense outside the ratios it was fitted on (Farseer's published fit
        falls without end towards D/N << 1).
    floor : whether the loss at N = D = 1e100 is the law's irreducible loss (its limit at
        infinite N and D, which planners compare with a target); False for a law whose limit
        depends on signs the data rarely pin (Farseer's nested power laws).
    axis : the one size a law that does not allocate acts along when it has no ``x`` option
        (ParScale's law is a function of N at fixed data).
    target_accept : the NUTS target acceptance a fit of this law uses unless told otherwise (None:
        the package's 0.9); for posteriors with a narrow curved valley that 0.9 leaves divergent.
    earlier : ``(parameters, draws -> {parameter: draws})``: the sampled parameters of an earlier
        parameterisation of the same law and the map from their draws to today's (numpy or xarray
        arrays), so that fits saved before the change still load; None when it never changed.

    The default priors are checked against ``parameters`` when they are first built (a
    :class:`~bayes_scaling.errors.SpecError` names the law and the names that differ), not at
    import: building ``Prior`` objects imports PyMC.
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
    symbols: Mapping[str, str] = field(default_factory=dict)
    meanings: Mapping[str, str] = field(default_factory=dict)
    exponents: tuple[str, ...] = ()
    allocation: str = ""
    derived: Callable[[Mapping], dict] | None = None
    allocation_ratios: tuple[float, float] | None = None
    target_accept: float | None = None
    floor: bool = True
    axis: str = "C"
    earlier: tuple[tuple[str, ...], Callable[[Mapping], dict]] | None = None

    def __post_init__(self):
        # Check the defaults where they are made (the first build), without importing PyMC here.
        build = getattr(self.default_priors, "build", self.default_priors)  # (dataclasses.replace: re-check)
        object.__setattr__(self, "default_priors", _CheckedPriors(self.name, self.parameters, build))
        unknown = [i for i in self.inputs if i not in (K.PARAMS, K.TOKENS, *K.LAW_INPUT_DEFAULTS)]
        if unknown or self.inputs[:2] != (K.PARAMS, K.TOKENS):
            raise SpecError(
                f"law '{self.name}' declares inputs {list(self.inputs)}: they start with 'params', 'tokens', and the "
                f"others must be among {sorted(K.LAW_INPUT_DEFAULTS)} (unknown: {unknown})"
            )

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """The inputs the law reads besides N and D (e.g. ``("unique_tokens",)``)."""
        return tuple(name for name in self.inputs if name not in ("params", "tokens"))

    def log_loss(self, theta: Mapping, log_n, log_d, scale: DataScale, inputs: Mapping | None = None):
        r""":math:`\log L` at (log N, log D) for parameters ``theta`` (numpy or pytensor).

        ``inputs``: the log values of the law's :attr:`extra_inputs` by name, e.g.
        ``{"unique_tokens": log U}``, the one path by which they reach the maths. One not given
        (or None) takes its default (``_constants.LAW_INPUT_DEFAULTS``: U = D, every token
        unique; one parallel stream; ...)."""
        if not self.extra_inputs:
            return self.log_mean(theta, log_n, log_d, scale)
        given = dict(inputs or {})
        logs = {K.PARAMS: log_n, K.TOKENS: log_d}
        values = {}
        for name in self.extra_inputs:
            if given.get(name) is not None:
                values[name] = given[name]
            elif isinstance(K.LAW_INPUT_DEFAULTS[name], str):
                values[name] = logs[K.LAW_INPUT_DEFAULTS[name]]
            else:  # a constant, broadcast like N
                values[name] = 0.0 * log_n + float(np.log(K.LAW_INPUT_DEFAULTS[name]))
        return self.log_mean(theta, log_n, log_d, scale, **values)

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
        return ("N", "D") if self.allocates else (self.options.get("x", self.axis),)

    @property
    def variables(self) -> str:
        """What a law that does not allocate is a function of, in words ("N and parallel_streams")."""
        return " and ".join([self.axes[0], *self.extra_inputs]) if not self.allocates else "N and D"

    @property
    def missing_options(self) -> list[str]:
        """Options that must be given before the law can be fitted."""
        return [k for k, v in self.options.items() if v is None]

    def symbol(self, name: str) -> str:
        r"""The LaTeX symbol of parameter ``name``: from :attr:`symbols`, else the name itself
        (``E``, ``\alpha`` for ``alpha``, ``\mathrm{log\_AN\_ref}``)."""
        if name in self.symbols:
            return self.symbols[name]
        if len(name) == 1 and name.isalpha():
            return name
        if name in _GREEK:
            return "\\" + name
        return r"\mathrm{" + _latex_text(name) + "}"

    def meaning(self, name: str) -> str:
        """One line saying what parameter ``name`` is ("" when the law does not say)."""
        return self.meanings.get(name, "")

    @property
    def allocation_kind(self) -> str:
        """``"closed_form"``, ``"numerical"`` or ``"not_applicable"`` (a law of one variable)."""
        if not self.allocates:
            return "not_applicable"
        return "closed_form" if self.allocation else "numerical"

    @property
    def allocation_rule(self) -> str:
        """How the law splits a compute budget C into N and D: the LaTeX of :attr:`allocation`,
        else a sentence saying that it is found numerically or is not applicable."""
        kind = self.allocation_kind
        if kind == "not_applicable":
            return (
                f"not applicable: the {self.name} law is a function of {self.variables} alone, so it says nothing "
                "about how to split a compute budget into N and D"
            )
        if kind == "numerical":
            return (
                "found numerically for each posterior draw: the N that minimises the loss along the "
                "IsoFLOP line C = kND"
            )
        return self.allocation


_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau phi chi psi omega".split()
)


def _latex_text(text: str) -> str:
    """``text`` safe inside ``\\mathrm{...}``: LaTeX's special characters escaped."""
    return "".join("\\" + c if c in "_&%$#{}" else c for c in text)


class _CheckedPriors:
    """``Law.default_priors`` that checks, each time it builds them, that the defaults are for
    exactly the law's parameters."""

    def __init__(self, law: str, parameters: tuple[str, ...], build: Callable[[DataScale], dict]):
        self.law, self.parameters, self.build = law, tuple(parameters), build

    def __call__(self, scale: DataScale) -> dict:
        priors = self.build(scale)
        _check_names(self.law, "its default priors", list(priors), self.parameters, "parameters")
        return priors


def _check_names(law: str, what: str, got, expected, against: str) -> None:
    missing = [n for n in expected if n not in set(got)]
    extra = [n for n in got if n not in set(expected)]
    if missing or extra:
        raise SpecError(
            f"law '{law}': {what} do not match its {against} {list(expected)}: "
            f"missing {missing or 'none'}, not among them {extra or 'none'}"
        )


#: A data scale to probe a law's functions with at registration (any finite values will do).
_PROBE_SCALE = DataScale(
    log_n_ref=float(np.log(3e8)),
    log_d_ref=float(np.log(6e9)),
    min_loss=2.0,
    median_loss=3.0,
    log_n_noise_ref=float(np.log(3e8)),
    log_n_min=float(np.log(1e7)),
    log_n_max=float(np.log(1e10)),
    log_d_min=float(np.log(1e8)),
    log_d_max=float(np.log(1e11)),
    log_c_min=float(np.log(1e17)),
    log_c_max=float(np.log(1e22)),
)


def check_law(law: Law) -> None:
    """Check that ``law``'s parts agree: its reported values (probed with numpy) are exactly
    :attr:`Law.reported`; its exponents are reported values; a closed-form allocation only for a
    law of N and D. A :class:`~bayes_scaling.errors.SpecError` names the law and the names."""
    if not law.parameters or len(set(law.parameters)) != len(law.parameters):
        raise SpecError(f"law '{law.name}' needs distinct parameter names, got {list(law.parameters)}")
    theta = {name: np.full(2, 0.5) for name in law.parameters}
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = law.reported_values(theta, _PROBE_SCALE)
    except Exception as exc:  # a law's own function: any failure is a broken law
        raise SpecError(
            f"law '{law.name}': reported_values failed on numpy draws of its parameters {list(law.parameters)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    _check_names(law.name, "its reported values", list(values), law.reported, "reported names")
    if law.derived is not None:
        clash = sorted(set(law.derived({k: np.asarray(v) for k, v in values.items()})) & set(law.reported))
        if clash:
            raise SpecError(f"law '{law.name}': its derived values {clash} shadow reported values of the same name")
    not_reported = [n for n in law.exponents if n not in law.reported]
    if not_reported:
        raise SpecError(
            f"law '{law.name}': its exponents {not_reported} are not among its reported names {list(law.reported)}"
        )
    if law.allocation and not law.allocates:
        raise SpecError(f"law '{law.name}' is a function of one variable: it cannot have a compute-optimal allocation")


#: The law a fit uses unless told otherwise.
DEFAULT_LAW = "chinchilla"

_REGISTRY: dict[str, Law] = {}


def register_law(law: Law, *, replace: bool = False) -> Law:
    """Make ``law`` available by name; refuses to shadow an existing name unless ``replace``.

    The law is checked first (:func:`check_law`): its reported values must be exactly its
    ``reported`` names. Its default priors are checked against its parameters when first built.
    """
    if not isinstance(law, Law):
        raise SpecError(f"register_law needs a Law, got {type(law).__name__}")
    if law.name in _REGISTRY and not replace:
        raise SpecError(f"a law named '{law.name}' is already registered; pass replace=True to replace it")
    check_law(law)
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
    symbols: Mapping[str, str] | None = None,
    meanings: Mapping[str, str] | None = None,
    exponents: tuple[str, ...] = (),
    replace: bool = False,
) -> Law:
    r"""Register a law from its loss function and a prior per parameter; everything else
    (fitting, noise models, prediction, LOO, stacking, a numeric compute-optimal allocation,
    saving) then works as for the built-in laws.

    ``loss(N, D, **params)`` returns the expected loss; write it with arithmetic operators and
    :func:`bayes_scaling.laws.exp` / :func:`~bayes_scaling.laws.log` so that it works on numpy
    arrays and on PyMC tensors alike. ``priors`` maps each parameter name to a
    ``pymc_extras.prior.Prior``; the parameters ``loss`` takes after N and D must be exactly
    these names. ``formula`` (LaTeX), ``symbols`` (``{name: LaTeX}``), ``meanings`` (``{name:
    one line}``) and ``exponents`` (names of the exponents) are shown in summaries and reports.
    A fit of this law can be loaded only after the law is defined again under the same name.

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
    _check_loss_signature(name, loss, parameters)

    def log_mean(theta, log_n, log_d, scale):
        return laws.log(loss(laws.exp(log_n), laws.exp(log_d), **{p: theta[p] for p in parameters}))

    law = Law(
        name=name,
        parameters=parameters,
        reported=parameters,
        formula=formula or rf"L(N, D) = \mathrm{{{_latex_text(name)}}}(N, D)",
        log_mean=log_mean,
        reported_values=lambda theta, scale: {p: theta[p] for p in parameters},
        default_priors=lambda scale: dict(fixed),
        description=description or "A user-defined law.",
        symbols=dict(symbols or {}),
        meanings=dict(meanings or {}),
        exponents=tuple(exponents),
    )
    return register_law(law, replace=replace)


def _check_loss_signature(name: str, loss: Callable, parameters: tuple[str, ...]) -> None:
    """The parameters ``loss(N, D, **params)`` names after N and D must be those given priors
    (a function taking ``**params`` is not checked)."""
    try:
        signature = inspect.signature(loss)
    except (TypeError, ValueError):  # builtins and some C functions have none: nothing to check
        return
    kinds = [p.kind for p in signature.parameters.values()]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return
    named = [p.name for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    _check_names(name, "the parameters of loss after N and D", named[2:], parameters, "priors' names")


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
