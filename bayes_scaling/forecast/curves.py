"""A fitted curve law: ``fit(curves, law="multipower") -> CurveFit``, and forecasts of whole loss
curves under any schedule (:meth:`CurveFit.predict_curve`).

A forecast of kind ``"mean"`` is the law's curve (parameter uncertainty only); ``"new_run"``
adds a new run's departure from the law's loss drop (a fresh factor, of the spread the fitted
runs show), its offset and its Ornstein-Uhlenbeck path, drawn jointly along the steps, so
that "loss at step t" and "at the end" come from the same paths and any function of a path (the
first step below a target, the loss at the end) has the right spread. ``given=run_id``
continues a fitted run past its last row, conditional on what it logged (its offset and its
last residual): the forecast for a run in progress, or for a cooldown branched off it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd

from .. import _constants as K
from .._threads import in_threads
from ..data.curves import LR, Curves
from ..errors import DiagnosticsWarning, ExtrapolationWarning, SpecError, UnconvergedFitError, option
from ..inference.curves import (
    DROP_RAW,
    MIN_MEAN,
    NOISE_PARAMETERS,
    CurveInputs,
    CurveModel,
    build_curve_model,
    curve_inputs,
    feature_units,
)
from ..inference.diagnostics import Verdict, diagnostics_table
from ..inference.sampling import default_sampler, nuts_options, quiet_pymc_logs, run_nuts, sampling_cores
from ..laws.curves import DEFAULT_CURVE_LAW, DROP_SCALE
from ..laws.schedules import DEFAULT_BLOCKS, Schedule, curve_features
from ..noise.along_run import continue_paths, new_paths, tree_loglik
from .predictive import Forecast, _seed_sequence

KINDS = ("mean", "new_run")
#: Elements of (draws x steps x blocks) evaluated at once when a curve is predicted.
CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class CurveForecast(Forecast):
    """Draws of loss along a curve: ``draws`` is ``(n_draws, n_steps)``; ``steps`` the steps,
    ``schedule`` its name (``tokens`` is NaN: a curve is indexed by step)."""

    steps: np.ndarray = None
    schedule: str = ""

    def to_frame(self, prob: float = 0.9) -> pd.DataFrame:
        lo, hi = self.interval(prob)
        return pd.DataFrame(
            {
                K.STEP: self.steps,
                K.PARAMS: self.params,
                "loss_median": self.median,
                "loss_lo": lo,
                "loss_hi": hi,
                "kind": self.kind,
                "schedule": self.schedule,
            }
        ).rename_axis("point")

    def first_below(self, target: float) -> np.ndarray:
        """Per draw, the first step at which the loss is at or below ``target`` (NaN: never)."""
        hit = self.draws <= target
        first = np.argmax(hit, axis=1)
        return np.where(hit.any(axis=1), self.steps[first], np.nan)


class CurveFit:
    """Posterior of a curve law given training curves (see the module doc).

    ``idata``: the posterior DataTree; ``spec``: the :class:`CurveModel`; ``curves``: the table
    fitted; ``inputs``: what the model read (kept rows, features, data scale).
    """

    def __init__(self, idata, spec: CurveModel, curves: Curves, inputs: CurveInputs, attrs: dict | None = None):
        self.idata = idata
        self.spec = spec
        self.curves = curves
        self.inputs = inputs
        self.attrs = dict(attrs or {})
        self._accepted = False

    def __repr__(self) -> str:
        return f"CurveFit(law='{self.spec.law}', {self.curves!r}, {self.n_draws} draws, {self.verdict.label})"

    # ------------------------------------------------------------------ draws and checks
    @property
    def law(self):
        return self.spec.law_component

    def draws(self) -> dict[str, np.ndarray]:
        """Every parameter's draws, chains stacked: ``{name: (n_draws,)}``."""
        post = self.idata["posterior"].to_dataset()
        return {p: post[p].values.reshape(-1) for p in self.spec.parameters}

    @property
    def n_draws(self) -> int:
        return int(self.draws()[self.spec.parameters[0]].size)

    def diagnostics(self) -> pd.DataFrame:
        return diagnostics_table(self.idata, self.spec.parameters)

    @property
    def verdict(self) -> Verdict:
        return Verdict.from_table(self.diagnostics())

    def summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Posterior median and ``prob`` interval of every parameter, with R-hat and ESS."""
        d = self.draws()
        lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
        table = pd.DataFrame(
            {
                "symbol": [self.law.symbol(p) if p in self.law.parameters else p for p in d],
                "median": [np.median(v) for v in d.values()],
                "lo": [np.quantile(v, lo_q) for v in d.values()],
                "hi": [np.quantile(v, hi_q) for v in d.values()],
            },
            index=pd.Index(list(d), name="parameter"),
        )
        diag = self.diagnostics()
        return table.join(diag[["r_hat", "ess_bulk"]])

    @property
    def data_hash(self) -> str:
        """SHA-256 of the fitted observations (run, step, loss): fits of other curves differ."""
        import hashlib

        obs = self.inputs.obs
        digest = hashlib.sha256("\n".join(obs.run_ids).encode())
        for values in (obs.run, obs.step, obs.loss):
            digest.update(np.ascontiguousarray(values, dtype=float).tobytes())
        return digest.hexdigest()

    def log_likelihood(self):
        """Log density of each run tree's observations (a run with the cooldowns branched off it:
        their residuals share one path) per draw, ``(chain, draw, tree)`` DataArray: the terms of
        the model's likelihood, from the stored draws."""
        import xarray as xr

        post = self.idata["posterior"].to_dataset()
        n_chains, n_per_chain = post.sizes[K.CHAIN], post.sizes[K.DRAW]
        obs = self.inputs.obs
        raw = post[DROP_RAW].values.reshape(-1, len(obs.run_ids))
        out = self._tree_log_likelihood(self.inputs, raw)
        return xr.DataArray(out.reshape(n_chains, n_per_chain, obs.n_trees), dims=(K.CHAIN, K.DRAW, "tree"))

    def _tree_log_likelihood(self, inputs: CurveInputs, raw: np.ndarray) -> np.ndarray:
        """``(n_draws, n_trees)`` log density of the trees of ``inputs`` (in this fit's units)
        at this fit's draws, ``raw``: each run's drop factor exponent per draw ``(n_draws, n_runs)``."""
        obs, f = inputs.obs, inputs.features
        post = self.idata["posterior"].to_dataset()
        theta, names = self.draws(), self.law.parameters
        raw = raw[:, obs.run]
        noise = {k: post[k].values.reshape(-1)[:, None] for k in NOISE_PARAMETERS}
        log_x = inputs.log_x(obs.params)
        y = np.log(obs.loss)
        out = np.empty((self.n_draws, obs.n_trees))
        size = max(1, CHUNK_ELEMENTS // (len(obs) * max(f.block_w.shape[1], 1)))

        def work(start: int) -> None:
            sl = slice(start, start + size)
            part = {k: theta[k][sl, None] for k in names}
            part[DROP_SCALE] = np.exp(noise["drop_sd"][sl] * raw[sl])
            resid = y - np.log(np.maximum(self.law.mean(part, f, log_x), MIN_MEAN))
            out[sl] = tree_loglik(
                resid,
                obs.parent,
                obs.dt,
                obs.tree,
                obs.n_trees,
                noise["sigma"][sl],
                noise["ell"][sl],
                noise["omega"][sl],
            )

        in_threads(work, range(0, self.n_draws, size))
        return out

    def tree_runs(self, tree: int) -> tuple[str, ...]:
        """The run ids of run tree ``tree``: its trunk and every run branched off it (directly or
        not), including branches with no rows kept after their branch step."""
        obs = self.inputs.obs
        branch_of = self.curves.branch_of

        def root(run_id: str) -> str:
            while run_id in branch_of:
                run_id = branch_of[run_id][0]
            return run_id

        roots = {root(obs.run_ids[i]) for i in np.unique(obs.run[obs.tree == tree])}
        return tuple(r for r in self.curves.run_ids if root(r) in roots)

    def reloo(self, k_threshold: float | None = None, *, trees=None, random_seed: int = 0, **fit_options):
        r"""Leave-one-tree-out with exact refits where PSIS is unreliable: every run tree whose
        Pareto k exceeds ``k_threshold`` (default ArviZ's threshold for this many draws), or the
        trees listed in ``trees``, is refitted without its runs (same law, priors and sampler
        settings unless ``fit_options`` say otherwise) and scored by its exact log predictive
        density, :math:`\log \frac1S\sum_s p(y_t \mid \theta_s^{(-t)})` (a held-out run's drop
        factor drawn afresh per draw, as a new run's). Those trees get Pareto k 0; the others keep
        their PSIS value. One fit per refitted tree. Returns ArviZ's ``ELPDDataLOO``. Refits use
        this fit's law, priors, thinning and blocks, and its sampler, draws, tune and chains
        (``fit_options`` override those: e.g. ``target_accept``). A refit that did not converge,
        or a held-out tree whose peak rate is beyond the refit's, is named in a warning."""
        from ..inference.psis import elpd_with_exact, good_k

        base = self.loo()
        k = np.asarray(base.pareto_k.values, dtype=float)
        threshold = good_k(base.n_samples) if k_threshold is None else float(k_threshold)
        todo = sorted(int(t) for t in (np.flatnonzero(k > threshold) if trees is None else trees))
        obs = self.inputs.obs
        if any(t < 0 or t >= obs.n_trees for t in todo):
            raise SpecError(
                f"trees must be indices of this fit's {obs.n_trees} run trees (0-{obs.n_trees - 1}); got {todo}"
            )
        if len(todo) == obs.n_trees and obs.n_trees < 2:
            raise SpecError("leaving out the only run tree leaves nothing to fit")
        settings = {**json.loads(self.attrs.get("sampler", "{}")), **fit_options}
        settings.setdefault("progressbar", False)
        exact = {}
        for t in todo:
            held = set(self.tree_runs(t))
            keep = [r for r in self.curves.run_ids if r not in held]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                refit = fit_curves(
                    self.curves.subset(keep),
                    self.spec.law,
                    priors=self.spec.priors,
                    max_points=self.spec.max_points,
                    blocks=self.spec.blocks,
                    random_seed=random_seed,
                    **settings,
                )
            if not refit.verdict.converged:
                warnings.warn(
                    f"the refit without run tree {t} ({', '.join(sorted(held))}) did not converge "
                    f"({refit.verdict.headline()}): its exact score is approximate; give more draws and tune",
                    DiagnosticsWarning,
                    stacklevel=2,
                )
            held_curves = self.curves.subset(sorted(held))
            peak = max(sch.peak for sch in held_curves.schedules.values())
            if peak > refit.inputs.scale.lr_unit * (1 + 1e-9):
                warnings.warn(
                    f"run tree {t} ({', '.join(sorted(held))}) peaks at a learning rate of {peak:g}, above every "
                    f"other run's ({refit.inputs.scale.lr_unit:g}): its exact score extrapolates the law in the rate",
                    DiagnosticsWarning,
                    stacklevel=2,
                )
            inputs = curve_inputs(refit.spec, held_curves, refit.inputs.scale)
            rng = np.random.default_rng(None if random_seed is None else [random_seed, t])
            raw = rng.standard_normal((refit.n_draws, len(inputs.obs.run_ids)))
            ll = refit._tree_log_likelihood(inputs, raw).sum(axis=1)
            exact[t] = float(np.logaddexp.reduce(ll) - np.log(ll.size))
        return elpd_with_exact(base, self.log_likelihood(), exact)

    def loo(self):
        """PSIS-LOO leaving out one run tree at a time (a run and the cooldowns branched off it,
        whose paths are one): ArviZ's ``ELPDDataLOO``, for ``bs.compare`` of curve fits of the
        same curves (e.g. ``multipower`` against ``annealing``). Few trees (6 in the public
        curves) make its standard error rough, and high Pareto k values are common: a tree is
        much of the data."""
        return self._loo

    @cached_property
    def _loo(self):
        from ..inference.psis import elpd_loo

        return elpd_loo(self.log_likelihood(), self.idata["posterior"].to_dataset(), "tree")

    def _check_answerable(self, accept_unconverged: bool = False) -> None:
        verdict = self.verdict
        if not verdict.converged and not (accept_unconverged or self._accepted):
            raise UnconvergedFitError(
                f"this curve fit did not converge ({verdict.headline()}); its forecasts would be wrong quietly. "
                f"Refit with more tune/draws, or pass {option('accept_unconverged', True)} to look anyway"
            )

    # ------------------------------------------------------------------ forecasts
    def run_drop_scale(self, run_id: str) -> np.ndarray:
        """Per draw, the factor on the law's loss drop of fitted run ``run_id``."""
        if run_id not in self.inputs.obs.run_ids:
            raise SpecError(f"{option('given', run_id)}: not a run of this fit; its runs: {self.curves.run_ids[:8]}")
        raw = self.idata["posterior"].to_dataset()[DROP_RAW].values
        raw = raw.reshape(-1, raw.shape[-1])[:, self.inputs.obs.run_ids.index(run_id)]
        return np.exp(self.draws()["drop_sd"] * raw)

    def mean_curve(self, params: float, schedule: Schedule, steps, drop_scale=None) -> np.ndarray:
        """The law's loss at ``steps`` for every draw: ``(n_draws, n_steps)``; ``drop_scale``
        (``(n_draws,)``): a factor on the loss drop per draw (default 1: the law's own)."""
        f = curve_features(schedule, steps, blocks=self.spec.blocks, **feature_units(self.inputs.scale))
        theta = self.draws()
        names = self.law.parameters
        log_x = float(np.log(params) - self.inputs.scale.log_n_ref)
        n = self.n_draws
        out = np.empty((n, len(f)))
        width = max(f.block_w.shape[1], 1)
        size = max(1, CHUNK_ELEMENTS // (len(f) * width))

        def work(start: int) -> None:
            part = {k: theta[k][start : start + size, None] for k in names}
            if drop_scale is not None:
                part[DROP_SCALE] = drop_scale[start : start + size, None]
            out[start : start + size] = self.law.mean(part, f, log_x)

        in_threads(work, range(0, n, size))
        return out

    def predict_curve(
        self,
        params: float,
        schedule: Schedule,
        steps=None,
        *,
        kind: str = "new_run",
        given: str | None = None,
        random_seed=None,
        accept_unconverged: bool = False,
    ) -> CurveForecast:
        """Loss along ``schedule`` for a model of ``params`` parameters at ``steps`` (default:
        200 steps evenly from 1 to the schedule's end), as a :class:`CurveForecast`.

        ``kind``: ``"new_run"`` (default; a new run: its offset and correlated path) or
        ``"mean"`` (the law's curve). ``given``: a fitted run's id, to continue that run beyond its
        last logged row, or ``(run_id, step)`` to branch off it at ``step`` (a cooldown from a
        checkpoint), conditional on its rows up to there; ``schedule`` must follow the run's
        rates up to that step.
        """
        self._check_answerable(accept_unconverged)
        if kind not in KINDS:
            raise SpecError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        if given is not None and kind == "mean":
            raise SpecError(
                "given continues a run: ask for kind='new_run' (the law's mean curve has no run to continue)"
            )
        if not isinstance(schedule, Schedule):
            raise SpecError(f"schedule must be a schedule such as bs.schedules.wsd(...), got {type(schedule).__name__}")
        params = float(params)
        if not params > 0:
            raise SpecError(f"params must be a parameter count > 0 (e.g. 4e8), got {params!r}")
        self._check_reach(params, schedule)
        if steps is None:
            steps = np.unique(np.linspace(1, schedule.steps, 200).round()).astype(np.int64)
        steps = np.asarray(steps, dtype=float).ravel()
        if steps.size and (np.any(steps != np.round(steps)) or np.any(np.diff(steps) <= 0)):
            raise SpecError("steps must be whole numbers, increasing")
        steps = steps.astype(np.int64)
        if kind == "mean":
            mean = self.mean_curve(params, schedule, steps)
            return CurveForecast(
                np.full(steps.size, params),
                np.full(steps.size, np.nan),
                mean,
                kind,
                steps=steps,
                schedule=schedule.name,
            )
        d = self.draws()
        rng = np.random.default_rng(_seed_sequence(random_seed))
        # A new schedule's drop departs from the law's by a fresh factor; a run continued keeps
        # its own once it has decreased its rate (before, it has shown none: a fresh one).
        fresh = np.exp(d["drop_sd"] * rng.standard_normal(self.n_draws))
        if given is None:
            mean = self.mean_curve(params, schedule, steps, drop_scale=fresh)
            x = new_paths(rng, steps, d["sigma"], d["ell"], d["omega"])
        else:
            run_id, upto = (given, None) if isinstance(given, str) else (str(given[0]), float(given[1]))
            own = self.run_drop_scale(run_id)
            scale = own if np.any(own != 1.0) else fresh
            mean = self.mean_curve(params, schedule, steps, drop_scale=scale)
            x = self._continue(run_id, upto, params, schedule, steps, rng, scale)
        return CurveForecast(
            np.full(steps.size, params),
            np.full(steps.size, np.nan),
            mean * np.exp(x),
            kind,
            steps=steps,
            schedule=schedule.name,
        )

    def _check_reach(self, params: float, schedule: Schedule) -> None:
        """A schedule above the fitted peak rate is outside what the curves measured (the law's
        areas and drops are in units of that rate): refused. A size far from the fitted ones
        warns."""
        scale = self.inputs.scale
        if schedule.peak > scale.lr_unit * (1 + 1e-6):
            raise SpecError(
                f"the schedule peaks at a learning rate of {schedule.peak:.3g}, above the fitted runs' {scale.lr_unit:.3g}: "
                "a curve law fitted at one peak rate says nothing about a higher one"
            )
        sizes = self.curves.run_table()["params"]
        factor = max(params / sizes.max(), sizes.min() / params)
        if factor > 4:
            warnings.warn(
                f"N = {params:.3g} is {factor:.0f}x outside the fitted sizes ({sizes.min():.3g} to {sizes.max():.3g}): "
                "the size terms extrapolate",
                ExtrapolationWarning,
                stacklevel=3,
            )

    def _continue(self, run_id, upto, params: float, schedule: Schedule, steps, rng, scale) -> np.ndarray:
        """Residual paths after ``run_id``'s step ``upto`` (default its last row), conditional on
        every row it logged on its trajectory up to there (with the drop factor ``scale``)."""
        if run_id not in self.curves.schedules:
            raise SpecError(f"{option('given', run_id)}: not a run of this fit; its runs: {self.curves.run_ids[:8]}")
        rows = self.curves.path(run_id)
        last = float(rows[K.STEP].max()) if upto is None else upto
        if float(rows[K.PARAMS].iloc[-1]) != params:
            raise SpecError(
                f"{option('given', run_id)}: that run has {rows[K.PARAMS].iloc[-1]:.4g} parameters, not {params:.4g}"
            )
        own = self.curves.schedules[run_id]
        if last > min(schedule.steps, own.steps):
            raise SpecError(
                f"step {last:.0f}, where run '{run_id}' is continued from, is past the end of its schedule or of "
                f"the one given ({min(schedule.steps, own.steps)})"
            )
        # The schedule must follow the run's rates at its logged steps up to there (between
        # them a rate read from an lr column is only interpolated).
        past = rows[rows[K.STEP] <= last]
        logged = past[K.STEP].to_numpy().astype(np.int64)
        if not np.allclose(own.lr[logged], schedule.lr[logged], rtol=1e-6, atol=0):
            raise SpecError(
                f"the schedule differs from run '{run_id}''s before step {last:.0f}: a continuation must follow "
                "the run's own rates up to where it is continued from"
            )
        if steps.size and steps[0] <= last:
            raise SpecError(
                f"{option('given', run_id)}: ask for steps after step {last:.0f}, where the run is continued from"
            )
        if not len(past):
            raise SpecError(f"{option('given', run_id)}: the run has no rows at or before step {last:.0f}")
        past_steps = logged
        past_mean = self.mean_curve(params, own, past_steps, drop_scale=scale)
        x_past = np.log(past[K.LOSS].to_numpy())[None, :] - np.log(np.maximum(past_mean, 1e-3))
        parent = np.r_[-1, np.arange(past_steps.size - 1)]
        dt = np.diff(past_steps, prepend=past_steps[0]).astype(float)
        d = self.draws()
        return continue_paths(rng, x_past, parent, dt, past_steps[-1], steps, d["sigma"], d["ell"], d["omega"])

    def accept_unconverged(self) -> CurveFit:
        """This fit, answering even though its sampler did not converge (a copy)."""
        copy = CurveFit(self.idata, self.spec, self.curves, self.inputs, self.attrs)
        copy._accepted = True
        return copy

    # ------------------------------------------------------------------ files
    def save(self, path, *, overwrite: bool = False):
        """Write the fit to a netCDF file with its curves and schedules (atomic; refuses to
        replace a file unless ``overwrite``); :func:`bayes_scaling.load` reads it back."""
        import xarray as xr

        from ..inference.model import spec_id
        from . import files

        tree = self.idata.copy()
        columns = [K.RUN_ID, K.STEP, K.LOSS, K.PARAMS] + ([LR] if LR in self.curves.frame else [])
        frame = self.curves.frame[columns].reset_index(drop=True)
        tree["curves"] = xr.Dataset.from_dataframe(frame.rename_axis("row"))
        runs = self.curves.run_ids
        width = max(s.lr.size for s in self.curves.schedules.values())
        lr = np.full((len(runs), width), np.nan)
        for i, rid in enumerate(runs):
            lr[i, : self.curves.schedules[rid].lr.size] = self.curves.schedules[rid].lr
        tree["schedules"] = xr.Dataset(
            {"lr": (("schedule_run", "lr_step"), lr), "schedule_run_id": ("schedule_run", np.array(runs, dtype=str))}
        )
        tree["constant_data"] = xr.Dataset({"log_n_ref": self.inputs.scale.log_n_ref})
        spec = self.spec.to_dict() | {"curves": True}
        tree.attrs.update(
            self.attrs
            | {
                "law": self.spec.law,
                "spec": json.dumps(spec, sort_keys=True),
                "spec_id": spec_id(spec),
                "scale": json.dumps(self.inputs.scale.__dict__),
                "flops_per_param_token": K.DEFAULT_FLOPS_PER_PARAM_TOKEN,
                "diagnostics": json.dumps(self.verdict.to_dict()),
            }
        )
        return files.save(_Saved(tree), path, overwrite=overwrite)

    @classmethod
    def from_tree(cls, tree, spec: dict, scale) -> CurveFit:
        """The fit in a file read by :func:`bayes_scaling.forecast.files.read`."""
        frame = tree["curves"].to_dataset().to_dataframe().reset_index(drop=True)
        saved = tree["schedules"].to_dataset()
        schedules = {}
        for rid, lr in zip(saved["schedule_run_id"].values, saved["lr"].values, strict=True):
            schedules[str(rid)] = Schedule(str(rid), lr[np.isfinite(lr)])
        curves = Curves.from_frame(frame, schedules=schedules)
        model = CurveModel.from_dict(spec)
        return cls(tree, model, curves, curve_inputs(model, curves, scale), dict(tree.attrs))


@dataclass(frozen=True)
class _Saved:
    """What :func:`bayes_scaling.forecast.files.save` reads of a fit: its tree."""

    idata: object


def fit_curves(
    curves: Curves,
    law: str = DEFAULT_CURVE_LAW,
    *,
    priors=None,
    max_points=...,
    blocks: int = DEFAULT_BLOCKS,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    sampler: str | None = None,
    target_accept: float = 0.9,
    random_seed=None,
    progressbar: bool = True,
    strict: bool = False,
) -> CurveFit:
    """Fit a curve law to training curves with NUTS (see :func:`bayes_scaling.fit`)."""
    if isinstance(curves, pd.DataFrame):
        curves = Curves.from_frame(curves)
    if not isinstance(curves, Curves):
        raise SpecError(f"a curve law reads a Curves table (bs.Curves.from_csv(...)), got {type(curves).__name__}")
    spec = CurveModel(
        law=law,
        priors=dict(priors or {}),
        blocks=blocks,
        **({} if max_points is ... else {"max_points": max_points}),
    )
    if not 0.0 < target_accept < 1.0:
        raise SpecError(f"target_accept must lie strictly between 0 and 1 (e.g. 0.95), got {target_accept!r}")
    sampler = sampler or default_sampler()
    inputs = curve_inputs(spec, curves)
    # (numba gathers and scatters cheaply; PyTensor's C backend does not)
    model = build_curve_model(spec, inputs, sparse_blocks=sampler == "nutpie")
    with model, quiet_pymc_logs():
        idata = run_nuts(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=sampling_cores(chains, cores),
            sampler=sampler,
            nuts=nuts_options(sampler, target_accept),
            random_seed=random_seed,
            progressbar=progressbar,
        )
    attrs = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": json.dumps(spec.to_dict(), sort_keys=True),
        "sampler": json.dumps({"sampler": sampler, "draws": draws, "tune": tune, "chains": chains}),
    }
    result = CurveFit(idata, spec, curves, inputs, attrs)
    verdict = result.verdict
    if strict and not verdict.ok:
        raise UnconvergedFitError(
            f"strict=True and the curve fit is {verdict.headline()}: " + "; ".join(verdict.problems)
        )
    if not verdict.ok:
        import warnings

        from ..errors import DiagnosticsWarning

        warnings.warn(
            f"curve fit {verdict.headline()}: " + "; ".join(verdict.problems), DiagnosticsWarning, stacklevel=2
        )
    return result


__all__ = ["CurveFit", "CurveForecast", "fit_curves", "NOISE_PARAMETERS"]
