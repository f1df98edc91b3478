"""The ``bayes-scaling`` command: fit, predict, optimal, plan, summary, report, plot, backtest, demo.

``bayes-scaling`` (installed script) and ``python -m bayes_scaling.cli`` both run :func:`run`.
"""

from .main import main, run
from .parser import build_parser

__all__ = ["build_parser", "main", "run"]
