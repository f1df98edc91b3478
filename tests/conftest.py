"""Shared fixtures: one real NUTS fit per session (copies handed out), fabricated posteriors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.testing import fabricated_fit  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_runs():
    """60 synthetic configurations (some with 3 seeds) from Chinchilla's law."""
    return bs.synthetic.chinchilla_runs(n_configs=60, random_seed=1)


@pytest.fixture(scope="session")
def small_fit(small_runs):
    """A real, quick NUTS fit (4 chains x 500 draws) shared by the whole session: do not mutate.

    Four chains, not two: with two, R-hat of the weakly identified nu sat at 1.01 and flipped
    between machines whose compiled code differs in the last bits."""
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
