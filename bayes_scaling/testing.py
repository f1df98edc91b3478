"""Fabricated posteriors for fast tests of everything downstream of sampling, and synthetic
training curves.

``fabricated_fit`` builds a :class:`~bayes_scaling.forecast.result.ScalingFit` whose draws scatter around
given parameter values, with the same groups and attributes a real fit has, without PyMC.
``synthetic_curves`` draws a :class:`~bayes_scaling.data.curves.Curves` table from a curve law
with the package's noise along runs (offset + Ornstein-Uhlenbeck path).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from . import _constants as K
from .data.synthetic import CHINCHILLA_PARAMS
from .laws import DataScale, reference_from_amplitudes
from .noise import DEFAULT_LIKELIHOOD

#: Multi-Power Law values (units of :mod:`bayes_scaling.laws.schedules`) near those fitted to the
#: public curves of Luo et al. (25M-400M), with the reference size 100M.
#: (kappa at the peak rate, A at an area of 1,000 peak-rate steps: the units of synthetic_curves)
MULTIPOWER_TRUTH = {
    "l0": 2.8,
    "log_A": 0.0,
    "alpha": 0.45,
    "log_B": -1.9,
    "kappa": 4.0,
    "nu": 0.5,
    "gamma": 1.0,
    "log_P": -0.3,
    "p": 0.25,
    "a_N": 0.0,
    "b_N": 0.0,
    "alpha_N": 0.0,
    "kappa_N": 0.0,
    "gamma_N": 0.0,
}
CURVE_NOISE = {"sigma": 0.003, "ell": 3000.0, "omega": 0.003, "drop_sd": 0.1}


def synthetic_curves(
    schedules: dict,
    sizes=(2.5e7, 1e8, 4e8),
    *,
    law: str | None = None,
    theta: dict | None = None,
    noise: dict | None = None,
    log_every: int = 250,
    first_step: int = 250,
    n_ref: float = 1e8,
    random_seed=None,
):
    """Curves of every schedule (``{name: Schedule}``) at every size, drawn from ``law`` at
    ``theta`` (default :data:`MULTIPOWER_TRUTH`) with offset + OU noise on log loss (default
    :data:`CURVE_NOISE`; each run's loss drop off the law's by a factor exp(drop_sd z)), logged
    every ``log_every`` steps; runs are independent (no branches)."""
    import pandas as pd

    from .data.curves import Curves
    from .laws.curves import DEFAULT_CURVE_LAW, get_curve_law
    from .laws.schedules import curve_features
    from .noise.along_run import new_paths

    theta = dict(MULTIPOWER_TRUTH if theta is None else theta)
    noise = dict(CURVE_NOISE if noise is None else noise)
    rng = np.random.default_rng(random_seed)
    lr_unit = max(s.peak for s in schedules.values())
    frames, given = [], {}
    for size in sizes:
        for name, schedule in schedules.items():
            steps = np.arange(first_step, schedule.steps + 1, log_every)
            steps = np.unique(np.r_[steps, schedule.steps])
            f = curve_features(schedule, steps, lr_unit=lr_unit)
            scale = np.exp(noise.get("drop_sd", 0.0) * rng.standard_normal())  # this run's drop factor
            mean = get_curve_law(law or DEFAULT_CURVE_LAW).mean(
                theta | {"drop_scale": scale}, f, float(np.log(size / n_ref))
            )
            x = new_paths(rng, steps, *(np.array([noise[k]]) for k in ("sigma", "ell", "omega")))[0]
            run_id = f"{size:.3g}_{name}"
            given[run_id] = schedule
            frames.append(pd.DataFrame({"run_id": run_id, "step": steps, "loss": mean * np.exp(x), "params": size}))
    return Curves.from_frame(pd.concat(frames, ignore_index=True), schedules=given)


def fabricated_fit(
    params: dict | None = None,
    *,
    noise: dict | None = None,
    relative_spread: float = 0.02,
    chains: int = 2,
    draws: int = 500,
    scale: DataScale | None = None,
    likelihood: str = DEFAULT_LIKELIHOOD,
    random_seed: int = 0,
):
    """A ScalingFit of the Chinchilla law with draws ~ value * (1 + spread * N(0, 1)).

    ``params`` are in the usual units (E, A, B, alpha, beta); ``noise`` holds sigma_ref, gamma,
    tau and the likelihood's own parameters (nu for Student-t, defaults for the built-in ones
    below; a likelihood registered elsewhere needs its values here). Draws are independent
    across parameters. The draws are not a posterior of the fit's runs, so its diagnostics mean
    nothing: the fit answers without checking them (as after ``accept_unconverged(warn=False)``);
    call :meth:`~bayes_scaling.ScalingFit.diagnostics` to see them anyway.
    """
    from .data.synthetic import chinchilla_runs
    from .forecast.result import ScalingFit
    from .inference.model import ScalingModel

    p = {**CHINCHILLA_PARAMS, **(params or {})}
    z = {
        "sigma_ref": 0.01,
        "gamma": 0.2,
        "tau": 0.004,
        "nu": 10.0,
        "outlier_prob": 0.05,
        "outlier_excess": 0.05,
        **(noise or {}),
    }
    scale = scale or DataScale(
        log_n_ref=float(np.log(3e8)),
        log_d_ref=float(np.log(6e9)),
        min_loss=2.3,
        median_loss=2.9,
        log_n_noise_ref=float(np.log(1e9)),
        log_n_min=float(np.log(1e7)),
        log_n_max=float(np.log(1e10)),
        log_d_min=float(np.log(1e8)),
        log_d_max=float(np.log(2e11)),
        log_c_min=float(np.log(1e17)),
        log_c_max=float(np.log(1e22)),
    )
    rng = np.random.default_rng(random_seed)
    shape = (chains, draws)

    def jitter(value):
        return value * (1.0 + relative_spread * rng.standard_normal(shape))

    values = {name: jitter(p[name]) for name in ("E", "A", "B", "alpha", "beta")}
    values["log_AN_ref"], values["log_BD_ref"] = reference_from_amplitudes(
        values["A"], values["B"], values["alpha"], values["beta"], scale.log_n_ref, scale.log_d_ref
    )
    spec = ScalingModel(likelihood=likelihood)
    for name in ("sigma_ref", "tau", "nu", "gamma"):
        values[name] = np.abs(jitter(z[name])) if name != "gamma" else jitter(z[name])
    extra = [name for name in spec.noise.likelihood_component.parameters if name not in values]
    missing = [name for name in extra if name not in z]
    if missing:
        raise ValueError(f"fabricated_fit: give values of {missing} (likelihood '{likelihood}') in noise=")
    for name in extra:  # after the others: the draws above stay the same for every likelihood
        values[name] = np.abs(jitter(z[name]))
    values["noise_sd"] = np.sqrt(values["sigma_ref"] ** 2 + values["tau"] ** 2)
    values["tau_share"] = values["tau"] ** 2 / values["noise_sd"] ** 2
    coords = {K.CHAIN: np.arange(chains), K.DRAW: np.arange(draws)}
    posterior = xr.Dataset({k: (K.SAMPLE_DIMS, v) for k, v in values.items()}, coords=coords)
    runs = chinchilla_runs(n_configs=40, random_seed=random_seed)
    configs = runs.configs
    constant = xr.Dataset(
        {
            "log_n": (K.CONFIG, np.log(configs[K.PARAMS].to_numpy())),
            "log_d": (K.CONFIG, np.log(configs[K.TOKENS].to_numpy())),
            "n_seeds": (K.CONFIG, configs["n_seeds"].to_numpy().astype(float)),
        }
    )
    replicated = np.flatnonzero(configs["n_seeds"].to_numpy() > 1)
    constant["rep_index"] = ("replicated_config", replicated)
    observed = xr.Dataset(
        {
            "mean_log_loss": (K.CONFIG, configs["mean_log_loss"].to_numpy()),
            "within_ss": ("replicated_config", configs["within_ss"].to_numpy()[replicated]),
        }
    )
    stats = xr.Dataset({"diverging": (K.SAMPLE_DIMS, np.zeros(shape, dtype=bool))}, coords=coords)
    tree = xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "sample_stats": stats,
            "constant_data": constant,
            "observed_data": observed,
            "runs": runs.to_dataset(),
        }
    )
    tree.attrs.update(
        {
            "law": spec.law,
            "spec": spec.to_json(),
            "spec_id": spec.spec_id,
            "scale": json.dumps(scale.to_dict(), sort_keys=True),
            "flops_per_param_token": 6.0,
            "sampler_settings": json.dumps({"sampler": "fabricated"}),
            "data_hash": runs.data_hash(),
            "created": "1970-01-01T00:00:00+00:00",
            "diagnostics": json.dumps({"n_divergences": 0, "problems": [], "ok": True}),
        }
    )
    fit = ScalingFit(tree, spec_dict=spec.to_dict(), scale=scale, flops_per_param_token=6.0)
    return fit.accept_unconverged(warn=False)
