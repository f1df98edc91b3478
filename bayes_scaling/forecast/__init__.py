"""The fitted result and what it answers: :func:`fit` (spec -> draws -> :class:`ScalingFit`),
forecasts shared with mixtures (:mod:`.predictive`), saved files (:mod:`.files`, :func:`load`)
the loss -> downstream-error link (:mod:`.downstream`), and fits of whole training curves
(:mod:`.curves`)."""

from .curves import CurveFit, CurveForecast
from .families import FamilyFit
from .fitting import fit, sample_prior
from .loading import load
from .predictive import Forecast, Predictive
from .result import ScalingFit

__all__ = [
    "CurveFit",
    "CurveForecast",
    "FamilyFit",
    "Forecast",
    "Predictive",
    "ScalingFit",
    "fit",
    "load",
    "sample_prior",
]
