"""Training curves: forecasts along schedules with their bands, beside the logged losses."""

from __future__ import annotations

import numpy as np

from ... import _constants as K
from ...units import format_count
from ._common import DATA, HELD_OUT, _bands, _figure

_COLOURS = ("#1f5fa8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")


def curves(fit, forecasts: dict, *, observed=None, held_out=None, ax=None, figsize=(7.5, 4.6), zoom: bool = True):
    """Each ``{label: CurveForecast}`` as its median and 50/90% bands against step, with the
    logged rows of ``observed`` (run ids of the fit, drawn as grey dots) and ``held_out`` (a
    DataFrame with ``step`` and ``loss``, e.g. a run kept out of the fit, drawn in magenta).

    ``zoom``: the y range of the forecasts' bands (early steps, far above, are cut off).
    Returns the Axes."""
    fig, ax = _figure(ax, figsize)
    for (label, forecast), colour in zip(forecasts.items(), _COLOURS * 4, strict=False):
        kind = forecast.kind.replace("_", " ")
        _bands(ax, forecast.steps, forecast.draws, colour, label if kind in label else f"{label} ({kind})")
    for rid in observed or ():
        rows = fit.curves.rows(rid)
        ax.plot(rows[K.STEP], rows[K.LOSS], ".", ms=2.5, color=DATA, label=f"fitted: {rid}")
    if held_out is not None:
        ax.plot(held_out[K.STEP], held_out[K.LOSS], ".", ms=3, color=HELD_OUT, label="held out")
    if zoom and forecasts:
        lows = [np.quantile(f.draws, 0.05, axis=0) for f in forecasts.values()]
        highs = [np.quantile(f.draws, 0.95, axis=0) for f in forecasts.values()]
        lo = min(v.min() for v in lows)
        tail = [h[len(h) // 4 :] for h in highs]
        hi = max(v.max() for v in tail)
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
    sizes = sorted({float(f.params[0]) for f in forecasts.values()})
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(f"{fit.law.name}: loss along the schedule, N = {', '.join(format_count(s) for s in sizes)}")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    ax.grid(alpha=0.25)
    return ax
