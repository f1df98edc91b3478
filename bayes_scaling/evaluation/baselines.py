r"""Point-fit baselines for side-by-side comparison: Chinchilla Approach 3 (Hoffmann et al. 2022,
appendix D.2; the fit itself is :mod:`bayes_scaling.laws.point_fit`, which the data checks and
the reference sizes use too), its Epoch-style bootstrap, VPNLS, and Approach 2 (IsoFLOP
parabolas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..data.runs import Runs
from ..laws.point_fit import HUBER_DELTA, PointFit, approach3_arrays, approach3_objective


def approach3(runs: Runs, *, delta: float = HUBER_DELTA, n_starts: int = 8) -> PointFit:
    """Chinchilla Approach 3 point fit on every run (see module docstring). Deterministic."""
    return approach3_arrays(np.log(runs.params), np.log(runs.tokens), np.log(runs.loss), delta=delta, n_starts=n_starts)


# --------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapFit:
    r"""Approach-3 fits on bootstrap resamples of the runs (arrays of shape ``(n_resamples,)``).

    The interval it gives is for the *law* (parameter uncertainty only), as published bootstrap
    intervals are; it says nothing about the scatter of a new run around the law.
    """

    E: np.ndarray
    A: np.ndarray
    B: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    point: PointFit

    def loss(self, params, tokens) -> np.ndarray:
        """Loss of every resample's law at the points: shape ``(n_resamples, n_points)``."""
        n = np.asarray(params, dtype=float).reshape(1, -1)
        d = np.asarray(tokens, dtype=float).reshape(1, -1)
        col = lambda v: np.asarray(v)[:, None]  # noqa: E731
        return col(self.E) + col(self.A) * n ** -col(self.alpha) + col(self.B) * d ** -col(self.beta)


def approach3_bootstrap(
    runs: Runs, *, n_resamples: int = 1000, delta: float = HUBER_DELTA, random_seed: int = 0
) -> BootstrapFit:
    """Epoch-style bootstrap of Approach 3 (Besiroglu et al. 2024): resample the runs with
    replacement, refit each resample by L-BFGS-B warm-started from the full-data fit (found from
    the grid once) with tight tolerances. Deterministic for a given ``random_seed``."""
    log_n, log_d, y = np.log(runs.params), np.log(runs.tokens), np.log(runs.loss)
    point = approach3_arrays(log_n, log_d, y, delta=delta)
    start = np.array([np.log(point.A), np.log(point.B), np.log(point.E), point.alpha, point.beta])
    bounds = [(None, None), (None, None), (None, None), (0.0, None), (0.0, None)]
    rng = np.random.default_rng(random_seed)
    out = np.empty((n_resamples, 5))
    for i in range(n_resamples):
        idx = rng.integers(0, len(y), len(y))
        res = optimize.minimize(
            approach3_objective,
            start,
            args=(log_n[idx], log_d[idx], y[idx], delta),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-12},
        )
        out[i] = res.x
    with np.errstate(over="ignore"):
        A, B, E = np.exp(out[:, 0]), np.exp(out[:, 1]), np.exp(out[:, 2])
    return BootstrapFit(E=E, A=A, B=B, alpha=out[:, 3], beta=out[:, 4], point=point)


# --------------------------------------------------------------------------- VPNLS
def vpnls(runs: Runs, *, grid_size: int = 30, exponent_range: tuple[float, float] = (0.02, 2.0)) -> PointFit:
    r"""Variable-projection non-linear least squares on the loss itself.

    For fixed :math:`(\alpha, \beta)` the law :math:`L = E + A N^{-\alpha} + B D^{-\beta}` is
    linear in :math:`(E, A, B)`, solved in closed form by non-negative least squares; the
    residual sum of squares is then minimised over :math:`(\alpha, \beta)`: first on a
    ``grid_size`` x ``grid_size`` log-spaced grid, then by Nelder-Mead from the best grid point.
    """
    n, d, loss = runs.params, runs.tokens, runs.loss

    # Columns are rescaled to unit max so NNLS is well conditioned; coefficients scaled back.
    def solve(alpha, beta):
        x_n, x_d = n**-alpha, d**-beta
        s_n, s_d = x_n.max(), x_d.max()
        design = np.column_stack([np.ones_like(loss), x_n / s_n, x_d / s_d])
        coef, rnorm = optimize.nnls(design, loss)
        return np.array([coef[0], coef[1] / s_n, coef[2] / s_d]), rnorm**2

    lo, hi = exponent_range
    grid = np.geomspace(lo, hi, grid_size)
    rss = np.array([[solve(a, b)[1] for b in grid] for a in grid])
    i, j = np.unravel_index(np.argmin(rss), rss.shape)

    def objective(x):
        a, b = np.exp(x)
        return solve(a, b)[1] if lo / 2 <= a <= 2 * hi and lo / 2 <= b <= 2 * hi else np.inf

    res = optimize.minimize(
        objective, np.log([grid[i], grid[j]]), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-14}
    )
    alpha, beta = np.exp(res.x)
    (E, A, B), value = solve(alpha, beta)
    return PointFit(
        E=float(E),
        A=float(A),
        B=float(B),
        alpha=float(alpha),
        beta=float(beta),
        objective=float(value),
        converged=bool(res.success),
    )


# --------------------------------------------------------------------------- Approach 2
@dataclass(frozen=True)
class Approach2Fit:
    r"""Chinchilla Approach 2: :math:`N^*(C) = 10^{c_N} C^{a}`, :math:`D^*(C) = 10^{c_D} C^{b}`.

    ``budgets`` and ``params_opt`` / ``tokens_opt`` are the IsoFLOP groups and the minima of their
    parabolas, from which the power laws were fitted by least squares in log-log space.
    """

    a: float
    log10_g_params: float
    b: float
    log10_g_tokens: float
    budgets: np.ndarray
    params_opt: np.ndarray
    tokens_opt: np.ndarray

    def optimal_params(self, flops) -> np.ndarray:
        return 10.0 ** (self.log10_g_params + self.a * np.log10(np.asarray(flops, dtype=float)))

    def optimal_tokens(self, flops) -> np.ndarray:
        return 10.0 ** (self.log10_g_tokens + self.b * np.log10(np.asarray(flops, dtype=float)))


def isoflop_groups(flops, *, decimals: int = 1) -> np.ndarray:
    """Group label per run: its compute rounded in log10 to ``decimals`` (IsoFLOP budgets)."""
    return np.round(np.log10(np.asarray(flops, dtype=float)), decimals)


def isoflop_minimum(params, loss) -> float | None:
    r"""N at the minimum of a parabola in :math:`\log N` fitted to one IsoFLOP group's losses.

    None when the group has fewer than 3 distinct sizes, the parabola opens downward, or its
    vertex lies outside the sizes tried (no interior minimum: Approach 2 cannot use the group).
    """
    x = np.log(np.asarray(params, dtype=float))
    if len(np.unique(x)) < 3:
        return None
    c2, c1, _ = np.polyfit(x, np.asarray(loss, dtype=float), 2)
    if c2 <= 0:
        return None
    vertex = -c1 / (2 * c2)
    if not x.min() <= vertex <= x.max():
        return None
    return float(np.exp(vertex))


def approach2(runs: Runs, *, groups=None) -> Approach2Fit:
    """Chinchilla Approach 2: a parabola per IsoFLOP group, then power laws through the minima.

    ``groups`` labels each run's IsoFLOP budget (default: :func:`isoflop_groups` of its compute).
    Needs at least two groups with an interior minimum; raises ``ValueError`` otherwise.
    """
    labels = isoflop_groups(runs.flops) if groups is None else np.asarray(groups)
    budgets, n_opt = [], []
    for label in np.unique(labels):
        sel = labels == label
        n_star = isoflop_minimum(runs.params[sel], runs.loss[sel])
        if n_star is not None:
            budgets.append(float(np.median(runs.flops[sel])))
            n_opt.append(n_star)
    if len(budgets) < 2:
        raise ValueError(
            f"Approach 2 needs >= 2 IsoFLOP groups with an interior minimum; found {len(budgets)} "
            f"among {len(np.unique(labels))} groups"
        )
    budgets, n_opt = np.array(budgets), np.array(n_opt)
    d_opt = budgets / (runs.flops_per_param_token * n_opt)
    a, g_n = np.polyfit(np.log10(budgets), np.log10(n_opt), 1)
    b, g_d = np.polyfit(np.log10(budgets), np.log10(d_opt), 1)
    return Approach2Fit(
        a=float(a),
        log10_g_params=float(g_n),
        b=float(b),
        log10_g_tokens=float(g_d),
        budgets=budgets,
        params_opt=n_opt,
        tokens_opt=d_opt,
    )


# --------------------------------------------------------------------------- borrowed exponents
def borrowed_exponents(runs: Runs, donor: Runs) -> PointFit:
    r"""The Hitchhiker's-guide borrow (Choshen et al. 2024): a family with too few runs of its
    own takes the exponents of another family's fit and fits only its own scale.

    :math:`\alpha, \beta` from the Approach-3 fit of ``donor``; then :math:`E, A, B \ge 0` by
    non-negative least squares of :math:`L = E + A N^{-\alpha} + B D^{-\beta}`, linear in them
    once the exponents are fixed (exact, no starts; with fewer runs than three, the solution of
    least norm among those the non-negativity allows)."""
    exponents = approach3(donor)
    features = np.column_stack([np.ones(len(runs)), runs.params**-exponents.alpha, runs.tokens**-exponents.beta])
    # columns scaled to unit norm: the amplitudes' features are 1e-4..1e-2 of the constant's
    norms = np.linalg.norm(features, axis=0)
    coef, residual = optimize.nnls(features / norms, runs.loss)
    E, A, B = coef / norms
    return PointFit(float(E), float(A), float(B), exponents.alpha, exponents.beta, float(residual), True)
