r"""How far a forecast moves with the parameter-count convention (total vs non-embedding N).

Two fits of the same runs, one per column that counts N (e.g. ``params`` and
``params_nonembedding``), are asked the same questions in units both share:

- the expected loss of a named model, given by both of its counts and its tokens;
- at a FLOP budget, the best run's expected loss, its tokens and its size.

Budgets are in the *first* convention's compute, :math:`C = k N D` with its N (the usual
convention of a ``flops`` column is the total count; Kaplan et al. counted non-embedding N).
The second fit's best run at C lies on that same budget line: its size :math:`N'` costs
:math:`N(N') = N' + e(N')` first-convention parameters, with the embedding count
:math:`e(N') = c\,N'^{g}` fitted to the table's pairs of counts (least squares on logs; the
embedding matrix grows with the width, :math:`g \approx 1/3` at a fixed aspect ratio). Per
posterior draw, the best run minimises :math:`L'(N', C / (k N(N')))` over a grid of
:math:`N'` (+-1 dex around that draw's own optimum, refined by a parabola through the best three
points), the allocation drift beyond the data included and the loss drift left out of the
minimisation, as for :meth:`~bayes_scaling.forecast.result.ScalingFit.optimal_draws`; the loss
there includes both drifts. For the first fit the same search gives its own compute optimum.

Pearce & Song (2024, "Reconciling Kaplan and Chinchilla scaling laws") trace most of the gap
between Kaplan's and Chinchilla's allocation exponents to this choice at small sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.reading import numeric_column
from ..errors import SpecError
from ..forecast.result import ScalingFit
from .inputs import Arguments, _answer_guard

#: Half-width of the per-draw search for the best run along a budget line, in dex of N.
SEARCH_DEX = 1.0
#: Grid points of that search (0.008 dex apart before the parabola refines the minimum).
SEARCH_POINTS = 241


@dataclass(frozen=True)
class CountMap:
    r"""The first convention's parameter count as a function of the second's:
    :math:`N = N' + \mathrm{sign}\, c\, N'^{g}` (``c = 0``: the two columns are equal), fitted to
    the table's distinct pairs of counts. ``rms_dex``: its root-mean-square error on those
    pairs (dex of N); ``fitted``: the range of N' it was fitted on."""

    reference: str
    other: str
    c: float
    g: float
    sign: float
    rms_dex: float
    fitted: tuple[float, float]
    pairs: int

    def __call__(self, n_other) -> np.ndarray:
        n_other = np.asarray(n_other, dtype=float)
        return n_other + self.sign * self.c * n_other**self.g

    def describe(self) -> str:
        if self.c == 0:
            return f"'{self.reference}' equals '{self.other}' in every row"
        which = "more" if self.sign > 0 else "fewer"
        return (
            f"'{self.reference}' counts {self.c:.3g} N'^{self.g:.2f} {which} than '{self.other}' (N'), "
            f"fitted to {self.pairs} sizes, N' {self.fitted[0]:.3g}-{self.fitted[1]:.3g} "
            f"(rms {self.rms_dex:.3f} dex)"
        )


def read_counts(column) -> np.ndarray:
    """A column of parameter counts as floats, read as the runs table reads them ("7B" as 7e9);
    blanks and anything else that is not a count as NaN."""
    return numeric_column(column, "", [])[0]


def count_map(table: pd.DataFrame, reference: str, other: str) -> CountMap:
    """The :class:`CountMap` from column ``other`` to column ``reference`` of ``table``, fitted to
    the rows that give both (text such as "7B" is read as the runs table reads it; a row with
    one count only does not inform the map). Refused, naming the problem, when a column is
    missing, no row gives both, or the difference is not of one sign in every row (one column
    must be the other plus a part)."""
    missing = [name for name in (reference, other) if name not in table.columns]
    if missing:
        raise SpecError(
            f"the runs table has no column {' or '.join(map(repr, missing))} "
            f"(its columns: {', '.join(map(str, table.columns))})"
        )
    n_ref, n_other = read_counts(table[reference]), read_counts(table[other])
    given = np.isfinite(n_ref) & np.isfinite(n_other) & (n_ref > 0) & (n_other > 0)
    if given.sum() == 0:
        raise SpecError(f"no row gives both '{reference}' and '{other}' as positive counts")
    pairs = np.unique(np.column_stack([n_ref[given], n_other[given]]), axis=0)
    diff = pairs[:, 0] - pairs[:, 1]
    tol = 1e-9 * pairs[:, 0]
    fitted = (float(pairs[:, 1].min()), float(pairs[:, 1].max()))
    if np.all(np.abs(diff) <= tol):
        return CountMap(reference, other, 0.0, 1.0, 1.0, 0.0, fitted, len(pairs))
    if not (np.all(diff > tol) or np.all(diff < -tol)):
        raise SpecError(
            f"'{reference}' is not larger than '{other}' in every row, nor smaller in every row: one column must "
            "count the other's parameters plus a part (e.g. the embeddings) in every row"
        )
    sign = 1.0 if diff[0] > 0 else -1.0
    x, y = np.log(pairs[:, 1]), np.log(np.abs(diff))
    if len(np.unique(x)) >= 2:
        g, log_c = np.polyfit(x, y, 1)
    else:  # one size: the part is a fixed share of it
        g, log_c = 1.0, float(np.mean(y - x))
    m = CountMap(reference, other, float(np.exp(log_c)), float(g), sign, 0.0, fitted, len(pairs))
    rms = float(np.sqrt(np.mean((np.log10(m(pairs[:, 1])) - np.log10(pairs[:, 0])) ** 2)))
    return CountMap(reference, other, m.c, m.g, sign, rms, fitted, len(pairs))


def _best_runs(fit: ScalingFit, flops: float, to_reference) -> dict[str, np.ndarray]:
    """Per draw, the best run on the budget line C = k N(N') D: N' (the fit's own count), N
    (the first convention's), D and the expected log loss there (both drifts included)."""
    k = fit.flops_per_param_token
    n_own = fit.optimal_params_draws(np.full((1, 1), flops), within_range=True)[:, 0]
    for _ in range(3):  # centre the search on the draw's optimum at its own nominal budget
        n_own = fit.optimal_params_draws((flops * n_own / to_reference(n_own))[:, None], within_range=True)[:, 0]
    step = SEARCH_DEX * math.log(10) * 2 / (SEARCH_POINTS - 1)
    u = np.linspace(-SEARCH_DEX * math.log(10), SEARCH_DEX * math.log(10), SEARCH_POINTS)
    log_n = np.log(n_own)[:, None] + u[None, :]
    n = np.exp(log_n)
    d = flops / (k * to_reference(n))
    undrifted = fit.with_extrapolation_sd(0.0, 0.0)  # (the allocation drift stays)
    with np.errstate(invalid="ignore", over="ignore"):
        surface = undrifted.log_mean_draws(n, d)
    surface = np.where(np.isfinite(surface), surface, np.inf)
    j = np.clip(np.argmin(surface, axis=1), 1, SEARCH_POINTS - 2)
    rows = np.arange(len(j))
    left, mid, right = surface[rows, j - 1], surface[rows, j], surface[rows, j + 1]
    curve = left - 2 * mid + right
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(curve > 0, 0.5 * (left - right) / curve, 0.0)
    log_best = log_n[rows, j] + np.clip(np.nan_to_num(offset), -1, 1) * step
    at_edge = (np.argmin(surface, axis=1) == 0) | (np.argmin(surface, axis=1) == SEARCH_POINTS - 1)
    log_best = np.where(at_edge | ~np.isfinite(mid), np.nan, log_best)
    best = np.exp(log_best)
    n_ref = to_reference(best)
    tokens = flops / (k * n_ref)
    with np.errstate(invalid="ignore"):
        log_loss = fit.log_mean_draws(best[:, None], tokens[:, None])[:, 0]
    return {"own": best, "params": n_ref, "tokens": tokens, "log_loss": log_loss}


@dataclass
class ConventionShift:
    """Answer of :func:`convention_shift`.

    Attributes
    ----------
    conventions : the two column names, the first one defining compute.
    count_map : how the first count follows from the second (:class:`CountMap`).
    budgets : one row per (budget, convention): the best run's size in the first convention's
        count (``params_*``) and in its own (``own_params_median``), its tokens and its expected
        loss (median and ``prob`` interval; ``no_optimum``: the share of draws whose minimum
        lies at the edge of the search).
    shifts : one row per budget: the second convention's median over the first's for the size,
        tokens and loss (``loss_change_pct``), and that loss change as a share of half the first
        fit's interval width (``loss_change_in_band``: below 1, inside the band).
    targets : one row per named model and convention (empty without ``targets``): its expected
        loss, median and interval.
    exponents : the law's parameters and allocation exponents (medians) under each convention.
    """

    conventions: tuple[str, str]
    count_map: CountMap
    budgets: pd.DataFrame
    shifts: pd.DataFrame
    targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    exponents: pd.DataFrame = field(default_factory=pd.DataFrame)
    prob: float = 0.9

    def lines(self) -> list[str]:
        first, second = self.conventions
        out = [
            f"How the forecast moves from N = '{first}' to N = '{second}' (budgets C = k N D in '{first}'):",
            f"  {self.count_map.describe()}",
        ]
        for _, row in self.shifts.iterrows():
            out.append(
                f"  C = {row['flops']:.3g}: best size x{row['params_ratio']:.2f} ('{first}' count), "
                f"tokens x{row['tokens_ratio']:.2f}, loss {row['loss_change_pct']:+.2f}% "
                f"({abs(row['loss_change_in_band']):.2f} of the half-width of the {self.prob:.0%} band with '{first}')"
            )
        lost = self.budgets[self.budgets["no_optimum"] > 0]
        for _, row in lost.iterrows():
            out.append(
                f"  C = {row['flops']:.3g}, N = '{row['convention']}': {row['no_optimum']:.1%} of the draws have no "
                "optimum inside the search (left out of the medians above)"
            )
        if not self.exponents.empty and "a" in self.exponents.index:
            a = self.exponents.loc["a"]
            out.append(
                f"  allocation exponent a (N* ~ C^a): {a[first]:.3f} with '{first}', {a[second]:.3f} with '{second}'"
            )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def convention_shift(
    fits: Mapping[str, ScalingFit],
    table: pd.DataFrame,
    flops,
    *,
    targets: pd.DataFrame | None = None,
    tokens: str = "tokens",
    prob: float = 0.9,
) -> ConventionShift:
    """How much the forecast moves between two parameter-count conventions.

    ``fits``: two fits of the same runs, keyed by the column each counted N with (the first
    defines compute, see the module); ``table``: the runs table holding both columns (their
    pairs give the map between the counts); ``flops``: budgets in the first convention's
    compute; ``targets``: optional named models, a table with both count columns and
    ``tokens``. No sampling: both fits' stored draws.
    """
    args = Arguments()
    budgets = args.counts("flops", flops)
    prob = args.probability("prob", prob)
    if not isinstance(fits, Mapping) or len(fits) != 2:
        args.problems.append(
            "fits must be two fits keyed by the column each counted N with, e.g. "
            "{'params': fit_total, 'params_nonembedding': fit_nonembedding}"
        )
    args.check()
    (first, fit_a), (second, fit_b) = fits.items()
    fit_a, fit_b = _answer_guard(fit_a), _answer_guard(fit_b)
    for name, f in ((first, fit_a), (second, fit_b)):
        if not f.law.allocates:
            raise SpecError(f"the fit for '{name}' is of law '{f.law.name}', which has no compute-optimal split")
    mapping = count_map(table, first, second)
    q = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    rows, shifts = [], []
    for c in budgets:
        best = {
            first: _best_runs(fit_a, c, lambda n: np.asarray(n, dtype=float)),
            second: _best_runs(fit_b, c, mapping),
        }
        summary = {}
        for name, b in best.items():
            lo, med, hi = np.nanquantile(np.exp(b["log_loss"]), q)
            summary[name] = {
                "flops": c,
                "convention": name,
                "params_median": float(np.nanmedian(b["params"])),
                "own_params_median": float(np.nanmedian(b["own"])),
                "tokens_median": float(np.nanmedian(b["tokens"])),
                "loss_median": float(med),
                "loss_lower": float(lo),
                "loss_upper": float(hi),
                "no_optimum": float(np.mean(~np.isfinite(b["own"]))),
            }
            rows.append(summary[name])
        a, b = summary[first], summary[second]
        half = 0.5 * (a["loss_upper"] - a["loss_lower"])
        shifts.append(
            {
                "flops": c,
                "params_ratio": b["params_median"] / a["params_median"],
                "tokens_ratio": b["tokens_median"] / a["tokens_median"],
                "loss_change_pct": 100 * (b["loss_median"] / a["loss_median"] - 1),
                "loss_change_in_band": (b["loss_median"] - a["loss_median"]) / half if half > 0 else math.nan,
            }
        )
    return ConventionShift(
        (first, second),
        mapping,
        pd.DataFrame(rows),
        pd.DataFrame(shifts),
        _target_losses(fits, targets, tokens, q) if targets is not None else pd.DataFrame(),
        _exponents(fits),
        prob,
    )


def _target_losses(fits, targets: pd.DataFrame, tokens: str, q) -> pd.DataFrame:
    """Expected loss of each named model under each convention (its own count of that model)."""
    missing = [name for name in (*fits, tokens) if name not in targets.columns]
    if missing:
        raise SpecError(
            f"the targets table needs the columns {', '.join(map(repr, missing))}: each model's counts and tokens"
        )
    d = pd.to_numeric(targets[tokens], errors="raise").to_numpy(dtype=float)
    out = []
    for name, f in fits.items():
        n = pd.to_numeric(targets[name], errors="raise").to_numpy(dtype=float)
        loss = np.exp(f.log_mean_draws(n[None, :], d[None, :]))
        lo, med, hi = np.quantile(loss, q, axis=0)
        for i in range(len(n)):
            out.append(
                {
                    "target": i,
                    "convention": name,
                    "params": n[i],
                    "tokens": d[i],
                    "loss_median": med[i],
                    "loss_lower": lo[i],
                    "loss_upper": hi[i],
                }
            )
    return pd.DataFrame(out)


def _exponents(fits) -> pd.DataFrame:
    """Posterior medians of each fit's reported parameters (exponents, a, b), side by side."""
    columns = {}
    for name, f in fits.items():
        table = f.summary()
        columns[name] = table["median"] if "median" in table.columns else table.iloc[:, 0]
    return pd.DataFrame(columns)
