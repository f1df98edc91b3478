r"""How honest are the intervals? Backtests: fit on the past, score forecasts of the held-out future.

A backtest fits on the runs an analyst would have had (below a compute cutoff, or all but the
largest model sizes: :mod:`.holdout`, whole runs at a time) and scores forecasts of the
held-out larger runs with :mod:`.scores` (coverage, PIT, CRPS on log loss, interval score,
APE), beside the extrapolation distance :math:`C_{\text{held out}} / \max C_{\text{fitted}}`.
Every method (ours and the baselines in :mod:`.baselines`, see :mod:`.methods`) goes through
the same scorer, so the comparison is like for like.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from .. import _constants as K
from ..data.runs import Runs
from ..errors import SpecError
from ..laws import DEFAULT_LAW, get_law, is_builtin
from ..noise import DEFAULT_LIKELIHOOD
from ..noise import is_builtin as noise_is_builtin
from .executors import run_tasks
from .holdout import as_rules, split
from .methods import FAMILY_METHODS, METHODS
from .scores import MethodForecast, score, summarize


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


def _run_task(task: tuple) -> tuple[pd.DataFrame | None, str | None, list[str]]:
    """(rows, failure, warnings) of one method on one fold."""
    method, label, train, test, origin, options, meta = task
    where = f"{label} on {meta.get('dataset') or 'runs'} ({origin})"
    try:
        if method in BAYESIAN_METHODS and test.input_columns():
            options = {**options, "inputs": test.input_columns()}
        if method in FAMILY_METHODS:
            options = {**options, "families": test.frame[K.FAMILY].to_numpy()}
        forecast = METHODS[method](train, test.params, test.tokens, **options)
    except Exception as exc:  # a baseline failing on one fold is a result, not a crash
        return None, f"{where}: {type(exc).__name__}: {exc}", []
    notes = [f"{where}: {problem}" for problem in forecast.problems]
    return score_fold(label, train, test, origin, forecast, meta), None, notes


#: Methods that run NUTS: seconds to minutes a task, worth a worker process each.
BAYESIAN_METHODS = ("bayes_scaling", "bayes_scaling_stack", "bayes_scaling_families")


def backtest(
    runs: Runs | Mapping[str, Runs],
    law: str | Sequence[str] = DEFAULT_LAW,
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
    holdout : a compute cutoff (number or :class:`ComputeCutoff`), :class:`LargestSizes`,
        :class:`NewFamily` (a family's k smallest runs fitted with every other family's), or a
        list of them for a rolling origin (one fold each); with several datasets, one of these
        for all or ``{dataset name: holdout}``.
    methods : any of ``"bayes_scaling"``, ``"bayes_scaling_stack"``, ``"approach3"``,
        ``"approach3_bootstrap"``, ``"vpnls"``; on a table of several families
        ``"bayes_scaling_families"`` (one model over them) and ``"borrowed_exponents"``.
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
        for rule in as_rules(holdout[name]):
            train, test = split(table, rule)
            for method in methods:
                for label, options in _method_tasks(method, laws, random_seed, fit_options, n_resamples):
                    tasks.append((method, label, train, test, str(rule), options, meta))
    executor = _choose_executor(executor, tasks, laws, fit_options)
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
    if method == "bayes_scaling_families":
        return [(method, {**options, "law": laws[0], **fit_options})]
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


def _choose_executor(executor, tasks, laws, fit_options=None):
    """Where the tasks run. ``"auto"``: worker processes when two or more NUTS fits would run
    and there are several cores, else here; laws or likelihoods defined in this session keep the
    work here (workers could not see them), and ``"process"``/``"dask"`` refuse them."""
    local_laws = [_law_name(law) for law in laws if not is_builtin(law)]
    options = dict(fit_options or {})
    spec = options.get("model")
    likelihood = spec.likelihood if spec is not None else options.get("likelihood", DEFAULT_LIKELIHOOD)
    if not noise_is_builtin(likelihood):
        local_laws.append(f"likelihood {likelihood}")
    if executor == "auto":
        n_fits = sum(task[0] in BAYESIAN_METHODS for task in tasks)
        return "process" if n_fits >= 2 and (os.cpu_count() or 1) > 1 and not local_laws else None
    if executor in ("process", "dask") and local_laws and any(task[0] in BAYESIAN_METHODS for task in tasks):
        raise SpecError(
            f"{local_laws} are defined in this session only, and {executor} workers import bayes_scaling "
            "afresh without them: use executor=None, or register them in a module the workers import"
        )
    return executor
