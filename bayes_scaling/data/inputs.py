"""The law inputs beyond N and D as columns of a runs table (``_constants.LAW_INPUT_DEFAULTS``):
what each holds, the values it may take, its default, and what a law needs of it.

The one path by which such a column reaches a law: :meth:`Runs.law_inputs
<bayes_scaling.data.runs.Runs.law_inputs>` (log values per configuration) for fitting,
:meth:`Runs.input_columns <bayes_scaling.data.runs.Runs.input_columns>` (per row, in units)
for a forecast of the same runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import option

#: What each input column holds, in the words of an error message.
MEANING = {
    K.UNIQUE_TOKENS: "the unique tokens behind each run (repeated data: D / U epochs)",
    K.PARALLEL_STREAMS: "the number of parallel streams P of each run (1 for an ordinary model)",
    K.AVERAGE_PARAMS: "each run's parameter count averaged over its training steps (N for a dense run)",
    K.ENCODER_SHARE: "the share of each model's parameters in its encoder (N_e / (N_e + N_d), between 0 and 1)",
}

#: Distinct values a law needs of an input to identify what the input acts through (ParScale's
#: k needs two stream counts; the encoder and decoder exponents two splits).
MIN_DISTINCT = {K.PARALLEL_STREAMS: 2, K.ENCODER_SHARE: 2}


def range_problems(column: str, canonical: str, values: np.ndarray, rows_text, params=None) -> list[str]:
    """What is wrong with the (already numeric, positive) values of an input column beyond
    positivity: fewer than one stream, a share of 1 or more, an average count above N
    (``params``: the runs' N, when known)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values) & (values > 0)  # (not positive: said once, by the caller)
    if canonical == K.AVERAGE_PARAMS and params is not None:
        bad = np.flatnonzero(finite & (values > np.asarray(params, dtype=float) * (1 + 1e-9)))
        if bad.size:
            return [
                f"column '{column}' is a run's parameter count averaged over training, so it cannot exceed N; it does "
                f"at {rows_text(bad)} (give N as the dense count the run starts from, in the same units)"
            ]
    if canonical == K.PARALLEL_STREAMS:
        bad = np.flatnonzero(finite & (values < 1))
        if bad.size:
            return [
                f"column '{column}' counts parallel streams, so it must be 1 or more; it is below 1 at {rows_text(bad)}"
            ]
    if canonical == K.ENCODER_SHARE:
        bad = np.flatnonzero(finite & (values >= 1))
        if bad.size:
            return [
                f"column '{column}' is the encoder's share of the parameters, so it must be between 0 and 1; it is "
                f"1 or more at {rows_text(bad)} (for counts, divide the encoder's by the encoder's plus the decoder's)"
            ]
    return []


def law_inputs(configs: pd.DataFrame, names) -> dict[str, np.ndarray]:
    """Log values of inputs ``names`` per configuration; a missing column or value takes its
    default."""
    out = {}
    for name in names:
        default = np.broadcast_to(np.asarray(K.law_input_default(name, configs), dtype=float), (len(configs),))
        values = configs[name].to_numpy(dtype=float) if name in configs else default
        out[name] = np.log(np.where(np.isnan(values), default, values))
    return out


def input_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The inputs a table gives, per row, in their units; blanks take the default."""
    out = {}
    for name in K.LAW_INPUT_DEFAULTS:
        if name in frame:
            default = K.law_input_default(name, frame)
            out[name] = frame[name].fillna(default).to_numpy(dtype=float)
    return out


def input_problems(frame: pd.DataFrame, law_name: str, inputs) -> list[str]:
    """Why the table cannot identify a law that reads ``inputs``: a column absent or blank, or
    too few distinct values of it."""
    problems = []
    for name in inputs:
        what = MEANING.get(name, name)
        if name not in frame or frame[name].isna().all():
            where = option(name, "COLUMN", python=f"Runs.from_frame(..., {name}='<your column>')")
            problems.append(f"law '{law_name}' needs {what} (a '{name}' column, or {where})")
            continue
        needed = MIN_DISTINCT.get(name, 1)
        given = frame[name].fillna(K.law_input_default(name, frame)).nunique()
        if given < needed:
            problems.append(
                f"law '{law_name}' needs {needed} or more distinct values of '{name}' ({what}) to identify what it "
                f"acts through; the runs have {given}: add runs with other values"
            )
    return problems
