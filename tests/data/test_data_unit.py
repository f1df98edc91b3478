"""Observations -> runs -> configurations (bayes_scaling.data.runs): final-checkpoint tables are
one observation per run; checkpoint tables keep their runs together."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.evaluation.holdout import ComputeCutoff, LargestSizes, split

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _loss(n, d):
    return HOFFMANN["E"] + HOFFMANN["A"] * n ** -HOFFMANN["alpha"] + HOFFMANN["B"] * d ** -HOFFMANN["beta"]


def _checkpoint_frame(seeds=1, steps=6, shuffle=True):
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate([1e8, 2e8, 4e8, 8e8, 1.6e9]):
        for seed in range(seeds):
            for s, d in enumerate(np.geomspace(1e9, 40 * n, steps)):
                loss = _loss(n, d) * np.exp(0.004 * rng.standard_normal())
                rows.append(
                    {
                        "run_id": f"n{i}-s{seed}",
                        "seed": seed,
                        "step": 1000 * (s + 1),
                        "params": n,
                        "tokens": d,
                        "loss": loss,
                    }
                )
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True) if shuffle else frame


def test_a_final_checkpoint_table_is_one_observation_per_run():
    runs = bs.synthetic.chinchilla_runs(n_configs=30, random_seed=1)
    assert runs.n_runs == len(runs) and not runs.has_checkpoints
    assert runs.final() is runs
    assert np.array_equal(runs.run_index, np.arange(len(runs)))
    # replicate seeds are distinct runs of one configuration
    assert len(runs.configs) < runs.n_runs == runs.configs["n_seeds"].sum()


def test_checkpoints_belong_to_their_run_and_final_is_the_last_step():
    frame = _checkpoint_frame(seeds=2)
    runs = bs.Runs.from_frame(frame)
    assert runs.has_checkpoints and runs.n_runs == 10 and len(runs) == 60
    table = runs.run_table
    assert (table["n_observations"] == 6).all()
    last = frame.loc[frame.groupby("run_id")["step"].idxmax()].set_index("run_id")
    for _, run in table.iterrows():
        assert run["tokens"] == pytest.approx(last.loc[run["run_id"], "tokens"])
        assert run["loss"] == pytest.approx(last.loc[run["run_id"], "loss"])
    final = runs.final()
    assert len(final) == final.n_runs == 10 and not final.has_checkpoints
    # two seeds of a run at the same D form one configuration
    assert len(runs.configs) == 30 and (runs.configs["n_seeds"] == 2).all()
    assert "60 observations of 10 runs" in repr(runs)


def test_rows_without_a_run_id_are_runs_of_their_own():
    frame = _checkpoint_frame(shuffle=False)
    frame.loc[:5, "run_id"] = None
    runs = bs.Runs.from_frame(frame)
    assert runs.n_runs == 6 + 4  # six anonymous rows, four named runs
    assert (runs.run_table["run_id"] == "").sum() == 6


def test_a_run_that_changes_size_is_an_input_error_naming_the_rows():
    frame = _checkpoint_frame(shuffle=False)
    frame.loc[2, "params"] = 3e8
    with pytest.raises(bs.RunsValidationError, match=r"run_id'.*different model sizes.*rows 0, 1, 2, 3, 4, 5"):
        bs.Runs.from_frame(frame)


def test_a_compute_cutoff_holds_out_whole_runs():
    runs = bs.Runs.from_frame(_checkpoint_frame())
    cutoff = float(np.median(runs.run_table["flops"]))
    train, test = split(runs, ComputeCutoff(cutoff))
    # no checkpoint of a held-out run is fitted, even the early ones below the cutoff
    assert set(train.run_table["run_id"]).isdisjoint(test.run_table["run_id"])
    assert (train.run_table["flops"] <= cutoff).all() and (test.run_table["flops"] > cutoff).all()
    assert (test.flops <= cutoff).any()  # early checkpoints of held-out runs sit below the cutoff
    assert len(train) + len(test) == len(runs)
    # and the size rule never splits a run either
    train, test = split(runs, LargestSizes(2))
    assert set(train.run_table["run_id"]).isdisjoint(test.run_table["run_id"])


def test_a_fit_of_a_checkpoint_table_keeps_its_runs_through_save_and_load(tmp_path):
    """With a law that reads whole curves (``reads_curves``); a law of the final loss is fitted
    to the final checkpoints (tests/forecast/test_fit.py)."""
    import dataclasses

    from bayes_scaling.laws import registry

    curves = dataclasses.replace(bs.get_law("chinchilla"), name="test_data_unit_curves")
    object.__setattr__(curves, "reads_curves", True)
    runs = bs.Runs.from_frame(_checkpoint_frame(steps=8))
    try:
        with warnings.catch_warnings():  # about the data's path, not convergence (100 draws)
            warnings.simplefilter("ignore", bs.SamplingWarning)
            fit = bs.fit(runs, curves, draws=100, tune=150, chains=2, random_seed=0, progressbar=False, cores=1)
        assert fit.n_configs == len(runs.configs) == 40  # every checkpoint is an observation of the law
        fit.save(tmp_path / "ckpt.nc")
        loaded = bs.load(tmp_path / "ckpt.nc").runs
    finally:
        registry._REGISTRY.pop("test_data_unit_curves", None)
    assert loaded.n_runs == 5 and loaded.has_checkpoints
    pd.testing.assert_frame_equal(loaded.run_table, runs.run_table, check_dtype=False)


def test_law_inputs_reach_the_law_per_configuration_with_their_default():
    frame = _checkpoint_frame(shuffle=False).assign(unique_tokens=np.nan)
    frame.loc[:2, "unique_tokens"] = 5e8
    runs = bs.Runs.from_frame(frame)
    logs = runs.law_inputs(["unique_tokens"])["unique_tokens"]
    configs = runs.configs
    assert configs["unique_tokens"].notna().all()  # a blank is its default, U = D
    given = ~np.isclose(configs["unique_tokens"], configs["tokens"])
    assert given.sum() == 3
    np.testing.assert_allclose(logs[given], np.log(5e8))
    np.testing.assert_allclose(logs[~given], np.log(configs["tokens"].to_numpy()[~given]))  # U = D


def test_a_forecast_input_no_law_reads_is_an_error_naming_the_inputs():
    from bayes_scaling.testing import fabricated_fit

    fit = fabricated_fit()
    with pytest.raises(bs.SpecError, match=r"unknown forecast input\(s\) \['unique_tokenz'\].*unique_tokens"):
        fit.predict(1e9, 2e10, unique_tokenz=1e9)
    # an input the fitted law does not read changes nothing (Chinchilla ignores U)
    a = fit.predict(1e9, 2e10, kind="mean").draws
    b = fit.predict(1e9, 2e10, kind="mean", unique_tokens=1e9).draws
    np.testing.assert_array_equal(a, b)
