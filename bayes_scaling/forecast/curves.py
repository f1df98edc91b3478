"""A fitted curve law: ``fit(curves, law="multipower") -> CurveFit``, and forecasts of whole loss
curves under any schedule (:meth:`CurveFit.predict_curve`).

A forecast of kind ``"mean"`` is the law's curve (parameter uncertainty only); ``"new_run"``
adds a new run's offset and its Ornstein-Uhlenbeck path, drawn jointly along the steps, so
that "loss at step t" and "at the end" come from the same paths and any function of a path (the
first step below a target, the loss at the end) has the right spread. ``given=run_id``
continues a fitted run past its last row, conditional on what it logged (its offset and its
last residual): the forecast for a run in progress, or for a cooldown branched off it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from .. import _constants as K
from .._threads import in_threads
from ..data.curves import Curves
from ..errors import SpecError, UnconvergedFitError
from ..inference.curves import NOISE_PARAMETERS, CurveInputs, CurveModel, build_curve_model, curve_inputs
from ..inference.diagnostics import Verdict, diagnostics_table
from ..inference.sampling import default_sampler, nuts_options, quiet_pymc_logs, run_nuts, sampling_cores
from ..laws.schedules import DEFAULT_BLOCKS, Schedule, curve_features
from ..noise.along_run import continue_paths, new_paths
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

    def _check_answerable(self, accept_unconverged: bool) -> None:
        verdict = self.verdict
        if not verdict.converged and not accept_unconverged:
            raise UnconvergedFitError(
                f"this curve fit did not converge ({verdict.headline()}); its forecasts would be wrong quietly. "
                "Refit with more tune/draws, or pass accept_unconverged=True to look anyway"
            )

    # ------------------------------------------------------------------ forecasts
    def mean_curve(self, params: float, schedule: Schedule, steps) -> np.ndarray:
        """The law's loss at ``steps`` for every draw: ``(n_draws, n_steps)``."""
        f = curve_features(schedule, steps, lr_unit=self.inputs.scale.lr_unit, blocks=self.spec.blocks)
        theta = self.draws()
        names = self.law.parameters
        log_x = float(np.log(params) - self.inputs.scale.log_n_ref)
        n = self.n_draws
        out = np.empty((n, len(f)))
        width = max(f.block_w.shape[1], 1)
        size = max(1, CHUNK_ELEMENTS // (len(f) * width))

        def work(start: int) -> None:
            part = {k: theta[k][start : start + size, None] for k in names}
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
        if not isinstance(schedule, Schedule):
            raise SpecError(f"schedule must be a schedule such as bs.schedules.wsd(...), got {type(schedule).__name__}")
        params = float(params)
        if not params > 0:
            raise SpecError(f"params must be a parameter count > 0, got {params!r}")
        steps = (
            np.unique(np.linspace(1, schedule.steps, 200).round()).astype(np.int64)
            if steps is None
            else np.asarray(steps, dtype=np.int64)
        )
        if steps.size and np.any(np.diff(steps) <= 0):
            raise SpecError("steps must increase")
        mean = self.mean_curve(params, schedule, steps)
        if kind == "mean":
            return CurveForecast(
                np.full(steps.size, params), np.full(steps.size, np.nan), mean, kind, steps, schedule.name
            )
        d = self.draws()
        rng = np.random.default_rng(_seed_sequence(random_seed))
        if given is None:
            x = new_paths(rng, steps, d["sigma"], d["ell"], d["omega"])
        else:
            x = self._continue(given, params, schedule, steps, rng)
        return CurveForecast(
            np.full(steps.size, params), np.full(steps.size, np.nan), mean * np.exp(x), kind, steps, schedule.name
        )

    def _continue(self, given, params: float, schedule: Schedule, steps, rng) -> np.ndarray:
        run_id, upto = (given, None) if isinstance(given, str) else (str(given[0]), float(given[1]))
        if run_id not in self.curves.schedules:
            raise SpecError(f"given='{run_id}' is not a run of this fit; its runs: {self.curves.run_ids[:8]}")
        rows = self.curves.rows(run_id)
        last = float(rows[K.STEP].max()) if upto is None else upto
        if float(rows[K.PARAMS].iloc[0]) != params:
            raise SpecError(f"given='{run_id}' has {rows[K.PARAMS].iloc[0]:.4g} parameters, not {params:.4g}")
        own = self.curves.schedules[run_id]
        stop = int(min(last, schedule.steps, own.steps))
        if not np.allclose(own.lr[: stop + 1], schedule.lr[: stop + 1], rtol=1e-6, atol=0):
            raise SpecError(
                f"the schedule differs from run '{run_id}''s before step {last:.0f}: a continuation must follow "
                "the run's own rates up to where it is continued from"
            )
        if steps.size and steps[0] <= last:
            raise SpecError(f"given='{run_id}': ask for steps after step {last:.0f}, where the run is continued from")
        obs = self.inputs.obs
        chain = _trajectory(obs, obs.run_ids.index(run_id))
        chain = chain[obs.step[chain] <= last]
        if not chain.size:
            raise SpecError(f"given='{run_id}': the run has no rows at or before step {last:.0f}")
        past_steps = obs.step[chain]
        past_mean = self.mean_curve(params, own, past_steps)
        x_past = np.log(obs.loss[chain])[None, :] - np.log(np.maximum(past_mean, 1e-3))
        parent = np.r_[-1, np.arange(chain.size - 1)]
        dt = np.diff(past_steps, prepend=past_steps[0]).astype(float)
        d = self.draws()
        return continue_paths(rng, x_past, parent, dt, past_steps[-1], steps, d["sigma"], d["ell"], d["omega"])

    # ------------------------------------------------------------------ files
    def save(self, path, *, overwrite: bool = False):
        """Write the fit to a netCDF file with its curves and schedules (atomic; refuses to
        replace a file unless ``overwrite``); :func:`bayes_scaling.load` reads it back."""
        import xarray as xr

        from ..inference.model import spec_id
        from . import files

        tree = self.idata.copy()
        frame = self.curves.frame[[K.RUN_ID, K.STEP, K.LOSS, K.PARAMS]].reset_index(drop=True)
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


def _trajectory(obs, run_index: int) -> np.ndarray:
    """Positions of the kept rows on run ``run_index``'s path from its tree's root, in order."""
    if run_index < 0:
        raise SpecError("that run has no rows in the fit")
    last = int(np.flatnonzero(obs.run == run_index)[-1])
    path = [last]
    while obs.parent[path[-1]] >= 0:
        path.append(int(obs.parent[path[-1]]))
    return np.array(path[::-1])


def fit_curves(
    curves: Curves,
    law: str = "multipower",
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
    model = build_curve_model(spec, inputs)
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
