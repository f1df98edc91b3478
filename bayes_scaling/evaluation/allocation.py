r"""A design-consistent score of compute-optimal allocations at held-out IsoFLOP budgets.

The IsoFLOP minimum of held-out runs is not the truth: it is an *estimator* (the vertex of a
parabola in :math:`\ln N` through a few noisy losses) whose noise and bias depend on the design
(how many sizes, how wide, how asymmetric). Scoring a forecast of :math:`N^*(C)` against it as
if it were exact (the legacy :func:`~bayes_scaling.evaluation.optimum.score_optimum`) blames the
forecast for the estimator. Here the forecast is moved into the estimator's space instead:

1. **Budgets** (:func:`isoflop_budgets`): held-out runs grouped by a design label (a digitized
   study snapped to its nominal budgets may scatter around them: the forecast is made at each
   run's actual N and D all the same) or by exact compute (sd of :math:`\log_{10} C` within a
   budget at most :data:`MAX_BUDGET_SD`); a budget is
   scored only with at least :data:`MIN_SIZES` distinct sizes spanning :data:`MIN_SPAN_DEX`
   decades of N and an observed vertex at least one size inside the grid; diverged runs (loss
   more than :data:`DIVERGED_RATIO` times the budget's best) are dropped. Every exclusion is
   logged with its reason.
   The estimator (:func:`vertex_log_params`) is a bisquare-robust parabola.
2. **Replicates**: for each posterior draw, new-run losses are simulated at the budget's
   *actual* (N, D) (``fit.predict(kind="new_run")``: noise, drift and allocation drift
   included) and the *same* vertex estimator (:func:`vertex_log_params`) is applied to each
   replicate, giving the forecast distribution of the observed vertex.
3. **Scores** in dex (log10 N), of the replicates *conditioned on the event that made the
   observed budget scorable* (a vertex at least one size inside the grid; ``accepted`` is the
   share of replicates that pass): the PIT of the observed vertex, whether the central 50/80/90%
   intervals cover it, the CRPS, the error of the forecast's median and its 90% width.

Baselines: Approach 3 (the estimator applied to its noise-free predictions at the budget's
points; a point forecast) and Approach 2 with a noise-injection bootstrap (the parabola residual
sd put back on the training losses, every parabola and the power law refitted). Approach 2's
draws are its law's N*(C), conditioned on the same window but without the held-out budget's own
estimator noise: the interval a practitioner gets from it, not a design-consistent forecast.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.isoflop import MAX_BUDGET_SD, budget_labels
from ..data.runs import Runs
from ..laws.maths import chinchilla_loss
from .baselines import approach3
from .scores import crps_from_draws

#: Fewest distinct model sizes a scored budget must have.
MIN_SIZES = 5
#: Smallest span of the sizes of a scored budget, in decades of N.
MIN_SPAN_DEX = 0.6
#: A run whose loss exceeds the budget's best by this factor diverged or lies far out on an arm
#: (dropped, logged; the vertex estimator drops such runs from replicates too).
DIVERGED_RATIO = 1.5
#: Bisquare refits of the vertex estimator, and the bisquare's tuning constant (95% efficiency
#: under Gaussian noise).
ROBUST_STEPS = 3
BISQUARE_C = 4.685
#: Bins of the extrapolation distance log10(C / largest fitted C) the summaries are given by.
DISTANCE_BINS = (0.0, 0.3, 0.7, 1.2, np.inf)
#: Central interval probabilities scored.
LEVELS = (0.5, 0.8, 0.9)


# --------------------------------------------------------------------------- the estimator
def diverged(losses) -> np.ndarray:
    """Runs of a budget (last axis) whose loss exceeds :data:`DIVERGED_RATIO` times the budget's
    second-best loss (one low outlier cannot make every other run "diverged"); NaN counts."""
    y = np.asarray(losses, dtype=float)
    second = np.sort(np.where(np.isnan(y), np.inf, y), axis=-1)[..., 1:2]
    return ~(y <= DIVERGED_RATIO * second)


def vertex_log_params(log_n, losses) -> np.ndarray:
    r""":math:`\ln N` at the minimum of a robust parabola in :math:`\ln N` through the losses of one
    IsoFLOP budget: the vertex estimator of this module.

    ``losses`` has shape ``(..., n)`` (any number of replicates at once) for the ``n`` sizes
    ``log_n``. Runs flagged by :func:`diverged` are dropped (as :func:`isoflop_budgets` drops them
    from observed budgets), then the parabola is fitted by least squares and refitted
    :data:`ROBUST_STEPS` times with Tukey's bisquare weights (scale: the MAD of the residuals),
    so one outlying run cannot throw the vertex away (real budgets have them; so do replicates
    from a heavy-tailed new-run noise). A parabola opening downward (or flat) has its minimum at
    the end of the grid with the lower fitted loss; a vertex outside the grid is moved to its
    nearer end. NaN where fewer than 3 runs are kept.
    """
    x = np.asarray(log_n, dtype=float)
    y = np.asarray(losses, dtype=float)
    centre = x.mean()
    u = x - centre
    design = np.column_stack([u**2, u, np.ones_like(u)])
    keep = (~diverged(y)).astype(float)
    y = np.where(keep > 0, y, 0.0)  # (NaN and diverged runs have weight 0)
    weights = keep
    ridge = 1e-12 * np.eye(3)
    for step in range(ROBUST_STEPS + 1):
        gram = np.einsum("...n,ni,nj->...ij", weights, design, design) + ridge
        rhs = np.einsum("...n,ni,...n->...i", weights, design, y)
        coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
        if step == ROBUST_STEPS:
            break
        resid = y - coef @ design.T
        spread = np.where(keep > 0, np.abs(resid), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (replicates with no run kept: NaN below)
            scale = 1.4826 * np.nanmedian(spread, axis=-1, keepdims=True)
        scale = np.maximum(np.nan_to_num(scale), 1e-9 * np.abs(y).mean(axis=-1, keepdims=True) + 1e-300)
        t = resid / (BISQUARE_C * scale)
        weights = keep * np.where(np.abs(t) < 1, (1 - t**2) ** 2, 0.0)
    c2, c1 = coef[..., 0], coef[..., 1]
    lo, hi = u.min(), u.max()
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
    at_ends = np.where(c2 * lo**2 + c1 * lo <= c2 * hi**2 + c1 * hi, lo, hi)
    out = centre + np.clip(np.where(np.isfinite(vertex), vertex, at_ends), lo, hi)
    return np.where(keep.sum(axis=-1) >= 3, out, np.nan)


# --------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class Budget:
    """One scored IsoFLOP budget: its runs (``rows`` into the table) and observed vertex."""

    label: str
    flops: float
    rows: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray

    @property
    def observed(self) -> float:
        """The observed vertex, log10 N."""
        return float(vertex_log_params(np.log(self.params), self.loss) / np.log(10.0))

    @property
    def window(self) -> tuple[float, float]:
        """Where a vertex must lie for the budget to be scored (log10 N): from the second smallest
        to the second largest size. Replicates are conditioned on the same event."""
        sizes = np.unique(np.round(np.log10(self.params), 4))
        return float(sizes[1]), float(sizes[-2])


@dataclass
class Budgets:
    """The budgets of a table that pass the design rules, and why the others did not."""

    scored: list[Budget] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def snap_to_budgets(flops, nominal, *, tolerance_dex: float = 0.1) -> np.ndarray:
    """Design labels for runs whose compute scatters around known nominal budgets (digitized
    designs): the nearest nominal budget within ``tolerance_dex`` decades, else NaN."""
    log_c = np.log10(np.asarray(flops, dtype=float))[:, None]
    log_b = np.log10(np.asarray(nominal, dtype=float))[None, :]
    dist = np.abs(log_c - log_b)
    nearest = np.asarray(nominal, dtype=float)[dist.argmin(axis=1)]
    return np.where(dist.min(axis=1) <= tolerance_dex, nearest, np.nan)


def isoflop_budgets(runs: Runs, labels=None, *, name: str = "") -> Budgets:
    """The IsoFLOP budgets of ``runs`` that can be scored (module docstring, step 1).

    ``labels``: one design label per row (e.g. the budget in a run's name); default: runs
    grouped by exact compute. ``name`` prefixes the exclusion messages."""
    flops = runs.flops
    exact = labels is None
    if exact:
        labels = budget_labels(flops)
    labels = np.asarray(labels, dtype=object)
    out = Budgets()
    prefix = f"{name}: " if name else ""
    unlabelled = np.array([lab is None or (isinstance(lab, float) and np.isnan(lab)) for lab in labels])
    if unlabelled.any():
        out.excluded.append(f"{prefix}{int(unlabelled.sum())} run(s) belong to no budget (no design label)")
    for label in pd.unique(labels[~unlabelled]):
        rows = np.flatnonzero((labels == label) & ~unlabelled)
        c = float(np.exp(np.median(np.log(flops[rows]))))
        where = f"{prefix}budget {c:.3g} FLOPs"
        sd = float(np.std(np.log10(flops[rows])))
        if exact and sd > MAX_BUDGET_SD:
            out.excluded.append(f"{where}: sd of log10 C within the budget is {sd:.3f} > {MAX_BUDGET_SD}")
            continue
        bad = diverged(runs.loss[rows]) if rows.size > 1 else np.zeros(rows.size, dtype=bool)
        if bad.any():
            out.excluded.append(
                f"{where}: {int(bad.sum())} run(s) with loss > {DIVERGED_RATIO}x the budget's second best dropped "
                "(diverged or far out on an arm)"
            )
            rows = rows[~bad]
        x = np.log10(runs.params[rows])
        sizes = np.unique(np.round(x, 4))
        if sizes.size < MIN_SIZES:
            out.excluded.append(f"{where}: {sizes.size} distinct sizes < {MIN_SIZES}")
            continue
        if sizes[-1] - sizes[0] < MIN_SPAN_DEX:
            out.excluded.append(f"{where}: sizes span {sizes[-1] - sizes[0]:.2f} dex < {MIN_SPAN_DEX}")
            continue
        budget = Budget(
            label=str(label),
            flops=c,
            rows=rows,
            params=runs.params[rows],
            tokens=runs.tokens[rows],
            loss=runs.loss[rows],
        )
        lo, hi = budget.window
        if not lo <= budget.observed <= hi:
            out.excluded.append(f"{where}: observed vertex is not at least one size inside the grid")
            continue
        out.scored.append(budget)
    return out


# --------------------------------------------------------------------------- scores
#: Fewest accepted replicates a forecast needs to be scored.
MIN_ACCEPTED = 100


def vertex_replicates(fit, budget: Budget, random_seed: int) -> np.ndarray:
    """The forecast distribution of ``budget``'s observed vertex (log10 N, one per draw): new-run
    losses simulated at its actual (N, D) from each posterior draw of ``fit``, through the same
    estimator (module docstring, step 2)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # extrapolation and diagnostics are recorded by the caller
        draws = fit.predict(budget.params, budget.tokens, kind="new_run", random_seed=random_seed).draws
    return vertex_log_params(np.log(budget.params), draws) / np.log(10.0)


def score_replicates(replicates, observed: float, window=None) -> dict:
    """Scores (dex) of a forecast distribution of the vertex (``replicates``, log10 N).

    With ``window`` (the budget's :attr:`Budget.window`) the forecast is conditioned on the event
    that made the observed budget scorable: only replicates whose vertex lies inside it count
    (``accepted``: their share). Without that, replicates piled at the grid's ends would widen
    every interval to the whole grid and "cover" any interior vertex by construction."""
    x = np.asarray(replicates, dtype=float)
    x = x[np.isfinite(x)]
    accepted = 1.0
    if window is not None:
        inside = (x >= window[0]) & (x <= window[1])
        accepted = float(inside.mean()) if x.size else 0.0
        x = x[inside]
    if x.size < MIN_ACCEPTED:
        return {"accepted": accepted, "pit": np.nan}
    pit = float(np.mean(x < observed) + 0.5 * np.mean(x == observed))
    row = {"pit": pit, "crps_dex": float(crps_from_draws(x[:, None], np.array([observed]))[0])}
    row["median_error_dex"] = float(np.median(x) - observed)
    for p in LEVELS:
        row[f"covered_{round(100 * p)}"] = bool(abs(pit - 0.5) <= p / 2)
    lo, hi = np.quantile(x, [0.05, 0.95])
    row["width90_dex"] = float(hi - lo)
    row["accepted"] = accepted
    return row


def _point_row(value: float, observed: float) -> dict:
    value = float(value)
    row = {"pit": np.nan, "crps_dex": abs(value - observed), "median_error_dex": value - observed}
    row.update({f"covered_{round(100 * p)}": np.nan for p in LEVELS})
    row["width90_dex"] = 0.0
    return row


def approach2_bootstrap(train_budgets: list[Budget], flops, *, n_resamples: int = 400, random_seed: int = 0):
    """Approach 2 and its noise-injection bootstrap at budgets ``flops``.

    Not :func:`~bayes_scaling.evaluation.baselines.approach2`: here the vertices come from this
    module's estimator and budgets, so the baseline and the observed minima are read alike.

    Per training budget a parabola in ln N; the power law log10 N* = g + a log10 C through the
    vertices. The bootstrap puts Gaussian noise with the pooled parabola residual sd back on the
    fitted parabolas, refits every vertex and the power law. Returns ``(point, draws)`` in log10
    N (``draws``: ``(n_resamples, n_budgets)``); None when fewer than 2 training budgets."""
    if len(train_budgets) < 2:
        return None
    c = np.log10(np.asarray(flops, dtype=float))
    xs = [np.log(b.params) for b in train_budgets]
    fitted, resid, dof = [], 0.0, 0
    for b, x in zip(train_budgets, xs, strict=True):
        coef = np.polyfit(x, b.loss, 2)
        f = np.polyval(coef, x)
        fitted.append(f)
        resid += float(np.sum((b.loss - f) ** 2))
        dof += max(x.size - 3, 0)
    sd = np.sqrt(resid / max(dof, 1))
    log_c_train = np.log10([b.flops for b in train_budgets])

    def law(vertices):
        slope, intercept = np.polyfit(log_c_train, vertices / np.log(10.0), 1)
        return intercept + slope * c

    point = law(np.array([vertex_log_params(x, b.loss) for b, x in zip(train_budgets, xs, strict=True)]))
    rng = np.random.default_rng(random_seed)
    reps = np.stack(
        [vertex_log_params(x, f + rng.normal(0.0, sd, (n_resamples, x.size))) for x, f in zip(xs, fitted, strict=True)],
        axis=1,
    )  # (n_resamples, n_train_budgets)
    slope_int = np.polyfit(log_c_train, reps.T / np.log(10.0), 1)  # (2, n_resamples)
    draws = slope_int[1][:, None] + slope_int[0][:, None] * c[None, :]
    return point, draws


def score_allocation(
    train: Runs,
    test: Runs,
    fit=None,
    *,
    train_labels=None,
    test_labels=None,
    n_resamples: int = 400,
    random_seed: int = 0,
    name: str = "",
) -> tuple[pd.DataFrame, list[str]]:
    """Design-consistent scores of N*(C) forecasts at the held-out budgets of ``test``.

    ``fit``: a :class:`~bayes_scaling.ScalingFit` of ``train`` (else only the baselines).
    ``train_labels`` / ``test_labels``: design labels per row (default: exact compute).
    Returns one row per (budget, method) and the exclusion log (module docstring)."""
    held = isoflop_budgets(test, test_labels, name=name)
    trained = isoflop_budgets(train, train_labels, name=f"{name} (training)" if name else "training")
    largest = float(train.flops.max())
    a3 = approach3(train)
    a2 = approach2_bootstrap(
        trained.scored, [b.flops for b in held.scored], n_resamples=n_resamples, random_seed=random_seed
    )
    rows = []
    for j, budget in enumerate(held.scored):
        observed = budget.observed
        log_n = np.log(budget.params)
        base = {
            "budget": budget.label,
            "flops": budget.flops,
            "distance_dex": float(np.log10(budget.flops / largest)),
            "observed_log10_params": observed,
            "runs": budget.rows.size,
        }
        pred = chinchilla_loss(budget.params, budget.tokens, a3.E, a3.A, a3.B, a3.alpha, a3.beta)
        rows.append(
            {**base, "method": "approach3", **_point_row(vertex_log_params(log_n, pred) / np.log(10.0), observed)}
        )
        if a2 is not None:
            point, draws = a2
            row = score_replicates(draws[:, j], observed, budget.window)
            row["median_error_dex"] = float(point[j] - observed)
            rows.append({**base, "method": "approach2_bootstrap", **row})
        if fit is not None:
            replicates = vertex_replicates(fit, budget, random_seed + j)  # (another noise stream per budget)
            rows.append({**base, "method": "bayes_scaling", **score_replicates(replicates, observed, budget.window)})
    return pd.DataFrame(rows), held.excluded + trained.excluded


def distance_bin(distance_dex) -> pd.Series:
    """The distance bin label ("[0, 0.3)", ..., ">= 1.2") of each extrapolation distance."""
    edges = DISTANCE_BINS
    labels = [f"[{a:g}, {b:g})" for a, b in zip(edges[:-2], edges[1:-1], strict=True)] + [f">= {edges[-2]:g}"]
    d = np.clip(np.asarray(distance_dex, dtype=float), 0.0, None)
    return pd.Series(pd.cut(d, list(edges), right=False, labels=labels), dtype="object")


def summarize_allocation(rows: pd.DataFrame, by=("method",)) -> pd.DataFrame:
    """Coverage (50/80/90%), mean CRPS, median |error| and median 90% width, in dex, by ``by``."""

    def agg(g):
        out = {"budgets": len(g)}
        for p in LEVELS:
            out[f"cover_{round(100 * p)}"] = g[f"covered_{round(100 * p)}"].astype(float).mean()
        out["crps_dex"] = g["crps_dex"].mean()
        out["median_abs_error_dex"] = g["median_error_dex"].abs().median()
        out["median_width90_dex"] = g["width90_dex"].median()
        out["median_accepted"] = g["accepted"].median() if "accepted" in g else np.nan
        return pd.Series(out)

    return rows.groupby(list(by), observed=True).apply(agg, include_groups=False)


def cluster_bootstrap(rows: pd.DataFrame, column: str, cluster: str = "cluster", *, n: int = 2000, seed: int = 0):
    """95% interval of the mean of ``column`` resampling whole clusters (families) with
    replacement: budgets of one family share a fit and are not independent."""
    groups = [g[column].astype(float).to_numpy() for _, g in rows.groupby(cluster)]
    if len(groups) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    sums = np.array([g.sum() for g in groups])
    counts = np.array([g.size for g in groups])
    idx = rng.integers(0, len(groups), (n, len(groups)))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return tuple(np.quantile(means, [0.025, 0.975]))
