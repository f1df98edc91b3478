r"""Figures of a fitted posterior (matplotlib): the forecast, the allocation, the checks.

Every function takes a :class:`~bayes_scaling.forecast.result.ScalingFit` (fitted or loaded) and works on its
stored draws with numpy. Single-panel functions take ``ax=None`` (a new figure when None) and
return the :class:`~matplotlib.axes.Axes`; multi-panel ones return the
:class:`~matplotlib.figure.Figure`. Sizes and budgets are on log axes labelled in engineering
units (``70B``, ``1.4T``, ``1e24``). Bands are equal-tailed posterior intervals, the 50% band
darker than the 90% band. Two kinds of band appear:

- **expected loss**: the law's mean :math:`L(N, D)` (``fit.law.formula``) under parameter
  uncertainty (``fit.predict(..., kind="mean")``, ``fit.optimal_draws(C)["loss"]``);
- **new run**: what one training run would show, adding the configuration discrepancy and the
  seed noise, scale :math:`\sqrt{\tau^2 + \sigma(N)^2}`, with the fit's likelihood (``kind="new_run"``).

Nothing here knows a law or a likelihood by name: symbols, exponents and the allocation come
from ``fit.law``, the noise model's name from ``fit.noise``.

``import bayes_scaling.viz.plots`` imports matplotlib but not PyMC or ArviZ.

One module per theme (:mod:`.forecast`, :mod:`.allocation`, :mod:`.posterior`, :mod:`.checks`,
:mod:`.calibration`, :mod:`.curves` for a curve fit's forecasts along schedules); every figure is available here as ``plots.<name>``.
"""

from ._common import LEVELS, close
from .allocation import (
    allocation_exponent,
    compute_optimal,
    isoflop_budgets,
    isoflop_profiles,
    kaplan_optimal_params,
    reference_allocations,
)
from .calibration import backtest_frame, calibration, coverage_table, sbc_ranks
from .checks import residuals
from .curves import curves
from .forecast import frontier, slices
from .posterior import contraction, pairs

__all__ = [
    "LEVELS",
    "allocation_exponent",
    "backtest_frame",
    "calibration",
    "close",
    "compute_optimal",
    "contraction",
    "coverage_table",
    "curves",
    "frontier",
    "isoflop_budgets",
    "isoflop_profiles",
    "kaplan_optimal_params",
    "pairs",
    "reference_allocations",
    "residuals",
    "sbc_ranks",
    "slices",
]
