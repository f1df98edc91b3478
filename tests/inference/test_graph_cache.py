"""Rewritten PyTensor graphs cached on disk: a hit skips the rewrites and computes the same."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.maker import FunctionMaker
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from bayes_scaling.inference import _compile
from bayes_scaling.inference._compile import graph_cache

# Tests of the cache itself: they run where fits would use it (switched on, versions supported).
_UNSUPPORTED = _compile.unsupported_versions("graphs")
pytestmark = [
    pytest.mark.skipif(not _compile.compile_cache_enabled(), reason="compile cache off (BAYES_SCALING_COMPILE_CACHE)"),
    pytest.mark.skipif(bool(_UNSUPPORTED), reason=f"compile cache unsupported here: {_UNSUPPORTED}"),
]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and a count of the compiles that ran the rewrites."""
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    calls = []
    original = FunctionMaker.prepare_fgraph

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(FunctionMaker, "prepare_fgraph", staticmethod(counted))
    return tmp_path, calls


def _graph(scale=2.0, index=(0, 2, 1)):
    """log-sum-exp of a Student-t-like density over shared data: an OpFromGraph (logaddexp), a
    gradient, an integer constant, a lifted-like shared value, and inplace rewrites."""
    x = pt.vector("x")
    data = pytensor.shared(np.array([0.5, -1.0, 2.0]) * scale, name="data")
    resid = x[np.array(index)] - data
    logp = -pt.log1p(resid**2).sum() + pt.logaddexp(x[0], x[1])
    return x, [logp, pytensor.grad(logp, x)], data


def test_second_compile_skips_the_rewrites_and_computes_the_same(cache):
    folder, calls = cache
    x, outputs, _ = _graph()
    first = graph_cache.function([x], outputs)
    assert len(calls) == 1 and len(list(folder.glob("*.pkl"))) == 1
    x2, outputs2, data2 = _graph()
    second = graph_cache.function([x2], outputs2)
    assert len(calls) == 1  # taken from the cache
    plain = pytensor.function([x2], outputs2, mode="NUMBA")
    point = np.array([0.3, -0.2, 1.1])
    for got, want in zip(second(point), plain(point), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(second(point), first(point), strict=True):
        np.testing.assert_array_equal(got, want)
    # the shared value is the new graph's own, read at call time
    data2.set_value(np.array([9.0, 9.0, 9.0]))
    assert second(point)[0] == pytest.approx(plain(point)[0])
    assert second(point)[0] != pytest.approx(first(point)[0])


def test_inputs_are_not_destroyed_by_cached_inplace_ops(cache):
    _, calls = cache

    def graph():
        x = pt.vector("x")
        return [x], pt.set_subtensor(pt.exp(x)[0], 0.0) * 2

    graph_cache.function(*graph())
    f = graph_cache.function(*graph())
    assert len(calls) == 1
    inplace = [node for node in f.maker.fgraph.apply_nodes if node.op.destroy_map]
    assert inplace, "the rewrites made no inplace op; the test checks nothing"
    point = np.array([0.1, 0.2])
    kept = point.copy()
    want = 2 * np.exp(kept) * [0, 1]
    np.testing.assert_allclose(f(point), want)
    np.testing.assert_array_equal(point, kept)
    np.testing.assert_allclose(f(point), want)


def test_key_follows_the_graph_not_the_shared_values(cache):
    folder, calls = cache
    x, outputs, _ = _graph(scale=2.0)
    graph_cache.function([x], outputs)
    x, outputs, _ = _graph(scale=5.0)  # other data, same structure: a hit
    graph_cache.function([x], outputs)
    assert len(calls) == 1
    x, outputs, _ = _graph(index=(1, 2, 0))  # another integer constant: another graph
    f = graph_cache.function([x], outputs)
    assert len(calls) == 2 and len(list(folder.glob("*.pkl"))) == 2
    point = np.array([0.3, -0.2, 1.1])
    plain = pytensor.function([x], outputs, mode="NUMBA")
    np.testing.assert_array_equal(f(point)[1], plain(point)[1])


def test_unreadable_entry_is_compiled_afresh_and_replaced(cache):
    folder, calls = cache
    x, outputs, _ = _graph()
    graph_cache.function([x], outputs)
    (entry,) = folder.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    x, outputs, _ = _graph()
    f = graph_cache.function([x], outputs)
    assert len(calls) == 2
    assert graph_cache._load(entry.stem) is not None
    assert np.isfinite(f(np.zeros(3))[0])


class _Unpicklable(Op):
    """An op holding a closure: it does not pickle, so its graph cannot be keyed."""

    __props__ = ()

    def __init__(self):
        self.scale = lambda v: 3 * v

    def make_node(self, x):
        x = pt.as_tensor(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = self.scale(inputs[0])


@pytest.mark.filterwarnings("ignore:Numba will use object mode")
def test_graph_that_cannot_be_keyed_compiles_the_ordinary_way(cache):
    folder, calls = cache
    x = pt.vector("x")
    f = graph_cache.function([x], _Unpicklable()(x) + 1, mode="FAST_RUN")
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [4.0, 7.0])
    assert len(calls) == 1 and not list(folder.glob("*.pkl"))


def test_entries_hold_no_data(cache):
    folder, _ = cache
    x, outputs, data = _graph(scale=1.2345678901)
    graph_cache.function([x], outputs)
    (entry,) = folder.glob("*.pkl")
    assert data.get_value().tobytes() not in entry.read_bytes()


def test_op_with_a_custom_gradient_is_not_keyed(cache):
    """Its gradient override shapes graphs built from it (the model key is taken before pt.grad)."""
    from pytensor.compile.builders import OpFromGraph

    folder, calls = cache
    a = pt.scalar("a")
    double = OpFromGraph([a], [2 * a], pullback=lambda inputs, outputs, grads: [3 * grads[0]])
    x = pt.scalar("x")
    out = double(x) + 1
    with pytest.raises(graph_cache.Uncacheable, match="custom gradient"):
        graph_cache.structure_digest([x], [out])
    f = graph_cache.function([x], out)
    assert f(1.5) == pytest.approx(4.0)
    assert len(calls) == 1 and not list(folder.glob("*.pkl"))  # compiled the ordinary way, nothing kept


def test_graph_with_random_draws_is_refused():
    rng = pytensor.shared(np.random.default_rng(0))
    with pytest.raises(ValueError, match="random numbers"):
        graph_cache.function([], pt.random.normal(rng=rng, return_next_rng=True)[1])


KEY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, pytensor, pytensor.tensor as pt
    from unittest import mock
    from bayes_scaling.inference._compile import graph_cache
    x = pt.vector("x")
    data = pytensor.shared(np.array([0.5, -1.0, 2.0]), name="data")
    logp = -pt.log1p((x[np.array([0, 2, 1])] - data) ** 2).sum() + pt.logaddexp(x[0], x[1])
    keys = []
    real = graph_cache.graph_key
    with mock.patch.object(graph_cache, "graph_key", lambda *a: keys.append(real(*a)) or keys[-1]):
        graph_cache.function([x], [logp, pytensor.grad(logp, x)])
    print(keys[0])
    """
)


def test_key_is_the_same_in_every_process(tmp_path):
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    keys = [
        subprocess.run([sys.executable, "-c", KEY_SCRIPT], env=env, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
        for _ in range(2)
    ]
    assert keys[0] == keys[1] and len(keys[0]) == 64
