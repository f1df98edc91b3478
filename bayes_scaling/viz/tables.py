"""Readable versions of the result tables (engineering units), for the CLI, notebooks and reports.

Each function takes a numeric table returned by the package and returns a table of strings;
the numeric one stays the API.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..units import format_count, format_flops


def _band(median, lo, hi, fmt) -> str:
    return f"{fmt(median)} [{fmt(lo)}, {fmt(hi)}]"


def _loss(x) -> str:
    return f"{x:.4f}"


def _ratio(x) -> str:
    return f"{x:.3g}"


def outside_text(decades: float) -> str:
    """``decades_outside`` (see ``Predictive.decades_outside``) in words: ``"within"``,
    ``"120x beyond"``, ``"17,000x below"``."""
    if not np.isfinite(decades):
        return "unknown"
    if abs(decades) < 0.01:  # within 2%: at the edge of the data
        return "within"
    factor = 10 ** abs(decades)
    shown = f"{factor:,.0f}" if factor >= 10 else f"{factor:.2g}"
    return f"{shown}x {'beyond' if decades > 0 else 'below'}"


def optimal_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``ScalingFit.compute_optimal`` output as 'median [lo, hi]' strings with units."""
    prob = frame.attrs.get("interval", 0.9)
    cols = {
        "compute (FLOPs)": frame["flops"].map(format_flops),
        "params N*": [_band(*r, format_count) for r in frame[["params_median", "params_lo", "params_hi"]].to_numpy()],
        "tokens D*": [_band(*r, format_count) for r in frame[["tokens_median", "tokens_lo", "tokens_hi"]].to_numpy()],
        "tokens/param": [
            _band(*r, _ratio)
            for r in frame[["tokens_per_param_median", "tokens_per_param_lo", "tokens_per_param_hi"]].to_numpy()
        ],
        "expected loss": [_band(*r, _loss) for r in frame[["loss_median", "loss_lo", "loss_hi"]].to_numpy()],
    }
    if "decades_outside" in frame:
        cols["vs fitted compute"] = frame["decades_outside"].map(outside_text)
    out = pd.DataFrame(cols)
    out.attrs["caption"] = f"Compute-optimal allocation: posterior median [{prob:.0%} interval]"
    return out


def convention_table(frame: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``ConventionShift.budgets`` with units: per budget and parameter count, the best run's
    size (in the ``reference`` count and in its own), its tokens and its expected-loss band."""
    return pd.DataFrame(
        {
            "compute (FLOPs)": frame["flops"].map(format_flops),
            "N counted by": frame["convention"],
            f"best N ({reference})": frame["params_median"].map(format_count),
            "best N (own count)": frame["own_params_median"].map(format_count),
            "tokens D": frame["tokens_median"].map(format_count),
            "expected loss": [_band(*r, _loss) for r in frame[["loss_median", "loss_lower", "loss_upper"]].to_numpy()],
        }
    )


def forecast_table(frame: pd.DataFrame, prob: float = 0.9, flops_per_param_token: float = 6.0) -> pd.DataFrame:
    """``Forecast.to_frame`` output with units: params, tokens, compute and the loss band."""
    out = pd.DataFrame(
        {
            "params": frame["params"].map(format_count),
            "tokens": frame["tokens"].map(format_count),
            "compute (FLOPs)": (flops_per_param_token * frame["params"] * frame["tokens"]).map(format_flops),
            "loss": [_band(*r, _loss) for r in frame[["loss_median", "loss_lo", "loss_hi"]].to_numpy()],
        }
    )
    for position, name in enumerate(c for c in K.LAW_INPUT_DEFAULTS if c in frame):  # a law's other inputs
        counts = name in (K.UNIQUE_TOKENS, K.AVERAGE_PARAMS)
        out.insert(2 + position, name, frame[name].map(format_count if counts else lambda v: f"{v:.4g}"))
    kind = frame["kind"].iloc[0] if len(frame) else "new_run"
    what = "a new run's loss" if kind == "new_run" else "expected loss (law's mean)"
    out.attrs["caption"] = f"Forecast of {what}: posterior median [{prob:.0%} interval]"
    return out


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``ScalingFit.summary`` rounded for reading."""
    out = frame.copy()
    for col in out.columns:
        if col.startswith("ess"):
            out[col] = out[col].round().astype(int)
        elif col == "r_hat":
            out[col] = out[col].map(lambda v: f"{v:.3f}")
        else:
            out[col] = out[col].map(lambda v: f"{v:.4g}")
    return out


def to_text(table: pd.DataFrame) -> str:
    """A table as aligned text with its caption above."""
    caption = table.attrs.get("caption")
    body = table.to_string(index=not isinstance(table.index, pd.RangeIndex))
    return f"{caption}\n{body}" if caption else body
