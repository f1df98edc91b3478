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


def _is_symbolic(*values) -> bool:
    return any(type(v).__module__.startswith("pytensor") for v in values)


def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` for numpy arrays or pytensor tensors."""
    if _is_symbolic(x, y):
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
    if _is_symbolic(log_n, log_d, log_E, log_AN_ref, log_BD_ref, alpha, beta):
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
    if _is_symbolic(*values):
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
