"""A curve law and the noise along runs as one PyMC model.

:class:`CurveModel` is the spec (law by name, prior overrides, thinning, blocks); :func:`curve_inputs`
computes what the model reads from a :class:`~bayes_scaling.data.curves.Curves` table once
(observations, schedule features, the data scale); :func:`build_curve_model` makes the
``pm.Model``: the law's parameters, the noise scales ``sigma`` (sd of the OU residual of log
loss), ``ell`` (its correlation length in steps) and ``omega`` (sd of a run tree's offset), a
factor on each run's loss drop ``exp(drop_sd z_r)`` (the law's misfit of a schedule's decreases,
which a new schedule draws afresh), and the exact marginal likelihood of
:mod:`bayes_scaling.noise.along_run` as a potential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .. import _constants as K
from ..data.curves import DEFAULT_MAX_POINTS, Curves, Observations
from ..errors import SpecError
from ..laws.curves import DEFAULT_CURVE_LAW, DROP_SCALE, CurveLaw, CurveScale, get_curve_law
from ..laws.schedules import DEFAULT_BLOCKS, CurveFeatures, curve_features, stack_features
from ..noise.along_run import tree_loglik
from .sampling import default_sampler

#: The noise parameters of every curve model (drop_sd: the sd of a run's log factor on the law's
#: loss drop, the law's misfit of a schedule's decreases; its per-run values are ``drop_raw``).
NOISE_PARAMETERS = ("sigma", "ell", "omega", "drop_sd")
#: Each run's standard normal value of the drop factor (0 for a run whose rate never decreases);
#: sampled as ``drop_z`` over the runs that decrease (a vector, not in the diagnostics table).
DROP_RAW = "drop_raw"
DROP_Z = "drop_z"
#: Loss floor of the law's mean inside the model (a draw with a mean at or below 0 is impossible).
MIN_MEAN = 1e-3


@dataclass(frozen=True)
class CurveModel:
    """What to fit to curves: a registered curve law (``multipower`` or ``annealing``), prior
    overrides by parameter name, rows kept per run (``max_points``; None keeps all) and the
    decrement blocks per run of the loss-drop sum."""

    law: str = DEFAULT_CURVE_LAW
    priors: Mapping = field(default_factory=dict)
    max_points: int | None = DEFAULT_MAX_POINTS
    blocks: int = DEFAULT_BLOCKS

    def __post_init__(self):
        law = get_curve_law(self.law)
        object.__setattr__(self, "priors", MappingProxyType(dict(self.priors)))
        unknown = sorted(set(self.priors) - set(law.parameters) - set(NOISE_PARAMETERS))
        if unknown:
            raise SpecError(
                f"priors given for unknown parameter(s) {unknown}; curve law '{law.name}' has "
                f"{[*law.parameters, *NOISE_PARAMETERS]}"
            )
        if self.max_points is not None and int(self.max_points) < 4:
            raise SpecError(f"max_points must be 4 or more (or None to keep every row), got {self.max_points}")

    @property
    def law_component(self) -> CurveLaw:
        return get_curve_law(self.law)

    @property
    def parameters(self) -> tuple[str, ...]:
        return (*self.law_component.parameters, *NOISE_PARAMETERS)

    def to_dict(self) -> dict:
        return {
            "law": self.law,
            "priors": {k: v.to_dict() for k, v in self.priors.items()},
            "max_points": self.max_points,
            "blocks": self.blocks,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> CurveModel:
        from pymc_extras.prior import Prior

        return cls(
            law=d["law"],
            priors={k: Prior.from_dict(v) for k, v in d.get("priors", {}).items()},
            max_points=d.get("max_points", DEFAULT_MAX_POINTS),
            blocks=d.get("blocks", DEFAULT_BLOCKS),
        )


@dataclass(frozen=True)
class CurveInputs:
    """What the model reads: the kept rows, their features and the data scale."""

    obs: Observations
    features: CurveFeatures
    scale: CurveScale

    def log_x(self, params) -> np.ndarray:
        return np.log(np.asarray(params, dtype=float)) - self.scale.log_n_ref


def curve_scale(curves: Curves) -> CurveScale:
    table = curves.run_table()
    sizes = np.unique(table["params"].to_numpy())
    peak = max(s.peak for s in curves.schedules.values())
    area_ref, lr_drop_ref = _references(curves, peak)
    return CurveScale(
        log_n_ref=float(np.mean(np.log(sizes))),
        min_loss=float(curves.frame["loss"].min()),
        max_loss=float(np.median(curves.frame.groupby("run_id")["loss"].first())),
        lr_unit=float(peak),
        median_steps=float(table["last_step"].median()),
        n_sizes=int(sizes.size),
        area_ref=area_ref,
        lr_drop_ref=lr_drop_ref,
    )


def _references(curves: Curves, peak: float) -> tuple[float, float]:
    """The reference area (geometric mean of the logged rows' LR areas) and drop rate
    (geometric mean of the cooldowns' block rates, weighted by their decrements; 1 without a
    cooldown) of :class:`CurveScale`, in the features' units."""
    log_area, log_rate, weight = [], 0.0, 0.0
    for rid, schedule in curves.schedules.items():
        steps = curves.rows(rid)[K.STEP].to_numpy()
        f = curve_features(schedule, steps, lr_unit=peak)
        log_area.append(np.log(f.area[f.area > 0]))
        w = np.abs(f.block_w[-1])
        log_rate += float((w * np.log(np.maximum(f.block_lr[-1], 1e-3))).sum())
        weight += float(w.sum())
    area_ref = float(np.exp(np.mean(np.concatenate(log_area))))
    return area_ref, float(np.exp(log_rate / weight)) if weight > 0 else 1.0


def features_at(curves: Curves, obs: Observations, scale: CurveScale, blocks: int) -> CurveFeatures:
    """The features of every kept row, run by run (in ``obs`` order), in the units of ``scale``."""
    parts, order = [], []
    for i, rid in enumerate(obs.run_ids):
        pos = np.flatnonzero(obs.run == i)
        if pos.size:
            parts.append(curve_features(curves.schedules[rid], obs.step[pos], blocks=blocks, **feature_units(scale)))
            order.append(pos)
    stacked = stack_features(parts)
    inverse = np.empty(len(obs), dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(len(obs))
    return stacked.take(inverse)


def curve_inputs(spec: CurveModel, curves: Curves, scale: CurveScale | None = None) -> CurveInputs:
    scale = scale or curve_scale(curves)
    obs = curves.observations(spec.max_points)
    return CurveInputs(obs, features_at(curves, obs, scale, spec.blocks), scale)


def feature_units(scale: CurveScale) -> dict:
    """The keyword arguments of :func:`curve_features` that put features in a fit's units."""
    return {"lr_unit": scale.lr_unit, "area_ref": scale.area_ref, "lr_drop_ref": scale.lr_drop_ref}


def noise_priors(scale: CurveScale) -> dict:
    from pymc_extras.prior import Prior

    return {
        # sd of log loss about a smooth curve: logged training losses wander by ~0.1-1%.
        "sigma": Prior("HalfNormal", sigma=0.02),
        # correlation length of that wandering, in steps: ~1/10 of a run, within 1.5 e-folds.
        "ell": Prior("LogNormal", mu=float(np.log(max(scale.median_steps / 10, 1.0))), sigma=1.5),
        # a run's (tree's) offset: seed and data order shift a whole curve by ~0.1-2.5%. Few runs
        # are independent trees (6 in the public curves), so a half-normal's funnel at 0 mixed
        # slowly (R-hat 1.04, ESS 71 of 1000): a log-normal keeps it off 0.
        "omega": Prior("LogNormal", mu=float(np.log(0.005)), sigma=1.0),
        # a run's drop differs from the law's by a factor exp(drop_sd z): up to ~30% is plausible.
        "drop_sd": Prior("HalfNormal", sigma=0.3),
    }


def resolved_priors(spec: CurveModel, scale: CurveScale) -> dict:
    """User priors over the law's data-aware defaults and the noise defaults."""
    return {**spec.law_component.default_priors(scale), **noise_priors(scale), **spec.priors}


def build_curve_model(spec: CurveModel, inputs: CurveInputs, *, sparse_blocks: bool | None = None):
    """The ``pm.Model`` (module doc). ``sparse_blocks``: the loss drop over the non-zero
    (observation, block) pairs only (:meth:`CurveFeatures.sparse`, ~30% of them on the public
    curves): 3.4x faster gradients compiled by numba (nutpie: 0.78 against 2.67 ms on the 18
    public curves), 3x slower in PyTensor's C backend (``sampler="pymc"``: 8.7 against 2.6 ms),
    whose scatter-add is slow; the same log density either way. None: sparse when the default
    sampler is nutpie."""
    import pymc as pm
    import pytensor.tensor as pt

    obs, f = inputs.obs, inputs.features
    priors = resolved_priors(spec, inputs.scale)
    with pm.Model() as model:
        theta = {name: priors[name].create_variable(name) for name in spec.law_component.parameters}
        noise = {name: priors[name].create_variable(name) for name in NOISE_PARAMETERS}
        # Each run with a decrease of its rate departs from the law's drop by exp(drop_sd z_r):
        # non-centred, summing to zero over those runs (their mean factor is B's, not theirs).
        dropping = np.flatnonzero(
            np.bincount(obs.run, weights=np.abs(f.block_w).sum(axis=1), minlength=len(obs.run_ids)) > 0
        )
        raw = pt.zeros(len(obs.run_ids))
        if dropping.size >= 2:
            z = pm.ZeroSumNormal(DROP_Z, sigma=1.0, shape=dropping.size)
            raw = pt.set_subtensor(raw[dropping], z)
        pm.Deterministic(DROP_RAW, raw)
        theta[DROP_SCALE] = pt.exp(noise["drop_sd"] * raw[obs.run])
        if sparse_blocks is None:
            sparse_blocks = default_sampler() == "nutpie"
        feats = (f.sparse() if sparse_blocks else f).as_tensors()
        mean = spec.law_component.mean(theta, feats, pt.as_tensor_variable(inputs.log_x(obs.params)))
        resid = np.log(obs.loss) - pt.log(pt.maximum(mean, MIN_MEAN))
        ll = tree_loglik(resid, obs.parent, obs.dt, obs.tree, obs.n_trees, noise["sigma"], noise["ell"], noise["omega"])
        pm.Potential("curve_loglik", ll.sum())
    return model
