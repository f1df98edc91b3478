"""Private compile caches: PyTensor graphs rewritten once and kept on disk (:mod:`.graph_cache`)
and nutpie's callbacks loaded from numba's cache (:mod:`.nutpie_sampler`). They rely on private
internals of nutpie, numba and PyTensor; nothing outside :mod:`bayes_scaling.inference` uses
them."""
