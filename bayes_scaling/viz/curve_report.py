"""The HTML report of a curve fit: what was fitted, the law and the noise along runs, the
posterior, every fitted curve against its posterior predictive band, forecasts under the
schedules asked about, and the sampler's diagnostics (one self-contained file)."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import _constants as K
from ..units import format_count
from . import _html
from .typeset import formula_svg, symbol_html

NOISE_MEANINGS = {
    "sigma": "sd of the Ornstein-Uhlenbeck path of log loss along a run",
    "ell": "correlation length of that path, in steps",
    "omega": "sd of a run's (run tree's) offset of log loss",
    "drop_sd": "sd of the log factor by which a run's loss drop departs from the law's",
}


def _fitted_figure(fit) -> dict:
    """Every fitted run's logged rows over its posterior predictive 90% band, one panel per size."""
    table = fit.curves.run_table()
    sizes = sorted(table["params"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), layout="constrained", squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, size in zip(axes[0], sizes, strict=True):
        for i, rid in enumerate(table.index[table["params"] == size]):
            rows = fit.curves.rows(rid)
            steps = np.unique(np.linspace(rows[K.STEP].iloc[0], rows[K.STEP].iloc[-1], 60).round().astype(int))
            f = fit.predict_curve(size, fit.curves.schedules[rid], steps, random_seed=i, accept_unconverged=True)
            lo, hi = f.interval(0.9)
            colour = colours[i % len(colours)]
            ax.fill_between(steps, lo, hi, color=colour, alpha=0.2, lw=0)
            ax.plot(rows[K.STEP], rows[K.LOSS], ".", ms=1.5, color=colour, label=rid)
        low = table.loc[table["params"] == size, "final_loss"].min()
        ax.set_ylim(low - 0.08, low + 0.6)
        ax.set_title(f"N = {format_count(size)}")
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("loss (nats/token)")
    return _html.figure(
        fig,
        "Every fitted run's logged losses over its posterior predictive 90% band",
        "Dots: logged losses; bands: the 90% interval of a new run with each run's schedule (offset and "
        "correlated path included). Rows beyond the fitted ones would be a test; these are a check of fit.",
    )


def _forecast_table(fit, schedules) -> pd.DataFrame | None:
    if not schedules:
        return None
    rows = []
    for label, (params, schedule) in schedules.items():
        f = fit.predict_curve(params, schedule, [schedule.steps], random_seed=0, accept_unconverged=True)
        lo, hi = f.interval(0.9)
        rows.append(
            {
                "schedule": label,
                "N": format_count(params),
                "steps": schedule.steps,
                "final loss": f"{f.median[0]:.4f} [{lo[0]:.4f}, {hi[0]:.4f}]",
            }
        )
    return pd.DataFrame(rows).set_index("schedule")


def build_curve_report(fit, *, schedules=None, title: str | None = None) -> str:
    verdict = fit.verdict
    summary = fit.summary()
    law = fit.law
    meanings = {**law.meanings, **NOISE_MEANINGS}
    summary.insert(0, "meaning", [meanings.get(p, "") for p in summary.index])
    summary["symbol"] = [symbol_html(law.symbol(p)) if p in law.parameters else p for p in summary.index]
    diag = fit.diagnostics()
    forecasts = _forecast_table(fit, schedules)
    context = {
        "title": title or f"Training-curve forecast: {law.name} law, {len(fit.curves.schedules)} runs",
        "meta": {
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "version": K.installed_version(),
            "created": fit.attrs.get("created", "unknown"),
            "n_draws": fit.n_draws,
        },
        "verdict": {
            "text": verdict.headline(),
            "css": "ok" if verdict.ok else "warn",
            "problems": list(verdict.problems),
        },
        "data_table": _html.table(fit.curves.run_table(), "The runs fitted (branch_of: the run whose start it shares)"),
        "formula": formula_svg(law.formula),
        "description": law.description,
        "references": "; ".join(law.references),
        "n_kept": len(fit.inputs.obs),
        "n_rows": len(fit.curves),
        "parameters": _html.table(summary, "Posterior median and 90% interval, R-hat, bulk ESS", markup=("symbol",)),
        "fitted": _fitted_figure(fit),
        "forecasts": None if forecasts is None else _html.table(forecasts, "New-run forecasts at each schedule's end"),
        "diagnostics": _html.table(diag.drop(columns=["why_not"]), "Sampler diagnostics"),
        "n_divergences": int(diag.attrs.get("n_divergences", 0)),
    }
    return _html.environment().get_template("curve_report.html.j2").render(context)
