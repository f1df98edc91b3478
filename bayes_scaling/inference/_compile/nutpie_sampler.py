"""nutpie with compiled code that numba caches across processes and across data sets.

nutpie compiles a PyMC model in two steps. PyTensor turns the log density with its gradient,
and the values stored per draw, into numba functions, which it caches on disk under a hash of
the graph. nutpie then wraps each in a numba C callback for nuts-rs to call. Those wrappers
close over the data and over random names, so numba compiled them afresh in every process:
about 5 s of a 13 s ``bayes-scaling fit`` on 240 runs. And the graph holds the observed losses
and the data-scaled prior and reference values as constants, so every new data set missed
PyTensor's cache too.

Here:

- each callback is generated as source whose only model-specific parts are the number of
  unconstrained values and the layout of the data arrays; the data reach it through nutpie's
  user-data pointer (a ``uint64`` array of each array's address and shape). It is registered
  with PyTensor's numba cache locator under a key hashed from its source and the model's key
  (:func:`_model_key`: the lifted log density and stored-value graphs, the layout, settings,
  versions and this package's compiling code);
- before compiling, :func:`~bayes_scaling.inference._compile.graph_cache.lift_constants` turns the graph's
  data-like constants into shared variables with the same values, which travel with the
  data. A model of the same structure (law, noise model, replicate seeds or not) fitted to
  other data, of any size, then has the same key and reuses all the compiled code;
- a later process finds both callbacks in numba's cache under that key and loads them (0.2 s)
  without building, rewriting or linking the PyTensor functions they call (numba linked those
  into the callbacks' code); which shared values each callback takes, in order, is kept in a
  small record beside :mod:`~bayes_scaling.inference._compile.graph_cache`'s entries. On a miss the functions
  are compiled through :mod:`~bayes_scaling.inference._compile.graph_cache` (rewritten graphs cached too).

The rest follows nutpie: the same flat layout of the unconstrained values, rewrites, initial
points, ``CompiledPyMCModel`` and ``nutpie.sample``, and PyMC's ``patch_nutpie_idata`` for the
groups ``pm.sample`` adds. The log density and gradient equal those of
``nutpie.compile_pymc_model`` (tested); the draws differ from ``pm.sample``'s in the last bits,
because the lifted values are no longer folded into the code, and then altogether, as chaotic
NUTS trajectories do. A model PyTensor cannot cache (or ``numba__cache`` off) goes through
``nutpie.compile_pymc_model`` unchanged.

It is used only through :func:`bayes_scaling.inference._compile.attempt`: with the cache
switched off, a version outside ``SUPPORTED_VERSIONS``, or any failure in :func:`compile_model`
(an internal of nutpie, numba or PyTensor that moved), ``run_nuts`` calls
``pm.sample(nuts_sampler="nutpie")`` with the same settings instead.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from hashlib import sha256

import numpy as np

__all__ = ["compile_model", "sample"]

_SIGNATURES = {
    "logp": "int64(uint64, CPointer(float64), CPointer(float64), CPointer(float64), voidptr)",
    "expand": "int64(uint64, uint64, CPointer(float64), CPointer(float64), voidptr)",
}

# Plain loops over the values: numba compiles them in a fraction of the time that array
# assignment and np.all(np.isfinite(...)) take (a fresh logp callback: 2.9 -> 0.9 s).
_LOGP_BODY = """
    out = carray(out_, ({n_dim},))
    logp = carray(logp_, ())
    try:
        logp_array, grad = inner(*args)  # PyTensor returns the scalar as a 0-d array
        logp_val = logp_array[()]
        finite = True
        for i in range({n_dim}):
            out[i] = grad[i]
            finite = finite and isfinite(grad[i])
        logp[()] = logp_val
        if not finite:
            return 3
        if not isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""

_EXPAND_BODY = """
    if expanded != {n_expanded}:
        return -1
    out = carray(out_, ({n_expanded},))
    try:
        (values,) = inner(*args)
        for i in range({n_expanded}):
            out[i] = values[i]
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""


def _user_data(shared: dict) -> tuple[np.ndarray, dict]:
    """nutpie's user data for the callbacks: for each shared array, its address then its shape,
    as ``uint64``; and where each array's entry starts."""
    meta, at = [], {}
    for var, array in shared.items():
        at[var] = len(meta)
        meta += [array.ctypes.data, *array.shape]
    return np.array(meta or [0], dtype=np.uint64), at


def _callback_source(kind: str, n_dim: int, n_expanded: int, arrays: list, at: list[int], n_meta: int) -> str:
    """Source of nutpie's C callback ``kind`` ("logp" or "expand") calling ``inner(x, *arrays)``;
    ``at`` gives where each array's address and shape sit in the user data."""
    unpack, args = [], ["x"]
    for i, (array, start) in enumerate(zip(arrays, at, strict=True)):
        shape = "".join(f"meta[{start + 1 + k}], " for k in range(array.ndim))
        unpack.append(f"    s{i} = carray(as_pointer(meta[{start}]), ({shape}), {array.dtype.name})")
        args.append(f"s{i}")
    head = (
        f"def {kind}_callback(dim, {'expanded, ' if kind == 'expand' else ''}x_, out_, "
        f"{'logp_, ' if kind == 'logp' else ''}user_data_):\n"
        f"    if dim != {n_dim}:\n        return -1\n"
        f"    meta = carray(user_data_, ({n_meta},), uint64)\n"
        + "".join(line + "\n" for line in unpack)
        + f"    x = carray(x_, ({n_dim},))"
    )
    # The arguments as a sum of tuple displays of at most 20: Python compiles a longer call or
    # display through LIST_TO_TUPLE, which numba cannot compile.
    chunks = [args[i : i + 20] for i in range(0, len(args), 20)]
    pack = "\n    args = " + " + ".join("(" + "".join(f"{a}, " for a in chunk) + ")" for chunk in chunks)
    body = (_LOGP_BODY if kind == "logp" else _EXPAND_BODY).format(n_dim=n_dim, n_expanded=n_expanded)
    return head + pack + body


def _callback_env(arrays, inner) -> dict:
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    return {
        # numba rebuilds a cached function's environment by importing its module
        "__name__": __name__,
        "carray": numba.carray,
        "as_pointer": address_as_void_pointer,
        "inner": inner,
        "isfinite": math.isfinite,
        "uint64": np.uint64,
        **{a.dtype.name: a.dtype.type for a in arrays},
    }


def _versions() -> str:
    import numba
    import nutpie
    import pymc
    import pytensor

    return (
        f"numba {numba.__version__}, nutpie {nutpie.__version__}, pytensor {pytensor.__version__}, "
        f"pymc {pymc.__version__}, numpy {np.__version__}, python {sys.version}"
    )


def _callback_key(src: str, compiled_key: str) -> str:
    """numba cache key of a callback: its source, what it calls (``compiled_key``) and the
    library versions."""
    return "bayes_scaling_" + sha256(f"{src}\n{compiled_key}\n{_versions()}".encode()).hexdigest()


def _compile_callback(kind: str, src: str, key: str, arrays: list, inner):
    """The C callback from ``src`` calling ``inner``: from numba's cache, or compiled and cached."""
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    callback = compile_numba_function_src(
        src, f"{kind}_callback", global_env=_callback_env(arrays, inner), cache_key=key
    )
    return numba.cfunc(_SIGNATURES[kind], cache=True)(callback)


def _load_callback(kind: str, src: str, key: str, arrays: list):
    """The C callback from ``src`` if numba's cache has it, else None; never compiles.

    What ``numba.cfunc(..., cache=True)`` does on a cache hit. The cached code holds the
    PyTensor function it calls (numba links callees into the caller's library), so that
    function is neither built nor linked here: ``inner`` is left unbound.
    """
    from numba.core import sigutils
    from numba.core.ccallback import CFunc
    from numba.core.compiler_lock import global_compiler_lock
    from pytensor.link.numba.cache import compile_numba_function_src

    callback = compile_numba_function_src(
        src, f"{kind}_callback", global_env=_callback_env(arrays, None), cache_key=key
    )
    try:
        cfunc = CFunc(callback, sigutils.normalize_signature(_SIGNATURES[kind]), locals={}, options={})
        cfunc.enable_caching()
        with global_compiler_lock:
            result = cfunc._cache.load_overload(cfunc._sig, cfunc._targetdescr.target_context)
            if result is None:
                return None
            cfunc._cache_hits += 1
            cfunc._library = result.library
            cfunc._wrapper_name = result.fndesc.llvm_cfunc_wrapper_name
            cfunc._wrapper_address = cfunc._library.get_pointer_to_function(cfunc._wrapper_name)
    except AttributeError:  # numba's internals moved: _compile.attempt falls back and warns
        raise
    except Exception:  # noqa: BLE001 (an unreadable entry: compile)
        return None
    return cfunc


@dataclass(frozen=True)
class _Layout:
    """nutpie's flat layout: the unconstrained values, then the other stored values."""

    value_vars: list
    names: list
    slices: list
    shapes: list
    remaining: list  # stored variables that are not free values (deterministics, constrained values)
    shape_info: tuple  # (names, slices, shapes) of everything stored
    reparameterized: list

    @property
    def n_dim(self) -> int:
        return self.slices[-1].stop if self.slices else 0

    @property
    def n_expanded(self) -> int:
        return self.shape_info[1][-1].stop if self.shape_info[1] else 0


def _layout(model) -> _Layout:
    """As nutpie's ``_make_functions`` lays the values out."""
    from nutpie.compile_pymc import _compute_shapes

    shapes = _compute_shapes(model)
    value_vars = [model.rvs_to_values[var] for var in model.free_RVs]
    names, slices, var_shapes, count = [], [], [], 0
    for value_var in value_vars:
        shape = shapes[value_var.name]
        names.append(value_var.name)
        var_shapes.append(shape)
        slices.append(slice(count, count + math.prod(shape)))
        count += math.prod(shape)
    remaining = [var for var in model.unobserved_value_vars if var.name not in names]
    all_names, all_slices, all_shapes = list(names), list(slices), list(var_shapes)
    for var in remaining:
        all_names.append(var.name)
        all_shapes.append(tuple(shapes[var.name]))
        all_slices.append(slice(count, count + math.prod(all_shapes[-1])))
        count += math.prod(all_shapes[-1])
    reparameterized = [
        model.rvs_to_values[rv].name for rv in model.free_RVs if model.rvs_to_transforms.get(rv) is not None
    ]
    return _Layout(
        value_vars, names, slices, var_shapes, remaining, (all_names, all_slices, all_shapes), reparameterized
    )


def _lifted_graphs(model, layout: _Layout):
    """The log density (of the value variables) and the stored values (of the flat point), with
    :func:`graph_cache.lift_constants` applied and no rewrite yet."""
    import pytensor.tensor as pt

    from . import graph_cache

    joined = pt.TensorType("float64", shape=(layout.n_dim,))(name="_unconstrained_point")
    free = [joined[s] for s in layout.slices]
    (logp,) = graph_cache.lift_constants([model.logp()])
    stored = pt.concatenate(
        [
            *(v.ravel() for v in free),
            *(pt.as_tensor(v, allow_xtensor_conversion=True).ravel() for v in layout.remaining),
        ]
    )
    (stored,) = graph_cache.lift_constants([stored])
    return joined, free, logp, stored


def _model_key(model, layout: _Layout, logp, stored) -> str | None:
    """What the compiled log density and stored values depend on: the two lifted graphs (ops,
    constants, input types and names), the layout, the settings, the library versions and this
    package's compiling code. None if the graphs cannot be keyed."""
    from pathlib import Path

    import pytensor
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import graph_inputs

    from . import graph_cache

    # constants are keyed by value inside the digest; the other roots by position, type and name
    for graph in (logp, stored):  # the record names each function's shared values
        names = [var.name for var in graph_inputs([graph]) if not isinstance(var, Constant)]
        if None in names or len(set(names)) < len(names):
            return None
    inputs = [var for var in graph_inputs([logp, stored]) if not isinstance(var, Constant)]
    try:
        structure = graph_cache.structure_digest(inputs, [logp, stored])
    except graph_cache.Uncacheable:
        return None
    names = [(type(var).__name__, var.name) for var in inputs]  # their kinds and names, by position
    layout_text = repr(
        (
            layout.shape_info[0],
            [(s.start, s.stop) for s in layout.shape_info[1]],
            [tuple(s) for s in layout.shape_info[2]],
        )
    )
    settings = [
        (name, str(getattr(pytensor.config, name))) for name in (*graph_cache.REWRITE_SETTINGS, "numba__fastmath")
    ]
    code = b"".join(Path(module).read_bytes() for module in (__file__, graph_cache.__file__))
    digest = sha256(structure)
    for part in (repr(names), layout_text, repr(settings), str(model.check_bounds), _versions()):
        digest.update(b"\x1f" + part.encode())
    digest.update(code)
    return digest.hexdigest()


def _pytensor_functions(model, layout: _Layout, joined, free, logp, stored):
    """nutpie's ``_make_functions`` for the numba backend (same rewrites before the gradient,
    same layout) on the lifted graphs, compiled through :mod:`~bayes_scaling.inference._compile.graph_cache`."""
    import pytensor.tensor as pt
    from pytensor.graph import clone_replace, rewrite_graph

    from . import graph_cache

    rewrites = ["canonicalize", "stabilize"]
    if not model.check_bounds:
        rewrites.append("local_remove_check_parameter")
    # on a copy: in place (as nutpie does) it rewrote the model's own graph, shared with `stored`
    logp = rewrite_graph(logp, include=rewrites, clone=True)
    grad = pt.concatenate(
        [pt.as_tensor(g, allow_xtensor_conversion=True).ravel() for g in pt.grad(logp, layout.value_vars)]
    )
    replacements = {
        model.rvs_to_values[rv]: value.reshape(shape).astype(rv.dtype)
        for rv, shape, value in zip(model.free_RVs, layout.shapes, free, strict=True)
    }
    logp, grad = clone_replace([logp, grad], replacements)
    logp_fn = graph_cache.function((joined,), (logp, grad), mode="NUMBA", check_bounds=model.check_bounds)
    expand_fn = graph_cache.function(
        (joined,), [stored], givens=list(replacements.items()), mode="NUMBA", check_bounds=model.check_bounds
    )
    return logp_fn, expand_fn


def _shared_arrays(variables: dict) -> tuple[dict, np.ndarray, dict]:
    """Read-only C copies of each function's shared values (one per variable), nutpie's user
    data for them and where each sits in it."""
    shared = {}
    for var in [var for kind in ("logp", "expand") for var in variables[kind]]:
        if var not in shared:
            shared[var] = np.array(var.get_value(), order="C", copy=True)
            shared[var].flags.writeable = False
    user_data, at = _user_data(shared)
    return shared, user_data, at


def _callback_sources(layout: _Layout, variables: dict, shared: dict, at: dict, n_meta: int) -> dict:
    return {
        kind: _callback_source(
            kind,
            layout.n_dim,
            layout.n_expanded,
            [shared[var] for var in variables[kind]],
            [at[var] for var in variables[kind]],
            n_meta,
        )
        for kind in ("logp", "expand")
    }


def _from_cache(model_key: str, layout: _Layout, logp, stored):
    """Both callbacks loaded from numba's cache, with what they need, or None on any miss."""
    import json

    from pytensor.compile import SharedVariable
    from pytensor.graph.traversal import graph_inputs

    from . import graph_cache

    entry = graph_cache.read_entry(f"nutpie-{model_key}.json")
    if entry is None:
        return None
    variables, inner_keys = {}, {}
    try:
        record = json.loads(entry)
        for kind, graph in (("logp", logp), ("expand", stored)):
            named = {var.name: var for var in graph_inputs([graph]) if isinstance(var, SharedVariable)}
            variables[kind] = [named[name] for name in record[kind]["shared"]]
            inner_keys[kind] = str(record[kind]["inner"])
    except (ValueError, KeyError, TypeError):  # unreadable, or not this graph's: compile
        return None
    shared, user_data, at = _shared_arrays(variables)
    callbacks = {}
    for kind, src in _callback_sources(layout, variables, shared, at, len(user_data)).items():
        key = _callback_key(src, _compiled_key(model_key, variables[kind], inner_keys[kind]))
        callbacks[kind] = _load_callback(kind, src, key, [shared[v] for v in variables[kind]])
        if callbacks[kind] is None:
            return None
    return callbacks, shared, user_data, (None, None)


def _compiled_key(model_key: str | None, variables: list, inner_key: str) -> str:
    """What a callback calls: the model, the order of the shared values it passes (by name) and
    PyTensor's key of the function."""
    return f"{model_key}\n{[var.name for var in variables]}\n{inner_key}"


def _compiled(model_key: str | None, model, layout: _Layout, joined, free, logp, stored):
    """Both callbacks over freshly compiled PyTensor functions (from numba's cache where it has
    them), or None when PyTensor keeps no cache key for a function. Records, for
    :func:`_from_cache`, which shared values each function takes, in order."""
    import json

    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    from . import graph_cache

    logp_fn, expand_fn = _pytensor_functions(model, layout, joined, free, logp, stored)
    functions = {"logp": logp_fn, "expand": expand_fn}
    inner_keys = {}
    for kind, function in functions.items():
        py_func = getattr(function.vm.jit_fn, "py_func", None)
        inner_keys[kind] = None if py_func is None else CACHED_SRC_FUNCTIONS.get(py_func)
        if inner_keys[kind] is None:
            return None
    variables = {kind: list(function.get_shared()) for kind, function in functions.items()}
    shared, user_data, at = _shared_arrays(variables)
    callbacks = {}
    for kind, src in _callback_sources(layout, variables, shared, at, len(user_data)).items():
        key = _callback_key(src, _compiled_key(model_key, variables[kind], inner_keys[kind]))
        arrays = [shared[var] for var in variables[kind]]
        # a failure (e.g. an unreadable entry in numba's cache) reaches _compile.attempt, which
        # warns and has the fit compile the ordinary way
        callbacks[kind] = _compile_callback(kind, src, key, arrays, functions[kind].vm.jit_fn)
    record = {kind: {"shared": [var.name for var in variables[kind]], "inner": inner_keys[kind]} for kind in functions}
    if model_key is not None:  # _model_key made sure the shared values' names are unique
        try:
            graph_cache.write_entry(f"nutpie-{model_key}.json", json.dumps(record).encode())
        except OSError:  # a read-only or full disk: later processes compile again
            pass
    return callbacks, shared, user_data, (logp_fn, expand_fn)


def compile_model(model, *, initvals=None):
    """The nutpie ``CompiledModel`` of ``model`` (a ``pm.Model``), with cached C callbacks.

    ``initvals`` (``{name: value}``) start every chain there without jitter; otherwise the
    chains start at PyMC's support points jittered by +-1 on the unconstrained scale, as in
    ``pm.sample``. The data are bound at compile time (``with_data`` is not supported).

    When numba's cache holds both callbacks for this model's structure (keyed by
    :func:`_model_key`), they are loaded without building or linking the PyTensor functions,
    and ``logp_func`` and ``expand_func`` are None (nutpie does not use them).
    """
    import nutpie
    import pytensor
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
        _wrap_with_lock,
    )
    from pymc.backends.arviz import patch_nutpie_idata  # noqa: F401 (sample's, missing here: no sampling yet)
    from pymc.initial_point import make_initial_point_fn

    compile_kwargs = {} if initvals is None else {"initial_points": dict(initvals), "jitter_rvs": set()}

    def nutpies_own_compile():
        return nutpie.compile_pymc_model(model, backend="numba", **compile_kwargs)

    if not pytensor.config.numba__cache:
        return nutpies_own_compile()
    initial_point_fn = _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=compile_kwargs.get("initial_points"),
            default_strategy="support_point",
            jitter_rvs=compile_kwargs.get("jitter_rvs", set(model.free_RVs)),
            return_transformed=True,
        )
    )
    layout = _layout(model)
    joined, free, logp, stored = _lifted_graphs(model, layout)
    model_key = _model_key(model, layout, logp, stored)
    built = None if model_key is None else _from_cache(model_key, layout, logp, stored)
    if built is None:
        built = _compiled(model_key, model, layout, joined, free, logp, stored)
    if built is None:
        return nutpies_own_compile()
    callbacks, shared, user_data, (logp_fn, expand_fn) = built
    shape_info = layout.shape_info
    dims, coords = _prepare_dims_and_coords(model, shape_info, layout.reparameterized)
    return CompiledPyMCModel(
        _n_dim=layout.n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=callbacks["logp"],
        compiled_expand_func=callbacks["expand"],
        initial_point_func=_rv_dict_to_flat_array_wrapper(initial_point_fn, names=layout.names, shapes=layout.shapes),
        # keeps the arrays alive (names may repeat: the two functions lift constants separately)
        shared_data={f"{i}:{var.name}": array for i, (var, array) in enumerate(shared.items())},
        shared_var_keys={},
        user_data=user_data,
        n_expanded=layout.n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=layout.reparameterized,
    )


def sample(
    model,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    random_seed,
    nuts: dict,
    progressbar: bool,
    initvals=None,
    compiled=None,
):
    """``pm.sample(nuts_sampler="nutpie", ...)`` with :func:`compile_model`: the same seeds
    (PyMC's per-chain seeds, the first given to nutpie), options and returned ``DataTree``
    (``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``). ``initvals`` start
    every chain there without jitter (as ``run_nuts`` always asked of ``pm.sample``).
    ``compiled``: ``compile_model(model, initvals=initvals)``, if already called."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.util import get_random_generator

    if random_seed == -1:
        raise ValueError("random_seed = -1 is not allowed; pass None for a random seed")
    seed = int(get_random_generator(random_seed).spawn(chains)[0].integers(2**30))
    if compiled is None:
        compiled = compile_model(model, initvals=initvals)
    start = time.time()
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=max(tune, 1),  # nuts-rs needs at least one tuning step
        chains=chains,
        cores=cores,
        seed=seed,
        save_warmup=False,
        store_unconstrained=False,
        progress_bar=progressbar,
        **nuts,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    return idata
