r"""Pure maths of the scaling laws, on numpy arrays *and* pytensor tensors.

Nothing here knows about PyMC models, priors or files: each function is a formula, tested
exactly against a direct numpy evaluation.

The Chinchilla law (Hoffmann et al. 2022, Approach 3) is

.. math::  L(N, D) = E + A N^{-\alpha} + B D^{-\beta}

and is evaluated in log space as a log-sum-exp of three terms, with the amplitudes taken at a
reference size :math:`(N_r, D_r)`:

.. math::  \log L = \operatorname{LSE}\bigl(\log E,\;
           \ell_N - \alpha(\log N - \log N_r),\; \ell_D - \beta(\log D - \log D_r)\bigr),
           \qquad \ell_N = \log A - \alpha \log N_r,\; \ell_D = \log B - \beta \log D_r .

Sampling :math:`\ell_N, \ell_D` instead of :math:`\log A, \log B` removes the near-perfect
correlation between an amplitude and its exponent when :math:`N_r, D_r` sit inside the data.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "is_symbolic",
    "logaddexp",
    "chinchilla_log_loss",
    "chinchilla_loss",
    "amplitudes_from_reference",
    "reference_from_amplitudes",
    "chinchilla_optimal_params",
    "seed_noise_sd",
    "softplus",
    "kaplan_log_loss",
    "kaplan_constants",
    "kaplan_loss",
    "kaplan_optimal_params",
    "power_law_log_loss",
    "bnsl_log_reducible",
    "bnsl_loss",
    "effective_repeats",
    "data_constrained_sizes",
    "repeated_data_log_tokens",
    "overtrain_log_loss",
    "overtrain_optimal_params",
    "downstream_error",
    "isoflop_profile_log_loss",
    "isoflop_argmin",
    "exp",
    "log",
]


def is_symbolic(*values) -> bool:
    return any(type(v).__module__.startswith("pytensor") for v in values)


def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` for numpy arrays or pytensor tensors."""
    if is_symbolic(x, y):
        import pytensor.tensor as pt

        return pt.logaddexp(x, y)
    return np.logaddexp(x, y)


def chinchilla_log_loss(log_n, log_d, log_E, log_AN_ref, log_BD_ref, alpha, beta, log_n_ref, log_d_ref):
    r""":math:`\log L(N, D)` of the Chinchilla law, from reference-size amplitudes (see module doc).

    Broadcasts: pass parameter draws as ``(n_draws, 1)`` and sizes as ``(n_points,)`` to get a
    ``(n_draws, n_points)`` array.
    """
    term_n = log_AN_ref - alpha * (log_n - log_n_ref)
    term_d = log_BD_ref - beta * (log_d - log_d_ref)
    if is_symbolic(log_n, log_d, log_E, log_AN_ref, log_BD_ref, alpha, beta):
        return logaddexp(log_E, logaddexp(term_n, term_d))
    # numpy: three exponentials and one log are ~3x faster than two logaddexp; the terms are
    # losses (far below e^709), and any overflow or underflow falls back to the stable form.
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        out = np.log(np.exp(log_E) + np.exp(term_n) + np.exp(term_d))
    # (a sum above e^-700 loses nothing to terms that underflow; otherwise use the stable form)
    if not np.all(np.isfinite(out) & (out > -700.0)):
        out = np.logaddexp(log_E, np.logaddexp(term_n, term_d))
    return out


def chinchilla_loss(n, d, E, A, B, alpha, beta):
    r""":math:`L = E + A N^{-\alpha} + B D^{-\beta}` evaluated directly (the reference formula)."""
    return E + A * np.power(n, -alpha) + B * np.power(d, -beta)


def amplitudes_from_reference(log_AN_ref, log_BD_ref, alpha, beta, log_n_ref, log_d_ref):
    r""":math:`A = e^{\ell_N} N_r^{\alpha}`, :math:`B = e^{\ell_D} D_r^{\beta}` in the usual units."""
    exp = _exp_of(log_AN_ref, log_BD_ref, alpha, beta)
    return exp(log_AN_ref + alpha * log_n_ref), exp(log_BD_ref + beta * log_d_ref)


def reference_from_amplitudes(A, B, alpha, beta, log_n_ref, log_d_ref):
    r"""Inverse of :func:`amplitudes_from_reference`: :math:`\ell_N = \log A - \alpha\log N_r`, ..."""
    return np.log(A) - alpha * log_n_ref, np.log(B) - beta * log_d_ref


def _exp_of(*values):
    """``pt.exp`` if any value is a pytensor tensor, else ``np.exp``."""
    if is_symbolic(*values):
        import pytensor.tensor as pt

        return pt.exp
    return np.exp


def chinchilla_optimal_params(flops, A, B, alpha, beta, flops_per_param_token=6.0):
    r"""Compute-optimal :math:`N^*(C)` under :math:`C = kND` (closed form, Hoffmann et al. eq. 4).

    .. math::  G = \Bigl(\frac{\alpha A}{\beta B}\Bigr)^{1/(\alpha+\beta)}, \qquad
               N^* = G \,(C/k)^{\beta/(\alpha+\beta)}, \qquad D^* = \frac{C/k}{N^*}.

    Evaluated in log space so that draws with extreme amplitudes do not overflow.
    """
    log_c = np.log(flops) - np.log(flops_per_param_token)
    s = alpha + beta
    log_g = (np.log(alpha) + np.log(A) - np.log(beta) - np.log(B)) / s
    return np.exp(log_g + (beta / s) * log_c)


def seed_noise_sd(log_n, sigma_ref, gamma, log_n_ref):
    r"""Run-to-run sd of log loss at size N: :math:`\sigma(N) = \sigma_r (N/N_r)^{-\gamma}`."""
    exp = _exp_of(log_n, sigma_ref, gamma)
    return sigma_ref * exp(-gamma * (log_n - log_n_ref))


# --------------------------------------------------------------------------- helpers
def _ops(*values):
    """The array module for these values: ``pytensor.tensor`` if any is symbolic, else numpy."""
    if is_symbolic(*values):
        import pytensor.tensor as pt

        return pt
    return np


def softplus(x):
    r""":math:`\log(1 + e^x)`, stable for large ``|x|`` (numpy or pytensor)."""
    if is_symbolic(x):
        import pytensor.tensor as pt

        return pt.softplus(x)
    return np.logaddexp(0.0, x)


# --------------------------------------------------------------------------- Kaplan
def kaplan_log_loss(log_n, log_d, log_loss_ref, alpha_d, ratio, delta, log_n_ref, log_d_ref):
    r""":math:`\log L` of Kaplan et al. (2020) eq. 1.5, :math:`L = \bigl((N_c/N)^{\alpha_N/\alpha_D} + D_c/D\bigr)^{\alpha_D}`.

    Sampled at the reference size: :math:`\log L(N_r, D_r)` (``log_loss_ref``), :math:`\alpha_D`,
    :math:`r = \alpha_N/\alpha_D` (``ratio``) and :math:`\delta`, the log ratio of the N term to
    the D term inside the bracket at the reference. With :math:`t_D = \log L_r/\alpha_D -
    \operatorname{softplus}(\delta)` and :math:`t_N = t_D + \delta`,

    .. math:: \log L = \alpha_D\, \operatorname{LSE}\bigl(t_N - r(\log N - \log N_r),\; t_D - (\log D - \log D_r)\bigr).
    """
    t_d = log_loss_ref / alpha_d - softplus(delta)
    t_n = t_d + delta
    return alpha_d * logaddexp(t_n - ratio * (log_n - log_n_ref), t_d - (log_d - log_d_ref))


def kaplan_constants(log_loss_ref, alpha_d, ratio, delta, log_n_ref, log_d_ref):
    r"""Kaplan's :math:`(N_c, D_c, \alpha_N)` from the sampled parameters (see :func:`kaplan_log_loss`)."""
    t_d = log_loss_ref / alpha_d - softplus(delta)
    t_n = t_d + delta
    exp = _exp_of(t_d, ratio)
    return exp(t_n / ratio + log_n_ref), exp(t_d + log_d_ref), ratio * alpha_d


def kaplan_loss(n, d, n_c, d_c, alpha_n, alpha_d):
    r"""Kaplan et al. (2020) eq. 1.5 evaluated directly (the reference formula)."""
    return (np.power(n_c / n, alpha_n / alpha_d) + d_c / d) ** alpha_d


def kaplan_optimal_params(flops, n_c, d_c, alpha_n, alpha_d, flops_per_param_token=6.0):
    r"""Compute-optimal :math:`N^*` of the Kaplan law under :math:`C = kND` (closed form).

    Minimising :math:`(N_c/N)^r + D_c k N / C` over N, :math:`r = \alpha_N/\alpha_D`:
    :math:`N^* = \bigl(r N_c^r C / (k D_c)\bigr)^{1/(r+1)}`.
    """
    r = alpha_n / alpha_d
    log_c = np.log(flops) - np.log(flops_per_param_token)
    return np.exp((np.log(r) + r * np.log(n_c) + log_c - np.log(d_c)) / (r + 1.0))


# --------------------------------------------------------------------------- one variable
def power_law_log_loss(log_x, log_E, log_A_ref, alpha, log_x_ref):
    r""":math:`\log L(x)` of :math:`L = E + A x^{-\alpha}`, amplitude at :math:`x_r`:
    :math:`\log L = \operatorname{LSE}(\log E,\ \ell_A - \alpha(\log x - \log x_r))`."""
    return logaddexp(log_E, log_A_ref - alpha * (log_x - log_x_ref))


def bnsl_log_reducible(log_x, log_b_ref, c0, breaks, log_x_ref):
    r"""Log of the reducible part of a broken neural scaling law (Caballero et al. 2023, eq. 1).

    .. math:: L(x) = a + b\, x^{-c_0} \prod_{i=1}^{n} \bigl(1 + (x/d_i)^{1/f_i}\bigr)^{-c_i f_i}

    ``breaks`` is a sequence of ``(c_i, log d_i, f_i)``. The amplitude is taken at :math:`x_r`:
    :math:`\log(\text{reducible})(x_r) = \ell_b`, so each break term enters relative to its value
    at :math:`x_r`. A negative :math:`c_i` makes the loss rise after break i (double descent).
    """
    out = log_b_ref - c0 * (log_x - log_x_ref)
    for c, log_d, f in breaks:
        out = out - c * f * (softplus((log_x - log_d) / f) - softplus((log_x_ref - log_d) / f))
    return out


def bnsl_loss(x, a, b, c0, breaks):
    r"""The BNSL evaluated directly (reference formula); ``breaks`` = ``[(c_i, d_i, f_i), ...]``."""
    out = b * np.power(x, -c0)
    for c, d, f in breaks:
        out = out * np.power(1.0 + np.power(x / d, 1.0 / f), -c * f)
    return a + out


# --------------------------------------------------------------------------- data-constrained
def effective_repeats(unique, repeats, r_star):
    r"""Muennighoff et al. (2023) eq. 5: the value of repeated data or excess parameters,
    in log space: :math:`\log\bigl(U + U R^* (1 - e^{-R/R^*})\bigr)` from ``log U``, R and
    :math:`R^*`. ``unique`` is :math:`\log U`, ``repeats`` is R (epochs beyond the first, >= 0)."""
    ops = _ops(unique, repeats, r_star)
    return unique + ops.log1p(r_star * (-ops.expm1(-repeats / r_star)))


def data_constrained_sizes(
    log_n, log_d, log_u, alpha, beta, log_AN_ref, log_BD_ref, r_star_n, r_star_d, log_n_ref, log_d_ref
):
    r"""Effective :math:`(\log N', \log D')` of the data-constrained law (Muennighoff et al. 2023).

    With :math:`U_D = \min(U, D)` unique tokens seen and :math:`R_D = D/U_D - 1` repeated epochs,
    :math:`D' = U_D + U_D R_D^* (1 - e^{-R_D/R_D^*})`. Parameters beyond those that are
    compute-optimal for :math:`U_D` (:math:`U_N = \min(N, N_{opt}(U_D))`, from this draw's own
    Chinchilla terms: :math:`\alpha A N^{-\alpha} = \beta B D^{-\beta}`) are discounted alike:
    :math:`N' = U_N + U_N R_N^* (1 - e^{-R_N/R_N^*})`, :math:`R_N = N/U_N - 1`.
    """
    ops = _ops(log_n, log_d, log_u, alpha, beta, log_AN_ref, r_star_n)
    log_u = ops.minimum(log_u, log_d)
    d_eff = effective_repeats(log_u, ops.exp(log_d - log_u) - 1.0, r_star_d)
    log_n_opt = (
        log_n_ref + (ops.log(alpha) + log_AN_ref - ops.log(beta) - log_BD_ref + beta * (log_u - log_d_ref)) / alpha
    )
    log_un = ops.minimum(log_n, log_n_opt)
    n_eff = effective_repeats(log_un, ops.exp(log_n - log_un) - 1.0, r_star_n)
    return n_eff, d_eff


#: Repetitions the data-utility law counts (epochs after the first): 2^14, beyond every public design.
REPEAT_MAX = 16384
#: Edges of the blocks of repetitions the data-utility law sums over: one block per epoch up to
#: 32, then 96 blocks of equal ratio up to REPEAT_MAX.
_REPEAT_EDGES = np.unique(np.r_[np.arange(1, 33), np.round(np.geomspace(32, REPEAT_MAX, 97))]).astype(int)


def repeated_data_log_tokens(log_d, log_u, half_life):
    r"""Effective :math:`\log D'` of repeated data whose utility halves every ``half_life``
    epochs (Goyal et al. 2024): the data term :math:`B D'^{-\beta}` of a fit then falls with the
    exponent :math:`\beta\,\delta^j`, :math:`\delta = 2^{-1/\tau}`, during epoch :math:`j + 1`:

    .. math::  \log D' = \log U_D + \sum_{j \ge 1} \delta^j
               \log\frac{\min(\max(D, jU_D), (j+1)U_D)}{jU_D}, \qquad U_D = \min(U, D).

    Without repetition (:math:`D \le U`) :math:`D' = D`. The sum runs over blocks of epochs
    (:data:`_REPEAT_EDGES`, exact per epoch below 32): a block the run completed contributes the
    sum of its :math:`\delta^j` times the mean of its :math:`\log((j+1)/j)`; the one it is inside, that
    weight per unit of log epochs. Repetitions past
    :data:`REPEAT_MAX` epochs add nothing. ``log_d``, ``log_u``: logs of D and U."""
    ops = _ops(log_d, log_u, half_life)
    log_u = ops.minimum(log_u, log_d)
    a, b = _REPEAT_EDGES[:-1], _REPEAT_EDGES[1:]
    width = np.log(b / a)
    # A block's weight: the sum of delta^j over its epochs (geometric) times the mean of
    # log((j+1)/j) over them; exact for the one-epoch blocks.
    rate = np.log(2.0) / half_life  # -log delta, one per draw: on a new last axis, the blocks'
    rate = (ops.as_tensor(rate) if ops is not np else np.asarray(rate))[..., None]
    geometric = ops.exp(-rate * a) * (-ops.expm1(-rate * (b - a))) / (-ops.expm1(-rate))
    per_log = geometric / (b - a)
    into = ops.clip((log_d - log_u)[..., None] - np.log(a), 0.0, width)
    if ops is not np:
        return log_u + (per_log * into).sum(axis=-1)
    # a product over the blocks, not a (draws, points, blocks) array: (points, blocks) @ (draws, blocks, 1)
    summed = np.matmul(into, np.swapaxes(np.atleast_2d(per_log), -1, -2))[..., 0]
    return (log_u + summed).astype(np.result_type(log_d, log_u), copy=False)


# --------------------------------------------------------------------------- over-training
def overtrain_log_loss(log_c, log_m, log_E, log_a_ref, log_b_ref, eta, log_c_ref, log_m_ref):
    r""":math:`\log L` of Gadre et al. (2024) eq. 4, indexed by compute C and tokens per parameter M = D/N:

    .. math:: L(C, M) = E + (a M^{\eta} + b M^{-\eta})\, C^{-\eta}

    with each term's log taken at the reference :math:`(C_r, M_r)`: :math:`\ell_a = \log a +
    \eta(\log M_r - \log C_r)`, :math:`\ell_b = \log b - \eta(\log M_r + \log C_r)`.
    """
    dc, dm = log_c - log_c_ref, log_m - log_m_ref
    return logaddexp(log_E, logaddexp(log_a_ref + eta * (dm - dc), log_b_ref - eta * (dm + dc)))


def overtrain_optimal_params(flops, a, b, eta, flops_per_param_token=6.0):
    r"""Compute-optimal :math:`N^*` of the over-training law: :math:`a M^\eta + b M^{-\eta}` is
    least at :math:`M^* = (b/a)^{1/(2\eta)}` whatever C, so :math:`N^* = \sqrt{C / (k M^*)}`."""
    log_m = (np.log(b) - np.log(a)) / (2.0 * eta)
    return np.exp(0.5 * (np.log(flops) - np.log(flops_per_param_token) - log_m))


def isoflop_profile_log_loss(log_n, log_d, log_E, log_R_ref, g, log_n_opt_ref, a, alpha, beta, log_nd_ref):
    r""":math:`\log L` of the IsoFLOP-profile law: on each IsoFLOP line :math:`ND = C/k` the loss is
    Chinchilla's exact profile around a vertex that moves with its own exponent.

    .. math::  L = E + R(C)\,\frac{\beta e^{-\alpha u} + \alpha e^{\beta u}}{\alpha + \beta},
               \qquad u = \log N - \log N^*(C),

    with :math:`N^*(C) = N^*_r (C/C_r)^{a}` and :math:`R(C) = R_r (C/C_r)^{-g}`, the reducible loss at
    the vertex (:math:`v = \log(ND) -` ``log_nd_ref`` is :math:`\log C/C_r`). In terms of the
    profile :math:`\phi(u) = (e^{-\alpha u} - 1)/\alpha + (e^{\beta u} - 1)/\beta` this is
    :math:`L = L^*(C) + K(C)\,\phi(u)` with :math:`L^* = E + R` and
    :math:`K = R\,\alpha\beta/(\alpha+\beta)`. Chinchilla is the case :math:`a = \beta/(\alpha+\beta)`,
    :math:`g = \alpha a`; freeing them lets the minima move at the rate the budgets' vertices show
    rather than the one the profiles' arms imply. A log-sum-exp of three terms, as Chinchilla's.
    """
    ops = _ops(log_n, log_d, log_E, log_R_ref, g, log_n_opt_ref, a, alpha, beta)
    v = log_n + log_d - log_nd_ref
    u = log_n - log_n_opt_ref - a * v
    base = log_R_ref - g * v - ops.log(alpha + beta)
    term_n = base + ops.log(beta) - alpha * u
    term_d = base + ops.log(alpha) + beta * u
    return logaddexp(log_E, logaddexp(term_n, term_d))


def downstream_error(loss, eps, k, gamma):
    r"""Gadre et al. (2024) eq. 5: top-1 error from loss, :math:`\mathrm{Err}(L) = \epsilon - k e^{-\gamma L}`."""
    return eps - k * _exp_of(loss, k, gamma)(-gamma * loss)


# --------------------------------------------------------------------------- numeric optimum
#: Tokens per parameter searched by :func:`isoflop_argmin`: 0.01 to 1e6 (natural logs).
ISOFLOP_LOG_RATIO_RANGE = (float(np.log(1e-2)), float(np.log(1e6)))


def isoflop_argmin(
    log_loss, log_budget, *, log_ratio_range=ISOFLOP_LOG_RATIO_RANGE, grid=97, iterations=40, at_edge="nan"
):
    r"""Per draw and budget, :math:`\log N^*` minimising ``log_loss(log_n, log_d)`` on the
    IsoFLOP line :math:`\log N + \log D = \log(C/k)` (``log_budget``), numerically.

    A grid over tokens per parameter :math:`D/N \in` ``exp(log_ratio_range)`` brackets the
    minimum, then golden-section search refines it (to ~1e-8 of the bracket). ``log_loss`` must
    broadcast like ``log_budget`` (e.g. parameters ``(n_draws, 1)``, budgets ``(1, n_budgets)``).
    Where the minimum sits at the edge of the range (no interior optimum) the result is NaN, or
    with ``at_edge="keep"`` the best size inside the range (at its edge): the run a planner
    restricted to those tokens per parameter would choose.
    """
    log_budget = np.asarray(log_budget, dtype=float)
    lo_ratio, hi_ratio = log_ratio_range
    x_lo, x_hi = (log_budget - hi_ratio) / 2.0, (log_budget - lo_ratio) / 2.0
    steps = np.linspace(0.0, 1.0, grid)

    def f(x):
        return log_loss(x, log_budget - x)

    values = np.stack(np.broadcast_arrays(*[f(x_lo + t * (x_hi - x_lo)) for t in steps]))
    values = np.where(np.isfinite(values), values, np.inf)
    best = np.argmin(values, axis=0)
    width = (x_hi - x_lo) / (grid - 1)
    a = x_lo + np.maximum(best - 1, 0) * width
    b = x_lo + np.minimum(best + 1, grid - 1) * width
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new, d_new = b - inv_phi * (b - a), a + inv_phi * (b - a)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
        moved = f(np.where(left, c, d))
        fc, fd = np.where(left, moved, fd), np.where(left, fc, moved)
    x = 0.5 * (a + b)
    if at_edge == "keep":
        return x
    interior = (best > 0) & (best < grid - 1)
    return np.where(interior, x, np.nan)


def exp(x):
    """``exp`` for numpy arrays or pytensor tensors (for user-defined laws)."""
    return _exp_of(x)(x)


def log(x):
    """``log`` for numpy arrays or pytensor tensors (for user-defined laws)."""
    return _ops(x).log(x)
