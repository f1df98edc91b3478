"""Saving and loading fits: netCDF DataTree files with a strict, versioned header.

Root attributes of a saved file: ``format`` (the marker ``bayes_scaling.fit``), integer
``format_version``, ``package_version`` and dependency versions, ``law``, the JSON ``spec`` and
its ``spec_id`` (SHA-256 of the sorted JSON), ``scale`` (reference sizes), sampler settings,
``data_hash``, ``content_hash`` (of the draws and data), ``diagnostics`` and ``created``. Groups: ``posterior``, ``sample_stats``,
``observed_data``, ``constant_data`` and ``runs`` (the fitted table); a curve fit's
``curves`` (its rows) and ``schedules`` (each run's rate at every step) instead of ``runs``.

``load`` checks, in order and each with its own error: the file exists, it is a netCDF
DataTree written by this package (schema), its format version, and its identity.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import _constants as K
from ..atomic import atomic_write, check_save_path
from ..errors import (
    FitFileNotFoundError,
    ForeignFileError,
    FormatVersionError,
    IdentityError,
    IncompatibleFileError,
)
from ..laws import DataScale
from ..laws.curves import CurveScale

REQUIRED_ATTRS = (
    "format",
    "format_version",
    "law",
    "spec",
    "spec_id",
    "scale",
    "flops_per_param_token",
    "content_hash",
)
REQUIRED_GROUPS = ("posterior", "constant_data")
_DEPENDENCIES = ("pymc", "pytensor", "arviz", "numpy", "xarray", "pandas")


def content_hash(tree) -> str:
    """SHA-256 over the draws, the fitted data and runs, the reference sizes and k.

    HDF5 keeps no checksums by default: a flipped bit in the draws would load silently and
    change every answer. ``load`` recomputes this and refuses a mismatch.
    """
    import numpy as np

    digest = hashlib.sha256()
    # Attributes that change answers are hashed too (the spec has its own id).
    attrs = tree.attrs
    digest.update(f"scale={attrs.get('scale')}|law={attrs.get('law')}".encode())
    digest.update(f"k={float(attrs.get('flops_per_param_token', 'nan')):.17g}".encode())
    for group in ("posterior", "constant_data", "observed_data", "runs", "curves", "schedules"):
        if group not in tree:
            continue
        ds = tree[group].to_dataset()
        for name in sorted(ds.data_vars):
            values = np.asarray(ds[name].values)
            if values.dtype.kind in "OUS":  # text: fixed-width vs object dtype differ after a round trip
                digest.update(f"{group}/{name}{values.shape}text".encode())
                digest.update("\x1f".join(str(v) for v in values.ravel()).encode())
            else:
                values = np.ascontiguousarray(values)
                digest.update(f"{group}/{name}{values.shape}{values.dtype.str}".encode())
                digest.update(values.tobytes())
    return digest.hexdigest()


def save(fit, path, *, overwrite: bool = False) -> Path:
    """Write ``fit`` to ``path`` (netCDF) atomically: a temporary file, then a rename.

    Refuses to replace an existing file unless ``overwrite=True``; an interrupted save leaves
    any previous file untouched and no partial file behind. Only posterior fits are saved
    (what ``load`` accepts); prior draws from ``sample_prior`` are not.
    """
    path = check_save_path(path, overwrite=overwrite)
    written_here = ("format", "format_version", "content_hash")
    missing = [a for a in REQUIRED_ATTRS if a not in written_here and a not in fit.idata.attrs]
    missing += [g for g in REQUIRED_GROUPS if g not in fit.idata]
    if missing:
        raise IncompatibleFileError(
            f"cannot save this fit: it lacks {missing} (only posterior fits from fit() are saved)"
        )
    tree = fit.idata.copy()
    tree.attrs.update(
        {
            "format": K.FILE_MARKER,
            "format_version": K.FORMAT_VERSION,
            "package_version": K.installed_version("bayes_scaling"),
            "dependency_versions": json.dumps({p: K.installed_version(p) for p in _DEPENDENCIES}, sort_keys=True),
            "content_hash": content_hash(tree),
        }
    )
    return atomic_write(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"), overwrite=overwrite)


def read(path):
    """Load a saved fit. No PyMC compilation or sampling happens.

    Raises
    ------
    FitFileNotFoundError : no file at ``path``.
    ForeignFileError : not a netCDF file, or not written by bayes_scaling (schema check).
    FormatVersionError : written in a format version this package does not read.
    IdentityError : the stored spec does not hash to the stored ``spec_id``, or the draws and
        data do not match the stored ``content_hash`` (corruption).
    """
    import xarray as xr

    from ..inference.model import spec_id

    path = Path(path)
    if not path.is_file():
        raise FitFileNotFoundError(f"no saved fit at '{path}'")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as handle:
            tree = handle.load()
    except Exception as exc:  # h5py/h5netcdf/xarray raise many types for a non-netCDF file
        raise ForeignFileError(f"'{path}' is not a readable netCDF file ({type(exc).__name__}: {exc})") from None
    attrs = tree.attrs
    if attrs.get("format") != K.FILE_MARKER:
        raise ForeignFileError(
            f"'{path}' is a netCDF file but not a bayes_scaling fit (no 'format={K.FILE_MARKER}' attribute)"
        )
    version_found = attrs.get("format_version")
    try:
        version_ok = version_found is not None and int(version_found) == K.FORMAT_VERSION
    except (TypeError, ValueError):
        version_ok = False
    if not version_ok:
        raise FormatVersionError(
            f"'{path}' has format version {version_found}; this bayes_scaling ({K.installed_version('bayes_scaling')}) reads version "
            f"{K.FORMAT_VERSION}: load it with the package version that wrote it ({attrs.get('package_version')})"
        )
    missing = [a for a in REQUIRED_ATTRS if a not in attrs] + [g for g in REQUIRED_GROUPS if g not in tree]
    if missing:
        raise ForeignFileError(f"'{path}' lacks required parts {missing}: truncated or written by another tool")
    try:
        spec = json.loads(attrs["spec"])
        scale = (CurveScale if spec.get("curves") else DataScale)(**json.loads(attrs["scale"]))
    except (json.JSONDecodeError, TypeError) as exc:  # TypeError: fields differ from this version's
        raise ForeignFileError(f"'{path}' has an unreadable spec or scale attribute: {exc}") from None
    if spec_id(spec) != attrs["spec_id"]:
        raise IdentityError(
            f"'{path}': stored spec hashes to {spec_id(spec)} but the file says {attrs['spec_id']}: "
            "the file was edited or corrupted; refit rather than trust it"
        )
    if attrs["content_hash"] != content_hash(tree):
        raise IdentityError(
            f"'{path}': the posterior draws or data do not match the file's content hash: the file is corrupted; "
            "restore it from a copy or refit"
        )
    return tree, spec, scale, float(attrs["flops_per_param_token"])


def stored_runs(tree, flops_per_param_token: float):
    """The runs table kept in a fit's ``runs`` group (None without one), re-validated without
    the plausibility checks (these runs were accepted when the fit was made)."""
    from ..data.runs import Runs

    if "runs" not in tree:
        return None
    frame = tree["runs"].to_dataset().to_dataframe().reset_index(drop=True)
    return Runs.from_frame(frame, flops_per_param_token=flops_per_param_token, plausibility=False)
