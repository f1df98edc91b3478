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
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._threads import available_cpus
from ..errors import SamplingWarning, SpecError

#: Draws and tuning iterations per chain when fit() is not told.
DEFAULT_DRAWS = 1000
DEFAULT_TUNE = 1000
#: From this many configurations a table is large: chains start from a Laplace approximation
#: on a subsample (:func:`~bayes_scaling.inference.model.large_table_start`) and, unless told,
#: run :data:`LARGE_TABLE_DRAWS` draws after :data:`LARGE_TABLE_TUNE` tuning iterations.
LARGE_TABLE_CONFIGS = 50_000
#: A large table's posterior is close to Gaussian and its chains start in its basin, so short
#: chains suffice: on 200,000 configurations 4 x 350 draws after 200 tuning iterations gave a
#: bulk ESS of 2,400-3,300 and a tail ESS of 900-1,200 for every parameter, R-hat <= 1.005, no
#: divergence. 400 draws leave room for the power-scaling check, whose noise grows as draws
#: shrink (prior sensitivities of 0.02-0.03 at 1,400 draws, one above its 0.05 threshold at
#: 1,000). The default 1000 + 1000 would take ~3x as long (benchmarks/results/large_table.md).
#: The fit's own diagnostics check R-hat and ESS as for any fit, and warn if they fail.
LARGE_TABLE_DRAWS = 400
LARGE_TABLE_TUNE = 200
#: NUTS tree depth limit when chains start from :class:`ChainStarts` (default 10: up to 1,023
#: leapfrog steps). Before the mass matrix has the posterior's scales (1,000-fold apart on a
#: large table) the first 25 tuning iterations of a chain took up to 110 steps each, 2,700 in
#: all; capped at 63 they took 500, halving the tuning time on 200,000 configurations. Tuned
#: draws there take 7 steps (depth 3), so the cap does not bind after tuning; the ESS check
#: would show it if it did.
LARGE_TABLE_MAXDEPTH = 6


def chain_length(draws: int | None, tune: int | None, n_configs: int) -> tuple[int, int]:
    """``(draws, tune)`` per chain: as given, else :data:`DEFAULT_DRAWS` / :data:`DEFAULT_TUNE`,
    or :data:`LARGE_TABLE_DRAWS` / :data:`LARGE_TABLE_TUNE` from :data:`LARGE_TABLE_CONFIGS`
    configurations."""
    large = n_configs >= LARGE_TABLE_CONFIGS
    if draws is None:
        draws = LARGE_TABLE_DRAWS if large else DEFAULT_DRAWS
    if tune is None:
        tune = LARGE_TABLE_TUNE if large else DEFAULT_TUNE
    return draws, tune


@dataclass(frozen=True)
class ChainStarts:
    """Where each chain starts: a draw (seeded per chain) from a Gaussian with ``mean`` and
    Cholesky factor ``chol`` on the sampler's unconstrained scale, laid out as ``layout``
    (value variable names and shapes, as ``DictToArrayBijection`` ravels them). ``mode``: the
    Gaussian's centre on the constrained scale (``initvals``), where samplers that cannot
    start each chain elsewhere start them all. ``n_configs``: the configurations it came from."""

    mean: np.ndarray
    chol: np.ndarray
    layout: tuple
    mode: dict
    n_configs: int

    def point(self, seed) -> dict[str, np.ndarray]:
        """One chain's start, by value variable name (unconstrained)."""
        x = self.mean + self.chol @ np.random.default_rng(seed).standard_normal(self.mean.size)
        out, at = {}, 0
        for name, shape in self.layout:
            size = int(np.prod(shape, dtype=int))
            out[name] = x[at : at + size].reshape(shape)
            at += size
        return out

    def flat(self, seed, names, slices) -> np.ndarray:
        """One chain's start as nutpie's flat unconstrained point (``names`` and ``slices`` of
        its layout)."""
        point = self.point(seed)
        out = np.empty(slices[-1].stop if slices else 0)
        for name, where in zip(names, slices, strict=True):
            out[where] = np.ravel(point[name])
        return out


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
    # (a density over a whole vector, e.g. ZeroSumNormal's, is one value a draw: dims chain, draw)
    dims = [d.dims[: 2 + np.ndim(o) - 1] for d, o in zip(draws, out, strict=True)]
    return xr.Dataset(
        {
            rv.name: (dim, np.asarray(o).reshape(d.shape[: len(dim)]))
            for rv, d, o, dim in zip(rvs, draws, out, dims, strict=True)
        },
        coords={k: c for k, c in posterior.coords.items() if any(k in dim for dim in dims)},
    )


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
    starts: ChainStarts | None = None,
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

    ``progressbar`` with stderr not a terminal (a log file, CI, a Slurm job), where no bar can be
    drawn: plain lines with the draws done and an ETA instead (:class:`PlainProgress`; from
    nutpie's progress callback or PyMC's per-draw callback; a ``pm.sample`` run of nutpie
    without the compile cache shows PyMC's own progress).

    ``initvals`` (a mode, e.g. from :func:`bayes_scaling.inference.initial.find_mode`) start every chain
    there without jitter: a jitter of +-1 on the unconstrained scale can throw a chain into
    another mode of a multimodal posterior (it did for a two-break BNSL: R-hat 1.57).
    ``starts`` (a large table's, :func:`bayes_scaling.inference.model.large_table_start`): each chain
    starts at its own draw of it (nutpie through the compile cache; the other ways start every
    chain at its centre, ``starts.mode``), and trees are limited to depth
    :data:`LARGE_TABLE_MAXDEPTH` unless ``nuts`` says otherwise.
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
    if starts is not None and sampler in ("nutpie", "pymc"):
        settings["nuts"].setdefault("maxdepth" if sampler == "nutpie" else "max_treedepth", LARGE_TABLE_MAXDEPTH)
    # Not a terminal (a log, CI, Slurm): no bar can be drawn there, so plain lines instead.
    plain = progressbar and sampler in ("nutpie", "pymc") and not _is_terminal(sys.stderr)
    with pytensor.config.change_flags(numba__fastmath=False):
        if sampler == "nutpie":
            from . import _compile

            model = pm.modelcontext(None)
            run = _compile.attempt("nutpie", lambda: _cached_nutpie(model, initvals, starts))
            if run is not None:
                if not plain:
                    return run(**settings)
                lines = PlainProgress(chains * (max(tune, 1) + draws), chains=chains, cores=settings["cores"])
                nuts = {**settings["nuts"], "progress_callback": lines.nutpie, "progress_rate": PROGRESS_RATE_MS}
                return lines.finish(run(**{**settings, "nuts": nuts, "progressbar": False}))
        if initvals is None and starts is not None:  # pm.sample starts every chain at one point
            initvals = starts.mode
        start = {}
        if initvals is not None:
            start = {"initvals": dict(initvals)}
            if sampler == "pymc":
                start["init"] = "adapt_diag"
            if sampler == "nutpie":  # no jitter either, as in the compile cache's nutpie_sampler
                start["compile_kwargs"] = {"jitter_rvs": set()}
        if plain and sampler == "pymc":  # (PyMC's nutpie path draws its own progress: no callback there)
            lines = PlainProgress(chains * (tune + draws), chains=chains, cores=settings["cores"])
            idata = pm.sample(
                **{**settings, "progressbar": False},
                nuts_sampler=sampler,
                compute_convergence_checks=False,
                callback=lines.pymc,
                **start,
            )
            return lines.finish(idata)
        return pm.sample(
            **settings,
            nuts_sampler=sampler,
            quiet=not progressbar,
            compute_convergence_checks=False,
            **start,
        )


#: Plain progress (stderr not a terminal): a line when at least this share of the draws *and*
#: this many seconds have passed since the last line (whichever is rarer: every 10% of a
#: 20-minute fit, every 30 s of a 2-minute one), a first line when sampling starts and a last
#: one when it ends.
PROGRESS_FRACTION = 0.1
PROGRESS_SECONDS = 30.0
#: How often nutpie hands the progress of its chains to :class:`PlainProgress` (ms).
PROGRESS_RATE_MS = 1000


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class PlainProgress:
    """Progress of NUTS as plain lines on stderr, for logs where no progress bar can be drawn::

        sampling: 4 chains x 2000 draws (tuning included) on 2 cores
        sampling: 1200/8000 draws (15%), 42 s elapsed, ETA 4 min
        sampling: 8000/8000 draws (100%), 4 min elapsed, ETA 0 s

    The ETA extrapolates the rate so far (tuning draws included, which are often the slower).
    ``nutpie`` and ``pymc`` are the two samplers' callbacks; both may run on another thread.
    """

    def __init__(self, total: int, *, chains: int, cores: int, stream=None):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.start = self.last_time = time.monotonic()
        self.last_done = 0
        self.done = 0
        self.finished = False
        self._lock = threading.Lock()
        self._write(
            f"sampling: {chains} chains x {self.total // max(chains, 1)} draws (tuning included) on {cores} cores"
        )

    def update(self, done: int) -> None:
        """``done`` draws of all chains so far (tuning included)."""
        with self._lock:
            if self.finished:
                return
            now = time.monotonic()
            final = done >= self.total
            due = done - self.last_done >= PROGRESS_FRACTION * self.total and now - self.last_time >= PROGRESS_SECONDS
            if not (final or due):
                return
            elapsed = now - self.start
            eta = elapsed * (self.total - done) / done if done else float("nan")
            self._write(
                f"sampling: {done}/{self.total} draws ({100 * done / self.total:.0f}%), "
                f"{_duration(elapsed)} elapsed, ETA {_duration(eta) if done else 'unknown'}"
            )
            self.last_time, self.last_done, self.finished = now, done, final

    def nutpie(self, progress) -> None:
        """nutpie's ``progress_callback``: a list of ``ChainProgress``, one per chain."""
        self.update(sum(int(chain.finished_draws) for chain in progress))

    def pymc(self, trace=None, draw=None) -> None:
        """``pm.sample``'s ``callback``: called once per draw of any chain, tuning included."""
        with self._lock:
            self.done += 1
            done = self.done
        self.update(done)

    def finish(self, result):
        """The last line (if the callbacks did not give it) once sampling has returned; ``result``
        passes through."""
        self.update(self.total)
        return result

    def _write(self, line: str) -> None:
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken stream must not stop sampling
            pass


def _cached_nutpie(model, initvals, starts=None):
    """nutpie's compiled model from the compile cache, as a function that samples it; with
    ``starts``, each chain starts at its own draw of them (nutpie calls the model's initial point
    function with each chain's seed)."""
    import dataclasses

    from ._compile import nutpie_sampler

    compiled = nutpie_sampler.compile_model(model, initvals=initvals)
    names, slices, _ = compiled.shape_info
    free = [(name, where) for name, where in zip(names, slices, strict=True) if where.stop <= compiled.n_dim]
    names, slices = [n for n, _ in free], [w for _, w in free]
    sizes = {name: int(np.prod(shape, dtype=int)) for name, shape in (starts.layout if starts is not None else ())}
    fits = [sizes.get(name) for name in names] == [w.stop - w.start for w in slices]
    if starts is not None and initvals is None and fits:  # (else nutpie's own start)
        compiled = dataclasses.replace(compiled, initial_point_func=lambda seed: starts.flat(seed, names, slices))
    elif starts is not None and initvals is None:  # a layout this code does not know: say so
        warnings.warn(
            "the large table's chain starts do not match the sampler's layout of the model; the chains "
            "start at nutpie's jittered initial point instead (check R-hat: a chain may settle in a local mode)",
            SamplingWarning,
            stacklevel=4,
        )
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
