"""Allocation benchmark: design-consistent scores of N*(C) at held-out IsoFLOP budgets.

Every IsoFLOP design in ../shared/data (marin, porian's final, tuned-constant-LR and Kaplan-style
configurations, xlstm, llama3, chinchilla_epoch snapped to its 9 budgets) is split at rolling
compute origins between budgets; bayes_scaling is fitted below each origin (once: the allocation
drift acts on forecasts only, so every drift scale is scored from the same fit), and each held-out
budget's observed vertex is scored against replicates of the same vertex estimator
(bayes_scaling.evaluation.allocation). The allocation drift's scale is chosen leave-one-dataset-out
(CRPS over the other datasets' budgets); two synthetic IsoFLOP studies (well specified; the N*
exponent drifting from 0.6 to 0.45) check the score itself. Writes
benchmarks/results/allocation.md and allocation.csv and prints the table.

    .venv/bin/python benchmarks/allocation.py [--quick] [--cache DIR] [--only marin_isoflops ...]
        [--laws chinchilla isoflop_profile] [--variants all 0.1 0.2] [--from-rows]

The committed results are the defaults' run (both laws; every run, or the runs within 10% or
20% of their budget's best loss; the law, selection and drift chosen leave-one-dataset-out).

Fits (and the last run's scores, for --from-rows) are cached in --cache (default /tmp/bayes_scaling_allocation_fits; outside the repository:
the files hold the runs).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATA, _extra, _read, _runs  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.data import synthetic  # noqa: E402
from bayes_scaling.data.isoflop import near_optimum_mask  # noqa: E402
from bayes_scaling.evaluation import allocation as al  # noqa: E402
from bayes_scaling.evaluation.drift import calibrate_drift  # noqa: E402
from bayes_scaling.evaluation.holdout import ComputeCutoff, split  # noqa: E402
from bayes_scaling.noise import DEFAULT_ALLOCATION_SD  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: Grid of the allocation drift (dex of N* per dex of C beyond the fitted compute).
SDS = tuple(np.round(np.arange(0.0, 0.2001, 0.02), 3))
#: Chinchilla's nine IsoFLOP budgets (Hoffmann et al. 2022, Fig. 3); Epoch's digitised points
#: scatter +-0.05 dex around them.
CHINCHILLA_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


@dataclass(frozen=True)
class IsoCase:
    dataset: str
    family: str
    runs: bs.Runs
    labels: np.ndarray | None  # design label per row of runs (None: exact compute)
    cutoffs: tuple[float, ...]
    note: str


def _labelled(frame: pd.DataFrame, labels) -> tuple[bs.Runs, np.ndarray]:
    runs = _runs(frame)
    if not np.allclose(runs.params, frame["params"].to_numpy()):  # the table keeps row order
        raise RuntimeError("Runs reordered the rows; labels would not line up")
    return runs, np.asarray(labels)


def iso_cases() -> list[IsoCase]:
    out = []
    df = _read("chinchilla_epoch")
    df = df.drop(df.nlargest(5, "loss").index).reset_index(drop=True)
    runs, labels = _labelled(df, al.snap_to_budgets(df["flops"], CHINCHILLA_BUDGETS))
    note = "digitized; snapped to the 9 budgets of Hoffmann et al. Fig. 3 (+-0.1 dex); 5 highest losses dropped"
    out.append(IsoCase("chinchilla_epoch", "chinchilla", runs, labels, (1.3e20, 8e20), note))

    df = _read("marin_isoflops")
    for family in sorted(df["family"].unique()):
        sub = df[df["family"] == family].reset_index(drop=True)
        runs, labels = _labelled(sub, _extra(sub, "budget_in_name").astype(float))
        out.append(IsoCase("marin_isoflops", family, runs, labels, (3.1e19, 1.1e20), "budget from the run name"))

    df = _read("porian_isoflops")
    df = df[df["loss_kind"] == "validation"].copy()
    df["config"] = _extra(df, "config")
    for config in (
        "rw-base-short-chinchilla-standard-val",
        "owt2-base-short-chinchilla-standard-val",
        "rw-tuned-short-const-standard-val",
        "owt2-tuned-short-const-standard-val",
        "rw-base-short-kaplan-standard-val",
        "owt2-base-short-kaplan-standard-val",
    ):
        sub = df[df["config"] == config].reset_index(drop=True).assign(family=config)
        runs = _runs(sub)
        out.append(IsoCase("porian_isoflops", config, runs, None, (8.1e17, 3.3e18), "exact budgets; standard N"))

    df = _read("xlstm_isoflops")
    df = df[df["is_final_checkpoint"] == True].reset_index(drop=True)  # noqa: E712
    cut = {"llama_ctx2048": 2e19, "llama_ctx8192": 1.2e19, "llama_ctx16384": 1e19, "mlstm_ctx16384": 2e19}
    for family, c in cut.items():
        sub = df[df["family"] == family].reset_index(drop=True)
        runs, labels = _labelled(sub, _extra(sub, "isoflop_group"))
        out.append(IsoCase("xlstm_isoflops", family, runs, labels, (c,), "final checkpoints; isoflop_group labels"))

    df = _read("llama3_isoflops")
    runs = _runs(df.reset_index(drop=True))
    out.append(IsoCase("llama3_isoflops", "llama3", runs, None, (1.1e20, 1.1e21), "digitized; loss in plot units"))
    return out


def _drift_dex(log10_c, drift: bool) -> np.ndarray:
    """Shift of log10 N* from the generating law's own optimum in the drifting study: the IsoFLOP
    minima's exponent is 0.6 up to 1e19 FLOPs and falls linearly in log C to 0.45 at 1e22 (the
    law's own exponent is 0.45); zero at 1e17."""
    if not drift:
        return np.zeros_like(np.asarray(log10_c, dtype=float))
    p = synthetic.CHINCHILLA_PARAMS
    excess = 0.6 - p["beta"] / (p["alpha"] + p["beta"])
    t = np.asarray(log10_c, dtype=float) - 17
    beyond = np.clip(t - 2, 0, None)
    return excess * t - 0.025 * beyond**2


def synthetic_cases(seeds=range(5)) -> list[IsoCase]:
    """Two IsoFLOP studies from Hoffmann et al.'s Chinchilla fit, 9 sizes over +-0.6 dex around
    the true optimum at each of 11 budgets 1e17-1e22: well specified, and with the minima's
    exponent drifting (the law evaluated along each IsoFLOP line shifted by the drift, so the
    loss at the optimum is the law's)."""
    p = synthetic.CHINCHILLA_PARAMS
    law = (p["E"], p["A"], p["B"], p["alpha"], p["beta"])
    out = []
    for (name, drift), seed in itertools.product((("well_specified", False), ("a_drifts_0.6_to_0.45", True)), seeds):

        def mean(n, d, drift=drift):
            w = np.log(10.0) * _drift_dex(np.log10(6 * n * d), drift)
            return bs.laws.maths.chinchilla_loss(n * np.exp(-w), d * np.exp(w), *law)

        n_all, d_all = [], []
        for c in np.geomspace(1e17, 1e22, 11):
            centre = np.log10(synthetic.chinchilla_optimum(c)[0]) + _drift_dex(np.log10(c), drift)
            sizes = np.round(10 ** np.linspace(centre - 0.6, centre + 0.6, 9), -3)
            n_all.append(sizes)
            d_all.append(c / (6 * sizes))
        runs = synthetic.runs_from_law(mean, np.concatenate(n_all), np.concatenate(d_all), random_seed=7 + seed)
        note = "9 sizes per budget, 11 budgets 1e17-1e22"
        out.append(IsoCase("synthetic", f"{name}#{seed}", runs, None, (1.1e19,), note))
    return out


#: Training-run selections scored by default: every run, or the runs within this fraction of
#: their budget's best loss (bayes_scaling.data.isoflop); --variants adds others (0.05, 0.35).
VARIANTS = (None, 0.1, 0.2)
#: Laws fitted by default; the law is chosen with the selection and the drift.
LAWS = ("chinchilla", "isoflop_profile")


def variant_name(within, law: str | None = None) -> str:
    """A training-run selection, prefixed by the law when it is not the package default."""
    name = "all runs" if within is None else f"near optimum ({within:.0%})"
    return name if law in (None, bs.laws.DEFAULT_LAW) else f"{law}, {name}"


def cached_fit(case: IsoCase, cutoff: float, train: bs.Runs, cache: Path, fit_options: dict):
    # (the law's sampled parameters too: a law sampled differently is refitted, not reloaded)
    sampled = list(bs.laws.get_law(fit_options.get("law", bs.laws.DEFAULT_LAW)).parameters)
    key = hashlib.sha256(
        json.dumps(
            [case.dataset, case.family, cutoff, len(train), float(train.loss.sum()), fit_options, sampled]
        ).encode()
    ).hexdigest()[:16]
    path = cache / f"{case.dataset}-{case.family}-{cutoff:.2g}-{key}.nc"
    if path.exists():
        return bs.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(train, random_seed=0, progressbar=False, **fit_options)
    fit.save(path)
    return fit


#: Rows scored with the allocation drift each fold's own runs support (every run fitted).
OWN = "bayes_scaling (all runs, own drift)"


def cached_calibration(fit_path_key: str, fit, labels, cache: Path, fit_options: dict):
    """``calibrate_drift`` of a cached fit (its internal fit is cached the same way)."""
    path = cache / f"{fit_path_key}-own-drift.pkl"
    if path.exists():
        return pd.read_pickle(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_drift(fit, labels=labels, random_seed=0, **fit_options)
    pd.to_pickle(cal, path)
    return cal


def score_case(
    case: IsoCase, cache: Path, fit_options: dict, sds, log: list[str], variants=VARIANTS, laws=(None,)
) -> pd.DataFrame:
    frames = []
    for cutoff in case.cutoffs:
        rule = ComputeCutoff(cutoff)
        held = rule.held_out(case.runs)
        train, test = split(case.runs, rule)
        labels = (None, None) if case.labels is None else (case.labels[~held], case.labels[held])
        name = f"{case.dataset}/{case.family} ({rule})"
        t0 = time.perf_counter()
        base, excluded = al.score_allocation(
            train, test, None, train_labels=labels[0], test_labels=labels[1], name=name
        )
        log.extend(excluded)
        rows = [base]
        for law, within in itertools.product(laws, variants):
            options = fit_options if law in (None, bs.laws.DEFAULT_LAW) else {**fit_options, "law": law}
            fitted = train
            if within is not None:
                fitted = train.subset(near_optimum_mask(train.flops, train.loss, within, labels[0]))
            fit = cached_fit(case, cutoff, fitted, cache, options).accept_unconverged(warn=False)
            verdict = fit.verdict
            if not verdict.ok:
                log.append(f"{name}, {variant_name(within, law)}: fit kept, diagnostics {verdict.headline()}")
            for sd in sds:
                table, _ = al.score_allocation(
                    train, test, fit.with_allocation_sd(sd), train_labels=labels[0], test_labels=labels[1]
                )
                if not len(table):
                    continue
                tag = {"sd": sd, "variant": variant_name(within, law), "ok": verdict.ok}
                rows.append(table[table["method"] == "bayes_scaling"].assign(**tag))
                if case.dataset == "synthetic":
                    rows.append(true_argmin_rows(case, fit.with_allocation_sd(sd), table).assign(**tag))
            if within is None and options is fit_options:
                # the drift these runs support: refit below an internal cutoff, the minima above it
                key = f"{case.dataset}-{case.family}-{cutoff:.2g}-{len(fitted)}"
                cal = cached_calibration(key, fit, labels[0], cache, fit_options)
                # (lambda only: the loss drift barely moves a vertex, and is scored in calibration.md)
                own = fit if cal.allocation is None else fit.with_allocation_sd(cal.allocation.sd)
                log.append(f"{name}, own drift: {cal.describe().split('; the internal fit')[0]}")
                table, _ = al.score_allocation(train, test, own, train_labels=labels[0], test_labels=labels[1])
                if len(table):
                    tag = {"sd": own.spec.allocation_sd, "variant": variant_name(None), "ok": verdict.ok}
                    mine = table[table["method"] == "bayes_scaling"]
                    rows.append(mine.assign(**tag, method=OWN))
                    if case.dataset == "synthetic":
                        rows.append(true_argmin_rows(case, own, table).assign(**tag, method=OWN))
        frame = pd.concat(rows, ignore_index=True)
        frames.append(frame.assign(dataset=case.dataset, family=case.family, origin=str(rule)))
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def true_argmin_rows(case: IsoCase, fit, table: pd.DataFrame) -> pd.DataFrame:
    """Synthetic studies: the posterior N* band (``fit.optimal_draws``) scored against the true
    argmin of the generating law at each scored budget."""
    budgets = table[table["method"] == "bayes_scaling"]
    flops = budgets["flops"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draws = np.log10(fit.optimal_draws(flops)["params"])
    drifts = not case.family.startswith("well_specified")
    truth = np.log10(synthetic.chinchilla_optimum(flops)[0]) + _drift_dex(np.log10(flops), drifts)
    out = []
    for j, (_, row) in enumerate(budgets.iterrows()):
        out.append(
            {
                **row[["budget", "flops", "distance_dex", "runs"]].to_dict(),
                "method": "bayes_scaling",
                "target": "true argmin",
                **al.score_replicates(draws[:, j], truth[j]),
            }
        )
    return pd.DataFrame(out)


def choose(rows: pd.DataFrame) -> dict[str, tuple[str, float]]:
    """The (training-run selection, drift scale) minimising the mean CRPS over families (each
    family's budgets averaged first): over all datasets, and for each dataset over the families
    of the others (leave-one-dataset-out)."""
    ours = rows[(rows["method"] == "bayes_scaling") & (rows["dataset"] != "synthetic")]
    if "target" in ours:
        ours = ours[ours["target"].isna()]
    # one mean per family (the independent studies: budgets of a family share its fits)
    per_family = ours.groupby(["variant", "sd", "dataset", "family"])["crps_dex"].mean().reset_index()
    out = {"all": per_family.groupby(["variant", "sd"])["crps_dex"].mean().idxmin()}
    for dataset in sorted(per_family["dataset"].unique()):
        rest = per_family[per_family["dataset"] != dataset]
        # (with --only one dataset there is no other: the pooled choice, in sample)
        out[dataset] = rest.groupby(["variant", "sd"])["crps_dex"].mean().idxmin() if len(rest) else out["all"]
    return out


def final_rows(rows: pd.DataFrame, chosen: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """Baselines; bayes_scaling at its leave-one-dataset-out settings (synthetic: the pooled
    ones); at the package defaults on every run; and on every run without the allocation drift
    (the model before it)."""
    base = rows[rows["method"] != "bayes_scaling"]
    ours = rows[rows["method"] == "bayes_scaling"]
    setting = ours["dataset"].map(lambda d: chosen.get(d, chosen["all"]))
    picked = ours[(ours["variant"] == setting.str[0]) & np.isclose(ours["sd"], setting.str[1].astype(float))]
    everything = ours["variant"] == variant_name(None)
    default = ours[everything & np.isclose(ours["sd"], DEFAULT_ALLOCATION_SD)]
    none = ours[everything & (ours["sd"] == 0.0)]
    other_laws = [
        ours[
            (ours["variant"] == f"{law}, {variant_name(None)}") & np.isclose(ours["sd"], DEFAULT_ALLOCATION_SD)
        ].assign(method=f"bayes_scaling ({law}, all runs, default drift)")
        for law in sorted({v.split(", ")[0] for v in ours["variant"].unique() if ", " in v})
    ]
    out = pd.concat(
        [
            base,
            picked.assign(method="bayes_scaling"),
            default.assign(method="bayes_scaling (all runs, default drift)"),
            none.assign(method="bayes_scaling (all runs, no allocation drift)"),
            *other_laws,
        ],
        ignore_index=True,
    )
    out["target"] = out["target"].fillna("observed vertex") if "target" in out else "observed vertex"
    out["bin"] = al.distance_bin(out["distance_dex"]).to_numpy()
    out["cluster"] = out["dataset"] + "/" + out["family"]
    return out


def sensitivity(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled 90% coverage, CRPS and width of every (selection, drift) pair (real data)."""
    ours = rows[(rows["method"] == "bayes_scaling") & (rows["dataset"] != "synthetic")]
    if "target" in ours:
        ours = ours[ours["target"].isna()]
    keep = ours["sd"].isin([0.0, 0.04, 0.08, 0.12, 0.16, 0.2])
    return al.summarize_allocation(ours[keep], ["variant", "sd"])[
        ["cover_50", "cover_90", "crps_dex", "median_width90_dex"]
    ]


def targets(final: pd.DataFrame) -> pd.DataFrame:
    """Each target of the issue beside its measured figure (bayes_scaling at its
    leave-one-dataset-out settings; Approach 2 as the reference where a target compares)."""
    real = final[final["dataset"] != "synthetic"]
    ours, a2 = real[real["method"] == "bayes_scaling"], real[real["method"] == "approach2_bootstrap"]
    near = ours["distance_dex"] < 0.7
    synth = final[(final["dataset"] == "synthetic") & (final["method"] == "bayes_scaling")]
    truth = synth[synth["target"] == "true argmin"]
    well = truth["family"].str.startswith("well_specified")
    per_ds = ours.groupby("dataset")["covered_90"].mean()
    err = ours.groupby("dataset")["median_error_dex"].apply(lambda e: e.abs().median())
    err_a2 = a2.groupby("dataset")["median_error_dex"].apply(lambda e: e.abs().median())
    iso = [d for d in ("marin_isoflops", "porian_isoflops", "xlstm_isoflops", "llama3_isoflops") if d in err]
    better = [d for d in iso if err[d] <= err_a2.get(d, np.inf)]
    mid = ours[(ours["distance_dex"] >= 0.7) & (ours["distance_dex"] < 1.2)]

    def pct(x):
        return f"{100 * float(np.mean(x)):.0f}%"

    rows = [
        ("pooled 90% coverage", "80-95%", pct(ours["covered_90"]), 0.8 <= ours["covered_90"].mean() <= 0.95),
        ("pooled 50% coverage", "35-65%", pct(ours["covered_50"]), 0.35 <= ours["covered_50"].mean() <= 0.65),
        (
            "90% coverage, every dataset",
            ">= 60%",
            ", ".join(f"{d.split('_')[0]} {100 * v:.0f}%" for d, v in per_ds.items()),
            bool((per_ds >= 0.6).all()),
        ),
        ("90% coverage, 0.7-1.2 dex bin", ">= 75%", pct(mid["covered_90"]), mid["covered_90"].mean() >= 0.75),
        (
            "median abs. error vs Approach 2, pooled",
            "no worse",
            f"{ours['median_error_dex'].abs().median():.3f} vs {a2['median_error_dex'].abs().median():.3f} dex",
            ours["median_error_dex"].abs().median() <= a2["median_error_dex"].abs().median(),
        ),
        (
            "... on IsoFLOP datasets (of marin, porian, xlstm, llama3)",
            ">= 3 of 4",
            f"{len(better)} of {len(iso)} ({', '.join(f'{d.split(chr(95))[0]} {err[d]:.3f} vs {err_a2[d]:.3f}' for d in iso)})",
            len(better) >= 3,
        ),
        (
            "median abs. error below / beyond 0.7 dex",
            "<= 0.05 / <= 0.10 dex",
            f"{ours.loc[near, 'median_error_dex'].abs().median():.3f} / "
            f"{ours.loc[~near, 'median_error_dex'].abs().median():.3f}",
            ours.loc[near, "median_error_dex"].abs().median() <= 0.05
            and ours.loc[~near, "median_error_dex"].abs().median() <= 0.10,
        ),
        (
            "median 90% width below / beyond 0.7 dex",
            "<= 0.20 / <= 0.35 dex",
            f"{ours.loc[near, 'width90_dex'].median():.3f} / {ours.loc[~near, 'width90_dex'].median():.3f}",
            ours.loc[near, "width90_dex"].median() <= 0.20 and ours.loc[~near, "width90_dex"].median() <= 0.35,
        ),
        (
            "synthetic, well specified: 90% coverage of the true argmin",
            "85-95%",
            f"{pct(truth.loc[well, 'covered_90'])} of {int(well.sum())} budgets (5 studies)",
            0.85 <= truth.loc[well, "covered_90"].mean() <= 0.95,
        ),
        (
            "synthetic, a drifts 0.6 -> 0.45: 90% coverage of the true argmin",
            ">= 75%",
            f"{pct(truth.loc[~well, 'covered_90'])} of {int((~well).sum())} budgets (5 studies)",
            truth.loc[~well, "covered_90"].mean() >= 0.75,
        ),
    ]
    return pd.DataFrame(rows, columns=["target", "wanted", "measured", "met"]).set_index("target")


def fmt_plain(table: pd.DataFrame) -> str:
    return table.to_markdown()


def fmt(table: pd.DataFrame) -> str:
    return table.to_markdown(floatfmt=".3f")


def own_drift_section(real: pd.DataFrame) -> list[str]:
    """The report's section on the data's own allocation drift (the default law's fits)."""
    return [
        "### The data's own allocation drift",
        "",
        f"`{OWN}`: the same fits as `bayes_scaling (all runs, default drift)`, with lambda from",
        "`bayes_scaling.calibrate_drift`: each fold's runs refitted below an internal compute cutoff",
        "(about 30% of its configurations above it); the minima of the IsoFLOP budgets above that",
        "cutoff that pass the design rules, scored against replicates of the same estimator, give one",
        "draw of the drift, which updates a half-normal prior on lambda at the default scale",
        f"({DEFAULT_ALLOCATION_SD}); where no internal budget passes, lambda stays at the default. The",
        "held-out budgets are never seen. Each fold's evidence is in the log at the end.",
        "",
        fmt(
            al.summarize_allocation(
                real[real["method"].isin(["bayes_scaling (all runs, default drift)", OWN])], ["dataset", "method"]
            )
        ),
        "",
    ]


def report(
    final: pd.DataFrame, chosen: dict, log: list[str], settings: str, sens: pd.DataFrame, variants=VARIANTS
) -> str:
    real = final[final["dataset"] != "synthetic"]
    synth = final[final["dataset"] == "synthetic"].assign(study=lambda f: f["family"].str.split("#").str[0])
    ours = real[real["method"] == "bayes_scaling"]
    pooled = al.summarize_allocation(real, ["method"])
    scored = ours[ours["pit"].notna()]
    lo, hi = al.cluster_bootstrap(scored, "covered_90")
    distinct = ours[["dataset", "family", "budget"]].drop_duplicates().shape[0]
    lines = [
        "# Allocation: N*(C) at held-out IsoFLOP budgets (design-consistent score)",
        "",
        f"Written by `benchmarks/allocation.py`. {settings}",
        "",
        "Each held-out budget's observed IsoFLOP vertex (a bisquare-robust parabola in ln N through",
        "its runs) is scored against the forecast distribution of the *same* estimator applied to",
        "replicate losses simulated at the budget's actual (N, D) from each posterior draw",
        "(`bayes_scaling.evaluation.allocation`). Coverage = share of budgets whose observed vertex",
        "lies in the central interval; CRPS, errors and widths in dex of N. Approach 3 is a point",
        "forecast (its estimator applied to its noise-free predictions); Approach 2's interval is a",
        "noise-injection bootstrap. bayes_scaling's training-run selection (every run, or the runs",
        f"within {'/'.join(f'{100 * v:g}' for v in variants if v is not None)}% of their budget's best loss) "
        "and allocation drift scale (dex of N* per",
        "dex of compute), and the law where several are fitted (a selection named 'LAW, ...'), are",
        "chosen leave-one-dataset-out by CRPS (mean over families): "
        + "; ".join(f"{k}: {v[0]}, drift {v[1]:g}" for k, v in chosen.items())
        + ".",
        "",
        "## Summary",
        "",
        f"pooled 90% coverage of IsoFLOP minima: {100 * scored['covered_90'].mean():.0f}% "
        f"(95% cluster-bootstrap interval {100 * lo:.0f}-{100 * hi:.0f}%, resampling families; {len(scored)} "
        f"(budget, origin) scores of {distinct} distinct budgets in {ours['cluster'].nunique()} families; "
        f"{len(ours) - len(scored)} forecast(s) with fewer than {al.MIN_ACCEPTED} replicates inside the scoring "
        "window left unscored)",
        "",
        "Replicates are conditioned on the event that made a budget scorable (its vertex at least one",
        "size inside the grid); `median_accepted` is the share of replicates that pass.",
        "",
        "### The targets of issue 21, measured",
        "",
        fmt_plain(targets(final)),
        "",
        "### Pooled, by method",
        "",
        fmt(pooled),
        "",
        "### By dataset",
        "",
        fmt(al.summarize_allocation(real, ["dataset", "method"])),
        "",
        *(own_drift_section(real) if (real["method"] == OWN).any() else []),
        "### By extrapolation distance, log10(C / largest fitted C)",
        "",
        fmt(al.summarize_allocation(real, ["bin", "method"])),
        "",
        "### Synthetic studies (5 seeds each; fit below 1.1e19 FLOPs, 11 budgets 1e17-1e22)",
        "",
        "Target 'observed vertex': the design-consistent score as on real data; 'true argmin': the",
        "posterior N* band against the generating law's argmin (the pooled drift scale).",
        "",
        fmt(al.summarize_allocation(synth, ["study", "target", "method"])),
        "",
        "### Every selection and drift scale, pooled over the real datasets",
        "",
        fmt(sens),
        "",
        "## Budgets excluded and fits flagged",
        "",
        *[f"- {line}" for line in log],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 chains x 300 draws (results not written unless --out)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bayes_scaling_allocation_fits"))
    ap.add_argument("--only", nargs="+", help="dataset names")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--from-rows", action="store_true", help="rewrite the report from the last run's scores")
    ap.add_argument(
        "--laws",
        nargs="+",
        default=list(LAWS),
        help="laws fitted (default: the package default); with several, the law is chosen leave-one-dataset-out "
        "with the selection and drift. One law other than the default writes to benchmarks/results/law_NAME/",
    )
    ap.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help="training-run selections to score: 'all' and/or fractions such as 0.1 (default: all 0.1 0.2)",
    )
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no data folder at {DATA}: this benchmark reads ../shared/data")
    fit_options = {"draws": 300, "tune": 300, "chains": 2} if args.quick else {"draws": 500, "tune": 1000, "chains": 4}
    laws = tuple(args.laws)
    alone = laws[0] if len(laws) == 1 and laws[0] != bs.laws.DEFAULT_LAW else None
    variants = VARIANTS if args.variants is None else tuple(None if v == "all" else float(v) for v in args.variants)
    rows_file = args.cache / f"rows-{'-'.join(laws)}.pkl"
    args.cache.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    frames = []
    t0 = time.perf_counter()
    for case in [*iso_cases(), *synthetic_cases()]:
        if args.from_rows or (args.only and case.dataset not in args.only):
            continue
        frames.append(score_case(case, args.cache, fit_options, SDS, log, variants, laws))
    if args.from_rows:
        rows = pd.read_pickle(rows_file)
    elif not frames:
        sys.exit(f"no dataset named {args.only}")
    else:
        rows = pd.concat(frames, ignore_index=True)
        rows.attrs = {
            "log": log,
            "seconds": time.perf_counter() - t0,
            "fit_options": fit_options,
            "laws": laws,
            "variants": variants,
        }
        if not args.only:  # --from-rows rewrites the report of a whole run without scoring again
            rows.to_pickle(rows_file)
    log, seconds, fit_options = rows.attrs["log"], rows.attrs["seconds"], rows.attrs["fit_options"]
    laws, variants = rows.attrs.get("laws", laws), rows.attrs.get("variants", variants)
    chosen = choose(rows)
    final = final_rows(rows, chosen)
    settings = (
        f"bayes_scaling {fit_options['chains']} chains x {fit_options['draws']} draws, "
        f"laws {', '.join(laws)} (default noise model); "
        f"training-run selections {', '.join(variant_name(v) for v in variants)}; {seconds:.0f} s."
    )
    text = report(final, chosen, log, settings, sensitivity(rows), variants)
    print(text)
    out = args.out or (None if args.quick else (RESULTS / f"law_{alone}" if alone else RESULTS))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "allocation.md").write_text(text)
        keep = ["dataset", "family", "origin", "budget", "flops", "distance_dex", "runs", "method", "variant", "sd"]
        keep += ["target", "pit"]
        keep += ["crps_dex", "median_error_dex", "width90_dex", "covered_50", "covered_80", "covered_90", "ok"]
        final[[c for c in keep if c in final]].to_csv(out / "allocation.csv", index=False, float_format="%.4g")


if __name__ == "__main__":
    main()
