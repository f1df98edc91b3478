r"""The parallel scaling law (ParScale; Chen et al. 2025): P parallel streams of one backbone.

.. math::  L(N, P) = E + \left(\frac{A \cdot 10^9}{N\,(k \ln P + 1)}\right)^{\alpha}

N non-embedding parameters, P parallel forward streams (the ``parallel_streams`` column; 1 for
an ordinary model), the natural log (the authors' ``parametric_fit.py``). P streams are worth
as much as multiplying N by ``k ln P + 1``. The law holds the training data fixed (42B tokens in
the paper): it has no D term, so it has no compute-optimal split of C into N and D, and a table
whose runs differ in D fits it only if D is held fixed within what is compared.

Sampled in the coordinates the data pin down, at the reference size :math:`N_r` with one
stream: the log loss :math:`\log L_r`, the log of the loss's log-slope
:math:`s = -d\log L/d\log N = \alpha (L_r - E)/L_r`, and the irreducible share
:math:`e = E/L_r`; then :math:`E = e L_r` and :math:`\alpha = s/(1 - e)`. Over one decade of N
(the paper's design) the data fix :math:`L_r` and :math:`s` and leave E and :math:`\alpha` on a
ridge: sampled as E, :math:`\alpha` and an amplitude, NUTS mixed poorly along it (R-hat 1.045
and divergences at 4 x 1000 draws on the paper's design); in these coordinates the ridge is one
axis, :math:`e`. (The authors note that their A sits at the start of their search grid, another
sign of the same ridge.)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import maths as laws
from .registry import DataScale, Law, register_law

#: The authors' fits, refitted here with their released script and losses (24 runs each; N 0.54B
#: to 4.4B non-embedding, P 1 to 8, 42B tokens): Stack-V2-Python and the Pile.
PARSCALE_PUBLISHED = {
    "stack_v2_python": {"E": 0.6912, "A": 0.011306, "alpha": 0.1894, "k": 0.3935},
    "pile": {"E": 1.2888, "A": 0.19735, "alpha": 0.1963, "k": 0.3345},
}
_UNIT = float(np.log(1e9))  # the 1e9 in the paper's A * 1e9


def parscale_loss(n, p, E, A, alpha, k):
    """The law as the paper writes it (numpy), for references and synthetic runs."""
    return E + (A * 1e9 / (np.asarray(n, dtype=float) * (k * np.log(p) + 1.0))) ** alpha


def _shape(theta: Mapping):
    """(E, log of the reducible loss at N_r, alpha) from the sampled coordinates."""
    exp = laws._exp_of(theta["log_loss_ref"], theta["e_share"])
    loss_ref, e = exp(theta["log_loss_ref"]), theta["e_share"]
    return e * loss_ref, theta["log_loss_ref"] + laws.log(1.0 - e), exp(theta["log_slope"]) / (1.0 - e)


def _log_mean(theta: Mapping, log_n, log_d, scale: DataScale, parallel_streams):
    ops = laws._ops(log_n, theta["k"])
    gain = ops.log1p(theta["k"] * parallel_streams)  # log(k ln P + 1): the input is log P
    E, log_red_ref, alpha = _shape(theta)
    return laws.logaddexp(laws.log(E) + 0.0 * log_d, log_red_ref - alpha * (log_n - scale.log_n_ref + gain))


def _reported(theta: Mapping, scale: DataScale) -> dict:
    E, log_red_ref, alpha = _shape(theta)
    A = laws._exp_of(log_red_ref)(log_red_ref / alpha + scale.log_n_ref - _UNIT)
    return {"E": E, "A": A, "alpha": alpha, "k": theta["k"]}


def _priors(scale: DataScale) -> dict:
    from pymc_extras.prior import Prior

    k = np.mean([p["k"] for p in PARSCALE_PUBLISHED.values()])
    return {
        "log_loss_ref": Prior("Normal", mu=float(np.log(scale.median_loss)), sigma=0.5),
        # The published fits at their middle size (1.6B): s = 0.068 (Stack), 0.067 (Pile); 95% of
        # the prior within a factor 7 of it.
        "log_slope": Prior("Normal", mu=float(np.log(0.067)), sigma=1.0),
        # E / L_r of the published fits there: 0.64 (Stack) and 0.66 (Pile); 95% in ~[0.28, 0.95].
        "e_share": Prior("Beta", alpha=4.0, beta=2.0),
        # The published k (0.33, 0.39): 95% of the prior in ~[0.1, 1.3].
        "k": Prior("LogNormal", mu=float(np.log(k)), sigma=0.65),
    }


def _derived(reported: Mapping) -> dict:
    """What the streams are worth: the parameter multiplier of 2 and of 8 streams."""
    return {"gain_P2": 1.0 + reported["k"] * np.log(2.0), "gain_P8": 1.0 + reported["k"] * np.log(8.0)}


PARSCALE = register_law(
    Law(
        name="parscale",
        parameters=("log_loss_ref", "log_slope", "e_share", "k"),
        reported=("E", "A", "alpha", "k"),
        formula=r"L(N, P) = E + \left(\frac{A \cdot 10^9}{N\,(k \ln P + 1)}\right)^{\alpha}",
        log_mean=_log_mean,
        reported_values=_reported,
        default_priors=_priors,
        derived=_derived,
        description=(
            "Chen et al. (2025), parallel scaling: P parallel streams of one backbone of N non-embedding "
            "parameters are worth N (k ln P + 1) parameters. Needs a parallel_streams column with 2 or more "
            "values of P. The law holds the training data fixed (no D term): it has no compute-optimal split."
        ),
        references=("Chen et al. 2025, Parallel Scaling Law for Language Models, eq. 5 and parametric_fit.py",),
        allocates=False,
        axis="N",
        inputs=("params", "tokens", "parallel_streams"),
        symbols={
            "E": "E",
            "A": "A",
            "alpha": r"\alpha",
            "k": "k",
            "log_loss_ref": r"\log L_r",
            "log_slope": r"\log s",
            "e_share": "e",
            "gain_P2": r"g_2",
            "gain_P8": r"g_8",
        },
        meanings={
            "E": "irreducible loss (nats/token)",
            "A": "amplitude, in billions of parameters (the paper's A, with its factor 1e9)",
            "alpha": "exponent of the effective size N (k ln P + 1)",
            "k": "worth of the streams: P streams multiply the effective size by k ln P + 1",
            "log_loss_ref": "log of the loss of one stream at the reference size N_r",
            "log_slope": "log of s, the loss's log-slope in N at N_r: s = α (L_r − E) / L_r",
            "e_share": "E / L_r, the share of the loss at N_r that no size removes",
            "gain_P2": "parameter multiplier that 2 streams are worth, 1 + k ln 2",
            "gain_P8": "parameter multiplier that 8 streams are worth, 1 + k ln 8",
        },
        exponents=("alpha",),
    )
)
