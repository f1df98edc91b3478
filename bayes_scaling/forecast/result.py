r"""The fitted result: :class:`ScalingFit` holds the posterior DataTree and the spec it came from.

Everything it answers (``predict``, ``compute_optimal``, ``summary``) is numpy on the stored
draws: a fit loaded from disk answers identically without PyMC compiling or sampling anything.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Mapping
from functools import cached_property

import numpy as np
import pandas as pd

from .. import _constants as K
from .._threads import in_threads
from ..data.runs import Runs
from ..errors import DiagnosticsWarning, SpecError, UnconvergedFitError, option
from ..inference.diagnostics import PSENSE_THRESHOLD, Verdict, diagnostics_table, flag_all
from ..laws import DataScale, get_law
from ..laws import maths as laws
from ..noise import (
    NoiseOptions,
    allocation_shift,
    allocation_u,
    compute_distance,
    extrapolation_distance,
    extrapolation_z,
    new_run_noise,
)
from ..units import as_counts
from . import files
from .predictive import Predictive, interval_quantiles


class ScalingFit(Predictive):
    """A fitted (or loaded) posterior and the spec that produced it.

    Build one with :func:`fit` or :func:`bayes_scaling.load`; do not construct directly.
    """

    def __init__(
        self, idata, *, spec_dict: Mapping, scale: DataScale, flops_per_param_token: float, group: str = "posterior"
    ):
        self.idata = idata
        self.spec_dict = dict(spec_dict)
        self.scale = scale
        self.flops_per_param_token = float(flops_per_param_token)
        self.group = group
        self._diagnostics: dict[bool, pd.DataFrame] = {}
        self._law = get_law(self.spec_dict["law"]).with_options(**self.spec_dict.get("law_options", {}))
        self._noise = NoiseOptions(
            self.spec_dict["heteroscedastic"],
            self.spec_dict["discrepancy"],
            self.spec_dict["likelihood"],
            # Files written before each drift existed were fitted without it.
            self.spec_dict.get("extrapolation_sd", 0.0),
            self.spec_dict.get("allocation_sd", 0.0),
            self.spec_dict.get("extrapolation_mean", 0.0),
        )

    def __repr__(self) -> str:
        ds = self.idata[self.group]
        n = ds.sizes[K.CHAIN] * ds.sizes[K.DRAW]
        return f"ScalingFit(law='{self._law.name}', {n} {self.group} draws, {self.n_configs} configurations)"

    # ------------------------------------------------------------------ views
    @property
    def spec(self):
        """The :class:`~bayes_scaling.inference.model.ScalingModel` (reconstructed from the stored JSON)."""
        from ..inference.model import ScalingModel

        return ScalingModel.from_dict(self.spec_dict)

    @property
    def law(self):
        return self._law

    @property
    def fitted_log_n_max(self) -> float:
        """The largest fitted log N (beyond it the seed noise never grows: :func:`~bayes_scaling.noise.config_sd`);
        from the fitted data where the file predates the data scale's range."""
        if np.isfinite(self.scale.log_n_max):
            return float(self.scale.log_n_max)
        if "constant_data" in self.idata and "log_n" in self.idata["constant_data"]:
            return float(np.max(self.idata["constant_data"]["log_n"].values))
        return float("nan")

    @property
    def n_configs(self) -> int:
        return int(self.idata["constant_data"].sizes.get(K.CONFIG, 0)) if "constant_data" in self.idata else 0

    @property
    def runs(self) -> Runs | None:
        """The runs this posterior was fitted to (stored in the file's ``runs`` group)."""
        return files.stored_runs(self.idata, self.flops_per_param_token)

    @cached_property
    def _draws(self) -> dict[str, np.ndarray]:
        """Every scalar variable of the draws group as a flat (n_draws,) array."""
        ds = self.idata[self.group].to_dataset()
        return {
            name: np.asarray(var.values, dtype=float).reshape(-1)
            for name, var in ds.data_vars.items()
            if set(var.dims) == set(K.SAMPLE_DIMS)
        }

    @property
    def n_draws(self) -> int:
        return next(iter(self._draws.values())).size

    def draws(self, name: str) -> np.ndarray:
        """Flat draws of one parameter (sampled, reported or derived: ``a``, ``b``, ``G``)."""
        if name in self._draws:
            return self._draws[name]
        reported, derived = self.reported_draws(), self._derived()
        if name in reported or name in derived:
            return reported[name] if name in reported else derived[name]
        raise KeyError(f"no parameter '{name}'; available: {sorted({*self._draws, *reported, *derived})}")

    @property
    def noise(self) -> NoiseOptions:
        """The noise model (heteroscedastic, discrepancy, likelihood) this posterior was fitted with."""
        return self._noise

    def sampled_draws(self) -> dict[str, np.ndarray]:
        """The sampled parameters (law, then noise) as flat (n_draws,) arrays."""
        names = (*self._law.parameters, *self._noise.parameters)
        return {name: self._draws[name] for name in names}

    @cached_property
    def _reported_cache(self) -> dict[str, np.ndarray]:
        values = self._law.reported_values(self.sampled_draws(), self.scale)
        return {name: np.asarray(v, dtype=float) for name, v in values.items()}

    def reported_draws(self) -> dict[str, np.ndarray]:
        """The law's parameters in the usual units (E, A, B, alpha, beta) as flat arrays."""
        return self._reported_cache

    def _derived(self) -> dict[str, np.ndarray]:
        """The law's derived quantities (Chinchilla's allocation exponents ``a``, ``b``), if any."""
        if self._law.derived is None:
            return {}
        return {name: np.asarray(v, dtype=float) for name, v in self._law.derived(self.reported_draws()).items()}

    @property
    def fitted_compute(self) -> tuple[float, float] | None:
        """``(smallest, largest)`` compute C = k N D of the fitted configurations."""
        if "constant_data" not in self.idata:
            return None
        const = self.idata["constant_data"]
        log_c = const["log_n"].values + const["log_d"].values + np.log(self.flops_per_param_token)
        return float(np.exp(log_c.min())), float(np.exp(log_c.max()))

    # ------------------------------------------------------------------ answers
    def extrapolation_distance(self, params, tokens) -> np.ndarray:
        """Decades (log10) outside the fitted box of N, D and C, per point (0 inside the data; for
        one family of a fit over families, the box of every family's runs)."""
        n, d = np.broadcast_arrays(as_counts(params, "params"), as_counts(tokens, "tokens"))
        return self._distance_outside_data(np.log(n), np.log(d))

    def _drift_reference(self) -> tuple[np.ndarray, np.ndarray]:
        """``(log N, log D)`` of the runs the law's form was fitted on, which the drifts measure
        their distance from: this fit's configurations, or, for one family of a fit over
        families, every family's (its ``drift_log_n`` / ``drift_log_d``: the pooled form was
        fitted on all of them; see :meth:`~bayes_scaling.FamilyFit.family`)."""
        const = self.idata["constant_data"]
        if "drift_log_n" in const:
            return const["drift_log_n"].values, const["drift_log_d"].values
        return const["log_n"].values, const["log_d"].values

    def _distance_outside_data(self, log_n, log_d) -> np.ndarray:
        return extrapolation_distance(log_n, log_d, *self._drift_reference())

    def with_extrapolation_sd(self, extrapolation_sd: float, mean: float = 0.0) -> ScalingFit:
        """The same posterior with another extrapolation drift :math:`\\kappa` and expected drift
        ``mean`` (:math:`m`; no refit: forecasts only). Shares the draws; the spec records both."""
        return self._with_spec(extrapolation_sd=extrapolation_sd, extrapolation_mean=mean)

    def with_allocation_sd(self, allocation_sd: float) -> ScalingFit:
        """The same posterior with another allocation drift :math:`\\lambda` (sd of log10 N* per
        decade of compute beyond the data; forecasts only, no refit). Shares the draws."""
        return self._with_spec(allocation_sd=allocation_sd)

    def _with_spec(self, **changes) -> ScalingFit:
        from ..inference.model import spec_id

        spec = {**self.spec_dict, **changes}  # (validated by the NoiseOptions the copy builds)
        if not spec.get("extrapolation_mean"):  # (absent when 0, as ScalingModel.to_dict writes it)
            spec.pop("extrapolation_mean", None)
        tree = self.idata.copy(deep=False)
        tree.attrs = {**self.idata.attrs, "spec": json.dumps(spec, sort_keys=True), "spec_id": spec_id(spec)}
        other = ScalingFit(
            tree, spec_dict=spec, scale=self.scale, flops_per_param_token=self.flops_per_param_token, group=self.group
        )
        other._accepted, other._warn_verdict = self._accepted, self._warn_verdict
        return other

    def _allocation_shift(self, log_c, rows=slice(None)) -> np.ndarray | None:
        """The allocation drift :math:`w_s(C)` (ln N) at ``log_c = ln(ND)`` for draws ``rows``;
        None without one (no allocation, lambda = 0, or every point inside the fitted compute)."""
        lam = self._noise.allocation_sd
        fitted = np.add(*self._drift_reference())
        if lam <= 0 or not self._law.allocates or not compute_distance(log_c, fitted).any():
            return None  # (inside the data: no (draws x points) arrays)
        return allocation_shift(np.asarray(log_c, dtype=float), fitted, lam, allocation_u(self.n_draws)[rows])

    def log_mean_draws(
        self, params, tokens, rows=slice(None), drift_z=None, dtype=np.float64, inputs: Mapping | None = None
    ) -> np.ndarray:
        r"""Per-draw log expected loss at points, shape ``(n_draws, n_points)``, extrapolation
        drift included:

        .. math:: \log L_s(N, D) = \log\mu_s(N, D) + \sqrt{h(N, D)}\,(m + \kappa z_s)

        (:math:`h = 0` inside the fitted range, :math:`m = 0` unless sized from the runs; see
        :mod:`bayes_scaling.noise`). ``params`` and
        ``tokens`` broadcast against ``(n_draws, n_points)``; ``rows`` selects draws;
        ``drift_z`` replaces the drift's :math:`z_s` (one per selected draw), e.g. to give two
        fits compared draw by draw the same drift. ``dtype=np.float32`` halves time and memory
        for per-point summaries (7 significant digits, far below the Monte Carlo error).
        ``inputs``: the law's other inputs by name, in their units (``{"unique_tokens": U}``;
        default: every token unique)."""
        n, d = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
        theta = {k: v[rows, None].astype(dtype) for k, v in self.sampled_draws().items()}
        logs = {name: np.log(np.asarray(v, dtype=float)).astype(dtype) for name, v in dict(inputs or {}).items()}
        log_n, log_d = np.log(n), np.log(d)
        shift = self._allocation_shift(log_n + log_d, rows=rows)
        if shift is not None:  # each IsoFLOP profile moved along its line (C kept)
            log_n, log_d = log_n - shift, log_d + shift
        log_mu = self._law.log_loss(theta, log_n.astype(dtype), log_d.astype(dtype), self.scale, logs)
        kappa, mean = self._noise.extrapolation_sd, self._noise.extrapolation_mean
        if kappa <= 0 and mean == 0:
            return log_mu
        h = self._distance_outside_data(log_n, log_d)  # in the law's frame: the optimum's loss keeps its drift
        z = extrapolation_z(self.n_draws)[rows] if drift_z is None else np.asarray(drift_z, dtype=float)
        return log_mu + (np.sqrt(h) * (mean + kappa * z[:, None])).astype(dtype, copy=False)

    def _forecast_log_loss(self, n, d, inputs, kind, rng, *, rows=slice(None), dtype=np.float64, marginal_only=False):
        """Log-loss draws at points (``n``, ``d`` and the ``inputs`` values: (1, m) arrays), rows
        ``rows`` of the draws: the law with its drift, plus a new run's noise when ``kind == "new_run"``."""
        log_loss = self.log_mean_draws(n, d, rows=rows, dtype=dtype, inputs=inputs)
        if kind == "new_run":
            theta = {k: v[rows, None].astype(dtype) for k, v in self.sampled_draws().items()}
            log_n = np.log(n).astype(dtype)
            ref = self.scale.log_n_noise_ref
            log_loss = log_loss + new_run_noise(
                theta, log_n, ref, self._noise, rng, marginal_only=marginal_only, log_n_max=self.fitted_log_n_max
            )
        return log_loss

    def optimal_params_draws(
        self, flops, rows=slice(None), *, drift: bool = True, within_range: bool = False
    ) -> np.ndarray:
        """Per-draw compute-optimal N* (rows ``rows``) at budgets ``flops`` broadcast against
        ``(n_draws, 1)``: the law's closed form, else a numeric minimum along each IsoFLOP line
        (NaN where the minimum is not inside the law's tokens per parameter, 0.01-1e6 unless it
        says otherwise; with ``within_range`` the best size inside them instead, as planners
        choose), moved by the allocation drift beyond the fitted compute unless ``drift=False``
        (the law's own N*)."""
        law = self._law
        if not law.allocates:
            raise SpecError(
                f"law '{law.name}' is a function of {law.variables} alone: it has no compute-optimal split of C into N "
                "and D; fit a law of N and D (e.g. 'chinchilla') for allocations"
            )
        sampled = {name: v[rows, None] for name, v in self.sampled_draws().items()}
        reported = {name: v[rows, None] for name, v in self.reported_draws().items()}
        n_star = self.optimal_params_at(flops, sampled, reported, within_range=within_range)
        shift = self._allocation_shift(np.log(np.asarray(flops, dtype=float) / self.flops_per_param_token), rows)
        return n_star if shift is None or not drift else n_star * np.exp(shift)

    def optimal_params_at(
        self, flops, sampled: Mapping, reported: Mapping, *, within_range: bool = False
    ) -> np.ndarray:
        """Compute-optimal N* for given parameter values (``sampled`` and ``reported``, e.g. the
        posterior medians for a plug-in answer), broadcast against ``flops``."""
        c = np.asarray(flops, dtype=float)
        k = self.flops_per_param_token
        if self._law.optimal_params is not None:
            return self._law.optimal_params(reported, c, k)
        ratios = self._law.allocation_ratios
        log_n = laws.isoflop_argmin(
            lambda ln, ld: self._law.log_loss(sampled, ln, ld, self.scale),
            np.log(c / k),
            at_edge="keep" if within_range else "nan",
            **({} if ratios is None else {"log_ratio_range": (float(np.log(ratios[0])), float(np.log(ratios[1])))}),
        )
        return np.exp(log_n)

    def optimal_draws(self, flops, *, within_range: bool = False) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal allocation at each budget: arrays of shape (n_draws, n_budgets).

        Keys: ``params`` (N*), ``tokens`` (D*), ``tokens_per_param`` (D*/N*) and ``loss``
        (the expected loss :math:`L(N^*, D^*)` of that draw), under :math:`C = k N D`. A draw
        whose loss has no minimum along the IsoFLOP line (a numerical optimum) is NaN there, or
        with ``within_range`` its best run inside the law's tokens per parameter (planners).
        """
        self._check_answerable()
        c = as_counts(flops, "flops")[None, :]
        k = self.flops_per_param_token
        n_star = self.optimal_params_draws(c, within_range=within_range)
        d_star = c / (k * n_star)
        with np.errstate(invalid="ignore"):
            loss = np.exp(self.log_mean_draws(n_star, d_star))
        return {"params": n_star, "tokens": d_star, "tokens_per_param": d_star / n_star, "loss": loss}

    def summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Parameter table: median, ``prob`` interval, R-hat and bulk/tail ESS.

        Rows: the law's parameters in the usual units, the allocation exponents ``a`` (N* ~ C^a)
        and ``b`` (D* ~ C^b) where defined, then the noise parameters (sigma_ref, gamma, tau, nu).
        """
        ds = self.idata[self.group].to_dataset()
        shape = (ds.sizes[K.CHAIN], ds.sizes[K.DRAW])
        names = [*self._law.reported, *self._derived(), *self._noise.reported]
        return summary_table({name: self.draws(name).reshape(shape) for name in names}, prob)

    def diagnostics(self, model_checks: bool = True) -> pd.DataFrame:
        """Convergence table over the sampled parameters: R-hat, ESS, and whether each passes.

        ``attrs`` carries the number of divergent transitions, the Pareto-k values of PSIS-LOO
        per configuration, and ``problems``: every failed check in words, with what to do.
        Besides the sampler's checks (divergences, R-hat > 1.01, ESS < 100 per chain), with
        ``model_checks``: configurations with Pareto k above ArviZ's threshold (the posterior
        hinges on them; LOO is unreliable) and prior-data conflict of the law's parameters by
        power-scaling sensitivity (``attrs["sensitivity"]``).

        The table agrees with the verdict (``attrs["verdict"]``, also :attr:`verdict`): a row is
        ``ok`` only when its own R-hat and ESS pass *and* no check of the whole fit failed
        (divergences, influential configurations) *and* it is not in prior-data conflict;
        ``why_not`` says which failed.
        """
        key = bool(model_checks)
        if key not in self._diagnostics:  # computed once a fit (the fit's own check, then every caller)
            parameters = (*self._law.parameters, *self._noise.parameters)
            table = diagnostics_table(self.idata, parameters)
            if model_checks and "observed_data" in self.idata:  # (a new family of a fit over families has none)
                table.attrs["problems"] += self._influence_problems(table) + self._prior_conflict_problems(table)
            table.attrs["verdict"] = Verdict.from_table(table)
            self._diagnostics[key] = table
        return self._diagnostics[key].copy()  # (attrs deep-copied: callers may edit theirs)

    @property
    def verdict(self) -> Verdict:
        """The fit's diagnostics in one object (:class:`~bayes_scaling.inference.diagnostics.Verdict`):
        ``ok``, ``converged``, ``problems``, ``headline()``.

        The verdict recorded when the fit was made (saved with it) is used when present, so a
        loaded fit answers without recomputing PSIS-LOO; else :meth:`diagnostics` is run."""
        if "posterior" != self.group:
            return Verdict(ok=True, converged=True)
        recorded = Verdict.recorded(self.idata.attrs)
        if recorded is not None:
            return recorded
        return self.diagnostics().attrs["verdict"]

    def accept_unconverged(self, warn: bool = True) -> ScalingFit:
        """This fit, answering even if its sampler did not converge (see :attr:`verdict`).

        A fit with R-hat above 1.1 or an effective sample size below 50 refuses every answer
        (:class:`~bayes_scaling.errors.UnconvergedFitError`): its draws are not a posterior. The
        copy returned answers anyway, with a :class:`~bayes_scaling.errors.DiagnosticsWarning`
        on each answer unless ``warn=False`` (for callers that record the verdict themselves,
        as backtests do). The draws are shared, not copied."""
        other = copy.copy(self)
        other._accepted = True
        other._warn_verdict = bool(warn)
        return other

    _accepted = False
    _warn_verdict = True

    def _check_answerable(self, stacklevel: int = 3) -> None:
        """Refuse an answer from a fit that did not converge (unless accepted); warn when the
        verdict is NOT OK. Called by every public answer (predict, compute_optimal, planners)."""
        verdict = self.verdict
        if verdict.ok:
            return
        if not verdict.converged and not self._accepted:
            raise UnconvergedFitError(
                f"this fit did not converge (diagnostics {verdict.headline()}): its draws are not a posterior and any forecast "
                f"from it is meaningless. Refit (more tune/draws, {option('target_accept', 0.95)}, another law or "
                f"tighter priors), or use {option('accept_unconverged', True, python='fit.accept_unconverged()')} to answer anyway"
            )
        if self._warn_verdict:
            first = re.split(r" \(|: ", verdict.problems[0])[0] if verdict.problems else ""
            warnings.warn(
                f"this answer comes from a fit that failed its diagnostics ({verdict.headline()}; first: {first}): "
                "check them before relying on it",
                DiagnosticsWarning,
                stacklevel=stacklevel,
            )

    def _influence_problems(self, table) -> list[str]:
        loo = self.loo()
        k = np.asarray(loo.pareto_k).reshape(-1)
        table.attrs["pareto_k"] = k
        bad = np.flatnonzero(k > loo.good_k)
        if not bad.size:
            return []
        flag_all(table, f"Pareto k > {loo.good_k:.2f} for {bad.size} configuration(s)")
        const = self.idata["constant_data"].to_dataset()
        where = ", ".join(
            f"N={np.exp(const['log_n'].values[j]):.3g} D={np.exp(const['log_d'].values[j]):.3g}" for j in bad[:5]
        )
        return [
            f"Pareto k > {loo.good_k:.2f} for {bad.size} configuration(s) ({where}{', ...' if bad.size > 5 else ''}): "
            "the posterior hinges on these runs (high leverage at the edge of the design, or outliers) and PSIS-LOO "
            "is unreliable there; check them for outliers or diverged runs, and distrust forecasts that rest on them"
        ]

    def _prior_conflict_problems(self, table) -> list[str]:
        """Power-scaling sensitivity (Kallioinen et al. 2024, ``az.psense``) of the law's parameters.

        A parameter whose posterior moves both when the prior and when the likelihood is
        power-scaled (both sensitivities above 0.05) is in prior-data conflict. The noise split
        (tau_share) and nu are weakly identified by design, so they are reported in
        ``attrs["sensitivity"]`` but not judged.
        """
        import arviz as az
        import xarray as xr

        if "log_prior" not in self.idata:
            return []
        parameters = [*self._law.parameters, *self._noise.parameters]
        tree = xr.DataTree.from_dict(
            {
                "posterior": self.idata["posterior"].to_dataset()[parameters],
                "log_prior": self.idata["log_prior"].to_dataset(),
                "log_likelihood": self.log_likelihood().to_dataset(),
            }
        )
        prior = az.psense(tree, group="prior")
        likelihood = az.psense(tree, group="likelihood")
        sensitivity = pd.DataFrame(
            {"prior": [float(prior[p]) for p in parameters], "likelihood": [float(likelihood[p]) for p in parameters]},
            index=pd.Index(parameters, name="parameter"),
        )
        table.attrs["sensitivity"] = sensitivity
        law = sensitivity.loc[list(self._law.parameters)]
        conflict = law.index[(law["prior"] > PSENSE_THRESHOLD) & (law["likelihood"] > PSENSE_THRESHOLD)].tolist()
        if not conflict:
            return []
        flag_all(table, "prior-data conflict", rows=conflict)
        return [
            f"prior-data conflict for {conflict}: their posteriors move when either the prior or the data is "
            f"power-scaled (sensitivity > {PSENSE_THRESHOLD}); widen or re-centre those priors ({option('priors')}) or check "
            "the data"
        ]

    def log_likelihood(self):
        """Pointwise log-likelihood per configuration, ``(chain, draw, config)`` DataArray.

        Computed once from the stored draws and data (not stored in the file, which stays small);
        the same array is handed to every caller and LOO, so copy it before changing it. Above
        :data:`~bayes_scaling.inference.psis.FLOAT32_VALUES` values (e.g. 200,000
        configurations x 4000 draws, 6.4 GB in float64) it is kept in float32: half the memory
        for LOO and power-scaling, at a rounding (~1e-7 relative) far below their Monte Carlo error.
        """
        return self._log_likelihood

    @cached_property
    def _log_likelihood(self):
        import xarray as xr

        from ..inference.psis import FLOAT32_VALUES
        from ..noise import pointwise_log_likelihood

        const = self.idata["constant_data"].to_dataset()
        obs = self.idata["observed_data"].to_dataset()
        data = self._likelihood_data()
        if "within_ss" in obs:
            data["within_ss"] = obs["within_ss"].values
            data["rep_index"] = const["rep_index"].values
        n_columns = data["mean_log_loss"].size
        values = self._per_draw_blocks(
            lambda theta: pointwise_log_likelihood(
                theta, self._fitted_log_mean(theta, const), data, self.scale.log_n_noise_ref, self._noise
            ),
            n_columns=n_columns,
            dtype=np.float32 if self.n_draws * n_columns > FLOAT32_VALUES else np.float64,
        )
        ds = self.idata[self.group].to_dataset()
        shape = (ds.sizes[K.CHAIN], ds.sizes[K.DRAW], values.shape[1])
        return xr.DataArray(values.reshape(shape), dims=(K.CHAIN, K.DRAW, K.CONFIG), name="loss")

    def _per_draw_blocks(self, fn, n_columns: int, block_values: int = 1 << 18, dtype=np.float64) -> np.ndarray:
        """``fn(theta)`` for blocks of draws (``theta`` holds ``(rows, 1)`` arrays), stacked to
        ``(n_draws, n_columns)`` of ``dtype``, on the CPUs this process may use (``fn`` must be
        numpy only, safe in threads). Blocks of ~2 MB stay in cache: the pointwise
        log-likelihood of 4000 draws x 10,286 configurations took 6.4 s as whole-array passes,
        2.2 s so on one CPU."""
        draws = self.sampled_draws()
        n_draws = len(next(iter(draws.values())))
        rows = max(1, block_values // max(n_columns, 1))
        out = np.empty((n_draws, n_columns), dtype=dtype)

        def work(start: int) -> None:
            block = slice(start, start + rows)
            out[block] = fn({k: v[block, None] for k, v in draws.items()})

        in_threads(work, range(0, n_draws, rows))
        return out

    def _fitted_log_mean(self, theta, const=None) -> np.ndarray:
        """log mu per draw at the fitted configurations (no drift: they are inside the data);
        ``const``: the ``constant_data`` Dataset, if already at hand."""
        const = self.idata["constant_data"].to_dataset() if const is None else const
        inputs = {name: const[K.LAW_INPUT_DATA[name]].values[None, :] for name in self._law.extra_inputs}
        return self._law.log_loss(
            theta, const["log_n"].values[None, :], const["log_d"].values[None, :], self.scale, inputs
        )

    def _likelihood_data(self) -> dict:
        const = self.idata["constant_data"].to_dataset()
        obs = self.idata["observed_data"].to_dataset()
        return {
            "log_n": const["log_n"].values,
            "n_seeds": const["n_seeds"].values,
            "mean_log_loss": obs["mean_log_loss"].values,
        }

    def outlier_probabilities(self) -> pd.DataFrame:
        """Per run: the posterior probability that its configuration is an outlier (above the
        frontier, e.g. under-tuned), for a fit whose likelihood has an outlier component (the
        outlier mixture; its ``outlier_probability`` is not None, else a SpecError). Replicate
        seeds share their configuration's probability. Columns: the run's params, tokens, loss
        and ``outlier_prob``; sorted as the runs table."""
        from ..noise import outlier_probability

        data = self._likelihood_data()
        probs = self._per_draw_blocks(
            lambda theta: outlier_probability(
                theta, self._fitted_log_mean(theta), data, self.scale.log_n_noise_ref, self._noise
            ),
            n_columns=data["mean_log_loss"].size,
        ).mean(axis=0)
        runs = self.runs
        frame = runs.to_frame()[[K.PARAMS, K.TOKENS, K.LOSS]].copy()
        frame["outlier_prob"] = probs[runs.config_index]
        return frame

    def loo(self):
        """PSIS-LOO leaving out one configuration (all its seeds) at a time: ArviZ's estimator
        and result type (``ELPDDataLOO``, for ``az.compare``), computed for all configurations
        at once by :mod:`bayes_scaling.inference.psis` (ArviZ loops over them: 10 s on a 10,000-
        configuration table). High Pareto k values are reported by :meth:`diagnostics`, not
        as warnings. Computed once a fit.
        """
        return self._loo

    @cached_property
    def _loo(self):
        from ..inference.psis import elpd_loo

        return elpd_loo(self.log_likelihood(), self.idata["posterior"].to_dataset(), K.CONFIG)

    def save(self, path, *, overwrite: bool = False) -> None:
        """Write the fit to a netCDF file (atomic; refuses to replace a file unless ``overwrite``)."""
        files.save(self, path, overwrite=overwrite)


def summary_table(values: Mapping, prob: float = 0.9) -> pd.DataFrame:
    """One row per ``{name: (chain, draw) array}``: mean, sd, median, the ``prob`` interval,
    R-hat and bulk/tail ESS (ArviZ's)."""
    import arviz as az
    import xarray as xr

    q_lo, q_hi = interval_quantiles(prob)
    dataset = xr.Dataset({name: ((K.CHAIN, K.DRAW), v) for name, v in values.items()})
    rhat = az.rhat(dataset)
    ess_bulk = az.ess(dataset, method="bulk")
    ess_tail = az.ess(dataset, method="tail")
    rows = []
    for name, v in values.items():
        flat = np.asarray(v).reshape(-1)
        rows.append(
            {
                "parameter": name,
                "mean": flat.mean(),
                "sd": flat.std(ddof=1),
                "median": np.median(flat),
                f"{q_lo:.1%}".replace(".0%", "%"): np.quantile(flat, q_lo),
                f"{q_hi:.1%}".replace(".0%", "%"): np.quantile(flat, q_hi),
                "r_hat": float(rhat[name]),
                "ess_bulk": float(ess_bulk[name]),
                "ess_tail": float(ess_tail[name]),
            }
        )
    return pd.DataFrame(rows).set_index("parameter")
