"""``load(path)``: a saved fit, of one family (:class:`ScalingFit`) or of several (:class:`FamilyFit`)."""

from __future__ import annotations

from . import files
from .families import FamilyFit
from .result import ScalingFit


def load(path) -> ScalingFit | FamilyFit:
    """Load a saved fit (see :func:`bayes_scaling.forecast.files.read` for the checks and the
    errors). No PyMC compilation or sampling happens. A fit over several families loads as a
    :class:`~bayes_scaling.forecast.families.FamilyFit`."""
    tree, spec, scale, k = files.read(path)
    result_type = FamilyFit if "families" in spec else ScalingFit
    return result_type(tree, spec_dict=spec, scale=scale, flops_per_param_token=k)
