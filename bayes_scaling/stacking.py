r"""Averaging over laws: a stacked predictive mixture that answers like a single fit.

Stacking (Yao et al. 2018) chooses weights :math:`w_k \ge 0`, :math:`\sum_k w_k = 1` that
maximise the leave-one-out log score of the mixture :math:`\sum_k w_k\, p_k(y_j \mid y_{-j})`
(ArviZ ``compare(method="stacking")`` on PSIS-LOO, one configuration left out at a time). The
mixture's draws are :math:`S w_k` posterior draws of each fit :math:`k`, so every answer of
:class:`~bayes_scaling.fit.Predictive` (``predict``, ``predict_summary``, ``compute_optimal``)
is that of the mixture: each draw comes with its own law, parameters and extrapolation drift.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import SpecError
from .fit import Predictive, ScalingFit


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

    def __repr__(self) -> str:
        parts = ", ".join(f"{name} {w:.2f}" for name, w in self.weights.items())
        return f"StackedFit({parts}; {self.n_draws} draws)"

    @property
    def n_draws(self) -> int:
        return self._n_draws

    @property
    def flops_per_param_token(self) -> float:
        return next(iter(self.fits.values())).flops_per_param_token

    def _forecast_log_loss(self, n, d, unique, kind, rng, *, rows=slice(None), dtype=np.float64, marginal_only=False):
        if rows != slice(None):
            raise SpecError("a stacked fit answers over all of its draws")
        parts = [
            self.fits[name]._forecast_log_loss(
                n, d, unique, kind, rng, rows=idx, dtype=dtype, marginal_only=marginal_only
            )
            for name, idx in self._rows.items()
        ]
        return np.concatenate(parts, axis=0)

    def optimal_draws(self, flops) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal N*, D*, D*/N* and loss of the mixture (see
        :meth:`ScalingFit.optimal_draws`); every law with weight must have an allocation."""
        parts = [
            {key: values[idx] for key, values in self.fits[name].optimal_draws(flops).items()}
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


def stack(fits: Mapping[str, ScalingFit], *, n_draws: int = 4000, random_seed: int = 0) -> StackedFit:
    """Stack fits of the *same runs* (e.g. different laws) into one predictive mixture.

    Weights are ArviZ's stacking weights on PSIS-LOO (:func:`bayes_scaling.compare`), which
    also checks that the fits share their data. The result answers ``predict``,
    ``predict_summary`` and ``compute_optimal`` exactly like a single fit; its ``weights``
    and the comparison table (``comparison``) are kept.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.testing import fabricated_fit
    >>> mix = StackedFit({"a": fabricated_fit(), "b": fabricated_fit(random_seed=1)}, {"a": 0.75, "b": 0.25}, n_draws=100)
    >>> mix.n_draws, (mix.component_of_draws() == "a").sum()
    (100, np.int64(75))
    """
    from .validate import compare

    table = compare(fits, method="stacking")
    weights = table["weight"].clip(lower=0.0)
    stacked = StackedFit(fits, (weights / weights.sum()).to_dict(), n_draws=n_draws, random_seed=random_seed)
    stacked.comparison = table
    return stacked
