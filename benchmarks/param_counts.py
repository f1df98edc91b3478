"""Which parameter count forecasts better, and how far the forecast moves between them, on the
one public dataset in ../shared/data that gives both counts (mlfoundations_overtrain: OpenLM
models of 11M-6.9B parameters, 3 training sets, C4 validation loss).

For each training set, Chinchilla's law is fitted twice to the runs of the four smallest sizes
(N up to 412M total, 360M non-embedding), once with N = total parameters (``params``) and once
with N = non-embedding parameters (``params_nonembedding``), compute recomputed as 6 N D in
each. Both forecast the same held-out runs of the two largest sizes (1.4B and 6.9B, 3-65x the
largest fitted compute) as new runs, scored with the backtests' coverage / CRPS / APE. Then
:func:`bayes_scaling.planning.convention_shift` says how far the compute-optimal forecast moves
between the two counts at 1e22 and 1e24 FLOPs (budgets in total-parameter compute), for the
fits to every size. Package defaults (4 x 1000 draws). Writes
benchmarks/results/param_counts.md and prints it.

    .venv/bin/python benchmarks/param_counts.py [--draws 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import _read  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling import planning  # noqa: E402
from bayes_scaling.evaluation.backtesting import score_fold  # noqa: E402
from bayes_scaling.evaluation.scores import MethodForecast, summarize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COUNTS = ("params", "params_nonembedding")
CUTOFF = 5e8  # total parameters: the four smallest sizes are fitted, 1.4B and 6.9B held out
BUDGETS = (1e22, 1e24)


def _runs(frame: pd.DataFrame, count: str) -> bs.Runs:
    cols = ["run_id", "family", count, "tokens", "loss"]
    return bs.Runs.from_frame(frame[cols].reset_index(drop=True), params=count, flops=None)


def _fit(runs: bs.Runs, draws: int, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        return bs.fit(runs, draws=draws, random_seed=seed, progressbar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    start = time.perf_counter()
    df = _read("mlfoundations_overtrain")
    df = df[(df["loss_kind"] == "eval:c4_val") & (df["is_final_checkpoint"] == True)]  # noqa: E712
    rows, shifts, verdicts = [], [], []
    for i, (family, frame) in enumerate(df.groupby("family")):
        train_mask = frame["params"] <= CUTOFF
        full = {}
        for count in COUNTS:
            train, test = _runs(frame[train_mask], count), _runs(frame[~train_mask], count)
            fit = _fit(train, args.draws, seed=i)
            verdicts.append((family, count, "backtest", fit.verdict.label))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.DiagnosticsWarning)
                forecast = fit.predict(test.params, test.tokens, kind="new_run", random_seed=0)
            draws = np.asarray(forecast.draws)
            scored = score_fold(count, train, test, "4 smallest sizes", MethodForecast(np.median(draws, 0), draws))
            rows.append(scored.assign(family=family))
            full[count] = _fit(_runs(frame, count), args.draws, seed=i)
            verdicts.append((family, count, "all sizes", full[count].verdict.label))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.DiagnosticsWarning)
            shift = planning.convention_shift(full, frame, BUDGETS)
        a = shift.exponents.loc["a"] if "a" in shift.exponents.index else pd.Series(np.nan, index=COUNTS)
        for _, s in shift.shifts.iterrows():
            shifts.append({"family": family, **s.to_dict(), "a_total": a[COUNTS[0]], "a_nonembedding": a[COUNTS[1]]})
        print(f"{family}: {shift.count_map.describe()}", flush=True)
    scores = pd.concat(rows, ignore_index=True)
    by_family = summarize(scores, by=("family", "method"))
    pooled = summarize(scores, by=("method",))
    moved = pd.DataFrame(shifts)
    elapsed = time.perf_counter() - start
    cols = ["n_held_out", "coverage_50", "coverage_90", "crps_log", "median_ape"]
    cols = [c for c in cols if c in pooled.columns]
    lines = [
        "# Total vs non-embedding parameter counts (mlfoundations_overtrain, C4 validation)",
        "",
        f"Written by `benchmarks/param_counts.py` ({args.draws} draws x 4 chains, {elapsed:.0f} s).",
        "Each training set's four smallest sizes (N <= 412M total) are fitted with each count (compute",
        "6 N D in it); the runs of the two largest sizes (1.4B, 6.9B) are forecast as new runs.",
        "",
        "## Held-out runs, pooled over the three training sets",
        "",
        pooled[cols].to_markdown(floatfmt=".4g"),
        "",
        "## Per training set",
        "",
        by_family[cols].to_markdown(floatfmt=".4g"),
        "",
        "## How far the compute-optimal forecast moves (fits to every size; budgets in total-parameter compute)",
        "",
        "`params_ratio`, `tokens_ratio`: non-embedding fit's best run over the total fit's (size in total",
        "parameters); `loss_change_pct`: its expected loss against the total fit's; `loss_change_in_band`:",
        "that change over half the total fit's 90% band. `a_*`: the allocation exponent (N* ~ C^a).",
        "",
        moved.to_markdown(index=False, floatfmt=".4g"),
        "",
        "## Sampler verdicts",
        "",
        pd.DataFrame(verdicts, columns=["family", "count", "fit", "verdict"]).to_markdown(index=False),
        "",
    ]
    text = "\n".join(lines)
    (RESULTS / "param_counts.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
