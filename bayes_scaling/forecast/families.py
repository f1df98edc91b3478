r"""The fitted result of several families at once: :class:`FamilyFit`.

One posterior over every family (see :mod:`bayes_scaling.inference.families`). Each family's
answers come from :meth:`FamilyFit.family`, an ordinary :class:`~bayes_scaling.forecast.result.ScalingFit`
over that family's slice of the joint draws: ``predict``, ``compute_optimal``, the planners,
plots and the report work on it unchanged, and two families' views compared draw by draw
(:func:`bayes_scaling.planning.compare_fits`) compare within the one posterior. A family not in the data
is forecast from the population: at each draw a new family's parameters are drawn from the
fitted population distribution.

The drifts beyond the data (:mod:`bayes_scaling.noise.extrapolation`) start where every family's
runs end, for a family in the data as for a new one: the pooled form was fitted on all of them, and
a family's own offsets are already in its posterior. Measured from a new recipe's 3 small runs,
the drift added decades of spread where the other families had run, and the 90% bands covered 98.5%
of the held-out runs (``benchmarks/results/families.md``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import _constants as K
from ..data.runs import Runs
from ..errors import SpecError
from ..inference.diagnostics import Verdict, diagnostics_table
from ..inference.families import FAMILY_DIM, LOC, OFFSET, SPREAD, new_family_values
from ..laws import DataScale
from ..noise import reported_noise
from . import files
from .result import ScalingFit, summary_table

#: The dim of every family's configurations in one family's view (where its drifts start).
DRIFT_CONFIG = "drift_config"


class FamilyFit:
    """A posterior over several families and the spec that produced it.

    Build one with ``bayes_scaling.fit(runs, families="family")`` or :func:`bayes_scaling.load`.
    """

    def __init__(self, idata, *, spec_dict: Mapping, scale: DataScale, flops_per_param_token: float):
        self.idata = idata
        self.spec_dict = dict(spec_dict)
        self.scale = scale
        self.flops_per_param_token = float(flops_per_param_token)
        self._views: dict[str, ScalingFit] = {}
        self._accepted, self._warn_verdict = False, True

    def __repr__(self) -> str:
        return (
            f"FamilyFit(law='{self.spec.law}', {len(self.families)} families {list(self.families)}, "
            f"{self.n_draws} draws, {self.n_configs} configurations)"
        )

    # ------------------------------------------------------------------ views
    @property
    def spec(self):
        """The :class:`~bayes_scaling.inference.model.ScalingModel` (with its ``families`` pooling)."""
        from ..inference.model import ScalingModel

        return ScalingModel.from_dict(self.spec_dict)

    @property
    def families(self) -> tuple[str, ...]:
        """The families in the data, in the posterior's order."""
        return tuple(str(f) for f in self.idata["posterior"].to_dataset()[FAMILY_DIM].values)

    @property
    def n_draws(self) -> int:
        ds = self.idata["posterior"]
        return int(ds.sizes[K.CHAIN] * ds.sizes[K.DRAW])

    @property
    def n_configs(self) -> int:
        return int(self.idata["constant_data"].sizes.get(K.CONFIG, 0))

    @property
    def runs(self) -> Runs | None:
        """The runs of every family this posterior was fitted to."""
        return files.stored_runs(self.idata, self.flops_per_param_token)

    def _pooled(self) -> dict[str, str]:
        """Pooled parameter -> its prior's distribution (Normal or LogNormal)."""
        spec = self.spec
        law, pooling = spec.law_component, spec.families
        noise_scale = spec.noise.shared_parameters[0]
        priors = spec.resolved_priors(self.scale)
        names = list(pooling.spreads(law, noise_scale))
        return {name: priors[name].distribution for name in names}

    def family(self, name: str) -> ScalingFit:
        """The fit of one family: a :class:`~bayes_scaling.forecast.result.ScalingFit` over its
        slice of the joint draws. A family not in the data is forecast from the population
        (its parameters drawn afresh at each posterior draw; the same name gives the same draws)."""
        if not isinstance(name, str) or not name:
            raise SpecError(f"family must be a family's name (one of {list(self.families)}), got {name!r}")
        if name not in self._views:
            view = self._seen(name) if name in self.families else self._new(name)
            view._accepted, view._warn_verdict = self._accepted, self._warn_verdict
            self._views[name] = view
        return self._views[name]

    def _view(self, tree, name: str, *, new: bool) -> ScalingFit:
        from ..inference.model import spec_id

        spec = {k: v for k, v in self.spec_dict.items() if k != "families"}
        tree.attrs = {
            **self.idata.attrs,
            "spec": json.dumps(spec, sort_keys=True),
            "spec_id": spec_id(spec),
            "family": name,
            "family_in_data": str(not new).lower(),
            "joint_posterior": self.idata.attrs.get("spec_id", "") + ":" + self.idata.attrs.get("data_hash", ""),
        }
        return ScalingFit(tree, spec_dict=spec, scale=self.scale, flops_per_param_token=self.flops_per_param_token)

    def _population_vars(self) -> list[str]:
        post = self.idata["posterior"]
        names = [name + suffix for name in self._pooled() for suffix in (LOC, SPREAD, OFFSET)]
        return [name for name in names if name in post]

    def _seen(self, name: str) -> ScalingFit:
        import xarray as xr

        code = self.families.index(name)
        drop = self._population_vars()
        groups = {}
        for group in ("posterior", "sample_stats", "prior"):
            if group in self.idata:
                ds = self.idata[group].to_dataset()
                ds = ds.drop_vars([v for v in drop if v in ds])
                groups[group] = ds.sel({FAMILY_DIM: name}, drop=True) if FAMILY_DIM in ds.dims else ds
        const = self.idata["constant_data"].to_dataset()
        configs = np.flatnonzero(const["family_index"].values == code)
        observed = self.idata["observed_data"].to_dataset()
        private = ("family_index", "rep_index", "replicated_config")
        sub_const = const.drop_vars(private, errors="ignore").isel({K.CONFIG: configs})
        sub_obs = observed[["mean_log_loss"]].isel({K.CONFIG: configs})
        if "rep_index" in const:
            rep = const["rep_index"].values
            keep = np.isin(rep, configs)
            sub_const["rep_index"] = ("replicated_config", np.searchsorted(configs, rep[keep]))
            sub_obs["within_ss"] = ("replicated_config", observed["within_ss"].values[keep])
        # the drifts beyond the data start where every family's runs end, not this family's
        # (the pooled form was fitted on all of them; a family with no runs has the same box)
        sub_const["drift_log_n"] = (DRIFT_CONFIG, const["log_n"].values)
        sub_const["drift_log_d"] = (DRIFT_CONFIG, const["log_d"].values)
        groups["constant_data"] = sub_const.drop_vars(K.CONFIG, errors="ignore")
        groups["observed_data"] = sub_obs.drop_vars(K.CONFIG, errors="ignore")
        if "runs" in self.idata:
            runs = self.idata["runs"].to_dataset()
            groups["runs"] = runs.isel({K.RUN: np.flatnonzero(runs[K.FAMILY].values.astype(str) == name)})
        return self._view(xr.DataTree.from_dict(groups), name, new=False)

    def _new(self, name: str) -> ScalingFit:
        import xarray as xr

        spec = self.spec
        free = [k for k, mode in spec.families.modes(spec.law_component).items() if mode == "free"]
        if free:
            raise SpecError(
                f"'{name}' is not a family of this fit ({list(self.families)}), and {free} are free per family, so a "
                "new family has no forecast: pool them (pooling={...: 'pooled'}) to forecast families not in the data"
            )
        post = self.idata["posterior"].to_dataset()
        shape = (post.sizes[K.CHAIN], post.sizes[K.DRAW])
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        values = {}
        priors = spec.resolved_priors(self.scale)
        for param in self._pooled():
            values[param] = new_family_values(post, param, priors[param], len(self.families), rng).reshape(shape)
        for param in spec.parameters:
            if param not in values:  # shared
                values[param] = post[param].values
        if spec.noise.discrepancy:
            values.update(reported_noise(values, spec.noise))
        elif "sigma_ref" not in values:
            values["sigma_ref"] = post["sigma_ref"].values
        ds = xr.Dataset({k: ((K.CHAIN, K.DRAW), np.asarray(v, dtype=float)) for k, v in values.items()})
        const = self.idata["constant_data"].to_dataset()
        const = const.drop_vars(("family_index", "rep_index", "replicated_config"), errors="ignore")
        tree = xr.DataTree.from_dict({"posterior": ds, "constant_data": const.drop_vars(K.CONFIG, errors="ignore")})
        return self._view(tree, name, new=True)

    # ------------------------------------------------------------------ answers
    def predict(self, params, tokens, *, family: str, **options):
        """``fit.family(family).predict(params, tokens, ...)`` (see :meth:`ScalingFit.predict`)."""
        return self.family(family).predict(params, tokens, **options)

    def predict_summary(self, params, tokens, *, family: str, **options) -> pd.DataFrame:
        """``fit.family(family).predict_summary(...)``."""
        return self.family(family).predict_summary(params, tokens, **options)

    def compute_optimal(self, flops, *, family: str, prob: float = 0.9) -> pd.DataFrame:
        """``fit.family(family).compute_optimal(flops, prob)``."""
        return self.family(family).compute_optimal(flops, prob=prob)

    def summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Each family's parameter table (:meth:`ScalingFit.summary`), rows indexed by (family,
        parameter), then the population's centre and spread of each pooled parameter (family
        ``"(population)"``; a positive parameter's centre is its median across families,
        :math:`e^{\\mu}`, and its spread the sd of its log)."""
        frames = [self.family(f).summary(prob).assign(family=f) for f in self.families]
        frames.append(self._population_summary(prob).assign(family="(population)"))
        out = pd.concat(frames).reset_index()
        return out.set_index(["family", "parameter"])

    def _population_summary(self, prob: float) -> pd.DataFrame:
        post = self.idata["posterior"].to_dataset()
        values = {}
        for name, dist in self._pooled().items():
            loc = np.asarray(post[name + LOC].values, dtype=float)
            values[f"{name} families' mean"] = np.exp(loc) if dist == "LogNormal" else loc
            values[f"{name} spread"] = np.asarray(post[name + SPREAD].values, dtype=float)
        return summary_table(values, prob)

    def diagnostics(self) -> pd.DataFrame:
        """Convergence table over every sampled variable, one row per family where it varies
        (``alpha[llama]``): R-hat, ESS and divergences (see :func:`~bayes_scaling.inference.diagnostics.diagnostics_table`)."""
        import xarray as xr

        post = self.idata["posterior"].to_dataset()
        sampled = [*self._population_vars(), *(p for p in self.spec.parameters if p not in self._pooled())]
        flat = {}
        for name in sampled:
            var = post[name]
            dim = next((d for d in var.dims if d not in K.SAMPLE_DIMS), None)
            if dim is None:
                flat[name] = var
                continue
            for family in var[dim].values:
                flat[f"{name}[{family}]"] = var.sel({dim: family}, drop=True)
        tree = xr.DataTree.from_dict(
            {"posterior": xr.Dataset(flat), "sample_stats": self.idata["sample_stats"].to_dataset()}
        )
        table = diagnostics_table(tree, list(flat))
        table.attrs["verdict"] = Verdict.from_table(table)
        return table

    @property
    def verdict(self) -> Verdict:
        """The joint fit's diagnostics in one object (recorded when it was made; every family's
        view answers with it)."""
        recorded = Verdict.recorded(self.idata.attrs)
        if recorded is not None:
            return recorded
        return self.diagnostics().attrs["verdict"]

    def accept_unconverged(self, warn: bool = True) -> FamilyFit:
        """This fit, answering even if its sampler did not converge (as :meth:`ScalingFit.accept_unconverged`)."""
        other = copy.copy(self)
        other._views = {}
        other._accepted, other._warn_verdict = True, bool(warn)
        return other

    def save(self, path, *, overwrite: bool = False) -> None:
        """Write the fit to a netCDF file (atomic; refuses to replace a file unless ``overwrite``)."""
        files.save(self, path, overwrite=overwrite)
