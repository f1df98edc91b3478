"""models/ holds data, not code: every file is in the manifest, intact, and loads and answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import bayes_scaling as bs
from bayes_scaling import _constants as K

MODELS = Path(__file__).resolve().parents[1] / "models"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())
ENTRIES = {entry["file"]: entry for entry in MANIFEST["models"]}


def test_every_file_is_in_the_manifest_and_nothing_else_lives_there():
    files = {p.name for p in MODELS.iterdir() if p.name not in ("manifest.json", "README.md")}
    assert files == set(ENTRIES)
    assert all(name.endswith(".nc") for name in files)
    assert "chinchilla_demo.nc" in files


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_model_file_matches_manifest_and_answers(name):
    entry = ENTRIES[name]
    path = MODELS / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], "file changed: update the manifest"
    fit = bs.load(path)
    attrs = fit.idata.attrs
    assert attrs["spec_id"] == entry["spec_id"] and attrs["law"] == entry["law"]
    assert int(attrs["format_version"]) == entry["format_version"] == K.FORMAT_VERSION
    assert json.loads(attrs["diagnostics"])["ok"], "shipped posteriors must pass their diagnostics"
    table = fit.compute_optimal([1e24])
    assert table["params_lo"].iloc[0] < table["params_median"].iloc[0] < table["params_hi"].iloc[0]
    fc = fit.predict(7e10, 1.4e12)
    assert 1.5 < fc.median[0] < 2.5
