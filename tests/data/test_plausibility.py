"""Valid-looking tables that are almost surely mistakes, and tables a fit cannot use: each is one
RunsValidationError that names the problem, the rows and the fix (never a deep traceback)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.data.runs import Runs


@pytest.fixture(scope="module")
def good():
    return bs.synthetic.chinchilla_runs(random_seed=0).to_frame()


def _bits_rows(df):
    df = df.copy()
    df.loc[[3, 10, 50], "loss"] /= np.log(2)
    return df


def _percent_row(df):
    df = df.copy()
    df.loc[5, "loss"] *= 100
    return df


def _reuse_id(df):
    df = df.copy()
    df.loc[7, "run_id"] = df.loc[8, "run_id"]
    return df


CASES = [
    (
        "perplexity",
        lambda d: d.assign(loss=np.exp(d["loss"])),
        r"far above any per-token cross-entropy.*ln\(perplexity\)",
    ),
    ("percent row", _percent_row, r"'loss' is above 20 at row 5 .*percent or perplexity mixed with nats"),
    ("bits among nats", _bits_rows, r"'loss' at rows 3, 10, 50 is ~1.44x .*bits mixed with nats.*loss_unit='bits'"),
    ("swapped N and D", lambda d: d.assign(params=d["tokens"], tokens=d["params"]), r"columns swapped"),
    (
        "accuracy not loss",
        lambda d: d.assign(loss=1 / d["loss"]),
        r"loss increases with compute \(Spearman rho = \+0\.\d+\)",
    ),
    ("run id reused", _reuse_id, r"'run_id' reuses 1 id\(s\).*rows 7, 8: give each run its own id"),
]


@pytest.mark.parametrize("make, pattern", [(m, p) for _, m, p in CASES], ids=[c[0] for c in CASES])
def test_implausible_tables_are_named(good, make, pattern):
    bad = make(good)
    with pytest.raises(bs.RunsValidationError, match=pattern) as err:
        Runs.from_frame(bad)
    assert "plausibility=False" in str(err.value)
    Runs.from_frame(bad, plausibility=False)  # the user can insist


def test_clean_table_passes_plausibility(good):
    assert len(Runs.from_frame(good)) == len(good)


def test_all_bits_converted_with_loss_unit(good):
    in_bits = good.assign(loss=good["loss"] / np.log(2))
    runs = Runs.from_frame(in_bits, loss_unit="bits")
    np.testing.assert_allclose(runs.loss, good["loss"].to_numpy(), rtol=1e-12)
    with pytest.raises(bs.RunsValidationError, match="loss_unit must be 'nats' or 'bits'"):
        Runs.from_frame(good, loss_unit="percent")


def test_checkpoints_of_one_run_are_not_a_reused_id(good):
    curve = pd.DataFrame(
        {
            "run_id": ["r1"] * 4,
            "step": [1, 2, 3, 4],
            "params": 1e8,
            "tokens": [1e9, 2e9, 3e9, 4e9],
            "loss": [3.5, 3.2, 3.1, 3.0],
        }
    )
    assert len(Runs.from_frame(curve)) == 4
    with pytest.raises(bs.RunsValidationError, match="at the same step"):
        Runs.from_frame(curve.assign(step=1))


@pytest.mark.parametrize(
    "rows, pattern",
    [
        (1, r"only 1 distinct \(N, D\) configuration"),
        (3, r"only 3 distinct"),
    ],
)
def test_too_few_runs_to_fit(good, rows, pattern):
    runs = Runs.from_frame(good.drop_duplicates(["params", "tokens"]).head(rows), plausibility=False)
    with pytest.raises(bs.RunsValidationError, match=pattern):
        bs.fit(runs)


def test_all_runs_at_one_size(good):
    one_n = good.assign(params=1e8)
    runs = Runs.from_frame(one_n, plausibility=False)
    with pytest.raises(bs.RunsValidationError, match=r"only 1 distinct model size\(s\) N.*3 or more sizes"):
        bs.fit(runs)


def test_a_million_rows_validate(good):
    rng = np.random.default_rng(0)
    reps = 1_000_000 // len(good) + 1
    big = pd.concat([good[["params", "tokens", "loss"]]] * reps, ignore_index=True).head(1_000_000)
    big["loss"] *= np.exp(rng.normal(0, 0.01, len(big)))
    runs = Runs.from_frame(big)  # ~4 s here (vectorised; the bits check subsamples 5000 rows)
    assert len(runs) == 1_000_000 and len(runs.configs) == len(good.drop_duplicates(["params", "tokens"]))


def test_exact_replicate_ties_pass_without_plausibility_but_cannot_be_fitted(good):
    tied = good.copy()
    same = tied.index[tied["run_id"].str.startswith("c000")]
    tied.loc[same, "loss"] = tied.loc[same[0], "loss"]
    with pytest.raises(bs.RunsValidationError, match="duplicated rows"):
        Runs.from_frame(tied)
    runs = Runs.from_frame(tied, plausibility=False)  # rounded losses can tie honestly
    with pytest.raises(bs.RunsValidationError, match="exactly equal losses.*more digits"):
        runs.check_fittable(5, "chinchilla")
