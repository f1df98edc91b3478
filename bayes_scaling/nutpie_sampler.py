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
  with PyTensor's numba cache locator under a key hashed from its source and the wrapped
  function's own key, so a later process loads it from disk (0.3 s);
- before compiling, :func:`lift_constants` turns the graph's data-like constants into shared
  variables with the same values, which travel with the data. A model of the same structure
  (law, noise model, replicate seeds or not) fitted to other data, of any size, then reuses
  all the compiled code.

The rest follows nutpie: the same flat layout of the unconstrained values, rewrites, initial
points, ``CompiledPyMCModel`` and ``nutpie.sample``, and PyMC's ``patch_nutpie_idata`` for the
groups ``pm.sample`` adds. The log density and gradient equal those of
``nutpie.compile_pymc_model`` (tested); the draws differ from ``pm.sample``'s in the last bits,
because the lifted values are no longer folded into the code, and then altogether, as chaotic
NUTS trajectories do. A model PyTensor cannot cache (or ``numba__cache`` off) goes through
``nutpie.compile_pymc_model`` unchanged.
"""

from __future__ import annotations

import math
import time
from hashlib import sha256

import numpy as np

__all__ = ["compile_model", "lift_constants", "sample"]

_LOGP_SIGNATURE = "int64(uint64, CPointer(float64), CPointer(float64), CPointer(float64), voidptr)"
_EXPAND_SIGNATURE = "int64(uint64, uint64, CPointer(float64), CPointer(float64), voidptr)"

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


def _cached_callback(kind: str, function, n_dim: int, n_expanded: int, shared: dict, at: dict, n_meta: int):
    """The numba C callback ``kind`` for the compiled PyTensor ``function``, or None when
    PyTensor keeps no cache key for its numba function (the callback could not be cached)."""
    import numba
    import nutpie
    import pytensor
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    inner = function.vm.jit_fn
    py_func = getattr(inner, "py_func", None)
    inner_key = None if py_func is None else CACHED_SRC_FUNCTIONS.get(py_func)
    if inner_key is None:
        return None
    variables = function.get_shared()
    arrays = [shared[var] for var in variables]
    src = _callback_source(kind, n_dim, n_expanded, arrays, [at[var] for var in variables], n_meta)
    versions = f"numba {numba.__version__}, nutpie {nutpie.__version__}, pytensor {pytensor.__version__}"
    key = "bayes_scaling_" + sha256(f"{src}\n{inner_key}\n{versions}".encode()).hexdigest()
    callback = compile_numba_function_src(
        src,
        f"{kind}_callback",
        global_env={
            # numba rebuilds a cached function's environment by importing its module
            "__name__": __name__,
            "carray": numba.carray,
            "as_pointer": address_as_void_pointer,
            "inner": inner,
            "isfinite": math.isfinite,
            "uint64": np.uint64,
            **{a.dtype.name: a.dtype.type for a in arrays},
        },
        cache_key=key,
    )
    return numba.cfunc(_LOGP_SIGNATURE if kind == "logp" else _EXPAND_SIGNATURE, cache=True)(callback)


def _is_structural(value: np.ndarray) -> bool:
    """Constants that graph rewrites look for (0, 1, -1, 2, 0.5, inf, ...): whole numbers or
    halves up to 64 in size, or non-finite. Data hardly ever take only such values."""
    finite = np.isfinite(value)
    doubled = 2 * value[finite]
    return bool(np.all(np.abs(doubled) <= 128) and np.all(doubled == np.round(doubled)))


def lift_constants(outputs: list) -> list:
    """``outputs`` with every floating-point constant that is not structural (see
    :func:`_is_structural`) replaced by a shared variable holding the same value.

    The observed losses and the data-scaled prior and reference values are constants of a
    model's graph, so PyTensor's numba cache, which is keyed by the graph, missed for every new
    data set. As shared variables they become inputs of the compiled function (passed to the
    callbacks with the data), and a model of the same structure fitted to other data reuses the
    compiled code. Dimensions of length 1 stay broadcastable; other lengths are left free.
    """
    import pytensor
    from pytensor.graph import clone_replace
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor import TensorConstant

    lifted = {}
    for var in ancestors(outputs):
        if (
            isinstance(var, TensorConstant)
            and var.dtype.startswith("float")
            and var not in lifted
            and not _is_structural(np.asarray(var.data))
        ):
            shape = tuple(1 if length == 1 else None for length in var.type.shape)
            lifted[var] = pytensor.shared(np.array(var.data), name=f"lifted_constant_{len(lifted)}", shape=shape)
    return clone_replace(outputs, lifted, rebuild_strict=False) if lifted else list(outputs)


def _pytensor_functions(model, initial_point_fn):
    """nutpie's ``_make_functions`` for the numba backend (same flat layout of the unconstrained
    values, same rewrites before compiling) with :func:`lift_constants` applied to the log
    density, its gradient and the stored values."""
    import pytensor.tensor as pt
    from nutpie.compile_pymc import _compute_shapes, _rv_dict_to_flat_array_wrapper
    from pytensor.graph import clone_replace, rewrite_graph

    from . import graph_cache

    shapes = _compute_shapes(model)
    value_vars = [model.rvs_to_values[var] for var in model.free_RVs]
    rewrites = ["canonicalize", "stabilize"]
    if not model.check_bounds:
        rewrites.append("local_remove_check_parameter")
    # lifted before the rewrites, which would otherwise fold the data's length into the graph
    (logp,) = lift_constants([model.logp()])
    logp = rewrite_graph(logp, include=rewrites)
    grad = pt.concatenate([pt.as_tensor(g, allow_xtensor_conversion=True).ravel() for g in pt.grad(logp, value_vars)])
    names, slices, var_shapes, count = [], [], [], 0
    for value_var in value_vars:
        shape = shapes[value_var.name]
        names.append(value_var.name)
        var_shapes.append(shape)
        slices.append(slice(count, count + math.prod(shape)))
        count += math.prod(shape)
    n_dim = count
    joined = pt.TensorType("float64", shape=(n_dim,))(name="_unconstrained_point")
    free = [joined[s] for s in slices]
    replacements = {
        model.rvs_to_values[rv]: value.reshape(shape).astype(rv.dtype)
        for rv, shape, value in zip(model.free_RVs, var_shapes, free, strict=True)
    }
    logp, grad = clone_replace([logp, grad], replacements)
    logp_fn = graph_cache.function((joined,), (logp, grad), mode="NUMBA", check_bounds=model.check_bounds)
    remaining = [var for var in model.unobserved_value_vars if var.name not in names]
    all_names, all_slices, all_shapes = list(names), list(slices), list(var_shapes)
    for var in remaining:
        all_names.append(var.name)
        all_shapes.append(tuple(shapes[var.name]))
        all_slices.append(slice(count, count + math.prod(all_shapes[-1])))
        count += math.prod(all_shapes[-1])
    stored = pt.concatenate(
        [*(v.ravel() for v in free), *(pt.as_tensor(v, allow_xtensor_conversion=True).ravel() for v in remaining)]
    )
    expand_fn = graph_cache.function(
        (joined,),
        lift_constants([stored]),
        givens=list(replacements.items()),
        mode="NUMBA",
        check_bounds=model.check_bounds,
    )
    reparameterized = [
        model.rvs_to_values[rv].name for rv in model.free_RVs if model.rvs_to_transforms.get(rv) is not None
    ]
    initial_point = _rv_dict_to_flat_array_wrapper(initial_point_fn, names=names, shapes=var_shapes)
    return n_dim, count, logp_fn, expand_fn, initial_point, (all_names, all_slices, all_shapes), reparameterized


def compile_model(model, *, initvals=None):
    """The nutpie ``CompiledModel`` of ``model`` (a ``pm.Model``), with cached C callbacks.

    ``initvals`` (``{name: value}``) start every chain there without jitter; otherwise the
    chains start at PyMC's support points jittered by +-1 on the unconstrained scale, as in
    ``pm.sample``. The data are bound at compile time (``with_data`` is not supported).
    """
    import nutpie
    import pytensor
    from nutpie.compile_pymc import CompiledPyMCModel, _prepare_dims_and_coords, _wrap_with_lock
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
    n_dim, n_expanded, logp_fn, expand_fn, initial_point, shape_info, reparameterized = _pytensor_functions(
        model, initial_point_fn
    )
    shared = {}
    for var in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if var not in shared:
            shared[var] = np.array(var.get_value(), order="C", copy=True)
            shared[var].flags.writeable = False
    user_data, at = _user_data(shared)
    logp, expand = (
        _cached_callback(kind, function, n_dim, n_expanded, shared, at, len(user_data))
        for kind, function in (("logp", logp_fn), ("expand", expand_fn))
    )
    if logp is None or expand is None:
        return nutpies_own_compile()
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized)
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp,
        compiled_expand_func=expand,
        initial_point_func=initial_point,
        # keeps the arrays alive (names may repeat: the two functions lift constants separately)
        shared_data={f"{i}:{var.name}": array for i, (var, array) in enumerate(shared.items())},
        shared_var_keys={},
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=reparameterized,
    )


def sample(
    model, *, draws: int, tune: int, chains: int, cores: int, random_seed, nuts: dict, progressbar: bool, initvals=None
):
    """``pm.sample(nuts_sampler="nutpie", ...)`` with :func:`compile_model`: the same seeds
    (PyMC's per-chain seeds, the first given to nutpie), options and returned ``DataTree``
    (``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``). ``initvals`` start
    every chain there without jitter (as ``run_nuts`` always asked of ``pm.sample``)."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.util import get_random_generator

    if random_seed == -1:
        raise ValueError("random_seed = -1 is not allowed; pass None for a random seed")
    seed = int(get_random_generator(random_seed).spawn(chains)[0].integers(2**30))
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
