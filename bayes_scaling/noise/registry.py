r"""The likelihood registry: each likelihood of the configuration means is a component found by name.

A :class:`Likelihood` bundles everything the package needs to know about one distribution of a
configuration's mean log loss around the law: its extra parameters and their default priors, its
PyMC observation term, its numpy log-density (for PSIS-LOO), and the distribution of a *new*
single-seed run (draws, CDF and log-density, for forecasts and planning). The shared parts of the
noise model (seed noise, discrepancy, the within-configuration term; :mod:`.model`) do not depend
on it. Users select one by name (``fit(runs, likelihood="normal")``); new ones are added with one
file that calls :func:`register_likelihood` (see ``normal.py`` for the smallest example).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..errors import SpecError


@dataclass(frozen=True)
class Likelihood:
    r"""A likelihood of the configuration means as a registered component.

    Below, ``theta`` maps parameter names to draws (broadcastable numpy arrays, e.g. ``(n_draws, 1)``
    or pytensor tensors for :attr:`observe`), ``loc`` is :math:`\log\mu_j`, ``scale`` the sd
    :math:`s_j = \sqrt{\tau^2 + \sigma_j^2/n_j}` of a configuration mean and ``var`` its square.

    Attributes
    ----------
    name : str
        Lookup name used by ``fit(..., likelihood=name)`` and stored in saved files.
    label : str
        A few words for legends and tables, e.g. "Student-t".
    description : str
        One line for summaries and the report: the distribution and what it is good for.
    formula : str
        The distribution of :math:`\bar y_j` in LaTeX, with :math:`s_j` its scale.
    parameters : tuple of str
        The likelihood's own sampled parameters (e.g. ``("nu",)``), after the shared ones.
    default_priors : callable
        ``() -> {name: pymc_extras.prior.Prior}`` for every entry of ``parameters`` (import
        ``Prior`` inside the function: the registry is imported without PyMC).
    observe : callable
        ``(name, theta, loc, var, observed, dims) -> None``: adds the observed variable ``name``
        (the configuration means) to the current PyMC model.
    log_density : callable
        ``(y, theta, loc, scale) -> ndarray``: the numpy log-density of the same term, pointwise.
    new_run_noise : callable
        ``(theta, sd, shape, rng, marginal_only) -> ndarray``: draws of a new single-seed run's
        deviation from the law, of scale ``sd`` (``marginal_only``: see
        :func:`bayes_scaling.noise.new_run_noise`).
    new_run_cdf : callable
        ``(z, theta) -> ndarray``: CDF of a new run's deviation standardised by its ``sd``.
    new_run_log_density : callable
        ``(z, theta) -> ndarray``: log-density of that standardised deviation (subtract
        :math:`\log \mathrm{sd}` for the deviation's own density).
    outlier_probability : callable or None
        ``(y, theta, loc, scale) -> ndarray``: each configuration's probability of being an
        outlier, for likelihoods with an outlier component; None for the others.
    symbols, meanings : dict
        ``{parameter: LaTeX symbol}`` and ``{parameter: one line in words}`` of its parameters,
        for summaries and the report.
    """

    name: str
    label: str
    description: str
    formula: str
    parameters: tuple[str, ...]
    default_priors: Callable[[], dict]
    observe: Callable
    log_density: Callable
    new_run_noise: Callable
    new_run_cdf: Callable
    new_run_log_density: Callable
    outlier_probability: Callable | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)
    meanings: Mapping[str, str] = field(default_factory=dict)


_REGISTRY: dict[str, Likelihood] = {}

#: The likelihood a model has unless told otherwise (robust to an outlying configuration).
DEFAULT_LIKELIHOOD = "student_t"


def register_likelihood(likelihood: Likelihood, *, replace: bool = False) -> Likelihood:
    """Make ``likelihood`` available by name; refuses to shadow an existing name unless ``replace``."""
    if not isinstance(likelihood, Likelihood):
        raise SpecError(f"register_likelihood needs a Likelihood, got {type(likelihood).__name__}")
    if not likelihood.name.isidentifier():
        raise SpecError(f"a likelihood's name must be a simple identifier such as 'laplace', got {likelihood.name!r}")
    if likelihood.name in _REGISTRY and not replace:
        raise SpecError(
            f"a likelihood named '{likelihood.name}' is already registered; pass replace=True to replace it"
        )
    _REGISTRY[likelihood.name] = likelihood
    return likelihood


def unregister_likelihood(name: str) -> Likelihood:
    """Remove the likelihood called ``name`` (one registered in this session, e.g. by a test)."""
    if name in _BUILTIN:
        raise SpecError(f"'{name}' is one of the package's own likelihoods and cannot be unregistered")
    get_likelihood(name)
    return _REGISTRY.pop(name)


def get_likelihood(name: str) -> Likelihood:
    """The registered likelihood called ``name`` (a SpecError lists the known names otherwise)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise SpecError(f"unknown likelihood {name!r}; choose one of {available_likelihoods()}") from None


def available_likelihoods() -> list[str]:
    """Names of the registered likelihoods."""
    return sorted(_REGISTRY)


#: The likelihoods every fresh process has (the package's own modules register them at import).
_BUILTIN: dict[str, Likelihood] = {}


def _freeze_builtins() -> None:
    """Record the likelihoods registered so far as the package's own (called once, by ``noise/__init__``)."""
    _BUILTIN.update(_REGISTRY)


def is_builtin(likelihood: str | Likelihood) -> bool:
    """Whether ``likelihood`` is one of the package's own as a fresh process has it: not
    registered, or replaced, in this session (worker processes of a backtest only have those)."""
    name = likelihood if isinstance(likelihood, str) else likelihood.name
    builtin = _BUILTIN.get(name)
    return (
        builtin is not None
        and _REGISTRY.get(name) is builtin
        and (isinstance(likelihood, str) or likelihood is builtin)
    )
