r"""Several families fitted at once: which law parameters they share, pool or keep apart.

A family is one recipe (architecture, data mix, vocabulary, ...) of a runs table's ``family``
column. In one model over all families each law parameter :math:`\theta` is, per family
:math:`f`, either

* **shared**: one value for every family;
* **pooled** (partial pooling, non-centred): :math:`\theta_f = g^{-1}(\mu + s\,e_f)`,
  :math:`e_f \sim \mathcal N(0, 1)`, where :math:`g` is the log for a parameter whose prior is
  log-normal (E, the exponents) and the identity for one whose prior is normal (the log
  amplitudes at the reference sizes); the population centre :math:`\mu` takes the parameter's
  own prior (the law's data-aware default, or the user's) and the spread
  :math:`s \sim \text{Gamma}(2, 2/\text{spread})` (mean: the spread; see :func:`spread_prior`);
* **free**: an independent copy of the parameter's prior per family.

Defaults follow what comparisons of recipes find (Brandfonbrener et al. 2024; Choshen et al.
2024): exponents move little across architectures trained on the same data (spread 0.1 on the
log scale, about 10%), the irreducible loss and the amplitudes move with the data and the
evaluation set (spread 0.3). The noise is shared by default; ``noise="per_family"`` pools its
scale (spread 0.5 on the log scale) and shares its shape (the noise split, the slope in N, the
tails).

**Sampled as** the families' mean :math:`\bar v = \mu + s\,\bar e` and sum-to-zero offsets
:math:`z = e - \bar e` (``ZeroSumNormal``): :math:`g(\theta_f) = \bar v + s z_f`,
:math:`\bar v \sim \mathcal N(\mu_0, \sigma_0^2 + s^2/n)` for :math:`n` families, an exact
reparameterisation. With families whose own runs pin their values, the centre :math:`\mu` and
the offsets of the plain non-centred form are strongly correlated (R-hat of E's centre 1.02-1.03
in 4 x 1000 draws on three synthetic families); their mean is not.

The population is part of the posterior: a family not in the data is forecast by drawing its
:math:`\mu` and a fresh :math:`e_{new}` (see :func:`new_family_values`), the "new recipe, zero
runs" prior.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import SpecError, option

#: How a law parameter varies across families.
POOLING_MODES = ("shared", "pooled", "free")
#: How the noise varies across families.
NOISE_MODES = ("shared", "per_family")
#: Default population spreads (prior mean of the spread on the parameter's log scale, or its own scale
#: for a parameter with a normal prior): exponents, everything else, the noise scale.
EXPONENT_SPREAD = 0.1
OTHER_SPREAD = 0.3
NOISE_SPREAD = 0.5
#: The dim of per-family values in the posterior.
FAMILY_DIM = "family"
#: Suffixes of the population variables of a pooled parameter ``name``: its centre, its spread
#: and the families' standardised offsets.
LOC, SPREAD, OFFSET = "_loc", "_spread", "_offset"
#: Priors a pooled parameter may have: normal (pooled as is) or log-normal (pooled on the log scale).
POOLABLE = ("Normal", "LogNormal")


@dataclass(frozen=True)
class FamilyPooling:
    """How law parameters and noise vary across the families of one fit.

    Parameters
    ----------
    pooling : ``{parameter: "shared" | "pooled" | "free"}`` for the law's sampled parameters;
        the others are pooled.
    spread : ``{parameter: s}``, the prior mean of a pooled parameter's population spread
        (defaults: :data:`EXPONENT_SPREAD` for exponents, :data:`OTHER_SPREAD` otherwise).
    noise : "shared" (default) or "per_family" (the noise scale pooled across families).
    """

    pooling: Mapping = field(default_factory=dict)
    spread: Mapping = field(default_factory=dict)
    noise: str = "shared"

    def __post_init__(self):
        for name, value in (("pooling", self.pooling), ("spread", self.spread)):
            if not isinstance(value, Mapping):
                raise SpecError(f"{name} must be a dict of law parameters, got {value!r}")
        bad = {k: v for k, v in self.pooling.items() if v not in POOLING_MODES}
        if bad:
            raise SpecError(f"pooling must map each parameter to one of {list(POOLING_MODES)}; got {bad}")
        bad = {
            k: v for k, v in self.spread.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
        }
        if bad:
            raise SpecError(f"spread must map each pooled parameter to a positive number (e.g. 0.1); got {bad}")
        if self.noise not in NOISE_MODES:
            raise SpecError(f"family noise must be one of {list(NOISE_MODES)}, got {self.noise!r}")
        object.__setattr__(self, "pooling", MappingProxyType(dict(self.pooling)))
        object.__setattr__(self, "spread", MappingProxyType({k: float(v) for k, v in self.spread.items()}))

    def check(self, law) -> None:
        """A SpecError if a parameter named here is not one of ``law``'s sampled parameters."""
        unknown = sorted((set(self.pooling) | set(self.spread)) - set(law.parameters))
        if unknown:
            raise SpecError(
                f"pooling or spread given for {unknown}, not parameters of law '{law.name}': it samples {list(law.parameters)}"
            )

    def modes(self, law) -> dict[str, str]:
        """Each sampled law parameter's mode (the given one, else pooled)."""
        return {name: self.pooling.get(name, "pooled") for name in law.parameters}

    def spreads(self, law, noise_scale: str) -> dict[str, float]:
        """The spread prior scale of every pooled parameter (and of the noise scale when per family)."""
        out = {
            name: self.spread.get(name, EXPONENT_SPREAD if name in law.exponents else OTHER_SPREAD)
            for name, mode in self.modes(law).items()
            if mode == "pooled"
        }
        if self.noise == "per_family":
            out[noise_scale] = NOISE_SPREAD
        return out

    def to_dict(self) -> dict:
        return {
            "pooling": dict(sorted(self.pooling.items())),
            "spread": dict(sorted(self.spread.items())),
            "noise": self.noise,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> FamilyPooling:
        unknown = set(data) - {"pooling", "spread", "noise"}
        if unknown:
            raise SpecError(f"unknown keys in the families spec: {sorted(unknown)}")
        return cls(dict(data.get("pooling", {})), dict(data.get("spread", {})), data.get("noise", "shared"))


def _poolable(name: str, prior) -> bool:
    """Whether ``prior`` is normal or log-normal with fixed parameters (else a SpecError); True if log-normal."""
    fixed = all(isinstance(v, (int, float)) for v in prior.parameters.values())
    if prior.distribution not in POOLABLE or not fixed or set(prior.parameters) != {"mu", "sigma"}:
        raise SpecError(
            f"parameter '{name}' is pooled across families, which needs a Normal or LogNormal prior with fixed mu "
            f"and sigma (its population centre), got {prior.distribution}({prior.parameters}); give such a prior "
            f"or {option('pooling', {name: 'shared'})}"
        )
    return prior.distribution == "LogNormal"


def spread_prior(mean: float) -> dict:
    r"""The prior of a population spread: :math:`\text{Gamma}(2, \text{rate} = 2/\text{mean})`,
    zero-avoiding (Chung et al. 2013). With a handful of families the spread is barely
    identified; a prior with mass at zero (half-normal) lets NUTS into the neck of the funnel
    it forms with the offsets: on 3 synthetic families of 12, 12 and 4 configurations, beta's
    spread had an ESS of 17 of 2000 draws and R-hat 1.16 (centring the families with many runs
    gave 30-40 divergences instead). Its density vanishes linearly at zero: the posterior still
    allows a spread far below the mean when the families agree, not an exactly common value
    (``pooling={name: "shared"}`` says that)."""
    return {"alpha": 2.0, "beta": 2.0 / mean}


def add_family_parameters(names, priors: Mapping, modes: Mapping, spreads: Mapping) -> dict:
    """Create the parameters ``names`` in the current PyMC model (coords ``family``): per
    family a (family,) tensor named after the parameter (deterministic when pooled), shared a
    scalar. ``modes`` maps names to a mode (missing: shared); ``spreads`` the pooled ones' spread
    (the mean of its Gamma(2) prior; see :func:`spread_prior`)."""
    import pymc as pm
    import pytensor.tensor as pt
    from pymc_extras.prior import Prior

    out = {}
    for name in names:
        prior, mode = priors[name], modes.get(name, "shared")
        if mode == "shared":
            out[name] = prior.create_variable(name)
        elif mode == "free":
            out[name] = Prior(prior.distribution, dims=(FAMILY_DIM,), **prior.parameters).create_variable(name)
        else:
            positive = _poolable(name, prior)
            n = len(pm.modelcontext(None).coords[FAMILY_DIM])
            mu, sigma = prior.parameters["mu"], prior.parameters["sigma"]
            spread = pm.Gamma(name + SPREAD, **spread_prior(spreads[name]))
            loc = pm.Normal(name + LOC, mu=mu, sigma=pt.sqrt(sigma**2 + spread**2 / n))
            if n > 1:
                value = loc + spread * pm.ZeroSumNormal(name + OFFSET, sigma=1.0, dims=FAMILY_DIM)
            else:
                value = pt.stack([loc])
            out[name] = pm.Deterministic(name, pt.exp(value) if positive else value, dims=FAMILY_DIM)
    return out


def per_family(values: Mapping) -> dict:
    """Deterministics (dims family, or scalar) of derived values such as the reported A, B."""
    import pymc as pm

    return {
        name: pm.Deterministic(name, value, dims=FAMILY_DIM if value.ndim == 1 else None)
        for name, value in values.items()
    }


def new_family_values(posterior, name: str, prior, n_families: int, rng: np.random.Generator) -> np.ndarray:
    r"""Draws of a pooled parameter for a family not in the data, flat (n_draws,): at each
    posterior draw the population centre :math:`\mu` from its conditional given the families'
    mean :math:`\bar v` and spread :math:`s` (Gaussian, precision :math:`1/\sigma_0^2 + n/s^2`,
    mean :math:`(\mu_0/\sigma_0^2 + n\bar v/s^2)` over that precision), then
    :math:`g^{-1}(\mu + s\,e_{new})`. ``prior``: the parameter's resolved prior."""
    mean = np.asarray(posterior[name + LOC].values, dtype=float).reshape(-1)
    spread = np.asarray(posterior[name + SPREAD].values, dtype=float).reshape(-1)
    mu0, sigma0 = prior.parameters["mu"], prior.parameters["sigma"]
    precision = 1 / sigma0**2 + n_families / spread**2
    centre = (mu0 / sigma0**2 + n_families * mean / spread**2) / precision
    mu = centre + rng.standard_normal(mean.size) / np.sqrt(precision)
    value = mu + spread * rng.standard_normal(mean.size)
    return np.exp(value) if prior.distribution == "LogNormal" else value
