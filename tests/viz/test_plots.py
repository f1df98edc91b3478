"""Every plot function draws a readable, non-trivial figure from a fabricated posterior (no sampling)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.testing import fabricated_fit  # noqa: E402
from bayes_scaling.viz import plots  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "models" / "chinchilla_demo.nc"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def saved_png(fig, path, min_bytes: int = 15_000) -> np.ndarray:
    """Save ``fig`` and check the PNG is a real picture: big enough, not one colour."""
    fig.savefig(path, dpi=80)
    assert path.stat().st_size > min_bytes, path.stat().st_size
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not blank
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 50  # many colours: bands, markers, text
    return image


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, "legend missing"
    return [t.get_text() for t in legend.get_texts()]


def bands(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


@pytest.fixture(scope="module")
def holdout():
    return bs.synthetic.chinchilla_runs(n_configs=16, flops_range=(3e21, 3e22), n_budgets=2, random_seed=5)


def backtest_table(seed: int = 0) -> pd.DataFrame:
    """A fabricated backtest in the agreed layout: one calibrated method, one overconfident, one point method."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    rows = []
    for method, width in (("bayes_scaling", 1.0), ("approach3_bootstrap", 0.25), ("approach3", None)):
        for i in range(40):
            median = 2.0 + 0.01 * i
            loss = median * np.exp(rng.normal(0, 0.02))
            row = {"method": method, "dataset": "synthetic", "loss": loss, "median": median, "extrapolation": 10.0}
            for p in (50, 80, 90, 95):
                if width is None:
                    row[f"lo_{p}"] = row[f"hi_{p}"] = np.nan
                else:
                    z = stats.norm.ppf(0.5 + p / 200) * 0.02 * width
                    row[f"lo_{p}"], row[f"hi_{p}"] = median * np.exp(-z), median * np.exp(z)
            row["pit"] = np.nan if width is None else stats.norm.cdf(np.log(loss / median) / (0.02 * width))
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- frontier
def test_frontier_with_target_and_holdout(fake_fit, holdout, tmp_path):
    ax = plots.frontier(fake_fit, target_flops=1e24, holdout=holdout)
    saved_png(ax.figure, tmp_path / "frontier.png")
    assert ax.get_xscale() == "log"
    labels = legend_texts(ax)
    assert any("90%" in t for t in labels) and any("50%" in t for t in labels)
    assert any(t.startswith("held out (24)") for t in labels) and any(t.startswith("fitted runs") for t in labels)
    assert any("target C = 1e24" in t for t in labels) and any("new run" in t for t in labels)
    assert len(bands(ax)) >= 2  # 50% and 90% expected-loss bands
    assert ax.get_xlim()[1] > 1e24 and "FLOPs" in ax.get_xlabel() and "nats" in ax.get_ylabel()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1e24" in ticks, ticks  # engineering tick labels, not 10^24
    held_marker = [c for c in ax.collections if c.get_label().startswith("held out")][0]
    fitted_marker = [c for c in ax.collections if c.get_label().startswith("fitted runs")][0]
    assert held_marker.get_paths()[0] != fitted_marker.get_paths()[0]  # a different marker
    annotation = [t.get_text() for t in ax.texts]
    assert any("new run" in t and "1e24" in t for t in annotation)


def test_frontier_bands_are_nested_and_the_50_band_darker(fake_fit):
    ax = plots.frontier(fake_fit)
    by_label = {c.get_label(): c for c in bands(ax)}
    wide, narrow = by_label["expected loss at N*, D*: 90%"], by_label["expected loss at N*, D*: 50%"]
    assert narrow.get_alpha() > wide.get_alpha()
    (x0, y0), (x1, y1) = wide.get_paths()[0].get_extents().get_points()
    (u0, v0), (u1, v1) = narrow.get_paths()[0].get_extents().get_points()
    assert y0 <= v0 and v1 <= y1


def test_frontier_accepts_a_dataframe_holdout_and_a_fit_without_runs(fake_fit, holdout, tmp_path):
    frame = holdout.to_frame()[["params", "tokens", "loss"]]
    tree = fake_fit.idata.copy()
    del tree["runs"]
    bare = bs.ScalingFit(
        tree, spec_dict=fake_fit.spec_dict, scale=fake_fit.scale, flops_per_param_token=fake_fit.flops_per_param_token
    )
    assert bare.runs is None
    ax = plots.frontier(bare, target_flops=["1e23", 1e24], holdout=frame)
    saved_png(ax.figure, tmp_path / "frontier_bare.png")
    assert any("configurations (mean of seeds)" in t for t in legend_texts(ax))


def test_frontier_rejects_a_holdout_without_loss(fake_fit):
    with pytest.raises(ValueError, match="lacks column"):
        plots.frontier(fake_fit, holdout=pd.DataFrame({"params": [1e9], "tokens": [2e10]}))
    with pytest.raises(TypeError, match="holdout must be"):
        plots.frontier(fake_fit, holdout=[1, 2, 3])


def test_frontier_draws_into_a_given_axes(fake_fit):
    fig, ax = plt.subplots()
    assert plots.frontier(fake_fit, ax=ax) is ax


# --------------------------------------------------------------------------- slices
def test_slices_two_panels_with_nearby_runs(fake_fit, tmp_path):
    fig = plots.slices(fake_fit, fixed_tokens="20B", fixed_params=1e9)
    saved_png(fig, tmp_path / "slices.png")
    left, right = fig.axes[:2]
    assert left.get_xscale() == right.get_xscale() == "log"
    assert "D = 20B" in left.get_title() and "N = 1B" in right.get_title()
    for ax in (left, right):
        labels = legend_texts(ax)
        assert any("within 2x" in t for t in labels) and len(bands(ax)) >= 2
    assert "nats" in left.get_ylabel()


# --------------------------------------------------------------------------- IsoFLOP profiles
def test_isoflop_profiles_find_the_design_budgets(fake_fit, tmp_path):
    ax = plots.isoflop_profiles(fake_fit)
    saved_png(ax.figure, tmp_path / "isoflop.png")
    runs = fake_fit.runs
    budgets = sorted(set(np.round(np.log10(runs.flops), 6)))
    profile_labels = [t for t in legend_texts(ax) if t.startswith("C = ")]
    assert len(profile_labels) == min(len(budgets), 9)
    assert any("N*(C)" in t for t in legend_texts(ax))
    assert len(ax.containers) == len(profile_labels)  # one N* error bar per budget
    assert ax.get_xscale() == "log"


def test_isoflop_profiles_at_given_budgets(fake_fit):
    ax = plots.isoflop_profiles(fake_fit, budgets=["1e19", 1e20, 1e21])
    assert [t for t in legend_texts(ax) if t.startswith("C = ")] == ["C = 1e19", "C = 1e20", "C = 1e21"]


def test_isoflop_budgets_grouping():
    c = np.repeat([1e18, 1e19, 1e20], 5) * np.exp(np.random.default_rng(0).normal(0, 0.01, 15))
    n = np.tile(np.geomspace(1e7, 1e9, 5), 3)
    groups = plots.isoflop_budgets(c, n)
    assert [round(np.log10(b)) for b, _ in groups] == [18, 19, 20]
    assert sorted(np.concatenate([m for _, m in groups]).tolist()) == list(range(15))
    scattered = np.geomspace(1e18, 1e21, 15)
    assert plots.isoflop_budgets(scattered, n) is None


# --------------------------------------------------------------------------- compute-optimal
def test_compute_optimal_three_panels_with_references(fake_fit, tmp_path):
    fig = plots.compute_optimal(fake_fit)
    saved_png(fig, tmp_path / "optimal.png")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_xscale() == ax.get_yscale() == "log" and len(bands(ax)) >= 2
        styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
        chinchilla = [k for k in styles if k.startswith("Chinchilla")]
        kaplan = [k for k in styles if k.startswith("Kaplan")]
        assert chinchilla and kaplan and styles[chinchilla[0]] != "-" and styles[kaplan[0]] != "-"
    assert any("Chinchilla" in t for t in legend_texts(fig.axes[0]))
    # The fabricated posterior sits on Chinchilla's law: its median follows the Chinchilla line.
    ax = fig.axes[0]
    median = [line for line in ax.get_lines() if line.get_label() == "posterior: median"][0].get_ydata()
    reference = [line for line in ax.get_lines() if line.get_label().startswith("Chinchilla")][0].get_ydata()
    assert np.allclose(median, reference, rtol=0.1)


def test_kaplan_reference_formula():
    # N_opt = 1.3e9 * (C / 8.64e19)^0.73: 1.3e9 at one PF-day.
    assert plots.kaplan_optimal_params(8.64e19) == pytest.approx(1.3e9)
    assert plots.kaplan_optimal_params(8.64e20) == pytest.approx(1.3e9 * 10**0.73)


# --------------------------------------------------------------------------- pairs
def test_pairs_without_prior_draws(fake_fit, tmp_path):
    assert "prior" not in fake_fit.idata
    fig = plots.pairs(fake_fit)
    saved_png(fig, tmp_path / "pairs.png", min_bytes=40_000)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 15  # 5 histograms + 10 pairs
    assert any("no prior draws" in t.get_text() for ax in fig.axes for t in ax.texts)
    assert plots.contraction(fake_fit) is None


def test_pairs_with_prior_draws_shows_contraction_and_flags_correlations(tmp_path):
    demo = bs.load(DEMO)
    fig = plots.pairs(demo)
    saved_png(fig, tmp_path / "pairs_demo.png", min_bytes=40_000)
    panel = [ax for ax in fig.axes if ax.get_title().startswith("Prior (grey) vs posterior")]
    assert len(panel) == 1 and panel[0].get_xscale() == "log"
    assert sum("narrower" in t.get_text() for t in panel[0].texts) == 5
    red = [
        t.get_text()
        for ax in fig.axes
        for t in ax.texts
        if t.get_text().startswith("r = ") and t.get_color() != "black"
    ]
    assert red  # A-alpha / B-beta are correlated above 0.9 in the demo posterior
    table = plots.contraction(demo)
    assert list(table.index) == ["E", "A", "B", "alpha", "beta"]
    assert (table["width_ratio"] < 0.2).all()  # the data narrowed every parameter a lot


# --------------------------------------------------------------------------- residuals
def test_residuals_three_panels_with_noise_bands(fake_fit, tmp_path):
    fig = plots.residuals(fake_fit)
    saved_png(fig, tmp_path / "residuals.png")
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xscale() == "log" for ax in axes)
    assert len(bands(axes[0])) >= 2 and any("new-run noise" in t for t in legend_texts(axes[0]))
    assert any("runs' 5% / 95%" in t for t in legend_texts(axes[0]))
    assert "inside their 90% band" in fig.get_suptitle()
    # The N panel's band shrinks with N: the fabricated posterior has gamma = 0.2 > 0.
    band = bands(axes[0])[0].get_paths()[0].vertices
    upper = band[band[:, 1] > 0]
    small, large = upper[upper[:, 0] < 3e7, 1].max(), upper[upper[:, 0] > 3e9, 1].max()
    assert small > large


def test_residuals_of_a_fit_without_data_is_a_clear_error(fake_fit):
    tree = fake_fit.idata.copy()
    for group in ("runs", "constant_data", "observed_data"):
        del tree[group]
    bare = bs.ScalingFit(tree, spec_dict=fake_fit.spec_dict, scale=fake_fit.scale, flops_per_param_token=6.0)
    with pytest.raises(ValueError, match="stores no runs"):
        plots.residuals(bare)


# --------------------------------------------------------------------------- calibration
def test_calibration_pit_and_coverage(tmp_path):
    table = backtest_table()
    fig = plots.calibration(table)
    saved_png(fig, tmp_path / "calibration.png")
    pit_ax, cov_ax = fig.axes
    assert sorted(t.split(" (")[0] for t in legend_texts(pit_ax)) == [
        "approach3_bootstrap",
        "bayes_scaling",
        "calibrated",
    ]
    lines = {line.get_label().split(" (")[0]: line for line in cov_ax.get_lines()}
    assert set(lines) >= {"bayes_scaling", "approach3_bootstrap"} and "approach3" not in lines
    assert any("no intervals: approach3" in t.get_text() for t in cov_ax.texts)
    np.testing.assert_allclose(lines["bayes_scaling"].get_xdata(), [0.5, 0.8, 0.9, 0.95])
    # The overconfident method covers far less than nominal, the calibrated one about nominal.
    assert lines["approach3_bootstrap"].get_ydata()[-1] < 0.6
    assert abs(lines["bayes_scaling"].get_ydata()[2] - 0.9) < 0.15


def test_calibration_accepts_a_backtest_object_and_given_axes():
    class Backtest:
        table = backtest_table(1)

    fig, axes = plt.subplots(1, 2)
    assert plots.calibration(Backtest(), ax=axes) is fig
    with pytest.raises(ValueError, match="pair of Axes"):
        plots.calibration(Backtest(), ax=axes[0])


def test_coverage_table_counts_hits():
    table = pd.DataFrame(
        {"method": ["m"] * 4, "loss": [1.0, 2.0, 3.0, 4.0], "lo_90": [0.5, 2.5, 2.5, np.nan], "hi_90": [1.5, 3, 3.5, 5]}
    )
    cov = plots.coverage_table(table)
    assert cov.to_dict("records") == [{"method": "m", "nominal": 0.9, "empirical": 2 / 3, "n": 3}]


def test_calibration_rejects_a_table_without_the_contract_columns():
    with pytest.raises(ValueError, match="lacks column"):
        plots.calibration(pd.DataFrame({"method": ["m"], "loss": [2.0]}))
    with pytest.raises(TypeError, match="DataFrame"):
        plots.calibration([1, 2])


# --------------------------------------------------------------------------- import cost
def test_import_plots_stays_light():
    code = "import sys, bayes_scaling.viz.plots; print(sorted(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plots_work_on_a_normal_likelihood_fit(tmp_path):
    fit = fabricated_fit(likelihood="normal", random_seed=3)
    saved_png(plots.residuals(fit), tmp_path / "residuals_normal.png")
    assert "Gaussian" in " ".join(legend_texts(plots.frontier(fit)))


# --------------------------------------------------------------------------- any law
def _kaplan_fit(fake_fit):
    """``fake_fit``'s data and noise draws with draws of the Kaplan law (no sampling)."""
    from bayes_scaling.inference.model import ScalingModel

    post = fake_fit.idata["posterior"].to_dataset()
    rng = np.random.default_rng(0)
    drawn = post[[n for n in post.data_vars if n not in (*fake_fit.law.parameters, *fake_fit.law.reported)]]
    shape = (post.sizes["chain"], post.sizes["draw"])
    for name, value in {"log_loss_ref": np.log(2.9), "alpha_D": 0.1, "ratio": 0.8, "delta": 0.2}.items():
        drawn[name] = (("chain", "draw"), value * (1 + 0.02 * rng.standard_normal(shape)))
    tree = fake_fit.idata.copy()
    tree["posterior"] = drawn
    spec = ScalingModel(law="kaplan").to_dict()
    return bs.ScalingFit(tree, spec_dict=spec, scale=fake_fit.scale, flops_per_param_token=6.0)


def test_pairs_and_allocation_of_another_law_use_its_symbols_and_rule(fake_fit, tmp_path):
    fit = _kaplan_fit(fake_fit)
    fig = plots.pairs(fit)
    saved_png(fig, tmp_path / "pairs_kaplan.png", min_bytes=30_000)
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert {r"$N_c$", r"$D_c$", r"$\alpha_N$", r"$\alpha_D$"} <= labels and "α" not in labels
    assert sum(ax.axison for ax in fig.axes) == 10  # 4 histograms + 6 pairs
    fig = plots.compute_optimal(fit)
    # Kaplan's optimum is N* = (r N_c^r C / k D_c)^(1/(r+1)): a = 1/(1 + alpha_N/alpha_D) in every draw.
    rep = fit.reported_draws()
    a = plots.allocation_exponent(fit, [1e21, 1e24])
    np.testing.assert_allclose(a, rep["alpha_D"] / (rep["alpha_N"] + rep["alpha_D"]), rtol=1e-9)
    assert "kaplan law" in fig.get_suptitle() and f"a = {np.median(a):.3f}" in fig.get_suptitle()


def test_allocation_exponent_is_chinchillas_a(fake_fit):
    np.testing.assert_allclose(plots.allocation_exponent(fake_fit, [1e20, 1e25]), fake_fit.draws("a"), rtol=1e-9)


def test_a_law_of_one_variable_has_no_frontier(fake_fit):
    from bayes_scaling.errors import SpecError
    from bayes_scaling.inference.model import ScalingModel

    post = fake_fit.idata["posterior"].to_dataset()
    tree = fake_fit.idata.copy()
    tree["posterior"] = post.assign(log_A_ref=post["log_AN_ref"])
    spec = ScalingModel(law="power_law", law_options={"x": "N"}).to_dict()
    fit = bs.ScalingFit(tree, spec_dict=spec, scale=fake_fit.scale, flops_per_param_token=6.0)
    with pytest.raises(SpecError, match="function of N alone"):
        plots.frontier(fit)
    assert plots.slices(fit).axes[0].get_xscale() == "log"


def test_the_new_run_band_names_the_likelihood():
    fit = fabricated_fit(likelihood="outlier_mixture", random_seed=4)
    assert "new run (Gaussian + outliers): 90%" in legend_texts(plots.frontier(fit))
