"""Which noise terms a model has (:class:`NoiseOptions`) and the default priors of the shared ones.

The shared terms are the seed noise and the configuration discrepancy (:mod:`.model`); the
distribution of the configuration means is a registered likelihood (:mod:`.registry`), which adds
its own parameters and priors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError, option
from .registry import DEFAULT_LIKELIHOOD, Likelihood, get_likelihood

#: Symbols (LaTeX) and meanings of the shared noise parameters, sampled and reported.
SHARED_SYMBOLS = {
    "sigma_ref": r"\sigma_r",
    "gamma": r"\gamma",
    "tau": r"\tau",
    "noise_sd": "s",
    "tau_share": "f",
}
SHARED_MEANINGS = {
    "sigma_ref": "seed-noise sd of log loss at N_noise",
    "gamma": "how fast the seed noise shrinks with N: σ(N) = σ_r (N/N_noise)^−γ",
    "tau": "sd of the configuration discrepancy δ (the law's own misfit)",
    "noise_sd": "sd of one run's log loss around the law at N_noise, √(τ² + σ_r²)",
    "tau_share": "share of that variance due to the configuration discrepancy, τ²/s²",
}


@dataclass(frozen=True)
class NoiseOptions:
    r"""Which noise terms the model has.

    Parameters
    ----------
    heteroscedastic : bool
        Seed-noise sd varies with N as :math:`\sigma_r (N/N_r)^{-\gamma}` (else constant
        :math:`\sigma_r`).
    discrepancy : bool
        A per-configuration discrepancy :math:`\delta_j` with scale :math:`\tau`.
    likelihood : str
        Name of a registered likelihood of the configuration means (:func:`~bayes_scaling.noise.available_likelihoods`);
        ``DEFAULT_LIKELIHOOD`` ("student_t") unless given.
    extrapolation_sd : float
        :math:`\kappa`, log-loss sd of the drift one decade beyond the fitted range (grows as the
        square root of the distance; forecasts only; 0 switches it off).
    allocation_sd : float
        :math:`\lambda`, sd of the drift of log10 N* per decade of compute beyond the fitted range
        (moves each IsoFLOP profile along its line; forecasts only; 0 switches it off).
    extrapolation_mean : float
        :math:`m`, the expected drift of log loss per square-root decade beyond the fitted range:
        0 unless :func:`bayes_scaling.calibrate_drift` found the runs above an internal cutoff
        missing the law in one direction (forecasts only).
    """

    heteroscedastic: bool = True
    discrepancy: bool = True
    likelihood: str = DEFAULT_LIKELIHOOD
    extrapolation_sd: float = 0.0
    allocation_sd: float = 0.0
    extrapolation_mean: float = 0.0

    def __post_init__(self):
        get_likelihood(self.likelihood)  # a SpecError lists the registered names
        value = self.extrapolation_sd
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise SpecError(
                f"the extrapolation drift must be a number in [0, 1) (log loss per decade), e.g. "
                f"{option('extrapolation_sd', 0.025)}; got {value!r}"
            )
        value = self.allocation_sd
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise SpecError(
                f"the allocation drift must be a number in [0, 1) (decades of N* per decade of compute), e.g. "
                f"{option('allocation_sd', 0.06)}; got {value!r}"
            )
        value = self.extrapolation_mean
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1:
            raise SpecError(f"the expected drift must be a number in (-1, 1) (log loss per root decade); got {value!r}")

    @property
    def likelihood_component(self) -> Likelihood:
        """The registered :class:`~bayes_scaling.noise.registry.Likelihood` called ``likelihood``."""
        return get_likelihood(self.likelihood)

    def symbol(self, name: str) -> str:
        """The LaTeX symbol of a noise parameter ("" for a name the noise model does not have)."""
        return {**SHARED_SYMBOLS, **self.likelihood_component.symbols}.get(name, "")

    def meaning(self, name: str) -> str:
        """One line in words saying what a noise parameter is ("" for a name it does not have)."""
        return {**SHARED_MEANINGS, **self.likelihood_component.meanings}.get(name, "")

    @property
    def shared_parameters(self) -> tuple[str, ...]:
        """Sampled parameters of the seed noise and discrepancy (the likelihood's come after)."""
        names = ["noise_sd", "tau_share"] if self.discrepancy else ["sigma_ref"]
        if self.heteroscedastic:
            names.append("gamma")
        return tuple(names)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Sampled noise parameters: the shared ones, then the likelihood's."""
        return (*self.shared_parameters, *self.likelihood_component.parameters)

    @property
    def reported(self) -> tuple[str, ...]:
        """Noise parameters as reported: seed sd at the reference, its slope, discrepancy, the likelihood's."""
        names = ["sigma_ref"]
        if self.heteroscedastic:
            names.append("gamma")
        if self.discrepancy:
            names.append("tau")
        return (*names, *self.likelihood_component.parameters)

    def describe(self) -> str:
        """The whole noise model in one line, for summaries and the report.

        Examples
        --------
        >>> NoiseOptions(heteroscedastic=False, discrepancy=False, likelihood="normal").describe()
        'constant seed noise; no configuration discrepancy; Gaussian tails: the exact marginal likelihood, sensitive to an outlying configuration'
        """
        seed = "seed noise shrinking with N (heteroscedastic)" if self.heteroscedastic else "constant seed noise"
        delta = "a configuration discrepancy" if self.discrepancy else "no configuration discrepancy"
        return f"{seed}; {delta}; {self.likelihood_component.description}"


def default_noise_priors(options: NoiseOptions) -> dict:
    """Weakly informative priors on the noise of log loss (relative noise, since y = log L).

    noise_sd: sd of a one-seed run around the law at the reference size, 95% in ~[0.0014, 0.07]
    (0.14%-7% of the loss); tau_share: Beta(2, 2), the discrepancy's share of that variance;
    sigma_ref (without discrepancy): the same prior as noise_sd;
    gamma: how fast the seed sd shrinks with N, centred on no change, 95% in [-1, 1];
    then the likelihood's own (its ``default_priors``; e.g. nu ~ Gamma(2, 0.1) for Student-t).
    """
    from pymc_extras.prior import Prior

    scale = Prior("LogNormal", mu=float(np.log(0.01)), sigma=1.0)
    priors = (
        {"noise_sd": scale, "tau_share": Prior("Beta", alpha=2.0, beta=2.0)}
        if options.discrepancy
        else {"sigma_ref": scale}
    )
    if options.heteroscedastic:
        priors["gamma"] = Prior("Normal", mu=0.0, sigma=0.5)
    return {**priors, **options.likelihood_component.default_priors()}
