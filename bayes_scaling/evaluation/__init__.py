"""How honest are the intervals? Proper scores, holdout rules, backtests against point-fit
baselines, allocation scores, the data's own drift, model comparison, LOO stacking and SBC."""

from .backtesting import Backtest, backtest
from .comparison import compare
from .drift import DriftCalibration, calibrate_drift
from .holdout import ComputeCutoff, LargestSizes, NewFamily
from .simulation import sbc
from .stacking import StackedFit, stack

__all__ = [
    "Backtest",
    "ComputeCutoff",
    "DriftCalibration",
    "LargestSizes",
    "NewFamily",
    "StackedFit",
    "backtest",
    "calibrate_drift",
    "compare",
    "sbc",
    "stack",
]
