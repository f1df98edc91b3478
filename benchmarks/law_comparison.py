"""Law comparison benchmark: is the stacked predictive no worse than the best single law?

For every case of benchmarks/datasets.py and its first compute cutoff, fit each law to the runs
below the cutoff, forecast the runs above it with each law, with their stacked mixture
(weights by PSIS-LOO stacking on the fitted runs only), with a mixture weighted by
leave-future-out CRPS stacking inside the fitted runs (refits below their 70% compute quantile,
scored above it), and with the law LOO ranks first (what a user choosing one law would get), and score the forecasts like benchmarks/calibration.py
(coverage, CRPS of log loss, median APE). The best single law per dataset is chosen in
hindsight, on the held-out scores: a bar no method can see in advance. Writes
benchmarks/results/law_comparison.md and prints the table.

    .venv/bin/python benchmarks/law_comparison.py [--laws chinchilla chinchilla_tied kaplan] [--quick]
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
    parser.add_argument("--laws", nargs="+", default=["chinchilla", "chinchilla_tied", "kaplan"])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws, results not written")
    args = parser.parse_args()
    options = {"draws": 300, "tune": 300, "chains": 2} if args.quick else {}
    rows, notes, weights = [], [], []
    started = time.time()
    for case in cases():
        rule = ComputeCutoff(case.cutoffs[0])
        train, test = split(case.runs, rule)
        meta = {"dataset": case.dataset, "case": case.family}
        fits = {}
        for law in args.laws:
            fits[law], problems = fit_quietly(train, law, 0, options)
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
    singles = crps[args.laws]
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
    pooled_best = pooled.loc[args.laws, "crps_log"].idxmin()
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
        "## Stacking weights per case (fitted runs only; lfo_: leave-future-out CRPS stacking)",
        "",
        pd.DataFrame(weights).round(3).to_markdown(index=False),
        "",
        "## Sampler warnings",
        "",
        *([f"- {n}" for n in notes] or ["none"]),
    ]
    print("\n".join(text))
    if not args.quick:
        (RESULTS / "law_comparison.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
