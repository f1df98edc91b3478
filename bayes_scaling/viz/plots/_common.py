r"""What every figure shares: colours, bands, log axes in engineering units, the fitted data."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ... import _constants as K
from ...data.runs import Runs

#: Interval probabilities of the shaded bands, widest first; the 50% band is drawn darker.
LEVELS = (0.9, 0.5)
_BAND_ALPHA = {0.9: 0.18, 0.5: 0.42}
#: Colours: posterior (expected loss), new-run band, data, held-out runs, targets, references.
POSTERIOR = "#1f5fa8"
NEW_RUN = "#d95f02"
DATA = "0.35"
HELD_OUT = "#c2185b"
TARGET = "#7b1fa2"


# --------------------------------------------------------------------------- helpers
def _figure(ax, figsize):
    """``(fig, ax)``: the given Axes and its figure, or a new single-panel figure."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _log_axis(ax, axis: str, fmt) -> None:
    """Log scale on ``axis`` ("x" or "y") with ticks written by ``fmt`` (format_count / format_flops).

    Call after the data are drawn: the tick density follows the span of the limits (decades
    only over wide spans; 1-2-5 within a decade or two).
    """
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 10.0
    if decades < 1.3:
        subs = (1.0, 2.0, 3.0, 5.0)
    elif decades < 3.0:
        subs = (1.0, 3.0)
    else:
        subs = (1.0,)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10.0, subs=subs, numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v) if v > 0 else ""))
    target.set_minor_formatter(NullFormatter())


def _quantiles(draws, prob: float):
    """The central ``prob`` interval of each column, over its finite draws (a numerical optimum
    is NaN in draws that have none)."""
    return np.nanquantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)


def _bands(ax, x, draws, color, label: str, levels=LEVELS, line: bool = True) -> None:
    """Shade the ``levels`` intervals of ``draws`` (n_draws, len(x)) and draw the median."""
    for prob in levels:
        lo, hi = _quantiles(draws, prob)
        ax.fill_between(x, lo, hi, color=color, alpha=_BAND_ALPHA.get(prob, 0.25), lw=0, label=f"{label}: {prob:.0%}")
    if line:
        ax.plot(x, np.nanmedian(draws, axis=0), color=color, lw=1.8, label=f"{label}: median")


def _dashed_interval(ax, x, draws, color, label: str, prob: float = 0.9) -> None:
    lo, hi = _quantiles(draws, prob)
    ax.plot(x, lo, color=color, lw=1.2, ls="--", label=f"{label}: {prob:.0%}")
    ax.plot(x, hi, color=color, lw=1.2, ls="--")


def _observed(fit) -> pd.DataFrame | None:
    """The fitted data as one row per run: params, tokens, flops, loss, n_seeds (=1).

    Files without a ``runs`` group fall back to the configuration means the model saw
    (``n_seeds`` > 1 where replicated); None when neither is stored.
    """
    runs = fit.runs
    if runs is not None:
        frame = runs.to_frame()
        out = pd.DataFrame(
            {
                K.PARAMS: frame[K.PARAMS].to_numpy(float),
                K.TOKENS: frame[K.TOKENS].to_numpy(float),
                K.FLOPS: frame[K.FLOPS].to_numpy(float),
                K.LOSS: frame[K.LOSS].to_numpy(float),
                "n_seeds": 1,
            }
        )
        for name, values in runs.input_columns().items():
            out[name] = values
        return out
    if "constant_data" not in fit.idata or "observed_data" not in fit.idata:
        return None
    const = fit.idata["constant_data"].to_dataset()
    obs = fit.idata["observed_data"].to_dataset()
    n, d = np.exp(const["log_n"].values), np.exp(const["log_d"].values)
    inputs = {name: np.exp(const[K.LAW_INPUT_DATA[name]].values) for name in fit.law.extra_inputs}
    return pd.DataFrame(
        {
            K.PARAMS: n,
            K.TOKENS: d,
            K.FLOPS: fit.flops_per_param_token * n * d,
            K.LOSS: np.exp(obs["mean_log_loss"].values),
            "n_seeds": const["n_seeds"].values.astype(int),
            **inputs,
        }
    )


def _runs_frame(data, flops_per_param_token: float, name: str) -> pd.DataFrame | None:
    """A ``Runs`` or DataFrame (params, tokens, loss, optional flops) as a plain frame."""
    if data is None:
        return None
    if isinstance(data, Runs):
        frame = data.to_frame()
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise TypeError(f"{name} must be a bayes_scaling.Runs or a DataFrame, got {type(data).__name__}")
    missing = [c for c in (K.PARAMS, K.TOKENS, K.LOSS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it needs params, tokens, loss (and optionally flops)")
    n, d = frame[K.PARAMS].to_numpy(float), frame[K.TOKENS].to_numpy(float)
    flops = flops_per_param_token * n * d
    if K.FLOPS in frame.columns:
        given = frame[K.FLOPS].to_numpy(float)
        flops = np.where(np.isfinite(given), given, flops)
    return pd.DataFrame({K.PARAMS: n, K.TOKENS: d, K.FLOPS: flops, K.LOSS: frame[K.LOSS].to_numpy(float)})


def _geomean(values) -> float:
    return float(np.exp(np.median(np.log(values))))


def _flops_grid(fit, observed, extra=(), n: int = 60, default=(1e18, 1e25)) -> np.ndarray:
    """Log-spaced budgets from below the smallest run to beyond the largest of runs and ``extra``."""
    lows, highs = [], []
    if observed is not None and len(observed):
        lows.append(observed[K.FLOPS].min() / 2)
        highs.append(observed[K.FLOPS].max() * 3)
    extra = [float(v) for v in extra if v is not None and np.isfinite(v) and v > 0]
    if extra:
        lows.append(min(extra) / 3)
        highs.append(max(extra) * 3)
    lo = min(lows) if lows else default[0]
    hi = max(highs) if highs else default[1]
    return np.geomspace(lo, hi, n)


def _noise_label(fit) -> str:
    """Legend of a new run's band, naming the fit's likelihood (e.g. "new run (Student-t)")."""
    return f"new run ({fit.noise.likelihood_component.label})"


def close(figure_or_axes) -> None:
    """Close the figure of a plot's return value (Figure, Axes or sequence of Axes)."""
    if isinstance(figure_or_axes, Sequence | np.ndarray):
        figure_or_axes = np.asarray(figure_or_axes).ravel()[0]
    plt.close(getattr(figure_or_axes, "figure", figure_or_axes))
