"""Decisions from a posterior (numpy only, no PyMC): probabilities of reaching a loss, the
compute a target needs, risk-aware allocations, plan and recipe comparisons, and which runs to
train next, and how far a forecast moves with the parameter count (:mod:`.conventions`). See :mod:`.decisions`; the answers (and their labelled ``lines()``) are in
:mod:`.answers`, the checks of every argument in :mod:`.inputs`."""

from .answers import Allocation, ComputeForTarget, FitComparison
from .conventions import ConventionShift, convention_shift
from .curves import schedule_race
from .decisions import (
    allocate,
    compare_fits,
    compare_plans,
    compute_for_target,
    next_runs,
    prob_below,
)
from .inputs import extrapolation_factor

__all__ = [
    "schedule_race",
    "Allocation",
    "ComputeForTarget",
    "ConventionShift",
    "FitComparison",
    "allocate",
    "compare_fits",
    "compare_plans",
    "compute_for_target",
    "convention_shift",
    "extrapolation_factor",
    "next_runs",
    "prob_below",
]
