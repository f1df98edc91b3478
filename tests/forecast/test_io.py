"""Saved files: atomic, never silently overwritten, strict on load, identical answers after."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling import _constants as K
from bayes_scaling.testing import fabricated_fit

DATA = Path(__file__).resolve().parents[1] / "files"


def _assert_same_tree(a, b):
    for group in ("posterior", "sample_stats", "constant_data", "runs"):
        if group not in a:
            continue
        da, db = a[group].to_dataset(), b[group].to_dataset()
        assert set(da.data_vars) == set(db.data_vars), group
        for name in da.data_vars:
            np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=f"{group}/{name}")


@pytest.mark.parametrize("which", ["fake_fit", "small_fit"])
def test_roundtrip_is_bit_for_bit_and_answers_identically(which, request, tmp_path):
    fit = request.getfixturevalue(which)
    path = tmp_path / "fit.nc"
    fit.save(path)
    loaded = bs.load(path)
    _assert_same_tree(fit.idata, loaded.idata)
    assert loaded.spec_dict == fit.spec_dict and loaded.scale == fit.scale
    np.testing.assert_array_equal(
        loaded.predict([7e10, 1e9], [1.4e12, 2e10]).draws, fit.predict([7e10, 1e9], [1.4e12, 2e10]).draws
    )
    assert loaded.compute_optimal([1e21, 1e24]).equals(fit.compute_optimal([1e21, 1e24]))
    assert loaded.summary().equals(fit.summary())
    attrs = loaded.idata.attrs
    assert attrs["format"] == K.FILE_MARKER and int(attrs["format_version"]) == K.FORMAT_VERSION
    assert json.loads(attrs["spec"])["law"] == "chinchilla"
    assert "pymc" in json.loads(attrs["dependency_versions"])
    assert len(attrs["data_hash"]) == 64
    assert loaded.runs is not None and len(loaded.runs) == len(fit.runs)


def test_save_refuses_to_overwrite_and_keeps_the_old_file(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    before = path.read_bytes()
    other = fabricated_fit(random_seed=5)
    with pytest.raises(bs.FileExistsNoOverwriteError, match="overwrite=True"):
        other.save(path)
    assert path.read_bytes() == before
    other.save(path, overwrite=True)
    assert path.read_bytes() != before
    np.testing.assert_array_equal(bs.load(path).draws("E"), other.draws("E"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]  # no temporary files left


def test_save_leaves_nothing_when_writing_fails(fake_fit, tmp_path, monkeypatch):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.DataTree, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        fake_fit.save(path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_save_needs_nc_suffix(fake_fit, tmp_path):
    with pytest.raises(ValueError, match="'.nc'"):
        fake_fit.save(tmp_path / "fit.pkl")


def test_load_missing_file(tmp_path):
    with pytest.raises(bs.FitFileNotFoundError, match="no saved fit at"):
        bs.load(tmp_path / "nope.nc")


def test_load_text_file_is_foreign(tmp_path):
    path = tmp_path / "runs.nc"
    path.write_text("params,tokens,loss\n1,2,3\n")
    with pytest.raises(bs.ForeignFileError, match="not a readable netCDF"):
        bs.load(path)


def test_load_truncated_file_is_foreign(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(bs.ForeignFileError):
        bs.load(path)


def test_load_other_netcdf_is_foreign(tmp_path):
    path = tmp_path / "other.nc"
    xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("a", [1.0, 2.0])})}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(bs.ForeignFileError, match="not a bayes_scaling fit"):
        bs.load(path)


def _rewrite_attrs(fit, path, **changes):
    """Save ``fit``, then rewrite the file with some root attributes changed."""
    fit.save(path)
    tree = bs.load(path).idata.copy()
    tree.attrs.update(changes)
    path.unlink()
    tree.to_netcdf(path, engine="h5netcdf")


def test_load_wrong_format_version(fake_fit, tmp_path):
    path = tmp_path / "future.nc"
    _rewrite_attrs(fake_fit, path, format_version=K.FORMAT_VERSION + 1)
    with pytest.raises(bs.FormatVersionError, match=f"format version {K.FORMAT_VERSION + 1}"):
        bs.load(path)


def test_load_edited_spec_fails_identity(fake_fit, tmp_path):
    path = tmp_path / "edited.nc"
    spec = json.loads(fake_fit.idata.attrs["spec"])
    spec["likelihood"] = "normal"
    _rewrite_attrs(fake_fit, path, spec=json.dumps(spec))
    with pytest.raises(bs.IdentityError, match="edited or corrupted"):
        bs.load(path)


@pytest.mark.parametrize("path", sorted(DATA.glob("format_v*.nc")), ids=lambda p: p.name)
def test_every_released_format_still_loads(path):
    fit = bs.load(path)
    table = fit.compute_optimal([1e24])
    assert 1e10 < table["params_median"].iloc[0] < 1e11


def test_released_format_files_exist_for_current_version():
    assert (DATA / f"format_v{K.FORMAT_VERSION}.nc").is_file()


def test_load_and_answer_in_fresh_process_without_pymc(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    code = (
        "import sys, bayes_scaling as bs\n"
        f"fit = bs.load({str(path)!r})\n"
        "fit.predict(7e10, 1.4e12).interval(0.9); fit.compute_optimal([1e24])\n"
        "heavy = [m for m in ('pymc', 'pytensor', 'arviz', 'nutpie') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_concurrent_loads_of_one_file(fake_fit, tmp_path):
    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    code = f"import bayes_scaling as bs; print(bs.load({str(path)!r}).compute_optimal([1e24])['params_median'].iloc[0])"
    # two other processes and this one read the file at once (each new process costs 2 s of imports)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    here = str(bs.load(path).compute_optimal([1e24])["params_median"].iloc[0])
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert set(outs) == {here}


def test_corrupted_draws_fail_the_content_hash(fake_fit, tmp_path):
    import h5py

    path = tmp_path / "fit.nc"
    fake_fit.save(path)
    with h5py.File(path, "r+") as handle:  # flip one draw by 1e-9, as a bad disk or copy might
        values = handle["posterior"]["alpha"][...]
        values[0, 5] += 1e-9
        handle["posterior"]["alpha"][...] = values
    with pytest.raises(bs.IdentityError, match="content hash: the file is corrupted"):
        bs.load(path)


def test_saved_file_records_provenance(small_fit, tmp_path):
    path = tmp_path / "fit.nc"
    small_fit.save(path)
    attrs = bs.load(path).idata.attrs
    for key in (
        "package_version",
        "dependency_versions",
        "data_hash",
        "content_hash",
        "spec",
        "sampler_settings",
        "created",
    ):
        assert attrs[key], key
    assert json.loads(attrs["sampler_settings"])["sampler"] in ("nutpie", "pymc")
    recorded = json.loads(attrs["diagnostics"])  # what the fit found, whatever this machine's draws gave
    assert recorded["ok"] is bool(small_fit.diagnostics()["ok"].all())
    assert recorded["problems"] == small_fit.diagnostics().attrs["problems"]
    assert {"prior", "log_prior"} <= set(bs.load(path).idata.children)


def test_edited_reference_sizes_fail_the_content_hash(fake_fit, tmp_path):
    """The reference sizes change every answer, so they are part of the content hash."""
    path = tmp_path / "scale.nc"
    scale = json.loads(fake_fit.idata.attrs["scale"])
    scale["log_n_ref"] += 0.001
    _rewrite_attrs(fake_fit, path, scale=json.dumps(scale, sort_keys=True))
    with pytest.raises(bs.IdentityError, match="content hash"):
        bs.load(path)


def test_prior_draws_are_not_saved(small_runs, tmp_path):
    prior = bs.sample_prior(small_runs, draws=50, random_seed=0)
    with pytest.raises(bs.IncompatibleFileError, match="only posterior fits"):
        prior.save(tmp_path / "prior.nc")
    assert not any(tmp_path.iterdir())
