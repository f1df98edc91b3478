"""Few-run forecasts for a new recipe: one model over many families against the family alone
and against borrowing another family's exponents, on the real data in ../shared/data.

For every dataset with several families sharing an evaluation, every family in turn plays the
new recipe: its k runs of least compute (k = 2, 3, 5, and 8 where the family alone can be fitted) are fitted with every run of the other
families (``NewFamily(family, k)``) and its other runs are forecast (new-run draws), scored with
the backtests' coverage / CRPS / APE. Beside it:

- *alone*: ``bs.fit`` on the family's k runs (Chinchilla has 5 parameters: the package refuses
  k <= 5 configurations; such rows are counted as refused, not scored);
- *borrow* (Choshen et al. 2024): alpha and beta from the Approach-3 fit of the other family
  with the most runs, E, A, B >= 0 by least squares on the k runs (a point forecast: CRPS is
  its absolute log error, no coverage).

Also times a fit of 10 synthetic families x 12 runs (the cost target). Writes
benchmarks/results/families.md and families.csv (one summary row per dataset, family, k and
method), and prints the tables.

    .venv/bin/python benchmarks/families.py [--quick] [--k 3] [--datasets xlstm_isoflops ...]
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

from datasets import _extra, _read, _runs  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.evaluation.backtesting import score_fold  # noqa: E402
from bayes_scaling.evaluation.holdout import NewFamily, split  # noqa: E402
from bayes_scaling.evaluation.methods import METHODS  # noqa: E402
from bayes_scaling.evaluation.scores import MethodForecast, summarize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
K_VALUES = (2, 3, 5, 8)
POOLED, ALONE, BORROW = "bayes_scaling (families)", "bayes_scaling (family alone)", "borrowed exponents"


def _final(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["is_final_checkpoint"] == True]  # noqa: E712 (True/False/NaN)


def datasets() -> dict[str, bs.Runs]:
    """Each dataset's runs of every family that shares its evaluation (final checkpoints)."""
    out = {}
    df = _final(_read("xlstm_isoflops"))
    out["xlstm_isoflops"] = _runs(df)  # xLSTM and Llama at 3 context lengths, DCLM loss
    df = _read("mlfoundations_overtrain")
    out["mlfoundations_overtrain"] = _runs(df[df["loss_kind"] == "eval:c4_val"])  # 3 training sets, C4 val
    out["marin_isoflops"] = _runs(_read("marin_isoflops"))  # 3 data mixes, Paloma macro loss
    # Porian et al.: the two data sets' final (decayed) checkpoints, as in datasets.py; each family
    # is evaluated on its own data's validation set (E moves, the exponents may not)
    df = _read("porian_isoflops")
    df = df[df["loss_kind"] == "validation"].copy()
    df["family"] = _extra(df, "config")
    keep = ("rw-base-short-chinchilla-standard-val", "owt2-base-short-chinchilla-standard-val")
    out["porian_isoflops"] = _runs(df[df["family"].isin(keep)])
    # (routed_moe_clark2022 has no token counts, and its N counts every expert: not a Chinchilla fit)
    return out


def few_run_rows(
    name: str, runs: bs.Runs, k_values, fit_options, pooled_options=None
) -> tuple[list[pd.DataFrame], list[dict]]:
    """Score rows and per-fold notes of every family of ``runs`` as the new recipe, for each k;
    ``pooled_options``: extra options of the pooled fit (e.g. ``family_noise``)."""
    rows, notes = [], []
    for family in runs.families:
        for k in k_values:
            rule = NewFamily(family, k)
            train, test = split(runs, rule)
            meta = {"dataset": name, "new_family": family, "k": k}
            mine = train.select(family=family)
            # the pooled model
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.SamplingWarning)
                fit = bs.fit(
                    train, families="family", random_seed=0, progressbar=False, **fit_options, **(pooled_options or {})
                )
            seconds = time.perf_counter() - start
            view = fit.accept_unconverged(warn=False).family(family)
            forecast = view.predict(test.params, test.tokens, kind="new_run", random_seed=0)
            rows.append(
                score_fold(POOLED, mine, test, str(rule), MethodForecast(forecast.median, forecast.draws), meta)
            )
            diag = fit.diagnostics()
            notes.append(
                {
                    **meta,
                    "seconds": seconds,
                    "divergences": diag.attrs["n_divergences"],
                    "max_r_hat": diag["r_hat"].max(),
                    "min_ess": diag["ess_bulk"].min(),
                }
            )
            # the family alone
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", bs.SamplingWarning)
                    alone = bs.fit(mine, random_seed=0, progressbar=False, **fit_options)
                alone = alone.accept_unconverged(warn=False)
                fc = alone.predict(test.params, test.tokens, kind="new_run", random_seed=0)
                rows.append(score_fold(ALONE, mine, test, str(rule), MethodForecast(fc.median, fc.draws), meta))
            except bs.RunsValidationError as exc:
                notes[-1]["alone"] = f"refused: {exc.problems[0]}"
            # borrowed exponents (the backtest method: the donor is the other family with most runs)
            borrow = METHODS["borrowed_exponents"](train, test.params, test.tokens, families=test.frame["family"])
            rows.append(score_fold(BORROW, mine, test, str(rule), borrow, meta))
            print(f"  {name} / {family} / k={k}: {seconds:.0f} s", flush=True)
    return rows, notes


def speed(fit_options) -> dict:
    """A fit of 10 synthetic families x 12 runs: seconds (compile included, after one warm-up
    fit so the compile caches are filled, as on a user's second fit) and divergences."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(10):
        params = {"E": 1.69 * np.exp(rng.normal(0, 0.05)), "alpha": 0.34 * np.exp(rng.normal(0, 0.05))}
        runs = bs.synthetic.chinchilla_runs(
            n_configs=12, n_budgets=4, replicate_every=100, random_seed=i, params=params
        )
        frame = runs.to_frame().assign(family=f"recipe_{i}")
        frame["run_id"] = f"recipe_{i}-" + frame["run_id"].astype(str)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    timings = []
    for seed in range(3):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)
            fit = bs.fit(table, families="family", random_seed=seed, progressbar=False, **fit_options)
        diag = fit.diagnostics()
        timings.append(
            {
                "seed": seed,
                "seconds": time.perf_counter() - start,
                "divergences": diag.attrs["n_divergences"],
                "max_r_hat": diag["r_hat"].max(),
                "min_ess_bulk": diag["ess_bulk"].min(),
            }
        )
    return pd.DataFrame(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws; nothing written")
    parser.add_argument("--k", type=int, nargs="+", default=list(K_VALUES))
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    fit_options = {"chains": 2, "draws": 300, "tune": 300} if args.quick else {}
    data = datasets()
    names = args.datasets or list(data)
    frames, notes = [], []
    for name in names:
        print(f"{name}: {data[name]!r}, families {data[name].families}", flush=True)
        rows, fold_notes = few_run_rows(name, data[name], args.k, fit_options)
        frames += rows
        notes += fold_notes
    table = pd.concat(frames, ignore_index=True)
    by_dataset = summarize(table, by=("k", "dataset", "method")).reset_index()
    pooled = summarize(table, by=("k", "method")).reset_index()
    notes = pd.DataFrame(notes)
    timings = None if args.no_speed else speed(fit_options)
    text = report(by_dataset, pooled, notes, timings, fit_options)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "families.md").write_text(text)
        by_dataset.to_csv(RESULTS / "families.csv", index=False)


def targets(by_dataset, pooled, notes, k: int = 3) -> list[str]:
    """Coverage of the pooled model's 90% bands, and its median APE beside the family alone and
    the borrow baseline, per dataset (the family alone is refused below 6 configurations)."""
    if k not in set(pooled["k"]):
        return [f"(k = {k} not run)"]
    row = pooled[(pooled["k"] == k) & (pooled["method"] == POOLED)].iloc[0]
    cover = row["coverage_90"]
    lines = [
        f"- pooled 90% coverage of the held-out runs: {cover:.1%} (target 80-95%): {'met' if 0.80 <= cover <= 0.95 else 'NOT met'}"
    ]
    ape = by_dataset[by_dataset["k"] == k].pivot(index="dataset", columns="method", values="median_ape")
    refused = notes[notes["k"] == k]["alone"].notna().groupby(notes["dataset"]).all() if "alone" in notes else None
    good = []
    for dataset, values in ape.iterrows():
        mine, borrow = values.get(POOLED), values.get(BORROW)
        alone = values.get(ALONE, np.nan)
        alone_text = "refused" if refused is not None and refused.get(dataset, False) else f"{alone:.2f}%"
        beats_alone = (refused is not None and refused.get(dataset, False)) or mine <= 0.75 * alone
        ok = beats_alone and mine <= borrow
        good.append(ok)
        lines.append(
            f"- {dataset}: median APE {mine:.2f}% (family alone: {alone_text}; borrow {borrow:.2f}%): "
            + ("met" if ok else "NOT met")
            + (" (the family alone gives no forecast)" if alone_text == "refused" else "")
        )
    lines.append(f"- datasets meeting the APE target: {sum(good)} of {len(good)} (target >= 3)")
    return lines


def report(by_dataset, pooled, notes, timings, fit_options) -> str:
    cols = ["n_held_out", "coverage_50", "coverage_90", "crps_log", "median_ape"]
    lines = [
        "# Few-run forecasts for a new recipe (benchmarks/families.py)",
        "",
        f"Fit settings: {fit_options or 'package defaults (4 chains x 1000 draws)'}. Each family of each "
        "dataset in turn is the new recipe: its k runs of least compute are fitted (with every run of the "
        "other families for the pooled model), its other runs forecast as new runs.",
        "",
        "Drifts beyond the data are measured from every family's runs (the pooled form was fitted "
        "on all of them), not from the new family's k runs.",
        "",
        "## Issue 23's targets at k = 3",
        "",
        *targets(by_dataset, pooled, notes),
        "",
        "## Pooled over datasets and families",
        "",
        pooled.set_index(["k", "method"])[cols].round(4).to_markdown(),
        "",
        "## Per dataset",
        "",
        by_dataset.set_index(["k", "dataset", "method"])[cols].round(4).to_markdown(),
        "",
        "## Pooled fits: cost and diagnostics; the family alone",
        "",
        notes.round(3).to_markdown(index=False),
    ]
    if timings is not None:
        lines += [
            "",
            "## Cost: 10 synthetic families x 12 runs (target <= 60 s, 0 divergences)",
            "",
            timings.round(3).to_markdown(index=False),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
