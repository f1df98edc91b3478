"""Observations -> runs -> configurations: the validated runs table (:mod:`.runs`), its
plausibility checks (:mod:`.plausibility`) and synthetic runs from published laws
(:mod:`.synthetic`)."""

from . import synthetic
from .runs import Runs

__all__ = ["Runs", "synthetic"]
