"""The curves table: validation that names each problem, branches counted once, thinning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.errors import RunsValidationError

S = bs.schedules


def table(**overrides):
    steps = np.arange(100, 2001, 100)
    rows = []
    for rid, drop_at in (("a", None), ("b", 1200)):
        lr = np.where(steps < (drop_at or 10**9), 3e-4, 3e-5)
        loss = 4.0 - 0.3 * np.log(steps / 100) / 3
        if drop_at:
            loss = np.where(steps >= drop_at, loss - 0.05, loss)
        rows.append(pd.DataFrame({"run_id": rid, "step": steps, "loss": loss, "params": 1e8, "lr": lr}))
    df = pd.concat(rows, ignore_index=True)
    for key, value in overrides.items():
        df[key] = value
    return df


def test_a_branch_shares_its_trunk_rows_once():
    curves = bs.Curves.from_frame(table())
    assert curves.branch_of == {"b": ("a", 1100.0)}
    obs = curves.observations(max_points=None)
    assert len(obs) == 20 + 9 and obs.n_trees == 1
    first_b = np.flatnonzero(obs.run == obs.run_ids.index("b"))[0]
    assert obs.step[obs.parent[first_b]] == 1100 and obs.dt[first_b] == 100
    assert (obs.parent[obs.step == 100] == -1).all()


def test_the_lr_column_becomes_a_schedule_with_a_warmup_before_the_first_row():
    curves = bs.Curves.from_frame(table())
    lr = curves.schedules["b"].lr
    assert lr[0] == 0 and lr[50] == pytest.approx(1.5e-4) and lr[1100] == 3e-4 and lr[1200] == 3e-5


def test_thinning_keeps_the_first_and_last_rows_and_the_cooldown_dense():
    sched = S.wsd(3e-4, 20000, decay=0.2, warmup=500)
    steps = np.arange(100, 20001, 100)
    df = pd.DataFrame({"run_id": "r", "step": steps, "loss": 3 + 1 / np.sqrt(steps), "params": 1e8})
    obs = bs.Curves.from_frame(df, schedules={"r": sched}).observations(max_points=30)
    assert len(obs) <= 31 and obs.step[0] == 100 and obs.step[-1] == 20000
    assert (obs.step > 16000).sum() >= 12  # half the rows in the last 20% of the steps


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"lr": np.nan}, "column 'lr' is blank or not a number on lines 2, 3"),
        ({"loss": -1.0}, "the loss must be > 0"),
        ({"step": 7.5}, "steps must be whole numbers"),
    ],
)
def test_bad_columns_are_named_with_their_lines(change, match):
    with pytest.raises(RunsValidationError, match=match):
        bs.Curves.from_frame(table(**change))


def test_missing_columns_and_rates_are_named():
    with pytest.raises(RunsValidationError, match="no learning rate: add an 'lr' column") as err:
        bs.Curves.from_frame(table().drop(columns=["lr", "params"]))
    assert "column 'params' (params) is missing" in str(err.value)


def test_repeated_steps_and_sparse_rates_are_refused():
    df = table()
    with pytest.raises(RunsValidationError, match="log the same step twice"):
        bs.Curves.from_frame(pd.concat([df, df.iloc[:1]]))
    sparse = df[(df.run_id == "b") & df.step.isin([100, 200, 1000, 2000])]
    with pytest.raises(RunsValidationError, match="run 'b': the 'lr' column changes from 0.0003 at step 1000 to 3e-05"):
        bs.Curves.from_frame(sparse)


def test_schedules_must_cover_the_logged_steps():
    df = table().drop(columns=["lr"])
    with pytest.raises(RunsValidationError, match="run 'a' logs step 2000 but its schedule ends at step 1000"):
        bs.Curves.from_frame(df, schedules={"a": S.constant(3e-4, 1000), "b": S.constant(3e-4, 2000)})
    with pytest.raises(RunsValidationError, match="run 'b' has no schedule"):
        bs.Curves.from_frame(df, schedules={"a": S.constant(3e-4, 2000)})


def test_the_public_curves_read_with_their_branches(shared_data):
    curves = bs.Curves.from_csv(shared_data / "multipowerlaw_schedules.csv")
    assert len(curves.schedules) == 18 and len(curves) == 3602
    obs = curves.observations()
    # Per size: a 72k-step run and a 24k-step run with its step-down and WSD branches (25M: the
    # step-downs branch off the 72k run, whose start they share).
    assert obs.n_trees == 6 and len(curves.branch_of) == 12
    assert curves.branch_of["mpl_100M_wsdcon_9"][0] == "mpl_100M_constant_24000"


def siblings():
    """A trunk z and two cooldowns b1, b2 taken from its checkpoint at step 1100 (same rows up to
    there), and c: a copy of z's first 8 rows (a run stopped early)."""
    df = table()
    trunk = df[df.run_id == "a"].assign(run_id="z")
    frames = [trunk]
    for name, rate in (("b1", 3e-5), ("b2", 1e-5)):
        branch = trunk.assign(run_id=name)
        late = branch["step"] > 1100
        branch.loc[late, "lr"] = rate
        branch.loc[late, "loss"] -= 0.01 if name == "b1" else 0.02
        frames.append(branch)
    frames.append(trunk.iloc[:8].assign(run_id="c"))
    return pd.concat(frames, ignore_index=True)


def test_sibling_cooldowns_and_a_copied_start_hang_off_the_trunk():
    curves = bs.Curves.from_frame(siblings())
    assert curves.branch_of == {"b1": ("z", 1100.0), "b2": ("z", 1100.0), "c": ("z", 800.0)}
    obs = curves.observations(max_points=None)
    assert len(obs) == 20 + 9 + 9 and obs.n_trees == 1  # c adds no rows: every one is z's
    z_1100 = np.flatnonzero((obs.run == obs.run_ids.index("z")) & (obs.step == 1100))[0]
    for b in ("b1", "b2"):
        first = np.flatnonzero(obs.run == obs.run_ids.index(b))[0]
        assert obs.parent[first] == z_1100
    assert curves.shared_until(curves.rows("b1"), ["z"]) == 1100
    assert curves.shared_until(curves.rows("z"), ["b1", "b2"]) == 1100
    assert np.isnan(curves.shared_until(curves.rows("z"), []))
    # What a fit without b1 has seen of it: z's rows up to the branch.
    assert curves.subset(["z", "b2"]).shared_until(curves.rows("b1"), ["z", "b2"]) == 1100
    assert curves.path("b2", upto=1200)["step"].tolist() == list(range(100, 1201, 100))


def test_thinning_keeps_the_rows_other_runs_branch_off_at():
    curves = bs.Curves.from_frame(siblings())
    obs = curves.observations(max_points=6)
    z = obs.run == obs.run_ids.index("z")
    assert 1100 in obs.step[z] and 800 in obs.step[z]


def test_a_loss_at_step_zero_is_refused():
    df = table()
    df.loc[0, "step"] = 0
    with pytest.raises(RunsValidationError, match="a loss at step 0 comes before any training"):
        bs.Curves.from_frame(df)
