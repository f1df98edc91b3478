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


def test_the_count_map_reads_counts_as_the_runs_table_does_and_skips_rows_with_one_count():
    table = _table(np.geomspace(1e7, 1e9, 6))
    text = table.astype({"params": object, "params_nonembedding": object})
    text.loc[0, "params_nonembedding"] = f"{table.loc[0, 'params_nonembedding'] / 1e6:.10g}M"
    text.loc[1, "params"] = np.nan  # one count only: not a pair
    m = count_map(text, "params", "params_nonembedding")
    assert m.pairs == 5 and m.c == pytest.approx(3.0, rel=1e-6) and m.g == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="params_nonembedding"), "no column 'params_nonembedding'"),
        (lambda t: t.assign(params_nonembedding=np.nan), "no row gives both"),
        (lambda t: t.assign(params=t["params_nonembedding"] * [1.1, 0.9, 1.1, 1.1, 1.1, 1.1]), "not larger than"),
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


def test_the_search_finds_each_draws_minimum_along_the_budget_line(fake_fit):
    """Against a brute-force minimum on a grid 30x finer: the grid search plus its parabola
    lands within a small fraction of a grid step (a wrong parabola is off by ~1e-3 dex)."""
    from bayes_scaling.planning.conventions import _best_runs

    m = count_map(_table(np.geomspace(1e7, 1e9, 6), c=30.0, g=0.5), "params", "params_nonembedding")
    flops = 1e21
    found = _best_runs(fake_fit, flops, m)
    rows = slice(0, 200)
    centre = np.log(found["own"][rows])[:, None]
    u = np.linspace(-0.1, 0.1, 4001) * np.log(10)  # 5e-5 dex apart around the found minimum
    n = np.exp(centre + u[None, :])
    surface = fake_fit.log_mean_draws(n, flops / (6 * m(n)), rows=rows)
    brute = n[np.arange(n.shape[0]), np.argmin(surface, axis=1)]
    error = np.abs(np.log10(found["own"][rows] / brute))
    assert np.max(error) < 2e-4 and np.median(error) < 5e-5, (np.max(error), np.median(error))
    assert np.allclose(found["tokens"] * 6 * found["params"], flops)


def test_counting_more_parameters_than_the_law_frees_compute(fake_fit):
    """The reversed map (the second count larger: N = N' - e(N')): each size costs less than
    its own count, so the best run has more tokens and a lower loss than the law's optimum."""
    table = _table(np.geomspace(1e7, 1e9, 6), c=30.0, g=0.5)
    shift = convention_shift({"params_nonembedding": fake_fit, "params": fake_fit}, table, [1e20, 1e24])
    assert shift.count_map.sign == -1
    assert (shift.shifts["loss_change_pct"] < 0).all() and (shift.shifts["tokens_ratio"] > 1).all()


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
    assert "best N (own count)" in printed and "1e22" in printed  # the table in units, not raw floats
    total, other = seen
    assert np.allclose(other.params, total.params - 20.0 * total.params**0.5)
    assert np.array_equal(other.tokens, total.tokens) and np.array_equal(other.loss, total.loss)
    assert np.allclose(other.flops, 6 * other.params * other.tokens)
    # A second run never overwrites either file, the second one included.
    before = (tmp_path / "fit.params_nonembedding.nc").read_bytes()
    out.unlink()
    assert main(argv) == 1
    assert "fit.params_nonembedding.nc" in capsys.readouterr().err and not out.exists()
    assert (tmp_path / "fit.params_nonembedding.nc").read_bytes() == before


def test_the_recount_looks_each_size_up_in_its_own_family(tmp_path):
    """Two families share a total count with different embeddings (another tokenizer): the
    other count is looked up per family."""
    from bayes_scaling.cli.conventions import recounted

    a = bs.synthetic.chinchilla_runs(n_configs=12, random_seed=0).to_frame().assign(family="a")
    b = a.assign(family="b", run_id=a["run_id"].astype(str) + "b")
    raw = pd.concat([a.assign(params_nonembedding=a["params"] * 0.9), b.assign(params_nonembedding=b["params"] * 0.8)])
    runs = bs.Runs.from_frame(raw.drop(columns="params_nonembedding").reset_index(drop=True))
    other = recounted(runs, raw.reset_index(drop=True), "params", "params_nonembedding")
    ratio = pd.Series(other.params / runs.params).groupby(np.asarray(runs.to_frame()["family"])).agg(["min", "max"])
    assert np.allclose(ratio.loc["a"], 0.9) and np.allclose(ratio.loc["b"], 0.8)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--compare-params-col", "nonembedding"], "no column 'nonembedding'"),
        (["--compare-params-col", "params"], "already read from"),
        (
            ["--compare-params-col", "params_nonembedding", "--params-col", "n"],
            "--params-col n: the table has no column",
        ),
        (["--compare-flops", "1e22"], "add it, or leave both out"),
    ],
)
def test_fit_refuses_a_bad_comparison_before_sampling(both_counts, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", lambda *a, **k: pytest.fail("sampled"))
    assert main(["fit", str(both_counts), "--out", str(tmp_path / "x.nc"), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
