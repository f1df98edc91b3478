"""Several families in one model: the pooling spec, the model's special cases (exact, no
sampling), and the answers of a real fit over three families."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

import bayes_scaling as bs
from bayes_scaling import planning
from bayes_scaling.data.runs import Runs
from bayes_scaling.inference.families import FamilyPooling
from bayes_scaling.inference.model import ScalingModel, build_model, data_scale
from bayes_scaling.noise.extrapolation import extrapolation_distance

#: Three recipes: the same exponents' neighbourhood, their own E; "few" has 4 runs.
FAMILIES = {"base": (1.69, 0.34, 12), "wide": (1.80, 0.36, 12), "few": (1.60, 0.33, 4)}


def family_frame(families=FAMILIES, seed: int = 0) -> pd.DataFrame:
    frames = []
    for i, (name, (e, alpha, n)) in enumerate(families.items()):
        runs = bs.synthetic.chinchilla_runs(
            n_configs=n, n_budgets=max(2, n // 3), random_seed=seed + i, params={"E": e, "alpha": alpha}
        )
        frame = runs.to_frame()
        frame["family"] = name
        frame["run_id"] = name + "-" + frame["run_id"].astype(str)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def family_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        return bs.fit(family_frame(), families="family", random_seed=2, progressbar=False)


# --------------------------------------------------------------------------- the spec
def test_pooling_spec_rejects_bad_settings():
    with pytest.raises(bs.SpecError, match="one of"):
        FamilyPooling({"alpha": "partial"})
    with pytest.raises(bs.SpecError, match="positive number"):
        FamilyPooling(spread={"alpha": -1})
    with pytest.raises(bs.SpecError, match="family noise"):
        FamilyPooling(noise="each")
    with pytest.raises(bs.SpecError, match=r"\['gamma'\], not parameters of law 'chinchilla'"):
        ScalingModel(families={"pooling": {"gamma": "shared"}})


def test_spec_round_trip_and_ids_of_one_family_fits_unchanged():
    plain = ScalingModel()
    assert "families" not in plain.to_dict()
    spec = ScalingModel(families=FamilyPooling({"alpha": "shared"}, noise="per_family"))
    again = ScalingModel.from_dict(spec.to_dict())
    assert again == spec and again.spec_id == spec.spec_id != plain.spec_id
    assert again.families.modes(again.law_component)["alpha"] == "shared"
    assert again.families.modes(again.law_component)["beta"] == "pooled"


def test_pooled_parameter_needs_a_normal_or_lognormal_prior():
    runs = Runs.from_frame(family_frame())
    spec = ScalingModel(priors={"alpha": Prior("Gamma", alpha=4.0, beta=12.0)}, families={})
    with pytest.raises(bs.SpecError, match=r"'alpha' is pooled.*Gamma.*--pool alpha=shared|pooling"):
        build_model(spec, runs, data_scale(runs))


def test_fit_over_families_needs_a_family_on_every_row():
    frame = family_frame()
    frame.loc[[0, 3], "family"] = ""
    with pytest.raises(bs.RunsValidationError, match="needs the family of every run"):
        bs.fit(frame, families="family", draws=10, tune=10, progressbar=False)


def test_pooling_options_without_families_are_an_error():
    with pytest.raises(bs.SpecError, match="families='family' as well"):
        bs.fit(family_frame(), pooling={"alpha": "shared"}, draws=10, tune=10, progressbar=False)


# --------------------------------------------------------------------------- special cases, exact
def _logp_at(model, point):
    return float(model.compile_logp()(point))


def _random_point(model, seed):
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    return fn(seed)


def test_all_shared_is_todays_model_of_the_merged_table():
    """Fully pooled: every parameter shared by the families is today's model of the table
    with the family labels removed (same configurations, same data scale)."""
    frame = family_frame()
    runs = Runs.from_frame(frame)
    merged = Runs.from_frame(frame.drop(columns="family"))
    scale = data_scale(merged)
    shared = dict.fromkeys(ScalingModel().law_component.parameters, "shared")
    joint = build_model(ScalingModel(families={"pooling": shared}), runs, scale)
    plain = build_model(ScalingModel(), merged, scale)
    assert {v.name for v in joint.free_RVs} == {v.name for v in plain.free_RVs}
    for seed in range(3):
        point = _random_point(plain, seed)
        assert _logp_at(joint, point) == pytest.approx(_logp_at(plain, point), rel=1e-12)


def test_one_family_free_is_todays_model_of_that_family():
    """Separate: parameters free per family, with one family, are today's fit of it."""
    runs = Runs.from_frame(family_frame({"base": FAMILIES["base"]}))
    scale = data_scale(runs)
    free = dict.fromkeys(ScalingModel().law_component.parameters, "free")
    joint = build_model(ScalingModel(families={"pooling": free}), runs, scale)
    plain = build_model(ScalingModel(), runs, scale)
    shapes = {name: np.shape(value) for name, value in joint.initial_point().items()}  # (free: one per family)
    assert {name for name, shape in shapes.items() if shape == (1,)} == {
        v.name for v in joint.value_vars if joint.values_to_rvs[v].name in free
    }
    for seed in range(3):
        point = _random_point(plain, seed)
        as_vectors = {name: np.reshape(value, shapes[name]) for name, value in point.items()}
        assert _logp_at(joint, as_vectors) == pytest.approx(_logp_at(plain, point), rel=1e-12)


# --------------------------------------------------------------------------- a real fit
def test_family_fit_samples_cleanly(family_fit):
    from tolerances import MAX_DIVERGENT_SHARE, MAX_R_HAT

    table = family_fit.diagnostics()
    assert table.attrs["n_divergences"] <= MAX_DIVERGENT_SHARE * family_fit.n_draws
    assert table["r_hat"].max() <= MAX_R_HAT
    assert {"alpha_offset[few]", "E_spread", "noise_sd"} <= set(table.index)


def test_each_family_is_an_ordinary_fit_of_its_slice(family_fit):
    assert family_fit.families == ("base", "few", "wide")
    few = family_fit.family("few")
    assert isinstance(few, bs.ScalingFit) and few.n_draws == family_fit.n_draws
    assert few.n_configs == 4 and len(few.runs) == len(family_fit.runs.select(family="few"))
    post = family_fit.idata["posterior"]
    np.testing.assert_array_equal(few.draws("alpha"), post["alpha"].sel(family="few").values.reshape(-1))
    assert family_fit.family("few") is few  # (one view per name)
    table = family_fit.summary()
    assert {"base", "few", "wide", "(population)"} == set(table.index.get_level_values("family"))
    assert ("(population)", "alpha spread") in table.index


def test_a_family_with_few_runs_borrows_and_a_new_family_is_widest(family_fit):
    """Forecasts at 100x the fitted compute: the 4-run family's band is wider than a 12-run
    family's, and a family not in the data (the population) wider still."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DiagnosticsWarning)
        widths = {}
        for name in ("base", "few", "a new recipe"):
            lo, hi = family_fit.predict([1e10], [2e11], family=name, kind="mean").interval(0.9)
            widths[name] = float(np.log(hi[0] / lo[0]))
    assert widths["base"] < widths["few"] < widths["a new recipe"]
    again = family_fit.family("a new recipe").draws("alpha")
    np.testing.assert_array_equal(again, family_fit.family("a new recipe").draws("alpha"))
    assert not np.array_equal(again, family_fit.family("another recipe").draws("alpha"))


def test_drifts_start_where_every_familys_runs_end(family_fit):
    """The pooled form was fitted on every family's runs: a family's view (seen, with few runs,
    or new) measures the extrapolation drift from the joint data, not from its own runs."""
    few, base = family_fit.family("few"), family_fit.family("base")
    n, d = family_fit.runs.params, family_fit.runs.tokens
    inside = (float(np.exp(np.log(n).mean())), float(np.exp(np.log(d).mean())))
    top = np.argmax(n * d)
    far = (float(n[top] * 10), float(d[top] * 10))  # 10x the largest run's N and D: 2 decades of C
    # some runs of the other families lie outside the 4-run family's own box: inside its view's
    own = few.runs
    outside_own = extrapolation_distance(np.log(n), np.log(d), np.log(own.params), np.log(own.tokens)) > 0
    assert outside_own.any()
    np.testing.assert_array_equal(few.extrapolation_distance(n[outside_own], d[outside_own]), 0.0)
    for view in (few, base, family_fit.family("a new recipe")):
        assert view.extrapolation_distance(*inside)[()] == 0.0
        assert view.extrapolation_distance(*far)[()] == pytest.approx(2.0)
    # the drift is the same for every family at a point beyond all of them
    z = np.ones(few.n_draws)
    for view in (few, base, family_fit.family("a new recipe")):
        no_drift = view.with_extrapolation_sd(0.0)
        delta = view.log_mean_draws(far[0], far[1], drift_z=z) - no_drift.log_mean_draws(far[0], far[1], drift_z=z)
        np.testing.assert_allclose(delta, view.noise.extrapolation_sd * np.sqrt(2.0), rtol=1e-9)


def test_new_family_needs_pooled_parameters(family_fit):
    spec = ScalingModel(families={"pooling": {"E": "free"}})
    fit = bs.FamilyFit(family_fit.idata, spec_dict=spec.to_dict(), scale=family_fit.scale, flops_per_param_token=6.0)
    with pytest.raises(bs.SpecError, match=r"\['E'\] are free per family"):
        fit.family("c")


def test_comparison_inside_one_posterior_pairs_draws(family_fit):
    """A family against itself: every pair is the same draw, so B needs exactly A's compute."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DiagnosticsWarning)
        same = planning.compare_fits(family_fit.family("base"), family_fit.family("base"), 1e22)
        other = planning.compare_fits(family_fit.family("few"), family_fit.family("wide"), 1e22)
    np.testing.assert_allclose(same.multiplier_draws, 1.0, rtol=1e-6)
    assert same.prob_a_better == 0.0
    # "few" has the lower E (1.60 vs 1.80; true compute-optimal losses at 1e22 FLOPs 2.10 vs
    # 2.17): the posterior favours it, though on 4 runs not with certainty
    assert other.prob_a_better > 0.5 and other.multiplier_median > 1


def test_planners_ask_for_one_family(family_fit):
    with pytest.raises(bs.SpecError, match=r"plan for one of them, e\.g\. fit\.family\('base'\)"):
        planning.allocate(family_fit, 1e22)
    with pytest.raises(TypeError, match="family"):
        family_fit.predict([1e9], [2e10])


def test_saved_family_fit_loads_and_answers_identically(family_fit, tmp_path):
    path = tmp_path / "families.nc"
    family_fit.save(path)
    loaded = bs.load(path)
    assert isinstance(loaded, bs.FamilyFit) and loaded.families == family_fit.families
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DiagnosticsWarning)
        for name in ("few", "a new recipe"):
            a = family_fit.compute_optimal([1e22], family=name)
            b = loaded.compute_optimal([1e22], family=name)
            pd.testing.assert_frame_equal(a, b)
    with pytest.raises(bs.FileExistsNoOverwriteError):
        family_fit.save(path)


# --------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def saved_families(family_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("families") / "families.nc"
    family_fit.save(path)
    return path


def test_cli_answers_for_one_family_and_compares_two(saved_families, capsys):
    from bayes_scaling.cli import main

    args = ["--params", "1e9", "--tokens", "2e10", "--accept-unconverged"]
    assert main(["predict", str(saved_families), *args]) == 1
    err = capsys.readouterr().err
    assert "fit over the families base, few, wide" in err and "--family NAME" in err and "Error" not in err
    assert main(["summary", str(saved_families), "--exact-loo"]) != 0  # (not silently ignored)
    assert "--exact-loo is for curve fits" in capsys.readouterr().err
    assert main(["predict", str(saved_families), *args, "--family", "few", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 1 and 1.6 < rows[0]["loss_median"] < 4
    assert main(["compare", str(saved_families), "--family", "few", "wide", "--flops", "1e22", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["a"] == "few" and 0 <= answer["prob_a_better"] <= 1
    assert main(["summary", str(saved_families)]) == 0
    out = capsys.readouterr().out
    assert "(population):" in out and "alpha spread" in out and "--family NAME" in out


def test_cli_family_flags_are_checked_before_sampling(tmp_path, capsys):
    from bayes_scaling.cli import main

    csv = tmp_path / "runs.csv"
    family_frame().to_csv(csv, index=False)
    out = str(tmp_path / "f.nc")
    assert main(["fit", str(csv), "--out", out, "--pool", "alpha=shared"]) == 1
    assert "add --families" in capsys.readouterr().err
    assert main(["fit", str(csv), "--out", out, "--families", "--family", "few"]) == 1
    assert "give one of them" in capsys.readouterr().err
    assert main(["fit", str(csv), "--out", out, "--families", "--own-drift"]) == 1
    assert "not available with --families" in capsys.readouterr().err
    assert not (tmp_path / "f.nc").exists()


# --------------------------------------------------------------------------- statistical, slow
@pytest.mark.slow
def test_pooled_fits_recover_each_family_and_its_own_noise():
    """Over independent data sets of three recipes (one with 4 runs), each family's 90% interval
    of alpha and E holds the truth at a calibrated rate; with ``family_noise="per_family"`` a
    family four times noisier gets the larger noise scale."""
    from tolerances import MAX_R_HAT, covers, min_covered

    n_sets, held = 4, {}
    rng = np.random.default_rng(7)
    for i in range(n_sets):
        recipes = {
            name: (1.69 * np.exp(rng.normal(0, 0.05)), 0.34 * np.exp(rng.normal(0, 0.05)), n)
            for name, n in (("a", 12), ("b", 12), ("few", 4))
        }
        frame = family_frame(recipes, seed=10 * i)
        noisy = frame["family"] == "b"  # four times the seed noise of the others
        frame.loc[noisy, "loss"] *= np.exp(rng.normal(0, 0.03, noisy.sum()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)
            fit = bs.fit(frame, families="family", family_noise="per_family", random_seed=i, progressbar=False)
        assert fit.diagnostics()["r_hat"].max() <= MAX_R_HAT
        for name, (e, alpha, _) in recipes.items():
            view = fit.family(name)
            held[name, "alpha"] = held.get((name, "alpha"), 0) + covers(view.draws("alpha"), alpha, 0.9)
            held[name, "E"] = held.get((name, "E"), 0) + covers(view.draws("E"), e, 0.9)
        sd = {name: np.median(fit.family(name).draws("noise_sd")) for name in ("a", "b")}
        assert sd["b"] > 2 * sd["a"], sd
    # the data sets are the independent trials (the families of one fit share its errors)
    for key, count in held.items():
        assert count >= min_covered(n_sets, 0.9, quantities=len(held)), (key, count)


def test_what_a_fit_over_families_does_not_do_yet_is_refused(family_fit):
    with pytest.raises(bs.SpecError, match="does not refit a fit over families"):
        bs.calibrate_drift(family_fit)
    with pytest.raises(bs.SpecError, match="nor one family of it"):
        bs.calibrate_drift(family_fit.family("base"))
    with pytest.raises(bs.SpecError, match="a fit over families has no prior sampler yet"):
        bs.sample_prior(Runs.from_frame(family_frame()), families={})
