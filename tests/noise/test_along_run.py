"""The exact O(n) likelihood of noise along runs, against a dense Gaussian and a Kalman filter;
new and continued paths against their exact moments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayes_scaling.noise.along_run import continue_paths, new_paths, offset_given, tree_loglik

SIGMA, ELL, OMEGA = 0.3, 40.0, 0.5


def tree():
    """A run of 7 rows and a branch of 3 off its 4th row; a second run of 4 rows."""
    steps = np.array([0, 10, 25, 40, 60, 80, 130, 50, 70, 95, 5, 20, 45, 90.0])
    parent = np.array([-1, 0, 1, 2, 3, 4, 5, 3, 7, 8, -1, 10, 11, 12])
    tree_of = np.array([0] * 10 + [1] * 4)
    dt = np.where(parent >= 0, steps - steps[np.maximum(parent, 0)], 0.0)
    return steps, parent, dt, tree_of


def dense_cov(steps, parent, tree_of):
    def path(i):
        p = [i]
        while parent[p[-1]] >= 0:
            p.append(parent[p[-1]])
        return p

    n = steps.size
    cov = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if tree_of[i] != tree_of[j]:
                continue
            common = next(k for k in path(i) if k in path(j))
            d = (steps[i] - steps[common]) + (steps[j] - steps[common])
            cov[i, j] = SIGMA**2 * np.exp(-d / ELL) + OMEGA**2
    return cov


def test_tree_likelihood_equals_the_dense_gaussian():
    steps, parent, dt, tree_of = tree()
    cov = dense_cov(steps, parent, tree_of)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.multivariate_normal(np.zeros(steps.size), cov)
        per_tree = tree_loglik(x, parent, dt, tree_of, 2, SIGMA, ELL, OMEGA)
        assert per_tree.sum() == pytest.approx(multivariate_normal(np.zeros(steps.size), cov).logpdf(x), rel=1e-10)
        first = tree_of == 0
        assert per_tree[0] == pytest.approx(
            multivariate_normal(np.zeros(first.sum()), cov[np.ix_(first, first)]).logpdf(x[first]), rel=1e-10
        )


def kalman_loglik(x, steps):
    """State (u, r): u constant, r OU; observation u + r, no measurement noise."""
    mean = np.zeros(2)
    cov = np.diag([OMEGA**2, SIGMA**2])
    total, h = 0.0, np.array([1.0, 1.0])
    for i, y in enumerate(x):
        if i:
            rho = np.exp(-(steps[i] - steps[i - 1]) / ELL)
            f = np.diag([1.0, rho])
            mean = f @ mean
            cov = f @ cov @ f.T + np.diag([0.0, SIGMA**2 * (1 - rho**2)])
        s = h @ cov @ h
        total += -0.5 * (np.log(2 * np.pi * s) + (y - h @ mean) ** 2 / s)
        gain = cov @ h / s
        mean = mean + gain * (y - h @ mean)
        cov = cov - np.outer(gain, h @ cov)
    return total


def test_run_likelihood_equals_a_kalman_filter():
    rng = np.random.default_rng(1)
    steps = np.cumsum(rng.uniform(1, 60, size=40))
    parent = np.arange(-1, 39)
    dt = np.r_[0.0, np.diff(steps)]
    x = rng.normal(0, 0.6, size=40)
    ours = tree_loglik(x, parent, dt, np.zeros(40, dtype=int), 1, SIGMA, ELL, OMEGA)[0]
    assert ours == pytest.approx(kalman_loglik(x, steps), rel=1e-9)


def test_pytensor_twin_and_draw_axes_agree_with_numpy():
    import pytensor.tensor as pt

    steps, parent, dt, tree_of = tree()
    x = np.random.default_rng(2).normal(size=steps.size)
    expect = tree_loglik(x, parent, dt, tree_of, 2, SIGMA, ELL, OMEGA)
    got = tree_loglik(
        pt.as_tensor_variable(x),
        parent,
        dt,
        tree_of,
        2,
        pt.as_tensor_variable(SIGMA),
        pt.as_tensor_variable(ELL),
        pt.as_tensor_variable(OMEGA),
    ).eval()
    assert got == pytest.approx(expect, rel=1e-10)
    draws = tree_loglik(
        np.stack([x, x]),
        parent,
        dt,
        tree_of,
        2,
        np.array([[SIGMA]] * 2),
        np.array([[ELL]] * 2),
        np.array([[OMEGA]] * 2),
    )
    assert draws.shape == (2, 2) and draws[1] == pytest.approx(expect, rel=1e-12)


def test_new_paths_have_the_model_covariance():
    steps = np.array([0.0, 10, 30, 100, 400])
    n = 40_000
    ones = np.ones(n)
    x = new_paths(np.random.default_rng(3), steps, SIGMA * ones, ELL * ones, OMEGA * ones)
    expect = SIGMA**2 * np.exp(-np.abs(steps[:, None] - steps[None, :]) / ELL) + OMEGA**2
    # Each sample covariance entry has sd <= sqrt(2/n) * (SIGMA^2 + OMEGA^2) = 0.0024: 6 sd allowed.
    assert np.abs(np.cov(x.T) - expect).max() < 6 * np.sqrt(2 / n) * (SIGMA**2 + OMEGA**2)


def test_continued_paths_follow_the_exact_gaussian_conditional():
    steps = np.array([0.0, 15, 40, 70, 90])
    future = np.array([100.0, 150, 300])
    every = np.r_[steps, future]
    cov = SIGMA**2 * np.exp(-np.abs(every[:, None] - every[None, :]) / ELL) + OMEGA**2
    past, ahead = slice(0, 5), slice(5, 8)
    x = np.array([0.4, 0.2, -0.1, 0.3, 0.5])
    gain = cov[ahead, past] @ np.linalg.inv(cov[past, past])
    mean = gain @ x
    cond = cov[ahead, ahead] - gain @ cov[past, ahead]
    n = 40_000
    ones = np.ones(n)
    parent = np.arange(-1, 4)
    dt = np.r_[0.0, np.diff(steps)]
    draws = continue_paths(
        np.random.default_rng(4),
        np.tile(x, (n, 1)),
        parent,
        dt,
        steps[-1],
        future,
        SIGMA * ones,
        ELL * ones,
        OMEGA * ones,
    )
    sd = np.sqrt(np.diag(cond))
    assert np.abs(draws.mean(axis=0) - mean).max() < 6 * sd.max() / np.sqrt(n)
    assert np.abs(np.cov(draws.T) - cond).max() < 6 * np.sqrt(2 / n) * sd.max() ** 2
    # The offset's conditional mean, exactly: Cov(u, x) Cov(x)^-1 x.
    u_mean, _ = offset_given(x[None, :], parent, dt, np.array([SIGMA]), np.array([ELL]), np.array([OMEGA]))
    assert u_mean[0] == pytest.approx(OMEGA**2 * np.ones(5) @ np.linalg.solve(cov[past, past], x), rel=1e-10)
