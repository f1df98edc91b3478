"""One way to write a file: atomically, never replacing what the user saved unless asked.

:func:`check_save_path` refuses early (before any sampling); :func:`atomic_write` writes to a
temporary file in the target folder and renames it into place, so an interrupted write leaves
any previous file untouched and no partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import FileExistsNoOverwriteError, option


def check_save_path(path, *, overwrite: bool = False, suffix: str = ".nc") -> Path:
    """Raise now, before any work, if a save to ``path`` would be refused.

    ``suffix`` is the extension the file must have (``".html"`` for reports).
    """
    path = Path(path)
    if path.suffix.lower() != suffix:
        kind = " (netCDF)" if suffix == ".nc" else ""
        raise ValueError(f"save to a '{suffix}' file{kind}, got '{path.name}'")
    if path.is_dir():
        raise ValueError(f"'{path}' is a folder; give a file name ending in '{suffix}'")
    if path.exists() and not overwrite:
        raise FileExistsNoOverwriteError(f"'{path}' exists; pass {option('overwrite', True)} to replace it")
    # the folder the file goes in: its first existing ancestor must be a writable folder
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ValueError(f"cannot save to '{path}': '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot save to '{path}': the folder '{existing}' is not writable")
    return path


def atomic_write(path, write: Callable[[str], None], *, overwrite: bool = True, user_mode: bool = True) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    ``overwrite=False`` refuses (:class:`~bayes_scaling.errors.FileExistsNoOverwriteError`) a
    file that appeared while writing. ``user_mode``: give the file the user's usual mode
    (``mkstemp`` makes it private); cache entries keep theirs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        if path.exists() and not overwrite:  # appeared while we were writing
            raise FileExistsNoOverwriteError(
                f"'{path}' appeared while saving; pass {option('overwrite', True)} to replace it"
            )
        if user_mode:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
