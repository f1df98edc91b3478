"""Whole training curves: backtests of the Multi-Power Law fit (and Tissue's annealing law) on
the 18 curves of ../shared/data/multipowerlaw_schedules.csv, beside the authors' point fit.

Splits (issue 22):

- *new schedule at seen sizes*: each of the six schedules in turn is held out at all three sizes;
  the rest is fitted. A held-out run that branches off a fitted run (a step-down started from a
  checkpoint of it) is scored after the branch, continued from the fitted run (``given``); its
  unconditional new-run forecast is scored too.
- *new size*: every 400M run held out (4x the largest size fitted).
- *prefix*: the constant-72k and WSD runs fitted up to 25% / 50% of their steps (with every other
  run), their rest forecast conditional on their logged rows.

Scores at 20 steps per held-out run spread evenly in LR area plus its last row
(:func:`bayes_scaling.evaluation.curves.score_steps`): mean and final absolute percent error of
the median, 50/90% coverage, CRPS (loss units) against the point fit's mean absolute error.
Also times a 4-chain fit of the 18 curves and ``predict_curve`` for 5 schedules x 200 steps x
4000 draws. Writes benchmarks/results/curves.md and curves.csv (curves_<law>.* for another law;
with only some splits, curves_<splits>.*, and curves_speed.md with none: a partial run never
replaces the full one).

    .venv/bin/python benchmarks/curves.py [--law multipower|annealing] [--splits schedule size prefix]
        [--chains 4] [--draws 1000] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.evaluation.curves import curve_backtest
from bayes_scaling.laws.curves import DEFAULT_CURVE_LAW

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multipowerlaw_schedules.csv"
RESULTS = Path(__file__).resolve().parent / "results"
SCHEDULES = ("constant_24000", "constant_72000", "wsdcon_3", "wsdcon_9", "wsdcon_18", "wsdld_20000_24000")


def _schedule_of(run_id: str) -> str:
    return run_id.split("_", 2)[2]


def _summarise(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (split, method), part in table.groupby(["split", "method"], sort=False):
        end = part[part["is_end"]]
        row = {
            "split": split,
            "method": method,
            "runs": len(part[["fold", "run_id"]].drop_duplicates()),
            "mean_ape_pct": part["ape"].mean(),
            "final_ape_pct_median": end["ape"].median(),
            "mae": part["abs_err"].mean(),
        }
        if part["in_90"].notna().any():
            row |= {
                "cover_50": part["in_50"].astype(float).mean(),
                "cover_90": part["in_90"].astype(float).mean(),
                "crps": part["crps"].mean(),
                "end_90_halfwidth_pct": end["width_90_pct"].median(),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def _per_fold(table: pd.DataFrame) -> pd.DataFrame:
    cols = {"ape": "mean_ape_pct", "in_50": "cover_50", "in_90": "cover_90"}
    part = table.assign(in_50=table["in_50"].astype(float), in_90=table["in_90"].astype(float))
    out = part.groupby(["split", "fold", "method"], sort=False)[list(cols)].mean().rename(columns=cols)
    out["final_ape_pct"] = part[part["is_end"]].groupby(["split", "fold", "method"], sort=False)["ape"].median()
    return out.reset_index()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law", default=DEFAULT_CURVE_LAW)
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws, one schedule")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000, help="draws (and tuning steps) per chain")
    parser.add_argument(
        "--splits", nargs="*", default=["schedule", "size", "prefix"], choices=["schedule", "size", "prefix"]
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found (the benchmarks read ../shared/data)")
    curves = bs.Curves.from_csv(DATA)
    sampling = (
        {"chains": 2, "draws": 300, "tune": 300}
        if args.quick
        else {"chains": args.chains, "draws": args.draws, "tune": args.draws}
    ) | {"progressbar": False, "random_seed": 20261207}

    start = time.perf_counter()
    whole = bs.fit(curves, law=args.law, **sampling)
    fit_seconds = time.perf_counter() - start
    schedules = [bs.schedules.from_array(curves.schedules[r].lr, _schedule_of(r)) for r in curves.run_ids[:5]]
    start = time.perf_counter()
    for schedule in schedules:
        whole.predict_curve(
            4e8,
            schedule,
            np.linspace(1, schedule.steps, 200).round().astype(int),
            random_seed=1,
            accept_unconverged=True,
        )
    predict_seconds = time.perf_counter() - start

    parts = []
    folds = SCHEDULES[3:4] if args.quick else SCHEDULES
    for name in folds if "schedule" in args.splits else ():
        held = [r for r in curves.run_ids if _schedule_of(r) == name]
        t = curve_backtest(curves, held, law=args.law, **sampling)
        parts.append(t.assign(split="new schedule", fold=name, verdict=t.attrs["verdict"]))
        print(f"new schedule {name}: {t.attrs['verdict']}", flush=True)
    if not args.quick and "size" in args.splits:
        largest = curves.run_table()["params"].max()
        held = [r for r in curves.run_ids if curves.run_table().loc[r, "params"] == largest]
        t = curve_backtest(curves, held, law=args.law, **sampling)
        parts.append(t.assign(split="new size (4x N)", fold="largest", verdict=t.attrs["verdict"]))
        print(f"new size: {t.attrs['verdict']}", flush=True)
    if not args.quick and "prefix" in args.splits:
        for share in (0.25, 0.5):
            held = [r for r in curves.run_ids if _schedule_of(r) in ("constant_72000", "wsdld_20000_24000")]
            t = curve_backtest(curves, held, law=args.law, prefix=share, **sampling)
            parts.append(t.assign(split=f"prefix {share:.0%}", fold=f"{share}", verdict=t.attrs["verdict"]))
            print(f"prefix {share}: {t.attrs['verdict']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    name = "curves" if args.law == DEFAULT_CURVE_LAW else f"curves_{args.law}"
    if set(args.splits) != {"schedule", "size", "prefix"}:
        name += "_" + ("_".join(args.splits) or "speed")
    if parts:
        table = pd.concat(parts, ignore_index=True)
        summary = _summarise(table)
        verdicts = table.groupby(["split", "fold"])["verdict"].first()
        summary.to_csv(RESULTS / f"{name}.csv", index=False)
    lines = [
        f"# Whole training curves: `{args.law}` on multipowerlaw_schedules.csv",
        "",
        f"Command: `.venv/bin/python benchmarks/curves.py --law {args.law} --splits {' '.join(args.splits)}"
        f" --chains {args.chains} --draws {args.draws}{' --quick' if args.quick else ''}`; "
        f"sampling {sampling['chains']} chains x {sampling['draws']} draws after {sampling['tune']} tuning; "
        f"{bs.__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        "## Speed",
        "",
        f"- fit of the 18 curves ({len(curves)} rows, {sampling['chains']} chains x {sampling['draws']} draws after "
        f"{sampling['tune']} tuning): {fit_seconds:.0f} s (target: 4 chains x 1000 in <= 180 s); verdict "
        f"{whole.verdict.headline()}",
        f"- predict_curve, 5 schedules x 200 steps x {whole.n_draws} draws (new-run paths): {predict_seconds:.2f} s "
        "(target <= 2 s)",
        "",
    ]
    if parts:
        lines += _score_lines(summary, table, verdicts)
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _score_lines(summary: pd.DataFrame, table: pd.DataFrame, verdicts: pd.Series) -> list[str]:
    return [
        "## Scores along the held-out curves",
        "",
        "Mean APE over the 20 points + end of each held-out run; final APE: median over runs of the error at "
        "the last row; coverage of the 50/90% new-run intervals over all scored points; CRPS and MAE in nats; "
        "end half-width: median half-width of the 90% interval at the last row, % of the median. "
        "`bayes_scaling` continues a run's trunk where the held-out run branches off a fitted run "
        "(`conditional`); `bayes_scaling_unconditional` forecasts the same runs as new runs.",
        "",
        summary.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Per fold (held-out schedule, size or prefix)",
        "",
        _per_fold(table).to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Sampler verdict per fold",
        "",
        verdicts.to_frame().to_markdown(),
        "",
    ]


if __name__ == "__main__":
    main()
