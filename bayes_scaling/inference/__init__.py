"""Spec -> PyMC model -> NUTS draws: the model spec (:mod:`.model`), the sampler
(:mod:`.sampling`), diagnostics, PSIS-LOO, the mode search for multimodal laws, and the private,
switchable compile caches (:mod:`._compile`). Imports PyMC only when a model is built.

``compile_cache(False)`` (or ``BAYES_SCALING_COMPILE_CACHE=0``) switches the compile caches off:
fits then compile the ordinary way, through ``pm.sample(nuts_sampler="nutpie")``."""

from ._compile import compile_cache, compile_cache_enabled

__all__ = ["compile_cache", "compile_cache_enabled"]
