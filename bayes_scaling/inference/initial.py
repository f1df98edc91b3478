"""Where NUTS starts: a multi-start search for the posterior mode.

Some laws have posteriors with several local modes: a BNSL with two breaks can put its first
break where the data turn upwards, or explain the same bump with the breaks swapped and the
exponents of opposite sign. NUTS chains started from jittered prior centres then settle in
different modes (R-hat far above 1). As Caballero et al. fit BNSL by a search over many starting
points, :func:`find_mode` maximises the log posterior (on the sampler's unconstrained scale,
L-BFGS from scipy, gradients from PyTensor) from ``starts`` prior draws and returns the best
optimum, from which every chain then starts.

It also says how far the best mode stands above the next distinct one (``runner_up_gap``, in
log-density units). A small gap means the posterior is genuinely multimodal: chains started at
the best mode would then under-represent the others, and :func:`bayes_scaling.fit` warns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Number of prior draws the mode search starts from.
DEFAULT_STARTS = 24
#: Optima closer than this to the best in every unconstrained coordinate are the same mode.
SAME_MODE_DISTANCE = 0.5
#: Below this gap (log-density units) between the best and the next mode, fit warns.
MULTIMODAL_GAP = 3.0


@dataclass(frozen=True)
class ModeSearch:
    """Result of :func:`find_mode`.

    initvals : the best optimum, by free variable name, on the constrained (user) scale, as
        ``pm.sample(initvals=...)`` takes it.
    log_density : the log posterior (with Jacobian) where each start's optimisation ended (finite
        values only), best first.
    optima : the optima on the unconstrained scale, one row each, in the same order.
    n_starts : number of starting points tried.
    """

    initvals: dict
    log_density: np.ndarray
    optima: np.ndarray
    n_starts: int

    @property
    def _at_best(self) -> np.ndarray:
        return np.max(np.abs(self.optima - self.optima[0]), axis=1) < SAME_MODE_DISTANCE

    @property
    def n_at_best(self) -> int:
        """How many starts reached the best mode."""
        return int(self._at_best.sum())

    @property
    def runner_up_gap(self) -> float:
        """Log density of the best mode minus that of the best optimum elsewhere (inf if none).

        Elsewhere: more than ``SAME_MODE_DISTANCE`` away in some unconstrained coordinate, so
        two equally high modes (e.g. swapped labels) give a gap of 0."""
        others = self.log_density[~self._at_best]
        return float(self.log_density[0] - others.max()) if others.size else float("inf")

    def to_dict(self) -> dict:
        return {
            "method": "multistart",
            "n_starts": self.n_starts,
            "n_optima": int(self.log_density.size),  # starts whose optimisation ended at a finite value
            "n_at_best": self.n_at_best,
            "best_log_density": float(self.log_density[0]),
            # None: every start reached the best mode
            "runner_up_gap": self.runner_up_gap if np.isfinite(self.runner_up_gap) else None,
        }


def find_mode(model, *, starts: int = DEFAULT_STARTS, random_seed=None) -> ModeSearch:
    """Maximise the log posterior of ``model`` from ``starts`` prior draws; keep the best optimum.

    Runs on the unconstrained scale NUTS samples on (log posterior with Jacobian), so the mode
    is the one the sampler sees. Starts whose log density is not finite are skipped.
    """
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.util import get_default_varnames
    from scipy import optimize

    from ..errors import SamplingError, option

    start_fn = make_initial_point_fn(model=model, default_strategy="prior", return_transformed=True)
    logp = model.compile_logp(jacobian=True)
    dlogp = model.compile_dlogp(jacobian=True)
    seeds = np.random.default_rng(random_seed).integers(2**31, size=starts)
    point = start_fn(int(seeds[0]))

    def as_point(x):
        return DictToArrayBijection.rmap(DictToArrayBijection.map(point)._replace(data=x))

    def objective(x):
        q = as_point(x)
        value = -float(logp(q))
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        return value, -np.asarray(dlogp(q), dtype=float)

    found = []
    with np.errstate(all="ignore"):
        for seed in seeds:
            x0 = DictToArrayBijection.map(start_fn(int(seed))).data
            if not np.isfinite(logp(as_point(x0))):
                continue
            result = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B")
            if np.isfinite(result.fun):
                found.append((-float(result.fun), result.x))
    if not found:
        raise SamplingError(
            f"the mode search found no finite log posterior from {starts} prior draws; check the priors "
            f"(e.g. with bayes_scaling.sample_prior) or start without it ({option('init', 'jitter')})"
        )
    found.sort(key=lambda t: -t[0])
    best = as_point(found[0][1])
    constrained = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    values = model.compile_fn(inputs=model.value_vars, outs=constrained)(best)
    free = {rv.name for rv in model.free_RVs}
    initvals = {var.name: np.asarray(v) for var, v in zip(constrained, values, strict=True) if var.name in free}
    return ModeSearch(
        initvals=initvals,
        log_density=np.array([f[0] for f in found]),
        optima=np.array([f[1] for f in found]),
        n_starts=starts,
    )
