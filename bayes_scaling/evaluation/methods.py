"""The forecasting methods a backtest compares, each ``(train, params, tokens, **options) ->
MethodForecast``: bayes_scaling (one law, a LOO-stacked mixture, or one model over every
family) and the point-fit baselines (the borrow of another family's exponents among them). The
methods in :data:`FAMILY_METHODS` also get ``families``, the family of each held-out point."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data.runs import Runs
from ..laws import DEFAULT_LAW
from .baselines import approach3, approach3_bootstrap, borrowed_exponents, vpnls
from .holdout import fit_quietly
from .scores import MethodForecast
from .stacking import stack


def _bayes_scaling(
    train: Runs, params, tokens, *, law=DEFAULT_LAW, random_seed=0, inputs=None, **fit_options
) -> MethodForecast:
    result, problems = fit_quietly(train, law, random_seed, fit_options)
    forecast = result.predict(params, tokens, kind="new_run", random_seed=random_seed, **dict(inputs or {}))
    return MethodForecast(median=forecast.median, draws=forecast.draws, problems=problems)


def _bayes_scaling_stack(
    train: Runs, params, tokens, *, laws=(DEFAULT_LAW,), random_seed=0, inputs=None, **fit_options
) -> MethodForecast:
    """Each law in ``laws`` fitted to the past, stacked by PSIS-LOO on the past, then forecast."""
    fits, problems = {}, []
    for law in laws:
        name = law if isinstance(law, str) else law.name
        fits[name], found = fit_quietly(train, law, random_seed, fit_options)
        problems += [f"{name}: {p}" for p in found]
    mixture = stack(fits, random_seed=random_seed)
    forecast = mixture.predict(params, tokens, kind="new_run", random_seed=random_seed, **dict(inputs or {}))
    weights = ", ".join(f"{k} {v:.2f}" for k, v in mixture.weights.items())
    return MethodForecast(median=forecast.median, draws=forecast.draws, problems=(*problems, f"weights: {weights}"))


def _bayes_scaling_families(
    train: Runs, params, tokens, *, families, law=DEFAULT_LAW, random_seed=0, inputs=None, **fit_options
) -> MethodForecast:
    """One model over every family of ``train`` (:func:`bayes_scaling.fit` with ``families``);
    each held-out point forecast by its own family's slice (``families``: one per point)."""
    result, problems = fit_quietly(train, law, random_seed, {**fit_options, "families": "family"})
    families = np.asarray(families, dtype=str)
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    median, draws = np.empty(params.size), np.empty((result.n_draws, params.size))
    for family in np.unique(families):
        at = families == family
        extra = {k: np.asarray(v)[at] for k, v in dict(inputs or {}).items()}
        fc = result.family(family).predict(params[at], tokens[at], kind="new_run", random_seed=random_seed, **extra)
        median[at], draws[:, at] = fc.median, fc.draws
    return MethodForecast(median=median, draws=draws, problems=problems)


def _borrowed_exponents(train: Runs, params, tokens, *, families, **_) -> MethodForecast:
    """Each held-out family's own runs in ``train`` with the exponents of the other family with
    the most runs there (:func:`~.baselines.borrowed_exponents`)."""
    families = np.asarray(families, dtype=str)
    median = np.empty(np.size(params))
    for family in np.unique(families):
        at = families == family
        others = [f for f in train.families if f != family]
        donor = max(others, key=lambda f: train.select(family=f).n_runs)
        point = borrowed_exponents(train.select(family=family), train.select(family=donor))
        median[at] = point.loss(np.asarray(params)[at], np.asarray(tokens)[at])
    return MethodForecast(median=median)


def _approach3(train: Runs, params, tokens, **_) -> MethodForecast:
    return MethodForecast(median=approach3(train).loss(params, tokens))


def _approach3_bootstrap(train: Runs, params, tokens, *, random_seed=0, n_resamples=1000, **_) -> MethodForecast:
    boot = approach3_bootstrap(train, n_resamples=n_resamples, random_seed=random_seed)
    draws = boot.loss(params, tokens)
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    return MethodForecast(median=boot.point.loss(params, tokens), draws=draws)


def _vpnls(train: Runs, params, tokens, **_) -> MethodForecast:
    return MethodForecast(median=vpnls(train).loss(params, tokens))


METHODS: dict[str, Callable[..., MethodForecast]] = {
    "bayes_scaling": _bayes_scaling,
    "bayes_scaling_stack": _bayes_scaling_stack,
    "bayes_scaling_families": _bayes_scaling_families,
    "borrowed_exponents": _borrowed_exponents,
    "approach3": _approach3,
    "approach3_bootstrap": _approach3_bootstrap,
    "vpnls": _vpnls,
}
#: Methods that read the family of each held-out point.
FAMILY_METHODS = ("bayes_scaling_families", "borrowed_exponents")
