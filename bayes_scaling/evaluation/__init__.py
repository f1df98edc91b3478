"""How honest are the intervals? Proper scores, holdout rules, backtests against point-fit
baselines, allocation scores, model comparison, LOO stacking and SBC."""

from .backtesting import Backtest, backtest
from .comparison import compare
from .holdout import ComputeCutoff, LargestSizes
from .simulation import sbc
from .stacking import StackedFit, stack

__all__ = ["Backtest", "ComputeCutoff", "LargestSizes", "StackedFit", "backtest", "compare", "sbc", "stack"]
