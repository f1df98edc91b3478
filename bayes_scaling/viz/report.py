r"""A forecast memo as one self-contained HTML file: data, model, checks, forecasts, figures.

:func:`write_report` writes a single ``.html`` file with inline CSS and every figure embedded as
a ``data:image/png;base64`` image: no scripts, fonts, style sheets or images are fetched, so it
opens offline and can be mailed or archived as it is. Every piece of text from the data or the
fit is HTML-escaped.

The memo reads top to bottom: the bottom line (verdict and headline forecasts), the data, the
model in maths with its priors, the sampler and model diagnostics with what to do when they
fail, the parameter table, forecasts at the requested targets, the compute-optimal allocation
beside Chinchilla's and Kaplan's, identifiability warnings, residuals against the noise model
and, when a backtest is given, its calibration.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _constants as K
from ..atomic import atomic_write, check_save_path
from ..units import as_counts, format_count, format_flops

#: Correlation above which a pair of parameters is reported as identified only jointly.
CORRELATION_WARN = 0.9
#: 90% interval widths above which an exponent (alpha, beta) or the allocation exponent a is "wide".
EXPONENT_WIDTH_WARN = 0.1
ALLOCATION_WIDTH_WARN = 0.05
#: Posterior/prior interval width (log scale) above which the data said little about a parameter.
WEAK_CONTRACTION = 0.5
#: Targets further than this factor beyond the largest fitted compute get an extrapolation warning.
EXTRAPOLATION_WARN = 100.0

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d232b; background: #fff; margin: 0; line-height: 1.5; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #dde3ea; padding-bottom: 4px; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
p.meta { color: #5a6573; font-size: 0.9em; margin-top: 0; }
.verdict { display: inline-block; padding: 4px 14px; border-radius: 6px; font-weight: 700; font-size: 1.1em; }
.ok { background: #e3f4e6; color: #1b5e20; border: 1px solid #9ccc9f; }
.warn { background: #fff3e0; color: #8a4b00; border: 1px solid #ffb74d; }
.callout { background: #f6f8fa; border-left: 4px solid #1f5fa8; padding: 10px 16px; margin: 12px 0; }
.callout.warn { border-left-color: #ef6c00; background: #fff8ef; }
table { border-collapse: collapse; margin: 10px 0 4px; font-size: 0.86em; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 4px; color: #36404c; }
th, td { border: 1px solid #d6dce3; padding: 3px 8px; text-align: right; vertical-align: top; white-space: nowrap; }
td.wrap, tbody th { white-space: normal; }
.scroll { overflow-x: auto; }
.row { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
th { background: #f1f4f7; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
.math { font-family: "Cambria Math", "STIX Two Math", "Latin Modern Math", Georgia, serif; font-size: 1.08em; }
div.math { margin: 8px 0 8px 24px; }
figure { margin: 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
figcaption { color: #4a5563; font-size: 0.9em; margin-top: 4px; }
ul.problems li { margin-bottom: 6px; }
code { background: #f1f4f7; padding: 1px 4px; border-radius: 3px; font-size: 0.92em; }
footer { margin-top: 3em; color: #6a7583; font-size: 0.85em; border-top: 1px solid #dde3ea; padding-top: 8px; }
"""

_SYMBOL = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β", "a": "a", "b": "b", "gamma": "γ", "tau": "τ"}
_SYMBOL.update({"sigma_ref": "σ<sub>r</sub>", "nu": "ν", "noise_sd": "s", "tau_share": "f"})
_SYMBOL.update({"log_AN_ref": "ℓ<sub>N</sub>", "log_BD_ref": "ℓ<sub>D</sub>"})
_MEANING = {
    "E": "irreducible loss",
    "log_AN_ref": "log of the N term at the reference size: log A − α log N<sub>r</sub>",
    "log_BD_ref": "log of the D term at the reference size: log B − β log D<sub>r</sub>",
    "alpha": "exponent of N",
    "beta": "exponent of D",
    "noise_sd": "sd of one run's log loss around the law at N<sub>noise</sub> (√(τ² + σ<sub>r</sub>²))",
    "tau_share": "share of that variance due to the configuration discrepancy (τ²/s²)",
    "sigma_ref": "seed-noise sd of log loss at N<sub>noise</sub>",
    "gamma": "how fast the seed noise shrinks with N",
    "nu": "Student-t degrees of freedom (tails)",
}


# --------------------------------------------------------------------------- small HTML pieces
def _e(value) -> str:
    return escape(str(value), quote=True)


def _table(frame: pd.DataFrame, caption: str | None = None, *, index: bool = True, text_columns=()) -> str:
    """A DataFrame as an escaped HTML table (index as the first column when ``index``)."""
    head = [frame.index.name or ""] if index else []
    head += [str(c) for c in frame.columns]
    rows = []
    for key, row in frame.iterrows():
        cells = [f'<th class="text">{_e(key)}</th>'] if index else []
        for column, value in zip(frame.columns, row.tolist(), strict=True):
            cls = ' class="text"' if column in text_columns or isinstance(value, str) and not _numeric(value) else ""
            cells.append(f"<td{cls}>{_e(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    first = ' class="text"'
    header = "".join(f"<th{first if i == 0 else ''}>{_e(h)}</th>" for i, h in enumerate(head))
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (
        f"<div class='scroll'><table>{cap}<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _numeric(text: str) -> bool:
    try:
        float(text.replace("%", "").split(" ")[0].replace(",", ""))
    except ValueError:
        return False
    return True


def _figure(fig, alt: str, caption: str, dpi: int = 96) -> str:
    """A matplotlib figure as an embedded PNG ``<figure>`` (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _number(x) -> str:
    """3 significant digits, with thousands separators instead of exponents up to 1e6."""
    return f"{x:,.0f}" if 1e3 <= abs(x) < 1e6 else f"{x:.3g}"


def _band(median, lo, hi, fmt) -> str:
    return f"{fmt(median)} [{fmt(lo)}, {fmt(hi)}]"


def _loss(x) -> str:
    return f"{x:.4f}"


def _fig_of(result):
    return getattr(result, "figure", result)


# --------------------------------------------------------------------------- targets
def parse_targets(targets, largest_flops: float | None) -> list[dict]:
    """Targets as ``{"kind": "budget" | "point", "flops", "params", "tokens"}`` dicts.

    ``targets``: compute budgets (numbers or text such as ``"1e24"``) and/or ``(N, D)`` pairs.
    Default: 10, 100 and 1000 times the largest fitted compute, rounded up to powers of ten.
    """
    if targets is None:
        top = int(np.ceil(np.log10(largest_flops))) if largest_flops else 21
        targets = [float(f"1e{top + i}") for i in (1, 2, 3)]  # exact decimal powers: 1e23, not 1.0000000000000001e23
    elif isinstance(targets, str | int | float | np.number):
        targets = [targets]
    parsed = []
    for item in targets:
        if isinstance(item, tuple | list | np.ndarray) and len(item) == 2:
            n = float(as_counts(item[0], "target params")[0])
            d = float(as_counts(item[1], "target tokens")[0])
            parsed.append({"kind": "point", "params": n, "tokens": d, "flops": None})
        elif isinstance(item, tuple | list | np.ndarray):
            raise ValueError(f"a target is a compute budget or an (N, D) pair, got {item!r}")
        else:
            parsed.append({"kind": "budget", "flops": float(as_counts(item, "target flops")[0])})
    if not parsed:
        raise ValueError("targets is empty: give compute budgets (e.g. 1e24) and/or (N, D) pairs")
    return parsed


def forecast_frame(fit, targets: list[dict], largest_flops: float | None) -> pd.DataFrame:
    """Numeric forecasts at parsed targets: allocation, expected loss and a new run's loss.

    Budgets are forecast at the posterior-median compute-optimal allocation (N*, D*); the
    expected loss column is then the loss at each draw's own optimum.
    """
    k = fit.flops_per_param_token
    budgets = [t["flops"] for t in targets if t["kind"] == "budget"]
    opt = fit.optimal_draws(budgets) if budgets else None
    rows, b = [], 0
    for t in targets:
        if t["kind"] == "budget":
            n, d = float(np.median(opt["params"][:, b])), float(np.median(opt["tokens"][:, b]))
            expected = opt["loss"][:, b]
            n_lo, n_hi = np.quantile(opt["params"][:, b], [0.05, 0.95])
            b += 1
            label = f"C = {format_flops(t['flops'])} (compute-optimal)"
            c = t["flops"]
        else:
            n, d = t["params"], t["tokens"]
            expected = fit.predict(n, d, kind="mean").draws[:, 0]
            n_lo = n_hi = np.nan
            c = k * n * d
            label = f"N = {format_count(n)}, D = {format_count(d)}"
        new = fit.predict(n, d, kind="new_run").draws[:, 0]
        rows.append(
            {
                "target": label,
                "params": n,
                "params_lo": n_lo,
                "params_hi": n_hi,
                "tokens": d,
                "flops": c,
                "extrapolation": c / largest_flops if largest_flops else np.nan,
                "expected_median": float(np.median(expected)),
                "expected_lo": float(np.quantile(expected, 0.05)),
                "expected_hi": float(np.quantile(expected, 0.95)),
                "new_median": float(np.median(new)),
                "new_lo50": float(np.quantile(new, 0.25)),
                "new_hi50": float(np.quantile(new, 0.75)),
                "new_lo": float(np.quantile(new, 0.05)),
                "new_hi": float(np.quantile(new, 0.95)),
            }
        )
    return pd.DataFrame(rows)


def _forecast_table(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "target": frame["target"],
            "N": [
                format_count(r.params)
                + (f" [{format_count(r.params_lo)}, {format_count(r.params_hi)}]" if np.isfinite(r.params_lo) else "")
                for r in frame.itertuples()
            ],
            "D": frame["tokens"].map(format_count),
            "C (FLOPs)": frame["flops"].map(format_flops),
            "C / largest fitted": frame["extrapolation"].map(lambda v: f"{v:,.0f}x" if np.isfinite(v) else "n/a"),
            "expected loss [90%]": [
                _band(*r, _loss) for r in frame[["expected_median", "expected_lo", "expected_hi"]].to_numpy()
            ],
            "new run": frame["new_median"].map(_loss),
            "new run [50%]": [f"[{_loss(a)}, {_loss(b)}]" for a, b in frame[["new_lo50", "new_hi50"]].to_numpy()],
            "new run [90%]": [f"[{_loss(a)}, {_loss(b)}]" for a, b in frame[["new_lo", "new_hi"]].to_numpy()],
        }
    )
    return out.set_index("target")


# --------------------------------------------------------------------------- sections
def _data_section(fit, observed) -> str:
    runs = fit.runs
    parts = ["<h2 id='data'>1. Data</h2>"]
    if observed is None:
        parts.append("<p>This file stores neither the runs nor the configuration data.</p>")
        return "".join(parts)
    k = fit.flops_per_param_token
    rows = []
    if runs is not None:
        configs = runs.configs
        seeds = configs["n_seeds"].to_numpy()
        rows.append(("training runs", f"{len(runs)}"))
        rows.append(("configurations (distinct N, D)", f"{len(configs)}"))
        rows.append(
            (
                "replicate seeds",
                f"{int((seeds > 1).sum())} configurations with 2+ seeds (up to {int(seeds.max())})"
                if (seeds > 1).any()
                else "one seed per configuration",
            )
        )
        if runs.families:
            rows.append(("families", ", ".join(runs.families)))
    else:
        rows.append(("configurations (means of seeds)", f"{len(observed)}"))
        rows.append(("seeds", f"{int(observed['n_seeds'].sum())} runs in total (the runs table is not stored)"))
    for column, name, fmt in (
        (K.PARAMS, "parameters N", format_count),
        (K.TOKENS, "training tokens D", format_count),
        (K.FLOPS, f"compute C = {k:g} N D (FLOPs)", format_flops),
    ):
        values = observed[column]
        rows.append((name, f"{fmt(values.min())} to {fmt(values.max())}"))
    ratio = observed[K.TOKENS] / observed[K.PARAMS]
    rows.append(("tokens per parameter D/N", f"{_number(ratio.min())} to {_number(ratio.max())}"))
    rows.append(
        (
            "final loss",
            f"{observed[K.LOSS].min():.4f} to {observed[K.LOSS].max():.4f} nats/token (cross-entropy, natural log)",
        )
    )
    frame = pd.DataFrame(rows, columns=["what", "value"]).set_index("what")
    parts.append(_table(frame, "The runs the posterior was fitted to", text_columns=("value",)))
    return "".join(parts)


def _law_html(fit) -> str:
    from ..laws import CHINCHILLA

    if fit.law.formula == CHINCHILLA.formula:  # typeset; other laws show their LaTeX source
        return "L(N, D) = E + A N<sup>−α</sup> + B D<sup>−β</sup>"
    return f"<code>{_e(fit.law.formula)}</code>"


def _model_section(fit) -> str:
    noise = fit.noise
    scale = fit.scale
    n_ref, d_ref, n_noise = (np.exp(v) for v in (scale.log_n_ref, scale.log_d_ref, scale.log_n_noise_ref))
    sigma = (
        f"σ(N) = σ<sub>r</sub> (N / N<sub>noise</sub>)<sup>−γ</sup>, N<sub>noise</sub> = {_e(format_count(n_noise))}"
        if noise.heteroscedastic
        else "σ(N) = σ<sub>r</sub> (the same at every size)"
    )
    delta = "δ<sub>j</sub> ~ Normal(0, τ²)" if noise.discrepancy else "no configuration discrepancy (τ = 0)"
    tails = (
        "StudentT(ν, log μ<sub>j</sub>, √(τ² + σ<sub>j</sub>² / n<sub>j</sub>))"
        if noise.likelihood == "student_t"
        else "Normal(log μ<sub>j</sub>, √(τ² + σ<sub>j</sub>² / n<sub>j</sub>))"
    )
    if not noise.discrepancy:
        tails = tails.replace("τ² + ", "")
    parts = [
        "<h2 id='model'>2. Model</h2>",
        f"<p>The law ({_e(fit.law.name)}; {_e('; '.join(fit.law.references))}):</p>",
        f"<div class='math'>{_law_html(fit)}</div>",
        "<p>On log loss, for run <i>i</i> of configuration <i>j</i> (replicate seeds share N and D):</p>",
        "<div class='math'>log L<sub>ij</sub> = log μ(N<sub>j</sub>, D<sub>j</sub>) + δ<sub>j</sub> + ε<sub>ij</sub>, "
        f"&nbsp; {delta}, &nbsp; ε<sub>ij</sub> ~ Normal(0, σ(N<sub>j</sub>)²), &nbsp; {sigma}.</div>",
        "<p>The discrepancy δ (the law's own misfit, shared by a configuration's seeds) is integrated out, "
        "so the likelihood is per configuration, with n<sub>j</sub> seeds, mean log loss "
        "ȳ<sub>j</sub> and within sum of squares S<sub>j</sub>:</p>",
        f"<div class='math'>ȳ<sub>j</sub> ~ {tails}</div>",
        "<div class='math'>S<sub>j</sub> ~ Gamma((n<sub>j</sub> − 1)/2, rate = 1 / (2σ<sub>j</sub>²)) "
        "&nbsp; (configurations with n<sub>j</sub> ≥ 2)</div>",
        "<p>"
        + (
            "Student-t tails make the fit robust to outlying runs (the Bayesian counterpart of Approach 3's Huber "
            "loss); a new run's forecast uses the same Student-t with n = 1. "
            if noise.likelihood == "student_t"
            else "Gaussian tails: the exact marginal likelihood. "
        )
        + f"The sampler works on the log of each reducible term at reference sizes chosen from the data, "
        f"N<sub>r</sub> = {_e(format_count(n_ref))} and D<sub>r</sub> = {_e(format_count(d_ref))} "
        "(where each amplitude is nearly uncorrelated with its exponent); A and B are reported in the usual "
        "units. Compute is C = k N D with k = "
        f"{_e(f'{fit.flops_per_param_token:g}')}.</p>",
        _extrapolation_html(fit),
        "<h3>Priors</h3>",
        _priors_html(fit),
    ]
    return "".join(parts)


def _extrapolation_html(fit) -> str:
    """The forecast-only extrapolation drift, when the fit's noise model has one."""
    kappa = float(getattr(fit.noise, "extrapolation_sd", 0.0) or 0.0)
    if kappa <= 0:
        return ""
    return (
        "<p>Beyond the fitted range, forecasts (not the fit) add a drift of the law: "
        "log μ + κ √h(N, D) z<sub>s</sub>, with z<sub>s</sub> ~ Normal(0, 1) per posterior draw, h the distance in "
        "decades outside the fitted box of N, D and C, and "
        f"κ = {_e(f'{kappa:g}')} (the log-loss sd one decade out; its variance grows linearly with h). "
        "κ was chosen by leave-one-dataset-out backtests on public scaling studies.</p>"
    )


def _prior_text(prior) -> str:
    data = prior.to_dict() if hasattr(prior, "to_dict") else dict(prior)
    kwargs = data.get("kwargs", {})
    args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kwargs.items())
    return f"{data.get('dist', '?')}({args})"


def _priors_html(fit) -> str:
    """Resolved priors (user override, else the data-aware default) with their 90% prior intervals."""
    user = fit.spec_dict.get("priors", {}) or {}
    parameters = (*fit.law.parameters, *fit.noise.parameters)
    note = ""
    try:  # the defaults are pymc_extras Prior objects: resolving them imports PyMC (lazily, here only)
        resolved = {name: _prior_text(p) for name, p in fit.spec.resolved_priors(fit.scale).items()}
    except ImportError as exc:
        resolved = {name: _prior_text(user[name]) if name in user else "data-aware default" for name in parameters}
        note = f"<p>(Default priors could not be resolved here: {_e(exc)}.)</p>"
    prior_ds = fit.idata["prior"].to_dataset() if "prior" in fit.idata else None
    rows = []
    for name in parameters:
        interval = "—"
        if prior_ds is not None and name in prior_ds:
            lo, hi = np.quantile(np.asarray(prior_ds[name].values, dtype=float), [0.05, 0.95])
            interval = f"[{lo:.4g}, {hi:.4g}]"
        post = fit.draws(name)
        q_lo, q_hi = np.quantile(post, [0.05, 0.95])
        rows.append(
            {
                "parameter": name,
                "meaning": _MEANING.get(name, ""),
                "prior": resolved.get(name, ""),
                "source": "user" if name in user else "default",
                "prior 90%": interval,
                "posterior 90%": f"[{q_lo:.4g}, {q_hi:.4g}]",
            }
        )
    body = []
    for r in rows:
        body.append(
            "<tr>"
            f"<th class='text'>{_SYMBOL.get(r['parameter'], _e(r['parameter']))} <code>{_e(r['parameter'])}</code></th>"
            f"<td class='text'>{r['meaning']}</td>"  # static markup from _MEANING
            f"<td class='text'><code>{_e(r['prior'])}</code></td><td class='text'>{_e(r['source'])}</td>"
            f"<td>{_e(r['prior 90%'])}</td><td>{_e(r['posterior 90%'])}</td></tr>"
        )
    head = "".join(
        f"<th class='text'>{h}</th>" for h in ("parameter", "meaning", "prior", "source", "prior 90%", "posterior 90%")
    )
    caption = "Sampled parameters: priors (user overrides, else data-aware defaults) and what the data made of them"
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + note
    )


def _verdict(problems: list[str]) -> tuple[str, str]:
    return ("Trustworthy", "ok") if not problems else ("Check before use", "warn")


_WHAT_TO_DO = [
    "Divergences: refit with a higher target_accept (0.95-0.99), tighter priors on the exponents, "
    "or look for outlying runs.",
    "R-hat above 1.01 or low ESS: run more tune/draws; if chains disagree, look for several modes "
    "(E against the amplitudes when few runs approach convergence).",
    "High Pareto k: the posterior hinges on a few configurations (edge of the design or outliers); "
    "check those runs and distrust forecasts that rest on them.",
    "Prior-data conflict: widen or re-centre the named priors (priors={...}) or check the data.",
]


def _diagnostics_section(fit, diag) -> str:
    problems = list(diag.attrs.get("problems", []))
    verdict, cls = _verdict(problems)
    table = diag.copy()
    table["r_hat"] = table["r_hat"].map(lambda v: f"{v:.3f}")
    for column in ("ess_bulk", "ess_tail"):
        table[column] = table[column].map(lambda v: f"{v:,.0f}")
    table["ok"] = table["ok"].map(lambda v: "yes" if v else "NO")
    parts = [
        "<h2 id='diagnostics'>3. Diagnostics</h2>",
        f"<p>Verdict: <span class='verdict {cls}'>{_e(verdict)}</span></p>",
    ]
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
    parts.append(f"<p>{_e('; '.join(facts))}.</p>")
    if problems:
        items = "".join(f"<li>{_e(p)}</li>" for p in problems)
        parts.append(f"<div class='callout warn'><b>Failed checks</b><ul class='problems'>{items}</ul></div>")
        todo = "".join(f"<li>{_e(t)}</li>" for t in _WHAT_TO_DO)
        parts.append(f"<p>What to do when a check fails:</p><ul>{todo}</ul>")
    else:
        parts.append(
            "<div class='callout'>No divergences, R-hat ≤ 1.01, ESS ≥ 100 per chain, no influential configuration "
            "and no prior-data conflict: the draws can be used as they are.</div>"
        )
    tables = [_table(table, "Sampler diagnostics of the sampled parameters")]
    if sensitivity is not None:
        sens = sensitivity.map(lambda v: f"{v:.3f}")
        tables.append(_table(sens, "Power-scaling sensitivity (conflict: both > 0.05)"))
    parts.append(f"<div class='row'>{''.join(tables)}</div>")
    return "".join(parts)


def _parameters_section(fit) -> str:
    from .tables import summary_table

    summary = summary_table(fit.summary())
    summary.index = [str(i) for i in summary.index]
    summary.index.name = "parameter"
    return (
        "<h2 id='parameters'>4. Parameters</h2>"
        + _table(summary, "Posterior: mean, sd, median, 90% interval, R-hat, bulk/tail ESS")
        + "<p><i>a</i> and <i>b</i> are the allocation exponents: N* ∝ C<sup>a</sup>, D* ∝ C<sup>b</sup>, "
        "a = β/(α+β). σ<sub>r</sub>, γ, τ and ν describe the noise (see the model).</p>"
    )


def identifiability_warnings(fit, diag=None, targets_frame=None) -> list[str]:
    """Plain-language warnings about what the data do not pin down.

    High posterior correlations between the law's parameters (e.g. A with alpha), wide exponent
    or allocation-exponent intervals, parameters the data barely narrowed from their prior,
    prior-data conflict (from ``diag.attrs["sensitivity"]``) and far extrapolation.
    """
    from .plots import contraction

    warnings = []
    draws = fit.reported_draws()
    names = [n for n in fit.law.reported if n in draws]
    corr = np.corrcoef(np.stack([draws[n] for n in names]))
    for i in range(len(names)):
        for j in range(i):
            r = corr[i, j]
            if abs(r) > CORRELATION_WARN:
                warnings.append(
                    f"{names[j]} and {names[i]} are strongly correlated (r = {r:+.2f}): the data fix a combination "
                    f"of them, not each one; quote forecasts and the allocation rather than {names[j]} or "
                    f"{names[i]} alone, and compare fits through predictions, not these parameters."
                )
    for name in ("alpha", "beta"):
        if name in draws:
            lo, hi = np.quantile(draws[name], [0.05, 0.95])
            if hi - lo > EXPONENT_WIDTH_WARN:
                warnings.append(
                    f"the 90% interval of {name} is wide ([{lo:.3f}, {hi:.3f}]): forecasts far beyond the data "
                    "widen quickly; more sizes (for alpha) or data amounts (for beta) would narrow it."
                )
    if "alpha" in draws and "beta" in draws:
        a = fit.draws("a")
        lo, hi = np.quantile(a, [0.05, 0.95])
        if hi - lo > ALLOCATION_WIDTH_WARN:
            warnings.append(
                f"the allocation exponent a = β/(α+β) is uncertain (90%: [{lo:.3f}, {hi:.3f}]): N*(C) at large "
                "budgets spans a wide range; runs far from the current compute-optimal line would narrow it."
            )
    table = contraction(fit)
    if table is not None:
        weak = table.index[table["width_ratio"] > WEAK_CONTRACTION].tolist()
        if weak:
            warnings.append(
                f"the data narrowed {weak} by less than half relative to their prior: their values mostly reflect "
                "the prior; check it is the prior you mean."
            )
    sensitivity = None if diag is None else diag.attrs.get("sensitivity")
    if sensitivity is not None:
        law = sensitivity.loc[[p for p in fit.law.parameters if p in sensitivity.index]]
        conflict = law.index[(law["prior"] > 0.05) & (law["likelihood"] > 0.05)].tolist()
        if conflict:
            warnings.append(
                f"prior-data conflict for {conflict} (power-scaling sensitivity above 0.05 for both prior and "
                "likelihood): the prior pulls against the data; widen or re-centre it."
            )
    if targets_frame is not None and len(targets_frame):
        far = targets_frame.loc[targets_frame["extrapolation"] > EXTRAPOLATION_WARN]
        for row in far.itertuples():
            warnings.append(
                f"{row.target} is {row.extrapolation:,.0f}x beyond the largest fitted compute: the interval holds "
                "only if the law keeps its form that far (no change of regime, data repetition or recipe)."
            )
    return warnings


def _backtest_section(backtest) -> str:
    from .plots import backtest_frame, calibration, coverage_table

    table = backtest_frame(backtest)
    cov = coverage_table(table)
    rows = []
    for method, group in table.groupby("method", sort=False):
        row = {"method": method, "held-out runs": len(group)}
        if "dataset" in group:
            row["datasets"] = ", ".join(sorted(map(str, group["dataset"].unique())))
        if "extrapolation" in group:
            ext = group["extrapolation"].to_numpy(dtype=float)
            row["extrapolation (median)"] = f"{np.nanmedian(ext):,.1f}x" if np.isfinite(ext).any() else "n/a"
        for p in (50, 80, 90, 95):
            hit = cov[(cov["method"] == method) & np.isclose(cov["nominal"], p / 100)]
            row[f"{p}% coverage"] = f"{hit['empirical'].iloc[0]:.0%}" if len(hit) else "n/a"
        if "median" in group:
            err = np.abs(np.log(group["loss"].to_numpy(float)) - np.log(group["median"].to_numpy(float)))
            row["median |log error|"] = f"{np.nanmedian(err):.4f}" if np.isfinite(err).any() else "n/a"
        if "pit" in group:
            pit = group["pit"].to_numpy(float)
            row["PIT mean"] = f"{np.nanmean(pit):.2f}" if np.isfinite(pit).any() else "n/a"
        rows.append(row)
    summary = pd.DataFrame(rows).set_index("method")
    parts = [
        "<h2 id='backtest'>9. Backtest calibration</h2>",
        "<p>Each method was fitted to the smaller runs and asked for the held-out larger ones. A calibrated "
        "method's P% intervals hold P% of the held-out losses and its PIT histogram is flat.</p>",
        _table(summary, "Coverage of the central intervals on held-out runs, per method"),
        _figure(
            calibration(table),
            "PIT histograms and coverage curves of each method on held-out runs",
            "Left: PIT of each held-out loss (flat = calibrated; U-shaped = intervals too narrow). Right: "
            "nominal vs empirical coverage; grey: the range a calibrated method shows with this many runs.",
        ),
    ]
    return "".join(parts)


def _settings_text(fit, sampler_json: str) -> str:
    """How the posterior was made, in words: law, noise model, sampler settings."""
    import json

    noise = fit.noise
    terms = [
        "seed noise shrinking with N" if noise.heteroscedastic else "constant seed noise",
        "configuration discrepancy" if noise.discrepancy else "no discrepancy",
        "Student-t likelihood" if noise.likelihood == "student_t" else "Gaussian likelihood",
    ]
    text = f"Fit: {fit.law.name} law; {', '.join(terms)}."
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
def build_report(fit, *, targets=None, backtest=None, title: str | None = None) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    from ..data.synthetic import chinchilla_optimum
    from . import plots
    from .tables import optimal_table

    observed = plots._observed(fit)
    largest = float(observed[K.FLOPS].max()) if observed is not None and len(observed) else None
    parsed = parse_targets(targets, largest)
    title = title or f"Scaling-law forecast: {fit.law.name} law, {fit.n_configs} configurations"
    diag = fit.diagnostics()
    problems = list(diag.attrs.get("problems", []))
    verdict, cls = _verdict(problems)
    forecasts = forecast_frame(fit, parsed, largest)
    budgets = [t["flops"] for t in parsed if t["kind"] == "budget"]
    grid = sorted({*budgets, *(float(f"1e{e}") for e in range(int(np.ceil(np.log10(largest or 1e20))), 26))})
    opt = fit.compute_optimal(grid) if fit.law.allocates else None
    warnings = identifiability_warnings(fit, diag, forecasts)

    headline = []
    for row in forecasts.itertuples():
        headline.append(
            f"<li><b>{_e(row.target)}</b>: a new run ends at loss {_e(_loss(row.new_median))} "
            f"(90%: {_e(_loss(row.new_lo))} to {_e(_loss(row.new_hi))}); "
            + (
                f"N = {_e(format_count(row.params))}, D = {_e(format_count(row.tokens))}"
                if row.target.startswith("C =")
                else f"C = {_e(format_flops(row.flops))} FLOPs"
            )
            + (
                f", {_e(f'{row.extrapolation:,.0f}')}x the largest fitted compute"
                if np.isfinite(row.extrapolation)
                else ""
            )
            + ".</li>"
        )
    created = fit.idata.attrs.get("created", "unknown")
    sampler = fit.idata.attrs.get("sampler_settings", "")
    sections = [
        f"<header><h1>{_e(title)}</h1><p class='meta'>Written {_e(datetime.now(UTC).isoformat(timespec='seconds'))} "
        f"by bayes_scaling {_e(K.installed_version())} &middot; fit created {_e(created)} &middot; "
        f"{fit.n_draws} posterior draws &middot; spec id {_e(fit.idata.attrs.get('spec_id', 'n/a'))}</p></header>",
        "<section id='summary'><h2>Bottom line</h2>",
        f"<p>Diagnostics: <span class='verdict {cls}'>{_e(verdict)}</span>"
        + (f" &mdash; {len(problems)} failed check(s), see section 3." if problems else "")
        + "</p>",
        f"<ul>{''.join(headline)}</ul>",
        (
            f"<p>{len(warnings)} identifiability warning(s), see section 7.</p>"
            if warnings
            else "<p>No identifiability warnings.</p>"
        ),
        "<p>Intervals are equal-tailed posterior intervals. <i>Expected loss</i> is the law's mean under "
        "parameter uncertainty; <i>new run</i> adds the configuration discrepancy and the seed noise: "
        "what one training run would show.</p></section>",
        f"<section>{_data_section(fit, observed)}</section>",
        f"<section>{_model_section(fit)}</section>",
        f"<section>{_diagnostics_section(fit, diag)}</section>",
        f"<section>{_parameters_section(fit)}</section>",
        "<section><h2 id='forecasts'>5. Forecasts</h2>",
        _table(
            _forecast_table(forecasts),
            "Forecasts at the targets: posterior median [interval]; budgets at the median compute-optimal N*, D*",
        ),
    ]
    if fit.law.allocates:
        sections.append(
            _figure(
                _fig_of(plots.frontier(fit, target_flops=budgets or None)),
                "Loss against compute along the compute-optimal frontier with the fitted runs and targets",
                "Shaded: expected loss at each draw's compute-optimal N*, D* (50% darker, 90% lighter); dashed: "
                "90% band of a new run at the median allocation; grey area: beyond the largest fitted run.",
            )
        )
    sections.append(
        _figure(
            plots.slices(fit),
            "Loss against N at fixed D and against D at fixed N with nearby runs",
            "Slices through the law at the data's median N and D, with the runs within a factor of 2 of each slice.",
        )
    )
    sections.append("</section>")
    if opt is not None:
        table = optimal_table(opt)
        k = fit.flops_per_param_token
        chin_n, chin_d = chinchilla_optimum(opt["flops"].to_numpy(), flops_per_param_token=k)
        kap_n = plots.kaplan_optimal_params(opt["flops"].to_numpy())
        table["Chinchilla N*, D*"] = [
            f"{format_count(n)}, {format_count(d)}" for n, d in zip(chin_n, chin_d, strict=True)
        ]
        table["Kaplan N_opt"] = [format_count(n) for n in kap_n]
        table = table.set_index("compute (FLOPs)")
        sections += [
            "<section><h2 id='compute-optimal'>6. Compute-optimal allocation</h2>",
            "<p>Per posterior draw: N* = G (C/k)<sup>a</sup>, a = β/(α+β), G = (αA / βB)<sup>1/(α+β)</sup>, "
            "D* = C/(k N*). References: Chinchilla Approach 3 (Hoffmann et al. 2022: E = 1.69, A = 406.4, "
            "B = 410.7, α = 0.34, β = 0.28) and Kaplan et al. 2020, N<sub>opt</sub> = 1.3·10<sup>9</sup> "
            "(C / 8.64·10<sup>19</sup>)<sup>0.73</sup> (C in PF-days).</p>",
            "<p class='callout warn'><strong>Read these bands as parameter uncertainty under the law, not as a "
            "calibrated forecast.</strong> In backtests on public IsoFLOP studies, 90% intervals of N* covered "
            "0-44% of the empirical optima at held-out budgets; the extrapolation drift widens the loss "
            "forecasts but not the allocation (see the README, “How honest are the intervals?”).</p>",
            _table(table, str(table.attrs.get("caption", "Compute-optimal allocation"))),
            _figure(
                plots.compute_optimal(fit),
                "Compute-optimal parameters, tokens and tokens per parameter against compute",
                "Posterior median with 50% and 90% bands; dashed: Chinchilla Approach 3 and Kaplan et al. (2020).",
            ),
            _figure(
                _fig_of(plots.isoflop_profiles(fit)),
                "IsoFLOP profiles: loss against N at fixed compute with the fitted runs",
                "Each budget's loss profile (median and 90% band) with its runs; black: the 90% interval of N*(C).",
            ),
            "</section>",
        ]
    ident = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    sections += [
        "<section><h2 id='identifiability'>7. Identifiability</h2>",
        f"<div class='callout warn'><ul>{ident}</ul></div>" if warnings else "<p>No warnings.</p>",
        _figure(
            plots.pairs(fit),
            "Posterior pairs of E, A, B, alpha and beta with correlations and prior-to-posterior contraction",
            "Lower triangle: posterior draws of each pair and their correlation (red above 0.9); upper right, "
            "when prior draws are stored: prior and posterior 90% intervals.",
        ),
        "</section>",
    ]
    if observed is not None and len(observed):
        sections += [
            "<section><h2 id='residuals'>8. Residuals and the noise model</h2>",
            _figure(
                plots.residuals(fit),
                "Residuals of log loss against N, D and C with the noise model's bands",
                "Residuals against the posterior-median law; orange: a new run's 50% and 90% noise band; "
                "black ticks: the runs' 5% and 95% quantiles per bin (they should sit near the 90% band's edges).",
            ),
            "</section>",
        ]
    if backtest is not None:
        sections.append(f"<section>{_backtest_section(backtest)}</section>")
    sections.append(
        f"<footer>{_e(_settings_text(fit, sampler))} "
        "Self-contained file: no scripts, fonts or images are loaded from anywhere.</footer>"
    )
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def write_report(fit, path, *, targets=None, backtest=None, title: str | None = None, overwrite: bool = False) -> Path:
    """Write a self-contained HTML forecast report of ``fit`` to ``path``.

    Parameters
    ----------
    fit : ScalingFit
        A fitted or loaded posterior.
    path : str or Path
        Where to write; must end in ``.html``.
    targets : list, optional
        Compute budgets (``1e24`` or ``"1e24"``: forecast at the compute-optimal allocation)
        and/or ``(N, D)`` pairs. Default: 10x, 100x and 1000x the largest fitted compute, rounded
        up to powers of ten.
    backtest : DataFrame or object with ``.table``, optional
        A backtest table (see :func:`bayes_scaling.plots.backtest_frame`): adds its coverage
        table and calibration plot.
    title : str, optional
    overwrite : bool
        Replace an existing file; otherwise raise
        :class:`~bayes_scaling.errors.FileExistsNoOverwriteError`.

    Returns
    -------
    Path
        The file written. It is written atomically (a temporary file, then a rename): an
        interrupted write leaves any previous file untouched.
    """
    path = check_save_path(path, overwrite=overwrite, suffix=".html")
    text = build_report(fit, targets=targets, backtest=backtest, title=title)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite=overwrite)


__all__ = ["build_report", "forecast_frame", "identifiability_warnings", "parse_targets", "write_report"]
