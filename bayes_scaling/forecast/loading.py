"""``load(path)``: a saved fit, of one family (:class:`ScalingFit`) or of several (:class:`FamilyFit`)."""

from __future__ import annotations

from . import files
from .curves import CurveFit
from .families import FamilyFit
from .result import ScalingFit


def load(path) -> ScalingFit | FamilyFit | CurveFit:
    """Load a saved fit (see :func:`bayes_scaling.forecast.files.read` for the checks and the
    errors). No PyMC compilation or sampling happens. A fit over several families loads as a
    :class:`~bayes_scaling.forecast.families.FamilyFit`, a fit of training curves as a
    :class:`~bayes_scaling.forecast.curves.CurveFit`."""
    tree, spec, scale, k = files.read(path)
    if spec.get("curves"):
        return CurveFit.from_tree(tree, spec, scale)
    result_type = FamilyFit if "families" in spec else ScalingFit
    return result_type(tree, spec_dict=spec, scale=scale, flops_per_param_token=k)
