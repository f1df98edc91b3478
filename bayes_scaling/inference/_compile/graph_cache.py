"""PyTensor functions whose rewritten graphs are cached on disk, across processes.

``pytensor.function`` rewrites a graph (canonicalize, stabilize, specialize, fusion, inplace)
before it links it, in every process, even when numba then loads the linked code from its own
cache: 0.9 s of the 1.4 s it took to compile a Chinchilla log density with its gradient and
the values stored per draw. :func:`function` compiles like ``pymc.pytensorf.compile`` (the
same rewrites, PyMC's check-parameter rewrite included) and keeps the rewritten graph, pickled,
under a key hashed from

- the graph as handed to the rewriter: every node's op (pickled, or an inner graph's structure
  for ``OpFromGraph`` and ``Composite``), the types of every variable, the values of every
  constant, and which input feeds which node;
- how the inputs and outputs are wrapped (mutable, borrowed, updated);
- the rewrites asked for, the PyTensor settings they read, and the PyTensor, PyMC, numpy and
  Python versions.

:func:`lift_constants` takes the data out of a graph first (as shared variables), so that a
model fitted to other data has the same key. A compile with the same key takes the rewritten
graph from the cache and skips the rewrites; the linker (and numba's own cache) then runs as
usual. The cache sits beside PyTensor's, under
``<base_compiledir>/bayes_scaling_graphs`` (entries are pickles, loaded as PyTensor loads its
compiled modules: keep the folder yours); the shared inputs are stored as placeholders, so no
data is written. Only numba-linked functions are cached. A graph that cannot be keyed (an op
that does not pickle, a custom gradient, a free variable), an entry that does not unpickle or
does not fit the graph, is compiled the ordinary way, and the entry rewritten.

Why :func:`lift_constants` rather than ``pm.Data`` for the data (measured on a loaded 2-core
machine, one warm fit of ``chinchilla_runs(n_configs=120)``, 4 chains x 1000 draws, nutpie;
best of 3): passing the observed losses as ``pm.Data`` (``build_model(...,
mutable_observations=True)``) kept the speed (cache on: 2.42 s whole fit and 2.08 s sampling,
against 2.29 s and 1.96 s with lifted constants; cache off: 9.9 s and 1.3 s against 10.3 s and
1.7 s, within the noise) and, with the cache, the same draws bit for bit. But it would not
replace the lifting: 17 data-derived scalars stay constants of the graph (of 19 lifted, 167
values), the data-aware prior parameters and reference sizes, which the laws and the noise
model write into ``pymc_extras`` priors as numbers; it would add the observations to the
``constant_data`` of every saved fit; and without the cache it changes the draws (PyTensor
folds constants, not ``pm.Data``). So the graph is left as PyMC builds it, and the lifting
happens here, where only the cache sees it.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np
import pytensor
from pytensor.compile.maker import FunctionMaker
from pytensor.compile.mode import Mode, get_mode

from ...atomic import atomic_write

__all__ = [
    "REWRITE_SETTINGS",
    "Uncacheable",
    "cache_dir",
    "function",
    "graph_key",
    "lift_constants",
    "read_entry",
    "structure_digest",
    "write_entry",
]

#: PyTensor settings the rewrites read (reading every setting costs 0.4 s: some probe BLAS).
REWRITE_SETTINGS = (
    "floatX",
    "cast_policy",
    "optimizer",
    "optimizer_excluding",
    "optimizer_including",
    "optimizer_requiring",
    "optdb__max_use_ratio",
    "optdb__position_cutoff",
    "tensor__insert_inplace_optimizer_validate_nb",
    "cycle_detection",
    "check_stack_trace",
    "on_opt_error",
)


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
    model's graph, so PyTensor's numba cache and the graph cache here, both keyed by the graph,
    missed for every new data set. As shared variables they become inputs of the compiled
    function, and a model of the same structure fitted to other data, of any size, reuses the
    compiled code. Apply it before any rewrite (which would fold the data's length into the
    graph). Dimensions of length 1 stay broadcastable; other lengths are left free.
    """
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


class Uncacheable(Exception):
    """The graph holds something :func:`graph_key` cannot key reproducibly."""


def cache_dir() -> Path:
    """Where rewritten graphs are kept: beside PyTensor's own compile cache."""
    return Path(pytensor.config.base_compiledir) / "bayes_scaling_graphs"


def _op_token(op) -> bytes:
    """Bytes that identify what ``op`` computes (equal ops give equal bytes)."""
    from pytensor.compile.builders import OpFromGraph
    from pytensor.scalar.basic import Composite

    name = f"{type(op).__module__}.{type(op).__qualname__}".encode()
    if isinstance(op, OpFromGraph):
        # What it computes is its inner graph. A gradient override (a callable or another op)
        # changes what pt.grad builds from it, and a key may be taken before pt.grad runs
        # (nutpie_sampler's model key): such ops are not keyed. PyTensor's own (LogAddExp,
        # LogSumExp, ...) define their gradients in their class, named in the token.
        if op.pullback_overrides is not None or op.pushforward_overrides is not None:
            raise Uncacheable(f"{type(op).__name__} has a custom gradient")
        inner = structure_digest(op.inner_inputs, op.inner_outputs)
        extra = repr((op.is_inline, sorted(op.destroy_map.items()), op.name, sorted(op.kwargs), op._connection_pattern))
        return name + b"|" + inner + extra.encode()
    if isinstance(op, Composite):
        return name + b"|" + structure_digest(op.fgraph.inputs, op.fgraph.outputs)
    try:
        return name + b"|" + pickle.dumps(op, protocol=5)
    except Exception as exc:  # noqa: BLE001 (pickling raises many types)
        raise Uncacheable(f"{type(op).__name__} does not pickle: {exc}") from None


def _type_token(type_) -> bytes:
    try:
        return pickle.dumps(type_, protocol=5)
    except Exception as exc:  # noqa: BLE001
        raise Uncacheable(f"type {type_} does not pickle: {exc}") from None


def _constant_token(var) -> bytes:
    data = var.data
    if isinstance(data, np.ndarray | np.generic):
        data = np.ascontiguousarray(data)
        return f"{data.dtype.str}{data.shape}".encode() + data.tobytes()
    try:
        return pickle.dumps(data, protocol=5)
    except Exception as exc:  # noqa: BLE001
        raise Uncacheable(f"constant {var} does not pickle: {exc}") from None


def structure_digest(inputs, outputs) -> bytes:
    """Digest of the graph from ``inputs`` to ``outputs``: ops, types, constants and wiring,
    with variables named by their position (never by name or id)."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import toposort

    digest = hashlib.sha256()
    index = {}
    for var in inputs:
        index[var] = len(index)
        digest.update(b"in" + _type_token(var.type))

    def ref(var) -> str:
        if var not in index:
            if not isinstance(var, Constant):
                raise Uncacheable(f"{var} is neither an input nor a constant")
            index[var] = len(index)
            digest.update(b"const" + _type_token(var.type) + _constant_token(var))
        return str(index[var])

    for node in toposort(outputs, blockers=inputs):
        wiring = ",".join(ref(var) for var in node.inputs)
        digest.update(b"node" + _op_token(node.op) + wiring.encode())
        for out in node.outputs:
            index[out] = len(index)
            digest.update(b"out" + _type_token(out.type))
    digest.update(("outputs" + ",".join(ref(var) for var in outputs)).encode())
    return digest.digest()


def _query_token(query) -> str:
    if query.extra_rewrites:
        raise Uncacheable("the mode adds extra rewrites")
    subqueries = sorted((name, _query_token(sub)) for name, sub in query.subquery.items())
    return repr((list(query.include), list(query.exclude), list(query.require), subqueries, query.position_cutoff))


def graph_key(input_specs, output_specs, fgraph, mode) -> str | None:
    """The cache key of ``fgraph`` as ``FunctionMaker`` hands it to the rewriter, or None when
    it cannot be keyed reproducibly (see :class:`Uncacheable`)."""
    import pymc

    try:
        structure = structure_digest(fgraph.inputs, fgraph.outputs)
        wrapping = repr(
            (
                [(spec.mutable, spec.borrow, spec.implicit, spec.update is not None) for spec in input_specs],
                [spec.borrow for spec in output_specs],
                sorted((fgraph.update_mapping or {}).items()),
            )
        )
        rewrites = _query_token(mode.provided_optimizer)
    except Uncacheable:
        return None
    settings = repr([(name, str(getattr(pytensor.config, name))) for name in REWRITE_SETTINGS])
    versions = f"pytensor {pytensor.__version__}, pymc {pymc.__version__}, numpy {np.__version__}, python {sys.version}"
    digest = hashlib.sha256(structure)
    for part in (wrapping, rewrites, type(mode.linker).__qualname__, settings, versions):
        digest.update(b"\x1f" + part.encode())
    return digest.hexdigest()


def read_entry(name: str) -> bytes | None:
    """The bytes of cache entry ``name``, or None if there is none."""
    try:
        return (cache_dir() / name).read_bytes()
    except OSError:
        return None


def write_entry(name: str, payload: bytes) -> None:
    """Write cache entry ``name`` atomically: readers see the old entry or the new, whole."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / name, lambda tmp: Path(tmp).write_bytes(payload), user_mode=False)


def _load(key: str):
    payload = read_entry(f"{key}.pkl")
    try:
        return None if payload is None else pickle.loads(payload)
    except Exception:  # noqa: BLE001 (truncated or from another version: compile afresh)
        return None


def _store(key: str, fgraph) -> None:
    """Keep the rewritten graph, its inputs as placeholders of their types: the shared values
    (the data) are not written, and are the current graph's own when it is taken back."""
    from pytensor.graph.basic import clone_get_equiv

    try:
        placeholders = [var.type() for var in fgraph.inputs]
        equiv = clone_get_equiv(
            fgraph.inputs,
            fgraph.outputs,
            copy_inputs=False,
            copy_orphans=False,
            memo=dict(zip(fgraph.inputs, placeholders, strict=True)),
        )
        payload = pickle.dumps((placeholders, [equiv[var] for var in fgraph.outputs]), protocol=5)
    except Exception:  # noqa: BLE001 (a rewritten op that does not pickle: nothing to keep)
        return
    try:
        write_entry(f"{key}.pkl", payload)
    except OSError:  # a read-only or full disk: the function works, uncached
        return


def _transplant(fgraph, cached) -> bool:
    """Make ``fgraph`` compute the cached rewritten graph ``(inputs, outputs)`` on its own
    inputs. False when the entry does not fit (``fgraph`` then computes what it did before)."""
    from pytensor.graph.basic import clone_get_equiv
    from pytensor.graph.destroyhandler import DestroyHandler

    try:
        inputs, outputs = cached
        if len(inputs) != len(fgraph.inputs) or len(outputs) != len(fgraph.outputs):
            return False
        if any(mine.type != theirs.type for mine, theirs in zip(fgraph.inputs, inputs, strict=True)):
            return False
        equiv = clone_get_equiv(
            inputs, outputs, copy_inputs=False, copy_orphans=False, memo=dict(zip(inputs, fgraph.inputs, strict=True))
        )
        new_outputs = [equiv[var] for var in outputs]
        if any(not old.type.is_super(new.type) for old, new in zip(fgraph.outputs, new_outputs, strict=True)):
            return False
    except Exception:  # noqa: BLE001 (an entry of another shape): rewrite afresh
        return False
    if not hasattr(fgraph, "destroyers"):
        # the rewritten graph has inplace ops: orders their readers first, as the rewriter did
        fgraph.attach_feature(DestroyHandler())
    old_outputs = list(fgraph.outputs)
    try:
        _set_outputs(fgraph, new_outputs)
        fgraph.validate()
    except Exception:  # noqa: BLE001 (e.g. an inplace op the Supervisor forbids: rewrite afresh)
        _set_outputs(fgraph, old_outputs)
        return False
    return True


def _set_outputs(fgraph, outputs) -> None:
    for i, var in enumerate(outputs):
        node, _ = fgraph.get_output_client(i)
        fgraph.change_node_input(
            node, 0, var, reason="bayes_scaling.inference._compile.graph_cache", import_missing=True
        )


class _RewriteCachingMaker(FunctionMaker):
    """``FunctionMaker`` that takes the rewritten graph from the cache when it has one."""

    @staticmethod
    def prepare_fgraph(inputs, outputs, additional_outputs, fgraph, mode, profile):
        key = graph_key(inputs, outputs + additional_outputs, fgraph, mode)
        cached = None if key is None else _load(key)
        if cached is not None and _transplant(fgraph, cached):
            return
        FunctionMaker.prepare_fgraph(inputs, outputs, additional_outputs, fgraph, mode, profile)
        if key is not None:
            _store(key, fgraph)


class _RewriteCachingMode(Mode):
    @property
    def function_maker(self):
        return _RewriteCachingMaker


def function(inputs, outputs, *, mode="NUMBA", check_bounds: bool = True, **kwargs):
    """``pymc.pytensorf.compile(inputs, outputs, mode=mode, **kwargs)`` (PyMC's rewrites
    included; ``check_bounds=False`` as in a model that does not check its parameters), with
    the rewritten graph taken from, or put in, the cache. For graphs without random variables
    (their generators' updates are PyMC's business).

    >>> import numpy as np, pytensor.tensor as pt
    >>> x = pt.vector("x")
    >>> f = function([x], pt.log(1 + pt.exp(x)).sum())
    >>> bool(np.isclose(f(np.zeros(3)), 3 * np.log(2)))
    True
    """
    from pymc.pytensorf import collect_default_updates
    from pytensor.link.numba.linker import NumbaLinker

    if collect_default_updates(inputs=list(inputs), outputs=_as_list(outputs)):
        raise ValueError("the graph draws random numbers: compile it with pymc.pytensorf.compile")

    base = get_mode(mode)
    check = "local_check_parameter_to_ninf_switch" if check_bounds else "local_remove_check_parameter"
    query = base.provided_optimizer.including("random_make_inplace", check)
    # other linkers' rewrites read more settings (the C compiler, BLAS): not cached
    mode_class = _RewriteCachingMode if isinstance(base.linker, NumbaLinker) else Mode
    return pytensor.function(inputs, outputs, mode=mode_class(linker=base.linker, optimizer=query), **kwargs)


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]
