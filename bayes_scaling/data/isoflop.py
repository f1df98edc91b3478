"""IsoFLOP budgets in a table of runs: which runs share a compute budget, and which of them lie
near the budget's optimum.

A global law (Chinchilla's) misfits the far arms of IsoFLOP profiles (models trained on a token
or less per parameter, or tiny ones on a huge D): on Porian et al.'s grids the residuals there
reach 5-17% while runs near each minimum sit within 0.5%. A robust likelihood then learns heavy
tails (Student-t nu near 1) and every forecast of a new run, and of where a budget's minimum
lies, inherits them. For questions about the compute-optimal allocation, fit the runs near each
budget's minimum (:meth:`~bayes_scaling.data.runs.Runs.select` with ``near_optimum``): the
allocation benchmark (``benchmarks/results/allocation.md``) scores both choices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Runs whose log10 compute differs by less than this (after sorting) share a budget.
BUDGET_GAP_DEX = 0.02


def budget_labels(flops, gap_dex: float = BUDGET_GAP_DEX) -> np.ndarray:
    """A budget number per run: runs grouped by compute, a new budget wherever sorted log10 C
    jumps by more than ``gap_dex`` decades (exact-compute IsoFLOP designs)."""
    log_c = np.log10(np.asarray(flops, dtype=float))
    order = np.argsort(log_c, kind="stable")
    cluster = np.concatenate([[0], np.cumsum(np.diff(log_c[order]) > gap_dex)])
    labels = np.empty(log_c.size, dtype=int)
    labels[order] = cluster
    return labels


def near_optimum_mask(flops, loss, within: float, labels=None) -> np.ndarray:
    """True for runs whose loss is at most ``(1 + within)`` times the best loss of their budget
    (``labels`` per run, default :func:`budget_labels`). A run alone in its budget, or without
    a label (None or NaN), is kept."""
    if not (isinstance(within, (int, float)) and not isinstance(within, bool) and within > 0):
        raise ValueError(f"near_optimum must be a positive fraction (e.g. 0.15 for 15%), got {within!r}")
    labels = budget_labels(flops) if labels is None else np.asarray(labels, dtype=object)
    loss = np.asarray(loss, dtype=float)
    keys = pd.Series(labels).astype(str).to_numpy()
    missing = pd.isna(pd.Series(labels)).to_numpy()
    keys[missing] = [f"__alone_{i}" for i in np.flatnonzero(missing)]  # unlabelled: alone, kept
    best = pd.Series(loss).groupby(keys).transform("min").to_numpy()
    return loss <= (1.0 + within) * best
