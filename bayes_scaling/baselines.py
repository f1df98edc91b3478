r"""Point-fit baselines, for side-by-side comparison and for choosing reference sizes.

Chinchilla Approach 3 (Hoffmann et al. 2022, appendix D.2): minimise the *summed* Huber loss
(:math:`\delta = 10^{-3}`) between observed log loss and the log-sum-exp form

.. math::  \log L = \operatorname{LSE}(a - \alpha\log N,\; b - \beta\log D,\; e),
           \qquad A = e^a,\ B = e^b,\ E = e^e,

with L-BFGS-B started from a grid of initialisations. The grid is the paper's
(:math:`\alpha,\beta \in \{0, .5, \dots, 2\}`, :math:`e \in \{-1, -.5, \dots, 1\}`,
:math:`a, b \in \{0, 5, \dots, 25\}`); the objective is evaluated on the whole grid at once and
L-BFGS-B is run from the ``n_starts`` best grid points (the rest rarely win and cost minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .runs import Runs

HUBER_DELTA = 1e-3


def _huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def _huber_grad(r, delta):
    return np.clip(r, -delta, delta)


def _approach3_terms(x, log_n, log_d):
    a, b, e, alpha, beta = x
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    return terms, special.logsumexp(terms, axis=0)


def _approach3_objective(x, log_n, log_d, y, delta):
    terms, lse = _approach3_terms(x, log_n, log_d)
    r = y - lse
    value = _huber(r, delta).sum()
    # d value / d x = -sum huber'(r) * d lse / d x ; d lse / d term_k = softmax_k.
    w = np.exp(terms - lse)
    g = -_huber_grad(r, delta)
    grad = np.array(
        [
            (g * w[0]).sum(),
            (g * w[1]).sum(),
            (g * w[2]).sum(),
            (g * w[0] * -log_n).sum(),
            (g * w[1] * -log_d).sum(),
        ]
    )
    return value, grad


def _approach3_grid():
    exps = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    amps = np.arange(0.0, 25.01, 5.0)
    mesh = np.meshgrid(amps, amps, es, exps, exps, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)  # columns a, b, e, alpha, beta


@dataclass(frozen=True)
class PointFit:
    """A point estimate of the Chinchilla law in the usual units."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    converged: bool

    def loss(self, params, tokens):
        """:math:`E + A N^{-\\alpha} + B D^{-\\beta}` at the point estimate."""
        return self.E + self.A * np.power(params, -self.alpha) + self.B * np.power(tokens, -self.beta)


def approach3(runs: Runs, *, delta: float = HUBER_DELTA, n_starts: int = 8) -> PointFit:
    """Chinchilla Approach 3 point fit on every run (see module docstring). Deterministic."""
    return approach3_arrays(np.log(runs.params), np.log(runs.tokens), np.log(runs.loss), delta=delta, n_starts=n_starts)


def approach3_arrays(log_n, log_d, y, *, delta: float = HUBER_DELTA, n_starts: int = 8, chunk: int = 500) -> PointFit:
    """Approach 3 on arrays of log N, log D and log loss (the grid is scored in chunks)."""
    log_n, log_d, y = (np.asarray(v, dtype=float) for v in (log_n, log_d, y))
    grid = _approach3_grid()
    grid_values = np.empty(len(grid))
    for lo in range(0, len(grid), chunk):
        g = grid[lo : lo + chunk]
        lse = special.logsumexp(
            np.stack(
                [
                    g[:, [0]] - g[:, [3]] * log_n,
                    g[:, [1]] - g[:, [4]] * log_d,
                    np.broadcast_to(g[:, [2]], (len(g), len(y))),
                ]
            ),
            axis=0,
        )
        grid_values[lo : lo + chunk] = _huber(y - lse, delta).sum(axis=1)
    best = None
    bounds = [(None, None), (None, None), (None, None), (0.0, None), (0.0, None)]
    for start in grid[np.argsort(grid_values, kind="stable")[:n_starts]]:
        res = optimize.minimize(
            _approach3_objective,
            start,
            args=(log_n, log_d, y, delta),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-12},
        )
        if best is None or res.fun < best.fun:
            best = res
    a, b, e, alpha, beta = best.x
    with np.errstate(over="ignore"):  # degenerate data can send an amplitude to inf: callers check
        E, A, B = (float(np.exp(v)) for v in (e, a, b))
    return PointFit(
        E=E,
        A=A,
        B=B,
        alpha=float(alpha),
        beta=float(beta),
        objective=float(best.fun),
        converged=bool(best.success),
    )
