r"""Noise along a training run: a per-run offset plus an Ornstein-Uhlenbeck (continuous-time
AR(1)) residual in step, with its exact likelihood in O(n) (no Kalman filter, no dense matrix).

The log loss of observation :math:`i` of run tree :math:`g` is the law's log mean plus

.. math::  x_i = u_g + r_i, \qquad u_g \sim N(0, \omega^2), \qquad
           r_i \mid r_{\pi(i)} \sim N\!\left(\rho_i r_{\pi(i)},\ \sigma^2 (1 - \rho_i^2)\right),
           \quad \rho_i = e^{-\Delta_i / \ell},

where :math:`\pi(i)` is the observation before :math:`i` on the same trajectory (its parent),
:math:`\Delta_i` the steps between them, and a tree's first observation has
:math:`r \sim N(0, \sigma^2)`. A *tree* is a run together with the runs that branch off it (a
cooldown started from a checkpoint shares the run's path up to the branch): the residual is
Markov along the tree, so its density is the product of these conditionals, whatever the
branching.

**Whitening.** With :math:`W` the (bidiagonal, or tree-shaped) operator
:math:`(Wz)_i = (z_i - \rho_i z_{\pi(i)}) / s_i`, :math:`s_i = \sigma\sqrt{1 - \rho_i^2}`, the
OU precision is :math:`W^\top W`. The offset is marginalised with the matrix-determinant lemma
and the Sherman-Morrison identity, so with :math:`a = Wx` and :math:`b = W\mathbf 1`:

.. math::  -2 \log p(x_g) = n_g \log 2\pi + 2 \sum_i \log s_i + \log(1 + \omega^2 b^\top b)
           + a^\top a - \frac{\omega^2 (a^\top b)^2}{1 + \omega^2 b^\top b}.

Tested against a dense multivariate normal and a Kalman filter (``tests/noise``).
"""

from __future__ import annotations

import numpy as np

from ..laws.maths import is_symbolic

__all__ = ["whiten_terms", "tree_loglik", "new_paths", "continue_paths", "offset_given"]

_LOG_2PI = float(np.log(2 * np.pi))


def _ops(*values):
    if is_symbolic(*values):
        import pytensor.tensor as pt

        return pt
    return np


def _segment_sum(values, tree, n_trees):
    if is_symbolic(values):
        import pytensor.tensor as pt

        return pt.inc_subtensor(pt.zeros(n_trees)[tree], values)
    values = np.asarray(values)
    if values.ndim == 1:
        return np.bincount(tree, weights=values, minlength=n_trees)
    out = np.zeros((*values.shape[:-1], n_trees))
    np.add.at(out, (..., tree), values)
    return out


def whiten_terms(x, parent, dt, sigma, ell):
    """``(a, b, log_s)``: the whitened residuals, the whitened ones and the log conditional sds
    (numpy, with draws on leading axes, or pytensor)."""
    xp = _ops(x, sigma, ell)
    parent = np.asarray(parent)
    root = parent < 0
    decay = np.where(root, 1e30, np.asarray(dt, dtype=float))  # rho = 0 (finite: its gradient stays 0)
    rho = xp.exp(-decay / ell)
    one_minus_rho2 = -xp.expm1(-2.0 * decay / ell)
    s = sigma * xp.sqrt(one_minus_rho2)
    x_parent = x[..., np.where(root, 0, parent)]
    a = (x - rho * x_parent) / s
    b = (1.0 - rho) / s
    return a, b, xp.log(s)


def tree_loglik(x, parent, dt, tree, n_trees: int, sigma, ell, omega):
    """Log density of the residuals ``x`` of each tree (``(..., n_trees)``; see the module doc)."""
    xp = _ops(x, sigma, ell, omega)
    a, b, log_s = whiten_terms(x, parent, dt, sigma, ell)
    tree = np.asarray(tree)
    count = np.bincount(tree, minlength=n_trees).astype(float)
    aa = _segment_sum(a * a, tree, n_trees)
    ab = _segment_sum(a * b, tree, n_trees)
    bb = _segment_sum(b * b * xp.ones_like(a), tree, n_trees)
    logs = _segment_sum(log_s * xp.ones_like(a), tree, n_trees)
    w2 = omega**2
    return -0.5 * (count * _LOG_2PI + 2.0 * logs + xp.log1p(w2 * bb) + aa - w2 * ab**2 / (1.0 + w2 * bb))


def new_paths(rng: np.random.Generator, steps, sigma, ell, omega) -> np.ndarray:
    """Draws of ``x`` at ``steps`` (increasing) of a new run: ``(n_draws, n_steps)`` for
    parameter draws ``sigma``, ``ell``, ``omega`` of shape ``(n_draws,)``."""
    sigma, ell, omega = (np.asarray(v, dtype=float)[:, None] for v in (sigma, ell, omega))
    steps = np.asarray(steps, dtype=float)
    u = omega * rng.standard_normal(sigma.shape)
    r = sigma * rng.standard_normal(sigma.shape)
    return u + _propagate(rng, r, np.diff(steps, prepend=steps[:1]), sigma, ell)


def _propagate(rng, r0, gaps, sigma, ell) -> np.ndarray:
    """The OU path from ``r0`` (``(n_draws, 1)``) over ``gaps`` (a first gap of 0 keeps r0)."""
    out = np.empty((r0.shape[0], gaps.size))
    z = rng.standard_normal(out.shape)
    r = r0[:, 0]
    for j, gap in enumerate(gaps):
        rho = np.exp(-gap / ell[:, 0])
        r = rho * r + sigma[:, 0] * np.sqrt(-np.expm1(-2.0 * gap / ell[:, 0])) * z[:, j]
        out[:, j] = r
    return out


def offset_given(x, parent, dt, sigma, ell, omega):
    """Mean and sd of a tree's offset ``u`` given its residuals ``x`` (``(n_draws, n)``)."""
    a, b, _ = whiten_terms(x, parent, dt, sigma[:, None], ell[:, None])
    precision = 1.0 / omega**2 + (b * b).sum(axis=-1)
    return (a * b).sum(axis=-1) / precision, 1.0 / np.sqrt(precision)


def continue_paths(rng, x, parent, dt, last_step, steps, sigma, ell, omega) -> np.ndarray:
    """Draws of ``x`` at ``steps`` (after ``last_step``) of a run whose residuals so far are
    ``x`` (``(n_draws, n)``, the last one at ``last_step``): the offset from its conditional given
    the run so far, then the OU path on from the last residual."""
    sigma, ell, omega = (np.asarray(v, dtype=float) for v in (sigma, ell, omega))
    mean, sd = offset_given(x, parent, dt, sigma, ell, omega)
    u = mean + sd * rng.standard_normal(mean.shape)
    r_last = (x[:, -1] - u)[:, None]
    steps = np.asarray(steps, dtype=float)
    gaps = np.diff(steps, prepend=float(last_step))
    return u[:, None] + _propagate(rng, r_last, gaps, sigma[:, None], ell[:, None])
