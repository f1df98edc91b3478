"""The answers of :mod:`.decisions`: what each number is (its docstring) and labelled lines a
person can read (``lines()``: every line says what its number is, losses in nats to 3
significant digits, budgets in FLOPs, shares as percentages)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _constants as K
from ..units import format_count, format_flops


def beyond_text(factor: float) -> str:
    """ "120x beyond the fitted compute" / "not beyond the largest fitted compute" ("" if unknown)."""
    if not np.isfinite(factor):
        return ""
    if factor <= 1:
        return "not beyond the largest fitted compute"
    if factor < 10:
        return f"{factor:.2g}x beyond the fitted compute"
    return (
        f"{factor:,.0f}x beyond the fitted compute"
        if factor < 1e5
        else f"{format_flops(factor, 2)}x beyond the fitted compute"
    )


def _flops_text(flops: float, max_flops: float) -> str:
    return f"{format_flops(flops)} FLOPs" if np.isfinite(flops) else f"more than {format_flops(max_flops)} FLOPs"


def _nats(x: float) -> str:
    """A loss in nats to 3 significant digits, trailing zeros kept: 2.00, 0.00314."""
    return f"{x:#.3g} nats" if np.isfinite(x) else f"{x} nats"


def _times(m: float) -> str:
    return f"{m:.3g}x" if np.isfinite(m) else "inf"


def risk_name(risk, short: bool = False) -> str:
    """What a risk measures, in words (``short``: "expected loss", "CVaR 90%", "90% quantile")."""
    if risk == "mean":
        return "expected loss"
    kind, q = risk
    if kind == "quantile":
        return f"{q:.0%} quantile" if short else f"{q:.0%} quantile of the expected loss over the posterior"
    if short:
        return f"CVaR {q:.0%}"
    return f"CVaR {q:.0%} (mean of the worst {1 - q:.0%} of the expected loss over the posterior)"


@dataclass(frozen=True)
class ComputeForTarget:
    r"""Answer of :func:`~bayes_scaling.planning.compute_for_target`: two compute figures that
    answer different questions, and two shares that say why a target may never be met.

    Attributes
    ----------
    target_loss : the target, in nats.
    prob : the probability asked for.
    kind : "new_run" (one training run, its noise included) or "mean" (the law's expected loss).
    flops : compute needed for ONE compute-optimal training run to beat the target with
        probability ``prob``: the smallest C with :math:`P(L(N^*(C), D^*(C)) < t) \ge` ``prob``
        (with kind="new_run" the run's seed noise and configuration discrepancy are in that
        probability; with kind="mean" it is the share of draws whose expected loss is below the
        target). ``inf`` if no C up to ``max_flops`` does.
    params, tokens : the posterior-median compute-optimal N*, D* at ``flops``.
    achieved_prob : that probability at ``flops`` (at ``max_flops`` when ``flops`` is ``inf``).
    needed_flops : per draw, the compute at which that draw's *expected* loss at its own
        compute optimum, :math:`L^*_s(C)` (no run noise), reaches the target: the distribution
        of "the compute at which the expected loss reaches it" (``inf`` where it does not by
        ``max_flops``). Summaries: :attr:`median_needed_flops`, :meth:`needed_interval`.
    share_floor_above_target : the share of draws whose irreducible loss (the law's floor: its
        limit at infinite N and D, e.g. E) is above the target: by them the law itself never
        reaches it, at any compute (the extrapolation drift aside).
    prob_never_reached : the share of draws whose expected loss, extrapolation drift included, is
        still above the target at ``max_flops`` (``needed_flops`` infinite): draws whose floor is
        above it or just below it, moved either way by the drift beyond the data (which can take
        a draw's loss below its floor there, or keep it above the target).
    prob_at_max_flops : the probability of ``kind`` at ``max_flops`` (one compute-optimal run
        there beats the target; its noise included for kind="new_run").
    min_flops, max_flops : the range searched.
    fitted_max_flops : the largest fitted compute (NaN if unknown); see :attr:`extrapolation_factor`.
    note : why ``flops`` is only a bound, if it is one.
    """

    target_loss: float
    prob: float
    flops: float
    params: float
    tokens: float
    achieved_prob: float
    needed_flops: np.ndarray
    note: str = ""
    kind: str = "new_run"
    share_floor_above_target: float = math.nan
    prob_at_max_flops: float = math.nan
    min_flops: float = 1e15
    max_flops: float = 1e30
    fitted_max_flops: float = math.nan

    @property
    def prob_never_reached(self) -> float:
        """Share of draws whose expected loss (extrapolation drift included) is still above the
        target at ``max_flops`` (not the same as :attr:`share_floor_above_target`: the drift moves
        losses either way, and a floor just below the target needs more than ``max_flops``)."""
        return float(np.mean(~np.isfinite(self.needed_flops)))

    @property
    def prob_unreachable(self) -> float:
        """Older name of :attr:`prob_never_reached` (not the share of draws with E above the
        target, which is :attr:`share_floor_above_target`)."""
        return self.prob_never_reached

    @property
    def median_needed_flops(self) -> float:
        """Posterior median of the compute at which the expected loss of a compute-optimal run
        reaches the target (``inf`` if more than half the draws never reach it)."""
        return float(np.quantile(self.needed_flops, 0.5, method="inverted_cdf"))

    @property
    def extrapolation_factor(self) -> float:
        """``flops`` / the largest fitted compute: how far beyond the data the answer reaches."""
        return self.flops / self.fitted_max_flops

    def needed_interval(self, prob: float = 0.9) -> tuple[float, float]:
        """Central ``prob`` interval of ``needed_flops`` (``inf`` ends where draws never reach it)."""
        # inverted_cdf picks sample values, so unreachable draws give inf, not NaN.
        lo, hi = np.quantile(self.needed_flops, [(1 - prob) / 2, (1 + prob) / 2], method="inverted_cdf")
        return float(lo), float(hi)

    def lines(self) -> list[str]:
        """The answer as labelled lines, each saying what its number is."""
        t = f"{self.target_loss:g} nats"
        who = (
            "one compute-optimal training run"
            if self.kind == "new_run"
            else "the expected loss of a compute-optimal run"
        )
        if np.isfinite(self.flops):
            where = beyond_text(self.extrapolation_factor)
            first = (
                f"Compute for {who} to reach {t} with probability {self.prob:.0%}: {format_flops(self.flops)} FLOPs "
                f"(N* {format_count(self.params)}, D* {format_count(self.tokens)}{'; ' + where if where else ''})"
            )
        else:
            first = (
                f"Compute for {who} to reach {t} with probability {self.prob:.0%}: more than "
                f"{format_flops(self.max_flops)} FLOPs (probability {self.prob_at_max_flops:.2f} there)"
            )
        out = [first]
        if self.note and np.isfinite(self.flops):
            out.append(f"Note: {self.note}")
        lo, hi = self.needed_interval(0.9)
        median = self.median_needed_flops
        where = beyond_text(median / self.fitted_max_flops) if np.isfinite(median) else ""
        out.append(
            f"Compute at which the expected loss of a compute-optimal run (the law's mean, without a run's noise) "
            f"reaches {t}: median {_flops_text(median, self.max_flops)}{' (' + where + ')' if where else ''}, "
            f"90% interval [{_flops_text(lo, self.max_flops)}, {_flops_text(hi, self.max_flops)}]"
        )
        if np.isfinite(self.share_floor_above_target):
            out.append(
                f"Share of posterior draws whose irreducible loss (the law's floor) is above {t}, so that the law "
                f"never reaches it at any compute: {self.share_floor_above_target:.0%}"
            )
        else:
            out.append("This law has no irreducible loss that its parameters fix: no floor to compare with the target")
        out.append(
            f"Probability that the expected loss of a compute-optimal run is still above {t} at "
            f"{format_flops(self.max_flops)} FLOPs (extrapolation drift beyond the data included): "
            f"{self.prob_never_reached:.0%}"
        )
        return out

    def describe(self) -> str:
        """:meth:`lines` joined by newlines."""
        return "\n".join(self.lines())


@dataclass(frozen=True)
class Allocation:
    """Answer of :func:`~bayes_scaling.planning.allocate`: a risk-chosen (N, D) on the budget and
    the plug-in plan beside it.

    Attributes
    ----------
    flops : the budget C = kND.
    risk : what is minimised ("mean", ("quantile", q) or ("cvar", q)); :attr:`risk_name` in words.
    params, tokens : the risk-optimal plan N, D.
    risk_value : its risk, in nats (for "mean": the posterior expected loss).
    plugin_params, plugin_tokens, plugin_risk_value : the plug-in plan (the closed form at the
        posterior-median parameters: what a point fit would do) and its risk, in nats.
    penalty, plugin_penalty : each plan's expected loss above each draw's own compute optimum,
        in nats.
    plugin_deadweight : the share of the budget the plug-in plan wastes: 1 - C'/C, with C' the
        budget at which the risk-optimal plan matches the plug-in plan's risk at C.
    risk_gap_se : the Monte Carlo standard error of :attr:`risk_gap` (bootstrap over the draws).
    fitted_max_flops : the largest fitted compute (NaN if unknown).
    """

    flops: float
    risk: object
    params: float
    tokens: float
    risk_value: float
    plugin_params: float
    plugin_tokens: float
    plugin_risk_value: float
    penalty: float
    plugin_penalty: float
    plugin_deadweight: float
    risk_gap_se: float = math.nan
    fitted_max_flops: float = math.nan

    @property
    def risk_name(self) -> str:
        """What the plan minimises, in words ("expected loss", "CVaR 90% (...)")."""
        return risk_name(self.risk)

    @property
    def risk_gap(self) -> float:
        """How much worse the plug-in plan's risk is, in nats: plugin_risk_value - risk_value."""
        return self.plugin_risk_value - self.risk_value

    @property
    def params_difference(self) -> float:
        """The plug-in plan's N relative to the risk-optimal N: |N_plugin / N - 1| (0.03 = 3%)."""
        return abs(self.plugin_params / self.params - 1.0)

    @property
    def plugin_as_good(self) -> bool:
        """Whether the plug-in (point-fit) plan is as good: its risk within two Monte Carlo
        standard errors of the risk-optimal plan's, or less than 0.1% of the budget wasted."""
        return bool(self.risk_gap <= 2 * self.risk_gap_se or self.plugin_deadweight < 1e-3)

    @property
    def extrapolation_factor(self) -> float:
        """``flops`` / the largest fitted compute: how far beyond the data the budget lies."""
        return self.flops / self.fitted_max_flops

    def lines(self) -> list[str]:
        """The answer as labelled lines, each saying what its number is."""
        name = risk_name(self.risk, short=True)
        where = beyond_text(self.extrapolation_factor)
        out = [
            f"Budget {format_flops(self.flops)} FLOPs{' (' + where + ')' if where else ''}, split to minimise the "
            f"{self.risk_name}:",
            f"Risk-optimal plan: N {format_count(self.params)}, D {format_count(self.tokens)} "
            f"({self.tokens / self.params:.3g} tokens per parameter); {name} {_nats(self.risk_value)}",
            f"Plug-in plan (point fit at the posterior medians): N {format_count(self.plugin_params)}, D "
            f"{format_count(self.plugin_tokens)} ({self.plugin_tokens / self.plugin_params:.3g} tokens per parameter); "
            f"{name} {_nats(self.plugin_risk_value)}",
        ]
        error = f"(difference {self.risk_gap:.2g} nats, Monte Carlo error {self.risk_gap_se:.2g})"
        if self.plugin_as_good and self.params_difference < 0.05:
            out.append(
                f"The plug-in (point-fit) allocation is as good: same N within {self.params_difference:.1%}, and the "
                f"same {name} within Monte Carlo error {error}"
            )
        elif self.plugin_as_good:
            out.append(
                f"The plug-in (point-fit) allocation is as good: its N differs by {self.params_difference:.0%}, but its "
                f"{name} is the same within Monte Carlo error {error}: the draws do not tell the two plans apart"
            )
        else:
            waste = "at least 99.9%" if self.plugin_deadweight >= 0.999 else f"{self.plugin_deadweight:.1%}"
            out.append(
                f"The plug-in allocation is worse: its {name} is higher by {_nats(self.risk_gap)} (Monte Carlo error "
                f"{self.risk_gap_se:.2g}); it wastes {waste} of the budget (the risk-optimal plan reaches the same "
                f"{name} with {waste} less compute)"
            )
        out.append(
            f"Expected loss above each posterior draw's own compute optimum: {_nats(self.penalty)} for the "
            f"risk-optimal plan, {_nats(self.plugin_penalty)} for the plug-in plan"
        )
        return out

    def describe(self) -> str:
        """:meth:`lines` joined by newlines."""
        return "\n".join(self.lines())

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "plan": ["risk-optimal", "plug-in (point fit)"],
                K.PARAMS: [self.params, self.plugin_params],
                K.TOKENS: [self.tokens, self.plugin_tokens],
                "risk": [self.risk_value, self.plugin_risk_value],
                "expected_loss_penalty": [self.penalty, self.plugin_penalty],
            }
        ).set_index("plan")


@dataclass(frozen=True)
class FitComparison:
    """Answer of :func:`~bayes_scaling.planning.compare_fits` at one budget.

    Attributes
    ----------
    flops : the budget C.
    prob_a_better : P(L*_A(C) < L*_B(C)), compute-optimal expected losses.
    multiplier_median, multiplier_lo, multiplier_hi : the compute multiplier m of A over B
        (B needs m C to match A at C): median and interval ends.
    multiplier_draws : m per pair of draws.
    fitted_max_flops_a, fitted_max_flops_b : the largest compute each fit saw (NaN if unknown).
    """

    flops: float
    prob_a_better: float
    multiplier_median: float
    multiplier_lo: float
    multiplier_hi: float
    multiplier_draws: np.ndarray
    fitted_max_flops_a: float = math.nan
    fitted_max_flops_b: float = math.nan
    prob: float = 0.9

    @property
    def extrapolation_factor(self) -> float:
        """``flops`` / the larger of the two fits' largest fitted compute (the least the answer
        extrapolates; each fit's own: ``flops / fitted_max_flops_a`` and ``_b``)."""
        return self.flops / np.fmax(self.fitted_max_flops_a, self.fitted_max_flops_b)

    def lines(self) -> list[str]:
        """The answer as labelled lines, each saying what its number is."""
        where = beyond_text(self.extrapolation_factor)
        return [
            f"Probability that A's compute-optimal expected loss is below B's at {format_flops(self.flops)} FLOPs"
            f"{' (' + where + ')' if where else ''}: {self.prob_a_better:.0%}",
            f"Compute multiplier of A over B (B needs that many times the compute to match A): median "
            f"{_times(self.multiplier_median)}, {self.prob:.0%} interval [{_times(self.multiplier_lo)}, "
            f"{_times(self.multiplier_hi)}]"
            + ("" if np.isfinite(self.multiplier_hi) else " (inf: B does not match A within 1e6 times the compute)"),
        ]

    def describe(self) -> str:
        """:meth:`lines` joined by newlines."""
        return "\n".join(self.lines())
