"""nutpie with cached C callbacks: the same model as nutpie's own compile, data never baked into the cache."""

import ctypes

import numpy as np
import pymc as pm
import pytensor
import pytest

import bayes_scaling as bs
from bayes_scaling.inference import _compile
from bayes_scaling.inference._compile import graph_cache, nutpie_sampler
from bayes_scaling.inference.model import ScalingModel, data_scale

# Tests of the cache itself: they run where fits would use it (switched on, versions supported).
_UNSUPPORTED = _compile.unsupported_versions("nutpie")
pytestmark = [
    pytest.mark.skipif(not _compile.compile_cache_enabled(), reason="compile cache off (BAYES_SCALING_COMPILE_CACHE)"),
    pytest.mark.skipif(bool(_UNSUPPORTED), reason=f"compile cache unsupported here: {_UNSUPPORTED}"),
]

NUTS = {"target_accept": 0.9, "adaptation": "low_rank"}
_SCALES = {}


def _scale(runs):
    """data_scale(runs), once per runs table (its point fit took 1-4 s a call)."""
    if id(runs) not in _SCALES:
        _SCALES[id(runs)] = (runs, data_scale(runs))  # holding runs keeps its id unique
    return _SCALES[id(runs)][1]


def _model(runs):
    return ScalingModel().build(runs, _scale(runs))


def _call_logp(compiled, x):
    """nutpie's logp callback called as nuts-rs calls it: (logp, gradient, return code)."""
    double = ctypes.POINTER(ctypes.c_double)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(())
    code = compiled.compiled_logp_func.ctypes(
        compiled.n_dim,
        x.ctypes.data_as(double),
        grad.ctypes.data_as(double),
        logp.ctypes.data_as(double),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    return float(logp), grad, code


def _call_expand(compiled, x):
    """nutpie's expand callback (the values stored per draw) called as nuts-rs calls it."""
    double = ctypes.POINTER(ctypes.c_double)
    out = np.zeros(compiled.n_expanded)
    code = compiled.compiled_expand_func.ctypes(
        compiled.n_dim,
        compiled.n_expanded,
        x.ctypes.data_as(double),
        out.ctypes.data_as(double),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    assert code == 0
    return out


def _nutpies_own(model, **kwargs):
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba", **kwargs)


def _same_log_density(ours, theirs, n_points=4):
    """Log density and gradient of two compiled models agree at jittered start points."""
    rng = np.random.default_rng(0)
    for seed in rng.integers(1000, size=n_points):
        x = theirs.initial_point_func(int(seed))
        logp, grad, code = _call_logp(ours, x)
        expected_logp, expected_grad, expected_code = _call_logp(theirs, x)
        assert code == expected_code == 0
        np.testing.assert_allclose(logp, expected_logp, rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(_call_expand(ours, x), _call_expand(theirs, x), rtol=1e-12)


@pytest.mark.parametrize(
    "initvals", [None, pytest.param({"E": 1.7, "alpha": 0.33, "beta": 0.29}, marks=pytest.mark.slow)]
)
def test_same_model_and_start_as_nutpies_own_compile(small_runs, initvals):
    """Same log density, gradient, layout and start points as nutpie.compile_pymc_model (what
    pm.sample uses). The draws differ in the last bits and so, after a few steps, altogether:
    the data-derived constants are inputs here, not folded into the code."""
    model = _model(small_runs)
    kwargs = {} if initvals is None else {"initial_points": initvals, "jitter_rvs": set()}
    with pytensor.config.change_flags(numba__fastmath=False):
        ours = nutpie_sampler.compile_model(model, initvals=initvals)
        theirs = _nutpies_own(model, **kwargs)
    assert ours.n_dim == theirs.n_dim and ours.n_expanded == theirs.n_expanded
    assert ours.shape_info[0] == theirs.shape_info[0] and ours.shape_info[1] == theirs.shape_info[1]
    assert [tuple(s) for s in ours.shape_info[2]] == [tuple(s) for s in theirs.shape_info[2]]
    assert ours.dims == theirs.dims and ours.reparameterized_names == theirs.reparameterized_names
    for seed in (0, 1, 2):
        np.testing.assert_array_equal(ours.initial_point_func(seed), theirs.initial_point_func(seed))
    _same_log_density(ours, theirs)


def test_sample_returns_what_pm_sample_returns(small_runs):
    model = _model(small_runs)
    kwargs = {"draws": 50, "tune": 100, "chains": 2, "random_seed": 5}
    with pytensor.config.change_flags(numba__fastmath=False), model:
        ours = [nutpie_sampler.sample(model, cores=2, nuts=NUTS, progressbar=False, **kwargs) for _ in range(2)]
        theirs = pm.sample(
            nuts_sampler="nutpie",
            nuts=dict(NUTS),
            cores=2,
            progressbar=False,
            compute_convergence_checks=False,
            **kwargs,
        )
    assert sorted(ours[0].children) == sorted(theirs.children)
    for group in theirs.children:
        assert set(ours[0][group].data_vars) == set(theirs[group].data_vars), group
        for name, values in theirs[group].data_vars.items():
            assert ours[0][group][name].dims == values.dims and ours[0][group][name].shape == values.shape
    assert set(theirs["posterior"].attrs) <= set(ours[0]["posterior"].attrs)
    for name, values in ours[0]["posterior"].data_vars.items():  # same seed, same draws
        np.testing.assert_array_equal(ours[1]["posterior"][name].values, values.values)


def test_lift_constants_keeps_values_and_structural_constants():
    import pytensor.tensor as pt
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor import TensorConstant

    x = pt.dvector("x")
    data = np.array([0.3, 1.7, 2.9])
    out = pt.log1p(pt.exp(x)) * 0.5 + (x - data) ** 2 * 0.731 - np.inf * (x > 100)
    (lifted,) = graph_cache.lift_constants([out])
    constants = {float(np.asarray(v.data).ravel()[0]) for v in ancestors([lifted]) if isinstance(v, TensorConstant)}
    assert 0.731 not in constants and 0.3 not in constants and {0.5, 2.0} <= constants
    shared = [v for v in ancestors([lifted]) if isinstance(v, pytensor.compile.SharedVariable)]
    assert len(shared) == 2 and all(v.type.shape in ((), (None,)) for v in shared)
    value = np.array([0.1, -2.0, 3.0])
    np.testing.assert_array_equal(lifted.eval({x: value}), out.eval({x: value}))


def test_callbacks_are_reused_across_data_sets_of_any_size(small_runs, tmp_path, monkeypatch):
    """Another data set with the same structure (replicate seeds, law, noise) but other losses,
    priors and row count loads both callbacks from numba's cache without building a PyTensor
    function, and they compute that data set's log density: the same as nutpie's own compile."""
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)  # no record of earlier compiles
    other = bs.synthetic.chinchilla_runs(n_configs=45, random_seed=9)
    with pytensor.config.change_flags(numba__fastmath=False):
        first = nutpie_sampler.compile_model(_model(small_runs))
        model = _model(other)
        compiled = nutpie_sampler.compile_model(model)
        theirs = _nutpies_own(model)
    assert first.logp_func is not None and first.expand_func is not None  # built and linked
    assert compiled.logp_func is None and compiled.expand_func is None  # neither built nor linked
    assert compiled.compiled_logp_func.cache_hits == 1 and compiled.compiled_expand_func.cache_hits == 1
    _same_log_density(compiled, theirs)


def test_unreadable_record_means_an_ordinary_compile(small_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    with pytensor.config.change_flags(numba__fastmath=False):
        first = nutpie_sampler.compile_model(_model(small_runs))
        (record,) = tmp_path.glob("nutpie-*.json")
        record.write_text('{"logp": ["no_such_variable"], "expand": []}')
        # a model built afresh: compiling one rewrites its LogAddExp ops' inner graphs in place
        compiled = nutpie_sampler.compile_model(_model(small_runs))
    assert compiled.logp_func is not None
    _same_log_density(compiled, first)  # the first test ties this one to nutpie's own compile
    assert "no_such_variable" not in record.read_text()  # rewritten


def _key_of(model):
    layout = nutpie_sampler._layout(model)
    _, _, logp, stored = nutpie_sampler._lifted_graphs(model, layout)
    return nutpie_sampler._model_key(model, layout, logp, stored)


def test_model_key_follows_the_structure_not_the_data(small_runs):
    other = bs.synthetic.chinchilla_runs(n_configs=45, random_seed=9)
    key = _key_of(_model(small_runs))
    assert key is not None and _key_of(_model(other)) == key
    for spec in (ScalingModel(heteroscedastic=False), ScalingModel(likelihood="normal"), ScalingModel(law="kaplan")):
        assert _key_of(spec.build(small_runs, _scale(small_runs))) != key, spec


def test_shared_values_with_one_name_are_not_keyed():
    with pm.Model() as model:
        first, second = pytensor.shared(np.array([1.0, 2.0]), name="dup"), pytensor.shared(np.array([3.0]), name="dup")
        x = pm.Normal("x")
        pm.Potential("p", -((x - first) ** 2).sum() - ((x - second) ** 2).sum())
    assert _key_of(model) is None
    with pytensor.config.change_flags(numba__fastmath=False):
        compiled = nutpie_sampler.compile_model(model)
    logp, grad, code = _call_logp(compiled, np.array([0.5]))
    assert code == 0 and logp == pytest.approx(-(0.5**2) / 2 - 0.5 * np.log(2 * np.pi) - 0.25 - 2.25 - 6.25)


def test_record_in_another_order_is_not_trusted(small_runs, tmp_path, monkeypatch):
    """The order of the shared values is part of the callbacks' key: a record listing them in
    another order finds no callback and the model is compiled (and gets its own log density)."""
    import json

    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    with pytensor.config.change_flags(numba__fastmath=False):
        first = nutpie_sampler.compile_model(_model(small_runs))
        (record_file,) = tmp_path.glob("nutpie-*.json")
        record = json.loads(record_file.read_text())
        assert len(record["logp"]["shared"]) > 2
        record["logp"]["shared"] = record["logp"]["shared"][::-1]
        record_file.write_text(json.dumps(record))
        model = _model(small_runs)
        assert _key_of(model) == record_file.stem.removeprefix("nutpie-")  # the record is consulted
        compiled = nutpie_sampler.compile_model(model)
    assert compiled.logp_func is not None
    _same_log_density(compiled, first)  # the first test ties this one to nutpie's own compile


def test_non_finite_log_density_is_reported_to_nutpie(small_runs):
    with pytensor.config.change_flags(numba__fastmath=False):
        compiled = nutpie_sampler.compile_model(_model(small_runs))
    x = compiled.initial_point_func(0)
    x[:] = 1e6  # far outside every prior
    assert _call_logp(compiled, x)[2] in (1, 3, 4)


def test_without_numba_cache_it_is_nutpies_own_compile():
    # a small model: without numba's cache every function is compiled afresh (18 s for Chinchilla's)
    with pm.Model() as model:
        x = pm.Normal("x", shape=2)
        pm.Normal("y", mu=x.sum(), sigma=pm.Data("scale", 1.5), observed=[0.3, -0.2])
    with pytensor.config.change_flags(numba__cache=False, numba__fastmath=False):
        compiled = nutpie_sampler.compile_model(model)
    assert compiled.shared_var_keys  # nutpie's own record of the shared data
    x = compiled.initial_point_func(0)
    np.testing.assert_allclose(_call_logp(compiled, x)[0], compiled.logp_func(x)[0], rtol=1e-12)
