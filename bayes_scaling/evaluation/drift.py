r"""The data's own drifts: an internal leave-future-out over the user's runs.

The drifts beyond the data (:mod:`bayes_scaling.noise.extrapolation`: :math:`\kappa` of the
loss, :math:`\lambda` of the IsoFLOP minima) have one default each, chosen on public studies, and
one value does not fit every study: with the loss drift's default, forecasts beyond the data are
too wide on some studies and too narrow on others (``benchmarks/results/calibration.md``).
:func:`calibrate_drift` lets the user's own runs move them. It refits the same model on the runs
below an internal compute cutoff and forecasts, without drift, what lies above it:

- the loss of each run above the cutoff (evidence on :math:`\kappa`);
- where the fit's law allocates, the minimum of each IsoFLOP budget above the cutoff that the
  allocation score can use (:mod:`bayes_scaling.evaluation.allocation`: enough sizes, an interior
  vertex; replicates of the same vertex estimator, conditioned on the same rule), evidence on
  :math:`\lambda`.

Each drift is one :math:`z` shared by every point, so one held-out set is one draw of it and its
evidence is one number (:func:`~bayes_scaling.noise.extrapolation.drift_evidence`). That
likelihood updates a half-normal prior whose scale is the default (the cross-study value: with no
evidence the forecast keeps its variance), and the forecast uses the root-mean-square of the
posterior, which keeps the predictive variance of the mixture over the posterior.

**Persistence.** On public studies the internal miss also foretells the *direction* of the miss
further out (the law over-predicts the loss of larger runs on several studies, all the way out).
With persistence :math:`\rho`, the drift beyond the data has correlation :math:`\rho` with the
drift the internal runs saw: given their evidence, its :math:`z` has mean :math:`\rho\mu_i` and
variance :math:`\rho^2 v_i + 1 - \rho^2`, where :math:`\mu_i = \sqrt q\,\kappa\hat z/(1+q\kappa^2)`
and :math:`v_i = 1/(1+q\kappa^2)` is the posterior of the internal drift. The forecast then adds
:math:`\sqrt h\,(m + \kappa' z_s)` with :math:`m = \kappa\rho\mu_i` (``extrapolation_mean``) and
:math:`\kappa' = \kappa\sqrt{\rho^2 v_i + 1 - \rho^2}`. :math:`\rho = 0` is the drift without
memory; its default :data:`DEFAULT_PERSISTENCE` is the backtests' choice
(``benchmarks/results/calibration.md``). The allocation drift has no persistence here: its
internal evidence is too weak to point anywhere.

One refit, of the same cost as the fit. The posterior of the law is not changed; only the drifts
(:meth:`DriftCalibration.apply`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from .. import _constants as K
from ..data.runs import Runs
from ..errors import RunsValidationError, SpecError, option
from ..forecast.families import FamilyFit
from ..noise.extrapolation import (
    DEFAULT_ALLOCATION_SD,
    DEFAULT_EXTRAPOLATION_SD,
    compute_distance,
    drift_evidence,
    drift_log_likelihood,
)
from .allocation import MIN_ACCEPTED, isoflop_budgets, vertex_replicates
from .holdout import ComputeCutoff, fit_quietly, split

#: Share of the configurations held out above the internal cutoff (about the share a rolling
#: origin holds out in the calibration benchmark).
HELD_OUT_SHARE = 0.3
#: Fewest configurations on each side of the internal cutoff.
MIN_FITTED, MIN_HELD_OUT = 8, 3
#: Gaps in log10 C narrower than this do not separate two budgets (digitized IsoFLOP grids
#: jitter by a few hundredths of a decade inside one budget).
MIN_GAP_DEX = 0.05
#: Default correlation between the drift the internal runs saw and the drift beyond the data:
#: the CRPS-optimal value of ``benchmarks/calibration.py`` over 7 public studies
#: (leave-one-study-out choices in benchmarks/results/calibration.md).
#: 0.8 until new-run seed noise stopped growing beyond the largest fitted size (2026-12-08).
DEFAULT_PERSISTENCE = 0.5
#: The file attribute where :meth:`DriftCalibration.apply` records what it set and why.
ATTRIBUTE = "drift_calibration"
#: The posterior of a drift sd is computed on this grid, in units of its prior scale.
RELATIVE_GRID = np.linspace(0.0, 10.0, 1001)


@dataclass(frozen=True)
class Evidence:
    """What the held-out points say about one drift's sd: ``(p, q)`` of
    :func:`~bayes_scaling.noise.extrapolation.drift_evidence`, and its half-normal prior scale."""

    p: float
    q: float
    prior_sd: float

    @property
    def z(self) -> float:
        """How far the held-out points missed the internal fit along the drift's direction, in
        units of their drift-free spread (about N(0, 1) without drift)."""
        return self.p / np.sqrt(self.q)

    @property
    def expected_z(self) -> float:
        r"""The sd of :attr:`z` under a drift at the prior scale, :math:`\sqrt{1 + s^2 q}`: a miss
        well below it says the drift is smaller than the prior's, well above it larger."""
        return float(np.sqrt(1.0 + self.prior_sd**2 * self.q))

    @property
    def grid(self) -> np.ndarray:
        return self.prior_sd * RELATIVE_GRID

    @cached_property
    def posterior(self) -> np.ndarray:
        """Posterior weights on :attr:`grid`."""
        log_post = drift_log_likelihood(self.grid, self.p, self.q) - 0.5 * RELATIVE_GRID**2
        w = np.exp(log_post - log_post.max())
        return w / w.sum()

    @property
    def sd(self) -> float:
        """The drift's scale: the posterior's root-mean-square (the forecast's sd and expected
        drift follow from it: :attr:`DriftCalibration.forecast_drift`)."""
        return float(np.sqrt(self.posterior @ self.grid**2))

    def interval(self, prob: float = 0.9) -> tuple[float, float]:
        cdf, tail = np.cumsum(self.posterior), (1 - prob) / 2
        return float(np.interp(tail, cdf, self.grid)), float(np.interp(1 - tail, cdf, self.grid))

    def internal_z(self, sd: float) -> tuple[float, float]:
        """Mean and variance of the internal drift's :math:`z` given the evidence, for a drift of
        sd ``sd`` (module docstring)."""
        shrink = 1.0 + self.q * sd**2
        return float(np.sqrt(self.q) * sd * self.z / shrink), float(1.0 / shrink)

    def with_prior_sd(self, prior_sd: float) -> Evidence:
        """The same evidence under another prior scale."""
        return replace(self, prior_sd=float(prior_sd))


@dataclass(frozen=True)
class DriftCalibration:
    """What the internal leave-future-out found: the split, the evidence on the loss drift
    (``loss``) and, where budgets above the cutoff could be scored, on the allocation drift
    (``allocation``, else None: the fit keeps its own)."""

    cutoff: float
    n_fitted: int
    n_held_out: int
    loss: Evidence
    allocation: Evidence | None = None
    n_budgets: int = 0
    budget_exclusions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    persistence: float = DEFAULT_PERSISTENCE
    #: per held-out run: residual of log loss, its drift-free predictive variance, distance h
    residual: np.ndarray = field(default=None, repr=False, compare=False)
    variance: np.ndarray = field(default=None, repr=False, compare=False)
    h: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def kappa(self) -> float:
        """The drift's scale :math:`\\kappa` (the posterior RMS)."""
        return self.loss.sd

    @property
    def forecast_drift(self) -> tuple[float, float]:
        """``(extrapolation_sd, extrapolation_mean)`` of the forecasts: :math:`(\\kappa', m)`
        of the module docstring."""
        rho, (mean, var) = self.persistence, self.loss.internal_z(self.kappa)
        return self.kappa * float(np.sqrt(rho**2 * var + 1 - rho**2)), self.kappa * rho * mean

    def with_priors(self, prior_sd: float | None = None, persistence: float | None = None) -> DriftCalibration:
        """The same evidence under another prior scale of :math:`\\kappa` or persistence."""
        loss = self.loss if prior_sd is None else self.loss.with_prior_sd(prior_sd)
        return replace(self, loss=loss, persistence=self.persistence if persistence is None else float(persistence))

    @property
    def allocation_sd(self) -> float | None:
        return None if self.allocation is None else self.allocation.sd

    def apply(self, fit):
        """``fit`` with these drifts (no refit): the spec, and so a saved file, records the
        values, and the file's ``drift_calibration`` attribute says where they came from
        (:func:`drift_note`)."""
        other = fit.with_extrapolation_sd(*self.forecast_drift)
        if self.allocation is not None:
            other = other.with_allocation_sd(self.allocation.sd)
        noise = other.noise
        note = {"extrapolation_sd": noise.extrapolation_sd, "allocation_sd": noise.allocation_sd}
        note["extrapolation_mean"] = noise.extrapolation_mean
        other.idata.attrs[ATTRIBUTE] = json.dumps({**note, "describe": self.describe()})  # (the copy's own attrs)
        return other

    def describe(self) -> str:
        lo, hi = self.loss.interval(0.9)
        text = (
            f"drift kappa {self.kappa:.4f} per decade (90% {lo:.4f}-{hi:.4f}; prior scale {self.loss.prior_sd:.4f}): "
            f"refitted on the {self.n_fitted} configurations with C <= {self.cutoff:.3g} FLOPs, the "
            f"{self.n_held_out} above it missed that fit by z = {self.loss.z:+.1f} "
            f"(|z| about 1 without drift, {self.loss.expected_z:.1f} with the prior-scale drift)"
        )
        sd, mean = self.forecast_drift
        if self.persistence > 0:
            text += (
                f"; with persistence {self.persistence:g} the forecasts beyond the data expect a drift of "
                f"{mean:+.4f} in log loss per square-root decade, sd {sd:.4f}"
            )
        if self.allocation is not None:
            lo, hi = self.allocation.interval(0.9)
            text += (
                f"; allocation drift lambda {self.allocation.sd:.3f} dex of N* per decade (90% {lo:.3f}-{hi:.3f}; "
                f"prior scale {self.allocation.prior_sd:.3f}): the minima of {self.n_budgets} IsoFLOP budget(s) "
                f"above the cutoff missed by z = {self.allocation.z:+.1f} (|z| about 1 without drift, "
                f"{self.allocation.expected_z:.1f} with the prior-scale drift)"
            )
        elif self.budget_exclusions:
            text += "; allocation drift kept (no IsoFLOP budget above the cutoff could be scored)"
        if self.problems:
            text += "; the internal fit's diagnostics failed: " + "; ".join(self.problems)
        return text


def drift_note(fit) -> str | None:
    """What :meth:`DriftCalibration.apply` recorded in ``fit``, while its drifts are still the
    ones it set (None otherwise: never sized from the runs, or set again since)."""
    raw = fit.idata.attrs.get(ATTRIBUTE)
    if not raw:
        return None
    note = json.loads(raw)
    noise = fit.noise
    now = {"extrapolation_sd": noise.extrapolation_sd, "allocation_sd": noise.allocation_sd}
    now["extrapolation_mean"] = noise.extrapolation_mean
    same = all(np.isclose(note.get(name, 0.0), value) for name, value in now.items())
    return note["describe"] if same else None


def internal_cutoff(runs: Runs, share: float = HELD_OUT_SHARE) -> float:
    """The compute cutoff inside ``runs`` that holds out about ``share`` of the configurations
    (the largest compute), cut at a gap between budgets; a clear error where none exists."""
    log_c = np.sort(np.log10(runs.configs[K.FLOPS].to_numpy(dtype=float)))
    n = len(log_c)
    gaps = np.diff(log_c)
    best = None
    for min_gap in (MIN_GAP_DEX, 0.0):
        # cut between i - 1 and i: i configurations fitted, n - i held out
        cuts = [i for i in range(MIN_FITTED, n - MIN_HELD_OUT + 1) if gaps[i - 1] > min_gap]
        if cuts:
            best = min(cuts, key=lambda i: abs((n - i) / n - share))
            break
    if best is None:
        raise RunsValidationError(
            [
                f"the drift cannot be calibrated on these runs: it needs at least {MIN_FITTED} "
                f"configurations below a compute cutoff and {MIN_HELD_OUT} above it at larger compute "
                f"(the runs have {n} configurations, C from {10 ** log_c[0]:.3g} to {10 ** log_c[-1]:.3g}); "
                f"keep the default drift (without {option('own_drift', True, python='calibrate_drift')}) "
                "or add runs at larger compute"
            ]
        )
    return float(10 ** (0.5 * (log_c[best - 1] + log_c[best])))


def calibrate_drift(
    fit,
    *,
    prior_sd: float = DEFAULT_EXTRAPOLATION_SD,
    allocation_prior_sd: float = DEFAULT_ALLOCATION_SD,
    persistence: float = DEFAULT_PERSISTENCE,
    share: float = HELD_OUT_SHARE,
    labels=None,
    random_seed: int = 0,
    **fit_options,
) -> DriftCalibration:
    r"""The drifts beyond the data that these runs support (module docstring).

    ``fit``: a :class:`~bayes_scaling.ScalingFit` that holds its runs (every fit does, and every
    file saved by this package). The internal fit uses the same spec and ``fit_options`` (NUTS
    settings of :func:`bayes_scaling.fit`). ``prior_sd`` / ``allocation_prior_sd``: scales of the
    half-normal priors on :math:`\kappa` and :math:`\lambda` (default: the package defaults,
    chosen across public studies). ``persistence``: correlation of the drift beyond the data
    with the one the internal runs saw (module docstring; 0: no memory). ``labels``: the IsoFLOP budget of each row of ``fit.runs``
    (a design label, e.g. from run names; default: budgets by exact compute).

    Use::

        calibration = bs.calibrate_drift(fit)   # one more fit, on the runs below a cutoff
        print(calibration.describe())
        fit = calibration.apply(fit)            # the same posterior, its drifts replaced
    """
    if isinstance(fit, FamilyFit) or fit.idata.attrs.get("family") is not None:
        raise SpecError(
            "calibrate_drift refits one family's runs; it does not refit a fit over families (nor one family of it): "
            "set the drifts of a family with fit.family(name).with_extrapolation_sd(...) and .with_allocation_sd(...)"
        )
    runs = fit.runs
    if runs is None:
        raise RunsValidationError(["this posterior does not hold its runs, so its drift cannot be calibrated"])
    if not 0 < share < 1:
        raise SpecError(f"share must be in (0, 1), got {share!r}")
    if not 0 <= persistence <= 1:
        raise SpecError(f"persistence must be in [0, 1] (0: a drift without memory), got {persistence!r}")
    if labels is not None and (runs.has_checkpoints or len(labels) != len(runs)):
        raise RunsValidationError(
            [
                f"labels must give one budget per row of the fit's runs ({len(runs)} rows, no checkpoints), got {len(labels)}"
            ]
        )
    runs = runs.final() if runs.has_checkpoints and not getattr(fit.law, "reads_curves", False) else runs
    cutoff = internal_cutoff(runs, share)
    rule = ComputeCutoff(cutoff)
    train, test = split(runs, rule)
    test_labels = None if labels is None else np.asarray(labels, dtype=object)[rule.held_out(runs)]
    # the same spec (law, priors, noise model); its default priors adapt to the internal runs
    inner, problems = fit_quietly(train, random_seed=random_seed, fit_options={**fit_options, "model": fit.spec})
    inner = inner.with_extrapolation_sd(0.0)
    inputs = test.input_columns()
    mean = np.log(inner.predict(test.params, test.tokens, kind="mean", random_seed=random_seed, **inputs).draws)
    new = np.log(inner.predict(test.params, test.tokens, kind="new_run", random_seed=random_seed, **inputs).draws)
    # Gaussian on the log scale: parameter covariance from the mean draws, plus the new-run noise
    # (robust scale: Student-t tails would swamp a sample variance).
    lo, hi = np.quantile(new, [0.158655, 0.841345], axis=0)
    noise_var = np.maximum(((hi - lo) / 2) ** 2 - mean.var(axis=0), 0.0)
    cov = np.atleast_2d(np.cov(mean, rowvar=False)) + np.diag(noise_var)
    residual = np.log(test.loss) - mean.mean(axis=0)
    h = inner.extrapolation_distance(test.params, test.tokens)
    loss = Evidence(*drift_evidence(residual, cov, np.sqrt(h)), prior_sd=float(prior_sd))
    allocation, n_budgets, excluded = None, 0, ()
    if fit.law.allocates:
        allocation, n_budgets, excluded = _allocation_evidence(
            inner, test, test_labels, allocation_prior_sd, random_seed
        )
    return DriftCalibration(
        cutoff=cutoff,
        n_fitted=int(len(train.configs)),
        n_held_out=int(len(test.configs)),
        loss=loss,
        allocation=allocation,
        n_budgets=n_budgets,
        budget_exclusions=excluded,
        problems=tuple(problems),
        persistence=float(persistence),
        residual=residual,
        variance=np.diag(cov).copy(),
        h=h,
    )


def _allocation_evidence(inner, test: Runs, labels, prior_sd: float, random_seed: int):
    """``(Evidence or None, budgets scored, exclusions)`` of the IsoFLOP minima above the cutoff:
    replicates of each budget's vertex from the drift-free internal fit, conditioned jointly on
    every budget's scoring rule, Gaussian with their covariance across budgets."""
    budgets = isoflop_budgets(test, labels)
    if not budgets.scored:
        return None, 0, tuple(budgets.excluded) or ("no IsoFLOP budget above the cutoff",)
    quiet = inner.with_allocation_sd(0.0)
    columns, inside = [], []
    for j, b in enumerate(budgets.scored):
        x = vertex_replicates(quiet, b, random_seed + 1 + j)
        lo, hi = b.window
        columns.append(x)
        inside.append(np.isfinite(x) & (x >= lo) & (x <= hi))
    x, ok = np.column_stack(columns), np.all(inside, axis=0)
    if ok.sum() < MIN_ACCEPTED:
        return None, 0, (f"fewer than {MIN_ACCEPTED} replicates of the budgets' minima pass their scoring rule",)
    x = x[ok]
    observed = np.array([b.observed for b in budgets.scored])
    fitted = inner.idata["constant_data"]
    log_c = np.log([b.flops / inner.flops_per_param_token for b in budgets.scored])
    loading = compute_distance(log_c, fitted["log_n"].values + fitted["log_d"].values)
    p, q = drift_evidence(observed - x.mean(axis=0), np.cov(x, rowvar=False), loading)
    return Evidence(p, q, float(prior_sd)), len(budgets.scored), tuple(budgets.excluded)
