r"""Scaling laws: pure maths on numpy and pytensor (:mod:`.maths`), the registry that answers
"which law" (:mod:`.registry`), one module per family of built-in laws, and the Approach-3 point
fit (:mod:`.point_fit`) that data checks and reference sizes need. No PyMC at import.

The maths functions are re-exported here (``bayes_scaling.laws.chinchilla_loss`` ...).
"""

from . import (  # noqa: F401 (registers the built-in laws)
    chinchilla,
    data_constrained,
    data_utility,
    encoder_decoder,
    farseer,
    isoflop_profile,
    kaplan,
    overtrain,
    parallel,
    single_axis,
    sparse,
)
from .maths import *  # noqa: F403
from .maths import __all__ as _maths_all
from .registry import (
    DEFAULT_LAW,
    DataScale,
    Law,
    _freeze_builtins,
    available_laws,
    define_law,
    get_law,
    is_builtin,
    is_registered,
    register_law,
)

CHINCHILLA = chinchilla.CHINCHILLA
_freeze_builtins()

__all__ = [
    *_maths_all,
    "CHINCHILLA",
    "DEFAULT_LAW",
    "DataScale",
    "Law",
    "available_laws",
    "define_law",
    "get_law",
    "is_builtin",
    "is_registered",
    "register_law",
]
