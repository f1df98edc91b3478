"""The bayes-scaling command, run in-process (fast) and, for the demo, as a user would (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.viz.typeset import plain_text


@pytest.fixture
def saved(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    return path


def test_predict_prints_a_readable_table(saved, capsys):
    assert main(["predict", str(saved), "--params", "70B", "--tokens", "1.4e12"]) == 0
    out = capsys.readouterr().out
    assert "Forecast of a new run's loss" in out and "90% interval" in out
    assert "70B" in out and "1.4T" in out and "5.88e23" in out


def test_predict_several_points_and_mean_kind(saved, capsys):
    assert main(["predict", str(saved), "--params", "1e9", "7e10", "--tokens", "2e10", "1.4T", "--kind", "mean"]) == 0
    out = capsys.readouterr().out
    assert "expected loss" in out and out.count("\n") >= 4


def test_optimal_prints_budgets(saved, capsys):
    assert main(["optimal", str(saved), "--flops", "1e24", "1e25", "--prob", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "1e24" in out and "1e25" in out and "80% interval" in out and "tokens/param" in out
    rule = plain_text(bs.get_law("chinchilla").allocation)
    assert f"Compute-optimal allocation of the chinchilla law: {rule}" in out and "\\" not in rule  # no raw LaTeX


def test_summary_prints_parameters_and_verdict(saved, capsys):
    assert main(["summary", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "Diagnostics:" in out
    law, noise = bs.get_law("chinchilla"), bs.load(saved).noise
    assert f"Law: chinchilla, {plain_text(law.formula)}" in out and f"Noise: {noise.describe()}" in out
    assert "\\alpha" not in out  # terminals get plain text, not LaTeX
    assert f"Compute-optimal allocation: {plain_text(law.allocation)}" in out


def test_exact_loo_is_for_curve_fits(saved, capsys):
    for extra in ([], ["--json"]):
        assert main(["summary", str(saved), "--exact-loo", *extra]) != 0
        err = capsys.readouterr().err
        assert "--exact-loo is for curve fits" in err and "Traceback" not in err


def test_likelihood_choices_come_from_the_registry(capsys):
    from bayes_scaling.cli import build_parser
    from bayes_scaling.noise import available_likelihoods

    fit_parser = build_parser()._subparsers._group_actions[0].choices["fit"]
    likelihood = next(a for a in fit_parser._actions if a.dest == "likelihood")
    assert likelihood.choices == available_likelihoods() and likelihood.default in likelihood.choices
    with pytest.raises(SystemExit):
        main(["fit", "runs.csv", "--out", "x.nc", "--likelihood", "cauchy"])
    assert "invalid choice: 'cauchy'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "missing.nc", "--params", "1e9", "--tokens", "1e10"], "no saved fit at 'missing.nc'"),
        (["fit", "missing.csv", "--out", "x.nc"], "no runs file at 'missing.csv'"),
    ],
)
def test_errors_are_one_line_and_exit_nonzero(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the runs table has 1 problem") or err.startswith(f"error: {message}")
    assert message in err and "Traceback" not in err and "--debug" in err


def test_fit_refuses_a_bad_target_accept_before_sampling(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0).to_frame().to_csv(runs, index=False)
    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "run_nuts", _no_sampling)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(runs), "--out", str(tmp_path / "x.nc"), "--target-accept", "1.5"])
    assert exc.value.code == 2
    assert "--target-accept: must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def _no_sampling(**kwargs):
    raise AssertionError("sampled despite a bad setting")


def test_bad_runs_csv_lists_every_problem(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss\n1e9,2e10,2.5\nseven,2e10,2.4\n1e9,-5,2.3\n1e9,3e10,\n")
    assert main(["fit", str(path), "--out", str(tmp_path / "x.nc")]) == 1
    err = capsys.readouterr().err
    assert "3 problems" in err and "'params'" in err and "'tokens'" in err and "'loss'" in err
    assert not (tmp_path / "x.nc").exists()


def test_fit_refuses_existing_output_before_sampling(saved, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    from bayes_scaling.data.synthetic import chinchilla_runs

    chinchilla_runs(n_configs=40).to_frame().to_csv(runs, index=False)
    before = saved.read_bytes()
    assert main(["fit", str(runs), "--out", str(saved)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert saved.read_bytes() == before


def test_unparseable_count_is_an_argparse_error(saved, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(saved), "--params", "lots", "--tokens", "1e10"])
    assert exc.value.code == 2
    assert "cannot read 'lots'" in capsys.readouterr().err


def test_debug_shows_traceback():
    with pytest.raises(Exception, match="no saved fit"):
        main(["--debug", "predict", "missing.nc", "--params", "1e9", "--tokens", "1e10"])


@pytest.mark.slow
def test_demo_end_to_end_as_a_user_runs_it(tmp_path):
    out = tmp_path / "demo.nc"
    proc = subprocess.run(
        [sys.executable, "-m", "bayes_scaling.cli", "demo", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Diagnostics: OK" in text
    assert "Chinchilla (70B, 1.4T)" in text and "Compute-optimal allocation" in text
    assert "5.76e23" in text and "true N*, D*" in text
    assert out.is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "bayes_scaling.cli", "optimal", str(out), "--flops", "1e24"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "1e24" in proc.stdout


def test_ctrl_c_during_sampling_writes_nothing(tmp_path, monkeypatch, capsys):
    import sys

    from bayes_scaling.data.synthetic import chinchilla_runs

    fit_module = sys.modules["bayes_scaling.forecast.fitting"]  # the attribute bayes_scaling.fit is the function
    runs = tmp_path / "runs.csv"
    chinchilla_runs(n_configs=40).to_frame().to_csv(runs, index=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "fit", interrupted)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(runs), "--out", str(out)]) == 130
    assert "interrupted; nothing was saved" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_corrupted_model_file_is_one_line_error(saved, capsys):
    data = saved.read_bytes()
    saved.write_bytes(data[:1000])
    assert main(["optimal", str(saved), "--flops", "1e24"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a readable netCDF file" in err and "Traceback" not in err


def test_plan_answers_budget_and_target(saved, capsys):
    assert main(["plan", str(saved), "--target-loss", "1.95", "--flops", "3e23"]) == 0
    out = capsys.readouterr().out
    assert "Compute for one compute-optimal training run to reach 1.95 nats with probability 90%" in out
    assert "Compute at which the expected loss" in out and "irreducible loss" in out
    assert "Allocation of 3e23 FLOPs" in out and "split to minimise the expected loss" in out
    assert "CVaR 90%" in out and "P(a compute-optimal run at 3e23 FLOPs beats 1.95)" in out
    assert "0.0001 vs 0.0001" not in out


def test_plan_without_a_question_is_an_error(saved, capsys):
    assert main(["plan", str(saved)]) == 1
    assert "--target-loss" in capsys.readouterr().err


def test_fit_refuses_a_bad_output_name_before_sampling(tmp_path, monkeypatch, capsys):
    import sys

    from bayes_scaling.data.synthetic import chinchilla_runs

    runs = tmp_path / "runs.csv"
    chinchilla_runs(n_configs=40).to_frame().to_csv(runs, index=False)
    called = []
    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", lambda *a, **k: called.append(1))
    assert main(["fit", str(runs), "--out", str(tmp_path / "model.netcdf")]) == 1
    assert "'.nc'" in capsys.readouterr().err and not called


def test_fit_near_optimum_and_allocation_drift_reach_the_fit(tmp_path, monkeypatch, capsys):
    """--near-optimum selects the runs before fitting, --allocation-drift sets lambda; both
    checked without sampling (the fit is intercepted with the arguments it was given)."""
    runs = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=40, random_seed=0).to_frame().to_csv(runs, index=False)
    seen = {}

    def fake_fit(runs, law, **kwargs):
        seen.update(kwargs, n=len(runs))
        raise SystemExit(0)

    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", fake_fit)
    with pytest.raises(SystemExit):
        main(["fit", str(runs), "--out", str(tmp_path / "x.nc"), "--near-optimum", "0.02", "--allocation-drift", "0.2"])
    out = capsys.readouterr().out
    assert "--near-optimum 0.02: fitting the" in out and "within 2% of their budget's best loss" in out
    expected = len(bs.Runs.from_csv(runs).select(near_optimum=0.02))
    assert seen["allocation_sd"] == 0.2 and seen["n"] == expected < len(bs.Runs.from_csv(runs))


def test_answers_take_another_allocation_drift(saved, capsys):
    assert main(["optimal", str(saved), "--flops", "1e25", "--allocation-drift", "0", "--csv"]) == 0
    narrow = capsys.readouterr().out
    assert main(["optimal", str(saved), "--flops", "1e25", "--allocation-drift", "0.3", "--csv"]) == 0
    wide = capsys.readouterr().out
    import io

    import pandas as pd

    spread = [
        float(np.log10(t["params_hi"] / t["params_lo"]).iloc[0])
        for t in (pd.read_csv(io.StringIO(x), comment="#") for x in (narrow, wide))
    ]
    assert spread[1] > spread[0] + 0.5  # 0.3 dex per decade, 4 decades beyond the demo's data


def test_a_bad_allocation_drift_is_named_as_the_flag(saved, capsys):
    assert main(["optimal", str(saved), "--flops", "1e25", "--allocation-drift", "2"]) == 1
    err = capsys.readouterr().err
    assert "the allocation drift must be a number in [0, 1)" in err and "--allocation-drift 0.06" in err
    assert "allocation_sd" not in err


def test_report_with_other_laws(saved, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(saved), "--out", str(out), "--laws", str(saved)]) == 0
    html = out.read_text()
    assert "Compute-optimal N* under each law" in html and "largest / smallest median" in html


def test_near_optimum_takes_a_fraction(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0).to_frame().to_csv(runs, index=False)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(runs), "--out", str(tmp_path / "x.nc"), "--near-optimum", "15"])
    assert exc.value.code == 2
    assert (
        "--near-optimum: must be a fraction above 0 and below 1 (0.1 = within 10%), got 15" in capsys.readouterr().err
    )


def test_fit_with_own_drift_saves_the_drift_the_runs_support(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=40, random_seed=0).to_frame().to_csv(runs, index=False)
    out = tmp_path / "own.nc"
    args = ["fit", str(runs), "--out", str(out), "--own-drift", "--draws", "200", "--tune", "200", "--chains", "2"]
    assert main([*args, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "--own-drift: refitting on the runs below an internal compute cutoff" in printed
    line = next(x for x in printed.splitlines() if x.startswith("Own drift: drift kappa "))
    fit = bs.load(out)
    spec = fit.spec  # the forecast's sd and expected drift, as the line says
    assert f"sd {spec.extrapolation_sd:.4f}" in line and f"drift of {spec.extrapolation_mean:+.4f}" in line
    from bayes_scaling.evaluation.drift import drift_note

    assert drift_note(fit) == line.removeprefix("Own drift: ")


def test_own_drift_and_a_set_drift_conflict_before_sampling(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0).to_frame().to_csv(runs, index=False)
    for flag in ("--extrapolation-drift", "--allocation-drift"):
        assert main(["fit", str(runs), "--out", str(tmp_path / "x.nc"), "--own-drift", flag, "0.01"]) == 1
        assert f"--own-drift sizes the drifts from the runs and {flag} sets one" in capsys.readouterr().err


def test_own_drift_on_one_budget_is_refused_before_sampling_in_the_commands_words(tmp_path, capsys):
    import pandas as pd

    n = np.geomspace(1e7, 1e9, 12)
    frame = pd.DataFrame({"params": n, "tokens": 1e19 / (6 * n), "loss": 3.0 + 0.1 * np.log(n / 1e8) ** 2})
    runs = tmp_path / "runs.csv"
    frame.to_csv(runs, index=False)
    assert main(["fit", str(runs), "--out", str(tmp_path / "x.nc"), "--own-drift"]) == 1
    printed = capsys.readouterr()
    assert "Fitting law" not in printed.out  # refused before sampling
    err = printed.err
    assert "the drift cannot be calibrated on these runs" in err and "without --own-drift" in err
    assert "calibrate_drift" not in err
    assert not (tmp_path / "x.nc").exists()


def test_a_law_with_an_input_column_fits_predicts_and_reports(tmp_path, capsys):
    """ParScale from the command line: the streams column under another name (--input-col),
    forecasts at other stream counts (--input), the report with its formula and no allocation;
    and the refusals, in the command's words."""

    from bayes_scaling.laws.parallel import PARSCALE_PUBLISHED, parscale_loss

    pile = PARSCALE_PUBLISHED["pile"]
    n, p = np.meshgrid(np.geomspace(5e8, 4.4e9, 6), [1.0, 2.0, 4.0, 8.0])
    runs = bs.synthetic.runs_from_law(
        lambda n, d, parallel_streams: parscale_loss(n, parallel_streams, **pile),
        n.ravel(),
        42e9,
        inputs={"parallel_streams": p.ravel()},
        random_seed=0,
    )
    table = tmp_path / "runs.csv"
    runs.to_frame().rename(columns={"parallel_streams": "P"}).to_csv(table, index=False)
    out = tmp_path / "par.nc"
    fit_args = ["fit", str(table), "--law", "parscale", "--out", str(out), "--quiet"]
    assert main(fit_args) == 1  # the column under another name: not found, and said how to name it
    err = capsys.readouterr().err
    assert "--input-col parallel_streams=COLUMN" in err and "Runs.from_frame" not in err
    assert main([*fit_args, "--input-col", "parallel_streams=P", "--draws", "300", "--tune", "300"]) == 0
    capsys.readouterr()

    predict = ["predict", str(out), "--params", "4.4B", "--tokens", "42B", "--input", "parallel_streams=1,8"]
    assert main(predict) == 0
    printed = capsys.readouterr().out
    assert "parallel_streams" in printed.splitlines()[1]  # a column of the table
    assert main([*predict, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["parallel_streams"] for r in rows] == [1, 8]
    assert rows[1]["loss_median"] < rows[0]["loss_median"]  # the same backbone with 8 streams is forecast lower
    assert main([*predict[:-1], "encoder_share=0"]) == 1
    assert "--input encoder_share=0: each value must be a positive number" in capsys.readouterr().err
    assert main(["predict", str(out), "--params", "4.4B", "--tokens", "42B", "--input", "unique_tokens=1B"]) == 1
    assert "the parscale law does not read it" in capsys.readouterr().err

    report = tmp_path / "par.html"
    assert main(["report", str(out), "--out", str(report)]) == 0
    html = report.read_text()
    assert (
        "parscale" in html and "Not applicable: the parscale law is a function of N and parallel_streams alone" in html
    )
