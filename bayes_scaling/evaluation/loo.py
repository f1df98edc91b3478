"""PSIS-LOO of fits of the same runs, side by side (ArviZ ``compare``): the table model
comparison and LOO stacking both rest on."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import SpecError


def check_same_runs(fits: Mapping) -> None:
    """Refuse fits of different runs (their scores are not comparable), naming the data hashes."""
    hashes = {name: getattr(f, "data_hash", None) or f.idata.attrs.get("data_hash") for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise SpecError(
            "compare and stack need fits of the same runs (scores on different data are not comparable); "
            f"data hashes differ: {hashes}"
        )


def loo_table(fits: Mapping, method: str = "stacking", exact: bool = False) -> pd.DataFrame:
    """ArviZ's ``compare`` table of the fits' PSIS-LOO (one configuration left out at a time),
    plus ``n_high_pareto_k`` per fit and ``attrs["warnings"]`` in words. ``exact``: curve fits
    refit without each run tree whose Pareto k is high (``CurveFit.reloo``) instead."""
    import arviz as az

    if len(fits) < 2:
        raise SpecError(f"compare needs at least two fits, got {len(fits)}")
    check_same_runs(fits)
    if exact:
        cannot = [name for name, f in fits.items() if not hasattr(f, "reloo")]
        if cannot:
            raise SpecError(
                f"exact=True refits without each poorly estimated point, which curve fits offer; {cannot} "
                "are fits of final losses: compare them by PSIS-LOO, or by a backtest (holdout=...)"
            )
    loos = {name: f.reloo() if exact else f.loo() for name, f in fits.items()}
    table = az.compare(loos, method=method, round_to="none")  # ("auto" rounds elpd to 2 significant digits)
    table["n_high_pareto_k"] = [int((np.asarray(loos[n].pareto_k) > loos[n].good_k).sum()) for n in table.index]
    table.attrs["warnings"] = [
        f"{name}: {k} {_unit(loos[name])} with Pareto k above {loos[name].good_k:.2f}; its LOO score is unreliable"
        for name, k in table["n_high_pareto_k"].items()
        if k
    ]
    return table


def _unit(loo) -> str:
    """What one left-out point of ``loo`` is, in words."""
    return "run tree(s)" if "tree" in loo.elpd_i.dims else "configuration(s)"
