"""The fitted result and what it answers: :func:`fit` (spec -> draws -> :class:`ScalingFit`),
forecasts shared with mixtures (:mod:`.predictive`), saved files (:mod:`.files`, :func:`load`)
and the loss -> downstream-error link (:mod:`.downstream`)."""

from .fitting import fit, sample_prior
from .predictive import Forecast, Predictive
from .result import ScalingFit, load

__all__ = ["Forecast", "Predictive", "ScalingFit", "fit", "load", "sample_prior"]
