r"""Fitting: ``fit(runs, law=...) -> ScalingFit``, and what a fitted posterior answers.

A :class:`ScalingFit` holds the posterior DataTree and the spec it came from. Everything it
answers (``predict``, ``compute_optimal``, ``summary``) is numpy on the stored draws: a fit
loaded from disk answers identically without PyMC compiling or sampling anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd

from . import _constants as K
from . import laws
from .errors import SamplingError, SamplingWarning, SpecError
from .forms import DataScale, Law, get_law
from .initial import MULTIMODAL_GAP, find_mode
from .noise import DEFAULT_EXTRAPOLATION_SD, NoiseOptions, extrapolation_distance, extrapolation_z, new_run_noise
from .runs import Runs
from .units import as_counts

#: Diagnostic thresholds (Vehtari et al. 2021): R-hat above, bulk/tail ESS below (per chain x 4).
RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
#: Power-scaling sensitivity above which a posterior counts as sensitive (ArviZ's default).
PSENSE_THRESHOLD = 0.05


def _interval_quantiles(prob: float) -> tuple[float, float]:
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must be between 0 and 1, got {prob!r}")
    return (1 - prob) / 2, (1 + prob) / 2


def _column_quantiles(x: np.ndarray, q) -> np.ndarray:
    """``np.quantile(x, q, axis=0)`` (linear interpolation) by one partial sort of the columns:
    about twice as fast, since only the order statistics the quantiles need are placed."""
    rows = np.ascontiguousarray(x.T)
    m = rows.shape[1]
    pos = np.asarray(q, dtype=float) * (m - 1)
    lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
    rows.partition(np.unique(np.concatenate([lo, hi])), axis=1)
    frac = (pos - lo)[:, None]
    return rows[:, lo].T * (1 - frac) + rows[:, hi].T * frac


@dataclass(frozen=True, eq=False)
class Forecast:
    """Posterior (predictive) draws of loss at a set of (N, D) points.

    ``draws`` has shape ``(n_draws, n_points)``; ``kind`` is ``"mean"`` (the expected loss of
    the law: parameter uncertainty only) or ``"new_run"`` (a new training run: adds the
    configuration discrepancy and the seed noise at that N).
    """

    params: np.ndarray
    tokens: np.ndarray
    draws: np.ndarray
    kind: str

    @cached_property
    def median(self) -> np.ndarray:
        """Posterior median loss per point."""
        return np.median(self.draws, axis=0)

    @cached_property
    def mean(self) -> np.ndarray:
        return self.draws.mean(axis=0)

    def interval(self, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed ``prob`` interval per point: ``(lo, hi)`` arrays."""
        lo, hi = np.quantile(self.draws, _interval_quantiles(prob), axis=0)
        return lo, hi

    def to_frame(self, prob: float = 0.9) -> pd.DataFrame:
        lo, hi = self.interval(prob)
        return (
            pd.DataFrame(
                {
                    K.PARAMS: self.params,
                    K.TOKENS: self.tokens,
                    "loss_median": self.median,
                    "loss_lo": lo,
                    "loss_hi": hi,
                }
            )
            .assign(kind=self.kind)
            .rename_axis("point")
        )


class Predictive:
    """What every posterior forecaster answers from its draws (a :class:`ScalingFit` or a
    stacked mixture of fits, :class:`bayes_scaling.stacking.StackedFit`): ``predict``,
    ``predict_summary`` and ``compute_optimal``. Subclasses give ``n_draws``,
    ``_forecast_log_loss`` and ``optimal_draws``.
    """

    def predict(self, params, tokens, kind: str = "new_run", random_seed: int = 0, unique_tokens=None) -> Forecast:
        r"""Posterior predictive loss at ``(params, tokens)`` (arrays broadcast; "70B" accepted).

        kind="mean": :math:`L(N, D)` under parameter uncertainty (expected-loss band).
        kind="new_run": the loss a single new run would show (new-run band):
        :math:`\log L_{new} = \log L(N, D) + \delta + \varepsilon`, the configuration
        discrepancy (sd :math:`\tau`) plus seed noise (sd :math:`\sigma(N)`), with Student-t
        tails under the default likelihood. Its noise is drawn with ``random_seed``.
        Both kinds include the extrapolation drift beyond the fitted range (see
        :meth:`ScalingFit.log_mean_draws`). ``unique_tokens``: the distinct tokens behind D, for
        laws that read them (default: every token unique).
        """
        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' or 'new_run', got {kind!r}")
        n, d, u = _points(params, tokens, unique_tokens)
        rng = np.random.default_rng(random_seed)
        log_loss = self._forecast_log_loss(n[None, :], d[None, :], None if u is None else u[None, :], kind, rng)
        return Forecast(params=n, tokens=d, draws=np.exp(log_loss), kind=kind)

    def predict_summary(
        self,
        params,
        tokens,
        *,
        kind: str = "new_run",
        probs=(0.9,),
        chunk_size: int | None = None,
        random_seed: int = 0,
        workers: int | None = None,
        unique_tokens=None,
    ) -> pd.DataFrame:
        """Median and central ``probs`` intervals of :meth:`predict`, without keeping the draws.

        Points are processed in chunks (about 80 MB of draws each, ``workers`` threads at a
        time, default: the number of cores), so memory stays bounded however many points are
        asked for. Quantiles are taken on log loss and exponentiated (the same quantiles, fewer
        exponentials). New-run noise is drawn for per-point summaries (see ``marginal_only`` in
        :func:`~bayes_scaling.noise.new_run_noise`); the same seed and chunk size give the same
        table. Columns: params, tokens, loss_median, loss_lo_XX / loss_hi_XX (XX = percent);
        ``attrs`` records ``kind`` and ``probs``. Memory: the draws of one chunk per thread plus
        the result (about 40 bytes per point).
        """
        import concurrent.futures as cf

        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' or 'new_run', got {kind!r}")
        n, d, u = _points(params, tokens, unique_tokens)
        q = [0.5]
        for p in probs:
            q += list(_interval_quantiles(p))
        chunk = chunk_size or max(1, 10_000_000 // self.n_draws)
        out = np.empty((len(q), n.size))

        def work(start: int) -> None:
            sl = slice(start, start + chunk)
            rng = np.random.default_rng([random_seed, start])
            unique = None if u is None else u[None, sl]
            log_loss = self._forecast_log_loss(
                n[None, sl], d[None, sl], unique, kind, rng, dtype=np.float32, marginal_only=True
            )
            out[:, sl] = _column_quantiles(log_loss, q)

        starts = range(0, n.size, chunk)
        with cf.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:  # numpy releases the GIL
            list(pool.map(work, starts))
        table = {K.PARAMS: n, K.TOKENS: d, "loss_median": np.exp(out[0])}
        for i, p in enumerate(probs):
            pct = f"{100 * p:g}"
            table[f"loss_lo_{pct}"] = np.exp(out[1 + 2 * i])
            table[f"loss_hi_{pct}"] = np.exp(out[2 + 2 * i])
        frame = pd.DataFrame(table).rename_axis("point")
        frame.attrs.update(kind=kind, probs=tuple(probs))
        return frame

    def compute_optimal(self, flops, prob: float = 0.9) -> pd.DataFrame:
        r"""Compute-optimal N*, D*, D*/N* and expected loss per budget C: median and ``prob`` interval.

        For Chinchilla: :math:`N^* = G (C/k)^{\beta/(\alpha+\beta)}`,
        :math:`G = (\alpha A / \beta B)^{1/(\alpha+\beta)}`, :math:`D^* = C / (k N^*)`, per draw.
        """
        q_lo, q_hi = _interval_quantiles(prob)
        draws = self.optimal_draws(flops)
        table = {K.FLOPS: as_counts(flops, "flops")}
        unbounded = np.isnan(draws["params"])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="All-NaN slice")
            for name, values in draws.items():
                table[f"{name}_median"] = np.nanmedian(values, axis=0)
                table[f"{name}_lo"] = np.nanquantile(values, q_lo, axis=0)
                table[f"{name}_hi"] = np.nanquantile(values, q_hi, axis=0)
        frame = pd.DataFrame(table).rename_axis("budget")
        frame.attrs["interval"] = prob
        if unbounded.any():
            share = unbounded.mean(axis=0)
            frame["share_without_optimum"] = share
            warnings.warn(
                f"{share.max():.1%} of draws (at worst) have no loss minimum between 0.01 and 1e6 tokens per "
                "parameter at some budget: the summary is over the others (column share_without_optimum)",
                SamplingWarning,
                stacklevel=2,
            )
        return frame


def _points(params, tokens, unique_tokens=None):
    """Flat float arrays of N, D (and U, or None) broadcast together; "70B" accepted."""
    arrays = [as_counts(params, "params"), as_counts(tokens, "tokens")]
    if unique_tokens is not None:
        arrays.append(as_counts(unique_tokens, "unique_tokens"))
    flat = [a.ravel().astype(float) for a in np.broadcast_arrays(*arrays)]
    return flat[0], flat[1], (flat[2] if unique_tokens is not None else None)


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
            # Files written before the extrapolation term existed were fitted without it.
            self.spec_dict.get("extrapolation_sd", 0.0),
        )

    def __repr__(self) -> str:
        ds = self.idata[self.group]
        n = ds.sizes[K.CHAIN] * ds.sizes[K.DRAW]
        return f"ScalingFit(law='{self._law.name}', {n} {self.group} draws, {self.n_configs} configurations)"

    # ------------------------------------------------------------------ views
    @property
    def spec(self):
        """The :class:`~bayes_scaling.model.ScalingModel` (reconstructed from the stored JSON)."""
        from .model import ScalingModel

        return ScalingModel.from_dict(self.spec_dict)

    @property
    def law(self):
        return self._law

    @property
    def n_configs(self) -> int:
        return int(self.idata["constant_data"].sizes.get(K.CONFIG, 0)) if "constant_data" in self.idata else 0

    @property
    def runs(self) -> Runs | None:
        """The runs this posterior was fitted to (stored in the file's ``runs`` group)."""
        if "runs" not in self.idata:
            return None
        frame = self.idata["runs"].to_dataset().to_dataframe().reset_index(drop=True)
        return Runs.from_frame(frame, flops_per_param_token=self.flops_per_param_token, plausibility=False)

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
        reported = self.reported_draws()
        if name in reported:
            return reported[name]
        derived = self._derived()
        if name in derived:
            return derived[name]
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
        """Exponents of the compute-optimal allocation, where the law has them."""
        rep = self.reported_draws()
        # (not for a law with one exponent, e.g. chinchilla_tied: there a = b = 1/2 in every draw)
        if "alpha" in self._law.reported and "beta" in self._law.reported:
            s = rep["alpha"] + rep["beta"]
            return {"a": rep["beta"] / s, "b": rep["alpha"] / s}
        return {}

    # ------------------------------------------------------------------ answers
    def extrapolation_distance(self, params, tokens) -> np.ndarray:
        """Decades (log10) outside the fitted box of N, D and C, per point (0 inside the data)."""
        n, d = np.broadcast_arrays(as_counts(params, "params"), as_counts(tokens, "tokens"))
        return self._distance_outside_data(np.log(n), np.log(d))

    def _distance_outside_data(self, log_n, log_d) -> np.ndarray:
        const = self.idata["constant_data"]
        return extrapolation_distance(log_n, log_d, const["log_n"].values, const["log_d"].values)

    def with_extrapolation_sd(self, extrapolation_sd: float) -> ScalingFit:
        """The same posterior with another extrapolation drift :math:`\\kappa` (no refit: the
        term acts on forecasts only). The copy shares the draws; its spec records the new value."""
        from .model import spec_id

        spec = {**self.spec_dict, "extrapolation_sd": extrapolation_sd}
        NoiseOptions(spec["heteroscedastic"], spec["discrepancy"], spec["likelihood"], extrapolation_sd)  # validates
        tree = self.idata.copy(deep=False)
        tree.attrs = {**self.idata.attrs, "spec": json.dumps(spec, sort_keys=True), "spec_id": spec_id(spec)}
        return ScalingFit(
            tree, spec_dict=spec, scale=self.scale, flops_per_param_token=self.flops_per_param_token, group=self.group
        )

    def log_mean_draws(
        self, params, tokens, rows=slice(None), drift_z=None, dtype=np.float64, unique_tokens=None
    ) -> np.ndarray:
        r"""Per-draw log expected loss at points, shape ``(n_draws, n_points)``, extrapolation
        drift included:

        .. math:: \log L_s(N, D) = \log\mu_s(N, D) + \kappa \sqrt{h(N, D)}\, z_s

        (:math:`h = 0` inside the fitted range; see :mod:`bayes_scaling.noise`). ``params`` and
        ``tokens`` broadcast against ``(n_draws, n_points)``; ``rows`` selects draws;
        ``drift_z`` replaces the drift's :math:`z_s` (one per selected draw), e.g. to give two
        fits compared draw by draw the same drift. ``dtype=np.float32`` halves time and memory
        for per-point summaries (7 significant digits, far below the Monte Carlo error).
        ``unique_tokens``: distinct tokens behind D, for laws that read them (default: D)."""
        n, d = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
        theta = {k: v[rows, None].astype(dtype) for k, v in self.sampled_draws().items()}
        log_u = None if unique_tokens is None else np.log(np.asarray(unique_tokens, dtype=float)).astype(dtype)
        log_mu = self._law.log_loss(theta, np.log(n).astype(dtype), np.log(d).astype(dtype), self.scale, log_u)
        kappa = self._noise.extrapolation_sd
        if kappa <= 0:
            return log_mu
        h = self._distance_outside_data(np.log(n), np.log(d))
        z = extrapolation_z(self.n_draws)[rows] if drift_z is None else np.asarray(drift_z, dtype=float)
        return log_mu + (kappa * np.sqrt(h) * z[:, None]).astype(dtype, copy=False)

    def _forecast_log_loss(self, n, d, unique, kind, rng, *, rows=slice(None), dtype=np.float64, marginal_only=False):
        """Log-loss draws at points (``n``, ``d``, ``unique``: (1, m) arrays), rows ``rows`` of the
        draws: the law with its drift, plus a new run's noise when ``kind == "new_run"``."""
        log_loss = self.log_mean_draws(n, d, rows=rows, dtype=dtype, unique_tokens=unique)
        if kind == "new_run":
            theta = {k: v[rows, None].astype(dtype) for k, v in self.sampled_draws().items()}
            log_n = np.log(n).astype(dtype)
            ref = self.scale.log_n_noise_ref
            log_loss = log_loss + new_run_noise(theta, log_n, ref, self._noise, rng, marginal_only=marginal_only)
        return log_loss

    def optimal_params_draws(self, flops, rows=slice(None)) -> np.ndarray:
        """Per-draw compute-optimal N* (rows ``rows``) at budgets ``flops`` broadcast against
        ``(n_draws, 1)``: the law's closed form, else a numeric minimum along each IsoFLOP line
        (NaN where the minimum is not inside 0.01-1e6 tokens per parameter)."""
        law = self._law
        if not law.allocates:
            raise SpecError(
                f"law '{law.name}' is a function of {law.axes[0]} alone: it has no compute-optimal split of C into N "
                "and D; fit a law of N and D (e.g. 'chinchilla') for allocations"
            )
        sampled = {name: v[rows, None] for name, v in self.sampled_draws().items()}
        reported = {name: v[rows, None] for name, v in self.reported_draws().items()}
        return self.optimal_params_at(flops, sampled, reported)

    def optimal_params_at(self, flops, sampled: Mapping, reported: Mapping) -> np.ndarray:
        """Compute-optimal N* for given parameter values (``sampled`` and ``reported``, e.g. the
        posterior medians for a plug-in answer), broadcast against ``flops``."""
        c = np.asarray(flops, dtype=float)
        k = self.flops_per_param_token
        if self._law.optimal_params is not None:
            return self._law.optimal_params(reported, c, k)
        log_n = laws.isoflop_argmin(lambda ln, ld: self._law.log_loss(sampled, ln, ld, self.scale), np.log(c / k))
        return np.exp(log_n)

    def optimal_draws(self, flops) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal allocation at each budget: arrays of shape (n_draws, n_budgets).

        Keys: ``params`` (N*), ``tokens`` (D*), ``tokens_per_param`` (D*/N*) and ``loss``
        (the expected loss :math:`L(N^*, D^*)` of that draw), under :math:`C = k N D`.
        """
        c = as_counts(flops, "flops")[None, :]
        k = self.flops_per_param_token
        n_star = self.optimal_params_draws(c)
        d_star = c / (k * n_star)
        with np.errstate(invalid="ignore"):
            loss = np.exp(self.log_mean_draws(n_star, d_star))
        return {"params": n_star, "tokens": d_star, "tokens_per_param": d_star / n_star, "loss": loss}

    def summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Parameter table: median, ``prob`` interval, R-hat and bulk/tail ESS.

        Rows: the law's parameters in the usual units, the allocation exponents ``a`` (N* ~ C^a)
        and ``b`` (D* ~ C^b) where defined, then the noise parameters (sigma_ref, gamma, tau, nu).
        """
        import arviz as az
        import xarray as xr

        q_lo, q_hi = _interval_quantiles(prob)
        ds = self.idata[self.group].to_dataset()
        shape = (ds.sizes[K.CHAIN], ds.sizes[K.DRAW])
        names = [*self._law.reported, *self._derived(), *self._noise.reported]
        values = {name: self.draws(name).reshape(shape) for name in names}
        dataset = xr.Dataset({name: ((K.CHAIN, K.DRAW), v) for name, v in values.items()})
        rhat = az.rhat(dataset)
        ess_bulk = az.ess(dataset, method="bulk")
        ess_tail = az.ess(dataset, method="tail")
        rows = []
        for name, v in values.items():
            flat = v.reshape(-1)
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

    def diagnostics(self, model_checks: bool = True) -> pd.DataFrame:
        """Convergence table over the sampled parameters: R-hat, ESS, and whether each passes.

        ``attrs`` carries the number of divergent transitions, the Pareto-k values of PSIS-LOO
        per configuration, and ``problems``: every failed check in words, with what to do.
        Besides the sampler's checks (divergences, R-hat > 1.01, ESS < 100 per chain), with
        ``model_checks``: configurations with Pareto k above ArviZ's threshold (the posterior
        hinges on them; LOO is unreliable) and prior-data conflict of the law's parameters by
        power-scaling sensitivity (``attrs["sensitivity"]``).
        """
        key = bool(model_checks)
        if key not in self._diagnostics:  # computed once a fit (the fit's own check, then every caller)
            parameters = (*self._law.parameters, *self._noise.parameters)
            table = _diagnostics_table(self.idata, parameters)
            if model_checks:
                table.attrs["problems"] += self._influence_problems(table) + self._prior_conflict_problems(table)
            self._diagnostics[key] = table
        return self._diagnostics[key].copy()  # (attrs deep-copied: callers may edit theirs)

    def _influence_problems(self, table) -> list[str]:
        loo = self.loo()
        k = np.asarray(loo.pareto_k).reshape(-1)
        table.attrs["pareto_k"] = k
        bad = np.flatnonzero(k > loo.good_k)
        if not bad.size:
            return []
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
        return [
            f"prior-data conflict for {conflict}: their posteriors move when either the prior or the data is "
            f"power-scaled (sensitivity > {PSENSE_THRESHOLD}); widen or re-centre those priors (priors={{...}}) or check the data"
        ]

    def log_likelihood(self):
        """Pointwise log-likelihood per configuration, ``(chain, draw, config)`` DataArray.

        Computed once from the stored draws and data (not stored in the file, which stays small);
        the same array is handed to every caller and LOO, so copy it before changing it.
        """
        return self._log_likelihood

    @cached_property
    def _log_likelihood(self):
        import xarray as xr

        from .noise import pointwise_log_likelihood

        const = self.idata["constant_data"].to_dataset()
        obs = self.idata["observed_data"].to_dataset()
        data = self._likelihood_data()
        if "within_ss" in obs:
            data["within_ss"] = obs["within_ss"].values
            data["rep_index"] = const["rep_index"].values
        values = self._per_draw_blocks(
            lambda theta: pointwise_log_likelihood(
                theta, self._fitted_log_mean(theta), data, self.scale.log_n_noise_ref, self._noise
            ),
            n_columns=data["mean_log_loss"].size,
        )
        ds = self.idata[self.group].to_dataset()
        shape = (ds.sizes[K.CHAIN], ds.sizes[K.DRAW], values.shape[1])
        return xr.DataArray(values.reshape(shape), dims=(K.CHAIN, K.DRAW, K.CONFIG), name="loss")

    def _per_draw_blocks(self, fn, n_columns: int, block_values: int = 1 << 18) -> np.ndarray:
        """``fn(theta)`` for blocks of draws (``theta`` holds ``(rows, 1)`` arrays), stacked to
        ``(n_draws, n_columns)``. Blocks of ~2 MB stay in cache: the pointwise log-likelihood
        of 4000 draws x 10,286 configurations took 6.4 s as whole-array passes, 2.2 s so."""
        draws = self.sampled_draws()
        n_draws = len(next(iter(draws.values())))
        rows = max(1, block_values // max(n_columns, 1))
        out = np.empty((n_draws, n_columns))
        for start in range(0, n_draws, rows):
            block = slice(start, start + rows)
            out[block] = fn({k: v[block, None] for k, v in draws.items()})
        return out

    def _fitted_log_mean(self, theta) -> np.ndarray:
        """log mu per draw at the fitted configurations (no drift: they are inside the data)."""
        const = self.idata["constant_data"].to_dataset()
        log_u = const["log_unique"].values[None, :] if "log_unique" in const else None
        return self._law.log_loss(
            theta, const["log_n"].values[None, :], const["log_d"].values[None, :], self.scale, log_u
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
        frontier, e.g. under-tuned), under ``likelihood="outlier_mixture"``. Replicate seeds
        share their configuration's probability. Columns: the run's params, tokens, loss and
        ``outlier_prob``; sorted as the runs table."""
        from .noise import outlier_probability

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
        at once by :mod:`bayes_scaling.psis` (ArviZ loops over them: 10 s on a 10,000-
        configuration table). High Pareto k values are reported by :meth:`diagnostics`, not
        as warnings. Computed once a fit.
        """
        return self._loo

    @cached_property
    def _loo(self):
        import xarray as xr
        from arviz_stats.utils import ELPDDataLOO

        from .psis import good_k, loo_pointwise

        log_lik = self.log_likelihood()
        n_chains, n_draws, n_configs = log_lik.shape
        n_samples = n_chains * n_draws
        # r_eff as ArviZ takes it: the mean relative ESS (mean method) of every posterior value
        ess = self.idata["posterior"].to_dataset().azstats.ess(method="mean")
        r_eff = float(np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean()) / n_samples
        out = loo_pointwise(log_lik.values.reshape(n_samples, n_configs), r_eff)
        per_config = {k: xr.DataArray(out[k], dims=(K.CONFIG,), name="loss") for k in ("elpd_i", "p_loo_i", "pareto_k")}
        elpd, se, p_loo, _ = per_config["elpd_i"].azstats.loo_summary(per_config["p_loo_i"])
        threshold = good_k(n_samples)
        return ELPDDataLOO(
            elpd=elpd,
            se=se,
            p=p_loo,
            n_samples=n_samples,
            n_data_points=n_configs,
            scale="log",
            warning=bool(np.any(out["pareto_k"] > threshold)),
            good_k=threshold,
            elpd_i=per_config["elpd_i"],
            pareto_k=per_config["pareto_k"],
            approx_posterior=False,
            log_weights=xr.DataArray(out["log_weights"].reshape(log_lik.shape), dims=log_lik.dims, name="loss"),
        )

    def save(self, path, *, overwrite: bool = False) -> None:
        """Write the fit to a netCDF file (atomic; refuses to replace a file unless ``overwrite``)."""
        from .io import save

        save(self, path, overwrite=overwrite)

    def report(self, path, *, targets=None, backtest=None, title=None, overwrite: bool = False):
        """Write a self-contained HTML forecast report (see :func:`bayes_scaling.report.write_report`).

        ``targets``: compute budgets and/or ``(N, D)`` pairs to forecast; ``backtest``: a backtest
        table to show the calibration of. Refuses to replace a file unless ``overwrite``.
        """
        from .report import write_report

        return write_report(self, path, targets=targets, backtest=backtest, title=title, overwrite=overwrite)


# --------------------------------------------------------------------------- diagnostics
def _diagnostics_table(idata, parameters) -> pd.DataFrame:
    import arviz as az

    if "posterior" not in idata:
        raise SpecError("diagnostics need posterior draws (this holds prior draws only)")
    post = idata["posterior"].to_dataset()[list(parameters)]
    n_chains = post.sizes[K.CHAIN]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    ess_min = ESS_MIN_PER_CHAIN * n_chains
    table = pd.DataFrame(
        {
            "r_hat": [float(rhat[p]) for p in parameters],
            "ess_bulk": [float(ess_bulk[p]) for p in parameters],
            "ess_tail": [float(ess_tail[p]) for p in parameters],
        },
        index=pd.Index(parameters, name="parameter"),
    )
    table["ok"] = (table["r_hat"] <= RHAT_MAX) & (table["ess_bulk"] >= ess_min) & (table["ess_tail"] >= ess_min)
    n_div = 0
    if "sample_stats" in idata and "diverging" in idata["sample_stats"].to_dataset():
        n_div = int(idata["sample_stats"].to_dataset()["diverging"].values.sum())
    problems = []
    if n_div:
        problems.append(
            f"{n_div} divergent transition(s): the posterior has regions NUTS cannot explore; "
            "try target_accept=0.95-0.99, tighter priors on the exponents, or check for outlier runs"
        )
    bad_rhat = table.index[table["r_hat"] > RHAT_MAX].tolist()
    if bad_rhat:
        problems.append(
            f"R-hat > {RHAT_MAX} for {bad_rhat}: chains disagree; run more tune/draws or check for "
            "multiple modes (e.g. E against the amplitudes when few runs are near convergence)"
        )
    low_ess = table.index[(table["ess_bulk"] < ess_min) | (table["ess_tail"] < ess_min)].tolist()
    if low_ess:
        problems.append(f"effective sample size below {ess_min} for {low_ess}: intervals are imprecise; run more draws")
    table.attrs["n_divergences"] = n_div
    table.attrs["problems"] = problems
    return table


# --------------------------------------------------------------------------- fit
def default_sampler() -> str:
    """``"nutpie"`` when installed (faster, low-rank mass matrix), else PyMC's own NUTS."""
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return "pymc"
    return "nutpie"


def _nuts_options(sampler: str, target_accept: float) -> dict:
    if sampler == "nutpie":
        return {"target_accept": target_accept, "adaptation": "low_rank"}
    if sampler in ("pymc", "numpyro"):
        return {"target_accept": target_accept}
    raise SpecError(
        f"unknown sampler '{sampler}'; use 'nutpie' (pip install bayes_scaling[nutpie]), 'pymc' or 'numpyro'"
    )


def fit(
    runs: Runs,
    law: str | Law = "chinchilla",
    *,
    law_options: Mapping | None = None,
    priors: Mapping | None = None,
    heteroscedastic: bool = True,
    discrepancy: bool = True,
    likelihood: str = "student_t",
    extrapolation_sd: float = DEFAULT_EXTRAPOLATION_SD,
    model=None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    sampler: str | None = None,
    target_accept: float = 0.9,
    init: str = "auto",
    random_seed: int | None = None,
    progressbar: bool = True,
    strict: bool = False,
) -> ScalingFit:
    """Fit a scaling law to ``runs`` with NUTS and return a :class:`ScalingFit`.

    Parameters
    ----------
    runs : a validated :class:`~bayes_scaling.runs.Runs` table (a DataFrame is validated first).
    law : registered law name, or a :class:`~bayes_scaling.forms.Law` (registered under its name
        if it is not yet; see :func:`bayes_scaling.define_law`). Ignored when ``model`` is given.
    law_options : the law's settings, e.g. ``{"x": "D", "breaks": 2}`` for ``bnsl``.
    priors : ``{parameter: pymc_extras.prior.Prior}`` overrides of the data-aware defaults.
    heteroscedastic, discrepancy, likelihood : noise model (see :mod:`bayes_scaling.noise`).
    extrapolation_sd : log-loss sd of the drift one decade beyond the fitted range, growing as
        the square root of the distance (forecasts only; the default was estimated from public
        scaling studies; 0 switches it off).
    model : a :class:`~bayes_scaling.model.ScalingModel` spec, instead of the three above.
    draws, tune, chains : NUTS settings (per chain).
    cores : chains sampled at once (default: every CPU this process may use, at most
        ``chains``; ``$BAYES_SCALING_CORES`` if set, as in backtest worker processes). The
        draws do not depend on it.
    sampler : "nutpie" (default when installed; compiled with callbacks cached across processes,
        see :mod:`bayes_scaling.nutpie_sampler`), "pymc" or "numpyro" (named to ``pm.sample``).
    init : where the chains start. "jitter": PyMC's default (prior centres, jittered);
        "multistart": the best of a multi-start search for the posterior mode
        (:func:`bayes_scaling.initial.find_mode`, jittered), for laws whose posteriors have
        several local modes; "auto" (default): "multistart" for laws marked ``multimodal``
        (``bnsl``), else "jitter". The search's result is kept in ``fit.idata.attrs["init"]``.
    random_seed : same seed, same draws.
    strict : raise :class:`~bayes_scaling.errors.SamplingError` instead of warning when the
        diagnostics fail (divergences, R-hat > 1.01, low ESS).

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> runs = bs.synthetic.chinchilla_runs(n_configs=60, random_seed=1)
    >>> fit = bs.fit(runs, draws=200, tune=300, random_seed=0, progressbar=False)
    >>> bool(fit.compute_optimal(1e24)["params_median"].iloc[0] > 1e10)
    True
    """
    import pymc as pm

    from .model import ScalingModel, data_scale

    if isinstance(runs, pd.DataFrame):
        runs = Runs.from_frame(runs)
    if not isinstance(runs, Runs):
        raise TypeError(f"runs must be a bayes_scaling.Runs or a DataFrame, got {type(runs).__name__}")
    if isinstance(law, Law):
        if law.factory is not None:  # e.g. get_law("power_law").with_options(x="N"): keep its options
            law_options = {**law.options, **dict(law_options or {})}
        law = _registered_name(law)
    spec = (
        model
        if model is not None
        else ScalingModel(
            law=law,
            law_options=dict(law_options or {}),
            priors=dict(priors or {}),
            heteroscedastic=heteroscedastic,
            discrepancy=discrepancy,
            likelihood=likelihood,
            extrapolation_sd=extrapolation_sd,
        )
    )
    sampler = sampler or default_sampler()
    nuts = _nuts_options(sampler, target_accept)
    if not 0.0 < target_accept < 1.0:
        raise SpecError(f"target_accept must lie strictly between 0 and 1 (e.g. 0.95), got {target_accept!r}")
    n_cores = sampling_cores(chains, cores)  # checked before any work
    if init not in ("auto", "jitter", "multistart"):
        raise SpecError(f"init must be 'auto', 'jitter' or 'multistart', got {init!r}")
    if init == "auto":
        init = "multistart" if get_law(spec.law).multimodal else "jitter"
    scale = data_scale(runs)
    pm_model = spec.build(runs, scale)
    mode = find_mode(pm_model, random_seed=random_seed) if init == "multistart" else None
    with pm_model:
        idata = run_nuts(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=n_cores,
            sampler=sampler,
            nuts=nuts,
            random_seed=random_seed,
            progressbar=progressbar,
            initvals=None if mode is None else mode.initvals,
        )
        with _quiet_pymc_logs():
            prior = pm.sample_prior_predictive(draws=1000, var_names=list(spec.parameters), random_seed=random_seed)
    log_prior = log_prior_draws(pm_model, idata["posterior"].to_dataset())
    for extra in [
        g for g in idata.children if g not in ("posterior", "sample_stats", "observed_data", "constant_data")
    ]:
        del idata[extra]
    idata["sample_stats"] = _text_as_str(idata["sample_stats"].to_dataset())
    idata["prior"] = prior["prior"].to_dataset()
    idata["log_prior"] = log_prior
    idata["runs"] = _runs_dataset(runs)
    settings = {
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": n_cores,
        "random_seed": random_seed,
        "init": init,
        **{f"nuts_{k}": v for k, v in nuts.items()},
    }
    idata.attrs.update(
        {
            "law": spec.law,
            "spec": spec.to_json(),
            "spec_id": spec.spec_id,
            "scale": json.dumps(scale.to_dict(), sort_keys=True),
            "flops_per_param_token": runs.flops_per_param_token,
            "sampler_settings": json.dumps(settings, sort_keys=True),
            "data_hash": runs.data_hash(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "init": json.dumps(mode.to_dict() if mode is not None else {"method": init}),
        }
    )
    result = ScalingFit(idata, spec_dict=spec.to_dict(), scale=scale, flops_per_param_token=runs.flops_per_param_token)
    table = result.diagnostics()
    idata.attrs["diagnostics"] = json.dumps(
        {
            "n_divergences": table.attrs["n_divergences"],
            "problems": table.attrs["problems"],
            "ok": bool(table["ok"].all()),
        }
    )
    if mode is not None and mode.runner_up_gap < MULTIMODAL_GAP:
        warnings.warn(
            f"the posterior has at least two modes: the mode search found one {mode.runner_up_gap:.1f} log-density "
            f"units below the best ({mode.n_at_best} of {mode.n_starts} starts reached the best). The chains "
            "started at the best mode and may under-represent the other; compare the fit with init='jitter', or "
            "narrow the priors on where the law bends",
            SamplingWarning,
            stacklevel=2,
        )
    if table.attrs["problems"]:
        message = "sampling diagnostics failed:\n" + "\n".join(f"  - {p}" for p in table.attrs["problems"])
        if strict:
            raise SamplingError(message)
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return result


def log_prior_draws(model, posterior):
    """The log prior density of each free variable at each draw (``Dataset``, the posterior's
    dims): what ``pm.stats.compute_log_prior`` gives, computed in one call over all draws by a
    vectorised graph that :mod:`~bayes_scaling.graph_cache` keeps across processes and data
    sets, instead of a compile in every process and a Python call per draw."""
    import pytensor.tensor as pt
    import xarray as xr
    from pymc.model.transform.conditioning import remove_value_transforms
    from pytensor.graph.replace import vectorize_graph

    from . import graph_cache

    unconstrained = remove_value_transforms(model)  # the posterior holds constrained values
    rvs = list(unconstrained.free_RVs)
    values = [unconstrained.rvs_to_values[rv] for rv in rvs]
    batched = {v: pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in values}
    terms = graph_cache.lift_constants(unconstrained.logp(vars=rvs, sum=False))
    function = graph_cache.function(
        list(batched.values()),
        vectorize_graph(terms, replace=batched),
        check_bounds=unconstrained.check_bounds,
        on_unused_input="ignore",
    )
    draws = [posterior[rv.name] for rv in rvs]
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    flat = [d.values.reshape(n_samples, *d.shape[2:]).astype(v.dtype) for d, v in zip(draws, values, strict=True)]
    out = function(*flat)
    return xr.Dataset(
        {rv.name: (d.dims, np.asarray(o).reshape(d.shape)) for rv, d, o in zip(rvs, draws, out, strict=True)},
        coords={k: c for k, c in posterior.coords.items() if any(k in d.dims for d in draws)},
    )


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sampling_cores(chains: int, cores: int | None = None) -> int:
    """Chains to sample at once: ``cores``, else ``$BAYES_SCALING_CORES``, else every CPU this
    process may use; at most ``chains``. PyMC's own default takes half the CPUs (it assumes
    hyper-threads): one of this machine's two, which doubled the sampling time."""
    if cores is None and os.environ.get("BAYES_SCALING_CORES"):
        cores = os.environ["BAYES_SCALING_CORES"]
        if not cores.isdigit():
            raise SpecError(f"BAYES_SCALING_CORES must be a positive integer, got {cores!r}")
        cores = int(cores)
    if cores is None:
        cores = available_cpus()
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise SpecError(f"cores must be a positive integer, got {cores!r}")
    return max(1, min(cores, chains))


def run_nuts(
    *,
    draws: int,
    tune: int,
    chains: int,
    sampler: str,
    nuts: Mapping,
    random_seed,
    progressbar: bool,
    initvals=None,
    cores: int | None = None,
):
    """NUTS in the current model context, the one way this package samples.

    ``sampler="nutpie"`` runs :func:`bayes_scaling.nutpie_sampler.sample`: what
    ``pm.sample(nuts_sampler="nutpie")`` does (same seeds, log density and groups), with the
    compiled code loaded from numba's cache in later processes and for other data sets of the
    same model structure (about 5 s of a 240-run fit). Other samplers go through ``pm.sample``
    with ``nuts_sampler`` named.

    Reproducibility: numba's fastmath lets LLVM reassociate floating point differently in a
    fresh JIT and in code loaded from the compile cache; NUTS amplifies the last-bit
    difference, so the first process to compile a model drew different samples from later
    ones. Without fastmath the same seed gives the same draws in every process (no
    measurable cost here: 11.9 s vs 11.8 s for the demo with a warm cache).

    ``initvals`` (a mode, e.g. from :func:`bayes_scaling.initial.find_mode`) start every chain
    there without jitter: a jitter of +-1 on the unconstrained scale can throw a chain into
    another mode of a multimodal posterior (it did for a two-break BNSL: R-hat 1.57).
    """
    import pymc as pm
    import pytensor

    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": sampling_cores(chains, cores),
        "random_seed": random_seed,
        "nuts": dict(nuts),
        "progressbar": progressbar,
    }
    if sampler == "nutpie":
        from . import nutpie_sampler

        with pytensor.config.change_flags(numba__fastmath=False):
            return nutpie_sampler.sample(pm.modelcontext(None), initvals=initvals, **settings)
    start = {}
    if initvals is not None:
        start = {"initvals": dict(initvals)}
        if sampler == "pymc":
            start["init"] = "adapt_diag"
    with pytensor.config.change_flags(numba__fastmath=False):
        return pm.sample(
            **settings,
            nuts_sampler=sampler,
            quiet=not progressbar,
            compute_convergence_checks=False,
            **start,
        )


def _registered_name(law: Law) -> str:
    """The name under which ``law`` is registered (registering it if the name is free)."""
    from .forms import _REGISTRY, register_law

    if law.name not in _REGISTRY:
        register_law(law)
    elif get_law(law.name) is not law and get_law(law.name).factory is None:
        raise SpecError(
            f"another law is registered as '{law.name}'; give yours another name or register it with replace=True"
        )
    return law.name


@contextlib.contextmanager
def _quiet_pymc_logs():
    """Silence PyMC's INFO lines (e.g. "Sampling: [...]") for internal helper steps."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _text_as_str(ds):
    """Object-dtype variables (e.g. nutpie's divergence messages, None when absent) as plain
    strings, so that what is saved loads back identically."""
    for name, var in ds.data_vars.items():
        if var.dtype == object:
            ds[name] = var.copy(data=np.vectorize(lambda v: "" if v is None else str(v), otypes=[str])(var.values))
    return ds


def _runs_dataset(runs: Runs):
    """The canonical runs table as an xarray Dataset (dim ``run``), strings kept as text."""
    import xarray as xr

    frame = runs.to_frame()
    for column in (K.SEED, K.RUN_ID, K.FAMILY):
        if column in frame:
            frame[column] = frame[column].astype("string").fillna("").astype(str)
    ds = xr.Dataset({c: (K.RUN, frame[c].to_numpy()) for c in frame.columns})
    return ds


def sample_prior(
    runs: Runs, law: str = "chinchilla", *, model=None, draws: int = 500, random_seed: int | None = None, **spec_options
) -> ScalingFit:
    """Draws from the prior (no data used beyond the data-aware defaults), as a ScalingFit.

    ``sample_prior(runs).predict(...)`` gives prior-predictive loss curves: the check that the
    priors allow only curves of plausible shape.
    """
    import pymc as pm

    from .model import ScalingModel, data_scale

    spec = model if model is not None else ScalingModel(law=law, **spec_options)
    scale = data_scale(runs)
    with spec.build(runs, scale):
        idata = pm.sample_prior_predictive(draws=draws, random_seed=random_seed)
    return ScalingFit(
        idata, spec_dict=spec.to_dict(), scale=scale, flops_per_param_token=runs.flops_per_param_token, group="prior"
    )
