"""The command line as a user meets it: answers carry the fit's verdict and how far they
extrapolate, arguments are checked before any sampling, and advice names this command's flags."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import build_parser, main
from bayes_scaling.forecast.result import ScalingFit


def _unconverged(fit) -> ScalingFit:
    """The fabricated posterior with its second chain moved: R-hat far above 1.1."""
    tree = fit.idata.copy(deep=True)
    post = tree["posterior"].to_dataset()
    for name in ("alpha", "log_AN_ref"):
        values = post[name].values.copy()
        values[1] *= 1.3
        post[name] = post[name].copy(data=values)
    tree["posterior"] = post
    tree.attrs = {k: v for k, v in tree.attrs.items() if k != "diagnostics"}
    return ScalingFit(tree, spec_dict=fit.spec_dict, scale=fit.scale, flops_per_param_token=fit.flops_per_param_token)


@pytest.fixture
def saved(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    return path


@pytest.fixture
def failed(fake_fit, tmp_path):
    path = tmp_path / "failed.nc"
    _unconverged(fake_fit).save(path)
    return path


@pytest.fixture
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    bs.synthetic.chinchilla_runs(n_configs=30, random_seed=0).to_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if anything reaches the sampler; record the runs a fit was asked for."""
    asked = []

    def fit(runs, *args, **kwargs):
        asked.append(runs)
        raise KeyboardInterrupt  # stands in for the sampler: nothing may be saved

    monkeypatch.setattr(sys.modules["bayes_scaling.forecast.fitting"], "fit", fit)
    return asked


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "{m}", "--params", "70B", "--tokens", "1.4T"],
        ["optimal", "{m}", "--flops", "1e22"],
        ["plan", "{m}", "--flops", "1e22"],
        ["report", "{m}", "--out", "{d}/r.html"],
        ["plot", "{m}", "--out", "{d}/figs"],
    ],
)
def test_answers_from_an_unconverged_fit_are_refused(failed, tmp_path, argv, capsys):
    argv = [a.format(m=failed, d=tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "did not converge" in err and "--accept-unconverged" in err
    assert "accept_unconverged()" not in err  # the CLI's words, not Python's
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "figs").exists()


def test_accepted_unconverged_fit_answers_with_one_warning_line(failed, capsys):
    argv = ["predict", str(failed), "--params", "70B", "1B", "--tokens", "1.4T", "20B", "--accept-unconverged"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "NOT CONVERGED" in warnings[0]
    assert ".py:" not in captured.err  # no Python source lines
    assert "Forecast of a new run's loss" in captured.out


def test_json_and_csv_output_carry_the_verdict(failed, saved, capsys):
    assert main(["optimal", str(failed), "--flops", "1e22", "1e23", "--accept-unconverged", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"]["verdict"] == "NOT CONVERGED" and payload["verdict"]["converged"] is False
    assert [row["flops"] for row in payload["rows"]] == [1e22, 1e23]
    assert {"params_median", "params_lo", "params_hi", "decades_outside"} <= set(payload["rows"][0])
    assert main(["predict", str(saved), "--params", "70B", "--tokens", "1.4T", "--csv"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert table["verdict"].tolist() == ["OK"] and {"loss_median", "loss_lo", "loss_hi"} <= set(table.columns)
    assert main(["summary", str(saved), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"]["ok"] is True and {row["parameter"] for row in payload["rows"]} >= {"alpha", "beta"}


def test_every_answer_table_says_how_far_it_extrapolates(saved, capsys):
    fit = bs.load(saved)
    lo, hi = fit.fitted_compute
    assert main(["optimal", str(saved), "--flops", f"{hi * 100:g}", "1e10"]) == 0
    captured = capsys.readouterr()
    assert "vs fitted compute" in captured.out and "100x beyond" in captured.out and "x below" in captured.out
    assert "warning: answer at 1/" in captured.err and "smallest fitted compute" in captured.err
    assert main(["predict", str(saved), "--params", "1e9", "--tokens", "1e40"]) == 0
    captured = capsys.readouterr()
    assert "x beyond" in captured.out and "largest fitted compute" in captured.err


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--draws", "0", "--draws: must be at least 1"),
        ("--draws", "-5", "--draws got the negative value '-5'"),
        ("--chains", "0", "--chains: must be at least 1"),
        ("--tune", "ten", "--tune: expected a whole number"),
        ("--target-accept", "1", "--target-accept: must be between 0 and 1"),
    ],
)
def test_sampler_arguments_are_checked_before_anything_runs(
    runs_csv, tmp_path, no_sampling, flag, value, message, capsys
):
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(runs_csv), "--out", str(tmp_path / "x.nc"), flag, value])
    assert exc.value.code == 2 and message in capsys.readouterr().err and not no_sampling


def test_counts_take_lower_case_suffixes_and_negative_values_are_named(saved, capsys):
    assert main(["predict", str(saved), "--params", "1b", "--tokens", "20b"]) == 0
    assert "1B" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(saved), "--params", "-1B", "--tokens", "20B"])
    assert exc.value.code == 2
    assert "--params got the negative value '-1B'" in capsys.readouterr().err


def test_output_path_is_checked_before_reading_or_sampling(runs_csv, tmp_path, no_sampling, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["fit", str(runs_csv), "--out", str(blocker / "fit.nc")]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["fit", str(runs_csv), "--out", str(locked / "fit.nc")]) == 1
        assert "not writable" in capsys.readouterr().err
    assert not no_sampling


def test_unknown_law_fails_before_anything_is_printed(runs_csv, tmp_path, capsys):
    assert main(["fit", str(runs_csv), "--out", str(tmp_path / "x.nc"), "--law", "nope"]) == 1
    captured = capsys.readouterr()
    assert "Fitting" not in captured.out and "nope" in captured.err


def test_advice_names_the_flags_of_the_command_line(tmp_path, no_sampling, capsys):
    path = tmp_path / "ppl.csv"
    runs = bs.synthetic.chinchilla_runs(n_configs=30, random_seed=0).to_frame()
    runs.assign(loss=lambda f: 100 * f["loss"]).to_csv(path, index=False)  # percent, not nats
    assert main(["fit", str(path), "--out", str(tmp_path / "x.nc")]) == 1
    err = capsys.readouterr().err
    assert "--no-plausibility" in err and "plausibility=False" not in err
    assert main(["fit", str(path), "--out", str(tmp_path / "x.nc"), "--no-plausibility"]) == 130  # reaches the fit
    assert len(no_sampling) == 1 and "interrupted" in capsys.readouterr().err


def test_mixed_families_advice_is_the_family_flag(tmp_path, capsys):
    path = tmp_path / "two.csv"
    a = bs.synthetic.chinchilla_runs(n_configs=20, random_seed=0).to_frame().assign(family="a")
    b = bs.synthetic.chinchilla_runs(n_configs=20, random_seed=1).to_frame().assign(family="b")
    pd.concat([a, b.assign(run_id=b["run_id"].astype(str) + "b")] if "run_id" in b else [a, b]).to_csv(
        path, index=False
    )
    assert main(["fit", str(path), "--out", str(tmp_path / "x.nc")]) == 1
    err = capsys.readouterr().err
    assert "one law per family" in err and "--family FAMILY" in err and "runs.select" not in err
    assert not (tmp_path / "x.nc").exists()


def test_table_flags_reach_the_fit(runs_csv, tmp_path, no_sampling, capsys):
    frame = pd.read_csv(runs_csv)
    bits = tmp_path / "bits.csv"
    frame.assign(loss=frame["loss"] / 0.6931471805599453).to_csv(bits, index=False)
    main(["fit", str(bits), "--out", str(tmp_path / "x.nc"), "--loss-unit", "bits"])
    assert no_sampling[-1].loss == pytest.approx(frame["loss"].to_numpy())
    cutoff = float(frame["flops"].median())
    main(["fit", str(runs_csv), "--out", str(tmp_path / "x.nc"), "--max-flops", f"{cutoff:g}"])
    assert no_sampling[-1].flops.max() <= cutoff < frame["flops"].max()
    assert "held back" in capsys.readouterr().out


def test_backtest_command_fits_the_past_and_scores_the_future(runs_csv, tmp_path, capsys):
    out = tmp_path / "bt.csv"
    cutoff = float(pd.read_csv(runs_csv)["flops"].quantile(0.7))
    argv = ["backtest", str(runs_csv), "--max-flops", f"{cutoff:g}", "--method", "approach3", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "approach3" in printed and "scoring" in printed
    table = pd.read_csv(out)
    assert (table["flops"] > cutoff).all() and len(table) > 0 and table["method"].eq("approach3").all()
    assert main(argv) == 1  # the table exists: not overwritten
    assert "--overwrite" in capsys.readouterr().err


def test_plot_command_saves_figures(saved, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["plot", str(saved), "--out", str(out), "--figure", "frontier", "compute_optimal"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["compute_optimal.png", "frontier.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in out.iterdir())
    assert main(["plot", str(saved), "--out", str(out), "--figure", "frontier"]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_plan_validates_the_target_in_the_cli_words_and_answers_in_json(saved, capsys):
    assert main(["plan", str(saved), "--target-loss", "50"]) == 1
    err = capsys.readouterr().err
    assert "--target-loss 50 is above every fitted loss" in err and "target_loss=" not in err
    assert main(["plan", str(saved), "--target-loss", "1.0", "--json"]) == 0  # below the floor: never reached
    payload = json.loads(capsys.readouterr().out)  # standard JSON: no Infinity
    assert payload["verdict"]["verdict"] == "OK" and payload["target"]["flops"] is None
    assert payload["target"]["share_floor_above_target"] > 0.9 and payload["lines"]


def test_each_warning_prints_once_without_python_source(capsys):
    import warnings

    from bayes_scaling.cli.words import cli_warnings

    with cli_warnings():
        for _ in range(3):
            warnings.warn(
                "sampling diagnostics failed:\n  - R-hat > 1.01 for ['alpha']", bs.SamplingWarning, stacklevel=1
            )
    err = capsys.readouterr().err
    assert err.count("warning: sampling diagnostics failed") == 1 and "  - R-hat" in err
    assert "warnings.warn" not in err and ".py:" not in err


def test_every_flag_the_advice_names_exists():
    from bayes_scaling.cli.words import ANSWER_FLAGS, FLAGS

    parser = build_parser()
    known = {
        opt
        for sub in parser._subparsers._group_actions
        for p in sub.choices.values()
        for a in p._actions
        for opt in a.option_strings
    }
    named = {flag.split()[0] for flag in [*FLAGS.values(), *ANSWER_FLAGS.values()] if flag}
    assert named <= known, f"advice names flags no command has: {sorted(named - known)}"


def test_optional_columns_can_be_switched_off_from_the_command_line(runs_csv, tmp_path, no_sampling):
    frame = pd.read_csv(runs_csv)
    off = tmp_path / "off.csv"
    frame.assign(flops=frame["flops"] * 1e-9).to_csv(off, index=False)  # GFLOPs: 1e9x below k N D
    assert main(["fit", str(off), "--out", str(tmp_path / "x.nc"), "--flops-col", "none"]) == 130  # reaches the fit
    fitted = no_sampling[-1]
    assert fitted.flops == pytest.approx(6 * fitted.params * fitted.tokens)
