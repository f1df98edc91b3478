"""Spec -> PyMC model -> NUTS draws: the model spec (:mod:`.model`), the sampler
(:mod:`.sampling`), diagnostics, PSIS-LOO, the mode search for multimodal laws, and the private,
switchable compile caches (:mod:`._compile`). Imports PyMC only when a model is built."""
