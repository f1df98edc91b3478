"""The newer laws (issue 25): ParScale, the average parameter count, repeated-data utility and
encoder-decoder scaling. Each law's sampled coordinates against the paper's formula on numpy and
pytensor, its inputs' defaults and checks, and what it reports. Parameter recovery is in
tests/laws/test_forms.py (the cases in tests/form_cases.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import bayes_scaling as bs
from bayes_scaling import laws
from bayes_scaling.errors import RunsValidationError
from bayes_scaling.laws import DataScale
from bayes_scaling.laws.encoder_decoder import encoder_decoder_loss
from bayes_scaling.laws.parallel import PARSCALE_PUBLISHED, parscale_loss

SCALE = DataScale(float(np.log(7e8)), float(np.log(2e10)), 1.8, 2.4, float(np.log(7e8)))


def _theta_for(law, reported: dict, scale: DataScale, start: dict) -> dict:
    """Sampled coordinates whose reported values are ``reported`` (solved numerically from a
    start, so the test does not repeat the law's own inverse)."""
    from scipy.optimize import least_squares

    names = list(law.parameters)

    def residual(x):
        got = law.reported_values(dict(zip(names, x, strict=True)), scale)
        return [np.log(got[k]) - np.log(v) for k, v in reported.items()]

    x = least_squares(residual, [start[k] for k in names], xtol=1e-14, ftol=1e-14).x
    return dict(zip(names, x, strict=True))


def _both(law, theta, log_n, log_d, inputs):
    """The law's loss on numpy and through a compiled pytensor graph."""
    on_numpy = np.exp(law.log_loss(theta, log_n, log_d, SCALE, inputs))
    sym = {k: pt.scalar(k) for k in theta}
    x_n, x_d = pt.vector("n"), pt.vector("d")
    x_in = {k: pt.vector(k + "_in") for k in inputs}
    graph = law.log_loss(sym, x_n, x_d, SCALE, x_in)
    fn = pytensor.function([*sym.values(), x_n, x_d, *x_in.values()], pt.exp(graph))
    on_pytensor = fn(*theta.values(), log_n, log_d, *inputs.values())
    return on_numpy, on_pytensor


# --------------------------------------------------------------------------- ParScale
def test_parscale_published_fit_gives_the_papers_losses():
    """The authors' fit (their parametric_fit.py, refitted) against a few of their losses: 2.8B
    non-embedding parameters at P = 1, 2, 4, 8 on Stack-V2-Python and the Pile (R^2 0.998-0.999)."""
    n = np.array([2774773760, 2784937986, 2795100164, 2815424520])
    p = np.array([1, 2, 4, 8])
    stack = np.array([1.0451, 1.0244, 1.0126, 1.0016])
    pile = np.array([1.8876, 1.861, 1.8394, 1.8218])
    assert np.allclose(parscale_loss(n, p, **PARSCALE_PUBLISHED["stack_v2_python"]), stack, rtol=0.01)
    assert np.allclose(parscale_loss(n, p, **PARSCALE_PUBLISHED["pile"]), pile, rtol=0.01)
    # and each law's own ordering: more streams, lower loss
    assert np.all(np.diff(parscale_loss(n, p, **PARSCALE_PUBLISHED["pile"])) < 0)


def test_parscale_sampled_coordinates_are_the_papers_law():
    law = bs.get_law("parscale")
    truth = PARSCALE_PUBLISHED["pile"]
    theta = _theta_for(law, truth, SCALE, {"log_loss_ref": 0.6, "log_slope": -2.7, "e_share": 0.6, "k": 0.3})
    n = np.geomspace(1e8, 1e11, 7)
    streams = np.array([1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 1.0])
    expected = parscale_loss(n, streams, **truth)
    on_numpy, on_pytensor = _both(
        law, theta, np.log(n), np.log(np.full(7, 4.2e10)), {"parallel_streams": np.log(streams)}
    )
    assert np.allclose(on_numpy, expected, rtol=1e-9) and np.allclose(on_pytensor, expected, rtol=1e-6)
    # without the column a forecast is of one stream
    one = np.exp(law.log_loss(theta, np.log(n), np.log(np.full(7, 4.2e10)), SCALE))
    assert np.allclose(one, parscale_loss(n, 1.0, **truth), rtol=1e-9)
    # D does not enter, and the law has no allocation
    assert np.allclose(np.exp(law.log_loss(theta, np.log(n), np.log(np.full(7, 1e9)), SCALE)), one)
    assert law.allocation_kind == "not_applicable" and law.axes == ("N",)
    derived = law.derived(law.reported_values(theta, SCALE))
    assert derived["gain_P8"] == pytest.approx(1 + truth["k"] * np.log(8), rel=1e-9)


def test_parallel_streams_are_checked_and_needed():
    frame = pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": 1e10, "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(RunsValidationError, match=r"'P' counts parallel streams.*below 1 at row 1"):
        bs.Runs.from_frame(frame.assign(P=[1, 0.5, 2]), parallel_streams="P")
    runs = bs.Runs.from_frame(frame.assign(parallel_streams=[1, 1, 1]))
    with pytest.raises(RunsValidationError, match="needs 2 or more distinct values of 'parallel_streams'"):
        runs.check_fittable(4, "parscale", ("N",), ("parallel_streams",))
    with pytest.raises(RunsValidationError, match="needs the number of parallel streams"):
        bs.Runs.from_frame(frame).check_fittable(4, "parscale", ("N",), ("parallel_streams",))


# --------------------------------------------------------------------------- average N
def test_average_n_law_is_chinchilla_in_the_average_count():
    law = bs.get_law("chinchilla_average_n")
    ch = bs.get_law("chinchilla")
    theta = {"E": 1.7, "log_AN_ref": -0.5, "log_BD_ref": -0.7, "alpha": 0.34, "beta": 0.28}
    n, d = np.geomspace(1e8, 1e10, 5), np.geomspace(1e9, 1e12, 5)
    avg = 0.6 * n
    on_numpy, on_pytensor = _both(law, theta, np.log(n), np.log(d), {"average_params": np.log(avg)})
    expected = np.exp(ch.log_loss(theta, np.log(avg), np.log(d), SCALE))
    assert np.allclose(on_numpy, expected, rtol=1e-12) and np.allclose(on_pytensor, expected, rtol=1e-6)
    # a dense run (no average given) is Chinchilla's, and so is the allocation
    dense = np.exp(law.log_loss(theta, np.log(n), np.log(d), SCALE))
    assert np.allclose(dense, np.exp(ch.log_loss(theta, np.log(n), np.log(d), SCALE)), rtol=1e-12)
    reported = law.reported_values(theta, SCALE)
    assert law.optimal_params(reported, 1e22, 6.0) == pytest.approx(ch.optimal_params(reported, 1e22, 6.0))


# --------------------------------------------------------------------------- data utility
def _utility_by_epochs(d, u, half_life):
    """log D' summed epoch by epoch, as Goyal et al. compound the utility over passes."""
    out = []
    for di in np.atleast_1d(d):
        ud = min(u, di)
        total, j, r = np.log(ud), 1, di / ud
        while j < r:
            total += 2.0 ** (-j / half_life) * np.log(min(r, j + 1) / j)
            j += 1
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("half_life", [0.7, 5.0, 60.0, 2000.0])
def test_repeated_data_utility_matches_the_epoch_by_epoch_sum(half_life):
    u = 1e9
    d = np.array([3e8, 1e9, 1.7e9, 2e9, 12.5e9, 40e9, 333e9, 9e12])  # up to 9000 epochs
    got = laws.repeated_data_log_tokens(np.log(d), np.full(d.size, np.log(u)), half_life)
    # blocks of epochs above 32 are summed in one piece: 1e-3 of log D' at most
    assert np.allclose(got, _utility_by_epochs(d, u, half_life), rtol=0, atol=1e-3)
    assert np.allclose(got[:2], np.log(np.minimum(d[:2], u)))  # no repetition: D' = D
    assert np.all(np.diff(got) >= 0)  # more tokens are never worth less
    x, t = pt.vector(), pt.scalar()
    fn = pytensor.function([x, t], laws.repeated_data_log_tokens(x, pt.as_tensor(np.full(d.size, np.log(u))), t))
    assert np.allclose(fn(np.log(d), half_life), got, rtol=1e-9)


def test_data_utility_is_chinchilla_on_unique_data_and_discounts_repeats():
    law = bs.get_law("data_utility")
    ch = bs.get_law("chinchilla")
    theta = {
        "E": 1.7,
        "log_AN_ref": -0.5,
        "log_BD_ref": -0.7,
        "alpha": 0.34,
        "beta": 0.28,
        "log_half_life": np.log(5.0),
    }
    n, d = np.full(4, 1e9), np.array([1e10, 2e10, 4e10, 1.6e11])
    unique = np.log(np.full(4, 1e10))
    repeated = np.exp(law.log_loss(theta, np.log(n), np.log(d), SCALE, {"unique_tokens": unique}))
    fresh = np.exp(ch.log_loss(theta, np.log(n), np.log(d), SCALE))
    assert repeated[0] == pytest.approx(fresh[0], rel=1e-12)  # one epoch
    assert np.all(repeated[1:] > fresh[1:]) and np.all(np.diff(repeated) < 0)  # repeats help, less
    on_numpy, on_pytensor = _both(law, theta, np.log(n), np.log(d), {"unique_tokens": unique})
    assert np.allclose(on_pytensor, on_numpy, rtol=1e-6)


# --------------------------------------------------------------------------- encoder-decoder
def test_encoder_decoder_is_the_papers_product_of_power_laws():
    law = bs.get_law("encoder_decoder")
    truth = {"alpha": 1.2, "p_e": 0.2, "p_d": 0.3, "L_inf": 1.0}
    theta = _theta_for(law, truth, SCALE, {"log_alpha_ref": 0.0, "p_e": 0.25, "p_d": 0.25, "L_inf": 1.2})
    n = np.geomspace(5e7, 5e9, 6)
    share = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.75])
    expected = encoder_decoder_loss(share * n, (1 - share) * n, 1.2, 0.2, 0.3, 1.0, 1e8, 1e8)
    on_numpy, on_pytensor = _both(law, theta, np.log(n), np.log(np.full(6, 1e10)), {"encoder_share": np.log(share)})
    assert np.allclose(on_numpy, expected, rtol=1e-9) and np.allclose(on_pytensor, expected, rtol=1e-6)
    # the best split: the loss at a fixed N is least at p_e / (p_e + p_d) = 0.4
    grid = np.linspace(0.05, 0.95, 901)
    loss = np.exp(
        law.log_loss(
            theta,
            np.log(np.full(grid.size, 1e9)),
            np.log(np.full(grid.size, 1e10)),
            SCALE,
            {"encoder_share": np.log(grid)},
        )
    )
    assert grid[np.argmin(loss)] == pytest.approx(law.derived(truth)["encoder_share_opt"], abs=1e-3)
    assert law.derived(truth)["encoder_share_opt"] == pytest.approx(0.4)


def test_encoder_share_must_be_a_share():
    frame = pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": 1e10, "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(RunsValidationError, match=r"encoder's share.*1 or more at row 2"):
        bs.Runs.from_frame(frame.assign(encoder_share=[0.5, 0.5, 1.5]))


# --------------------------------------------------------------------------- inputs in general
def test_an_input_makes_configurations_and_reaches_a_forecast():
    """Runs that differ only in P are two configurations, and a saved fit forecasts at any P."""
    frame = pd.DataFrame(
        {"params": [1e8, 1e8, 2e8], "tokens": 1e10, "loss": [3.0, 2.9, 2.8], "parallel_streams": [1, 4, 1]}
    )
    runs = bs.Runs.from_frame(frame)
    assert len(runs.configs) == 3
    assert np.allclose(np.exp(runs.law_inputs(["parallel_streams"])["parallel_streams"]), [1, 4, 1])
    # a blank takes the default of one stream; the average count, the run's own N
    blank = bs.Runs.from_frame(frame.assign(parallel_streams=[1, None, 2], average_params=[5e7, None, None]))
    assert np.allclose(blank.input_columns()["parallel_streams"], [1, 1, 2])
    assert np.allclose(blank.input_columns()["average_params"], [5e7, 1e8, 2e8])
    assert np.allclose(np.exp(blank.law_inputs(["encoder_share"])["encoder_share"]), 0.5)
    # a blank is its default: the same configuration as the default given (seeds pooled)
    seeds = bs.Runs.from_frame(
        pd.DataFrame({"params": 1e8, "tokens": 1e10, "loss": [3.0, 3.1, 3.05], "parallel_streams": [1, None, 1]})
    )
    assert len(seeds.configs) == 1 and seeds.configs["n_seeds"].iloc[0] == 3


def test_impossible_inputs_are_refused_in_tables_and_forecasts(fake_fit):
    frame = pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": 1e10, "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(RunsValidationError, match=r"averaged over training, so it cannot exceed N.*row 2"):
        bs.Runs.from_frame(frame.assign(average_params=[5e7, 2e8, 8e8]))
    with pytest.raises(RunsValidationError) as err:  # zero streams: said once, as not positive
        bs.Runs.from_frame(frame.assign(parallel_streams=[1, 0, 2]))
    assert len(err.value.problems) == 1 and "> 0" in err.value.problems[0]
    # a forecast at an impossible input is refused, not answered with inf or NaN
    with pytest.raises(bs.SpecError, match="input 'encoder_share' is the encoder's share"):
        fake_fit.predict(1e9, 1e10, encoder_share=1.0)
    with pytest.raises(bs.SpecError, match="input 'parallel_streams' counts parallel streams"):
        fake_fit.predict([1e9, 2e9], 1e10, parallel_streams=[1, 0.5])
    # a forecast keeps the inputs it was asked at, broadcast to its points
    frame = fake_fit.predict([1e9, 2e9], 1e10, unique_tokens=5e9).to_frame()
    assert list(frame.columns[:3]) == ["params", "tokens", "unique_tokens"]
    assert np.allclose(frame["unique_tokens"], 5e9)


def test_repeated_data_utility_keeps_memory_and_dtype_per_draw():
    """Per-draw half-lives against many points: (draws, points), no (draws, points, blocks) array,
    in the callers' precision."""
    half_life = np.array([[3.0], [5.0], [40.0]])
    log_d = np.log(np.geomspace(1e9, 1e12, 200, dtype=np.float32))[None, :]
    log_u = np.full_like(log_d, np.log(1e9))
    out = laws.repeated_data_log_tokens(log_d, log_u, half_life)
    assert out.shape == (3, 200) and out.dtype == np.float32
    for row, hl in zip(out, half_life[:, 0], strict=True):
        assert np.allclose(
            row, laws.repeated_data_log_tokens(log_d[0].astype(float), log_u[0].astype(float), hl), atol=1e-4
        )


@pytest.mark.parametrize("name", ["parscale", "chinchilla_average_n", "data_utility", "encoder_decoder"])
def test_the_report_typesets_each_law_and_the_terminal_reads_it(name):
    """The report draws the formula (no fallback to raw LaTeX) and the terminal prints it plainly."""
    from bayes_scaling.viz.typeset import formula_svg, plain_text

    law = bs.get_law(name)
    for tex in filter(None, [law.formula, law.allocation]):
        assert str(formula_svg(tex)).startswith("<svg"), tex
        assert "\\" not in plain_text(tex), plain_text(tex)
    expected = {"parscale": "not_applicable", "encoder_decoder": "not_applicable", "data_utility": "numerical"}
    assert law.allocation_kind == expected.get(name, "closed_form")
    assert all(law.meaning(p) for p in (*law.reported, *law.parameters)), name
