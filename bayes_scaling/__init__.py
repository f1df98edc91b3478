"""bayes_scaling: calibrated Bayesian forecasts from neural scaling-law runs.

Fit a scaling law such as Chinchilla's :math:`L(N, D) = E + A N^{-\\alpha} + B D^{-\\beta}` to a
table of small training runs with NUTS, then ask the posterior for loss forecasts at much larger
scale and for the compute-optimal allocation N*(C), D*(C), each as a distribution.
"""

from importlib.metadata import PackageNotFoundError, version

from .data import synthetic
from .data.curves import Curves
from .data.runs import Runs
from .errors import (
    CompileCacheWarning,
    DiagnosticsWarning,
    ExtrapolationWarning,
    FileExistsNoOverwriteError,
    FitFileNotFoundError,
    ForeignFileError,
    FormatVersionError,
    IdentityError,
    IncompatibleFileError,
    RunsValidationError,
    RunsWarning,
    SamplingError,
    SamplingWarning,
    SpecError,
    UnconvergedFitError,
)
from .evaluation import (
    Backtest,
    ComputeCutoff,
    DriftCalibration,
    LargestSizes,
    NewFamily,
    StackedFit,
    backtest,
    calibrate_drift,
    compare,
    sbc,
    stack,
)
from .forecast import CurveFit, FamilyFit, Forecast, ScalingFit, fit, load, sample_prior
from .laws import Law, available_laws, define_law, get_law, register_law, schedules

try:
    __version__ = version("bayes_scaling")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"


def __getattr__(name):
    # ScalingModel pulls in pymc_extras (and PyMC); import it only when asked for.
    if name == "ScalingModel":
        from .inference.model import ScalingModel

        return ScalingModel
    if name == "write_report":  # the report pulls in matplotlib: import it when asked for
        from .viz.report import write_report

        return write_report
    raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")


__all__ = [
    "Backtest",
    "Curves",
    "CurveFit",
    "schedules",
    "CompileCacheWarning",
    "ComputeCutoff",
    "DiagnosticsWarning",
    "DriftCalibration",
    "ExtrapolationWarning",
    "RunsWarning",
    "FileExistsNoOverwriteError",
    "FitFileNotFoundError",
    "Forecast",
    "ForeignFileError",
    "FormatVersionError",
    "IdentityError",
    "IncompatibleFileError",
    "LargestSizes",
    "NewFamily",
    "Law",
    "Runs",
    "RunsValidationError",
    "SamplingError",
    "SamplingWarning",
    "FamilyFit",
    "ScalingFit",
    "ScalingModel",
    "SpecError",
    "UnconvergedFitError",
    "__version__",
    "available_laws",
    "backtest",
    "calibrate_drift",
    "compare",
    "fit",
    "get_law",
    "define_law",
    "load",
    "register_law",
    "sample_prior",
    "sbc",
    "stack",
    "StackedFit",
    "synthetic",
    "write_report",
]
