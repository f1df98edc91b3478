"""Exact checks of the scaling-law maths (bayes_scaling.laws) and the law registry (bayes_scaling.laws.registry).

No sampling here: every check is a formula compared against an independent evaluation.
"""

from __future__ import annotations

import dataclasses
import decimal
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pymc_extras.prior import Prior
from scipy import optimize, stats

from bayes_scaling import laws
from bayes_scaling.errors import SpecError
from bayes_scaling.laws import (
    CHINCHILLA,
    DataScale,
    Law,
    available_laws,
    get_law,
    register_law,
)
from bayes_scaling.laws.chinchilla import EXPONENT_PRIOR

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
REFERENCE_SIZES = [(1e6, 1e7), (1e8, 2e9), (7e9, 1.4e11), (1e12, 1e13)]


def _draws(rng, n):
    """Random Chinchilla parameters, shape (n,) each; E >= 1.2 keeps log L away from 0."""
    return {
        "E": rng.uniform(1.2, 3.0, n),
        "A": np.exp(rng.uniform(np.log(10.0), np.log(1e4), n)),
        "B": np.exp(rng.uniform(np.log(10.0), np.log(1e4), n)),
        "alpha": rng.uniform(0.05, 1.0, n),
        "beta": rng.uniform(0.05, 1.0, n),
    }


def _sizes(rng, m):
    return np.exp(rng.uniform(np.log(1e6), np.log(1e13), m)), np.exp(rng.uniform(np.log(1e7), np.log(1e14), m))


def _log_loss_from_amplitudes(n, d, p, n_ref, d_ref):
    log_an, log_bd = laws.reference_from_amplitudes(p["A"], p["B"], p["alpha"], p["beta"], np.log(n_ref), np.log(d_ref))
    return laws.chinchilla_log_loss(
        np.log(n), np.log(d), np.log(p["E"]), log_an, log_bd, p["alpha"], p["beta"], np.log(n_ref), np.log(d_ref)
    )


# ------------------------------------------------------------------ log form == direct formula
@pytest.mark.parametrize(("n_ref", "d_ref"), REFERENCE_SIZES, ids=lambda v: f"{v:.0e}")
def test_log_loss_matches_direct_formula_pointwise(n_ref, d_ref):
    rng = np.random.default_rng(1)
    p = _draws(rng, 500)
    n, d = _sizes(rng, 500)
    got = _log_loss_from_amplitudes(n, d, p, n_ref, d_ref)
    want = np.log(laws.chinchilla_loss(n, d, **p))
    assert got.shape == (500,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("n_ref", "d_ref"), REFERENCE_SIZES, ids=lambda v: f"{v:.0e}")
def test_log_loss_broadcasts_draws_by_points(n_ref, d_ref):
    rng = np.random.default_rng(2)
    n_draws, n_points = 40, 25
    p = {k: v[:, None] for k, v in _draws(rng, n_draws).items()}  # (n_draws, 1)
    n, d = _sizes(rng, n_points)  # (n_points,)
    got = _log_loss_from_amplitudes(n, d, p, n_ref, d_ref)
    assert got.shape == (n_draws, n_points)
    want = np.empty((n_draws, n_points))
    for i in range(n_draws):
        for j in range(n_points):
            scalar = {k: float(v[i, 0]) for k, v in p.items()}
            want[i, j] = math.log(
                scalar["E"] + scalar["A"] * n[j] ** -scalar["alpha"] + scalar["B"] * d[j] ** -scalar["beta"]
            )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("n_ref", "d_ref"), REFERENCE_SIZES, ids=lambda v: f"{v:.0e}")
def test_amplitudes_round_trip_through_reference(n_ref, d_ref):
    rng = np.random.default_rng(3)
    p = _draws(rng, 300)
    log_nr, log_dr = np.log(n_ref), np.log(d_ref)
    log_an, log_bd = laws.reference_from_amplitudes(p["A"], p["B"], p["alpha"], p["beta"], log_nr, log_dr)
    # the definition: log_AN_ref = log A - alpha log N_ref is the log of the N term at N = N_ref
    np.testing.assert_allclose(np.exp(log_an), p["A"] * n_ref ** -p["alpha"], rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_bd), p["B"] * d_ref ** -p["beta"], rtol=1e-12)
    A, B = laws.amplitudes_from_reference(log_an, log_bd, p["alpha"], p["beta"], log_nr, log_dr)
    np.testing.assert_allclose(A, p["A"], rtol=1e-12)
    np.testing.assert_allclose(B, p["B"], rtol=1e-12)
    # and the other way round
    back_an, back_bd = laws.reference_from_amplitudes(A, B, p["alpha"], p["beta"], log_nr, log_dr)
    np.testing.assert_allclose(back_an, log_an, rtol=0, atol=1e-12)
    np.testing.assert_allclose(back_bd, log_bd, rtol=0, atol=1e-12)


def test_log_loss_at_reference_size_is_sum_of_reference_terms():
    # At N = N_ref, D = D_ref the exponents drop out: L = E + exp(l_N) + exp(l_D).
    log_e, l_n, l_d = np.log(1.7), np.log(0.4), np.log(0.25)
    got = laws.chinchilla_log_loss(np.log(3e8), np.log(6e9), log_e, l_n, l_d, 0.7, 0.2, np.log(3e8), np.log(6e9))
    assert got == pytest.approx(math.log(1.7 + 0.4 + 0.25), rel=1e-14)


# ------------------------------------------------------------------ pytensor == numpy
def test_log_loss_symbolic_matches_numpy():
    rng = np.random.default_rng(4)
    n_ref, d_ref = 5e8, 1e10
    p = _draws(rng, 30)
    n, d = _sizes(rng, 20)
    log_an, log_bd = laws.reference_from_amplitudes(p["A"], p["B"], p["alpha"], p["beta"], np.log(n_ref), np.log(d_ref))

    log_n, log_d = pt.dvector("log_n"), pt.dvector("log_d")
    s_log_e, s_an, s_bd, s_alpha, s_beta = (pt.dcol(name) for name in ("log_E", "l_n", "l_d", "alpha", "beta"))
    out = laws.chinchilla_log_loss(log_n, log_d, s_log_e, s_an, s_bd, s_alpha, s_beta, np.log(n_ref), np.log(d_ref))
    assert isinstance(out, pt.TensorVariable)  # built a graph, not a numpy value
    f = pytensor.function([log_n, log_d, s_log_e, s_an, s_bd, s_alpha, s_beta], out)
    cols = [np.log(p["E"]), log_an, log_bd, p["alpha"], p["beta"]]
    got = f(np.log(n), np.log(d), *(c[:, None] for c in cols))

    want = laws.chinchilla_log_loss(np.log(n), np.log(d), *(c[:, None] for c in cols), np.log(n_ref), np.log(d_ref))
    assert got.shape == want.shape == (30, 20)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    direct = np.log(laws.chinchilla_loss(n, d, **{k: v[:, None] for k, v in p.items()}))
    np.testing.assert_allclose(got, direct, rtol=1e-12)


def test_amplitudes_and_seed_noise_symbolic_match_numpy():
    l_n, l_d, alpha, beta = pt.dvector("l_n"), pt.dvector("l_d"), pt.dvector("alpha"), pt.dvector("beta")
    log_nr, log_dr = np.log(2e8), np.log(4e9)
    A, B = laws.amplitudes_from_reference(l_n, l_d, alpha, beta, log_nr, log_dr)
    log_n, sigma_ref, gamma = pt.dvector("log_n"), pt.dscalar("sigma_ref"), pt.dscalar("gamma")
    sd = laws.seed_noise_sd(log_n, sigma_ref, gamma, log_nr)
    f = pytensor.function([l_n, l_d, alpha, beta, log_n, sigma_ref, gamma], [A, B, sd])

    vals = (np.array([-1.0, 0.5]), np.array([-2.0, 0.1]), np.array([0.3, 0.6]), np.array([0.25, 0.4]))
    ln = np.log(np.array([1e6, 2e8, 7e10]))
    got_a, got_b, got_sd = f(*vals, ln, 0.02, 0.3)
    want_a, want_b = laws.amplitudes_from_reference(*vals, log_nr, log_dr)
    np.testing.assert_allclose(got_a, want_a, rtol=1e-13)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-13)
    np.testing.assert_allclose(got_sd, laws.seed_noise_sd(ln, 0.02, 0.3, log_nr), rtol=1e-13)


# ------------------------------------------------------------------ numerical stability
_CTX = decimal.Context(prec=60)


def _exact_log_loss(log_n, log_d, log_e, l_n, l_d, alpha, beta, log_nr, log_dr) -> float:
    """The log-loss of the float inputs evaluated with 60-digit decimals (no under/overflow)."""
    dec = lambda x: decimal.Decimal(float(x))  # noqa: E731
    with decimal.localcontext(_CTX):
        t_n = dec(l_n) - dec(alpha) * (dec(log_n) - dec(log_nr))
        t_d = dec(l_d) - dec(beta) * (dec(log_d) - dec(log_dr))
        return float((dec(log_e).exp() + t_n.exp() + t_d.exp()).ln())


@pytest.mark.parametrize(
    "case",
    [
        # (N, D, log E, l_N, l_D, alpha, beta, N_ref, D_ref)
        pytest.param(
            (1e15, 1e16, np.log(1.69), np.log(0.3), np.log(0.2), 0.34, 0.28, 1e8, 1e9), id="huge-sizes-realistic"
        ),
        pytest.param((1e15, 1e16, -700.0, -5.0, -5.0, 40.0, 35.0, 1e8, 1e9), id="huge-sizes-steep-underflow"),
        pytest.param((1.0, 1.0, np.log(1.7), 0.0, 0.0, 40.0, 40.0, 1e9, 1e9), id="tiny-sizes-overflow"),
        pytest.param((1e8, 1e9, -800.0, -800.0, -800.0, 0.3, 0.3, 1e8, 1e9), id="all-terms-exp(-800)"),
        pytest.param((1e9, 1e9, np.log(1.7), -800.0, -790.0, 0.3, 0.3, 1e9, 1e9), id="tiny-amplitudes"),
        pytest.param((1e9, 1e9, np.log(1.7), 800.0, 1.0, 0.3, 0.3, 1e9, 1e9), id="huge-amplitude"),
    ],
)
def test_log_form_stays_finite_and_accurate(case):
    n, d, log_e, l_n, l_d, alpha, beta, n_ref, d_ref = case
    args = (np.log(n), np.log(d), log_e, l_n, l_d, alpha, beta, np.log(n_ref), np.log(d_ref))
    got = laws.chinchilla_log_loss(*args)
    assert np.isfinite(got)
    assert got == pytest.approx(_exact_log_loss(*args), rel=1e-13, abs=1e-13)


def test_naive_formula_fails_where_log_form_does_not():
    # All three terms are exp(-800): the naive sum underflows to 0, log(0) = -inf.
    args = (np.log(1e8), np.log(1e9), -800.0, -800.0, -800.0, 0.3, 0.3, np.log(1e8), np.log(1e9))
    assert laws.chinchilla_log_loss(*args) == pytest.approx(-800.0 + math.log(3.0), rel=1e-15)
    with np.errstate(all="ignore"):
        A, B = laws.amplitudes_from_reference(-800.0, -800.0, 0.3, 0.3, np.log(1e8), np.log(1e9))
        assert np.log(laws.chinchilla_loss(1e8, 1e9, math.exp(-800.0), A, B, 0.3, 0.3)) == -np.inf

    # A steep exponent at N = 1 with the reference at 1e9: A = e^{l_N} N_ref^alpha overflows.
    args = (0.0, np.log(1e9), np.log(1.7), 0.0, 0.0, 40.0, 0.3, np.log(1e9), np.log(1e9))
    expected = 40.0 * np.log(1e9)  # the N term dominates by ~800 nats; E and the D term vanish
    assert laws.chinchilla_log_loss(*args) == pytest.approx(expected, rel=1e-15)
    with np.errstate(all="ignore"):
        A, B = laws.amplitudes_from_reference(0.0, 0.0, 40.0, 0.3, np.log(1e9), np.log(1e9))
        assert not np.isfinite(A)
        assert not np.isfinite(np.log(laws.chinchilla_loss(1.0, 1e9, 1.7, A, B, 40.0, 0.3)))


def test_log_form_stable_for_broadcast_extreme_draws():
    p_log_an = np.array([[-800.0], [0.0], [800.0]])
    log_n = np.log(np.array([1.0, 1e9, 1e15]))
    got = laws.chinchilla_log_loss(log_n, np.log(1e9), np.log(1.7), p_log_an, -1.0, 0.5, 0.3, np.log(1e9), np.log(1e9))
    assert got.shape == (3, 3)
    assert np.all(np.isfinite(got))
    for i in range(3):
        for j in range(3):
            want = _exact_log_loss(
                log_n[j], np.log(1e9), np.log(1.7), p_log_an[i, 0], -1.0, 0.5, 0.3, np.log(1e9), np.log(1e9)
            )
            assert got[i, j] == pytest.approx(want, rel=1e-13, abs=1e-13)


# ------------------------------------------------------------------ compute-optimal allocation
PARAM_SETS = [
    pytest.param(HOFFMANN, id="hoffmann"),
    pytest.param({"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.3, "beta": 0.35}, id="beta>alpha"),
    pytest.param({"E": 2.2, "A": 50.0, "B": 80.0, "alpha": 0.5, "beta": 0.2}, id="alpha>>beta"),
    pytest.param({"E": 1.5, "A": 1e3, "B": 1e4, "alpha": 0.25, "beta": 0.4}, id="big-B"),
]
BUDGETS = [1e18, 1e21, 5.76e23, 1e26]


def _numeric_n_star(flops, p, k):
    """argmin over log N of E + A N^-a + B (C/(kN))^-b, by Brent's method."""

    def loss(log_n):
        n = math.exp(log_n)
        return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * (flops / (k * n)) ** -p["beta"]

    # bracket the minimum on a coarse grid (independent of the closed form), then refine
    # (N may be anything > 0; D = C / (kN) follows); the loss is convex in log N
    grid = np.linspace(-100.0, math.log(flops / k) + 100.0, 2000)
    i = int(np.argmin([loss(x) for x in grid]))
    assert 0 < i < len(grid) - 1  # an interior minimum, not a boundary
    res = optimize.minimize_scalar(loss, bracket=(grid[i - 1], grid[i], grid[i + 1]), method="brent", tol=1e-14)
    assert res.success
    return math.exp(res.x)


@pytest.mark.parametrize("k", [6.0, 2.0], ids=["k=6", "k=2"])
@pytest.mark.parametrize("p", PARAM_SETS)
def test_optimal_params_matches_numeric_minimisation(p, k):
    for flops in BUDGETS:
        closed = laws.chinchilla_optimal_params(flops, p["A"], p["B"], p["alpha"], p["beta"], k)
        assert closed == pytest.approx(_numeric_n_star(flops, p, k), rel=1e-6)
        # first-order condition in log N: alpha A N^-alpha == beta B D^-beta with D = C / (k N)
        d_star = flops / (k * closed)
        lhs = p["alpha"] * p["A"] * closed ** -p["alpha"]
        rhs = p["beta"] * p["B"] * d_star ** -p["beta"]
        assert lhs == pytest.approx(rhs, rel=1e-11)


def test_optimal_params_default_k_is_six_and_k_matters():
    p = HOFFMANN
    c = np.array([1e20, 1e22, 1e24])
    default = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"])
    six = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"], 6.0)
    two = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"], 2.0)
    np.testing.assert_array_equal(default, six)
    # N* depends on C/k only: N*(C, k=2) = N*(3C, k=6)
    triple = laws.chinchilla_optimal_params(3 * c, p["A"], p["B"], p["alpha"], p["beta"], 6.0)
    np.testing.assert_allclose(two, triple, rtol=1e-13)
    assert np.all(two > six)


@pytest.mark.parametrize("p", PARAM_SETS)
def test_optimal_params_scaling_exponent(p):
    c = np.logspace(18, 27, 10)
    n_star = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"])
    assert n_star.shape == c.shape
    slopes = np.diff(np.log(n_star)) / np.diff(np.log(c))
    np.testing.assert_allclose(slopes, p["beta"] / (p["alpha"] + p["beta"]), rtol=1e-10)
    # the tokens take the rest: D* = C / (6 N*) grows as C^(alpha / (alpha + beta))
    d_star = c / (6.0 * n_star)
    d_slopes = np.diff(np.log(d_star)) / np.diff(np.log(c))
    np.testing.assert_allclose(d_slopes, p["alpha"] / (p["alpha"] + p["beta"]), rtol=1e-10)


def test_optimal_params_broadcast_over_draws():
    rng = np.random.default_rng(5)
    p = _draws(rng, 12)
    # exponents in [0.2, 0.6]: with tiny exponents the loss is so flat in N that a numeric
    # minimiser cannot locate N* to 1e-6 (the first-order check below covers those)
    p["alpha"], p["beta"] = rng.uniform(0.2, 0.6, 12), rng.uniform(0.2, 0.6, 12)
    c = np.array([1e20, 1e23])
    got = laws.chinchilla_optimal_params(c, p["A"][:, None], p["B"][:, None], p["alpha"][:, None], p["beta"][:, None])
    assert got.shape == (12, 2)
    for i in range(12):
        for j in range(2):
            scalar = {k: float(v[i]) for k, v in p.items()}
            assert got[i, j] == pytest.approx(_numeric_n_star(c[j], scalar, 6.0), rel=1e-6)


def test_optimal_params_first_order_condition_on_random_draws():
    rng = np.random.default_rng(8)
    p = _draws(rng, 200)
    c = np.exp(rng.uniform(np.log(1e17), np.log(1e27), 200))
    for k in (6.0, 8.0):
        n_star = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"], k)
        d_star = c / (k * n_star)
        np.testing.assert_allclose(
            p["alpha"] * p["A"] * n_star ** -p["alpha"], p["beta"] * p["B"] * d_star ** -p["beta"], rtol=1e-10
        )


def test_optimal_params_extreme_amplitudes_do_not_overflow():
    # A = e^800 would overflow if formed directly; the log-space evaluation handles it.
    with np.errstate(over="raise"):
        n_star = laws.chinchilla_optimal_params(1e24, np.exp(700.0), np.exp(700.0), 0.5, 0.5)
    # equal A, B and exponents: N* = D* = sqrt(C / 6)
    assert n_star == pytest.approx(math.sqrt(1e24 / 6.0), rel=1e-12)


def test_hoffmann_chinchilla_budget():
    p = HOFFMANN
    c = 5.76e23  # Gopher / Chinchilla budget
    n_star = laws.chinchilla_optimal_params(c, p["A"], p["B"], p["alpha"], p["beta"])
    numeric = _numeric_n_star(c, p, 6.0)
    assert n_star == pytest.approx(numeric, rel=1e-6)
    assert 1e10 < n_star < 1e11  # tens of billions of parameters
    assert n_star == pytest.approx(3.219e10, rel=1e-3)  # ~32.2B with Approach-3 parameters
    d_star = c / (6.0 * n_star)
    assert d_star == pytest.approx(2.982e12, rel=1e-3)  # ~3.0T tokens


def test_chinchilla_law_optimal_params_uses_reported_values():
    rep = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    for k in (6.0, 2.0):
        want = laws.chinchilla_optimal_params(1e22, 406.4, 410.7, 0.34, 0.28, k)
        assert CHINCHILLA.optimal_params(rep, 1e22, k) == want


# ------------------------------------------------------------------ seed noise
@pytest.mark.parametrize("n_ref", [1e7, 3e8, 1e11])
def test_seed_noise_sd(n_ref):
    rng = np.random.default_rng(6)
    n = np.exp(rng.uniform(np.log(1e6), np.log(1e12), 50))
    sigma_ref = rng.uniform(0.001, 0.1, (7, 1))
    gamma = rng.uniform(-0.2, 0.8, (7, 1))
    got = laws.seed_noise_sd(np.log(n), sigma_ref, gamma, np.log(n_ref))
    assert got.shape == (7, 50)
    np.testing.assert_allclose(got, sigma_ref * (n / n_ref) ** -gamma, rtol=1e-12)
    assert laws.seed_noise_sd(np.log(n_ref), 0.03, 0.5, np.log(n_ref)) == pytest.approx(0.03, rel=1e-15)
    assert laws.seed_noise_sd(np.log(4 * n_ref), 0.03, 0.5, np.log(n_ref)) == pytest.approx(0.015, rel=1e-13)


# ------------------------------------------------------------------ registry
def test_get_law_chinchilla():
    law = get_law("chinchilla")
    assert law is CHINCHILLA
    assert isinstance(law, Law)
    assert law.parameters == ("E", "log_AN_ref", "log_BD_ref", "alpha", "beta")
    assert law.reported == ("E", "A", "B", "alpha", "beta")
    assert "chinchilla" in available_laws()
    assert available_laws() == sorted(available_laws())


def test_unknown_law_lists_known_names():
    with pytest.raises(SpecError, match=r"unknown law 'chinchila'; registered laws: \[.*'chinchilla'.*\]") as info:
        get_law("chinchila")
    assert type(info.value) is SpecError
    assert isinstance(info.value, ValueError)
    for name in available_laws():
        assert repr(name) in str(info.value)


@pytest.fixture
def scratch_law_name():
    from bayes_scaling.laws import registry as forms

    name = "test_laws_scratch_law"
    assert name not in forms._REGISTRY
    yield name
    forms._REGISTRY.pop(name, None)


def _scratch_law(name, description=""):
    return Law(
        name=name,
        parameters=("E",),
        reported=("E",),
        formula="L = E",
        log_mean=lambda theta, log_n, log_d, scale: np.log(theta["E"]) + 0 * log_n,
        reported_values=lambda theta, scale: {"E": theta["E"]},
        default_priors=lambda scale: {"E": Prior("LogNormal", mu=0.0, sigma=1.0)},
        description=description,
    )


def test_register_law_refuses_duplicates(scratch_law_name):
    first = _scratch_law(scratch_law_name, "first")
    assert register_law(first) is first
    assert get_law(scratch_law_name) is first
    assert scratch_law_name in available_laws()

    second = _scratch_law(scratch_law_name, "second")
    with pytest.raises(SpecError, match=rf"a law named '{scratch_law_name}' is already registered; pass replace=True"):
        register_law(second)
    assert get_law(scratch_law_name) is first  # unchanged by the refused registration

    assert register_law(second, replace=True) is second
    assert get_law(scratch_law_name) is second


def test_cannot_shadow_chinchilla_by_accident():
    impostor = _scratch_law("chinchilla")
    with pytest.raises(SpecError, match="already registered"):
        register_law(impostor)
    assert get_law("chinchilla") is CHINCHILLA


# ------------------------------------------------------------------ default priors
SCALE = DataScale(
    log_n_ref=float(np.log(2e8)),
    log_d_ref=float(np.log(4e9)),
    min_loss=2.0,
    median_loss=3.0,
    log_n_noise_ref=float(np.log(5e7)),
)


def test_chinchilla_default_priors_cover_exactly_the_parameters():
    priors = get_law("chinchilla").default_priors(SCALE)
    assert list(priors) == list(CHINCHILLA.parameters)
    assert all(isinstance(p, Prior) for p in priors.values())
    assert priors["alpha"].distribution == priors["beta"].distribution == "LogNormal"
    assert priors["alpha"].parameters == priors["beta"].parameters == EXPONENT_PRIOR
    assert priors["E"].distribution == "LogNormal"
    assert priors["E"].parameters["mu"] == pytest.approx(math.log(0.75 * 2.0), rel=1e-14)
    reducible = 3.0 - 0.75 * 2.0
    for name in ("log_AN_ref", "log_BD_ref"):
        assert priors[name].distribution == "Normal"
        assert priors[name].parameters["mu"] == pytest.approx(math.log(reducible / 2), rel=1e-14)
        assert priors[name].parameters["sigma"] == 1.0


def test_default_priors_depend_on_the_data_scale():
    low = CHINCHILLA.default_priors(DataScale(0.0, 0.0, min_loss=1.0, median_loss=1.5, log_n_noise_ref=0.0))
    high = CHINCHILLA.default_priors(DataScale(0.0, 0.0, min_loss=4.0, median_loss=6.0, log_n_noise_ref=0.0))
    assert high["E"].parameters["mu"] - low["E"].parameters["mu"] == pytest.approx(math.log(4.0), rel=1e-12)
    # degenerate scale (median below the E centre): the reducible term is floored at 5% of the median
    floor = CHINCHILLA.default_priors(DataScale(0.0, 0.0, min_loss=2.0, median_loss=1.0, log_n_noise_ref=0.0))
    assert floor["log_AN_ref"].parameters["mu"] == pytest.approx(math.log(0.05 / 2), rel=1e-12)


def test_exponent_prior_puts_95_percent_in_range():
    dist = stats.lognorm(s=EXPONENT_PRIOR["sigma"], scale=math.exp(EXPONENT_PRIOR["mu"]))
    assert dist.cdf(1.5) - dist.cdf(0.05) == pytest.approx(0.95, abs=1e-4)
    assert dist.cdf(0.05) == pytest.approx(0.025, abs=1e-4)  # symmetric tails
    assert dist.sf(1.5) == pytest.approx(0.025, abs=1e-4)
    assert dist.median() == pytest.approx(math.sqrt(0.05 * 1.5), rel=1e-12)


def test_e_prior_band_matches_its_comment():
    # "95% in ~[0.46, 1.2] x min loss"
    e = CHINCHILLA.default_priors(SCALE)["E"].parameters
    dist = stats.lognorm(s=e["sigma"], scale=math.exp(e["mu"]))
    lo, hi = dist.ppf([0.025, 0.975]) / SCALE.min_loss
    assert lo == pytest.approx(0.46, abs=0.005)
    assert hi == pytest.approx(1.22, abs=0.01)


def test_data_scale_to_dict_round_trips_and_old_files_get_nan_ranges():
    d = SCALE.to_dict()
    assert {k: d[k] for k in ("log_n_ref", "log_d_ref", "min_loss", "median_loss", "log_n_noise_ref")} == {
        "log_n_ref": float(np.log(2e8)),
        "log_d_ref": float(np.log(4e9)),
        "min_loss": 2.0,
        "median_loss": 3.0,
        "log_n_noise_ref": float(np.log(5e7)),
    }
    assert d["log_k"] == pytest.approx(np.log(6.0))
    back = DataScale(**d)
    assert back.to_dict().keys() == d.keys()
    assert np.isnan(back.log_n_min)  # a scale written before the ranges existed
    assert all(type(v) is float for v in SCALE.to_dict().values())


def test_chinchilla_log_mean_and_reported_values_agree_with_laws():
    rng = np.random.default_rng(7)
    p = _draws(rng, 5)
    n, d = _sizes(rng, 8)
    log_an, log_bd = laws.reference_from_amplitudes(
        p["A"], p["B"], p["alpha"], p["beta"], SCALE.log_n_ref, SCALE.log_d_ref
    )
    theta = {"E": p["E"][:, None], "log_AN_ref": log_an[:, None], "log_BD_ref": log_bd[:, None],
             "alpha": p["alpha"][:, None], "beta": p["beta"][:, None]}  # fmt: skip
    got = CHINCHILLA.log_mean(theta, np.log(n), np.log(d), SCALE)
    direct = np.log(laws.chinchilla_loss(n, d, **{k: v[:, None] for k, v in p.items()}))
    np.testing.assert_allclose(got, direct, rtol=1e-12)
    rep = CHINCHILLA.reported_values(theta, SCALE)
    assert set(rep) == set(CHINCHILLA.reported)
    np.testing.assert_allclose(rep["A"][:, 0], p["A"], rtol=1e-12)
    np.testing.assert_allclose(rep["B"][:, 0], p["B"], rtol=1e-12)


def test_a_law_registered_in_this_session_is_not_builtin(scratch_law_name):
    """Backtest workers are fresh processes: they have the built-in laws only."""
    from bayes_scaling.laws import is_builtin

    assert is_builtin("chinchilla") and is_builtin(get_law("power_law").with_options(x="N"))
    assert not is_builtin(register_law(_scratch_law(scratch_law_name)))
    assert not is_builtin(scratch_law_name)


# ------------------------------------------------------------------ what a law tells a reader
def _every_law() -> list[Law]:
    """Every registered law, and the optioned variants that change its parameters."""
    out = []
    for name in available_laws():
        law = get_law(name)
        out.append(law.with_options(E=1.69) if law.missing_options else law)
    bnsl = get_law("bnsl")
    out += [bnsl.with_options(breaks=3, x="N"), get_law("power_law").with_options(x="D")]
    return out


@pytest.mark.parametrize("law", _every_law(), ids=lambda law: f"{law.name}-{dict(law.options)}")
def test_every_law_says_what_its_parameters_are_and_how_it_allocates(law):
    for name in (*law.parameters, *law.reported):
        assert law.meaning(name), f"{law.name}: no meaning for {name}"
        assert name in law.symbols, f"{law.name}: no symbol for {name}"
    assert law.exponents and set(law.exponents) <= set(law.reported)
    # The allocation rule follows the law: a closed form exactly when optimal_params gives one.
    if not law.allocates:
        assert law.allocation_kind == "not_applicable" and law.optimal_params is None and not law.allocation
        assert law.allocation_rule.startswith("not applicable") and law.axes[0] in law.allocation_rule
    elif law.optimal_params is not None:
        assert law.allocation_kind == "closed_form" and law.allocation_rule == law.allocation
        assert law.allocation.startswith("N^*(C) =")
    else:
        assert law.allocation_kind == "numerical" and "numerically" in law.allocation_rule
    # Registration's probe: the reported values are exactly the reported names.
    laws.registry.check_law(law)


def test_symbol_defaults_to_the_name():
    law = get_law("chinchilla")
    assert law.symbol("alpha") == r"\alpha" and law.symbol("log_AN_ref") == r"\ell_N"
    assert law.symbol("gamma") == r"\gamma"  # a Greek name not in the law's table
    assert law.symbol("k") == "k" and law.symbol("my_param") == r"\mathrm{my\_param}"
    assert law.meaning("not_a_parameter") == ""


def test_tied_and_fixed_e_report_exactly_their_names_and_keep_their_optimum():
    rng = np.random.default_rng(3)
    p = _draws(rng, 6)
    log_an, log_bd = laws.reference_from_amplitudes(
        p["A"], p["B"], p["alpha"], p["alpha"], SCALE.log_n_ref, SCALE.log_d_ref
    )
    tied = get_law("chinchilla_tied")
    theta = {"E": p["E"], "log_AN_ref": log_an, "log_BD_ref": log_bd, "alpha": p["alpha"]}
    rep = tied.reported_values(theta, SCALE)
    assert set(rep) == set(tied.reported) == {"E", "A", "B", "alpha"}
    flops = np.array([[1e21, 1e24]])
    expected = laws.chinchilla_optimal_params(flops.T, p["A"], p["B"], p["alpha"], p["alpha"]).T
    got = tied.optimal_params({k: v for k, v in rep.items()}, flops.T, 6.0).T
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    fixed = get_law("chinchilla_fixed_e").with_options(E=1.69)
    theta = {"log_AN_ref": log_an, "log_BD_ref": log_bd, "alpha": p["alpha"], "beta": p["beta"]}
    assert set(fixed.reported_values(theta, SCALE)) == set(fixed.reported) == {"A", "B", "alpha", "beta"}


def test_register_law_checks_its_reported_values(scratch_law_name):
    bad = Law(
        name=scratch_law_name,
        parameters=("E", "alpha"),
        reported=("E", "alpha", "A"),
        formula="L = E",
        log_mean=lambda theta, log_n, log_d, scale: np.log(theta["E"]) + 0 * log_n,
        reported_values=lambda theta, scale: {"E": theta["E"], "alpha": theta["alpha"], "B": 2 * theta["E"]},
        default_priors=lambda scale: {},
    )
    with pytest.raises(
        SpecError, match=rf"law '{scratch_law_name}': its reported values .*missing \['A'\], not among them \['B'\]"
    ):
        register_law(bad)
    assert scratch_law_name not in available_laws()

    def broken(theta, scale):
        raise KeyError("log_A_ref")

    with pytest.raises(SpecError, match=rf"law '{scratch_law_name}': reported_values failed .*KeyError"):
        register_law(dataclasses.replace(_scratch_law(scratch_law_name), reported_values=broken))
    with pytest.raises(SpecError, match=r"its exponents \['beta'\] are not among its reported names"):
        register_law(dataclasses.replace(_scratch_law(scratch_law_name), exponents=("beta",)))
    with pytest.raises(SpecError, match="function of one variable: it cannot have a compute-optimal allocation"):
        register_law(dataclasses.replace(_scratch_law(scratch_law_name), allocates=False, allocation="N^* = C"))


def test_default_priors_are_checked_against_the_parameters_when_built(scratch_law_name):
    calls = []

    def priors(scale):
        calls.append(scale)
        return {"E": Prior("LogNormal", mu=0.0, sigma=1.0), "alpha": Prior("Normal")}

    law = register_law(dataclasses.replace(_scratch_law(scratch_law_name), default_priors=priors))
    assert not calls  # registering builds no Prior (that would import PyMC at import time)
    with pytest.raises(SpecError, match=rf"law '{scratch_law_name}': its default priors .*not among them \['alpha'\]"):
        law.default_priors(SCALE)
    # dataclasses.replace re-checks against the new parameters
    wider = dataclasses.replace(law, parameters=("E", "alpha"), reported=("E",))
    assert set(wider.default_priors(SCALE)) == {"E", "alpha"}


def test_importing_the_laws_builds_no_prior_and_imports_no_pymc():
    import subprocess
    import sys

    code = (
        "import sys, bayes_scaling as bs; bs.get_law('chinchilla'); "
        "print(sorted(m for m in ('pymc', 'pytensor', 'pymc_extras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_define_law_checks_the_loss_takes_the_priors_names():
    priors = {"E": Prior("LogNormal", mu=0.5, sigma=0.3), "alpha": Prior("LogNormal", mu=-1.2, sigma=0.4)}
    with pytest.raises(
        SpecError,
        match=r"law 'test_laws_mismatch': the parameters of loss .*missing \['alpha'\], not among them \['beta'\]",
    ):
        laws.define_law("test_laws_mismatch", lambda N, D, E, beta: E + N**-beta, priors)
    assert "test_laws_mismatch" not in available_laws()
    law = laws.define_law(
        "test_laws_user",
        lambda N, D, **p: p["E"] + N ** -p["alpha"],  # **params: not checked
        priors,
        meanings={"E": "floor"},
        exponents=("alpha",),
        replace=True,
    )
    try:
        assert law.symbol("alpha") == r"\alpha" and law.meaning("E") == "floor" and law.exponents == ("alpha",)
        assert law.allocation_kind == "numerical" and law.formula == r"L(N, D) = \mathrm{test\_laws\_user}(N, D)"
    finally:
        laws.registry._REGISTRY.pop("test_laws_user", None)


def test_log_densities_match_scipy():
    """The numpy log densities behind PSIS-LOO and power-scaling, against scipy.stats, with
    per-draw parameters broadcast (n_draws, 1) against per-point ones."""
    from bayes_scaling import noise

    rng = np.random.default_rng(0)
    y = rng.normal(size=(1, 7))
    loc, scale = rng.normal(size=(5, 7)), rng.uniform(0.01, 2.0, (5, 7))
    nu = rng.uniform(0.5, 60.0, (5, 1))
    np.testing.assert_allclose(
        noise.student_t_logpdf(y, nu, loc, scale), stats.t.logpdf(y, df=nu, loc=loc, scale=scale), rtol=1e-12
    )
    np.testing.assert_allclose(noise.normal_logpdf(y, loc, scale), stats.norm.logpdf(y, loc, scale), rtol=1e-12)
    x, shape = rng.uniform(1e-6, 3.0, (1, 7)), rng.uniform(0.5, 5.0, 7)
    np.testing.assert_allclose(
        noise.gamma_logpdf(x, shape, scale), stats.gamma.logpdf(x, a=shape, scale=scale), rtol=1e-12
    )
