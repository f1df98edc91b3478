"""Backtests of a new recipe with few runs: the NewFamily holdout and the borrow baseline (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.evaluation.baselines import borrowed_exponents
from bayes_scaling.evaluation.holdout import NewFamily, split

ALPHA, BETA = 0.34, 0.28


def two_families(noise: float = 0.0) -> bs.Runs:
    """A donor grid and a new recipe with the same exponents and its own E, A, B."""
    rng = np.random.default_rng(0)
    frames = []
    for name, (e, a, b), n in (("donor", (1.69, 406.4, 410.7), 30), ("recipe", (1.85, 300.0, 600.0), 8)):
        params = np.geomspace(5e7, 3e9, n) * np.exp(rng.normal(0, 0.1, n))
        tokens = 20 * params * np.exp(rng.normal(0, 0.8, n))
        loss = (e + a * params**-ALPHA + b * tokens**-BETA) * np.exp(rng.normal(0, noise, n))
        frames.append(
            pd.DataFrame(
                {
                    "run_id": [f"{name}-{i}" for i in range(n)],
                    "family": name,
                    "params": params,
                    "tokens": tokens,
                    "loss": loss,
                }
            )
        )
    return bs.Runs.from_frame(pd.concat(frames, ignore_index=True))


def test_new_family_fits_the_k_smallest_runs_of_one_family():
    runs = two_families()
    train, test = split(runs, NewFamily("recipe", 3))
    recipe = runs.select(family="recipe")
    assert len(train.select(family="donor")) == 30 and set(test.families) == {"recipe"}
    assert np.sort(train.select(family="recipe").flops).tolist() == np.sort(recipe.flops)[:3].tolist()
    assert len(test) == 5 and test.flops.min() >= train.select(family="recipe").flops.max()
    with pytest.raises(bs.SpecError, match="no runs of family 'other'"):
        NewFamily("other", 3).held_out(runs)
    with pytest.raises(bs.SpecError, match="has 8 runs; k must be 1 to 7"):
        NewFamily("recipe", 8).held_out(runs)


def test_borrowed_exponents_recover_a_recipe_that_shares_them():
    """Noise-free runs: the donor's exponents are exact, so three runs give E, A, B and the
    recipe's larger runs to rounding."""
    runs = two_families()
    train, test = split(runs, NewFamily("recipe", 3))
    point = borrowed_exponents(train.select(family="recipe"), train.select(family="donor"))
    assert point.alpha == pytest.approx(ALPHA, rel=1e-3) and point.beta == pytest.approx(BETA, rel=1e-3)
    np.testing.assert_allclose(point.loss(test.params, test.tokens), test.loss, rtol=1e-3)


def test_backtest_of_a_new_family_with_the_borrow():
    bt = bs.backtest(two_families(noise=0.01), holdout=NewFamily("recipe", 3), methods=["borrowed_exponents"])
    assert set(bt.table["family"]) == {"recipe"} and len(bt.table) == 5
    assert bt.summary.loc["borrowed_exponents", "median_ape"] < 5


def test_cli_backtest_of_a_new_family(tmp_path, capsys):
    from bayes_scaling.cli import main

    csv = tmp_path / "runs.csv"
    two_families(noise=0.01).to_frame().to_csv(csv, index=False)
    args = ["backtest", str(csv), "--new-family", "recipe", "--keep", "3", "--method", "borrowed_exponents", "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "recipe: its 3 smallest runs" in out and '"method": "borrowed_exponents"' in out
    assert main(["backtest", str(csv), "--new-family", "recipe", "--max-flops", "1e19"]) == 1
    assert "needs one of" in capsys.readouterr().err
