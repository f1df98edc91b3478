"""Shared fixtures: one real NUTS fit per session (copies handed out), fabricated posteriors."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread. SciPy's L-BFGS-B (the Approach-3 point fit inside every fit's data_scale, the
# mode search, the baselines) calls BLAS on vectors of ~10 numbers thousands of times. When the
# cores are busy (worker pools, parallel chains, other jobs), OpenBLAS waking its threads for each
# call made a step 7-15x slower (2 ms, not 0.25 ms); on idle cores it makes no difference, and no
# result depends on it. The variable reaches the processes the tests start; in this process NumPy
# and SciPy loaded their OpenBLAS before this file (pytest plugins import NumPy), so the limit is
# also set at run time (threadpoolctl is a PyMC dependency).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import scipy.optimize  # noqa: E402, F401  (loads SciPy's own OpenBLAS, so that the limit reaches it)
from threadpoolctl import threadpool_limits  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.testing import fabricated_fit  # noqa: E402

threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# Test files mirror the package (tests/laws/, tests/data/, ...); the helpers they share
# (tolerances.py, form_cases.py) stay here, importable from every folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def small_runs():
    """60 synthetic configurations (some with 3 seeds) from Chinchilla's law."""
    return bs.synthetic.chinchilla_runs(n_configs=60, random_seed=1)


@pytest.fixture(scope="session")
def small_fit(small_runs):
    """A real, quick NUTS fit (4 chains x 500 draws) shared by the whole session: do not mutate.

    Four chains, not two: with two, R-hat of the weakly identified nu sat at 1.01 and flipped
    between machines whose compiled code differs in the last bits. Its sampler diagnostics are
    asserted, with tolerances, by ``test_small_fit_samples_cleanly``, not here: a SamplingWarning
    (with random_seed=3 alpha's R-hat was 1.0104, with 2 a Pareto k was 0.71; another machine's
    draw stream can do the same) would otherwise error every test that uses the fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        return bs.fit(small_runs, draws=500, tune=500, chains=4, random_seed=1, progressbar=False)


@pytest.fixture(scope="session")
def fake_fit():
    """A fabricated posterior around Chinchilla's published parameters (no sampling)."""
    return fabricated_fit(random_seed=0)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside the repository")
    return SHARED_DATA
