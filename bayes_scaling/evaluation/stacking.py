r"""Averaging over laws: a stacked predictive mixture that answers like a single fit.

Stacking (Yao et al. 2018) chooses weights :math:`w_k \ge 0`, :math:`\sum_k w_k = 1` that
maximise the leave-one-out log score of the mixture :math:`\sum_k w_k\, p_k(y_j \mid y_{-j})`
(ArviZ ``compare(method="stacking")`` on PSIS-LOO, one configuration left out at a time). The
mixture's draws are :math:`S w_k` posterior draws of each fit :math:`k`, so every answer of
:class:`~bayes_scaling.forecast.predictive.Predictive` (``predict``, ``predict_summary``, ``compute_optimal``)
is that of the mixture: each draw comes with its own law, parameters and extrapolation drift.

LOO measures interpolation, and a law that interpolates well can extrapolate badly. With
``holdout``, :func:`stack` instead weights by *leave-future-out CRPS stacking*
(:func:`lfo_crps_weights`): each spec is refitted to the runs before the holdout, and the
weights minimise the mean CRPS (of log loss) of the mixture's new-run forecasts of the runs
after it. For a mixture :math:`F = \sum_k w_k F_k`,

.. math:: \mathrm{CRPS}(F, y) = \sum_k w_k\, \mathbb{E}|X_k - y|
    - \tfrac12 \sum_{k,l} w_k w_l\, \mathbb{E}|X_k - X_l'|,

a convex quadratic in :math:`w` on the simplex (the second term is an energy distance).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..forecast.predictive import Predictive
from ..forecast.result import ScalingFit
from .holdout import as_rules, fit_quietly, split
from .loo import check_same_runs, loo_table
from .scores import crps_from_draws


class StackedFit(Predictive):
    """A predictive mixture of fits of the same runs, weighted by stacking (see :func:`stack`).

    ``weights`` (a Series over the fit names) and ``fits`` are kept; answers are over
    ``n_draws`` draws made of ``round(w_k * n_draws)`` draws of fit k (drawn once, with a fixed
    seed, so that every answer uses the same mixture).
    """

    def __init__(
        self, fits: Mapping[str, ScalingFit], weights: Mapping[str, float], *, n_draws: int = 4000, random_seed: int = 0
    ):
        if set(fits) != set(weights):
            raise SpecError(f"weights {sorted(weights)} do not name the fits {sorted(fits)}")
        w = pd.Series({name: float(weights[name]) for name in fits}, name="weight")
        if (w < 0).any() or not np.isclose(w.sum(), 1.0, atol=1e-6):
            raise SpecError(f"stacking weights must be >= 0 and sum to 1, got {w.to_dict()}")
        self.fits = dict(fits)
        self.weights = w
        counts = _largest_remainder(w.to_numpy(), n_draws)
        rng = np.random.default_rng(random_seed)
        self._rows = {}
        for (name, fit), count in zip(self.fits.items(), counts, strict=True):
            if count:
                self._rows[name] = np.sort(rng.choice(fit.n_draws, size=count, replace=count > fit.n_draws))
        self._n_draws = int(sum(counts))

    def _check_answerable(self, stacklevel: int = 3) -> None:
        """Each fit with weight in the mixture answers only as it would alone: refused if it did
        not converge (unless accepted), with a warning if its verdict is NOT OK."""
        for name in self._rows:
            self.fits[name]._check_answerable(stacklevel=stacklevel + 1)

    @property
    def fitted_compute(self) -> tuple[float, float] | None:
        """The compute range of the fitted runs (the fits share their runs)."""
        ranges = [fit.fitted_compute for fit in self.fits.values() if fit.fitted_compute is not None]
        return (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None

    def __repr__(self) -> str:
        parts = ", ".join(f"{name} {w:.2f}" for name, w in self.weights.items())
        return f"StackedFit({parts}; {self.n_draws} draws)"

    @property
    def n_draws(self) -> int:
        return self._n_draws

    @property
    def flops_per_param_token(self) -> float:
        return next(iter(self.fits.values())).flops_per_param_token

    def _forecast_log_loss(self, n, d, inputs, kind, rng, *, rows=slice(None), dtype=np.float64, marginal_only=False):
        if rows != slice(None):
            raise SpecError("a stacked fit answers over all of its draws")
        parts = [
            self.fits[name]._forecast_log_loss(
                n, d, inputs, kind, rng, rows=idx, dtype=dtype, marginal_only=marginal_only
            )
            for name, idx in self._rows.items()
        ]
        return np.concatenate(parts, axis=0)

    def optimal_draws(self, flops, *, within_range: bool = False) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal N*, D*, D*/N* and loss of the mixture (see
        :meth:`ScalingFit.optimal_draws`); every law with weight must have an allocation."""
        parts = [
            {
                key: values[idx]
                for key, values in self.fits[name].optimal_draws(flops, within_range=within_range).items()
            }
            for name, idx in self._rows.items()
        ]
        return {key: np.concatenate([p[key] for p in parts], axis=0) for key in parts[0]}

    def component_of_draws(self) -> np.ndarray:
        """The fit name of each of the mixture's draws (in the order answers use)."""
        return np.concatenate([np.full(idx.size, name, dtype=object) for name, idx in self._rows.items()])


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to ``weights`` that sum to ``total``."""
    raw = weights * total
    counts = np.floor(raw).astype(int)
    short = total - counts.sum()
    counts[np.argsort(-(raw - counts))[:short]] += 1
    return counts


def stack(
    fits: Mapping[str, ScalingFit],
    *,
    holdout=None,
    fit_options: Mapping | None = None,
    n_draws: int = 4000,
    random_seed: int = 0,
) -> StackedFit:
    """Stack fits of the *same runs* (e.g. different laws) into one predictive mixture.

    Weights are ArviZ's stacking weights on PSIS-LOO (:func:`bayes_scaling.compare`), which
    also checks that the fits share their data; with ``holdout`` (a compute cutoff or
    ``LargestSizes(k)``) they are leave-future-out CRPS stacking weights instead
    (:func:`lfo_crps_weights`; ``fit_options`` go to its refits). The result answers
    ``predict``, ``predict_summary`` and ``compute_optimal`` exactly like a single fit; its
    ``weights`` and the table they came from (``comparison``) are kept.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.testing import fabricated_fit
    >>> mix = StackedFit({"a": fabricated_fit(), "b": fabricated_fit(random_seed=1)}, {"a": 0.75, "b": 0.25}, n_draws=100)
    >>> mix.n_draws, (mix.component_of_draws() == "a").sum()
    (100, np.int64(75))
    """
    if holdout is None:
        table = loo_table(fits, method="stacking")
    else:
        table = lfo_crps_weights(fits, holdout, fit_options=fit_options, random_seed=random_seed)
    weights = table["weight"].clip(lower=0.0)
    stacked = StackedFit(fits, (weights / weights.sum()).to_dict(), n_draws=n_draws, random_seed=random_seed)
    stacked.comparison = table
    return stacked


def mean_abs_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r""":math:`\mathbb{E}|X - Y|` per column for independent samples ``x`` (n, p) and ``y`` (m, p),
    in O((n + m) log m) per column (sorted ``y`` and its cumulative sums)."""
    x, y = np.asarray(x, dtype=float), np.sort(np.asarray(y, dtype=float), axis=0)
    m = y.shape[0]
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        below = np.searchsorted(y[:, j], x[:, j], side="right")
        csum = np.concatenate([[0.0], np.cumsum(y[:, j])])
        total = csum[-1]
        # sum_i |x - y_i| = x (2c - m) - 2 S_c + S_m, with c values of y at or below x summing to S_c
        out[j] = np.mean(x[:, j] * (2 * below - m) - 2 * csum[below] + total) / m
    return out


def crps_stacking_weights(draws: Mapping[str, np.ndarray], y: np.ndarray) -> pd.Series:
    """Simplex weights minimising the mean CRPS at ``y`` of the mixture of ``draws``
    (``{name: (n_draws, n_points)}``), by the quadratic form in the module docstring."""
    from scipy import optimize

    names = list(draws)
    a = np.array([mean_abs_difference(draws[k], np.asarray(y, dtype=float)[None, :]).mean() for k in names])
    b = np.array([[mean_abs_difference(draws[k], draws[q]).mean() for q in names] for k in names])
    b = 0.5 * (b + b.T)

    def objective(w):
        return w @ a - 0.5 * w @ b @ w, a - b @ w

    n = len(names)
    result = optimize.minimize(
        objective,
        np.full(n, 1.0 / n),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
    )
    w = np.clip(result.x, 0.0, None)
    return pd.Series(w / w.sum(), index=names, name="weight")


def lfo_crps_weights(
    fits: Mapping[str, ScalingFit],
    holdout,
    *,
    fit_options: Mapping | None = None,
    n_draws: int = 1000,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Leave-future-out CRPS stacking: refit each fit's spec to the runs before ``holdout``
    (a compute cutoff or ``LargestSizes(k)``), forecast the runs after it (new-run draws of
    log loss, ``n_draws`` of each) and choose the weights minimising the mixture's mean CRPS.

    Returns a table over the fits: ``lfo_crps`` (each fit alone) and ``weight``; ``attrs`` has
    ``mixture_crps``, ``n_held_out`` and ``warnings`` (the refits' failed diagnostics, one line each).
    """
    if len(fits) < 2:
        raise SpecError(f"stacking needs at least two fits, got {len(fits)}")
    check_same_runs(fits)
    rules = as_rules(holdout)
    if len(rules) != 1:
        raise SpecError(f"leave-future-out stacking takes one holdout (a cutoff or LargestSizes), got {holdout!r}")
    runs = next(iter(fits.values())).runs
    if runs is None:
        raise SpecError("these fits store no runs: leave-future-out stacking needs them")
    train, test = split(runs, rules[0])
    y = np.log(test.loss)
    draws, notes = {}, []
    for name, f in fits.items():
        refit, problems = fit_quietly(train, f.spec.law, random_seed, {"model": f.spec, **dict(fit_options or {})})
        notes += [f"{name} (refit before {rules[0]}): {p}" for p in problems]
        forecast = refit.predict(
            test.params, test.tokens, kind="new_run", random_seed=random_seed, **test.input_columns()
        )
        keep = np.random.default_rng(random_seed).choice(
            forecast.draws.shape[0], size=min(n_draws, forecast.draws.shape[0]), replace=False
        )
        draws[name] = np.log(forecast.draws[keep])
    weights = crps_stacking_weights(draws, y)
    table = pd.DataFrame({"lfo_crps": {k: float(crps_from_draws(v, y).mean()) for k, v in draws.items()}})
    table["weight"] = weights
    mixture = np.concatenate([v[: int(round(weights[k] * n_draws))] for k, v in draws.items()], axis=0)
    table.attrs.update(
        {
            "mixture_crps": float(crps_from_draws(mixture, y).mean()),
            "n_held_out": int(y.size),
            "holdout": str(rules[0]),
            "warnings": notes,
        }
    )
    return table.sort_values("weight", ascending=False)
