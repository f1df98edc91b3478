r"""How honest are the intervals? Backtests, proper scores, SBC and model comparison.

A backtest fits on the runs an analyst would have had (below a compute cutoff, or all but the
largest model sizes) and scores forecasts of the held-out larger runs:

- coverage of the central 50/80/90/95% *new-run* intervals (does a new run land inside?);
- the probability integral transform :math:`\mathrm{PIT} = F(y)` (uniform when calibrated);
- CRPS, :math:`\mathbb{E}|X - y| - \tfrac12 \mathbb{E}|X - X'|`, on *log* loss (``crps_log``:
  about a relative error; for a point forecast it is :math:`|\log \hat L - \log y|`). On the
  loss itself it would not exist: a Student-t on log loss has no finite mean once exponentiated;
- the interval score of the 90% interval (Gneiting & Raftery 2007),
  :math:`(u - l) + \tfrac{2}{\alpha}(l - y)_+ + \tfrac{2}{\alpha}(y - u)_+`, :math:`\alpha = 0.1`;
- the absolute percent error of the median, and the extrapolation distance
  :math:`C_{\text{held out}} / \max C_{\text{fitted}}`.

Every method (ours and the baselines in :mod:`bayes_scaling.baselines`) goes through the same
scorer, so the comparison is like for like.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _constants as K
from .errors import RunsValidationError, SpecError
from .forms import get_law, is_builtin
from .runs import Runs

PROBS = (0.5, 0.8, 0.9, 0.95)


# --------------------------------------------------------------------------- holdout rules
@dataclass(frozen=True)
class ComputeCutoff:
    """Fit on runs with compute ``<= max_flops``; forecast the runs above it."""

    max_flops: float

    def held_out(self, runs: Runs) -> np.ndarray:
        return runs.flops > self.max_flops

    def __str__(self) -> str:
        return f"C <= {self.max_flops:.3g}"


@dataclass(frozen=True)
class LargestSizes:
    """Fit on all but the ``n`` largest model sizes; forecast those."""

    n: int

    def held_out(self, runs: Runs) -> np.ndarray:
        sizes = np.unique(runs.params)
        if self.n >= len(sizes):
            raise SpecError(f"cannot hold out the {self.n} largest sizes: the runs have only {len(sizes)} sizes")
        return runs.params >= sizes[-self.n]

    def __str__(self) -> str:
        return f"all but the {self.n} largest N"


def _as_rules(holdout) -> list:
    if isinstance(holdout, (ComputeCutoff, LargestSizes)):
        return [holdout]
    if isinstance(holdout, (int, float, np.floating)) and not isinstance(holdout, bool):
        return [ComputeCutoff(float(holdout))]
    if isinstance(holdout, Iterable) and not isinstance(holdout, (str, bytes)):
        rules = [r for h in holdout for r in _as_rules(h)]
        if rules:
            return rules
    raise SpecError(
        "holdout must be a compute cutoff (a number, or ComputeCutoff(1e20)), LargestSizes(k), "
        f"or a list of them for a rolling origin; got {holdout!r}"
    )


# --------------------------------------------------------------------------- forecasts
@dataclass(frozen=True)
class MethodForecast:
    """What a method says about held-out points: a point (``median``) and, if it has one, draws
    of its predictive distribution (``draws``, shape ``(n_draws, n_points)``)."""

    median: np.ndarray
    draws: np.ndarray | None = None
    problems: tuple[str, ...] = ()  # e.g. failed sampler diagnostics: the forecast is kept, flagged


def unique_tokens_of(runs: Runs) -> np.ndarray | None:
    """The unique tokens of ``runs`` for a forecast (rows without them: every token unique), or
    None when the table has no such column."""
    if K.UNIQUE_TOKENS not in runs.frame:
        return None
    return runs.frame[K.UNIQUE_TOKENS].fillna(runs.frame[K.TOKENS]).to_numpy()


def fit_quietly(train: Runs, law="chinchilla", random_seed=0, fit_options=None):
    """``(fit, problems)``: :func:`bayes_scaling.fit` with its failed diagnostics returned (one
    line each) instead of warned, for loops over many fits (backtests, stacking, benchmarks)."""
    from .errors import SamplingWarning
    from .fit import fit

    options = {"progressbar": False, **dict(fit_options or {})}
    with warnings.catch_warnings():
        # A backtest records the fit's diagnostics instead of stopping at them.
        warnings.simplefilter("ignore", SamplingWarning)
        result = fit(train, law, random_seed=random_seed, **options)
    return result, tuple(json.loads(result.idata.attrs["diagnostics"])["problems"])


def _bayes_scaling(
    train: Runs, params, tokens, *, law="chinchilla", random_seed=0, unique_tokens=None, **fit_options
) -> MethodForecast:
    result, problems = fit_quietly(train, law, random_seed, fit_options)
    forecast = result.predict(params, tokens, kind="new_run", random_seed=random_seed, unique_tokens=unique_tokens)
    return MethodForecast(median=forecast.median, draws=forecast.draws, problems=problems)


def _bayes_scaling_stack(
    train: Runs, params, tokens, *, laws=("chinchilla",), random_seed=0, unique_tokens=None, **fit_options
) -> MethodForecast:
    """Each law in ``laws`` fitted to the past, stacked by PSIS-LOO on the past, then forecast."""
    from .stacking import stack

    fits, problems = {}, []
    for law in laws:
        name = law if isinstance(law, str) else law.name
        fits[name], found = fit_quietly(train, law, random_seed, fit_options)
        problems += [f"{name}: {p}" for p in found]
    mixture = stack(fits, random_seed=random_seed)
    forecast = mixture.predict(params, tokens, kind="new_run", random_seed=random_seed, unique_tokens=unique_tokens)
    weights = ", ".join(f"{k} {v:.2f}" for k, v in mixture.weights.items())
    return MethodForecast(median=forecast.median, draws=forecast.draws, problems=(*problems, f"weights: {weights}"))


def _approach3(train: Runs, params, tokens, **_) -> MethodForecast:
    from .baselines import approach3

    return MethodForecast(median=approach3(train).loss(params, tokens))


def _approach3_bootstrap(train: Runs, params, tokens, *, random_seed=0, n_resamples=1000, **_) -> MethodForecast:
    from .baselines import approach3_bootstrap

    boot = approach3_bootstrap(train, n_resamples=n_resamples, random_seed=random_seed)
    draws = boot.loss(params, tokens)
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    return MethodForecast(median=boot.point.loss(params, tokens), draws=draws)


def _vpnls(train: Runs, params, tokens, **_) -> MethodForecast:
    from .baselines import vpnls

    return MethodForecast(median=vpnls(train).loss(params, tokens))


METHODS: dict[str, Callable[..., MethodForecast]] = {
    "bayes_scaling": _bayes_scaling,
    "bayes_scaling_stack": _bayes_scaling_stack,
    "approach3": _approach3,
    "approach3_bootstrap": _approach3_bootstrap,
    "vpnls": _vpnls,
}


# --------------------------------------------------------------------------- scores
def crps_from_draws(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""CRPS of the empirical distribution of ``draws`` (``(n_draws, n_points)``) at ``y``.

    :math:`\mathrm{CRPS} = \frac1m\sum_i |x_i - y| - \frac{1}{m^2}\sum_i (2i - m - 1) x_{(i)}`,
    exact for the empirical distribution (sorted-sample form of :math:`\tfrac12\mathbb{E}|X-X'|`).
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=0)
    m = x.shape[0]
    y = np.asarray(y, dtype=float)
    first = np.abs(x - y[None, :]).mean(axis=0)
    weights = (2 * np.arange(1, m + 1) - m - 1)[:, None]
    return first - (weights * x).sum(axis=0) / m**2


def interval_score(lo, hi, y, prob: float) -> np.ndarray:
    """Interval score of the central ``prob`` interval (lower is better; Gneiting & Raftery)."""
    a = 1 - prob
    return (hi - lo) + (2 / a) * np.clip(lo - y, 0, None) + (2 / a) * np.clip(y - hi, 0, None)


def score(forecast: MethodForecast, y, probs: Sequence[float] = PROBS) -> pd.DataFrame:
    """One row per point: median, interval ends per ``prob``, PIT, CRPS (log loss), 90% interval score, APE %."""
    y = np.asarray(y, dtype=float)
    median = np.asarray(forecast.median, dtype=float)
    cols = {"median": median}
    if forecast.draws is not None and len(forecast.draws):
        draws = forecast.draws
        for p in probs:
            lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
            cols[f"lo_{p * 100:.0f}"], cols[f"hi_{p * 100:.0f}"] = lo, hi
        cols["pit"] = (draws < y).mean(axis=0) + 0.5 * (draws == y).mean(axis=0)
        cols["crps_log"] = crps_from_draws(np.log(draws), np.log(y))
        cols["interval_score_90"] = interval_score(*np.quantile(draws, [0.05, 0.95], axis=0), y, 0.9)
    else:
        for p in probs:
            cols[f"lo_{p * 100:.0f}"] = cols[f"hi_{p * 100:.0f}"] = np.full_like(y, np.nan)
        cols["pit"] = np.full_like(y, np.nan)
        cols["crps_log"] = np.abs(np.log(median) - np.log(y))
        cols["interval_score_90"] = np.full_like(y, np.nan)
    cols["ape"] = 100 * np.abs(median - y) / y
    return pd.DataFrame(cols)


def summarize(table: pd.DataFrame, by: Sequence[str] = ("method",), probs: Sequence[float] = PROBS) -> pd.DataFrame:
    """Coverage per level, mean CRPS (log loss), mean 90% interval score, median APE and extrapolation, by group.

    Coverage is NaN for methods without intervals.
    """

    def agg(g: pd.DataFrame) -> pd.Series:
        row = {"n_held_out": len(g)}
        for p in probs:
            lo, hi = g[f"lo_{p * 100:.0f}"], g[f"hi_{p * 100:.0f}"]
            inside = (g["loss"] >= lo) & (g["loss"] <= hi)
            row[f"coverage_{p * 100:.0f}"] = inside.mean() if lo.notna().all() else np.nan
        row["crps_log"] = g["crps_log"].mean()
        row["interval_score_90"] = g["interval_score_90"].mean()
        row["median_ape"] = g["ape"].median()
        row["median_extrapolation"] = g["extrapolation"].median()
        row["max_extrapolation"] = g["extrapolation"].max()
        return pd.Series(row)

    return table.groupby(list(by), sort=False)[list(table.columns)].apply(agg)


# --------------------------------------------------------------------------- backtest
@dataclass
class Backtest:
    """Result of :func:`backtest`: ``table`` has one row per held-out run, origin and method;
    ``summary`` aggregates it per method (see :func:`summarize`); ``failures`` lists methods that
    could not fit a fold (with the reason) instead of silently dropping them; ``warnings`` lists
    folds whose forecasts are kept but flagged (e.g. failed sampler diagnostics)."""

    table: pd.DataFrame
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        return summarize(self.table)


def score_fold(method: str, train: Runs, test: Runs, origin: str, forecast: MethodForecast, meta=None) -> pd.DataFrame:
    """The backtest rows of one method on one fold: the held-out runs, their extrapolation
    distance (held-out C / largest fitted C) and the scores of :func:`score`."""
    frame = test.to_frame()
    cols = [c for c in (K.RUN_ID, K.FAMILY, K.PARAMS, K.TOKENS, K.FLOPS, K.LOSS) if c in frame]
    out = frame[cols].reset_index(drop=True)
    out.insert(0, "origin", origin)
    out.insert(0, "method", method)
    for key, value in (meta or {}).items():
        out.insert(0, key, value)
    out["extrapolation"] = test.flops / train.flops.max()
    return pd.concat([out, score(forecast, test.loss)], axis=1)


def split(runs: Runs, rule) -> tuple[Runs, Runs]:
    """(fitted, held-out) runs of one holdout rule, or a clear error if either side is empty."""
    test_mask = rule.held_out(runs)
    if test_mask.all() or not test_mask.any():
        raise RunsValidationError(
            [
                f"holdout {rule} leaves {'no runs to fit' if test_mask.all() else 'no runs to forecast'}: "
                f"choose a cutoff inside the data (C from {runs.flops.min():.3g} to {runs.flops.max():.3g})"
            ]
        )
    return runs.subset(~test_mask), runs.subset(test_mask)


def _run_task(task: tuple) -> tuple[pd.DataFrame | None, str | None, list[str]]:
    """(rows, failure, warnings) of one method on one fold."""
    method, label, train, test, origin, options, meta = task
    where = f"{label} on {meta.get('dataset') or 'runs'} ({origin})"
    try:
        if method.startswith("bayes_scaling") and K.UNIQUE_TOKENS in test.frame:
            options = {**options, "unique_tokens": unique_tokens_of(test)}
        forecast = METHODS[method](train, test.params, test.tokens, **options)
    except Exception as exc:  # a baseline failing on one fold is a result, not a crash
        return None, f"{where}: {type(exc).__name__}: {exc}", []
    notes = [f"{where}: {problem}" for problem in forecast.problems]
    return score_fold(label, train, test, origin, forecast, meta), None, notes


#: Where :func:`run_tasks` runs its tasks ("auto" is resolved by :func:`backtest`).
EXECUTORS = (None, "serial", "process", "dask")

#: Methods that run NUTS: seconds to minutes a task, worth a worker process each.
BAYESIAN_METHODS = ("bayes_scaling", "bayes_scaling_stack")


def backtest(
    runs: Runs | Mapping[str, Runs],
    law: str | Sequence[str] = "chinchilla",
    *,
    holdout,
    methods: Sequence[str] = ("bayes_scaling",),
    fit_options: Mapping | None = None,
    n_resamples: int = 1000,
    dataset: str = "",
    random_seed: int = 0,
    executor: str | None = "auto",
    max_workers: int | None = None,
) -> Backtest:
    """Leave-future-out backtest: fit each method on the past, score its forecasts of the future.

    Every (dataset, fold, method, law) is one task; the tasks run in parallel (``executor``).

    Parameters
    ----------
    runs : the runs table (one family), or ``{dataset name: runs}`` for several datasets at once
        (the table then has a ``dataset`` column).
    law : a law fitted by ``bayes_scaling``, or a list of laws: ``bayes_scaling`` then fits each
        (methods ``"bayes_scaling:<law>"``) and ``bayes_scaling_stack`` stacks them by LOO.
        Baselines are Chinchilla-form point fits.
    holdout : a compute cutoff (number or :class:`ComputeCutoff`), :class:`LargestSizes`, or a
        list of them for a rolling origin (one fold each); with several datasets, one of these
        for all or ``{dataset name: holdout}``.
    methods : any of ``"bayes_scaling"``, ``"bayes_scaling_stack"``, ``"approach3"``,
        ``"approach3_bootstrap"``, ``"vpnls"``.
    fit_options : keyword arguments for :func:`bayes_scaling.fit` (draws, chains, priors, ...).
    n_resamples : bootstrap resamples for ``approach3_bootstrap``.
    dataset : a name for ``runs`` (a single table), kept in a ``dataset`` column.
    executor : ``"auto"`` (default: local worker processes when two or more NUTS fits are to
        run on a machine with several cores, else this process), ``None`` (this process),
        ``"process"`` (local worker processes, ``max_workers`` of them, default one a core) or
        ``"dask"`` (the Dask cluster this session is connected to, ``$DASK_SCHEDULER_ADDRESS``,
        or a local one; ``pip install bayes_scaling[dask]``). Results do not depend on it.

    Returns
    -------
    Backtest with ``table`` (one row per held-out run, fold and method) and ``summary``.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> runs = bs.synthetic.chinchilla_runs(n_configs=40, flops_range=(1e18, 1e21), random_seed=0)
    >>> bt = bs.backtest(runs, holdout=1e20, methods=["approach3", "vpnls"])
    >>> sorted(bt.summary.index)
    ['approach3', 'vpnls']
    """
    datasets = _as_datasets(runs, dataset)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SpecError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    laws = [law] if isinstance(law, str) or not isinstance(law, Iterable) else list(law)
    if not laws:
        raise SpecError("law: give at least one law")
    if any(method in BAYESIAN_METHODS for method in methods):
        for name in (law for law in laws if isinstance(law, str)):
            get_law(name)  # a misspelt law fails here, once, not on every fold
    if not isinstance(holdout, Mapping):
        holdout = dict.fromkeys(datasets, holdout)
    missing = [name for name in datasets if name not in holdout]
    if missing:
        raise SpecError(f"holdout has no entry for dataset(s) {missing}; give one holdout per dataset")
    fit_options = dict(fit_options or {})
    tasks = []
    for name, table in datasets.items():
        meta = {"dataset": name} if name else {}
        for rule in _as_rules(holdout[name]):
            train, test = split(table, rule)
            for method in methods:
                for label, options in _method_tasks(method, laws, random_seed, fit_options, n_resamples):
                    tasks.append((method, label, train, test, str(rule), options, meta))
    executor = _choose_executor(executor, tasks, laws)
    results = run_tasks(_run_task, tasks, executor=executor, max_workers=max_workers)
    frames = [frame for frame, _, _ in results if frame is not None]
    failures = [err for _, err, _ in results if err is not None]
    if not frames:
        raise RuntimeError("every method failed on every fold:\n" + "\n".join(failures))
    notes = [note for _, _, found in results for note in found]
    return Backtest(table=pd.concat(frames, ignore_index=True), failures=failures, warnings=notes)


def _method_tasks(method, laws, random_seed, fit_options, n_resamples) -> list[tuple[str, dict]]:
    """``(label, options)`` of each task one method makes of a fold: ``bayes_scaling`` one per
    law (labelled ``bayes_scaling:<law>`` when there are several), the others one."""
    options = {"random_seed": random_seed}
    if method == "bayes_scaling":
        return [
            (method if len(laws) == 1 else f"{method}:{_law_name(law)}", {**options, "law": law, **fit_options})
            for law in laws
        ]
    if method == "bayes_scaling_stack":
        return [(method, {**options, "laws": tuple(laws), **fit_options})]
    if method == "approach3_bootstrap":
        options["n_resamples"] = n_resamples
    return [(method, options)]


def _as_datasets(runs, dataset: str) -> dict[str, Runs]:
    if isinstance(runs, Runs):
        return {dataset: runs}
    if isinstance(runs, Mapping):
        if dataset:
            raise SpecError("dataset= names a single runs table; with several, the mapping's keys name them")
        wrong = [name for name, table in runs.items() if not isinstance(table, Runs)]
        if wrong or not runs:
            raise TypeError(f"runs must map dataset names to bayes_scaling.Runs; not Runs: {wrong or 'empty mapping'}")
        return {str(name): table for name, table in runs.items()}
    raise TypeError(f"runs must be a bayes_scaling.Runs or a mapping of them, got {type(runs).__name__}")


def _law_name(law) -> str:
    return law if isinstance(law, str) else getattr(law, "name", str(law))


def _choose_executor(executor, tasks, laws):
    """Where the tasks run. ``"auto"``: worker processes when two or more NUTS fits would run
    and there are several cores, else here; laws defined in this session keep the work here
    (workers could not see them), and ``"process"``/``"dask"`` refuse them."""
    local_laws = [_law_name(law) for law in laws if not is_builtin(law)]
    if executor == "auto":
        n_fits = sum(task[0] in BAYESIAN_METHODS for task in tasks)
        return "process" if n_fits >= 2 and (os.cpu_count() or 1) > 1 and not local_laws else None
    if executor in ("process", "dask") and local_laws and any(task[0] in BAYESIAN_METHODS for task in tasks):
        raise SpecError(
            f"law(s) {local_laws} are defined in this session only, and {executor} workers import bayes_scaling "
            "afresh without them: use executor=None, or register the law in a module the workers import"
        )
    return executor


@contextlib.contextmanager
def _single_threaded_workers():
    """Worker processes share the cores: one BLAS/OpenMP thread each (two processes with default
    threading ran 10x slower each here) and one chain at a time in each fit
    (``$BAYES_SCALING_CORES``). Workers inherit the environment when they start."""
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BAYES_SCALING_CORES": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _WorkerShareOfCores:
    """``function`` run on a Dask worker: unless the worker's environment sets
    ``$BAYES_SCALING_CORES`` (the local cluster started here sets 1), each fit samples its
    chains on the worker's CPUs divided by the tasks it runs at once. A cluster started
    elsewhere (connected client, ``$DASK_SCHEDULER_ADDRESS``) sets nothing, and a
    multi-threaded worker's fits would each take every CPU."""

    def __init__(self, function):
        self.function = function

    def __call__(self, task):
        from distributed import get_worker

        from .fit import available_cpus

        if not os.environ.get("BAYES_SCALING_CORES"):
            os.environ["BAYES_SCALING_CORES"] = str(max(1, available_cpus() // max(1, get_worker().state.nthreads)))
        return self.function(task)


def _worker_start() -> None:
    """Each local worker process runs fit after fit: the same garbage collector thresholds as
    the ``bayes-scaling`` command (``GC_THRESHOLDS``)."""
    import gc

    gc.set_threshold(*K.GC_THRESHOLDS)


def run_tasks(function, tasks: Sequence, *, executor: str | None = None, max_workers: int | None = None) -> list:
    """Map ``function`` over ``tasks`` in order: here (``None``), on local processes
    (``"process"``) or on a Dask cluster (``"dask"``: the client this session is connected to,
    else the scheduler at ``$DASK_SCHEDULER_ADDRESS``, else a local cluster of processes)."""
    if executor not in EXECUTORS:
        raise SpecError(f"unknown executor {executor!r}; use 'auto', None (this process), 'process' or 'dask'")
    if executor is None or executor == "serial" or len(tasks) <= 1:
        return [function(t) for t in tasks]
    if executor == "process":
        import concurrent.futures as cf
        import multiprocessing as mp

        with (
            _single_threaded_workers(),
            cf.ProcessPoolExecutor(
                max_workers or os.cpu_count(), mp_context=mp.get_context("spawn"), initializer=_worker_start
            ) as pool,
        ):
            return list(pool.map(function, tasks))
    if executor == "dask":
        try:
            from distributed import Client, get_client
        except ImportError:
            raise SpecError("executor='dask' needs dask.distributed: pip install 'bayes_scaling[dask]'") from None
        try:
            client = get_client()  # the cluster this session is already connected to
        except ValueError:
            client = None
        function = _WorkerShareOfCores(function)
        if client is not None:
            return client.gather(client.map(function, tasks, pure=False))
        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        options = (
            {"address": address}
            if address
            else {"n_workers": max_workers or os.cpu_count() or 1, "threads_per_worker": 1, "dashboard_address": None}
        )
        with _single_threaded_workers(), Client(**options) as client:
            return client.gather(client.map(function, tasks, pure=False))
    raise AssertionError(executor)  # unreachable: checked above


# --------------------------------------------------------------------------- allocation
def score_optimum(train: Runs, test: Runs, fit=None, *, prob: float = 0.9, decimals: int = 1) -> pd.DataFrame:
    """Forecasts of the compute-optimal size N*(C) at held-out IsoFLOP budgets.

    The held-out runs are grouped into IsoFLOP budgets (log10 C rounded to ``decimals``); a group
    whose parabola in log N has an interior minimum gives an *empirical* N* (itself noisy).
    Scored against it: Approach 2 (power law through the fitted groups' minima), Approach 3
    (closed form at the point fit) and, if ``fit`` (a ScalingFit of ``train``) is given, the
    posterior median of N* and whether its central ``prob`` interval covers the empirical N*.
    One row per (budget, method): ``log10_error`` = log10(forecast / empirical).
    """
    from .baselines import approach2, approach3, isoflop_groups, isoflop_minimum
    from .laws import chinchilla_optimal_params

    labels = isoflop_groups(test.flops, decimals=decimals)
    k = train.flops_per_param_token
    try:
        a2 = approach2(train)
    except ValueError:
        a2 = None
    a3 = approach3(train)
    rows = []
    for label in np.unique(labels):
        sel = labels == label
        empirical = isoflop_minimum(test.params[sel], test.loss[sel])
        if empirical is None:
            continue
        c = float(np.median(test.flops[sel]))
        forecasts = {"approach3": float(chinchilla_optimal_params(c, a3.A, a3.B, a3.alpha, a3.beta, k))}
        if a2 is not None:
            forecasts["approach2"] = float(a2.optimal_params(c))
        intervals = {}
        if fit is not None:
            draws = fit.optimal_draws([c])["params"][:, 0]
            forecasts["bayes_scaling"] = float(np.median(draws))
            intervals["bayes_scaling"] = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
        for method, value in forecasts.items():
            lo, hi = intervals.get(method, (np.nan, np.nan))
            rows.append(
                {
                    "method": method,
                    "flops": c,
                    "extrapolation": c / train.flops.max(),
                    "empirical_params": empirical,
                    "forecast_params": value,
                    "log10_error": np.log10(value / empirical),
                    "lo": lo,
                    "hi": hi,
                    "covered": bool(lo <= empirical <= hi) if np.isfinite(lo) else np.nan,
                    "runs_in_group": int(sel.sum()),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- comparison
def check_same_runs(fits: Mapping) -> None:
    """Refuse fits of different runs (their scores are not comparable), naming the data hashes."""
    hashes = {name: f.idata.attrs.get("data_hash") for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise SpecError(
            "compare and stack need fits of the same runs (scores on different data are not comparable); "
            f"data hashes differ: {hashes}"
        )


def compare(
    fits: Mapping,
    *,
    method: str = "stacking",
    holdout=None,
    fit_options: Mapping | None = None,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Rank fits of the *same runs* by PSIS-LOO (ArviZ ``compare``), leaving out one
    configuration (all its seeds) at a time, and optionally by a leave-future-out backtest.

    ``fits`` maps a name to a :class:`~bayes_scaling.ScalingFit` (e.g. different laws or noise
    models). Returns ArviZ's table (``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``, ``dse``,
    ``warning``) plus ``n_high_pareto_k``: configurations whose Pareto k exceeds ArviZ's
    threshold for that fit (its LOO estimate is unreliable there); ``attrs["warnings"]`` says
    so in words.

    LOO asks how well a law interpolates; scaling laws are used to extrapolate. With
    ``holdout`` (a compute cutoff, :class:`LargestSizes`, or a list of them: see
    :func:`backtest`) each fit's spec is refitted to the runs before the holdout and scored on
    the runs after it: ``lfo_crps`` (mean CRPS of log loss, lower is better), ``lfo_coverage_90``,
    ``lfo_median_ape`` and ``lfo_rank``. ``fit_options`` go to those refits (draws, tune, ...).
    """
    import arviz as az

    if len(fits) < 2:
        raise SpecError(f"compare needs at least two fits, got {len(fits)}")
    check_same_runs(fits)
    loos = {name: f.loo() for name, f in fits.items()}
    table = az.compare(loos, method=method, round_to="none")  # ("auto" rounds elpd to 2 significant digits)
    table["n_high_pareto_k"] = [int((np.asarray(loos[n].pareto_k) > loos[n].good_k).sum()) for n in table.index]
    table.attrs["warnings"] = [
        f"{name}: {k} configuration(s) with Pareto k above {loos[name].good_k:.2f}; its LOO score is unreliable"
        for name, k in table["n_high_pareto_k"].items()
        if k
    ]
    if holdout is not None:
        lfo = {}
        for name, f in fits.items():
            runs = f.runs
            if runs is None:
                raise SpecError(f"fit '{name}' stores no runs: a leave-future-out comparison needs them")
            options = {"model": f.spec, **dict(fit_options or {})}
            result = backtest(runs, holdout=holdout, fit_options=options, random_seed=random_seed)
            row = result.summary.loc["bayes_scaling"]
            lfo[name] = {
                "lfo_crps": row["crps_log"],
                "lfo_coverage_90": row["coverage_90"],
                "lfo_median_ape": row["median_ape"],
                "lfo_n_held_out": int(row["n_held_out"]),
            }
            table.attrs["warnings"] += [f"{name} (leave-future-out): {w}" for w in result.failures + result.warnings]
        lfo = pd.DataFrame(lfo).T
        table = table.join(lfo)
        table["lfo_rank"] = table["lfo_crps"].rank(method="min").astype(int) - 1
    return table


# --------------------------------------------------------------------------- SBC
@dataclass
class SBCResult:
    """Simulation-based calibration (Talts et al. 2018): ``ranks`` has one row per simulation and
    one column per parameter, the rank of the true value among ``n_ranks - 1`` thinned
    posterior draws (uniform on 0..n_ranks-1 when the inference is calibrated)."""

    ranks: pd.DataFrame
    n_ranks: int
    diagnostics: pd.DataFrame

    def uniformity(self, bins: int = 10) -> pd.DataFrame:
        """Chi-square test of uniform ranks per parameter (``bins`` equal bins): statistic, p."""
        from scipy import stats

        edges = np.linspace(0, self.n_ranks, bins + 1)
        rows = {}
        for name, ranks in self.ranks.items():
            counts, _ = np.histogram(ranks, bins=edges)
            chi2, p = stats.chisquare(counts)
            rows[name] = {"chi2": chi2, "p_value": p, "n_sims": len(ranks)}
        return pd.DataFrame(rows).T


def sbc(
    n_sims: int = 200,
    *,
    runs: Runs | None = None,
    model=None,
    draws: int = 300,
    tune: int = 300,
    chains: int = 2,
    thin: int = 3,
    random_seed: int = 0,
    progress: bool = False,
) -> SBCResult:
    """Simulation-based calibration of a model on a fixed design of runs.

    Parameters and outcomes are drawn from the model's prior (with the reference sizes fixed
    from ``runs``, default: 40 synthetic Chinchilla configurations), each simulated data set is
    refitted with NUTS (nutpie, one compiled model for all of them), and the rank of each true
    parameter among the thinned posterior draws is recorded. Ranks are uniform when the sampler
    and the model's maths are right; a U shape means over-confident posteriors, a hump
    under-confident ones, a slope bias.
    """
    import nutpie
    import pymc as pm
    import pytensor

    from .fit import _nuts_options
    from .model import ScalingModel, build_model, data_scale
    from .synthetic import chinchilla_runs

    runs = runs if runs is not None else chinchilla_runs(n_configs=40, random_seed=random_seed)
    spec = model if model is not None else ScalingModel()
    scale = data_scale(runs)
    pm_model = build_model(spec, runs, scale, mutable_observations=True)
    names = [*spec.law_component.reported, *spec.noise.reported]
    with pm_model:
        prior = pm.sample_prior_predictive(draws=n_sims, random_seed=random_seed)
    truth = {n: prior["prior"][n].values.reshape(-1) for n in names}
    sims = {
        k: prior["prior_predictive"][k].values.reshape(n_sims, -1)
        for k in ("mean_log_loss", "within_ss")
        if k in prior["prior_predictive"]
    }
    with pytensor.config.change_flags(numba__fastmath=False):
        compiled = nutpie.compile_pymc_model(pm_model)
    rows, diag = [], []
    for i in range(n_sims):
        updates = {"mean_log_loss_obs": sims["mean_log_loss"][i]}
        if "within_ss" in sims:
            updates["within_ss_obs"] = sims["within_ss"][i]
        trace = nutpie.sample(
            compiled.with_data(**updates),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=random_seed + 1 + i,
            progress_bar=False,
            **_nuts_options("nutpie", 0.9),  # the settings fit() uses
        )
        post = trace["posterior"]
        rows.append({n: int((post[n].values[:, ::thin].reshape(-1) < truth[n][i]).sum()) for n in names})
        diag.append({"divergences": int(trace["sample_stats"]["diverging"].values.sum())})
        if progress:
            print(f"sbc {i + 1}/{n_sims}", flush=True)
    n_ranks = chains * len(range(0, draws, thin)) + 1
    return SBCResult(ranks=pd.DataFrame(rows), n_ranks=n_ranks, diagnostics=pd.DataFrame(diag))
