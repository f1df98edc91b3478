r"""Noise models: how observed log losses scatter around the law.

- :mod:`.model`: the noise model shared by every likelihood (seed noise :math:`\sigma(N)`, the
  configuration discrepancy :math:`\tau` integrated out, the within-configuration term, the
  sampler's parameterisation) and the functions the rest of the package calls;
- :mod:`.options`: :class:`NoiseOptions` (which terms a model has) and the shared default priors;
- :mod:`.registry`: the :class:`Likelihood` component and its registry, which answers every
  "which likelihood" question; one file per built-in likelihood: :mod:`.normal`,
  :mod:`.student_t` (the default), :mod:`.outlier_mixture`;
- :mod:`.extrapolation`: the drift of forecasts beyond the fitted range.

Adding a likelihood is one new file that builds a :class:`Likelihood` and calls
:func:`register_likelihood`.
"""

from . import normal, outlier_mixture, student_t  # noqa: F401 (registers the built-in likelihoods)
from .extrapolation import (
    DEFAULT_ALLOCATION_SD,
    DEFAULT_EXTRAPOLATION_SD,
    allocation_shift,
    allocation_u,
    compute_distance,
    extrapolation_distance,
    extrapolation_z,
)
from .model import (
    add_likelihood,
    config_mean_variance,
    config_sd,
    gamma_logpdf,
    new_run_noise,
    new_run_sd,
    outlier_probability,
    pointwise_log_likelihood,
    reported_noise,
)
from .normal import normal_logpdf
from .options import NoiseOptions, default_noise_priors
from .registry import (
    DEFAULT_LIKELIHOOD,
    Likelihood,
    _freeze_builtins,
    available_likelihoods,
    get_likelihood,
    is_builtin,
    register_likelihood,
    unregister_likelihood,
)
from .student_t import student_t_logpdf

_freeze_builtins()

__all__ = [
    "DEFAULT_ALLOCATION_SD",
    "DEFAULT_EXTRAPOLATION_SD",
    "DEFAULT_LIKELIHOOD",
    "Likelihood",
    "NoiseOptions",
    "add_likelihood",
    "allocation_shift",
    "allocation_u",
    "available_likelihoods",
    "config_mean_variance",
    "config_sd",
    "compute_distance",
    "default_noise_priors",
    "extrapolation_distance",
    "extrapolation_z",
    "gamma_logpdf",
    "get_likelihood",
    "is_builtin",
    "new_run_noise",
    "new_run_sd",
    "normal_logpdf",
    "outlier_probability",
    "pointwise_log_likelihood",
    "register_likelihood",
    "reported_noise",
    "student_t_logpdf",
    "unregister_likelihood",
]
