"""Schedules, the curve laws' features and the laws themselves, against step-by-step numpy sums."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.errors import SpecError
from bayes_scaling.laws.curves import available_curve_laws, get_curve_law, multipower_drop
from bayes_scaling.laws.schedules import AREA_STEPS, curve_features, stack_features
from bayes_scaling.testing import MULTIPOWER_TRUTH

S = bs.schedules
PEAK = 3e-4


def exact_drop(schedule, steps, gamma, kappa, nu):
    r"""sum_k (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t)) step by step, in the features' units."""
    lr = schedule.lr / PEAK
    cum = np.concatenate([[0.0], np.cumsum(lr[1:])])
    peak_at = int(np.argmax(lr))
    out = []
    for t in steps:
        k = np.arange(peak_at + 1, t + 1)
        d = lr[k - 1] - lr[k]
        x = np.maximum(lr[k], 1e-6) ** (-gamma) * (cum[t] - cum[k - 1]) / AREA_STEPS
        g = 1 - (1 + kappa * nu * x) ** (-1 / nu)
        out.append(np.sum(d * g))
    return np.array(out)


def test_schedules_have_the_shapes_they_name():
    c = S.constant(PEAK, 1000, warmup=100)
    assert c.lr[0] == 0 and c.lr[50] == pytest.approx(PEAK / 2) and np.all(c.lr[100:] == PEAK)
    w = S.wsd(PEAK, 1000, decay=0.2, final=0.0, shape="linear")
    assert np.all(w.lr[:800] == PEAK) and w.lr[900] == pytest.approx(PEAK / 2) and w.lr[-1] == 0
    assert S.wsd(PEAK, 1000, decay=200, shape="sqrt").lr[850] == pytest.approx(PEAK * (1 - np.sqrt(0.25)))
    assert S.wsd(PEAK, 1000, decay=0.2, final=PEAK / 100, shape="exp").lr[900] == pytest.approx(PEAK / 10)
    cos = S.cosine(PEAK, 1000, final=PEAK / 10)
    assert cos.lr[0] == pytest.approx(PEAK) and cos.lr[-1] == pytest.approx(PEAK / 10) and np.all(np.diff(cos.lr) <= 0)
    sd = S.step_down(PEAK, 1000, {400: 1e-4, 700: 3e-5})
    assert sd.lr[399] == PEAK and sd.lr[400] == 1e-4 and sd.lr[700] == 3e-5
    assert S.from_array([0, 1, 2]).steps == 2
    assert c.area([0, 1000]) == pytest.approx([0, PEAK * (49.5 + 901)])  # warmup 1..99, then 901 steps


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: S.wsd(PEAK, 100, shape="cubic"), "shape must be one of"),
        (lambda: S.wsd(PEAK, 100, shape="exp"), "needs final > 0"),
        (lambda: S.constant(-1, 100), "peak learning rate must be > 0"),
        (lambda: S.constant(PEAK, 100, warmup=100), "warmup < steps"),
        (lambda: S.from_array([1.0, np.nan, 1.0]), "finite and >= 0"),
        (lambda: S.step_down(PEAK, 100, {200: 1e-5}), "drop must be at a step"),
        (lambda: S.constant(PEAK, 100).area([101]), "from step 0 to 100"),
    ],
)
def test_schedule_mistakes_are_named(make, match):
    with pytest.raises(SpecError, match=match):
        make()


@pytest.mark.parametrize(
    "schedule",
    [
        S.wsd(PEAK, 20000, decay=0.2, final=PEAK / 20, warmup=1000),
        S.wsd(PEAK, 20000, decay=0.3, final=PEAK / 100, shape="exp", warmup=1000),
        S.cosine(PEAK, 20000, warmup=1000, final=PEAK / 10),
        S.step_down(PEAK, 20000, {8000: 9e-5, 14000: 3e-5}, warmup=1000),
    ],
    ids=["wsd", "wsd_exp", "cosine", "step_down"],
)
@pytest.mark.parametrize("shape", [(0.5, 2.0, 1.5), (2.0, 5.0, 0.01), (1.0, 0.5, 4.0)])
def test_blocked_loss_drop_is_within_1e3_nats_of_the_step_by_step_sum(schedule, shape):
    gamma, kappa, nu = shape
    steps = np.r_[np.arange(500, 20001, 500), 19999]
    steps = np.unique(steps)
    f = curve_features(schedule, steps, lr_unit=PEAK)
    blocked = multipower_drop({"gamma": gamma, "kappa": kappa, "nu": nu}, f)
    exact = exact_drop(schedule, steps, gamma, kappa, nu)
    # B x drop is the loss removed: B (per unit of peak-rate decrease) is 0.14 fitted to the public
    # curves (25M-400M); at 0.5, over 3x that, the blocked sum is still within 1e-3 nats.
    assert 0.5 * np.max(np.abs(blocked - exact)) < 1e-3
    assert f.block_w.shape[1] <= 64 + steps.size


def test_annealing_area_is_the_momentum_sum():
    sched = S.wsd(PEAK, 3000, decay=0.3, final=0.0, warmup=200)
    steps = np.array([500, 2100, 2500, 3000])
    f = curve_features(sched, steps, lr_unit=PEAK, momentum=0.99)
    lr = sched.lr / PEAK
    m, s2 = 0.0, [0.0]
    for i in range(1, lr.size):
        drop = lr[i - 1] - lr[i] if i > np.argmax(lr) else 0.0
        m = 0.99 * m + drop
        s2.append(s2[-1] + m)
    assert f.s2 == pytest.approx(np.array(s2)[steps] / AREA_STEPS, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["multipower", "annealing"])
def test_numpy_and_pytensor_twins_agree(name):
    import pytensor.tensor as pt

    law = get_curve_law(name)
    theta = {p: MULTIPOWER_TRUTH.get(p, 0.1) for p in law.parameters}
    sched = S.wsd(PEAK, 8000, decay=0.25, final=PEAK / 10, warmup=300)
    f = curve_features(sched, np.arange(400, 8001, 400), lr_unit=PEAK)
    expect = law.mean(theta, f, 0.3)
    symbolic = law.mean({k: pt.as_tensor_variable(v) for k, v in theta.items()}, f, pt.as_tensor_variable(0.3))
    assert symbolic.eval() == pytest.approx(expect, rel=1e-10)
    # Draws on a leading axis give the same curves, one per draw.
    stacked = law.mean({k: np.array([[v], [v]]) for k, v in theta.items()}, f, 0.3)
    assert stacked.shape == (2, len(f)) and stacked[1] == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("name", ["multipower", "annealing"])
def test_sparse_blocks_give_the_dense_mean_on_numpy_and_pytensor(name):
    """The fit's model keeps only the non-zero (observation, block) pairs; with per-observation
    shapes (several sizes, so gamma and kappa differ by row) it is the same mean."""
    import pytensor.tensor as pt

    law = get_curve_law(name)
    theta = {p: MULTIPOWER_TRUTH.get(p, 0.1) for p in law.parameters}
    steps = np.arange(400, 8001, 400)
    parts = [
        curve_features(S.wsd(PEAK, 8000, decay=0.25, final=PEAK / 10, warmup=300), steps, lr_unit=PEAK),
        curve_features(S.constant(PEAK, 8000, warmup=300), steps, lr_unit=PEAK),
        curve_features(S.cosine(PEAK, 8000, warmup=300, final=PEAK / 10), steps, lr_unit=PEAK),
    ]
    f = stack_features(parts)
    log_x = np.repeat([-1.0, 0.0, 1.5], steps.size)
    sparse = f.sparse()
    assert 0 < sparse.block_w.size < f.block_w.size and np.all(sparse.block_w != 0)
    dense = law.mean(theta, f, log_x)
    assert law.mean(theta, sparse, log_x) == pytest.approx(dense, rel=1e-12)
    symbolic = law.mean(
        {k: pt.as_tensor_variable(v) for k, v in theta.items()},
        type(sparse)(
            *(pt.as_tensor_variable(getattr(sparse, n)) for n in ("area", "s2", "block_w", "block_lr", "block_gap")),
            sparse.block_row,
        ),
        pt.as_tensor_variable(log_x),
    )
    assert symbolic.eval() == pytest.approx(dense, rel=1e-10)
    # a run at a constant rate alone: no block at all, a drop of 0.0 at every observation
    flat = stack_features(parts[1:2]).sparse()
    none = multipower_drop({"gamma": 0.5, "kappa": 1.0, "nu": np.full(steps.size, 0.7)}, flat)
    assert flat.block_w.size == 0 and none.dtype == float and np.all(none == 0.0)
    with pytest.raises(SpecError, match="one value per observation"):
        multipower_drop({"gamma": np.ones((2, 1)), "kappa": 1.0, "nu": 0.7}, sparse)


def test_multipower_follows_its_formula_and_a_cooldown_lowers_the_loss():
    law = get_curve_law("multipower")
    const, cool = S.constant(PEAK, 10000, warmup=500), S.wsd(PEAK, 10000, decay=0.3, warmup=500)
    steps = np.array([6000, 8000, 10000])
    t = MULTIPOWER_TRUTH
    c = law.mean(t, curve_features(const, steps, lr_unit=PEAK), 0.0)
    expect = t["l0"] + np.exp(t["log_A"]) * (const.area(steps) / PEAK / AREA_STEPS) ** (-t["alpha"])
    assert c == pytest.approx(expect, rel=1e-12)
    w = law.mean(t, curve_features(cool, steps, lr_unit=PEAK), 0.0)
    assert w[0] == pytest.approx(c[0]) and w[2] < c[2] - 0.05
    # A larger model: lower L0 (p > 0, P > 0).
    assert law.mean(t, curve_features(const, steps, lr_unit=PEAK), 1.0)[0] < c[0]


def test_the_curve_registry_answers_which_law():
    assert {"multipower", "annealing"} <= set(available_curve_laws())
    with pytest.raises(SpecError, match="unknown curve law"):
        get_curve_law("nope")
