"""Where many fits run: here, on local worker processes, or on a Dask cluster, with the CPUs
shared out so that chains do not oversubscribe a worker."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from .. import _constants as K
from .._threads import available_cpus
from ..errors import SpecError

#: Where :func:`run_tasks` runs its tasks ("auto" is resolved by :func:`backtest`).
EXECUTORS = (None, "serial", "process", "dask")


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
