"""NUTS: the one place this package samples (nutpie through the private compile cache, or
``pm.sample``), the sampler settings, the cores, and the vectorised log prior of the draws.

The compile caches (:mod:`._compile`) are private and switchable: with
``BAYES_SCALING_COMPILE_CACHE=0`` or :func:`~bayes_scaling.inference.compile_cache` (False),
with an unsupported nutpie, numba, PyTensor or PyMC version, or when a cache fails to compile,
nutpie fits go through ``pm.sample(nuts_sampler="nutpie")`` and the log prior through PyMC's
own compile, with the same settings and seeds.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Mapping

import numpy as np

from ..errors import SpecError


def default_sampler() -> str:
    """``"nutpie"`` when installed (faster, low-rank mass matrix), else PyMC's own NUTS."""
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return "pymc"
    return "nutpie"


def nuts_options(sampler: str, target_accept: float) -> dict:
    if sampler == "nutpie":
        return {"target_accept": target_accept, "adaptation": "low_rank"}
    if sampler in ("pymc", "numpyro"):
        return {"target_accept": target_accept}
    raise SpecError(f"unknown sampler '{sampler}'; use 'nutpie', 'pymc' or 'numpyro'")


def log_prior_draws(model, posterior):
    """The log prior density of each free variable at each draw (``Dataset``, the posterior's
    dims): what ``pm.stats.compute_log_prior`` gives, computed in one call over all draws by a
    vectorised graph, instead of a Python call per draw. The compile cache
    (:mod:`._compile.graph_cache`) keeps the rewritten graph across processes and data sets;
    without it (switched off, unsupported, failed) PyMC compiles it."""
    import pytensor.tensor as pt
    import xarray as xr
    from pymc.model.transform.conditioning import remove_value_transforms
    from pymc.pytensorf import compile as pymc_compile
    from pytensor.graph.replace import vectorize_graph

    from . import _compile

    unconstrained = remove_value_transforms(model)  # the posterior holds constrained values
    rvs = list(unconstrained.free_RVs)
    values = [unconstrained.rvs_to_values[rv] for rv in rvs]
    batched = {v: pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in values}
    terms = unconstrained.logp(vars=rvs, sum=False)
    inputs = list(batched.values())

    def cached():
        from ._compile import graph_cache

        return graph_cache.function(
            inputs,
            vectorize_graph(graph_cache.lift_constants(terms), replace=batched),
            check_bounds=unconstrained.check_bounds,
            on_unused_input="ignore",
        )

    function = _compile.attempt("graphs", cached)
    if function is None:
        with unconstrained:  # PyMC's compile reads check_bounds from the model in context
            function = pymc_compile(inputs, vectorize_graph(terms, replace=batched), on_unused_input="ignore")
    draws = [posterior[rv.name] for rv in rvs]
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    flat = [d.values.reshape(n_samples, *d.shape[2:]).astype(v.dtype) for d, v in zip(draws, values, strict=True)]
    out = function(*flat)
    return xr.Dataset(
        {rv.name: (d.dims, np.asarray(o).reshape(d.shape)) for rv, d, o in zip(rvs, draws, out, strict=True)},
        coords={k: c for k, c in posterior.coords.items() if any(k in d.dims for d in draws)},
    )


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sampling_cores(chains: int, cores: int | None = None) -> int:
    """Chains to sample at once: ``cores``, else ``$BAYES_SCALING_CORES``, else every CPU this
    process may use; at most ``chains``. PyMC's own default takes half the CPUs (it assumes
    hyper-threads): one of this machine's two, which doubled the sampling time."""
    if cores is None and os.environ.get("BAYES_SCALING_CORES"):
        cores = os.environ["BAYES_SCALING_CORES"]
        if not cores.isdigit():
            raise SpecError(f"BAYES_SCALING_CORES must be a positive integer, got {cores!r}")
        cores = int(cores)
    if cores is None:
        cores = available_cpus()
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise SpecError(f"cores must be a positive integer, got {cores!r}")
    return max(1, min(cores, chains))


def run_nuts(
    *,
    draws: int,
    tune: int,
    chains: int,
    sampler: str,
    nuts: Mapping,
    random_seed,
    progressbar: bool,
    initvals=None,
    cores: int | None = None,
):
    """NUTS in the current model context, the one way this package samples.

    ``sampler="nutpie"`` runs the compile cache's ``nutpie_sampler.sample``: what
    ``pm.sample(nuts_sampler="nutpie")`` does (same seeds, log density and groups), with the
    compiled code loaded from numba's cache in later processes and for other data sets of the
    same model structure (about 5 s of a 240-run fit). With the cache off, unsupported or
    failing to compile (see :mod:`._compile`), and for the other samplers, ``pm.sample`` runs
    with ``nuts_sampler`` named.

    Reproducibility: numba's fastmath lets LLVM reassociate floating point differently in a
    fresh JIT and in code loaded from the compile cache; NUTS amplifies the last-bit
    difference, so the first process to compile a model drew different samples from later
    ones. Without fastmath the same seed gives the same draws in every process (no
    measurable cost here: 11.9 s vs 11.8 s for the demo with a warm cache).

    ``initvals`` (a mode, e.g. from :func:`bayes_scaling.inference.initial.find_mode`) start every chain
    there without jitter: a jitter of +-1 on the unconstrained scale can throw a chain into
    another mode of a multimodal posterior (it did for a two-break BNSL: R-hat 1.57).
    """
    import pymc as pm
    import pytensor

    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": sampling_cores(chains, cores),
        "random_seed": random_seed,
        "nuts": dict(nuts),
        "progressbar": progressbar,
    }
    start = {}
    if initvals is not None:
        start = {"initvals": dict(initvals)}
        if sampler == "pymc":
            start["init"] = "adapt_diag"
        if sampler == "nutpie":  # no jitter either, as in the compile cache's nutpie_sampler
            start["compile_kwargs"] = {"jitter_rvs": set()}
    with pytensor.config.change_flags(numba__fastmath=False):
        if sampler == "nutpie":
            from . import _compile

            model = pm.modelcontext(None)
            run = _compile.attempt("nutpie", lambda: _cached_nutpie(model, initvals))
            if run is not None:
                return run(**settings)
        return pm.sample(
            **settings,
            nuts_sampler=sampler,
            quiet=not progressbar,
            compute_convergence_checks=False,
            **start,
        )


def _cached_nutpie(model, initvals):
    """nutpie's compiled model from the compile cache, as a function that samples it."""
    from ._compile import nutpie_sampler

    compiled = nutpie_sampler.compile_model(model, initvals=initvals)
    return functools.partial(nutpie_sampler.sample, model, initvals=initvals, compiled=compiled)


@contextlib.contextmanager
def quiet_pymc_logs():
    """Silence PyMC's INFO lines (e.g. "Sampling: [...]") for internal helper steps."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
