"""Gross errors in a runs table, judged against the table itself: a loss column that holds one
value, a value decades away from the rest of its column (a typo such as N = 1e30 among runs of
1e7-1e9 parameters, or a loss of 1e-12), and a ``flops`` column that disagrees with k N D by
orders of magnitude. Each finding is one message naming the column and the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import option

#: A value more than this many decades (powers of ten) away from every value of the bulk of its
#: column is a gross outlier. The widest gap inside a column of the public tables in
#: ../shared/data is 2.0 decades in D (stepfun) and 1.1 in N (GPT-3's 13B -> 175B); in the loss,
#: 0.3 decades (a diverged xLSTM run at 11.5 nats).
GROSS_GAP_DECADES = {K.PARAMS: 3.0, K.TOKENS: 3.0, K.LOSS: 1.0}
#: Rows beyond such a gap are named when they are at most this share of the table (a larger
#: group is a second cluster of runs, not a typo).
MAX_OUTLIER_SHARE = 0.1
#: A given ``flops`` this many times below k N D is an error. A mixture of experts counted at its
#: total N with C = k x active N x D sits below k N D by its active share (1/10 to 1/30 in
#: today's models; 0.0875 in hitchhiker_colpret's ModuleFormer), so the margin is wide; units
#: (GFLOPs: 1e-9, PF-days: 1e-20) sit far beyond it.
FLOPS_BELOW = 100.0
#: A given ``flops`` this many times above k N D is an error (no convention counts 60 FLOPs per
#: parameter and token; attention at long context adds well under 2x).
FLOPS_ABOVE = 10.0


def constant_loss(loss: np.ndarray, name: str) -> list[str]:
    """One problem when every row (three or more) has the same loss (a fill value or the wrong
    column)."""
    if len(loss) < 3 or np.ptp(loss) > 0:
        return []
    return [
        f"column '{name}' holds the same value ({loss[0]:.6g}) in all {len(loss)} rows: a constant is not a "
        "measured loss (the wrong column, or a fill value?); give the loss of each run"
    ]


def gross_outliers(frame: pd.DataFrame, names: dict, rows_text) -> list[str]:
    """Rows whose N, D or loss lies decades away from the rest of its column (see
    :data:`GROSS_GAP_DECADES`), one message per column."""
    problems = []
    n = len(frame)
    if n < 3:
        return problems
    for canonical, gap in GROSS_GAP_DECADES.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log10(frame[canonical].to_numpy(dtype=float))
        if not np.isfinite(v).all():
            continue
        order = np.argsort(v, kind="stable")
        cuts = np.flatnonzero(np.diff(v[order]) > gap) + 1
        if cuts.size == 0:
            continue
        edges = np.concatenate([[0], cuts, [n]])
        middle = np.searchsorted(edges, n // 2, side="right") - 1  # the segment holding the median
        bulk = order[edges[middle] : edges[middle + 1]]
        outside = np.sort(np.setdiff1d(order, bulk))
        if not 0 < outside.size <= max(1, int(MAX_OUTLIER_SHARE * n)):
            continue
        values = frame[canonical].to_numpy(dtype=float)
        shown = ", ".join(f"{x:.3g}" for x in values[outside][:3]) + (", ..." if outside.size > 3 else "")
        bulk_values = values[bulk]
        decades = float(np.min(np.abs(v[outside][:, None] - v[bulk][None, :])))
        problems.append(
            f"column '{names.get(canonical, canonical)}' at {rows_text(outside)} ({shown}) lies {decades:.1f} "
            f"decades away from every other row ({bulk_values.min():.3g}-{bulk_values.max():.3g}): a typo or "
            "another unit? fix or drop those rows"
        )
    return problems


def flops_disagreements(frame: pd.DataFrame, names: dict, k: float, rows_text) -> list[str]:
    """Rows whose given ``flops`` is more than :data:`FLOPS_ABOVE` times above or
    :data:`FLOPS_BELOW` times below k N D (rows whose flops were derived are k N D exactly)."""
    if K.FLOPS not in frame:
        return []
    with np.errstate(all="ignore"):
        ratio = frame[K.FLOPS].to_numpy(dtype=float) / (
            k * frame[K.PARAMS].to_numpy(dtype=float) * frame[K.TOKENS].to_numpy(dtype=float)
        )
    high, low = ratio > FLOPS_ABOVE, ratio < 1 / FLOPS_BELOW
    off = np.flatnonzero(high | low)
    if off.size == 0:
        return []
    name = names.get(K.FLOPS, K.FLOPS)
    typical = float(np.median(ratio[off]))
    every = off.size == len(ratio)
    where = "in every row" if every else f"at {rows_text(off)}"
    why = "another unit (GFLOPs, PF-days)?" if every else "a typo or another unit?"
    moe = " (a mixture of experts counted at its total N? give its active N)" if low.any() else ""
    return [
        f"column '{name}' disagrees with k*N*D (k = {k:g}) by more than {FLOPS_ABOVE:g}x above or "
        f"{FLOPS_BELOW:g}x below {where} (median ratio {typical:.3g}): {why}{moe} Fix the column, pass the "
        f"right {option('flops_per_param_token', ...)}, or pass {option('flops', None)} to derive C = k N D"
    ]
