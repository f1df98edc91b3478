"""The fitted result and what it answers: :func:`fit` (spec -> draws -> :class:`ScalingFit`),
forecasts shared with mixtures (:mod:`.predictive`), saved files (:mod:`.files`, :func:`load`)
and the loss -> downstream-error link (:mod:`.downstream`)."""

from .families import FamilyFit
from .fitting import fit, sample_prior
from .loading import load
from .predictive import Forecast, Predictive
from .result import ScalingFit

__all__ = ["FamilyFit", "Forecast", "Predictive", "ScalingFit", "fit", "load", "sample_prior"]
