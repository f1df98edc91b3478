"""``fit(runs, law=...) -> ScalingFit``: spec -> PyMC model -> NUTS draws -> the fitted result;
and ``sample_prior`` for prior-predictive checks."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from .. import _constants as K
from ..data.curves import Curves
from ..data.runs import Runs
from ..errors import RunsWarning, SamplingError, SamplingWarning, SpecError, in_python, option
from ..inference.families import FamilyPooling
from ..inference.initial import MULTIMODAL_GAP, find_mode
from ..inference.sampling import (
    chain_length,
    default_sampler,
    log_prior_draws,
    nuts_options,
    quiet_pymc_logs,
    run_nuts,
    sampling_cores,
)
from ..laws import DEFAULT_LAW, Law, get_law, is_registered, register_law
from ..laws.curves import DEFAULT_CURVE_LAW, available_curve_laws, is_curve_law
from ..noise import DEFAULT_ALLOCATION_SD, DEFAULT_EXTRAPOLATION_SD, DEFAULT_LIKELIHOOD
from .curves import CurveFit, fit_curves
from .families import FamilyFit
from .result import ScalingFit

#: Above this many configurations a fit takes minutes: fit() says so once, with ways to aggregate.
SLOW_FIT_CONFIGS = 20_000


#: NUTS target acceptance of a fit whose law does not ask for another (``Law.target_accept``).
DEFAULT_TARGET_ACCEPT = 0.9


def fit(
    runs: Runs,
    law: str | Law | None = None,
    *,
    law_options: Mapping | None = None,
    priors: Mapping | None = None,
    heteroscedastic: bool = True,
    discrepancy: bool = True,
    likelihood: str = DEFAULT_LIKELIHOOD,
    extrapolation_sd: float = DEFAULT_EXTRAPOLATION_SD,
    allocation_sd: float = DEFAULT_ALLOCATION_SD,
    families: str | None = None,
    pooling: Mapping | None = None,
    family_noise: str = "shared",
    model=None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int = 4,
    cores: int | None = None,
    sampler: str | None = None,
    target_accept: float | None = None,
    init: str = "auto",
    random_seed: int | None = None,
    progressbar: bool = True,
    strict: bool = False,
) -> ScalingFit | FamilyFit | CurveFit:
    """Fit a scaling law to ``runs`` with NUTS and return a :class:`ScalingFit` (a
    :class:`~bayes_scaling.forecast.families.FamilyFit` with ``families``; a
    :class:`~bayes_scaling.forecast.curves.CurveFit` for a curve law (``bs.laws.curves``) on a
    :class:`~bayes_scaling.data.curves.Curves` table).

    Parameters
    ----------
    runs : a validated :class:`~bayes_scaling.data.runs.Runs` table (a DataFrame is validated first).
        A law of the final loss (every built-in law) is fitted to the final checkpoint of each
        run (:meth:`~bayes_scaling.data.runs.Runs.final`), with a :class:`~bayes_scaling.errors.RunsWarning` saying so when
        that leaves rows out; a law that declares ``reads_curves = True`` reads every
        checkpoint. Tables of more than 20,000 configurations warn that the fit takes minutes.
    law : registered law name, or a :class:`~bayes_scaling.laws.registry.Law` (registered under its name
        if it is not yet; see :func:`bayes_scaling.define_law`); default ``chinchilla``, and for a
        Curves table the Multi-Power Law. Ignored when ``model`` is given.
    law_options : the law's settings, e.g. ``{"x": "D", "breaks": 2}`` for ``bnsl``.
    priors : ``{parameter: pymc_extras.prior.Prior}`` overrides of the data-aware defaults.
    heteroscedastic, discrepancy, likelihood : noise model (see :mod:`bayes_scaling.noise`).
    extrapolation_sd : log-loss sd of the drift one decade beyond the fitted range, growing as
        the square root of the distance (forecasts only; the default was estimated from public
        scaling studies; 0 switches it off; :func:`bayes_scaling.calibrate_drift` sizes it and
        ``allocation_sd`` from these runs instead).
    allocation_sd : sd of the drift of log10 N* per decade of compute beyond the fitted range:
        the compute-optimal exponent's uncertainty where the IsoFLOP minima of real studies
        drift from a global law (forecasts only; default: the CRPS-optimal value over public
        IsoFLOP studies, 0.04-0.08 leave-one-data-set-out, ``benchmarks/results/allocation.md``;
        0 switches it off).
    families : the column naming each run's recipe (``"family"``): one model over every family,
        each law parameter shared, pooled (default; hierarchical, non-centred) or free across
        families (see :mod:`bayes_scaling.inference.families`); answers per family come from
        ``fit.family(name)``, and a name not in the data forecasts from the population.
    pooling : ``{parameter: "shared" | "pooled" | "free"}`` with ``families`` (default: all pooled;
        exponents tightly, the rest loosely).
    family_noise : "shared" (default) or "per_family" (each family its own noise scale, pooled).
    model : a :class:`~bayes_scaling.inference.model.ScalingModel` spec, instead of the options above.
    draws, tune, chains : NUTS settings (per chain). draws and tune default to 1000 each; from
        50,000 configurations (``inference.sampling.LARGE_TABLE_CONFIGS``) to 400 draws after 200
        tuning iterations, which there still give an ESS near 1,000 per parameter in a third of
        the time (the diagnostics check it as for any fit).
    cores : chains sampled at once (default: every CPU this process may use, at most
        ``chains``; ``$BAYES_SCALING_CORES`` if set, as in backtest worker processes). The
        draws do not depend on it.
    sampler : "nutpie" (default when installed; compiled with callbacks cached across processes,
        see :mod:`bayes_scaling.inference.sampling`), "pymc" or "numpyro" (named to ``pm.sample``).
    target_accept : NUTS target acceptance; default the law's own (``Law.target_accept``: 0.95
        for ``farseer``, whose slopes trade off in a narrow valley), else 0.9.
    init : where the chains start. "jitter": PyMC's default (prior centres, jittered);
        "multistart": the best of a multi-start search for the posterior mode
        (:func:`bayes_scaling.inference.initial.find_mode`, jittered), for laws whose posteriors have
        several local modes; "auto" (default): "multistart" for laws marked ``multimodal``
        (``bnsl``), else "jitter", and from 50,000 configurations "subsample_laplace": each chain
        starts at a draw from the Laplace approximation at the posterior mode of 5,000 of them
        (:func:`bayes_scaling.inference.model.large_table_start`; jittered prior centres let a
        chain settle in a local mode there). The search's result is kept in ``fit.idata.attrs["init"]``.
    random_seed : same seed, same draws.
    strict : raise :class:`~bayes_scaling.errors.SamplingError` instead of warning when the
        diagnostics fail (divergences, R-hat > 1.01, low ESS).

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> runs = bs.synthetic.chinchilla_runs(n_configs=60, random_seed=1)
    >>> fit = bs.fit(runs, draws=200, tune=300, random_seed=0, progressbar=False)
    >>> bool(fit.compute_optimal(1e24)["params_median"].iloc[0] > 1e10)
    True
    """
    import pymc as pm

    from ..inference.model import ScalingModel, data_scale, large_table_start

    if isinstance(runs, Curves) or (isinstance(law, str) and is_curve_law(law)):
        return _fit_curves(runs, DEFAULT_CURVE_LAW if law is None else law, locals())
    law = DEFAULT_LAW if law is None else law

    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if value is None and name != "chains":  # draws, tune: chosen for the table below
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise SpecError(
                f"{name} must be a whole number >= {least} ({option(name, 1000 if name != 'chains' else 4)}), got {value!r}"
            )
    if families is not None and not isinstance(families, str):
        raise SpecError(
            f"families must name the column of each run's recipe (e.g. families='family'), got {families!r}"
        )
    if isinstance(runs, pd.DataFrame):
        runs = Runs.from_frame(runs, **({} if families is None else {K.FAMILY: families}))
    elif families is not None and families != K.FAMILY:
        raise SpecError(
            f"families='{families}': a Runs table keeps the recipe in its '{K.FAMILY}' column; pass "
            f"families='{K.FAMILY}' (or the DataFrame, whose '{families}' column is then read as the family)"
        )
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a bayes_scaling.Runs or a DataFrame, got {type(runs).__name__}")
    if isinstance(law, Law):
        if law.factory is not None:  # e.g. get_law("power_law").with_options(x="N"): keep its options
            law_options = {**law.options, **dict(law_options or {})}
        law = _registered_name(law)
    spec = (
        model
        if model is not None
        else ScalingModel(
            law=law,
            law_options=dict(law_options or {}),
            priors=dict(priors or {}),
            heteroscedastic=heteroscedastic,
            discrepancy=discrepancy,
            likelihood=likelihood,
            extrapolation_sd=extrapolation_sd,
            allocation_sd=allocation_sd,
            families=None if families is None else FamilyPooling(dict(pooling or {}), noise=family_noise),
        )
    )
    if model is None and families is None and (pooling or family_noise != "shared"):
        raise SpecError("pooling and family_noise apply to a fit over families: pass families='family' as well")
    sampler = sampler or default_sampler()
    if target_accept is None:
        target_accept = spec.law_component.target_accept or DEFAULT_TARGET_ACCEPT
    nuts = nuts_options(sampler, target_accept)
    if not 0.0 < target_accept < 1.0:
        raise SpecError(f"target_accept must lie strictly between 0 and 1 (e.g. 0.95), got {target_accept!r}")
    n_cores = sampling_cores(chains, cores)  # checked before any work
    if init not in ("auto", "jitter", "multistart"):
        raise SpecError(f"init must be 'auto', 'jitter' or 'multistart', got {init!r}")
    auto = init == "auto"
    if auto:
        init = "multistart" if get_law(spec.law).multimodal else "jitter"
    runs = _table_for_law(runs, get_law(spec.law))
    scale = data_scale(runs)
    pm_model = spec.build(runs, scale)
    mode = find_mode(pm_model, random_seed=random_seed) if init == "multistart" else None
    draws, tune = chain_length(draws, tune, len(runs.configs))
    starts = large_table_start(spec, runs, scale, random_seed=random_seed) if auto and init == "jitter" else None
    init = "subsample_laplace" if starts is not None else init
    with pm_model:
        idata = run_nuts(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=n_cores,
            sampler=sampler,
            nuts=nuts,
            random_seed=random_seed,
            progressbar=progressbar,
            initvals=None if mode is None else mode.initvals,
            starts=starts,
        )
        with quiet_pymc_logs():
            prior = pm.sample_prior_predictive(draws=1000, var_names=list(spec.parameters), random_seed=random_seed)
    log_prior = log_prior_draws(pm_model, idata["posterior"].to_dataset())
    for extra in [
        g for g in idata.children if g not in ("posterior", "sample_stats", "observed_data", "constant_data")
    ]:
        del idata[extra]
    idata["sample_stats"] = _text_as_str(idata["sample_stats"].to_dataset())
    idata["prior"] = prior["prior"].to_dataset()
    idata["log_prior"] = log_prior
    idata["runs"] = runs.to_dataset()
    settings = {
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": n_cores,
        "random_seed": random_seed,
        "init": init,
        **{f"nuts_{k}": v for k, v in nuts.items()},
    }
    idata.attrs.update(
        {
            "law": spec.law,
            "spec": spec.to_json(),
            "spec_id": spec.spec_id,
            "scale": json.dumps(scale.to_dict(), sort_keys=True),
            "flops_per_param_token": runs.flops_per_param_token,
            "sampler_settings": json.dumps(settings, sort_keys=True),
            "data_hash": runs.data_hash(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "init": json.dumps(mode.to_dict() if mode is not None else {"method": init}),
        }
    )
    result_type = ScalingFit if spec.families is None else FamilyFit
    result = result_type(idata, spec_dict=spec.to_dict(), scale=scale, flops_per_param_token=runs.flops_per_param_token)
    table = result.diagnostics()
    idata.attrs["diagnostics"] = json.dumps(
        {"n_divergences": table.attrs["n_divergences"], **table.attrs["verdict"].to_dict()}
    )
    if mode is not None and mode.runner_up_gap < MULTIMODAL_GAP:
        warnings.warn(
            f"the posterior has at least two modes: the mode search found one {mode.runner_up_gap:.1f} log-density "
            f"units below the best ({mode.n_at_best} of {mode.n_starts} starts reached the best). The chains "
            f"started at the best mode and may under-represent the other; compare the fit with {option('init', 'jitter')}, or "
            "narrow the priors on where the law bends",
            SamplingWarning,
            stacklevel=2,
        )
    if table.attrs["problems"]:
        message = "sampling diagnostics failed:\n" + "\n".join(f"  - {p}" for p in table.attrs["problems"])
        if strict:
            raise SamplingError(message)
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return result


def _table_for_law(runs: Runs, law: Law) -> Runs:
    """The rows the law is fitted to: a law of the final loss (``reads_curves`` false, every
    built-in law) gets the final checkpoint of each run, said once; a table of more than
    :data:`SLOW_FIT_CONFIGS` configurations warns that the fit will take minutes."""
    if not getattr(law, "reads_curves", False):
        final = runs.final()
        if final is not runs:
            table = runs.run_table
            with_checkpoints = int((table["n_observations"] > 1).sum())
            unfinished = runs.n_runs - final.n_runs
            stopped = (
                f"; {unfinished} run(s) whose every row is flagged not final (stopped early) are left out"
                if unfinished
                else ""
            )
            which = f"{with_checkpoints} runs with checkpoints: " if with_checkpoints else ""
            warnings.warn(
                f"{which}fitting the final checkpoint of each run ({len(final)} of {len(runs)} rows){stopped}; "
                f"law '{law.name}' is a law of the final loss"
                + (". Pass runs.final() to fit these rows without this warning" if in_python() else ""),
                RunsWarning,
                stacklevel=3,
            )
            runs = final
    n_configs = len(runs.configs)
    if n_configs > SLOW_FIT_CONFIGS:
        subsample = (
            "fit a subsample (runs.subset(mask))" if in_python() else "fit the runs up to a compute (--max-flops C)"
        )
        warnings.warn(
            f"{n_configs:,} configurations: this fit will take minutes. To aggregate: replicate seeds of one "
            f"configuration are pooled already; round D to fewer distinct values, or {subsample}",
            RunsWarning,
            stacklevel=3,
        )
    return runs


def _registered_name(law: Law) -> str:
    """The name under which ``law`` is registered (registering it if the name is free)."""
    if not is_registered(law.name):
        register_law(law)
    elif get_law(law.name) is not law and get_law(law.name).factory is None:
        raise SpecError(
            f"another law is registered as '{law.name}'; give yours another name or register it with replace=True"
        )
    return law.name


def _text_as_str(ds):
    """Object-dtype variables (e.g. nutpie's divergence messages, None when absent) as plain
    strings, so that what is saved loads back identically."""
    for name, var in ds.data_vars.items():
        if var.dtype == object:
            ds[name] = var.copy(data=np.vectorize(lambda v: "" if v is None else str(v), otypes=[str])(var.values))
    return ds


def sample_prior(
    runs: Runs, law: str = DEFAULT_LAW, *, model=None, draws: int = 500, random_seed: int | None = None, **spec_options
) -> ScalingFit:
    """Draws from the prior (no data used beyond the data-aware defaults), as a ScalingFit.

    ``sample_prior(runs).predict(...)`` gives prior-predictive loss curves: the check that the
    priors allow only curves of plausible shape.
    """
    import pymc as pm

    from ..inference.model import ScalingModel, data_scale

    spec = model if model is not None else ScalingModel(law=law, **spec_options)
    if spec.families is not None:
        raise SpecError(
            "sample_prior draws the prior of one family's fit; a fit over families has no prior sampler yet"
        )
    scale = data_scale(runs)
    with spec.build(runs, scale):
        idata = pm.sample_prior_predictive(draws=draws, random_seed=random_seed)
    return ScalingFit(
        idata, spec_dict=spec.to_dict(), scale=scale, flops_per_param_token=runs.flops_per_param_token, group="prior"
    )


#: fit()'s options that a curve law reads; the others belong to laws of the final loss.
CURVE_OPTIONS = (
    "priors",
    "draws",
    "tune",
    "chains",
    "cores",
    "sampler",
    "target_accept",
    "random_seed",
    "progressbar",
    "strict",
)


def _fit_curves(curves, law, given: dict) -> CurveFit:
    """fit() of a curve law: the options a curve fit has, the others refused by name."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items() if k not in ("runs", "law")}
    given = {k: v for k, v in given.items() if k in defaults}
    unused = sorted(k for k, v in defaults.items() if k not in CURVE_OPTIONS and given[k] is not v and given[k] != v)
    if unused:
        raise SpecError(f"{unused} apply to laws of the final loss, not to a curve law such as '{law}'")
    if not isinstance(law, str) or not is_curve_law(law):
        raise SpecError(f"a Curves table is fitted by a curve law (one of {available_curve_laws()}), got law={law!r}")
    options = {k: given[k] for k in CURVE_OPTIONS}
    options["draws"] = 1000 if options["draws"] is None else options["draws"]
    options["tune"] = 1000 if options["tune"] is None else options["tune"]
    options["target_accept"] = options["target_accept"] or DEFAULT_TARGET_ACCEPT
    return fit_curves(curves, law, **options)
