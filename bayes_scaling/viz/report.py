r"""A forecast memo as one self-contained HTML file: data, model, checks, forecasts, figures.

:func:`write_report` writes a single ``.html`` file with inline CSS, every figure embedded as a
``data:image/png;base64`` image and every formula as inline SVG: no scripts, fonts, style sheets
or images are fetched, so it opens offline and can be mailed or archived as it is.

The page is the jinja2 template ``templates/report.html.j2`` (autoescape on: every piece of
text from the data or the fit is HTML-escaped); tables are pandas Styler tables. This module
only lays out what the analysis layers compute (:mod:`.report_data`, the fit's own methods),
and asks the fit's law and noise model what to call things: its formula, symbols, meanings,
exponents and allocation rule (:class:`~bayes_scaling.laws.Law`), the likelihood's formula and
the noise model in words (``fit.noise.describe()``).

The memo reads top to bottom: the bottom line (verdict and headline forecasts), the data, the
model in maths with its priors, the sampler and model diagnostics with what to do when they
fail, the parameter table, forecasts at the requested targets, the compute-optimal allocation
beside published ones (or why there is none), identifiability warnings, residuals against the
noise model and, when a backtest is given, its calibration.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from .. import _constants as K
from ..atomic import atomic_write, check_save_path
from ..errors import DiagnosticsWarning, ExtrapolationWarning
from ..evaluation.drift import drift_note
from ..noise import DEFAULT_ALLOCATION_SD, DEFAULT_EXTRAPOLATION_SD
from ..units import format_count
from . import _html, plots
from . import report_data as rd
from .report_data import forecast_frame, identifiability_warnings, parse_targets
from .typeset import formula_svg, symbol_html

#: The pooled 90% coverage of held-out IsoFLOP minima in ``benchmarks/results/allocation.md``
#: (its line "pooled 90% coverage of IsoFLOP minima: ..."; a test checks the two agree).
ALLOCATION_BENCHMARK_COVERAGE = "83%"

_WHAT_TO_DO = [
    "Divergences: refit with a higher target_accept (0.95-0.99), tighter priors on the exponents, "
    "or look for outlying runs.",
    "R-hat above 1.01 or low ESS: run more tune/draws; if chains disagree, look for several modes "
    "(e.g. an irreducible loss against the amplitudes when few runs approach convergence).",
    "High Pareto k: the posterior hinges on a few configurations (edge of the design or outliers); "
    "check those runs and distrust forecasts that rest on them.",
    "Prior-data conflict: widen or re-centre the named priors (priors={...}) or check the data.",
]


def _symbol(fit, name: str) -> Markup:
    """A parameter's symbol as HTML: the noise model's for its parameters, else the law's."""
    law = fit.law
    if fit.noise.symbol(name) and name not in (*law.parameters, *law.reported, *law.symbols):
        return symbol_html(fit.noise.symbol(name))
    return symbol_html(law.symbol(name))


def _meaning(fit, name: str) -> str:
    return fit.law.meaning(name) or fit.noise.meaning(name)


def _labelled(fit, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed by parameter name, with its symbol and meaning in front."""
    names = [str(n) for n in frame.index]
    out = frame.copy()
    out.index = pd.Index(names, name="parameter")
    out.insert(0, "meaning", [_meaning(fit, n) for n in names])
    out.insert(0, "symbol", [_symbol(fit, n) for n in names])
    return out


# --------------------------------------------------------------------------- sections
def _model(fit) -> dict:
    noise, law = fit.noise, fit.law
    n_noise = format_count(float(np.exp(fit.scale.log_n_noise_ref)))
    observation = [
        r"\log L_{ij} = \log\mu(N_j, D_j)" + (r" + \delta_j" if noise.discrepancy else "") + r" + \varepsilon_{ij}",
        (r"\delta_j \sim \mathcal{N}(0, \tau^2),\quad " if noise.discrepancy else "")
        + r"\varepsilon_{ij} \sim \mathcal{N}\left(0, \sigma(N_j)^2\right),\quad "
        + (
            r"\sigma(N) = \sigma_r\,(N/N_\mathrm{noise})^{-\gamma}"
            if noise.heteroscedastic
            else r"\sigma(N) = \sigma_r"
        ),
    ]
    likelihood = [
        noise.likelihood_component.formula
        + r",\quad s_j^2 = "
        + (r"\tau^2 + " if noise.discrepancy else "")
        + r"\sigma(N_j)^2 / n_j",
        r"S_j \sim \mathrm{Gamma}\left((n_j - 1)/2,\ \mathrm{rate} = 1/(2\sigma(N_j)^2)\right)\quad (n_j \geq 2)",
    ]
    kappa = float(getattr(noise, "extrapolation_sd", 0.0) or 0.0)
    own = drift_note(fit)  # (sized from these runs by calibrate_drift, and not set again since)
    extrapolation = (
        "Beyond the fitted range, forecasts (not the fit) add a drift of the law: log μ + κ √h(N, D) z_s, with "
        "z_s ~ Normal(0, 1) per posterior draw, h the distance in decades outside the fitted box of N, D and C, and "
        f"κ = {kappa:.3g} (the log-loss sd one decade out; its variance grows linearly with h). "
        + (
            "κ is the package default, chosen by backtests on public scaling studies (0.0225-0.03 when "
            "chosen leave-one-dataset-out)."
            if kappa == DEFAULT_EXTRAPOLATION_SD
            else "κ was sized from these runs."
            if own
            else f"κ differs from the package default ({DEFAULT_EXTRAPOLATION_SD:g}): it was set for this fit, or is "
            "the default of the version that saved it."
        )
        if kappa > 0
        else ""
    )
    lam = float(getattr(noise, "allocation_sd", 0.0) or 0.0)
    if lam > 0 and fit.law.allocates:
        extrapolation += (
            " Beyond the fitted compute each IsoFLOP profile also moves along its line (its minimum loss unchanged): "
            f"log10 N* gets a drift λ h_C u_s, u_s ~ Normal(0, 1) per draw, h_C the decades of compute beyond the "
            f"fitted range and λ = {lam:.3g} (the sd of the N* exponent's change; "
            + (
                "the package default: the best score of held-out IsoFLOP minima over public studies, 0.04-0.08 "
                "when chosen leave-one-dataset-out"
                if lam == DEFAULT_ALLOCATION_SD
                else _allocation_drift_source(fit)
            )
            + "). The N*, D* bands below include it."
        )
    mean = float(getattr(noise, "extrapolation_mean", 0.0) or 0.0)
    if mean:
        extrapolation += (
            f" The forecasts also expect the law to drift by m √h with m = {mean:+.3g} (log loss per square-root "
            "decade): the direction in which the runs above an internal cutoff missed it, carried forward."
        )
    if own:
        extrapolation += f" The drifts were sized from these runs by an internal leave-future-out: {own}."
    priors, note = _priors(fit)
    return {
        "law": law.name,
        "references": "; ".join(law.references),
        "formula": formula_svg(law.formula, size=17),
        "description": law.description,
        "noise": noise.describe(),
        "observation": [formula_svg(t) for t in observation],
        "likelihood": [formula_svg(t) for t in likelihood],
        "likelihood_text": f"N_noise = {n_noise}, the centre of the fitted log N."
        + (
            " Beyond the largest fitted N, forecasts let σ(N) shrink as fitted but never grow."
            if noise.heteroscedastic
            else ""
        ),
        "k": f"{fit.flops_per_param_token:g}",
        "extrapolation": extrapolation,
        "priors": priors,
        "priors_note": note,
    }


def _prior_text(prior) -> str:
    data = prior.to_dict() if hasattr(prior, "to_dict") else dict(prior)
    kwargs = data.get("kwargs", {})
    args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kwargs.items())
    return f"{data.get('dist', '?')}({args})"


def _priors(fit) -> tuple[Markup, str]:
    """Resolved priors (user override, else the data-aware default) with their 90% prior intervals."""
    user = fit.spec_dict.get("priors", {}) or {}
    parameters = (*fit.law.parameters, *fit.noise.parameters)
    note = ""
    try:  # the defaults are pymc_extras Prior objects: resolving them imports PyMC (lazily, here only)
        resolved = {name: _prior_text(p) for name, p in fit.spec.resolved_priors(fit.scale).items()}
    except ImportError as exc:
        resolved = {name: _prior_text(user[name]) if name in user else "data-aware default" for name in parameters}
        note = f"(Default priors could not be resolved here: {exc}.)"
    prior_ds = fit.idata["prior"].to_dataset() if "prior" in fit.idata else None
    rows = {}
    for name in parameters:
        interval = "—"
        if prior_ds is not None and name in prior_ds:
            lo, hi = np.quantile(np.asarray(prior_ds[name].values, dtype=float), [0.05, 0.95])
            interval = f"[{lo:.4g}, {hi:.4g}]"
        q_lo, q_hi = np.quantile(fit.draws(name), [0.05, 0.95])
        rows[name] = {
            "prior": resolved.get(name, ""),
            "source": "user" if name in user else "default",
            "prior 90%": interval,
            "posterior 90%": f"[{q_lo:.4g}, {q_hi:.4g}]",
        }
    frame = _labelled(fit, pd.DataFrame.from_dict(rows, orient="index"))
    caption = "Sampled parameters: priors (user overrides, else data-aware defaults) and what the data made of them"
    converted = fit.idata.attrs.get(K.CONVERTED_ATTRIBUTE)
    if converted:  # (saved before the law changed what it samples: its draws had the earlier priors)
        note = (
            f"{note} This fit was saved under the law's earlier parameters ({converted}): its draws were made "
            "under the priors of those parameters, not the ones listed here, and the prior-data conflict check "
            "is not run."
        ).strip()
    return _html.table(frame, caption, markup=("symbol",)), note


def _diagnostics(diag) -> dict:
    table = diag.copy()
    table["r_hat"] = table["r_hat"].map(lambda v: f"{v:.3f}")
    for column in ("ess_bulk", "ess_tail"):
        table[column] = table[column].map(lambda v: f"{v:,.0f}")
    table["ok"] = table["ok"].map(lambda v: "yes" if v else "NO")
    n_div = int(diag.attrs.get("n_divergences", 0))
    k_values = np.asarray(diag.attrs.get("pareto_k", []), dtype=float)
    facts = [f"{n_div} divergent transition(s)"]
    if k_values.size:
        facts.append(f"largest Pareto k {k_values.max():.2f} over {k_values.size} configurations (PSIS-LOO)")
    sensitivity = diag.attrs.get("sensitivity")
    if sensitivity is not None:
        facts.append("power-scaling prior-data conflict check run on the law's parameters")
    else:
        facts.append("prior-data conflict not checked (no log-prior stored)")
    tables = [_html.table(table, "Sampler diagnostics of the sampled parameters")]
    if sensitivity is not None:
        tables.append(
            _html.table(sensitivity.map(lambda v: f"{v:.3f}"), "Power-scaling sensitivity (conflict: both > 0.05)")
        )
    return {"facts": "; ".join(facts), "what_to_do": _WHAT_TO_DO, "tables": tables}


def _parameters(fit) -> Markup:
    from .tables import summary_table

    summary = _labelled(fit, summary_table(fit.summary()))
    caption = "Posterior: mean, sd, median, 90% interval, R-hat, bulk/tail ESS (the law's parameters, then the noise's)"
    return _html.table(summary, caption, markup=("symbol",))


def _forecasts(fit, frame: pd.DataFrame, budgets: list[float]) -> dict:
    figures = []
    if fit.law.allocates:
        figures.append(
            _html.figure(
                plots.frontier(fit, target_flops=budgets or None),
                "Loss against compute along the compute-optimal frontier with the fitted runs and targets",
                "Shaded: expected loss at each draw's compute-optimal N*, D* (50% darker, 90% lighter); dashed: "
                "90% band of a new run at the median allocation; grey area: beyond the largest fitted run.",
            )
        )
    figures.append(
        _html.figure(
            plots.slices(fit),
            "Loss against N at fixed D and against D at fixed N with nearby runs",
            "Slices through the law at the data's median N and D, with the runs within a factor of 2 of each slice"
            + (
                f" (the law drawn at the default {', '.join(fit.law.extra_inputs)}; the runs at their own)."
                if fit.law.extra_inputs
                else "."
            ),
        )
    )
    note = ""
    if budgets and not fit.law.allocates:
        note = (
            f"The {fit.law.name} law is a function of {fit.law.variables} alone: it has no compute-optimal split, so "
            f"each budget is forecast at the fitted runs' median tokens per parameter "
            f"(D/N = {rd.number(rd.budget_tokens_per_param(fit))})."
        )
    if frame.attrs.get("no_optimum"):
        note += (
            f" No posterior draw has a loss minimum along the IsoFLOP line at C = {', '.join(frame.attrs['no_optimum'])} "
            f"FLOPs (between {' and '.join(f'{r:g}' for r in fit.law.allocation_ratios or (0.01, 1e6))} tokens per "
            "parameter): the law gives no compute-optimal split there, so those budgets are not forecast."
        )
    table = _html.table(
        rd.forecast_table(frame),
        "Forecasts at the targets: posterior median [interval]"
        + ("; budgets at the median compute-optimal N*, D*" if fit.law.allocates else ""),
    )
    return {"table": table, "figures": figures, "note": note}


def _laws(fit, laws, grid) -> dict | None:
    """The N* of other laws fitted to the same runs (a mapping, or a StackedFit with weights)."""
    if laws is None:
        return None
    weights = getattr(laws, "weights", None)
    fits = dict(getattr(laws, "fits", laws))
    if weights is None and fit.law.name not in fits:
        fits = {fit.law.name: fit, **fits}
    table = rd.optimal_across_laws(fits, grid, weights=weights)
    skipped = table.attrs["skipped"]
    return {
        "table": _html.table(table, "Compute-optimal N* under each law: posterior median [90% interval]"),
        "skipped": ", ".join(skipped),
    }


def _allocation_drift_source(fit) -> str:
    """Where the fit's allocation drift lambda came from, in words."""
    if fit.noise.allocation_sd == DEFAULT_ALLOCATION_SD:
        return "the package default"
    return "sized from these runs" if drift_note(fit) else "set for this fit"


def _allocation(fit, budgets: list[float], largest: float | None, laws=None) -> dict:
    from .tables import optimal_table

    law = fit.law
    out = {"kind": law.allocation_kind, "law": law.name, "rule": law.allocation_rule}
    out["drift"] = float(getattr(fit.noise, "allocation_sd", 0.0) or 0.0)
    out["drift_text"] = f"{out['drift']:.3g}"
    out["drift_source"] = _allocation_drift_source(fit)
    out["benchmark"] = ALLOCATION_BENCHMARK_COVERAGE
    if law.allocation_kind == "not_applicable":
        return out
    if law.allocation_kind == "closed_form":
        out["formula"] = formula_svg(law.allocation)
    top = int(np.ceil(np.log10(largest or 1e20)))
    grid = sorted({*budgets, *(float(f"1e{e}") for e in range(top, 26))})
    opt = fit.compute_optimal(grid)
    table = optimal_table(opt)
    for label, (n, d) in plots.reference_allocations(opt["flops"].to_numpy(), fit.flops_per_param_token).items():
        name = label.split(" (")[0]
        if name.startswith("Chinchilla"):
            table["Chinchilla N*, D*"] = [f"{format_count(a)}, {format_count(b)}" for a, b in zip(n, d, strict=True)]
        else:
            table["Kaplan N_opt"] = [format_count(a) for a in n]
    table = table.set_index("compute (FLOPs)")
    out["table"] = _html.table(table, str(table.attrs.get("caption", "Compute-optimal allocation")))
    out["laws"] = _laws(fit, laws, grid)
    out["figures"] = [
        _html.figure(
            plots.compute_optimal(fit),
            "Compute-optimal parameters, tokens and tokens per parameter against compute",
            "Posterior median with 50% and 90% bands; dashed: Chinchilla Approach 3 and Kaplan et al. (2020).",
        ),
        _html.figure(
            plots.isoflop_profiles(fit),
            "IsoFLOP profiles: loss against N at fixed compute with the fitted runs",
            "Each budget's loss profile (median and 90% band) with its runs; black: the 90% interval of N*(C).",
        ),
    ]
    return out


def _backtest(backtest) -> dict:
    return {
        "table": _html.table(
            rd.backtest_summary(backtest), "Coverage of the central intervals on held-out runs, per method"
        ),
        "figure": _html.figure(
            plots.calibration(plots.backtest_frame(backtest)),
            "PIT histograms and coverage curves of each method on held-out runs",
            "Left: PIT of each held-out loss (flat = calibrated; U-shaped = intervals too narrow). Right: "
            "nominal vs empirical coverage; grey: the range a calibrated method shows with this many runs.",
        ),
    }


def _settings_text(fit, sampler_json: str) -> str:
    """How the posterior was made, in words: law, noise model, sampler settings."""
    text = f"Fit: {fit.law.name} law; {fit.noise.describe()}."
    try:
        settings = json.loads(sampler_json) if sampler_json else {}
    except json.JSONDecodeError:
        settings = {}
    if settings.get("chains") and settings.get("draws"):
        text += (
            f" Sampler {settings.get('sampler', '?')}: {settings['chains']} chains x {settings['draws']} draws "
            f"after {settings.get('tune', '?')} tuning steps, random seed {settings.get('random_seed')}."
        )
    elif settings.get("sampler"):
        text += f" Draws: {settings['sampler']}."
    return text


# --------------------------------------------------------------------------- the report
def build_report(fit, *, targets=None, backtest=None, title: str | None = None, laws=None) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    observed = plots._common._observed(fit)
    largest = rd.largest_flops(fit)
    parsed = parse_targets(targets, largest)
    diag = fit.diagnostics()
    # (one family of a fit over families: the joint fit's recorded problems too)
    problems = list(dict.fromkeys([*diag.attrs.get("problems", []), *fit.verdict.problems]))
    forecasts = forecast_frame(fit, parsed, largest)
    budgets = [t["flops"] for t in parsed if t["kind"] == "budget"]
    has_data = observed is not None and len(observed)
    family = fit.idata.attrs.get("family")
    context = {
        "title": title
        or (
            f"Scaling-law forecast: {fit.law.name} law, {fit.n_configs} configurations"
            if family is None
            else f"Scaling-law forecast for the family {family}: {fit.law.name} law, fitted with every family"
        ),
        "meta": {
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "version": K.installed_version(),
            "created": fit.idata.attrs.get("created", "unknown"),
            "n_draws": fit.n_draws,
            "spec_id": fit.idata.attrs.get("spec_id", "n/a"),
        },
        "verdict": {
            "text": "Check before use" if problems else "Trustworthy",
            "css": "warn" if problems else "ok",
            "problems": problems,
        },
        "headline": rd.headline(forecasts),
        "warnings": rd.family_note(fit) + identifiability_warnings(fit, diag, forecasts),
        "data_table": (
            _html.table(rd.data_table(fit, observed), "The runs the posterior was fitted to") if has_data else None
        ),
        "model": _model(fit),
        "diagnostics": _diagnostics(diag),
        "parameters": _parameters(fit),
        "forecasts": _forecasts(fit, forecasts, budgets),
        "allocation": _allocation(fit, budgets, largest, laws),
        "pairs": _html.figure(
            plots.pairs(fit),
            f"Posterior pairs of the {fit.law.name} law's parameters with correlations and prior-to-posterior contraction",
            "Lower triangle: posterior draws of each pair and their correlation (red above 0.9); upper right, "
            "when prior draws are stored: prior and posterior 90% intervals.",
        ),
        "residuals": (
            _html.figure(
                plots.residuals(fit),
                "Residuals of log loss against N, D and C with the noise model's bands",
                "Residuals against the posterior-median law; orange: a new run's 50% and 90% noise band; "
                "black ticks: the runs' 5% and 95% quantiles per bin (they should sit near the 90% band's edges).",
            )
            if has_data
            else None
        ),
        "backtest": _backtest(backtest) if backtest is not None else None,
        "footer": _settings_text(fit, fit.idata.attrs.get("sampler_settings", "")),
    }
    return _html.environment().get_template("report.html.j2").render(context)


def write_report(
    fit,
    path,
    *,
    targets=None,
    backtest=None,
    title: str | None = None,
    laws=None,
    schedules=None,
    overwrite: bool = False,
) -> Path:
    """Write a self-contained HTML forecast report of ``fit`` to ``path``.

    Parameters
    ----------
    fit : ScalingFit or CurveFit
        A fitted or loaded posterior, of any registered law; a fit of training curves gets the
        curve report (:mod:`bayes_scaling.viz.curve_report`: the fitted curves against their
        bands, the posterior, forecasts at the end of ``schedules``).
    path : str or Path
        Where to write; must end in ``.html``.
    targets : list, optional
        Compute budgets (``1e24`` or ``"1e24"``: forecast at the compute-optimal allocation, or
        at the runs' tokens per parameter for a law of one variable) and/or ``(N, D)`` pairs.
        Default: 10x, 100x and 1000x the largest fitted compute, rounded up to powers of ten.
    backtest : DataFrame or object with ``.table``, optional
        A backtest table (see :func:`bayes_scaling.viz.plots.backtest_frame`): adds its coverage
        table and calibration plot.
    title : str, optional
    laws : mapping or StackedFit, optional
        Fits of the same runs with other laws (name -> fit), or a
        :class:`~bayes_scaling.evaluation.stacking.StackedFit`: adds a table of N* under each law
        (with the stacking weights) and how far their medians disagree.
    schedules : mapping, optional
        For a curve fit: ``{label: (params, Schedule)}`` to forecast at each schedule's end.
    overwrite : bool
        Replace an existing file; otherwise raise
        :class:`~bayes_scaling.errors.FileExistsNoOverwriteError`.

    Returns
    -------
    Path
        The file written. It is written atomically (a temporary file, then a rename): an
        interrupted write leaves any previous file untouched.
    """
    from ..forecast.curves import CurveFit

    path = check_save_path(path, overwrite=overwrite, suffix=".html")
    if isinstance(fit, CurveFit):  # a fit of training curves: its own report
        from .curve_report import build_curve_report

        fit._check_answerable(False)
        text = build_curve_report(fit, schedules=schedules, title=title)
        return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite=overwrite)
    fit._check_answerable()  # refuses a fit that did not converge; a NOT OK verdict warns once
    with warnings.catch_warnings():
        # the report states the verdict and each target's extrapolation itself
        warnings.simplefilter("ignore", DiagnosticsWarning)
        warnings.simplefilter("ignore", ExtrapolationWarning)
        text = build_report(fit, targets=targets, backtest=backtest, title=title, laws=laws)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite=overwrite)


__all__ = ["build_report", "forecast_frame", "identifiability_warnings", "parse_targets", "write_report"]
