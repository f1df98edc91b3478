r"""Decisions from a posterior: probabilities, budgets, allocations and which runs to train next.

Every function takes a :class:`~bayes_scaling.forecast.result.ScalingFit` (fitted or loaded) and works on its
stored draws with numpy: no PyMC, no sampling, so a planning script answers in about a second.

Notation: for posterior draw :math:`s`, :math:`\mu_s(N, D)` is the law's expected loss and a new
run's log loss is :math:`\log\mu_s + \epsilon`, with :math:`\epsilon` drawn from the fit's
likelihood for a new run (e.g. Student-t with the draw's :math:`\nu`, or Gaussian) with scale
:math:`\sqrt{\tau_s^2 + \sigma_s(N)^2}` (see :mod:`bayes_scaling.noise`).
Probabilities over new runs use that distribution's CDF per draw (exact, no simulation noise),
averaged over draws. Compute-optimal runs use :math:`N^*_s(C)` per draw unless a plan is given.

Each function checks every argument before any computation (one SpecError naming each problem;
a target loss above every fitted loss is refused: see :mod:`.inputs`), then asks the fit
whether it may answer (an unconverged fit refuses; a fit whose verdict is NOT OK warns once).
The answers, with labelled ``lines()``, are in :mod:`.answers`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from .. import _constants as K
from ..forecast.result import ScalingFit
from ..noise import extrapolation_z, new_run_sd
from .answers import Allocation, ComputeForTarget, FitComparison
from .inputs import Arguments, _answer_guard, fitted_range

KINDS = ("mean", "new_run")
QUANTITIES = ("tokens", "params", "tokens_per_param", "loss")


# --------------------------------------------------------------------------- per-draw pieces
def _log_mean(fit: ScalingFit, params, tokens) -> np.ndarray:
    """log mu_s at each point, extrapolation drift included: (n_draws, n_points)."""
    return fit.log_mean_draws(np.asarray(params)[None, :], np.asarray(tokens)[None, :])


def _new_run_scale(fit: ScalingFit, log_n, idx=slice(None)) -> np.ndarray:
    """sqrt(tau^2 + sigma(N)^2) per draw (rows ``idx``) at log N (broadcast against (S, 1))."""
    theta = {k: v[idx, None] for k, v in fit.sampled_draws().items()}
    return new_run_sd(theta, log_n, fit.scale.log_n_noise_ref, fit.noise, fit.fitted_log_n_max)


def _optimal_log_loss(fit: ScalingFit, log_c, idx=slice(None), drift_z=None) -> np.ndarray:
    """log L*_s(C): each draw's expected loss at its own compute optimum, one C per draw."""
    c = np.exp(log_c)[:, None]
    n = fit.optimal_params_draws(c, rows=idx, within_range=True)
    d = c / (fit.flops_per_param_token * n)
    return fit.log_mean_draws(n, d, rows=idx, drift_z=drift_z)[:, 0]


def _solve_log_c(log_loss_at, log_target, lo, hi, steps: int = 60) -> np.ndarray:
    """Per draw, the log C where a decreasing log L*(C) crosses log_target (vectorised bisection
    on [lo, hi]); ``inf`` where it is still above the target at ``hi``."""
    reachable = log_loss_at(hi) <= log_target
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        below = log_loss_at(mid) <= log_target
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
    return np.where(reachable, hi, np.inf)


def _likelihood_draws(fit: ScalingFit, idx=slice(None), shape=(-1, 1)) -> dict:
    """The likelihood's own parameters (e.g. nu), draws ``idx`` reshaped to ``shape``."""
    draws = fit.sampled_draws()
    return {k: draws[k][idx].reshape(shape) for k in fit.noise.likelihood_component.parameters}


def _new_run_cdf(fit: ScalingFit, z) -> np.ndarray:
    """P(standardised new-run noise <= z) per draw: the likelihood's new-run CDF (e.g. Student-t
    with the draw's nu; the frontier's Gaussian for the outlier mixture)."""
    return fit.noise.likelihood_component.new_run_cdf(z, _likelihood_draws(fit))


def _prob_new_run_below(fit: ScalingFit, target_loss: float, params, tokens) -> np.ndarray:
    """P_s(new run's loss < target) per draw and point: (n_draws, n_points)."""
    z = (np.log(target_loss) - _log_mean(fit, params, tokens)) / _new_run_scale(fit, np.log(params)[None, :])
    return _new_run_cdf(fit, z)


def _optimal(fit: ScalingFit, flops) -> tuple[np.ndarray, np.ndarray]:
    """Each draw's best run at ``flops``: its compute optimum, or where its loss has no minimum
    along the IsoFLOP line, its best run inside the law's tokens per parameter."""
    draws = fit.optimal_draws(flops, within_range=True)
    return draws["params"], draws["tokens"]


# --------------------------------------------------------------------------- questions
def prob_below(
    fit: ScalingFit, target_loss: float, params=None, tokens=None, *, flops=None, kind: str = "new_run"
) -> np.ndarray:
    r"""P(loss < ``target_loss``) at each (params, tokens), or at the compute-optimal run of ``flops``.

    kind="new_run": :math:`\frac1S\sum_s F_s\bigl((\log t - \log\mu_s)/\mathrm{sd}_s\bigr)`, the
    chance that one training run beats the target; kind="mean": the share of draws whose
    expected loss is below it. With ``flops``, each draw uses its own optimum :math:`N^*_s(C)`.
    ``target_loss`` is a loss in nats, not above every fitted loss (a SpecError says so: such
    a target is met by the smallest run, and is most likely a perplexity or bits). How far
    ``flops`` lies beyond the data: :func:`~bayes_scaling.planning.extrapolation_factor`.
    """
    args = Arguments()
    target_loss = args.target_loss("target_loss", target_loss, fit)
    args.choice("kind", kind, KINDS)
    if flops is not None:
        flops = args.counts("flops", flops)
        if params is not None or tokens is not None:
            args.problems.append("give either flops (compute-optimal runs) or params and tokens, not both")
    elif params is None or tokens is None:
        args.problems.append("give params and tokens (the runs to score), or flops (their compute-optimal runs)")
    else:
        n = args.counts("params", params, "parameter counts")
        d = args.counts("tokens", tokens, "token counts")
        try:
            n, d = np.broadcast_arrays(n, d)
        except ValueError:
            args.problems.append(f"params ({n.size} values) and tokens ({d.size} values) do not broadcast together")
    args.check()
    fit = _answer_guard(fit)
    if flops is not None:
        return _prob_below_flops(fit, target_loss, flops, kind)
    return _prob_below_points(fit, target_loss, n, d, kind)


def _prob_below_points(fit, target_loss, n, d, kind) -> np.ndarray:
    """prob_below at (params, tokens) (checked arguments, guarded fit)."""
    if kind == "mean":
        return (_log_mean(fit, n, d) < np.log(target_loss)).astype(float).mean(axis=0)
    return _prob_new_run_below(fit, target_loss, n, d).mean(axis=0)


def _prob_below_flops(fit, target_loss, flops, kind) -> np.ndarray:
    """prob_below at the compute-optimal runs of ``flops`` (checked arguments, guarded fit)."""
    n, d = _optimal(fit, flops)
    return _per_draw_points_prob(fit, target_loss, n, d, kind).mean(axis=0)


def _per_draw_points_prob(fit, target_loss, n, d, kind):
    """Like _prob_new_run_below, but N and D differ per draw: arrays (n_draws, n_points)."""
    log_mu = fit.log_mean_draws(n, d)
    if kind == "mean":
        return (log_mu < np.log(target_loss)).astype(float)
    return _new_run_cdf(fit, (np.log(target_loss) - log_mu) / _new_run_scale(fit, np.log(n)))


def compute_for_target(
    fit: ScalingFit,
    target_loss: float,
    prob: float = 0.9,
    *,
    kind: str = "new_run",
    min_flops: float = 1e15,
    max_flops: float = 1e30,
) -> ComputeForTarget:
    r"""Smallest compute C such that a compute-optimal run at C reaches ``target_loss`` with ``prob``.

    :math:`p(C) = P(L(N^*(C), D^*(C)) < t)` rises with C (each draw's optimal loss falls with C),
    so C is found by bisection in log C (60 steps, relative precision ~1e-12 decades). With
    kind="new_run" :math:`p(C)` includes the run's own noise; with kind="mean" it is the share
    of draws whose expected loss is below the target. ``needed_flops`` is the per-draw solution
    of :math:`L^*_s(C) = t` (also by bisection), the distribution of compute required.
    ``share_floor_above_target`` is the share of draws whose irreducible loss (the law's limit
    at infinite N and D) is above the target; ``prob_never_reached`` the share whose expected
    loss, extrapolation drift included, is still above it at ``max_flops``. A target above every
    fitted loss is a SpecError (see :func:`prob_below`).
    """
    args = Arguments()
    target_loss = args.target_loss("target_loss", target_loss, fit)
    prob = args.probability("prob", prob)
    args.choice("kind", kind, KINDS)
    min_flops = args.positive("min_flops", min_flops, "a compute budget in FLOPs")
    max_flops = args.positive("max_flops", max_flops, "a compute budget in FLOPs")
    if not min_flops < max_flops and np.isfinite([min_flops, max_flops]).all():
        args.problems.append(f"need min_flops < max_flops, got {min_flops:g} and {max_flops:g}")
    args.check()
    fit = _answer_guard(fit)
    lo, hi = np.log(min_flops), np.log(max_flops)

    def p_at(log_c):
        return float(_prob_below_flops(fit, target_loss, [np.exp(log_c)], kind)[0])

    note = ""
    p_max = p_at(hi)
    if p_max < prob:
        flops = np.inf
        note = f"not reached with probability {prob} below max_flops={max_flops:g}"
    elif p_at(lo) >= prob:
        flops = float(min_flops)
        note = f"already reached at min_flops={min_flops:g}: the answer is at most that; lower min_flops to resolve it"
    else:
        a, b = lo, hi
        for _ in range(60):
            mid = 0.5 * (a + b)
            a, b = (a, mid) if p_at(mid) >= prob else (mid, b)
        flops = float(np.exp(b))
    if np.isfinite(flops):
        n, d = _optimal(fit, [flops])
        params, tokens, achieved = float(np.median(n)), float(np.median(d)), p_at(np.log(flops))
    else:
        params = tokens = np.inf
        achieved = p_max
    return ComputeForTarget(
        target_loss=float(target_loss),
        prob=float(prob),
        flops=flops,
        params=params,
        tokens=tokens,
        achieved_prob=achieved,
        needed_flops=_needed_flops_per_draw(fit, target_loss, lo, hi),
        note=note,
        kind=kind,
        share_floor_above_target=_share_above(_floor_log_loss(fit), np.log(target_loss)),
        prob_at_max_flops=p_max,
        min_flops=float(min_flops),
        max_flops=float(max_flops),
        fitted_max_flops=fitted_range(fit)[1],
    )


def _floor_log_loss(fit: ScalingFit) -> np.ndarray:
    """Per draw, the log of the law's irreducible loss: its limit at infinite N and D (taken at
    N = D = 1e100, without the extrapolation drift); -inf for a law that falls to 0."""
    if not getattr(getattr(fit, "law", None), "floor", True):
        return np.full(fit.n_draws, np.nan)
    theta = {k: v[:, None] for k, v in fit.sampled_draws().items()}
    far = np.full((1, 1), 100 * np.log(10.0))
    with np.errstate(all="ignore"):
        return np.asarray(fit.law.log_loss(theta, far, far, fit.scale), dtype=float)[:, 0]


def _share_above(floor: np.ndarray, log_target: float) -> float:
    """Share of draws whose floor is above the target; NaN for a law without a floor (all NaN)."""
    return float("nan") if np.isnan(floor).all() else float(np.mean(floor > log_target))


def _needed_flops_per_draw(fit: ScalingFit, target_loss: float, lo: float, hi: float) -> np.ndarray:
    """Per draw, the C at which its expected compute-optimal loss equals the target."""
    n = fit.n_draws
    log_c = _solve_log_c(lambda lc: _optimal_log_loss(fit, lc), np.log(target_loss), np.full(n, lo), np.full(n, hi))
    return np.exp(log_c)


def _valid_risk(risk) -> bool:
    if isinstance(risk, str):
        return risk == "mean"
    return isinstance(risk, tuple) and len(risk) == 2 and risk[0] in ("quantile", "cvar") and 0 < risk[1] < 1


def _risk(losses: np.ndarray, risk) -> np.ndarray:
    """Risk of loss draws (n_draws, n_points): 'mean', ('quantile', q) or ('cvar', q)."""
    if risk == "mean":
        return losses.mean(axis=0)
    kind, q = risk
    if kind == "quantile":
        return np.quantile(losses, q, axis=0)
    if kind == "cvar":
        cut = np.quantile(losses, q, axis=0)
        return np.nanmean(np.where(losses >= cut, losses, np.nan), axis=0)


#: How many of the grid's best local minima :func:`allocate` refines.
REFINED_MINIMA = 5


def allocate(fit: ScalingFit, flops: float, risk="mean", *, grid: int = 201, span: float = 30.0) -> Allocation:
    r"""The (N, D) on :math:`C = kND` that minimises a risk of the expected loss, vs the plug-in plan.

    risk: "mean" (expected loss), ("quantile", q) or ("cvar", q) (mean of the worst 1-q share)
    of :math:`\mu_s(N, C/(kN))` over draws, minimised on a log grid of N within a factor
    ``span`` of the posterior-median N* and refined by bounded Brent minimisation. The plug-in plan is Chinchilla's closed form at the
    posterior-median parameters (what a point fit would do). ``penalty`` is each plan's
    expected excess loss over each draw's own optimum, :math:`E_s[\mu_s(N) - \mu_s(N^*_s)]`;
    ``plugin_deadweight`` is the share of the budget the plug-in plan wastes: with C' the
    budget at which the risk-optimal plan matches the plug-in plan's risk at C,
    :math:`1 - C'/C` (C' searched in [C/1000, C], so at most 99.9%). ``risk_gap_se`` is the
    Monte Carlo error of the plug-in plan's excess risk (a paired bootstrap over the draws),
    so :attr:`Allocation.plugin_as_good` can say when the two plans are the same within it.
    """
    args = Arguments()
    flops = args.positive("flops", flops, "a compute budget in FLOPs")
    if not _valid_risk(risk):
        args.problems.append(f"risk must be 'mean', ('quantile', q) or ('cvar', q) with 0 < q < 1; got {risk!r}")
    grid = args.count("grid", grid, minimum=3)
    span = args.positive("span", span, "a factor > 1 around the median N*")
    if span <= 1:
        args.problems.append(f"span must be a factor > 1 around the median N*, got {span!r}")
    args.check()
    fit = _answer_guard(fit)
    k = fit.flops_per_param_token
    n_star, _ = _optimal(fit, [flops])
    n_grid = np.geomspace(np.median(n_star) / span, np.median(n_star) * span, grid)
    losses = np.exp(_log_mean(fit, n_grid, flops / (k * n_grid)))
    risks = _risk(losses, risk)

    def risk_at(log_n):
        n = np.exp(np.atleast_1d(log_n))
        return float(_risk(np.exp(_log_mean(fit, n, flops / (k * n))), risk)[0])

    def refine(i: int) -> tuple[float, float]:
        # between the neighbouring grid points: a fine grid, then bounded Brent around its best point
        fine = np.geomspace(n_grid[max(i - 1, 0)], n_grid[min(i + 1, grid - 1)], 101)
        fine_risks = _risk(np.exp(_log_mean(fit, fine, flops / (k * fine))), risk)
        j = int(np.argmin(fine_risks))
        bracket = (np.log(fine[max(j - 1, 0)]), np.log(fine[min(j + 1, len(fine) - 1)]))
        refined = optimize.minimize_scalar(risk_at, bounds=bracket, method="bounded", options={"xatol": 1e-8})
        if refined.fun <= fine_risks[j]:
            return float(refined.fun), float(np.exp(refined.x))
        return float(fine_risks[j]), float(fine[j])

    # A quantile or CVaR over draws is only piecewise smooth in N, and the drift's distance
    # outside the fitted box has kinks in N: the grid's best point need not hold the minimum, so
    # the best few local minima of the grid are refined.
    finite = np.where(np.isfinite(risks), risks, np.inf)
    local = {i for i in range(grid) if finite[i] <= finite[max(i - 1, 0)] and finite[i] <= finite[min(i + 1, grid - 1)]}
    starts, taken = [], set()
    for i in sorted(local | {int(np.argmin(finite))}, key=lambda i: finite[i]):
        if len(starts) < REFINED_MINIMA and not taken & {i - 1, i, i + 1}:
            starts.append(i)
        taken.add(i)  # (one start per flat stretch of equal minima)
    _, best_n = min(refine(i) for i in starts)
    best_loss = np.exp(_log_mean(fit, np.array([best_n]), np.array([flops / (k * best_n)])))
    rep = {name: np.median(v) for name, v in fit.reported_draws().items()}
    sampled = {name: np.median(v) for name, v in fit.sampled_draws().items()}
    plugin_n = float(fit.optimal_params_at(np.array([flops]), sampled, rep, within_range=True)[0])
    plugin_loss = np.exp(_log_mean(fit, np.array([plugin_n]), np.array([flops / (k * plugin_n)])))
    plugin_risk = float(_risk(plugin_loss, risk)[0])
    oracle = fit.optimal_draws([flops], within_range=True)["loss"][:, 0]
    penalty = float(np.mean(best_loss[:, 0] - oracle))
    plugin_penalty = float(np.mean(plugin_loss[:, 0] - oracle))

    def best_risk_at(c):
        n_star_c, _ = _optimal(fit, [c])
        ng = np.geomspace(np.median(n_star_c) / span, np.median(n_star_c) * span, grid)
        return float(np.min(_risk(np.exp(_log_mean(fit, ng, c / (k * ng))), risk)))

    a, b = np.log(flops) - np.log(1e3), np.log(flops)
    for _ in range(36):  # C' to ~1e-9 relative, within [C/1000, C]
        mid = 0.5 * (a + b)
        a, b = (a, mid) if best_risk_at(np.exp(mid)) <= plugin_risk else (mid, b)
    deadweight = float(max(0.0, 1.0 - np.exp(b) / flops))
    return Allocation(
        flops=float(flops),
        risk=risk,
        params=best_n,
        tokens=float(flops / (k * best_n)),
        risk_value=float(_risk(best_loss, risk)[0]),
        plugin_params=plugin_n,
        plugin_tokens=float(flops / (k * plugin_n)),
        plugin_risk_value=plugin_risk,
        penalty=penalty,
        plugin_penalty=plugin_penalty,
        plugin_deadweight=deadweight,
        risk_gap_se=_risk_gap_se(best_loss[:, 0], plugin_loss[:, 0], risk),
        fitted_max_flops=fitted_range(fit)[1],
    )


def _risk_gap_se(best: np.ndarray, plugin: np.ndarray, risk, reps: int = 200) -> float:
    """Monte Carlo standard error of risk(plugin) - risk(best) over the draws: a paired bootstrap
    (draws resampled as if independent; successive MCMC draws are not quite)."""
    losses = np.column_stack([best, plugin])
    rng = np.random.default_rng(0)
    gaps = np.empty(reps)
    for r in range(reps):
        values = _risk(losses[rng.integers(0, len(losses), len(losses))], risk)
        gaps[r] = values[1] - values[0]
    return float(np.std(gaps, ddof=1))


def compare_plans(
    fit: ScalingFit,
    plans,
    *,
    target_loss: float | None = None,
    kind: str = "new_run",
    prob: float = 0.9,
    random_seed: int = 0,
) -> pd.DataFrame:
    r"""Candidate (N, D) plans side by side: loss band, P(lowest loss), P(missing a target).

    P(plan i has the lowest loss) is the share of joint predictive draws (one posterior draw,
    one independent new-run outcome per plan) in which plan i's loss is the lowest; with
    kind="mean" it compares the law's expected losses draw by draw. ``extrapolation_factor``:
    each plan's compute over the largest fitted compute.
    """
    args = Arguments()
    plans = args.pairs("plan", plans)
    if target_loss is not None:
        target_loss = args.target_loss("target_loss", target_loss, fit)
    args.choice("kind", kind, KINDS)
    prob = args.probability("prob", prob)
    args.check()
    fit = _answer_guard(fit)
    fc = fit.predict(plans[:, 0], plans[:, 1], kind=kind, random_seed=random_seed)
    lo, hi = fc.interval(prob)
    winner = np.argmin(fc.draws, axis=1)
    flops = fit.flops_per_param_token * plans[:, 0] * plans[:, 1]
    table = pd.DataFrame(
        {
            K.PARAMS: plans[:, 0],
            K.TOKENS: plans[:, 1],
            K.FLOPS: flops,
            "loss_median": fc.median,
            "loss_lo": lo,
            "loss_hi": hi,
            "p_lowest": np.bincount(winner, minlength=len(plans)) / len(winner),
            "extrapolation_factor": flops / fitted_range(fit)[1],
        }
    ).rename_axis("plan")
    if target_loss is not None:
        table["p_miss_target"] = 1.0 - _prob_below_points(fit, target_loss, plans[:, 0], plans[:, 1], kind)
    return table


def compare_fits(
    fit_a: ScalingFit, fit_b: ScalingFit, flops: float, *, prob: float = 0.9, random_seed: int = 0
) -> FitComparison:
    r"""Is recipe A really better than B at compute C? Two fitted posteriors.

    Draws of two separate posteriors are independent; they are paired at random (same number of
    pairs as the smaller posterior). Two families of one fit over families
    (``fit.family("A")``, ``fit.family("B")``) are draws of one joint posterior: they are
    paired draw by draw, so what the families share (pooled exponents, noise) cancels. ``prob_a_better`` = P(L*_A(C) < L*_B(C)) for the
    compute-optimal expected losses. The effective compute multiplier m of A over B solves
    :math:`L^*_B(mC) = L^*_A(C)` per pair (bisection in log m over [1e-6, 1e6]; ``inf`` if B does
    not get there by 1e6 C, e.g. when its E is above A's loss; values below 1e-6 are clamped):
    m > 1 means B needs m times the compute to match A. The two members of a pair share the
    extrapolation drift (the same method extrapolates both).
    """
    args = Arguments()
    flops = args.positive("flops", flops, "a compute budget in FLOPs")
    prob = args.probability("prob", prob)
    args.check()
    fit_a, fit_b = _answer_guard(fit_a), _answer_guard(fit_b)
    rng = np.random.default_rng(random_seed)
    n = min(fit_a.n_draws, fit_b.n_draws)
    ia = rng.permutation(fit_a.n_draws)[:n]
    ib = rng.permutation(fit_b.n_draws)[:n]
    joint = fit_a.idata.attrs.get("joint_posterior")
    if joint and joint == fit_b.idata.attrs.get("joint_posterior") and fit_a.n_draws == fit_b.n_draws:
        ib = ia  # (one posterior: each draw of A with the same draw of B)
    # Both recipes are extrapolated by the same method: a pair shares the drift beyond the data
    # (its z), so the comparison reflects the recipes rather than independent drift noise.
    drift_z = extrapolation_z(n)
    log_c = np.full(n, np.log(flops))
    target = _optimal_log_loss(fit_a, log_c, ia, drift_z)

    def log_loss_b(log_c):
        return _optimal_log_loss(fit_b, log_c, ib, drift_z)

    prob_a_better = float(np.mean(target < log_loss_b(log_c)))
    solved = _solve_log_c(log_loss_b, target, log_c - np.log(1e6), log_c + np.log(1e6))
    multiplier = np.exp(solved - np.log(flops))
    q = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    m_lo, m_med, m_hi = np.quantile(multiplier, q, method="inverted_cdf")  # inf-safe
    return FitComparison(
        float(flops),
        prob_a_better,
        float(m_med),
        float(m_lo),
        float(m_hi),
        multiplier,
        fitted_max_flops_a=fitted_range(fit_a)[1],
        fitted_max_flops_b=fitted_range(fit_b)[1],
        prob=float(prob),
    )


# --------------------------------------------------------------------------- next runs
def _target_quantity(fit: ScalingFit, target_flops: float, quantity: str) -> np.ndarray:
    draws = fit.optimal_draws([target_flops], within_range=True)
    return np.log(draws[quantity][:, 0])


def _run_log_lik(fit, idx, n, d, y):
    """log p(y | theta_s) of single-seed runs: y (n_sims, m) at (n, d) (m,) -> (m, n_sims, S)."""
    theta = {k: v[idx, None] for k, v in fit.sampled_draws().items()}
    log_mu = fit.law.log_loss(theta, np.log(n)[None, :], np.log(d)[None, :], fit.scale)  # (S, m)
    sd = _new_run_scale(fit, np.log(n)[None, :], idx)
    z = (y.T[:, :, None] - log_mu.T[:, None, :]) / sd.T[:, None, :]  # (m, n_sims, S)
    ll = fit.noise.likelihood_component.new_run_log_density(z, _likelihood_draws(fit, idx, (1, 1, -1)))
    return ll - np.log(sd.T)[:, None, :]


def _weighted_var(log_w, target_q):
    """Mean over simulations of the importance-weighted variance of target_q."""
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    mean = w @ target_q
    return float(np.mean(w @ target_q**2 - mean**2))


def next_runs(
    fit: ScalingFit,
    candidates,
    *,
    budget_flops: float,
    target_flops: float,
    quantity: str = "tokens",
    n_draws: int = 1000,
    n_sims: int = 200,
    max_runs: int | None = None,
    random_seed: int = 0,
) -> pd.DataFrame:
    r"""Which small runs to train next: greedy expected information per FLOP about a target.

    ``candidates`` are distinct (params, tokens) pairs, each a new single-seed configuration
    (candidates at an (N, D) already in the data are valued as if independent of it, which
    overstates them). The value of a set S of new runs is the expected reduction in the
    posterior variance of :math:`\log q` at ``target_flops`` (q = D*, N*, D*/N* or L*:
    ``quantity``):

    .. math::  \Delta(S) = \operatorname{Var}(\log q) - E_{y_S}\bigl[\operatorname{Var}(\log q \mid y_S)\bigr],

    estimated by preposterior importance sampling. ``n_sims`` "true" parameter vectors are
    drawn from the posterior and every candidate's outcome is simulated once from each (a new
    run: law + discrepancy + seed noise). For a set S the posterior draws are reweighted by the
    likelihood of the simulated outcomes of S, and the weighted variance is averaged over the
    simulations. Runs are added greedily by :math:`\Delta` gained per FLOP while it is positive
    and the ``budget_flops`` (and ``max_runs``) allow. Each candidate is valued given the runs already chosen,
    with the same simulated outcomes, so the picks spread out rather than pile up. Importance
    weights degrade when new runs are very informative: the ranking stays useful, the absolute
    numbers are approximate. ``benchmarks/next_runs_vs_grid.py`` checks the advice with refits.

    Returns the chosen runs in order with their FLOPs, the cumulative FLOPs, and the expected
    sd of log q and 90%-interval ratio (hi/lo) of q after adding each.
    """
    args = Arguments()
    cand = args.pairs("candidate", candidates)
    if cand is not None and len(np.unique(cand, axis=0)) < len(cand):
        args.problems.append(
            "candidates repeat an (N, D): list each configuration once. A second seed at one configuration "
            "shares its discrepancy and informs only the seed noise, which this approximation does not value"
        )
    budget_flops = args.positive("budget_flops", budget_flops, "a compute budget in FLOPs")
    target_flops = args.positive("target_flops", target_flops, "a compute budget in FLOPs")
    args.choice("quantity", quantity, QUANTITIES)
    n_draws = args.count("n_draws", n_draws, minimum=2)
    n_sims = args.count("n_sims", n_sims, minimum=1)
    if max_runs is not None:
        max_runs = args.count("max_runs", max_runs, minimum=1)
    args.check()
    fit = _answer_guard(fit)
    rng = np.random.default_rng(random_seed)
    k = fit.flops_per_param_token
    cost = k * cand[:, 0] * cand[:, 1]
    idx = rng.choice(fit.n_draws, size=min(n_draws, fit.n_draws), replace=False)
    target_q = _target_quantity(fit, target_flops, quantity)[idx]
    truth = rng.choice(fit.n_draws, size=n_sims, replace=n_sims > fit.n_draws)
    y = np.log(fit.predict(cand[:, 0], cand[:, 1], kind="new_run", random_seed=random_seed).draws[truth])  # (n_sims, m)
    log_lik = _run_log_lik(fit, idx, cand[:, 0], cand[:, 1], y)  # (m, n_sims, S)
    log_w = np.zeros((n_sims, idx.size))
    current = float(np.var(target_q))
    prior_var = current
    rows, spent = [], 0.0
    remaining = set(range(len(cand)))
    while max_runs is None or len(rows) < max_runs:
        affordable = [j for j in sorted(remaining) if spent + cost[j] <= budget_flops]
        if not affordable:
            break
        variances = np.array([_weighted_var(log_w + log_lik[j], target_q) for j in affordable])
        gains = (current - variances) / cost[affordable]
        best = int(np.argmax(gains))
        if gains[best] <= 0:  # nothing affordable is expected to help
            break
        j = affordable[best]
        remaining.remove(j)
        log_w = log_w + log_lik[j]
        spent += cost[j]
        current = float(variances[best])
        rows.append(
            {
                K.PARAMS: cand[j, 0],
                K.TOKENS: cand[j, 1],
                K.FLOPS: cost[j],
                "cumulative_flops": spent,
                "expected_sd_log_q": float(np.sqrt(max(current, 0.0))),
                "expected_interval_ratio": float(np.exp(2 * 1.645 * np.sqrt(max(current, 0.0)))),
            }
        )
    table = pd.DataFrame(
        rows, columns=[K.PARAMS, K.TOKENS, K.FLOPS, "cumulative_flops", "expected_sd_log_q", "expected_interval_ratio"]
    )
    table = table.rename_axis("order")
    table.attrs.update(
        {
            "quantity": quantity,
            "target_flops": target_flops,
            "target_extrapolation_factor": target_flops / fitted_range(fit)[1],
            "prior_sd_log_q": float(np.sqrt(prior_var)),
        }
    )
    if table.empty:
        table.attrs["note"] = "no candidate fits the budget, or none is expected to reduce the uncertainty"
    return table
