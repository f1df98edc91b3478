"""``python -m bayes_scaling.cli``: the same as the installed ``bayes-scaling`` script."""

from .main import run

run()
