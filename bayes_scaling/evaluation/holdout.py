"""Holdout rules (what an analyst would have had: runs below a compute cutoff, or all but the
largest sizes), the split they make, and a fit that returns its failed diagnostics instead of
warning them, for loops of fits."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .. import _constants as K
from ..data.runs import Runs
from ..errors import RunsValidationError, SamplingWarning, SpecError
from ..forecast.fitting import fit
from ..laws import DEFAULT_LAW


@dataclass(frozen=True)
class ComputeCutoff:
    """Fit on runs whose final compute is ``<= max_flops``; forecast the runs above it. A run is
    held out whole, every checkpoint of it: an analyst at the cutoff has none of its curve."""

    max_flops: float

    def held_out(self, runs: Runs) -> np.ndarray:
        return runs.runs_held_out(runs.run_table[K.FLOPS].to_numpy() > self.max_flops)

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


@dataclass(frozen=True)
class NewFamily:
    """A new recipe with few runs: of ``family``, fit only its ``k`` runs of least compute
    (with every run of the other families); forecast its other runs."""

    family: str
    k: int

    def held_out(self, runs: Runs) -> np.ndarray:
        if self.family not in runs.families:
            raise SpecError(f"no runs of family '{self.family}'; families present: {runs.families}")
        table = runs.run_table
        mine = np.flatnonzero((table[K.FAMILY] == self.family).to_numpy())
        if not 1 <= self.k < mine.size:
            raise SpecError(
                f"NewFamily('{self.family}', k={self.k}): the family has {mine.size} runs; k must be 1 to {mine.size - 1}"
            )
        order = mine[np.argsort(table[K.FLOPS].to_numpy()[mine], kind="stable")]
        held = np.zeros(len(table), dtype=bool)
        held[order[self.k :]] = True
        return runs.runs_held_out(held)

    def __str__(self) -> str:
        return f"{self.family}: its {self.k} smallest runs"


def as_rules(holdout) -> list:
    if isinstance(holdout, (ComputeCutoff, LargestSizes, NewFamily)):
        return [holdout]
    if isinstance(holdout, (int, float, np.floating)) and not isinstance(holdout, bool):
        return [ComputeCutoff(float(holdout))]
    if isinstance(holdout, Iterable) and not isinstance(holdout, (str, bytes)):
        rules = [r for h in holdout for r in as_rules(h)]
        if rules:
            return rules
    raise SpecError(
        "holdout must be a compute cutoff (a number, or ComputeCutoff(1e20)), LargestSizes(k), NewFamily(name, k), "
        f"or a list of them for a rolling origin; got {holdout!r}"
    )


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


def fit_quietly(train: Runs, law=DEFAULT_LAW, random_seed=0, fit_options=None):
    """``(fit, problems)``: :func:`bayes_scaling.fit` with its failed diagnostics returned (one
    line each) instead of warned, for loops over many fits (backtests, stacking, benchmarks).
    The fit is accepted as it is (:meth:`~bayes_scaling.ScalingFit.accept_unconverged`, no
    warnings): a backtest scores what the method produced and flags the fold with the problems."""
    options = {"progressbar": False, **dict(fit_options or {})}
    with warnings.catch_warnings():
        # A backtest records the fit's diagnostics instead of stopping at them.
        warnings.simplefilter("ignore", SamplingWarning)
        result = fit(train, law, random_seed=random_seed, **options).accept_unconverged(warn=False)
    return result, tuple(json.loads(result.idata.attrs["diagnostics"])["problems"])
