"""Downstream-error benchmark: Gadre et al.'s loss -> error link on their own models.

mlfoundations_overtrain (../shared/data, never copied here) gives, for 104 open_lm models, the
C4 validation loss and the mean top-1 error over the paper's 17-task subset and 46 tasks. The
models are split by compute: the largest ``--held-out`` are forecast, the rest fitted.

- link only: the link Err = eps - k exp(-gamma L) is fitted to the fitted models' (loss, error)
  pairs and forecasts the held-out errors from their *observed* losses (new-task noise
  included): how good is the link itself?
- end to end: a chinchilla loss law per training-data family is fitted to the fitted models'
  C4 losses; its new-run loss forecast of each held-out model goes through the link. This is
  what a user planning a larger run would get.

Scores: coverage of the 50% and 90% intervals, median absolute error of the median forecast
(percentage points of error rate), and the mean CRPS of the error. Writes
benchmarks/results/downstream_link.md and prints it.

    .venv/bin/python benchmarks/downstream_link.py [--held-out 32] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATA  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.evaluation.holdout import fit_quietly  # noqa: E402
from bayes_scaling.evaluation.scores import crps_from_draws
from bayes_scaling.forecast.downstream import fit_downstream  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = {"17 tasks": "downstream:top1_err_avg17subset", "46 tasks": "downstream:top1_err_avg46"}


def models() -> pd.DataFrame:
    """One row per model: size, family, C4 validation loss and the two error rates."""
    df = pd.read_csv(DATA / "mlfoundations_overtrain.csv")
    keep = ["eval:c4_val", *METRICS.values()]
    wide = df[df["loss_kind"].isin(keep)].pivot_table(index="run_id", columns="loss_kind", values="loss")
    meta = df.drop_duplicates("run_id").set_index("run_id")[["family", "params", "tokens", "flops"]]
    out = meta.join(wide, how="inner").dropna(subset=keep)
    return out.rename(columns={"eval:c4_val": "loss"}).sort_values("flops")


def score(name: str, draws: np.ndarray, observed: np.ndarray) -> dict:
    lo50, hi50, lo90, med, hi90 = np.quantile(draws, [0.25, 0.75, 0.05, 0.5, 0.95], axis=0)
    return {
        "forecast": name,
        "n": observed.size,
        "coverage_50": np.mean((observed >= lo50) & (observed <= hi50)),
        "coverage_90": np.mean((observed >= lo90) & (observed <= hi90)),
        "median_abs_error_pp": 100 * np.median(np.abs(med - observed)),
        "mean_90_width_pp": 100 * np.mean(hi90 - lo90),
        "crps": float(np.mean(crps_from_draws(draws, observed))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=32, help="how many of the largest-compute models to forecast")
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 draws, results not written")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"error: {DATA} not found: this benchmark needs ../shared/data beside the repository")
    options = {"draws": 300, "tune": 300, "chains": 2} if args.quick else {}
    started = time.time()
    table = models()
    fitted, held = table.iloc[: -args.held_out], table.iloc[-args.held_out :]
    rows, notes, links = [], [], {}
    for label, column in METRICS.items():
        link = fit_downstream(fitted["loss"], fitted[column], random_seed=0, **options)
        links[label] = link
        if not link.diagnostics["ok"].all():
            notes.append(f"link ({label}): diagnostics failed\n{link.diagnostics.to_string()}")
        observed_loss = np.broadcast_to(held["loss"].to_numpy(), (link.n_draws, len(held)))
        draws = link.error_draws(observed_loss, new_task_noise=True, random_seed=0)
        rows.append({"metric": label, **score("link only (observed loss)", draws, held[column].to_numpy())})

    # End to end (17 tasks): one chinchilla law per training-data family on the fitted models.
    column, link = METRICS["17 tasks"], links["17 tasks"]
    parts_draws, parts_obs = [], []
    for family, sub in held.groupby("family"):
        train = fitted[fitted["family"] == family].reset_index()
        runs = bs.Runs.from_frame(train[["run_id", "params", "tokens", "loss", "flops"]])
        loss_fit, problems = fit_quietly(runs, "chinchilla", 0, options)
        notes += [f"loss law {family}: {p}" for p in problems]
        forecast = loss_fit.predict(sub["params"].to_numpy(), sub["tokens"].to_numpy(), kind="new_run", random_seed=0)
        wild = np.mean(~np.isfinite(forecast.draws) | (forecast.draws > 20))
        if wild:
            notes.append(f"loss law {family}: {wild:.2%} of the held-out loss draws exceed 20 nats or overflow")
        parts_draws.append(link.error_draws(forecast.draws, new_task_noise=True, random_seed=0))
        parts_obs.append(sub[column].to_numpy())
    rows.append(
        {"metric": "17 tasks", **score("end to end (loss law -> link)", np.hstack(parts_draws), np.hstack(parts_obs))}
    )
    result = pd.DataFrame(rows)
    link_table = pd.DataFrame(
        {
            label: {
                "eps median": np.median(link.eps),
                "k median": np.median(link.k),
                "gamma median": np.median(link.gamma),
                "residual sd (pp)": 100 * np.median(link.sigma),
            }
            for label, link in links.items()
        }
    ).T
    text = [
        "# Downstream error: Gadre et al.'s link on their own models",
        "",
        f"Generated by `benchmarks/downstream_link.py` ({'quick' if args.quick else '4 chains x 1000 draws'}) "
        f"in {time.time() - started:.0f} s on this 2-core machine.",
        f"Data: mlfoundations_overtrain, {len(table)} models with C4 validation loss and both error means; the "
        f"{args.held_out} largest by compute (from {held['flops'].min():.2g} to {held['flops'].max():.2g} FLOPs; "
        f"largest fitted {fitted['flops'].max():.2g}) are forecast, the other {len(fitted)} fitted.",
        "Errors are rates in [0, 1]; pp = percentage points. Coverage is of the central intervals.",
        "",
        "## Forecasts of the held-out models",
        "",
        result.round(4).to_markdown(index=False),
        "",
        "## The fitted links (posterior medians)",
        "",
        link_table.round(4).to_markdown(),
        "",
        "## Sampler notes",
        "",
        *([f"- {n}" for n in notes] or ["none"]),
    ]
    print("\n".join(text))
    if not args.quick:
        (RESULTS / "downstream_link.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
