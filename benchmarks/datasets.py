"""The real datasets of ../shared/data as backtest cases: which rows, which family, which cutoffs.

Read by the benchmarks only (the data is never copied into the repository). Each case is one
family of one dataset with a rolling origin of compute cutoffs; the choices and the caveats of
../shared/data/SOURCES.md they handle are documented per case below and in the results file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Case:
    dataset: str
    family: str
    runs: bs.Runs
    cutoffs: tuple[float, ...]
    note: str


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def _extra(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame["extra"].map(lambda s: json.loads(s).get(key) if isinstance(s, str) else None)


def _runs(frame: pd.DataFrame, **kw) -> bs.Runs:
    cols = ["run_id", "family", "params", "tokens", "loss", "flops"]
    frame = frame[cols].reset_index(drop=True)
    # Every row's run_id is unique per case here; seeds are not given (single-seed runs).
    return bs.Runs.from_frame(frame, **kw)


def _token_label(x: float) -> str:
    """How the datablations run ids write a token count: 4e9 -> "4b", 1.5e9 -> "1b5", 1e8 -> "100m"."""
    if x >= 1e9:
        whole, tenth = divmod(round(x / 1e8), 10)
        return f"{whole}b{tenth or ''}"
    return f"{round(x / 1e6)}m"


def datablations_runs() -> bs.Runs:
    """Muennighoff et al.'s final losses with the total and unique token columns put right.

    In the file (SLDBench's curated copy) ``tokens`` holds the *unique* tokens and
    ``extra.unique_tokens`` the *total* tokens trained on: every run id ends with
    ``<total><unique>`` (``2b855b4b`` is 2.8B parameters, 55B tokens, 4B unique), the flops
    column is 6 N U, and epochs (tokens / unique) are all <= 1. This checks that reading on
    every row, refuses to guess if one row disagrees, and swaps the columns; flops = 6ND.
    """
    df = _read("datablations_final")
    total = _extra(df, "unique_tokens").astype(float)
    unique = df["tokens"].astype(float)
    labels = [_token_label(t) + _token_label(u) for t, u in zip(total, unique, strict=True)]
    bad = [rid for rid, lab in zip(df["run_id"], labels, strict=True) if not str(rid).endswith(lab)]
    if bad:
        raise ValueError(
            f"datablations_final: run ids {bad[:5]} do not end with <total><unique> tokens; re-check the swap"
        )
    frame = df[["run_id", "family", "params", "loss"]].assign(tokens=total.to_numpy(), unique_tokens=unique.to_numpy())
    return bs.Runs.from_frame(frame.reset_index(drop=True), flops=None)


def cases() -> list[Case]:
    out = []

    # Chinchilla (Epoch's digitisation of Hoffmann et al. Fig. 4). Like Epoch, drop the 5
    # highest losses (extraction outliers at the smallest sizes). Tokens are C/(6N), derived.
    df = _read("chinchilla_epoch")
    df = df.drop(df.nlargest(5, "loss").index)
    out.append(
        Case("chinchilla_epoch", "chinchilla", _runs(df), (1e20, 1e21), "5 highest losses dropped (as Epoch did)")
    )

    # Marin isoFLOP ladders: one family per data mix; flops is the logged total (within a few %
    # of 6ND), so the cutoffs sit between the nominal budgets.
    df = _read("marin_isoflops")
    for family in sorted(df["family"].unique()):
        out.append(
            Case("marin_isoflops", family, _runs(df[df["family"] == family]), (3.1e19, 1.1e20), "paloma macro loss")
        )

    # Porian et al.: only the configurations whose points are true final checkpoints (cosine
    # decayed to the budget: 'chinchilla' decay), validation loss, 'standard' parameter count
    # (the other conventions re-label the same runs with other N and D).
    df = _read("porian_isoflops")
    df = df[df["loss_kind"] == "validation"].copy()
    df["config"] = _extra(df, "config")
    for config in ("rw-base-short-chinchilla-standard-val", "owt2-base-short-chinchilla-standard-val"):
        sub = df[df["config"] == config].copy()
        sub["family"] = config
        out.append(Case("porian_isoflops", config, _runs(sub), (8.1e17, 3.3e18), "final (decayed) checkpoints only"))

    # Datablations (Muennighoff et al.) final points as curated by SLDBench: N, D, U, loss, with
    # the total and unique token columns put right (see datablations_runs). Results written
    # before 2026-11-24 used the file's columns as labelled (D = unique tokens).
    out.append(
        Case(
            "datablations_final",
            "datablations",
            datablations_runs(),
            (1e20, 6.1e20),
            "all points; D = total tokens, unique tokens in their own column (1-9000 epochs)",
        )
    )

    # Gadre et al. over-training: C4 validation loss of the models trained on each dataset.
    # Final checkpoints only, total params (the repo's own 6ND convention).
    df = _read("mlfoundations_overtrain")
    df = df[df["loss_kind"] == "eval:c4_val"]
    for family in sorted(df["family"].unique()):
        sub = df[df["family"] == family]
        out.append(
            Case("mlfoundations_overtrain", family, _runs(sub), (1e19, 1e20), "eval:c4_val, 0.25x-32x over-training")
        )

    # xLSTM isoFLOP sweeps: final checkpoints (step == nominal steps), flops = 6ND (the paper
    # counts attention exactly; this matters at long context but is the same for fit and test).
    df = _read("xlstm_isoflops")
    df = df[df["is_final_checkpoint"] == True]  # noqa: E712 (the column holds True/False/NaN)
    cut = {"llama_ctx2048": 2e19, "llama_ctx8192": 1.2e19, "llama_ctx16384": 1e19, "mlstm_ctx16384": 2e19}
    for family, c in cut.items():
        out.append(Case("xlstm_isoflops", family, _runs(df[df["family"] == family]), (c,), "final checkpoints, 6ND"))

    # Gemstones: the cooldown branches are the annealed ("final") points; one shape has many
    # branch points at increasing tokens.
    df = _read("gemstones")
    df = df[df["family"] == "gemstone_cooldown"]
    out.append(Case("gemstones", "gemstone_cooldown", _runs(df), (1e20, 3e20), "10% cooldown branch ends"))
    return out


if __name__ == "__main__":
    for case in cases():
        r = case.runs
        held = [int((r.flops > c).sum()) for c in case.cutoffs]
        print(
            f"{case.dataset:24s} {case.family:42s} {len(r):4d} runs  C {r.flops.min():.2g}-{r.flops.max():.2g}  held out {held}  ({np.log10(r.flops.max() / np.array(case.cutoffs)).round(1)} dex)"
        )
