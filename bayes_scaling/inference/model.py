r"""The model specification (immutable, serialisable) and how it becomes a ``pm.Model``.

``ScalingModel`` says *what* to fit: the law by name, prior overrides and noise options. It
holds no data and no results; :func:`bayes_scaling.fit` pairs it with runs. Priors are resolved
at build time as user > data-aware default (see :attr:`Law.default_priors` and
:func:`~bayes_scaling.noise.default_noise_priors`) and never written back onto the spec.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .. import _constants as K
from ..data.runs import Runs
from ..errors import SpecError, option
from ..laws import DEFAULT_LAW, DataScale, Law, get_law
from ..laws.point_fit import approach3_arrays
from ..noise import (
    DEFAULT_ALLOCATION_SD,
    DEFAULT_EXTRAPOLATION_SD,
    DEFAULT_LIKELIHOOD,
    NoiseOptions,
    add_likelihood,
    default_noise_priors,
)
from .families import FAMILY_DIM, FamilyPooling, add_family_parameters, per_family
from .sampling import LARGE_TABLE_CONFIGS

#: data_scale's Approach-3 point fit picks its starts on at most this many configurations.
GRID_ROWS = 2000
#: ... and is refined on at most this many (a fixed random subset): the reference sizes need the
#: neighbourhood of the point fit, not its last digits, and 200,000 configurations took 6-10 s.
POINT_FIT_ROWS = 20_000
#: Configurations of the subsample whose posterior mode and curvature start the chains of a
#: large table (:func:`large_table_start`).
START_CONFIGS = 5000


def _as_prior(name: str, value):
    from pymc_extras.prior import Prior

    if isinstance(value, Prior):
        return value
    if isinstance(value, Mapping):
        try:
            return Prior.from_dict(dict(value))
        except Exception as exc:  # pymc_extras raises several types for malformed dicts
            raise SpecError(f"prior for '{name}' could not be read from {dict(value)!r}: {exc}") from None
    raise SpecError(
        f"prior for '{name}' must be a pymc_extras.prior.Prior (e.g. Prior('Normal', mu=0.3, sigma=0.1)), "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True)
class ScalingModel:
    """What to fit: a registered law, prior overrides, and the noise model.

    Parameters
    ----------
    law : name of a registered law (see :func:`bayes_scaling.available_laws`).
    law_options : the law's settings, e.g. ``{"x": "N"}`` for ``power_law`` or ``{"E": 1.69}``
        for ``chinchilla_fixed_e`` (see :attr:`Law.options`).
    priors : ``{parameter: Prior}`` overrides; other parameters keep their data-aware defaults.
    heteroscedastic : seed-noise sd :math:`\\sigma(N) = \\sigma_r (N/N_r)^{-\\gamma}` (else constant).
    discrepancy : per-configuration discrepancy :math:`\\tau` shared by replicate seeds.
    likelihood : name of a registered likelihood of the configuration means (see
        :func:`bayes_scaling.noise.available_likelihoods`, each described by its
        ``description``); default ``DEFAULT_LIKELIHOOD``, Student-t tails, robust to outlying
        runs.
    extrapolation_sd : :math:`\\kappa`, log-loss sd of a drift one decade beyond the fitted N, D,
        C, growing as the square root of the distance (forecasts only; see
        :mod:`bayes_scaling.noise`). 0 switches it off.
    allocation_sd : :math:`\\lambda`, sd of the drift of log10 N* per decade of compute beyond the
        fitted range: each IsoFLOP profile moves along its line, its minimum loss unchanged
        (forecasts only; see :mod:`bayes_scaling.noise.extrapolation`). 0 switches it off.
    extrapolation_mean : :math:`m`, expected log-loss drift per square-root decade beyond the
        fitted range (0 unless sized from the runs by :func:`bayes_scaling.calibrate_drift`).
    families : None (one family), or a :class:`~bayes_scaling.inference.families.FamilyPooling`
        (or its dict): every family of the runs in one model, each law parameter shared, pooled
        or free across them (see :mod:`bayes_scaling.inference.families`).
    """

    law: str = DEFAULT_LAW
    priors: Mapping = field(default_factory=dict)
    law_options: Mapping = field(default_factory=dict)
    heteroscedastic: bool = True
    discrepancy: bool = True
    likelihood: str = DEFAULT_LIKELIHOOD
    extrapolation_sd: float = DEFAULT_EXTRAPOLATION_SD
    allocation_sd: float = DEFAULT_ALLOCATION_SD
    extrapolation_mean: float = 0.0
    families: FamilyPooling | None = None

    def __post_init__(self):
        if not isinstance(self.law_options, Mapping):
            raise SpecError(f"law_options must be a dict such as {{'x': 'N'}}, got {self.law_options!r}")
        object.__setattr__(self, "law_options", MappingProxyType(dict(self.law_options)))
        law = self.law_component
        if law.missing_options:
            raise SpecError(
                f"law '{law.name}' needs law_options {law.missing_options} (e.g. {option('law_options', {'E': 1.69})})"
            )
        for name, value in (("heteroscedastic", self.heteroscedastic), ("discrepancy", self.discrepancy)):
            if not isinstance(value, bool):
                raise SpecError(f"'{name}' must be True or False, got {value!r}")
        noise = self.noise
        known = (*law.parameters, *noise.parameters)
        unknown = sorted(set(self.priors) - set(known))
        if unknown:
            raise SpecError(
                f"priors given for unknown parameter(s) {unknown}; law '{law.name}' with this noise model has {list(known)}"
            )
        priors = {name: _as_prior(name, value) for name, value in self.priors.items()}
        object.__setattr__(self, "priors", MappingProxyType(priors))
        if self.families is not None:
            families = self.families
            if isinstance(families, Mapping):
                families = FamilyPooling.from_dict(families)
            if not isinstance(families, FamilyPooling):
                raise SpecError(f"families must be a FamilyPooling or its dict, got {families!r}")
            families.check(law)
            object.__setattr__(self, "families", families)

    # ------------------------------------------------------------------ views
    @property
    def law_component(self) -> Law:
        return get_law(self.law).with_options(**self.law_options)

    @property
    def noise(self) -> NoiseOptions:
        return NoiseOptions(
            self.heteroscedastic,
            self.discrepancy,
            self.likelihood,
            self.extrapolation_sd,
            self.allocation_sd,
            self.extrapolation_mean,
        )

    @property
    def parameters(self) -> tuple[str, ...]:
        """All sampled parameter names: the law's, then the noise model's."""
        return (*self.law_component.parameters, *self.noise.parameters)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        # law_options only when given, so that specs (and their ids) of laws without options
        # stay what they were.
        options = {"law_options": dict(self.law_options)} if self.law_options else {}
        return {
            "law": self.law,
            **options,
            "priors": {name: prior.to_dict() for name, prior in sorted(self.priors.items())},
            "heteroscedastic": self.heteroscedastic,
            "discrepancy": self.discrepancy,
            "likelihood": self.likelihood,
            "extrapolation_sd": float(self.extrapolation_sd),
            "allocation_sd": float(self.allocation_sd),
            # (only when set: the ids of specs without it stay what they were)
            **({"extrapolation_mean": float(self.extrapolation_mean)} if self.extrapolation_mean else {}),
            **({"families": self.families.to_dict()} if self.families is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ScalingModel:
        known = {"law", "law_options", "priors", "heteroscedastic", "discrepancy", "likelihood", "extrapolation_sd"}
        known |= {"allocation_sd", "extrapolation_mean", "families"}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown keys in model spec: {sorted(unknown)}")
        return cls(
            law=data.get("law", DEFAULT_LAW),
            law_options=dict(data.get("law_options", {})),
            priors=dict(data.get("priors", {})),
            heteroscedastic=data.get("heteroscedastic", True),
            discrepancy=data.get("discrepancy", True),
            likelihood=data.get("likelihood", DEFAULT_LIKELIHOOD),
            # Specs written before the extrapolation term existed were fitted without it.
            extrapolation_sd=data.get("extrapolation_sd", 0.0),
            # ... and those written before the allocation drift without that.
            allocation_sd=data.get("allocation_sd", 0.0),
            extrapolation_mean=data.get("extrapolation_mean", 0.0),
            families=data.get("families"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def spec_id(self) -> str:
        """A short stable id: SHA-256 of the sorted JSON spec."""
        return spec_id(self.to_dict())

    # ------------------------------------------------------------------ building
    def resolved_priors(self, scale: DataScale) -> dict:
        """Every parameter's prior: the user's override, else the data-aware default."""
        defaults = {**self.law_component.default_priors(scale), **default_noise_priors(self.noise)}
        return {name: self.priors.get(name, defaults[name]) for name in self.parameters}

    def build(self, runs: Runs, scale: DataScale | None = None):
        """The ``pm.Model`` for these runs (see :func:`build_model`)."""
        return build_model(self, runs, scale if scale is not None else data_scale(runs))


def spec_id(spec_dict: Mapping) -> str:
    return hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:16]


def data_scale(runs: Runs) -> DataScale:
    r"""Reference sizes and loss range, for centring and for the default priors.

    The references are placed where, in a Gaussian (Laplace) approximation at an Approach-3
    point fit, the N amplitude at :math:`N_r` is uncorrelated with :math:`\alpha` (and the D
    amplitude at :math:`D_r` with :math:`\beta`). With :math:`\ell_N(x_r) = \ell_N(x_0) -
    \alpha (x_r - x_0)`, :math:`x = \log N`, the covariance vanishes at

    .. math::  x_r = x_0 + \operatorname{Cov}(\ell_N(x_0), \alpha) / \operatorname{Var}(\alpha),

    with the covariance from the inverse Fisher information of (log E, l_N, l_D, alpha, beta)
    on the configuration means (weights = seeds per configuration). Falls back to the mean of
    log N, log D when the point fit is degenerate. Above :data:`POINT_FIT_ROWS` configurations
    the point fit runs on a fixed random subset of them (the covariance on all).
    """
    configs = runs.configs
    log_n = np.log(configs[K.PARAMS].to_numpy())
    log_d = np.log(configs[K.TOKENS].to_numpy())
    y = configs["mean_log_loss"].to_numpy()
    x0, z0 = float(log_n.mean()), float(log_d.mean())
    log_n_ref, log_d_ref = x0, z0
    rows = slice(None)
    if len(y) > POINT_FIT_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(y), POINT_FIT_ROWS, replace=False))
    try:
        point = approach3_arrays(log_n[rows], log_d[rows], y[rows], n_starts=4, grid_rows=GRID_ROWS)
        cov = _laplace_covariance(point, log_n, log_d, configs["n_seeds"].to_numpy(), x0, z0)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError):
        cov = None
    if cov is not None and np.all(np.isfinite(cov)) and cov[3, 3] > 0 and cov[4, 4] > 0:
        # Clip to the data range: a reference outside it would be an extrapolation of its own.
        log_n_ref = float(np.clip(x0 + cov[1, 3] / cov[3, 3], log_n.min(), log_n.max()))
        log_d_ref = float(np.clip(z0 + cov[2, 4] / cov[4, 4], log_d.min(), log_d.max()))
    loss = runs.loss
    log_c = np.log(configs[K.FLOPS].to_numpy())
    return DataScale(
        log_n_ref=log_n_ref,
        log_d_ref=log_d_ref,
        min_loss=float(loss.min()),
        median_loss=float(np.median(loss)),
        log_n_noise_ref=float(np.log(runs.params).mean()),
        log_n_min=float(log_n.min()),
        log_n_max=float(log_n.max()),
        log_d_min=float(log_d.min()),
        log_d_max=float(log_d.max()),
        log_c_min=float(log_c.min()),
        log_c_max=float(log_c.max()),
        log_k=float(np.log(runs.flops_per_param_token)),
    )


def _laplace_covariance(point, log_n, log_d, weights, x0, z0):
    """Inverse Fisher information of (log E, l_N(x0), l_D(z0), alpha, beta) at a point fit."""
    if not (point.alpha > 1e-3 and point.beta > 1e-3 and np.isfinite([point.A, point.B, point.E]).all()):
        return None
    term_n = point.A * np.exp(-point.alpha * log_n)
    term_d = point.B * np.exp(-point.beta * log_d)
    mu = point.E + term_n + term_d
    # d log mu / d theta for theta = (log E, l_N, l_D, alpha, beta).
    jac = np.stack(
        [point.E / mu, term_n / mu, term_d / mu, -(log_n - x0) * term_n / mu, -(log_d - z0) * term_d / mu], axis=1
    )
    fisher = jac.T @ (jac * weights[:, None])
    return np.linalg.inv(fisher)


def build_model(spec: ScalingModel, runs: Runs, scale: DataScale, *, mutable_observations: bool = False):
    r"""Build the PyMC model: priors, the law's mean in log space, and the marginal likelihood.

    Inputs enter through ``pm.Data`` (dims ``config``), so they land in the ``constant_data``
    group; the per-configuration mean log loss and within-configuration sum of squares are
    the observed data (see :mod:`bayes_scaling.noise`). With ``mutable_observations`` they
    are ``pm.Data`` too (``mean_log_loss_obs``, ``within_ss_obs``), so one compiled model can
    be refitted to new outcomes on the same design (simulation-based calibration).
    """
    import pymc as pm

    law = spec.law_component
    runs.check_fittable(len(law.parameters), law.name, law.axes, law.extra_inputs, families=spec.families is not None)
    configs = runs.configs
    replicated = np.flatnonzero(configs["n_seeds"].to_numpy() > 1)
    coords = {K.CONFIG: np.arange(len(configs)), "replicated_config": replicated}
    if spec.families is not None:
        family_names, family_codes = np.unique(configs[K.FAMILY].astype(str).to_numpy(), return_inverse=True)
        coords[FAMILY_DIM] = family_names
    priors = spec.resolved_priors(scale)
    with pm.Model(coords=coords) as model:
        data = {
            "log_n": pm.Data("log_n", np.log(configs[K.PARAMS].to_numpy()), dims=K.CONFIG),
            "log_d": pm.Data("log_d", np.log(configs[K.TOKENS].to_numpy()), dims=K.CONFIG),
            "n_seeds": pm.Data("n_seeds", configs["n_seeds"].to_numpy().astype(float), dims=K.CONFIG),
            "mean_log_loss": configs["mean_log_loss"].to_numpy(),
        }
        inputs = {
            name: pm.Data(K.LAW_INPUT_DATA[name], values, dims=K.CONFIG)
            for name, values in runs.law_inputs(law.extra_inputs).items()
        }
        if replicated.size:
            data["within_ss"] = configs["within_ss"].to_numpy()[replicated]
            data["rep_index"] = pm.Data("rep_index", replicated, dims="replicated_config")
        if mutable_observations:
            data["mean_log_loss"] = pm.Data("mean_log_loss_obs", data["mean_log_loss"], dims=K.CONFIG)
            if "within_ss" in data:
                data["within_ss"] = pm.Data("within_ss_obs", data["within_ss"], dims="replicated_config")
        if spec.families is None:
            theta = {name: priors[name].create_variable(name) for name in spec.parameters}
            for name, value in law.reported_values(theta, scale).items():
                if name not in theta and name in law.reported:
                    pm.Deterministic(name, value)
            report_noise = True
        else:
            theta, report_noise = _family_theta(spec, priors, scale, family_codes)
        log_mu = law.log_loss(theta, data["log_n"], data["log_d"], scale, inputs)
        if len(configs) >= LARGE_TABLE_CONFIGS:  # (smaller tables keep the graph, and draws, they had)
            log_mu = _flat_logaddexp(log_mu)
        add_likelihood(theta, log_mu, data, scale.log_n_noise_ref, spec.noise, report=report_noise)
    return model


def _family_theta(spec: ScalingModel, priors: Mapping, scale: DataScale, family_codes: np.ndarray):
    """The parameters of a model over several families (see :mod:`.families`): per family or
    shared, their reported values per family, and each configuration's values (indexed by its
    family). Returns ``(theta per configuration, whether add_likelihood reports the noise)``."""
    import pymc as pm

    from ..noise import reported_noise

    law, noise, pooling = spec.law_component, spec.noise, spec.families
    noise_scale = noise.shared_parameters[0]
    modes = {**pooling.modes(law), **({noise_scale: "pooled"} if pooling.noise == "per_family" else {})}
    theta = add_family_parameters(spec.parameters, priors, modes, pooling.spreads(law, noise_scale))
    reported = {k: v for k, v in law.reported_values(theta, scale).items() if k not in theta and k in law.reported}
    per_family(reported)
    per_config = not noise.discrepancy or pooling.noise == "shared"  # (noise reported per family here)
    if not per_config:
        per_family(reported_noise(theta, noise))
    index = pm.Data("family_index", family_codes, dims=K.CONFIG)
    return {name: value[index] if value.ndim == 1 else value for name, value in theta.items()}, per_config


def _flat_logaddexp(var):
    r"""``var`` with the log-sum-exps at its root written as one log of a sum of exponentials:
    ``logaddexp(a, logaddexp(b, c))`` -> :math:`\log(e^a + e^b + e^c)`, as laws write a sum of
    terms on the log scale. PyTensor's stabilising rewrites turn that back into one
    shifted log-sum-exp of all the terms; the sampler's compile (:mod:`._compile.nutpie_sampler`,
    as nutpie's) rewrites before it differentiates, so value and gradient stay finite for terms
    far beyond :math:`e^{\pm 700}`, and the gradient reuses the value's exponentials where each
    nested ``LogAddExp`` op shifted and exponentiated on its own. The per-configuration work NUTS
    repeats at every leapfrog step shrinks: on 200,000 configurations the Chinchilla law's log
    density and gradient took 27 ms, 17 ms so (a single ``LogAddExp`` of the three terms: 21 ms).
    Applied from :data:`~bayes_scaling.inference.sampling.LARGE_TABLE_CONFIGS` configurations:
    the value is the same to rounding, but NUTS amplifies the last bits, so smaller tables keep
    the draws a seed gave them.
    A gradient PyMC takes before rewriting (its own NUTS, the mode search) overflows only where a
    term exceeds :math:`e^{709}`, a loss beyond 1e308, which the sampler rejects either way."""
    import pytensor.tensor as pt
    from pytensor.tensor.special import LogAddExp

    def terms(x):
        if x.owner is not None and isinstance(x.owner.op, LogAddExp):
            return [t for inner in x.owner.inputs for t in terms(inner)]
        return [x]

    if var.owner is None or not isinstance(var.owner.op, LogAddExp):
        return var
    xs = terms(var)
    return pt.log(functools.reduce(pt.add, [pt.exp(x) for x in xs]))


def large_table_start(spec: ScalingModel, runs: Runs, scale: DataScale, *, random_seed=None):
    r"""Where the chains of a large table start (:class:`~bayes_scaling.inference.sampling.ChainStarts`),
    or None below :data:`~bayes_scaling.inference.sampling.LARGE_TABLE_CONFIGS` configurations.

    Chains started from jittered prior centres can settle in a local mode that the data of a
    large table wall off: on 200,000 configurations one of four chains stayed at E = 1.35,
    nu = 9.5 (R-hat 1.6), the others at E = 1.69, nu = 150. Here the posterior mode is found on
    :data:`START_CONFIGS` configurations drawn at random (the multi-start search of
    :func:`~bayes_scaling.inference.initial.find_mode`: a few seconds), and each chain starts
    at its own draw from the Gaussian (Laplace) approximation there, on the sampler's
    unconstrained scale. That subsample posterior is wider than the full one by about
    :math:`\sqrt{n / n_{sub}}`, so the starts are overdispersed around the full posterior (as
    R-hat wants) but in its basin; and away from the mode the gradients give the sampler's
    first mass matrix its scales (at the mode itself they vanish: starting every chain there
    cost 1,900 leapfrog steps in the first 50 tuning iterations instead of 350).
    """
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from threadpoolctl import threadpool_limits

    from .initial import find_mode
    from .sampling import LARGE_TABLE_CONFIGS, ChainStarts

    n_configs = len(runs.configs)
    if n_configs < LARGE_TABLE_CONFIGS:
        return None
    pick = np.random.default_rng(random_seed).choice(n_configs, min(START_CONFIGS, n_configs), replace=False)
    sub_model = build_model(spec, runs.subset(np.isin(runs.config_index, pick)), scale)
    # L-BFGS on a few parameters calls BLAS on tiny vectors: its threads only cost there (steps
    # 7-15x slower on busy cores, see tests/conftest.py)
    with threadpool_limits(1, user_api="blas"):
        mode = find_mode(sub_model, starts=8, random_seed=random_seed)
        point = make_initial_point_fn(
            model=sub_model, overrides=mode.initvals, jitter_rvs=set(), return_transformed=True
        )(0)
        names = [v.name for v in sub_model.value_vars]
        raveled = DictToArrayBijection.map({name: np.asarray(point[name], dtype=float) for name in names})
        hessian = _hessian(sub_model, raveled)
    try:
        chol = np.linalg.cholesky(np.linalg.inv(hessian))
    except np.linalg.LinAlgError:  # not a strict maximum: each coordinate's own curvature
        chol = np.diag(1 / np.sqrt(np.clip(np.diag(hessian), 1.0, None)))  # sd <= 1, as a jitter
    return ChainStarts(
        mean=raveled.data,
        chol=chol,
        layout=tuple((name, shape) for name, shape, _, _ in raveled.point_map_info),
        mode=dict(mode.initvals),
        n_configs=len(pick),
    )


def _hessian(model, raveled, step: float = 1e-5) -> np.ndarray:
    """Hessian of ``-log p`` (Jacobian included, unconstrained scale) at the raveled point, by
    central differences of the gradient: PyMC's exact ``compile_d2logp`` builds it with a scan
    whose compile took 35 s."""
    from pymc.blocking import DictToArrayBijection

    dlogp = model.compile_dlogp(jacobian=True)

    def gradient(x):
        return np.asarray(dlogp(DictToArrayBijection.rmap(raveled._replace(data=x))), dtype=float)

    x0 = raveled.data
    columns = []
    for i in range(x0.size):
        dx = np.zeros_like(x0)
        dx[i] = step
        columns.append((gradient(x0 + dx) - gradient(x0 - dx)) / (2 * step))
    hessian = -np.array(columns)
    return (hessian + hessian.T) / 2
