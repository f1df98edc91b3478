"""Decisions from a posterior (numpy only, no PyMC): probabilities of reaching a loss, the
compute a target needs, risk-aware allocations, plan and recipe comparisons, and which runs to
train next. See :mod:`.decisions`."""

from .decisions import (
    Allocation,
    ComputeForTarget,
    FitComparison,
    allocate,
    compare_fits,
    compare_plans,
    compute_for_target,
    next_runs,
    prob_below,
)

__all__ = [
    "Allocation",
    "ComputeForTarget",
    "FitComparison",
    "allocate",
    "compare_fits",
    "compare_plans",
    "compute_for_target",
    "next_runs",
    "prob_below",
]
