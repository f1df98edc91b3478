"""Model comparison: PSIS-LOO (optionally leave-future-out) of fits of the same runs."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..errors import SpecError
from .backtesting import backtest
from .loo import loo_table


def compare(
    fits: Mapping,
    *,
    method: str = "stacking",
    holdout=None,
    fit_options: Mapping | None = None,
    random_seed: int = 0,
    exact: bool = False,
) -> pd.DataFrame:
    """Rank fits of the *same runs* by PSIS-LOO (ArviZ ``compare``), leaving out one
    configuration (all its seeds) at a time, and optionally by a leave-future-out backtest.

    ``fits`` maps a name to a :class:`~bayes_scaling.ScalingFit` (e.g. different laws or noise
    models). Returns ArviZ's table (``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``, ``dse``,
    ``warning``) plus ``n_high_pareto_k``: configurations whose Pareto k exceeds ArviZ's
    threshold for that fit (its LOO estimate is unreliable there); ``attrs["warnings"]`` says
    so in words.

    LOO asks how well a law interpolates; scaling laws are used to extrapolate. With
    ``holdout`` (a compute cutoff, :class:`LargestSizes`, or a list of them: see
    :func:`backtest`) each fit's spec is refitted to the runs before the holdout and scored on
    the runs after it: ``lfo_crps`` (mean CRPS of log loss, lower is better), ``lfo_coverage_90``,
    ``lfo_median_ape`` and ``lfo_rank``. ``fit_options`` go to those refits (draws, tune, ...).

    ``exact=True`` (curve fits): each fit refits without every run tree whose Pareto k is high
    and scores it exactly (:meth:`~bayes_scaling.CurveFit.reloo`; one fit per such tree).
    """
    table = loo_table(fits, method, exact)
    if holdout is not None:
        lfo = {}
        for name, f in fits.items():
            runs = f.runs
            if runs is None:
                raise SpecError(f"fit '{name}' stores no runs: a leave-future-out comparison needs them")
            options = {"model": f.spec, **dict(fit_options or {})}
            result = backtest(runs, holdout=holdout, fit_options=options, random_seed=random_seed)
            row = result.summary.loc["bayes_scaling"]
            lfo[name] = {
                "lfo_crps": row["crps_log"],
                "lfo_coverage_90": row["coverage_90"],
                "lfo_median_ape": row["median_ape"],
                "lfo_n_held_out": int(row["n_held_out"]),
            }
            table.attrs["warnings"] += [f"{name} (leave-future-out): {w}" for w in result.failures + result.warnings]
        lfo = pd.DataFrame(lfo).T
        table = table.join(lfo)
        table["lfo_rank"] = table["lfo_crps"].rank(method="min").astype(int) - 1
    return table
