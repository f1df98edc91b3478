"""Fits of whole training curves: the command, the forecasts along a schedule, continuing a run,
saved files, the schedule race; and (slow) recovery of the truth from synthetic curves."""

from __future__ import annotations

import numpy as np
import pytest
from tolerances import MAX_DIVERGENT_SHARE, MAX_R_HAT, covers, min_covered

import bayes_scaling as bs
from bayes_scaling.cli.main import main
from bayes_scaling.errors import FileExistsNoOverwriteError, SpecError
from bayes_scaling.planning import schedule_race
from bayes_scaling.testing import CURVE_NOISE, MULTIPOWER_TRUTH, synthetic_curves

S = bs.schedules
PEAK = 3e-4
SCHEDULES = {
    "constant": S.constant(PEAK, 12000, warmup=500),
    "wsd": S.wsd(PEAK, 12000, decay=0.25, warmup=500),
    "step": S.step_down(PEAK, 12000, {7000: 3e-5}, warmup=500),
}


@pytest.fixture(scope="module")
def curve_file(tmp_path_factory):
    """A curve fit made by the command (`fit --law multipower`) and saved."""
    folder = tmp_path_factory.mktemp("curves")
    curves = synthetic_curves(SCHEDULES, sizes=(5e7, 2e8), log_every=400, random_seed=11)
    frame = curves.frame.drop(columns=["_line"]).copy()
    frame["lr"] = [curves.schedules[r].lr[int(s)] for r, s in zip(frame["run_id"], frame["step"], strict=True)]
    csv = folder / "curves.csv"
    frame.to_csv(csv, index=False)
    out = folder / "fit.nc"
    args = ["fit", str(csv), "--law", "multipower", "--out", str(out), "--draws", "300", "--tune", "400"]
    assert main([*args, "--chains", "2", "--quiet", "--seed", "3"]) == 0
    return out, csv


@pytest.fixture(scope="module")
def curve_fit(curve_file):
    return bs.load(curve_file[0])


def test_the_command_saves_a_curve_fit_that_loads_and_summarises(curve_fit, curve_file, capsys):
    assert isinstance(curve_fit, bs.CurveFit) and curve_fit.verdict.converged
    assert curve_fit.n_draws == 600 and len(curve_fit.curves.schedules) == 6
    assert main(["summary", str(curve_file[0])]) == 0
    text = capsys.readouterr().out
    assert "multipower" in text and "kappa" in text and "Diagnostics" in text
    assert "PSIS-LOO, one run tree (a run and its cooldown branches) left out at a time: elpd" in text


def test_a_saved_curve_fit_is_never_overwritten(curve_fit, curve_file):
    with pytest.raises(FileExistsNoOverwriteError):
        curve_fit.save(curve_file[0])


def test_new_run_bands_hold_the_mean_curve_and_are_wider(curve_fit):
    steps = np.arange(1000, 12001, 1000)
    mean = curve_fit.predict_curve(1e8, SCHEDULES["wsd"], steps, kind="mean")
    new = curve_fit.predict_curve(1e8, SCHEDULES["wsd"], steps, random_seed=1)
    assert new.draws.shape == mean.draws.shape == (600, steps.size)
    lo_m, hi_m = mean.interval(0.9)
    lo_n, hi_n = new.interval(0.9)
    assert np.all(hi_n - lo_n > hi_m - lo_m)
    assert np.all((new.median > lo_m - (hi_m - lo_m)) & (new.median < hi_m + (hi_m - lo_m)))
    frame = new.to_frame()
    assert list(frame.columns[:5]) == ["step", "params", "loss_median", "loss_lo", "loss_hi"]
    # The cooldown lowers the loss below the constant schedule's by its end.
    const = curve_fit.predict_curve(1e8, SCHEDULES["constant"], steps, kind="mean")
    assert np.mean(mean.draws[:, -1] < const.draws[:, -1]) > 0.99


def test_same_seed_same_paths_after_a_save_and_load(curve_fit, tmp_path):
    path = tmp_path / "again.nc"
    curve_fit.save(path)
    again = bs.load(path)
    a = curve_fit.predict_curve(2e8, SCHEDULES["step"], [8000, 12000], random_seed=5)
    b = again.predict_curve(2e8, SCHEDULES["step"], [8000, 12000], random_seed=5)
    assert np.array_equal(a.draws, b.draws)


def test_a_run_is_continued_from_what_it_logged(curve_fit):
    run = "5e+07_constant"
    rows = curve_fit.curves.rows(run)
    rows = rows[rows["step"] <= 8800]  # (the WSD schedule cools down from step 9000)
    last, y_last = rows["step"].iloc[-1], rows["loss"].iloc[-1]
    cont = curve_fit.predict_curve(5e7, SCHEDULES["wsd"], [int(last) + 50, 12000], given=(run, last), random_seed=2)
    fresh = curve_fit.predict_curve(5e7, SCHEDULES["wsd"], [int(last) + 50, 12000], random_seed=2)
    lo_c, hi_c = cont.interval(0.9)
    lo_f, hi_f = fresh.interval(0.9)
    # 50 steps after the last logged row, the continuation knows where the run is.
    assert hi_c[0] - lo_c[0] < 0.6 * (hi_f[0] - lo_f[0])
    assert abs(cont.median[0] - y_last) < 0.02
    with pytest.raises(SpecError, match="ask for steps after step"):
        curve_fit.predict_curve(5e7, SCHEDULES["wsd"], [100, 12000], given=(run, last))
    with pytest.raises(SpecError, match="schedule differs from run"):
        curve_fit.predict_curve(5e7, SCHEDULES["step"], [11000], given=run)
    with pytest.raises(SpecError, match="not 2e"):
        curve_fit.predict_curve(2e8, SCHEDULES["constant"], [12000], given=(run, last))


def test_mistakes_in_a_curve_question_are_named(curve_fit):
    with pytest.raises(SpecError, match="above the fitted runs"):
        curve_fit.predict_curve(1e8, S.constant(3e-3, 12000), [100])
    with pytest.raises(SpecError, match="kind='new_run'"):
        curve_fit.predict_curve(1e8, SCHEDULES["wsd"], [100], kind="mean", given="5e+07_constant")
    with pytest.raises(SpecError, match="whole numbers, increasing"):
        curve_fit.predict_curve(1e8, SCHEDULES["wsd"], [100.5])
    with pytest.warns(bs.ExtrapolationWarning, match="outside the fitted sizes"):
        curve_fit.predict_curve(7e9, SCHEDULES["wsd"], [12000], kind="mean")
    with pytest.raises(SpecError, match="given='nope': not a run of this fit"):
        curve_fit.predict_curve(1e8, SCHEDULES["wsd"], [12000], given="nope")


def test_the_schedule_race_compares_draw_by_draw(curve_fit):
    steps = np.arange(500, 12001, 250)
    forecasts = {
        name: curve_fit.predict_curve(1e8, s, steps, random_seed=i) for i, (name, s) in enumerate(SCHEDULES.items())
    }
    final = {name: np.median(f.draws[:, -1]) for name, f in forecasts.items()}
    target = final["wsd"] + 0.3 * (final["constant"] - final["wsd"])
    race = schedule_race(forecasts, target)
    assert race["p_fastest"].sum() <= 1 + 1e-12
    assert race.loc["constant", "p_reach"] < 0.5 < race.loc["wsd", "p_reach"]
    assert race.loc["wsd", "first_step_lo"] <= race.loc["wsd", "first_step_median"] <= 12000
    with pytest.raises(SpecError, match="target loss must be a number > 0"):
        schedule_race(forecasts, -1)


def test_the_curve_command_answers_and_refuses_final_loss_questions(curve_file, capsys):
    model = str(curve_file[0])
    code = main(
        [
            "curve",
            model,
            "--params",
            "100M",
            "--schedule",
            "wsd,peak=3e-4,steps=12000,decay=0.25,warmup=500",
            "constant,peak=3e-4,steps=12000,warmup=500",
            "--target-loss",
            "3.2",
            "--json",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert '"verdict"' in out and '"p_fastest"' in out
    assert main(["predict", model, "--params", "1B", "--tokens", "20B"]) == 1
    assert "is a fit of training curves: ask it with `bayes-scaling curve" in capsys.readouterr().err
    assert main(["curve", model, "--params", "100M", "--schedule", "wsd,peak=3e-4"]) == 1
    assert "give peak=RATE and steps=N" in capsys.readouterr().err
    assert main(["curve", model, "--params", "100M", "--schedule", "wsd,peak=3e-4,steps=12000,foo=1"]) == 1
    assert "wsd takes peak, steps, warmup, decay, shape, final; not ['foo']" in capsys.readouterr().err
    assert (
        main(["curve", model, "--params", "100M", "--schedule", "constant,peak=3e-4,steps=12000", "--given", "x"]) == 1
    )
    assert "--given x: no fitted run 'x'" in capsys.readouterr().err


def test_the_curve_command_writes_the_report_and_the_figure(curve_file, tmp_path, capsys):
    report, figure = tmp_path / "r.html", tmp_path / "c.png"
    schedule = "step,peak=3e-4,steps=12000,warmup=500,7000=3e-5"
    args = ["curve", str(curve_file[0]), "--params", "200M", "--schedule", schedule, "--report", str(report)]
    assert main([*args, "--plot", str(figure)]) == 0
    html = report.read_text()
    assert "Training-curve forecast: multipower law, 6 runs" in html and "data:image/png;base64" in html
    assert "New-run forecasts at each schedule" in html and "step,peak=3e-4,steps=12000,warmup=500,7000=3e-5" in html
    assert figure.stat().st_size > 10_000
    assert main(args) == 1  # never replaced without --overwrite
    assert "exists" in capsys.readouterr().err


def test_final_loss_options_are_refused_for_a_curve_law(curve_file, tmp_path, capsys):
    curves = bs.Curves.from_csv(curve_file[1])
    with pytest.raises(SpecError, match=r"\['families'\] apply to laws of the final loss"):
        bs.fit(curves, "multipower", families="family")
    with pytest.raises(SpecError, match="fitted by a curve law"):
        bs.fit(curves, "chinchilla")
    code = main(
        ["fit", str(curve_file[1]), "--law", "multipower", "--out", str(tmp_path / "x.nc"), "--max-flops", "1e20"]
    )
    assert code == 1 and "--max-flops: for laws of the final loss" in capsys.readouterr().err


@pytest.mark.slow
def test_multipower_recovers_its_truth_over_synthetic_data_sets():
    """Four data sets (one size x 3 schedules each): the 90% intervals of the law's parameters and
    of the noise hold the truth at the binomial rate of calibrated intervals; the sampler is healthy.

    The fit samples A at its reference area and kappa at its reference rate (the data's; the
    truth is stated at area 1 and the peak rate): the truth is moved there first."""
    checked = ("l0", "log_A", "alpha", "log_B", "kappa", "gamma", "sigma")
    truth = MULTIPOWER_TRUTH | CURVE_NOISE
    hits = dict.fromkeys(checked, 0)
    n_sets = 4
    for seed in range(n_sets):
        curves = synthetic_curves(SCHEDULES, sizes=(1e8,), log_every=200, n_ref=1e8, random_seed=100 + seed)
        fit = bs.fit(curves, "multipower", draws=500, tune=700, chains=4, random_seed=seed, progressbar=False)
        scale = fit.inputs.scale
        at_refs = truth | {
            "log_A": truth["log_A"] - truth["alpha"] * np.log(scale.area_ref),
            "kappa": truth["kappa"] * scale.lr_drop_ref ** -truth["gamma"],
        }
        diag = fit.diagnostics()
        assert diag["r_hat"].max() <= MAX_R_HAT
        n_div = int(fit.idata["sample_stats"]["diverging"].values.sum())
        assert n_div <= MAX_DIVERGENT_SHARE * fit.n_draws + 2
        draws = fit.draws()
        for name in checked:
            hits[name] += covers(draws[name], at_refs[name], 0.9)
    need = min_covered(n_sets, 0.9, quantities=len(checked))
    assert all(h >= need for h in hits.values()), (hits, need)


def test_a_tree_scored_from_its_own_table_matches_the_fits_term(curve_fit):
    """What reloo scores a held-out tree with (its own rows' features in the fit's units) gives,
    at the fit's own draws and drop factors, the fit's per-tree log-likelihood."""
    from bayes_scaling.inference.curves import DROP_RAW, curve_inputs

    ll = curve_fit.log_likelihood().values.reshape(curve_fit.n_draws, -1)
    raw_all = curve_fit.idata["posterior"][DROP_RAW].values.reshape(curve_fit.n_draws, -1)
    run_ids = curve_fit.inputs.obs.run_ids
    for tree in range(curve_fit.inputs.obs.n_trees):
        runs = curve_fit.tree_runs(tree)
        inputs = curve_inputs(curve_fit.spec, curve_fit.curves.subset(runs), curve_fit.inputs.scale)
        raw = raw_all[:, [run_ids.index(r) for r in inputs.obs.run_ids]]
        own = curve_fit._tree_log_likelihood(inputs, raw)
        assert own.shape == (curve_fit.n_draws, 1)
        np.testing.assert_allclose(own[:, 0], ll[:, tree], rtol=1e-10, atol=1e-8)


def test_exact_comparison_is_for_curve_fits():
    from bayes_scaling.testing import fabricated_fit

    fit = fabricated_fit()
    with pytest.raises(SpecError, match="fits of final losses"):
        bs.compare({"a": fit, "b": fit}, exact=True)


def test_reloo_refits_the_trees_psis_cannot_score(curve_fit):
    """A refitted tree gets its exact held-out log density and Pareto k 0; the others keep
    PSIS's; totals are recomputed. Bad tree indices are refused before any fit."""
    with pytest.raises(SpecError, match="indices of this fit"):
        curve_fit.reloo(trees=[99])
    base = curve_fit.loo()
    out = curve_fit.reloo(trees=[0], draws=300, tune=300, chains=2, random_seed=1)
    assert out.pareto_k.values[0] == 0.0 and np.isfinite(out.elpd_i.values[0])
    np.testing.assert_array_equal(out.elpd_i.values[1:], base.elpd_i.values[1:])
    np.testing.assert_array_equal(out.pareto_k.values[1:], base.pareto_k.values[1:])
    assert out.elpd == pytest.approx(float(out.elpd_i.values.sum()))
    assert base.elpd_i.values[0] != out.elpd_i.values[0]  # (the base object is left as it was)
    # leaving a tree out cannot predict it better than the fit that saw it, beyond Monte Carlo error
    full = curve_fit.log_likelihood().values.reshape(curve_fit.n_draws, -1)[:, 0]
    lppd = float(np.logaddexp.reduce(full) - np.log(full.size))
    assert out.elpd_i.values[0] < lppd + 1.0
    # a refit that cannot have converged (20 draws) is named, not used quietly
    with pytest.warns(bs.DiagnosticsWarning, match="refit without run tree 1 .* did not converge"):
        curve_fit.reloo(trees=[1], draws=10, tune=10, chains=2)


def test_the_pointwise_log_likelihood_is_the_models_own_term_and_loo_compares_curve_laws(curve_fit):
    """Per run tree, summed: the model's likelihood term (PyMC's graph) at the same draws; so
    PSIS-LOO over trees scores the fit, and ``bs.compare`` ranks curve fits of the same curves."""
    import pytensor

    from bayes_scaling.inference.curves import build_curve_model

    ll = curve_fit.log_likelihood()
    assert ll.dims == ("chain", "draw", "tree") and ll.shape[:2] == (2, 300)
    assert ll.sizes["tree"] == curve_fit.inputs.obs.n_trees and np.isfinite(ll.values).all()
    post = curve_fit.idata["posterior"].to_dataset()
    # (the loss drop over the non-zero blocks, as nutpie's model has it, or over all of them)
    for sparse_blocks in (True, False):
        model = build_curve_model(curve_fit.spec, curve_fit.inputs, sparse_blocks=sparse_blocks)
        free = model.free_RVs
        term = pytensor.function(free, model["curve_loglik"], on_unused_input="ignore")
        for chain, draw in [(0, 0), (1, 123), (0, 299)]:
            values = [post[v.name].values[chain, draw] for v in free]
            assert term(*values) == pytest.approx(float(ll.values[chain, draw].sum()), rel=1e-9, abs=1e-6)
    loo = curve_fit.loo()
    assert loo.n_data_points == curve_fit.inputs.obs.n_trees and np.isfinite(loo.elpd)
    table = bs.compare({"a": curve_fit, "b": curve_fit})
    assert set(table.index) == {"a", "b"} and table["elpd_diff"].abs().max() < 1e-9
