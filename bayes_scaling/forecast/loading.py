"""``load(path)``: a saved fit, of one family (:class:`ScalingFit`) or of several (:class:`FamilyFit`)."""

from __future__ import annotations

from .. import _constants as K
from ..errors import FormatVersionError
from ..laws.registry import get_law
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
    tree = _upgrade(tree, spec, path)
    result_type = FamilyFit if "families" in spec else ScalingFit
    return result_type(tree, spec_dict=spec, scale=scale, flops_per_param_token=k)


def _upgrade(tree, spec, path):
    """A fit whose law has since changed what it samples (:attr:`Law.earlier
    <bayes_scaling.laws.registry.Law>`), with its draws in today's parameters: the same law, so
    the draws map one to one and every answer is unchanged. The ``prior`` and ``log_prior`` groups
    (draws and densities of the earlier priors) are dropped: the prior-data conflict check needs
    today's, so such a fit is not judged on it. A fit over families or with priors on the earlier
    parameters is refused by name (its population terms do not map)."""
    law = get_law(spec["law"])
    if law.earlier is None or "posterior" not in tree:
        return tree
    names, convert = law.earlier
    posterior = tree["posterior"].to_dataset()
    if not set(names) <= set(posterior.data_vars) or set(law.parameters) <= set(posterior.data_vars):
        return tree
    earlier_only = [name for name in names if name not in law.parameters]
    if "families" in spec or set(spec.get("priors") or {}) & set(earlier_only):
        raise FormatVersionError(
            f"'{path}' was fitted with law '{law.name}' when it sampled {list(names)}; a fit over families, or "
            f"one with priors on {earlier_only}, cannot be converted to what it samples now ({list(law.parameters)}): "
            "refit it with this version (its runs are kept in the file's 'runs' group)"
        )
    gone = [name for name in earlier_only if name not in law.reported]  # (reported values stay)
    posterior = posterior.drop_vars(gone).assign(convert({name: posterior[name] for name in names}))
    tree = tree.drop_nodes([group for group in ("prior", "log_prior") if group in tree])
    tree["posterior"] = posterior
    tree.attrs[K.CONVERTED_ATTRIBUTE] = f"draws of {list(names)} converted on load to {list(law.parameters)}"
    return tree
