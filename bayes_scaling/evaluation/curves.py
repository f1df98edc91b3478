r"""Backtests of curve fits: hold runs out, forecast their curves, score along them.

:func:`curve_backtest` fits on the curves an analyst would have had and scores the forecast of
each held-out run at :data:`SCORE_POINTS` steps spread evenly in LR area plus its last row, only
where the fit has not seen it: after its own fitted prefix and after any start it shares with a
fitted run (a cooldown branched off a fitted run, or the trunk of fitted branches). Three kinds of hold-out are the usual ones:

- a new schedule at the sizes seen (hold out one schedule's runs at every size);
- a new, larger size (hold out every run of the largest size);
- a run's future (``prefix``: keep the first part of the held-out runs; the forecast continues
  them, conditional on what they logged).

Beside ours, the point fit of the Multi-Power Law as its authors fit it
(:func:`multipower_point_fit`): one fit per model size, Huber loss (delta 1e-3) on log loss,
L-BFGS from the best points of a grid, every logged row of every run.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .. import _constants as K
from ..data.curves import Curves
from ..errors import SpecError
from ..laws.curves import DEFAULT_CURVE_LAW, get_curve_law
from ..laws.schedules import curve_features, stack_features
from .scores import crps_from_draws

#: Steps scored per held-out run (evenly in LR area), plus its last row.
SCORE_POINTS = 20
HUBER_DELTA = 1e-3
#: The best grid points refined by L-BFGS.
REFINED_STARTS = 3


def score_steps(curves: Curves, run_id: str, after: float) -> np.ndarray:
    """Up to :data:`SCORE_POINTS` logged steps of ``run_id`` after step ``after``, spread evenly
    in LR area, and its last row."""
    steps = curves.rows(run_id)[K.STEP].to_numpy()
    steps = steps[steps > after]
    if not steps.size:
        return steps
    area = curves.schedules[run_id].area(steps)
    targets = np.linspace(area[0], area[-1], SCORE_POINTS)
    picks = np.clip(np.searchsorted(area, targets), 0, steps.size - 1)
    return np.unique(np.r_[steps[picks], steps[-1]])


def multipower_point_fit(curves: Curves, law: str = DEFAULT_CURVE_LAW, starts: int = 3) -> dict:
    """``{params: theta}``: the law fitted per model size by Huber loss on log loss (the
    authors' recipe), from a grid of ``starts`` values per shape parameter."""
    from scipy.optimize import minimize

    component = get_curve_law(law)
    lr_unit = max(s.peak for s in curves.schedules.values())
    out = {}
    for size, rows in curves.frame.groupby(K.PARAMS):
        feats = stack_features(
            [
                curve_features(curves.schedules[rid], r[K.STEP].to_numpy(), lr_unit=lr_unit)
                for rid, r in rows.groupby(K.RUN_ID, sort=False)
            ]
        )
        y = np.log(np.concatenate([r[K.LOSS].to_numpy() for _, r in rows.groupby(K.RUN_ID, sort=False)]))
        unknown = sorted(set(component.parameters) - set(POINT_FIT_FIXED) - set(POINT_FIT_GRID))
        if unknown:
            raise SpecError(f"the point fit has no starting grid for parameters {unknown} of law '{law}'")
        unpack, objective = _huber_objective(component, feats, y)
        free = [p for p in component.parameters if p not in POINT_FIT_FIXED]
        grid = {name: values(float(np.exp(y).min()), starts) for name, values in POINT_FIT_GRID.items()}
        candidates = sorted(
            (objective(np.array(start, dtype=float)), start) for start in itertools.product(*(grid[p] for p in free))
        )
        best = None
        for _, start in candidates[:REFINED_STARTS]:
            res = minimize(objective, np.array(start, dtype=float), method="L-BFGS-B")
            if best is None or res.fun < best.fun:
                best = res
        out[float(size)] = unpack(best.x)
    return out


#: Size terms of the curve laws, fixed in a fit of one size (log_x = 0 there).
POINT_FIT_FIXED = {
    "log_P": 0.0,
    "p": 1.0,
    "a_N": 0.0,
    "b_N": 0.0,
    "c_N": 0.0,
    "alpha_N": 0.0,
    "kappa_N": 0.0,
    "gamma_N": 0.0,
}
#: Parameters the point fit optimises on the log scale (positive).
POINT_FIT_POSITIVE = ("alpha", "kappa", "nu", "gamma")
#: The starting grid of each parameter (its optimiser's scale), from the lowest loss and the
#: number of values per parameter.
POINT_FIT_GRID = {
    "l0": lambda low, k: np.linspace(low - 0.6, low - 0.1, k),
    "log_A": lambda low, k: [np.log(0.5)],
    "alpha": lambda low, k: np.log(np.linspace(0.3, 0.7, k)),
    "log_B": lambda low, k: np.linspace(np.log(0.05), np.log(1.0), k),
    "log_C": lambda low, k: np.linspace(np.log(0.01), np.log(0.5), k),
    "kappa": lambda low, k: np.log(np.linspace(0.5, 5.0, k)),
    "nu": lambda low, k: [np.log(1.0)],
    "gamma": lambda low, k: np.log(np.linspace(0.3, 1.5, k)),
}


def _huber_objective(component, feats, y):
    """``(unpack, objective)``: the free parameters' vector to theta, and the Huber loss of log loss."""
    free = [p for p in component.parameters if p not in POINT_FIT_FIXED]
    fixed = {k: v for k, v in POINT_FIT_FIXED.items() if k in component.parameters}

    def unpack(v):
        theta = {p: (np.exp(x) if p in POINT_FIT_POSITIVE else x) for p, x in zip(free, v, strict=True)}
        return theta | fixed

    def objective(v):
        mean = component.mean(unpack(v), feats, 0.0)
        if np.any(~np.isfinite(mean)) or np.any(mean <= 0):
            return 1e6
        r = np.abs(np.log(mean) - y)
        return float(np.sum(np.where(r <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (r - 0.5 * HUBER_DELTA))))

    return unpack, objective


def point_curve(theta: dict, law: str, curves: Curves, run_id: str, steps, lr_unit: float) -> np.ndarray:
    f = curve_features(curves.schedules[run_id], steps, lr_unit=lr_unit)
    return np.asarray(get_curve_law(law).mean({k: np.asarray(v) for k, v in theta.items()}, f, 0.0))


def score_curve(y, median, draws=None) -> dict:
    """Along-curve scores of one forecast: errors in percent, coverage, CRPS (loss units)."""
    y = np.asarray(y, dtype=float)
    out = {"ape": 100 * np.abs(median - y) / y, "abs_err": np.abs(median - y)}
    if draws is not None:
        for prob in (0.5, 0.9):
            lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
            out[f"in_{int(prob * 100)}"] = (y >= lo) & (y <= hi)
            out[f"width_{int(prob * 100)}_pct"] = 100 * (hi - lo) / 2 / median
        out["crps"] = crps_from_draws(draws, y)
    return out


def curve_backtest(
    curves: Curves,
    held_out,
    *,
    law: str = DEFAULT_CURVE_LAW,
    prefix: float | None = None,
    point_fit: bool = True,
    **fit_kwargs,
) -> pd.DataFrame:
    """Fit on every run but ``held_out`` (or, with ``prefix``, on the held-out runs' first
    ``prefix`` share of steps as well) and score the held-out runs' forecasts along their curves:
    one row per (method, run, step), with ``is_end`` marking each run's last row."""
    from ..forecast.curves import fit_curves

    held_out = list(held_out)
    missing = sorted(set(held_out) - set(curves.run_ids))
    if missing:
        raise SpecError(f"held-out runs not in the table: {missing}")
    train = curves
    cut = {}
    if prefix is not None and not 0 < prefix < 1:
        raise SpecError(f"prefix is the share of each held-out run's steps fitted, between 0 and 1; got {prefix!r}")
    if prefix is None:
        train = curves.subset([r for r in curves.run_ids if r not in held_out])
    else:
        for rid in held_out:
            steps = curves.rows(rid)[K.STEP].to_numpy()
            cut[rid] = float(steps[np.searchsorted(steps, prefix * steps[-1], side="right") - 1])
            train = train.truncate(rid, cut[rid])
    result = fit_curves(train, law, **fit_kwargs)
    points = multipower_point_fit(train, law) if point_fit else {}
    lr_unit = result.inputs.scale.lr_unit
    rows = []
    for rid in held_out:
        # Scored only where the fit has not seen the run: after its own fitted prefix, and after
        # any start it shares with a fitted run (a cooldown branched off one, or that run's trunk).
        full = curves.rows(rid)
        seen = train.shared_until(full, [r for r in train.run_ids if r != rid])
        first = float(curves.rows(rid)[K.STEP].iloc[0]) - 1
        steps = score_steps(curves, rid, after=np.nanmax([cut.get(rid, first), seen, first]))
        if not steps.size:
            continue
        table = curves.rows(rid).set_index(K.STEP)
        y = table.loc[steps, K.LOSS].to_numpy()
        size = float(table[K.PARAMS].iloc[0])
        schedule = curves.schedules[rid]
        given = None
        if prefix is not None:
            given = rid
        elif np.isfinite(seen):  # a branch: continued from the fitted run whose start it shares
            donor = next(r for r in train.run_ids if r != rid and train.shared_until(full, [r]) == seen)
            given = (donor, seen)
        fc = result.predict_curve(size, schedule, steps, kind="new_run", given=given, accept_unconverged=True)
        scored = {"bayes_scaling": score_curve(y, fc.median, fc.draws)}
        if given is not None and prefix is None:  # the same run, not continued from its trunk
            alone = result.predict_curve(size, schedule, steps, kind="new_run", accept_unconverged=True)
            scored["bayes_scaling_unconditional"] = score_curve(y, alone.median, alone.draws)
        if size in points:
            scored["point_fit"] = score_curve(y, point_curve(points[size], law, curves, rid, steps, lr_unit))
        for method, s in scored.items():
            frame = pd.DataFrame({"step": steps, "loss": y, **s})
            frame["method"], frame["run_id"], frame["params"] = method, rid, size
            frame["is_end"] = frame["step"] == steps[-1]
            frame["conditional"] = given is not None and method == "bayes_scaling"
            rows.append(frame)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    out.attrs["verdict"] = result.verdict.headline()
    return out
