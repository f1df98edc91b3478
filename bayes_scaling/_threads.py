"""Blocks of numpy work on the CPUs this process may use.

numpy releases the GIL inside its array operations, so cache-sized blocks of one computation
(forecast draws, pointwise log-likelihoods, PSIS smoothing, quantiles) run in parallel on
threads without copying the arrays to other processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterable


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_threads(work: Callable, blocks: Iterable, workers: int | None = None) -> None:
    """``work(block)`` for every block, on ``workers`` threads (default: :func:`available_cpus`);
    each block must write only its own part of the output. One block, or one worker, runs
    inline. A block's exception is raised here."""
    blocks = list(blocks)
    workers = min(available_cpus() if workers is None else workers, len(blocks))
    if workers <= 1:
        for block in blocks:
            work(block)
        return
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, blocks))  # list(): re-raises a block's exception here
