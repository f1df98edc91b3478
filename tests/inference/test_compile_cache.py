"""The compile caches are private and switchable: one setting turns them off, unsupported
versions and moved internals fall back to the ordinary compile with one warning, and a fit
never fails because of them."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.errors import CompileCacheWarning, SamplingWarning, SpecError
from bayes_scaling.inference import _compile, compile_cache, compile_cache_enabled
from bayes_scaling.inference._compile import graph_cache, nutpie_sampler
from bayes_scaling.inference.sampling import log_prior_draws, sampling_cores


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty graph-cache folder, a process that has not warned yet, and no setting in force."""
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(_compile, "_warned", False)
    monkeypatch.setattr(_compile, "_switch", None)
    monkeypatch.delenv(_compile.ENV_VAR, raising=False)
    return tmp_path


def _tiny_fit(runs):
    """A fit of a few draws, with the CompileCacheWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=SamplingWarning)  # short chains
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # fork() in threads (pyproject)
        fit = bs.fit(runs, draws=30, tune=50, chains=2, random_seed=4, progressbar=False)
    assert fit.idata["posterior"].sizes["draw"] == 30
    assert fit.idata["log_prior"]["alpha"].shape == (2, 30)
    others = [w for w in caught if not issubclass(w.category, CompileCacheWarning)]
    assert not others, [str(w.message) for w in others]
    return fit, [w for w in caught if issubclass(w.category, CompileCacheWarning)]


def _record_calls(monkeypatch, module, name, calls):
    original = getattr(module, name)

    def recorded(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)


def test_switch_reads_the_environment_at_use_time_and_the_python_switch_wins(fresh, monkeypatch):
    assert compile_cache_enabled()
    for value, expected in [("0", False), ("off", False), ("False", False), ("1", True), ("", True)]:
        monkeypatch.setenv("BAYES_SCALING_COMPILE_CACHE", value)
        assert compile_cache_enabled() is expected, value
    monkeypatch.setenv("BAYES_SCALING_COMPILE_CACHE", "0")
    with compile_cache(True):
        assert compile_cache_enabled()
        with compile_cache(None):  # the variable decides again
            assert not compile_cache_enabled()
        assert compile_cache_enabled()
    assert not compile_cache_enabled()
    monkeypatch.setenv("BAYES_SCALING_COMPILE_CACHE", "1")
    compile_cache(False)  # without `with`: for the rest of the process
    assert not compile_cache_enabled()
    compile_cache(None)
    assert compile_cache_enabled()
    monkeypatch.setenv("BAYES_SCALING_COMPILE_CACHE", "maybe")
    with pytest.raises(SpecError, match="BAYES_SCALING_COMPILE_CACHE"):
        compile_cache_enabled()
    with pytest.raises(SpecError, match="True, False or None"):
        compile_cache("0")


def test_versions_outside_the_supported_range_are_named(fresh, monkeypatch):
    import numba
    import nutpie
    import pymc

    assert _compile.unsupported_versions("nutpie") == []  # what is installed here is supported
    monkeypatch.setattr(nutpie, "__version__", "0.17.0rc1")
    monkeypatch.setattr(numba, "__version__", "0.67.9")
    assert _compile.unsupported_versions("graphs") == []  # the graph cache needs neither
    problems = _compile.unsupported_versions("nutpie")
    assert problems == ["numba 0.67.9 (supported: >=0.68.0,<0.69)", "nutpie 0.17.0rc1 (supported: >=0.16.11,<0.17)"]
    monkeypatch.setattr(pymc, "__version__", "6.4.0")
    assert _compile.unsupported_versions("graphs") == ["pymc 6.4.0 (supported: >=6.3.2,<6.4)"]
    with pytest.warns(CompileCacheWarning, match="pymc 6.4.0") as caught:
        assert _compile.attempt("graphs", lambda: pytest.fail("compiled through an unsupported cache")) is None
        assert _compile.attempt("nutpie", lambda: pytest.fail("compiled through an unsupported cache")) is None
    assert len(caught) == 1  # once per process


def test_failing_cache_falls_back_once_and_an_off_cache_is_not_tried(fresh, monkeypatch):
    def moved():
        raise ImportError("cannot import name '_compute_shapes' from 'nutpie.compile_pymc'")

    with pytest.warns(CompileCacheWarning, match="ImportError while compiling through it") as caught:
        assert _compile.attempt("nutpie", moved) is None
        assert _compile.attempt("graphs", moved) is None
    assert len(caught) == 1
    assert "BAYES_SCALING_COMPILE_CACHE=0" in str(caught[0].message)  # names the way out
    with compile_cache(False):
        assert _compile.attempt("nutpie", lambda: pytest.fail("the cache is off")) is None
    assert _compile.attempt("graphs", lambda: 42) == 42


def test_switched_off_a_fit_is_pm_sample_and_touches_no_cache(small_runs, fresh, monkeypatch):
    """BAYES_SCALING_COMPILE_CACHE=0: pm.sample(nuts_sampler="nutpie") with the same settings,
    PyMC's compile for the log prior, and nothing read from or written to the caches."""
    import pymc as pm

    monkeypatch.setenv("BAYES_SCALING_COMPILE_CACHE", "0")
    calls, sampled = [], []
    for module, name in [
        (graph_cache, "function"),
        (graph_cache, "lift_constants"),
        (graph_cache, "read_entry"),
        (graph_cache, "write_entry"),
        (nutpie_sampler, "compile_model"),
        (nutpie_sampler, "sample"),
    ]:
        _record_calls(monkeypatch, module, name, calls)
    original = pm.sample
    monkeypatch.setattr(pm, "sample", lambda **kwargs: sampled.append(kwargs) or original(**kwargs))
    _, warned = _tiny_fit(small_runs)
    assert not warned and not calls
    assert not list(fresh.iterdir())
    (kwargs,) = [k for k in sampled if k.get("nuts_sampler") == "nutpie"]
    assert kwargs["nuts"] == {"target_accept": 0.9, "adaptation": "low_rank"}
    assert (kwargs["random_seed"], kwargs["chains"], kwargs["draws"], kwargs["tune"]) == (4, 2, 30, 50)
    assert kwargs["cores"] == sampling_cores(2)


def test_switched_off_initvals_start_every_chain_without_jitter(small_runs, fresh, monkeypatch):
    """As the cache's compile does: pm.sample gets the start and nutpie no jitter."""
    import pymc as pm

    from bayes_scaling.inference.model import ScalingModel, data_scale
    from bayes_scaling.inference.sampling import run_nuts

    seen = {}

    def record(**kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(pm, "sample", record)
    start = {"E": 1.7, "alpha": 0.33, "beta": 0.29}
    with compile_cache(False), ScalingModel().build(small_runs, data_scale(small_runs)), pytest.raises(_Stop):
        run_nuts(draws=5, tune=5, chains=2, sampler="nutpie", nuts={}, random_seed=0, progressbar=False, initvals=start)
    assert seen["nuts_sampler"] == "nutpie" and seen["initvals"] == start
    assert seen["compile_kwargs"] == {"jitter_rvs": set()} and "init" not in seen


class _Stop(Exception):
    pass


@pytest.mark.slow  # a real fit compiled without the cache (~9 s); the fallback's logic is checked fast above
def test_unsupported_version_fit_falls_back_with_one_warning(small_runs, fresh, monkeypatch):
    import pymc

    calls = []
    _record_calls(monkeypatch, nutpie_sampler, "compile_model", calls)
    _record_calls(monkeypatch, graph_cache, "function", calls)
    monkeypatch.setattr(pymc, "__version__", "6.4.0")  # both caches rely on PyMC
    _, warned = _tiny_fit(small_runs)
    assert len(warned) == 1 and "pymc 6.4.0 (supported: >=6.3.2,<6.4)" in str(warned[0].message)
    assert not calls and not list(fresh.iterdir())


@pytest.mark.slow  # two real compiles without the cache (~13 s)
def test_missing_internals_fit_falls_back_with_one_warning(small_runs, fresh, monkeypatch):
    """numba's CFunc without ``enable_caching`` (used by the nutpie callbacks' cache only): the
    fit samples through pm.sample and warns once. PyTensor's FunctionMaker without
    ``prepare_fgraph`` (the graph cache's hook): the log prior is compiled by PyMC, the same."""
    from numba.core.ccallback import CFunc

    with monkeypatch.context() as patch:
        patch.delattr(CFunc, "enable_caching")  # nutpie's own compile does not cache callbacks
        fit, warned = _tiny_fit(small_runs)
    assert len(warned) == 1 and "AttributeError while compiling through it" in str(warned[0].message)
    assert "enable_caching" in str(warned[0].message)

    monkeypatch.setattr(_compile, "_warned", False)
    monkeypatch.setattr(graph_cache, "FunctionMaker", object())  # the cache's reference only
    for entry in fresh.iterdir():
        entry.unlink()
    with pytest.warns(CompileCacheWarning, match="prepare_fgraph") as caught:
        log_prior = log_prior_draws(fit.spec.build(small_runs), fit.idata["posterior"].to_dataset())
    assert len(caught) == 1 and not list(fresh.iterdir())
    for name, values in log_prior.data_vars.items():
        np.testing.assert_allclose(values.values, fit.idata["log_prior"][name].values, rtol=1e-12)


OFF_SCRIPT = textwrap.dedent(
    """
    import warnings
    import bayes_scaling as bs
    from bayes_scaling.errors import CompileCacheWarning
    warnings.simplefilter("error", CompileCacheWarning)
    runs = bs.synthetic.chinchilla_runs(n_configs=40, random_seed=2)
    fit = bs.fit(runs, draws=30, tune=50, chains=2, random_seed=7, progressbar=False)
    print(fit.idata["posterior"].sizes["draw"])
    """
)


@pytest.mark.slow
def test_switched_off_nothing_is_written_beside_pytensors_cache(tmp_path):
    """A whole process with BAYES_SCALING_COMPILE_CACHE=0 and PyTensor's cache folder empty:
    PyTensor fills its own cache, and neither of ours (graphs, records, nutpie's callbacks)
    has an entry."""
    env = {
        **os.environ,
        "BAYES_SCALING_COMPILE_CACHE": "0",
        "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba_own"),
    }
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", OFF_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "30"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written, "PyTensor wrote nothing: the test checks nothing"
    assert not (tmp_path / "bayes_scaling_graphs").exists()
    assert not [p for p in written if "bayes_scaling" in p.name]
