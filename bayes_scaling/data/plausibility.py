"""Plausibility checks of a runs table: what is valid but almost surely a mistake (perplexity in
the loss column, bits among nats, swapped columns, an accuracy instead of a loss, gross outliers,
a flops column off k N D, conflicting run ids). Each finding is one message naming the column
and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import option
from ..laws.point_fit import approach3_arrays
from .outliers import constant_loss, flops_disagreements, gross_outliers
from .reading import rows_text

#: A per-token cross-entropy in nats above this is not a loss (ln of a 1M-token vocabulary is 13.8).
MAX_PLAUSIBLE_LOSS = 20.0
#: Median D/N below this: the params and tokens columns are probably swapped (the lowest median
#: among the public scaling data sets in ../shared/data is 2.6, datablations).
MIN_PLAUSIBLE_TOKENS_PER_PARAM = 0.1
#: Perplexity of a trained LM: e^1.5 = 4.5 and above. No loss table in ../shared/data has every
#: value above it (the highest minimum is 3.5 nats, OLMo on twitterAEE), while a perplexity table
#: of runs that reach 1.5 nats or more has.
PERPLEXITY_FLOOR = 4.5
#: ...and the values sit this many times above the loss that Chinchilla's law (Hoffmann et al.
#: 2022) gives runs of their N and D; in ../shared/data a loss table sits at most 1.7x above it
#: (median over its rows; evaluation sets harder than MassiveText), a perplexity table 3.6x or more.
PERPLEXITY_RATIO = 2.5
_HOFFMANN = (1.69, 406.4, 410.7, 0.34, 0.28)  # E, A, B, alpha, beta


def _reference_loss(params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The loss Chinchilla's fitted law gives runs of N params and D tokens (a scale, not a fit)."""
    E, A, B, alpha, beta = _HOFFMANN
    with np.errstate(all="ignore"):
        return E + A * params**-alpha + B * tokens**-beta


def plausibility_problems(
    frame: pd.DataFrame,
    names: dict,
    *,
    flops_per_param_token: float = K.DEFAULT_FLOPS_PER_PARAM_TOKEN,
    step_candidates=(),
) -> list[str]:
    """What is valid but almost surely a mistake in a canonical runs table (one message each).

    - one value in every row of the loss column;
    - loss above 20: perplexity or percent, not nats/token (all rows, or some rows mixed in);
    - every loss above 4.5 (e^1.5) and 2.5x above what Chinchilla's law gives runs of these
      sizes, with logarithms that are typical losses: perplexity;
    - N, D or loss decades away from the rest of the column (a typo, another unit);
    - median tokens per parameter below 0.1: params and tokens swapped;
    - a given ``flops`` more than 10x above or 100x below k N D;
    - loss increasing with compute (Spearman rho > 0.3): an accuracy, or the wrong column;
    - rows sitting ln 2 = 1.443x above a robust (Approach-3) fit of the others: loss in bits
      mixed with nats (a minority of rows, or two groups of any size);
    - one ``run_id`` on rows with different N, D or loss at the same step (or with no step);
      ``step_candidates``: columns of the source table that may hold the step (named in advice);
    - (checked after grouping) replicate seeds of one configuration with exactly equal losses.
    """
    problems = []
    loss = frame[K.LOSS].to_numpy(dtype=float)
    params, tokens = frame[K.PARAMS].to_numpy(dtype=float), frame[K.TOKENS].to_numpy(dtype=float)
    name_loss = names.get(K.LOSS, K.LOSS)
    constant = constant_loss(loss, name_loss)
    problems += constant
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
    elif not constant:
        problems += _perplexity_like(params, tokens, loss, name_loss)
    problems += gross_outliers(frame, names, rows_text)
    with np.errstate(over="ignore"):  # absurd sizes (e.g. 5e-324 params) make inf, still a number
        ratio = tokens / params
    if np.median(ratio) < MIN_PLAUSIBLE_TOKENS_PER_PARAM:
        problems.append(
            f"tokens are fewer than params by 10x or more in most rows (median D/N = {np.median(ratio):.2g}): "
            f"are the '{names.get(K.PARAMS)}' and '{names.get(K.TOKENS)}' columns swapped?"
        )
    problems += flops_disagreements(frame, names, flops_per_param_token, rows_text)
    flops = frame[K.FLOPS].to_numpy(dtype=float)
    if np.unique(flops).size >= 3 and len(loss) >= 5 and not big.any() and not constant:
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
        problems += _run_id_conflicts(
            frame, names.get(K.RUN_ID, K.RUN_ID), names.get(K.TOKENS, K.TOKENS), step_candidates
        )
    return problems


def _perplexity_like(params, tokens, loss, name_loss) -> list[str]:
    """Perplexities of trained models (4.5-20, below the plain "above 20" check): every value
    above e^1.5, far above the loss runs of these sizes reach, and ln of them a typical loss."""
    if loss.min() <= PERPLEXITY_FLOOR:
        return []
    reference = _reference_loss(params, tokens)
    with np.errstate(all="ignore"):
        above = float(np.median(loss / reference))
        logs = float(np.median(np.log(loss) / reference))
    if not (above > PERPLEXITY_RATIO and 0.25 < logs < PERPLEXITY_RATIO):
        return []
    return [
        f"column '{name_loss}' holds {loss.min():.3g}-{loss.max():.3g}: every value is above {PERPLEXITY_FLOOR:g} "
        f"and {above:.1f}x the loss runs of these sizes reach in nats (Chinchilla's law), while their "
        f"logarithms ({np.log(loss.min()):.3g}-{np.log(loss.max()):.3g}) are typical losses: perplexity? "
        "give loss = ln(perplexity), in nats/token"
    ]


#: log(1/ln 2): the distance in log loss between a loss in bits and the same loss in nats.
_BITS_GAP = float(np.log(1 / np.log(2)))


def _law_residuals(params, tokens, loss, rows):
    """log loss minus a robust Approach-3 fit of ``rows`` (all rows' residuals), or None."""
    try:
        point = approach3_arrays(np.log(params[rows]), np.log(tokens[rows]), np.log(loss[rows]), n_starts=2)
    except (ValueError, FloatingPointError):
        return None
    if not (np.isfinite([point.E, point.A, point.B]).all() and point.alpha > 0 and point.beta > 0):
        return None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        residuals = np.log(loss) - np.log(point.loss(params, tokens))
    return residuals if np.isfinite(residuals).all() else None


def _bits_among_nats(params, tokens, loss, name_loss, max_rows: int = 5000, row_numbers=None) -> list[str]:
    """Rows whose loss is ~ln 2 above (or below) a robust fit of the rest: bits mixed with nats.

    A minority (at most 40% of the rows, most of the rows that sit clearly off the law) is named
    row by row. Beyond 40% no half is "the odd one" for a fit of all rows, so the rows are
    split in two groups one factor 1/ln 2 apart (detected when a law fits both groups once the
    higher is converted), and the higher group is named as the one in bits.
    ``row_numbers``: the table's row number of each entry (default: its position)."""
    row_numbers = np.arange(len(loss)) if row_numbers is None else np.asarray(row_numbers)
    rng = np.random.default_rng(0)
    rows = np.arange(len(loss)) if len(loss) <= max_rows else np.sort(rng.choice(len(loss), max_rows, replace=False))
    log_ratio = _law_residuals(params, tokens, loss, rows)
    if log_ratio is None:
        return []
    off = np.abs(np.abs(log_ratio) - _BITS_GAP) < 0.05
    rest = ~off
    # early checkpoints sit far above a law of N and D at scattered distances: one of them at
    # 1.44x is chance, not a unit, so most of the rows clearly off the law must sit at 1.44x
    clearly_off = np.abs(log_ratio) > 0.15
    if (
        0 < off.sum() <= 0.4 * len(loss)
        and rest.sum() >= 5
        and np.median(np.abs(log_ratio[rest])) < 0.02
        and off.sum() >= 0.8 * clearly_off.sum()
        and abs(np.median(np.abs(log_ratio[off])) - _BITS_GAP) < 0.02  # as tight at 1.44x as the rest on the law
    ):
        return [
            f"column '{name_loss}' at {rows_text(row_numbers[np.flatnonzero(off)])} is ~1.44x (= 1/ln 2) off the law "
            "that fits the other rows: bits mixed with nats? convert bits to nats (x ln 2), or pass "
            f"{option('loss_unit', 'bits')} if all are bits"
        ]
    high = _two_unit_groups(params, tokens, loss, log_ratio, rows)
    if high is None:
        return []
    return [
        f"column '{name_loss}' holds two groups of rows whose losses differ by a factor 1/ln 2 = 1.44 at the "
        f"same N and D: the higher at {rows_text(row_numbers[np.flatnonzero(high)])} ({high.sum()} rows), the "
        f"other {(~high).sum()} rows lower: bits mixed with nats? convert the higher rows to nats (x ln 2); "
        f"if the lower rows are the odd ones, convert them to bits and pass {option('loss_unit', 'bits')}"
    ]


def _two_unit_groups(params, tokens, loss, log_ratio, rows) -> np.ndarray | None:
    """The rows of the higher group (bits) when the table is two groups 1/ln 2 apart, each of
    at least 5 rows, that one law fits (median |log residual| < 0.02, half the fit of the rows
    as they are) once the higher group is converted; else None. The law of the mixed rows is
    pulled between the groups, so the split is refined on the converted law up to three times."""
    if np.median(np.abs(log_ratio)) < 0.02:
        return None  # one law fits the rows as they are
    residuals = log_ratio
    for _ in range(3):
        candidates = np.unique(np.concatenate([residuals[rows], residuals[rows] - _BITS_GAP]))
        if candidates.size > 1000:
            candidates = np.quantile(candidates, np.linspace(0, 1, 1000))
        sample = residuals[rows][:, None]
        score = np.median(np.minimum(np.abs(sample - candidates), np.abs(sample - candidates - _BITS_GAP)), axis=0)
        if score.min() > 0.1:
            return None  # the residuals do not sit in two groups 1.44x apart
        low = candidates[np.argmin(score)]
        high = np.abs(residuals - low - _BITS_GAP) < np.abs(residuals - low)
        if min(high.sum(), (~high).sum()) < 5:
            return None
        converted = loss * np.where(high, np.log(2), 1.0)
        fitted = _law_residuals(params, tokens, converted, rows)
        if fitted is None:
            return None
        residuals = np.log(loss) - (np.log(converted) - fitted)  # the raw rows against the converted law
        if np.median(np.abs(fitted)) < min(0.02, np.median(np.abs(log_ratio)) / 2):
            high = residuals > _BITS_GAP / 2
            return high if min(high.sum(), (~high).sum()) >= 5 else None
    return None


def _run_id_conflicts(frame: pd.DataFrame, name: str, tokens_name: str = K.TOKENS, step_candidates=()) -> list[str]:
    """One run id on rows that cannot be one run: another model size or family across its
    checkpoints, or different values at the same step (or with no step). Without a step column
    the advice names the columns that may hold it (``step_candidates``), or the tokens column,
    which orders the checkpoints of a run as well."""
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
    if len(by) == 2:
        steps = ""
    elif step_candidates:
        steps = f", or name the step column if these are checkpoints of one run ({option('step', step_candidates[0])})"
    else:
        steps = (
            ", or give a step column if these are checkpoints of one run (the tokens order them too: "
            f"{option('step', tokens_name)})"
        )
    return [
        f"column '{name}' reuses {len(bad_ids)} id(s) (e.g. {bad_ids[:3]}) for rows with different params, tokens or "
        f"loss{where}, at {rows_text(rows)}: give each run its own id{steps}"
        "; several metrics per run (a loss_kind column)? keep one"
    ]
