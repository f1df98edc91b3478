"""How far a forecast moves between parameter-count conventions (total vs non-embedding N):
the map between the counts, the search for the best run along a budget line, the CLI path."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli.main import main
from bayes_scaling.errors import SpecError
from bayes_scaling.planning.conventions import SEARCH_DEX, SEARCH_POINTS, convention_shift, count_map

GRID_DEX = 2 * SEARCH_DEX / (SEARCH_POINTS - 1)


def _table(n_other, c=3.0, g=0.5):
    n_other = np.asarray(n_other, dtype=float)
    return pd.DataFrame({"params": n_other + c * n_other**g, "params_nonembedding": n_other, "tokens": 1e10})


def test_the_count_map_recovers_an_embedding_power_law():
    table = _table(np.geomspace(1e7, 1e9, 6))
    m = count_map(table, "params", "params_nonembedding")
    assert m.c == pytest.approx(3.0, rel=1e-6) and m.g == pytest.approx(0.5, abs=1e-9) and m.rms_dex < 1e-9
    assert m(1e12) == pytest.approx(1e12 + 3e6)
    reverse = count_map(table, "params_nonembedding", "params")
    assert reverse.sign == -1 and np.all(reverse(table["params"]) < table["params"])
    same = count_map(table.assign(copy=table["params"]), "params", "copy")
    assert same.c == 0 and same(5e9) == 5e9


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="params_nonembedding"), "no column 'params_nonembedding'"),
        (lambda t: t.assign(params_nonembedding=[np.nan, *t["params_nonembedding"][1:]]), "give only one of"),
        (lambda t: t.assign(params=t["params_nonembedding"] * [1.1, 0.9, 1.1, 1.1, 1.1, 1.1]), "larger than"),
    ],
)
def test_the_count_map_refuses_tables_it_cannot_map(change, message):
    with pytest.raises(SpecError, match=message):
        count_map(change(_table(np.geomspace(1e7, 1e9, 6))), "params", "params_nonembedding")


def test_one_fit_under_two_equal_counts_does_not_move(fake_fit):
    """The same posterior keyed by two columns that agree: every shift is exactly nothing, and
    the search's optimum is the fit's own compute optimum to within the search grid."""
    table = _table(np.geomspace(1e7, 1e9, 6)).assign(copy=lambda t: t["params"])
    shift = convention_shift({"params": fake_fit, "copy": fake_fit}, table, [1e22, 1e24])
    assert np.allclose(shift.shifts[["params_ratio", "tokens_ratio"]], 1.0)
    assert np.allclose(shift.shifts["loss_change_pct"], 0.0)
    own = fake_fit.optimal_draws([1e22, 1e24])
    searched = shift.budgets[shift.budgets["convention"] == "params"]
    gap = np.abs(np.log10(searched["params_median"].to_numpy() / np.median(own["params"], axis=0)))
    assert np.all(gap < 2 * GRID_DEX)
    loss = np.median(own["loss"], axis=0)
    assert np.allclose(searched["loss_median"], loss, rtol=1e-4)
    assert (shift.budgets["no_optimum"] == 0).all()


def test_counting_fewer_parameters_costs_loss_at_a_fixed_budget(fake_fit):
    """One law, two counts: when each size really costs N' + e(N') parameters of compute, the
    best run at a budget has fewer tokens and, per draw, a higher loss than the law's own
    optimum; the shift shrinks as the embedding share falls at larger budgets."""
    table = _table(np.geomspace(1e7, 1e9, 6), c=30.0, g=0.5)
    shift = convention_shift({"params": fake_fit, "params_nonembedding": fake_fit}, table, [1e20, 1e24])
    s = shift.shifts.set_index("flops")
    assert (s["loss_change_pct"] > 0).all() and (s["tokens_ratio"] < 1).all()
    assert s.loc[1e20, "loss_change_pct"] > s.loc[1e24, "loss_change_pct"]
    assert "allocation exponent a" in str(shift) and "C = 1e+20" in str(shift)


def test_named_models_are_forecast_with_each_count(fake_fit):
    table = _table(np.geomspace(1e7, 1e9, 6))
    targets = pd.DataFrame({"params": [7e9], "params_nonembedding": [6.5e9], "tokens": [1.4e12]})
    shift = convention_shift({"params": fake_fit, "params_nonembedding": fake_fit}, table, 1e23, targets=targets)
    t = shift.targets.set_index("convention")
    direct = np.median(np.exp(fake_fit.log_mean_draws(np.array([[6.5e9]]), np.array([[1.4e12]]))))
    assert t.loc["params_nonembedding", "loss_median"] == pytest.approx(direct, rel=1e-9)
    assert t.loc["params_nonembedding", "loss_median"] > t.loc["params", "loss_median"]


def test_bad_arguments_are_named_together(fake_fit):
    with pytest.raises(SpecError, match="2 problems") as err:
        convention_shift({"params": fake_fit}, _table([1e8, 1e9]), -1)
    assert "flops" in str(err.value) and "two fits" in str(err.value)


# --------------------------------------------------------------------------- the CLI path
@pytest.fixture
def both_counts(tmp_path):
    runs = bs.synthetic.chinchilla_runs(n_configs=30, random_seed=0).to_frame()
    runs["params_nonembedding"] = runs["params"] - 20.0 * runs["params"] ** 0.5
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    return path


def test_fit_compares_the_counts_saves_both_and_prints_the_move(both_counts, tmp_path, monkeypatch, capsys, fake_fit):
    """The CLI path without sampling: the second fit reads the other count for the same rows
    (compute recomputed as k N D in it), both posteriors are saved, the move is printed."""
    seen = []

    def fit(runs, **kwargs):
        seen.append(runs)
        return fake_fit

    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", fit)
    out = tmp_path / "fit.nc"
    argv = [
        "fit",
        str(both_counts),
        "--out",
        str(out),
        "--compare-params-col",
        "params_nonembedding",
        "--compare-flops",
        "1e22",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert out.exists() and (tmp_path / "fit.params_nonembedding.nc").exists()
    assert "How the forecast moves from N = 'params' to N = 'params_nonembedding'" in printed
    assert "C = 1e+22: best size x" in printed
    total, other = seen
    assert np.all(other.params < total.params) and np.allclose(other.flops, 6 * other.params * other.tokens)
    # A second run never overwrites either file.
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--compare-params-col", "nonembedding"], "no column 'nonembedding'"),
        (["--compare-params-col", "params"], "already read from"),
        (["--compare-flops", "1e22"], "add it, or leave both out"),
    ],
)
def test_fit_refuses_a_bad_comparison_before_sampling(both_counts, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", lambda *a, **k: pytest.fail("sampled"))
    assert main(["fit", str(both_counts), "--out", str(tmp_path / "x.nc"), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
