"""Plausibility checks of a runs table: what is valid but almost surely a mistake (perplexity in
the loss column, bits among nats, swapped columns, an accuracy instead of a loss, conflicting
run ids). Each finding is one message naming the column and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..laws.point_fit import approach3_arrays

_MAX_ROWS_LISTED = 10


def rows_text(positions) -> str:
    """``"rows 3, 7, 9 (and 2 more)"``: the rows a message names (at most ten listed)."""
    positions = list(positions)
    shown = ", ".join(str(p) for p in positions[:_MAX_ROWS_LISTED])
    more = len(positions) - _MAX_ROWS_LISTED
    return f"row{'s' if len(positions) > 1 else ''} {shown}" + (f" (and {more} more)" if more > 0 else "")


#: A per-token cross-entropy in nats above this is not a loss (ln of a 1M-token vocabulary is 13.8).
MAX_PLAUSIBLE_LOSS = 20.0
#: Median D/N below this: the params and tokens columns are probably swapped (the lowest median
#: among the public scaling data sets in ../shared/data is 2.6, datablations).
MIN_PLAUSIBLE_TOKENS_PER_PARAM = 0.1


def plausibility_problems(frame: pd.DataFrame, names: dict) -> list[str]:
    """What is valid but almost surely a mistake in a canonical runs table (one message each).

    - loss above 20: perplexity or percent, not nats/token (all rows, or some rows mixed in);
    - a minority of rows sitting ln 2 = 1.443x above a robust (Approach-3) fit of the others:
      loss in bits mixed with nats;
    - median tokens per parameter below 0.1: params and tokens swapped;
    - loss increasing with compute (Spearman rho > 0.3): an accuracy, or the wrong column;
    - one ``run_id`` on rows with different N, D or loss at the same step (or with no step);
    - (checked after grouping) replicate seeds of one configuration with exactly equal losses.
    """
    problems = []
    loss = frame[K.LOSS].to_numpy(dtype=float)
    params, tokens = frame[K.PARAMS].to_numpy(dtype=float), frame[K.TOKENS].to_numpy(dtype=float)
    name_loss = names.get(K.LOSS, K.LOSS)
    big = loss > MAX_PLAUSIBLE_LOSS
    if big.all() or np.median(loss) > MAX_PLAUSIBLE_LOSS / 2:
        problems.append(
            f"column '{name_loss}' holds values {loss.min():.4g}-{loss.max():.4g}, far above any per-token "
            "cross-entropy in nats: perplexity or percent? give loss = ln(perplexity), in nats/token"
        )
    elif big.any():
        problems.append(
            f"column '{name_loss}' is above {MAX_PLAUSIBLE_LOSS:g} at {rows_text(np.flatnonzero(big))} while its median is "
            f"{np.median(loss):.3g}: percent or perplexity mixed with nats? convert those rows"
        )
    with np.errstate(over="ignore"):  # absurd sizes (e.g. 5e-324 params) make inf, still a number
        ratio = tokens / params
    if np.median(ratio) < MIN_PLAUSIBLE_TOKENS_PER_PARAM:
        problems.append(
            f"tokens are fewer than params by 10x or more in most rows (median D/N = {np.median(ratio):.2g}): "
            f"are the '{names.get(K.PARAMS)}' and '{names.get(K.TOKENS)}' columns swapped?"
        )
    flops = frame[K.FLOPS].to_numpy(dtype=float)
    if np.unique(flops).size >= 3 and len(loss) >= 5 and not big.any():
        from scipy.stats import spearmanr

        rho = float(spearmanr(np.log(flops), loss).statistic)
        if rho > 0.3:
            problems.append(
                f"loss increases with compute (Spearman rho = {rho:+.2f}): is '{name_loss}' an accuracy or "
                "another metric where higher is better? give a loss (lower is better)"
            )
    # The bits/nats check fits loss as a function of N and D alone: runs on repeated data
    # (unique tokens below D) legitimately sit above that law, so only single-epoch runs are used.
    single_epoch = np.ones(len(loss), dtype=bool)
    if K.UNIQUE_TOKENS in frame:
        unique = frame[K.UNIQUE_TOKENS].to_numpy(dtype=float)
        single_epoch = ~(unique < tokens * (1 - 1e-9))
    if not problems and single_epoch.sum() >= 10:
        keep = np.flatnonzero(single_epoch)
        problems += _bits_among_nats(params[keep], tokens[keep], loss[keep], name_loss, row_numbers=keep)
    if K.RUN_ID in frame:
        problems += _run_id_conflicts(frame, names.get(K.RUN_ID, K.RUN_ID))
    return problems


def _bits_among_nats(params, tokens, loss, name_loss, max_rows: int = 5000, row_numbers=None) -> list[str]:
    """Rows whose loss is ~ln 2 above (or below) a robust fit of the rest: bits mixed with nats.
    ``row_numbers``: the table's row number of each entry (default: its position)."""
    row_numbers = np.arange(len(loss)) if row_numbers is None else np.asarray(row_numbers)
    rng = np.random.default_rng(0)
    rows = np.arange(len(loss)) if len(loss) <= max_rows else np.sort(rng.choice(len(loss), max_rows, replace=False))
    try:
        point = approach3_arrays(np.log(params[rows]), np.log(tokens[rows]), np.log(loss[rows]), n_starts=2)
    except (ValueError, FloatingPointError):
        return []
    if not (np.isfinite([point.E, point.A, point.B]).all() and point.alpha > 0 and point.beta > 0):
        return []
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_ratio = np.log(loss) - np.log(point.loss(params, tokens))
    off = np.abs(np.abs(log_ratio) - np.log(1 / np.log(2))) < 0.05
    rest = ~off
    if 0 < off.sum() <= 0.4 * len(loss) and rest.sum() >= 5 and np.median(np.abs(log_ratio[rest])) < 0.02:
        return [
            f"column '{name_loss}' at {rows_text(row_numbers[np.flatnonzero(off)])} is ~1.44x (= 1/ln 2) off the law that fits the other "
            "rows: bits mixed with nats? convert bits to nats (x ln 2), or pass loss_unit='bits' if all are bits"
        ]
    return []


def _run_id_conflicts(frame: pd.DataFrame, name: str) -> list[str]:
    """One run id on rows that cannot be one run: another model size or family across its
    checkpoints, or different values at the same step (or with no step)."""
    ids = frame[K.RUN_ID].astype("string").fillna("")
    keyed = frame.assign(_id=ids)[ids != ""]
    if keyed.empty:
        return []
    fixed = [c for c in (K.PARAMS, K.FAMILY) if c in keyed]
    resized = keyed.groupby("_id")[fixed].nunique().max(axis=1)
    resized_ids = sorted(resized.index[resized > 1])
    if resized_ids:
        rows = np.flatnonzero(ids.isin(resized_ids).to_numpy())
        return [
            f"column '{name}' gives {len(resized_ids)} run(s) (e.g. {resized_ids[:3]}) checkpoints of different model "
            f"sizes or families, at {rows_text(rows)}: a run keeps its size; give each run its own id"
        ]
    by = ["_id", K.STEP] if K.STEP in keyed and keyed[K.STEP].notna().any() else ["_id"]
    values = keyed[[K.PARAMS, K.TOKENS, K.LOSS]].round(12)
    distinct = values.groupby([keyed[c] for c in by], dropna=False).nunique().max(axis=1)
    bad_keys = distinct[distinct > 1].index
    if len(bad_keys) == 0:
        return []
    bad_ids = sorted({k[0] if isinstance(k, tuple) else k for k in bad_keys})
    rows = np.flatnonzero(ids.isin(bad_ids).to_numpy())
    where = " at the same step" if len(by) == 2 else ""
    return [
        f"column '{name}' reuses {len(bad_ids)} id(s) (e.g. {bad_ids[:3]}) for rows with different params, tokens or "
        f"loss{where}, at {rows_text(rows)}: give each run its own id"
        + ("" if len(by) == 2 else ", or add a 'step' column if these are checkpoints of one run")
        + "; several metrics per run (a loss_kind column)? keep one"
    ]
