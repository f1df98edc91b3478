"""What the forecast report says, computed from a fit: targets, forecasts, warnings, tables.

Numbers and plain-text sentences only; :mod:`.report` lays them out. Nothing here knows a law
or a likelihood by name: parameter names, symbols, meanings, exponents and the allocation rule
come from ``fit.law``, the noise model's words from ``fit.noise``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _constants as K
from ..units import as_counts, format_count, format_flops
from .plots import allocation_exponent, backtest_frame, contraction, coverage_table
from .plots._common import _observed

#: Correlation above which a pair of parameters is reported as identified only jointly.
CORRELATION_WARN = 0.9
#: 90% interval widths above which one of the law's exponents, or the allocation exponent a, is "wide".
EXPONENT_WIDTH_WARN = 0.1
ALLOCATION_WIDTH_WARN = 0.05
#: Posterior/prior interval width (log scale) above which the data said little about a parameter.
WEAK_CONTRACTION = 0.5
#: Targets further than this factor beyond the largest fitted compute get an extrapolation warning.
EXTRAPOLATION_WARN = 100.0
#: Tokens per parameter of a budget's forecast when the law has no compute-optimal split and no
#: runs are stored (otherwise: the fitted runs' median).
DEFAULT_TOKENS_PER_PARAM = 20.0


def number(x) -> str:
    """3 significant digits, with thousands separators instead of exponents up to 1e6."""
    return f"{x:,.0f}" if 1e3 <= abs(x) < 1e6 else f"{x:.3g}"


def loss_text(x) -> str:
    return f"{x:.4f}"


def band(median, lo, hi, fmt) -> str:
    return f"{fmt(median)} [{fmt(lo)}, {fmt(hi)}]"


def largest_flops(fit) -> float | None:
    """The largest fitted compute (None when the fit stores no data)."""
    observed = _observed(fit)
    return float(observed[K.FLOPS].max()) if observed is not None and len(observed) else None


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


def budget_tokens_per_param(fit) -> float:
    """D/N at which a budget is forecast when the law has no compute-optimal split: the fitted
    runs' median (:data:`DEFAULT_TOKENS_PER_PARAM` without stored runs)."""
    observed = _observed(fit)
    if observed is None or not len(observed):
        return DEFAULT_TOKENS_PER_PARAM
    return float(np.exp(np.median(np.log(observed[K.TOKENS] / observed[K.PARAMS]))))


def forecast_frame(fit, targets: list[dict], largest_flops: float | None) -> pd.DataFrame:
    """Numeric forecasts at parsed targets: allocation, expected loss and a new run's loss.

    For a law of N and D, budgets are forecast at the posterior-median compute-optimal
    allocation (N*, D*), and the expected loss column is the loss at each draw's own optimum.
    A law of one variable has no such split: a budget is then forecast at the runs' median
    tokens per parameter (:func:`budget_tokens_per_param`).
    """
    k = fit.flops_per_param_token
    budgets = [t["flops"] for t in targets if t["kind"] == "budget"]
    allocates = fit.law.allocates
    opt = fit.optimal_draws(budgets) if budgets and allocates else None
    ratio = None if allocates else budget_tokens_per_param(fit)
    rows, b, skipped = [], 0, []
    for t in targets:
        n_lo = n_hi = np.nan
        if t["kind"] == "budget" and allocates:
            # (draws whose loss has no minimum along the IsoFLOP line are NaN: summarised over the others)
            has = np.isfinite(opt["params"][:, b])
            label = f"C = {format_flops(t['flops'])} (compute-optimal)"
            if not has.any():
                b += 1
                skipped.append(format_flops(t["flops"]))
                continue
            n, d = float(np.median(opt["params"][has, b])), float(np.median(opt["tokens"][has, b]))
            expected = opt["loss"][has, b]
            n_lo, n_hi = np.quantile(opt["params"][has, b], [0.05, 0.95])
            if not has.all():
                label += f" ({1 - has.mean():.0%} of draws without a minimum)"
            b += 1
        elif t["kind"] == "budget":
            n = float(np.sqrt(t["flops"] / (k * ratio)))
            d = ratio * n
            expected = fit.predict(n, d, kind="mean").draws[:, 0]
            label = f"C = {format_flops(t['flops'])} (D/N = {number(ratio)} as in the runs)"
        else:
            n, d = t["params"], t["tokens"]
            expected = fit.predict(n, d, kind="mean").draws[:, 0]
            label = f"N = {format_count(n)}, D = {format_count(d)}"
        c = t["flops"] if t["kind"] == "budget" else k * n * d
        new = fit.predict(n, d, kind="new_run").draws[:, 0]
        rows.append(
            {
                "target": label,
                "kind": t["kind"],
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
    frame = pd.DataFrame(rows)
    #: budgets (FLOPs, as text) where no draw's loss has a minimum along the IsoFLOP line: no row
    frame.attrs["no_optimum"] = skipped
    return frame


def forecast_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`forecast_frame` as text with units, one row per target."""
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
                band(*r, loss_text) for r in frame[["expected_median", "expected_lo", "expected_hi"]].to_numpy()
            ],
            "new run": frame["new_median"].map(loss_text),
            "new run [50%]": [
                f"[{loss_text(a)}, {loss_text(b)}]" for a, b in frame[["new_lo50", "new_hi50"]].to_numpy()
            ],
            "new run [90%]": [f"[{loss_text(a)}, {loss_text(b)}]" for a, b in frame[["new_lo", "new_hi"]].to_numpy()],
        }
    )
    return out.set_index("target")


def headline(frame: pd.DataFrame) -> list[dict]:
    """The bottom line: per target, what a new run ends at and where (``{"target", "text"}``)."""
    items = []
    for row in frame.itertuples():
        where = (
            f"N = {format_count(row.params)}, D = {format_count(row.tokens)}"
            if row.kind == "budget"
            else f"C = {format_flops(row.flops)} FLOPs"
        )
        far = f", {row.extrapolation:,.0f}x the largest fitted compute" if np.isfinite(row.extrapolation) else ""
        text = (
            f"a new run ends at loss {loss_text(row.new_median)} (90%: {loss_text(row.new_lo)} to "
            f"{loss_text(row.new_hi)}); {where}{far}."
        )
        items.append({"target": row.target, "text": text})
    return items


# --------------------------------------------------------------------------- data
def data_table(fit, observed: pd.DataFrame) -> pd.DataFrame:
    """What the posterior was fitted to: counts, seeds, ranges of N, D, C, D/N and the loss."""
    runs = fit.runs
    k = fit.flops_per_param_token
    rows = []
    if runs is not None:
        configs = runs.configs
        seeds = configs["n_seeds"].to_numpy()
        rows.append(("training runs", f"{len(runs)}"))
        rows.append(("configurations (distinct N, D)", f"{len(configs)}"))
        replicated = (seeds > 1).any()
        rows.append(
            (
                "replicate seeds",
                f"{int((seeds > 1).sum())} configurations with 2+ seeds (up to {int(seeds.max())})"
                if replicated
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
    rows.append(("tokens per parameter D/N", f"{number(ratio.min())} to {number(ratio.max())}"))
    loss = observed[K.LOSS]
    rows.append(("final loss", f"{loss.min():.4f} to {loss.max():.4f} nats/token (cross-entropy, natural log)"))
    return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")


# --------------------------------------------------------------------------- identifiability
def family_note(fit) -> list[str]:
    """What a reader of one family's report must know: its posterior comes from one model over
    several families (and, for a family not in the data, from their population alone)."""
    family = fit.idata.attrs.get("family")
    if family is None:
        return []
    if fit.idata.attrs.get("family_in_data") == "false":
        return [
            f"'{family}' has no runs: this forecast is the population of the fitted families (a new recipe "
            "drawn from how much they differ), not a fit of any runs of it."
        ]
    return [
        f"The family {family} ({fit.n_configs} configurations) was fitted in one model with every family of its "
        "table: its parameters are partially pooled with theirs, so its forecasts borrow from their runs."
    ]


def identifiability_warnings(fit, diag=None, targets_frame=None) -> list[str]:
    """Plain-language warnings about what the data do not pin down.

    High posterior correlations between the law's parameters (e.g. A with alpha), wide
    intervals of the law's exponents (``fit.law.exponents``) or of the allocation exponent
    :math:`a` (:math:`N^* \\propto C^a`, laws of N and D), parameters the data barely narrowed
    from their prior, prior-data conflict (from ``diag.attrs["sensitivity"]``) and far
    extrapolation.
    """
    law = fit.law
    warnings = []
    draws = fit.reported_draws()
    names = [n for n in law.reported if n in draws]
    corr = np.corrcoef(np.stack([draws[n] for n in names]))
    quote = " and the allocation" if law.allocates else ""
    for i in range(len(names)):
        for j in range(i):
            r = corr[i, j]
            if abs(r) > CORRELATION_WARN:
                warnings.append(
                    f"{names[j]} and {names[i]} are strongly correlated (r = {r:+.2f}): the data fix a combination "
                    f"of them, not each one; quote forecasts{quote} rather than {names[j]} or {names[i]} alone, "
                    "and compare fits through predictions, not these parameters."
                )
    for name in law.exponents:
        lo, hi = np.quantile(draws[name], [0.05, 0.95])
        if hi - lo > EXPONENT_WIDTH_WARN:
            what = law.meaning(name) or "an exponent of the law"
            warnings.append(
                f"the 90% interval of {name} is wide ([{lo:.3f}, {hi:.3f}]; {what}): forecasts far beyond the data "
                "widen quickly; runs over a wider range of the size it acts on would narrow it."
            )
    if law.allocates:
        top = largest_flops(fit) or 1e21
        a = allocation_exponent(fit, [top, 1000 * top])
        if np.isfinite(a).any():
            lo, hi = np.nanquantile(a, [0.05, 0.95])
            if hi - lo > ALLOCATION_WIDTH_WARN:
                warnings.append(
                    f"the allocation exponent a (N* ∝ C^a) is uncertain (90%: [{lo:.3f}, {hi:.3f}]): N*(C) at large "
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
        rows = sensitivity.loc[[p for p in law.parameters if p in sensitivity.index]]
        conflict = rows.index[(rows["prior"] > 0.05) & (rows["likelihood"] > 0.05)].tolist()
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


# --------------------------------------------------------------------------- backtest
def backtest_summary(backtest) -> pd.DataFrame:
    """Per method of a backtest: held-out runs, datasets, extrapolation, interval coverage,
    median absolute log error and mean PIT, as text."""
    table = backtest_frame(backtest)
    cov = coverage_table(table)
    rows = []
    for method, group in table.groupby("method", sort=False):
        row = {"method": method, "held-out runs": str(len(group))}
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
    return pd.DataFrame(rows).set_index("method")


__all__ = [
    "backtest_summary",
    "budget_tokens_per_param",
    "data_table",
    "forecast_frame",
    "forecast_table",
    "headline",
    "identifiability_warnings",
    "parse_targets",
]


def optimal_across_laws(fits, budgets, weights=None, prob: float = 0.9) -> pd.DataFrame:
    """N* at each budget under each law: ``median [lo, hi]`` per fit (``fits``: name -> fit of the
    same runs; ``weights``: their stacking weights, if any), and how far the medians disagree.

    Published fits of one data set disagree on N* at 3.8e25 FLOPs by more than 10x depending on
    the form and the fitting choices; one law's band does not show that. Fits whose law has no
    allocation are left out (``attrs["skipped"]``)."""
    columns, medians, skipped = {}, {}, []
    for name, fit in fits.items():
        if not fit.law.allocates:
            skipped.append(name)
            continue
        opt = fit.compute_optimal(list(budgets), prob=prob)
        label = name if weights is None else f"{name} (weight {float(weights[name]):.2f})"
        medians[name] = opt["params_median"].to_numpy()
        columns[label] = [
            f"{format_count(m)} [{format_count(lo)}, {format_count(hi)}]"
            for m, lo, hi in zip(opt["params_median"], opt["params_lo"], opt["params_hi"], strict=True)
        ]
    frame = pd.DataFrame(columns, index=pd.Index([format_flops(c) for c in budgets], name="compute (FLOPs)"))
    if len(medians) > 1:
        m = np.vstack(list(medians.values()))
        frame["largest / smallest median"] = [f"{r:,.1f}x" for r in m.max(axis=0) / m.min(axis=0)]
    frame.attrs["skipped"] = skipped
    return frame
