"""Law comparison benchmark: is the stacked predictive no worse than the best single law?

For every case of benchmarks/datasets.py and its first compute cutoff, fit each law to the runs
below the cutoff, forecast the runs above it with each law, with their stacked mixture
(weights by PSIS-LOO stacking on the fitted runs only), with a mixture weighted by
leave-future-out CRPS stacking inside the fitted runs (refits below their 70% compute quantile,
scored above it), and with the law LOO ranks first (what a user choosing one law would get), and score the forecasts like benchmarks/calibration.py
(coverage, CRPS of log loss, median APE). With farseer among the laws, a section tests its
authors' claim (far lower extrapolation error than Chinchilla's law) on data they did not use:
median APE over the held-out runs and at each case's largest held-out compute. The best single law per dataset is chosen in
hindsight, on the held-out scores: a bar no method can see in advance. Writes
benchmarks/results/law_comparison.md and prints the table.

    .venv/bin/python benchmarks/law_comparison.py [--laws chinchilla chinchilla_tied kaplan] [--quick]

With ``--repeated-data``: the laws of repeated data instead (chinchilla, Muennighoff et al.'s
data_constrained and Goyal et al.'s decaying utility, data_utility) on the one dataset with unique
tokens (datablations), at each of its compute cutoffs, scored the same way with the held-out
runs' unique tokens as forecast inputs; writes benchmarks/results/law_comparison_repeated.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import cases  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.evaluation.backtesting import score_fold  # noqa: E402
from bayes_scaling.evaluation.holdout import ComputeCutoff, fit_quietly, split  # noqa: E402
from bayes_scaling.evaluation.scores import MethodForecast, summarize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laws", nargs="+", default=["chinchilla", "chinchilla_tied", "kaplan", "farseer"])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws, results not written")
    parser.add_argument("--repeated-data", action="store_true", help="the laws of repeated data on datablations")
    args = parser.parse_args()
    if args.repeated_data:
        return repeated_data(args.quick)
    options = {"draws": 300, "tune": 300, "chains": 2} if args.quick else {}
    rows, notes, weights = [], [], []
    started = time.time()
    for case in cases():
        rule = ComputeCutoff(case.cutoffs[0])
        train, test = split(case.runs, rule)
        meta = {"dataset": case.dataset, "case": case.family}
        fits = {}
        for law in args.laws:
            try:
                fits[law], problems = fit_quietly(train, law, 0, options)
            except bs.RunsValidationError as exc:  # too few configurations for this law's parameters
                notes.append(f"{case.family} {law}: not fitted: {exc}")
                continue
            notes += [f"{case.family} {law}: {p}" for p in problems]
        mixture = bs.stack(fits)
        chosen = mixture.comparison.index[0]
        # Leave-future-out CRPS stacking inside the fitted runs: refit below their 70% compute
        # quantile, weight by the mixture's CRPS on the fitted runs above it.
        inner = float(np.quantile(train.flops, 0.7))
        lfo_mixture = bs.stack(fits, holdout=inner, fit_options=options)
        notes += [f"{case.family} lfo {w}" for w in lfo_mixture.comparison.attrs["warnings"]]
        weights.append(
            {
                **meta,
                **mixture.weights.to_dict(),
                "loo_first": chosen,
                **{f"lfo_{k}": v for k, v in lfo_mixture.weights.to_dict().items()},
            }
        )
        models = {**fits, "stacked": mixture, "stacked_lfo": lfo_mixture, "loo_selected": fits[chosen]}
        for name, model in models.items():
            forecast = model.predict(test.params, test.tokens, kind="new_run", random_seed=0)
            rows.append(score_fold(name, train, test, str(rule), MethodForecast(forecast.median, forecast.draws), meta))
        print(
            f"{case.family:45s} {time.time() - started:6.0f} s  weights {mixture.weights.round(2).to_dict()}",
            flush=True,
        )
    table = pd.concat(rows, ignore_index=True)
    table["row"] = table.groupby(["dataset", "case", "method"]).cumcount()  # the same held-out run across methods
    pooled = summarize(table)
    per_dataset = summarize(table, by=("dataset", "method"))
    # Which single law was best (lowest mean CRPS) on each dataset, and how the stack compares.
    crps = per_dataset["crps_log"].unstack("method")
    singles = crps[[law for law in args.laws if law in crps]]
    verdict = pd.DataFrame(
        {
            "best_single": singles.idxmin(axis=1),
            "best_single_crps": singles.min(axis=1),
            "stacked_crps": crps["stacked"],
        }
    )
    verdict["stacked_no_worse"] = verdict["stacked_crps"] <= verdict["best_single_crps"]
    verdict["loo_selected_crps"] = crps["loo_selected"]
    verdict["stacked_lfo_crps"] = crps["stacked_lfo"]
    # Paired by held-out run: stacked minus best single, mean and its standard error (runs of
    # one dataset are not independent, so the error is a lower bound on the real one).
    for dataset, best in verdict["best_single"].items():
        sub = table[table["dataset"] == dataset].pivot_table(index=["case", "row"], columns="method", values="crps_log")
        diff = sub["stacked"] - sub[best]
        verdict.loc[dataset, "diff_mean"] = diff.mean()
        verdict.loc[dataset, "diff_se"] = diff.std(ddof=1) / np.sqrt(diff.size)
    pooled_best = pooled.loc[[law for law in args.laws if law in pooled.index], "crps_log"].idxmin()
    claim = farseer_claim(table) if {"farseer", "chinchilla"} <= set(table["method"]) else []
    text = [
        "# Law comparison: single laws against their stacked mixture",
        "",
        f"Laws: {', '.join(args.laws)}; first compute cutoff of each case in benchmarks/datasets.py; "
        f"{'quick settings' if args.quick else '4 chains x 1000 draws'}; {time.time() - started:.0f} s on this machine.",
        "Scores of new-run forecasts of the held-out runs (CRPS of log loss: lower is better).",
        "",
        "## Pooled over all held-out runs",
        "",
        pooled.round(4).to_markdown(),
        "",
        "## Per dataset",
        "",
        per_dataset.round(4).to_markdown(),
        "",
        "## Is the stack no worse than the best single law (by mean CRPS)?",
        "",
        "best_single is chosen in hindsight on the held-out runs; loo_selected is the law LOO ranked first "
        "on the fitted runs; diff = stacked - best single, paired by held-out run (mean, standard error).",
        "",
        verdict.round(5).to_markdown(),
        "",
        f"Stacked no worse than the best single law (in hindsight) on {int(verdict['stacked_no_worse'].sum())} of "
        f"{len(verdict)} datasets, and no worse than the LOO-selected law on "
        f"{int((verdict['stacked_crps'] <= verdict['loo_selected_crps']).sum())} of {len(verdict)}. "
        f"Stacked by leave-future-out CRPS (stacked_lfo): no worse than the best single law on "
        f"{int((verdict['stacked_lfo_crps'] <= verdict['best_single_crps']).sum())} of {len(verdict)}, pooled CRPS "
        f"{pooled.loc['stacked_lfo', 'crps_log']:.5f}. "
        f"Pooled CRPS: stacked {pooled.loc['stacked', 'crps_log']:.5f}, LOO-selected "
        f"{pooled.loc['loo_selected', 'crps_log']:.5f}, best single law overall {pooled.loc[pooled_best, 'crps_log']:.5f} "
        f"({pooled_best}).",
        "",
        *claim,
        "## Stacking weights per case (fitted runs only; lfo_: leave-future-out CRPS stacking)",
        "",
        pd.DataFrame(weights).round(3).to_markdown(index=False),
        "",
    ]
    publish(text, notes, "law_comparison.md", args.quick)


def farseer_claim(table: pd.DataFrame) -> list[str]:
    """Farseer against Chinchilla on the same held-out runs: median APE (all held-out runs, and
    those at each case's largest held-out compute), 90% coverage and CRPS, per dataset."""
    both = table[table["method"].isin(["farseer", "chinchilla"])].copy()
    cases_with_both = both.groupby(["dataset", "case"])["method"].nunique().loc[lambda s: s == 2].index
    both = both.set_index(["dataset", "case"]).loc[cases_with_both].reset_index()
    largest = both["flops"] >= both.groupby(["dataset", "case"])["flops"].transform("max") * (1 - 1e-9)
    inside = (both["loss"] >= both["lo_90"]) & (both["loss"] <= both["hi_90"])
    both = both.assign(at_largest=largest, inside_90=inside)

    def per(g: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "held_out": len(g),
                "median_ape": g["ape"].median(),
                "median_ape_largest_C": g.loc[g["at_largest"], "ape"].median(),
                "coverage_90": g["inside_90"].mean(),
                "crps_log": g["crps_log"].mean(),
            }
        )

    by = both.groupby(["dataset", "method"]).apply(per).unstack("method")
    pooled = both.groupby("method").apply(per)
    ape = by["median_ape"]
    wins = int((ape["farseer"] < ape["chinchilla"]).sum())
    ratio = pooled.loc["chinchilla", "median_ape"] / pooled.loc["farseer", "median_ape"]
    return [
        "## Farseer's claim on data its authors did not use",
        "",
        "Li et al. (2025) report extrapolation error 4.3x lower than Chinchilla's law on their own runs. "
        "Here both laws are fitted to the same runs below each case's cutoff (bayes_scaling defaults: "
        "priors, seed noise, drift) and forecast the same held-out runs (cases where both could be fitted).",
        "",
        by.round(4).to_markdown(),
        "",
        pooled.round(4).to_markdown(),
        "",
        f"Farseer's median APE is lower than Chinchilla's on {wins} of {len(ape)} datasets; pooled median APE "
        f"chinchilla {pooled.loc['chinchilla', 'median_ape']:.3f}% vs farseer {pooled.loc['farseer', 'median_ape']:.3f}% "
        f"(Chinchilla's error / Farseer's = {ratio:.2f}; the claim is 4.3), at the largest held-out compute "
        f"{pooled.loc['chinchilla', 'median_ape_largest_C']:.3f}% vs {pooled.loc['farseer', 'median_ape_largest_C']:.3f}%.",
        "",
    ]


REPEATED_LAWS = ("chinchilla", "data_constrained", "data_utility")


def repeated_data(quick: bool) -> None:
    """Chinchilla against the two laws of repeated data, leave-future-out on datablations."""
    options = {"draws": 300, "tune": 300, "chains": 2} if quick else {}
    case = next(c for c in cases() if c.family == "datablations")
    rows, notes, weights, reported = [], [], [], []
    started = time.time()
    for cutoff in case.cutoffs:
        rule = ComputeCutoff(cutoff)
        train, test = split(case.runs, rule)
        meta = {"dataset": case.dataset, "case": f"below {cutoff:.2g}"}
        fits = {}
        for law in REPEATED_LAWS:
            fits[law], problems = fit_quietly(train, law, 0, options)
            notes += [f"{meta['case']} {law}: {p}" for p in problems]
        mixture = bs.stack(fits)
        weights.append({**meta, **mixture.weights.to_dict()})
        summary = fits["data_utility"].summary()
        reported.append({**meta, **{f"data_utility {k}": summary.loc[k, "median"] for k in ("half_life", "beta")}})
        summary = fits["data_constrained"].summary()
        reported[-1] |= {f"data_constrained {k}": summary.loc[k, "median"] for k in ("R_D_star", "beta")}
        inputs = test.input_columns()
        for name, model in {**fits, "stacked": mixture}.items():
            forecast = model.predict(test.params, test.tokens, kind="new_run", random_seed=0, **inputs)
            rows.append(score_fold(name, train, test, str(rule), MethodForecast(forecast.median, forecast.draws), meta))
        print(
            f"{meta['case']:14s} {time.time() - started:6.0f} s  weights {mixture.weights.round(2).to_dict()}",
            flush=True,
        )
    table = pd.concat(rows, ignore_index=True)
    text = [
        "# Laws of repeated data, leave-future-out on datablations",
        "",
        f"`benchmarks/law_comparison.py --repeated-data`: {', '.join(REPEATED_LAWS)} fitted to Muennighoff et al.'s "
        "runs (datablations_final, 1 to 9000 epochs over the unique tokens) below each compute cutoff, forecasting "
        "the runs above it with their own unique tokens; stacked = LOO stacking of the three on the fitted runs. "
        f"{'Quick settings' if quick else '4 chains x 1000 draws'}; {time.time() - started:.0f} s on this machine.",
        "",
        "## Pooled over the cutoffs",
        "",
        summarize(table).round(4).to_markdown(),
        "",
        "## Per cutoff",
        "",
        summarize(table, by=("case", "method")).round(4).to_markdown(),
        "",
        "## The fitted repetition parameters (posterior medians)",
        "",
        pd.DataFrame(reported).round(3).to_markdown(index=False),
        "",
        "## LOO stacking weights",
        "",
        pd.DataFrame(weights).round(3).to_markdown(index=False),
        "",
    ]
    publish(text, notes, "law_comparison_repeated.md", quick)


def publish(text: list[str], notes: list[str], name: str, quick: bool) -> None:
    """Print the results with the sampler warnings; write them to results/``name`` unless quick."""
    text = [*text, "## Sampler warnings", "", *([f"- {n}" for n in notes] or ["none"])]
    print("\n".join(text))
    if not quick:
        (RESULTS / name).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
