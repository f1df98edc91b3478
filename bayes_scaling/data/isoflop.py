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
#: Largest sd of log10 C among the runs of one budget of an exact-compute design.
MAX_BUDGET_SD = 0.01


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
    a label (None or NaN), is kept; so is every run of a group that chains across compute
    without sharing a budget (sd of log10 C above :data:`MAX_BUDGET_SD`: not an IsoFLOP design)."""
    if not (isinstance(within, (int, float)) and not isinstance(within, bool) and within > 0):
        raise ValueError(f"near_optimum must be a positive fraction (e.g. 0.15 for 15%), got {within!r}")
    exact = labels is None
    labels = budget_labels(flops) if exact else np.asarray(labels, dtype=object)
    loss = np.asarray(loss, dtype=float)
    keys = pd.Series(labels).astype(str).to_numpy()
    missing = pd.isna(pd.Series(labels)).to_numpy()
    keys[missing] = [f"__alone_{i}" for i in np.flatnonzero(missing)]  # unlabelled: alone, kept
    best = pd.Series(loss).groupby(keys).transform("min").to_numpy()
    near = loss <= (1.0 + within) * best
    if exact:  # chained compute that is not one budget: keep it whole
        sd = pd.Series(np.log10(np.asarray(flops, dtype=float))).groupby(keys).transform("std", ddof=0).to_numpy()
        near |= sd > MAX_BUDGET_SD
    return near


def spread_budgets(flops) -> str:
    """ "" when the runs' compute forms exact budgets, else which groups do not (words)."""
    labels = budget_labels(flops)
    log_c = pd.Series(np.log10(np.asarray(flops, dtype=float)))
    sd = log_c.groupby(labels).std(ddof=0)
    wide = sd[sd > MAX_BUDGET_SD]
    if wide.empty:
        return ""
    spans = log_c.groupby(labels).agg(["min", "max"]).loc[wide.index]
    where = ", ".join(f"{10**a:.3g}-{10**b:.3g}" for a, b in spans.to_numpy()[:3])
    return (
        f"{wide.size} group(s) of runs chain across compute without sharing a budget (C {where}"
        f"{', ...' if wide.size > 3 else ''})"
    )
