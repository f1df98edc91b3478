"""Private compile caches: PyTensor graphs rewritten once and kept on disk (:mod:`.graph_cache`)
and nutpie's callbacks loaded from numba's cache (:mod:`.nutpie_sampler`). They rely on private
internals of nutpie, numba and PyTensor; nothing outside :mod:`bayes_scaling.inference` uses
them, and everything they do has an ordinary path beside it (``pm.sample(nuts_sampler="nutpie")``,
a plain PyTensor compile) that gives the same model.

This module decides which path runs, and imports no compiler itself:

- **The switch.** ``BAYES_SCALING_COMPILE_CACHE=0`` (read at each use, so it reaches worker
  processes too) or :func:`compile_cache` turns both caches off: no cache entry is read or
  written and every fit goes the ordinary way (slower to start, same settings and seeds).
- **Supported versions.** :data:`SUPPORTED_VERSIONS` are the releases the caches were written
  and tested against. Outside them a cache is not used.
- **Never a crash.** A cache that fails while compiling (an internal moved, renamed or changed
  its signature: ``ImportError``, ``AttributeError``, ``TypeError``, or anything else) is given
  up for that compile, which then goes the ordinary way. Both this and an unsupported version
  emit one :class:`~bayes_scaling.errors.CompileCacheWarning` per process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import warnings
from collections.abc import Callable

from ...errors import CompileCacheWarning, SpecError

__all__ = [
    "ENV_VAR",
    "SUPPORTED_VERSIONS",
    "attempt",
    "compile_cache",
    "compile_cache_enabled",
    "unsupported_versions",
]

#: The environment variable that switches the caches off ("0") or on ("1", the default).
ENV_VAR = "BAYES_SCALING_COMPILE_CACHE"

#: ``{distribution: (lowest, first unsupported)}``: the releases the caches were written against
#: (nutpie 0.16.11, numba 0.68.0, PyTensor 3.3.8, PyMC 6.3.2), up to the next minor release,
#: where private internals may move. Widen a range only after the cache tests pass on it.
SUPPORTED_VERSIONS = {
    "pytensor": ("3.3.8", "3.4"),
    "pymc": ("6.3.2", "6.4"),
    "numba": ("0.68.0", "0.69"),
    "nutpie": ("0.16.11", "0.17"),
}

#: What each cache relies on: the rewritten graphs (``"graphs"``, :mod:`.graph_cache`) and
#: nutpie's callbacks (``"nutpie"``, :mod:`.nutpie_sampler`, which uses the graph cache too).
USES = {
    "graphs": ("pytensor", "pymc"),
    "nutpie": ("pytensor", "pymc", "numba", "nutpie"),
}

_OFF, _ON = ("0", "false", "no", "off"), ("", "1", "true", "yes", "on")
_switch: bool | None = None  # compile_cache(...); None: the environment variable decides
_warned = False  # one CompileCacheWarning per process


def compile_cache_enabled() -> bool:
    """Whether the compile caches are switched on: :func:`compile_cache`'s setting if one is in
    force, else ``$BAYES_SCALING_COMPILE_CACHE`` ("0", "false", "no", "off" switch them off),
    else on. An unsupported version can still keep a cache from being used."""
    if _switch is not None:
        return _switch
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    raise SpecError(f"{ENV_VAR} must be 0 (compile caches off) or 1 (on), got {os.environ[ENV_VAR]!r}")


class _Setting(contextlib.AbstractContextManager):
    """Returned by :func:`compile_cache`: the setting is in force already; as a context manager
    it restores the previous one on exit."""

    def __init__(self, previous: bool | None):
        self._previous = previous

    def __exit__(self, *exc_info) -> None:
        global _switch
        _switch = self._previous


def compile_cache(enabled: bool | None) -> contextlib.AbstractContextManager:
    """Switch the compile caches on (True) or off (False) for this process, over
    ``$BAYES_SCALING_COMPILE_CACHE``; None hands the decision back to the variable. Off, fits
    compile the ordinary way (``pm.sample(nuts_sampler="nutpie")``, a plain PyTensor compile)
    and no cache entry is read or written. Used in a ``with`` statement, the previous setting
    returns at the end of the block. Worker processes started by ``spawn`` (e.g. Dask's) do not
    inherit it: set the environment variable for them.

    >>> from bayes_scaling.inference import compile_cache, compile_cache_enabled
    >>> with compile_cache(False):
    ...     compile_cache_enabled()
    False
    """
    global _switch
    if enabled is not None and not isinstance(enabled, bool):
        raise SpecError(f"compile_cache takes True, False or None, got {enabled!r}")
    previous, _switch = _switch, enabled
    return _Setting(previous)


def _release(version: str) -> tuple[int, ...]:
    """The leading release numbers of ``version`` ("0.17.0rc1" -> (0, 17, 0))."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def unsupported_versions(cache: str) -> list[str]:
    """The installed libraries ``cache`` (``"graphs"`` or ``"nutpie"``) relies on whose versions
    are outside :data:`SUPPORTED_VERSIONS`, as "name version (supported: >=lo,<hi)"."""
    problems = []
    for name in USES[cache]:
        low, high = SUPPORTED_VERSIONS[name]
        try:
            version = str(importlib.import_module(name).__version__)
        except (ImportError, AttributeError):
            problems.append(f"{name} not importable or without a version (supported: >={low},<{high})")
            continue
        if not _release(low) <= _release(version) < _release(high):
            problems.append(f"{name} {version} (supported: >={low},<{high})")
    return problems


def _warn_once(reason: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(
        f"bayes_scaling's compile cache is not used: {reason}. Compiling the ordinary way instead "
        f"(same model and settings, slower to start); set {ENV_VAR}=0 to switch the cache off "
        "and silence this warning.",
        CompileCacheWarning,
        stacklevel=3,
    )


def usable(cache: str) -> bool:
    """Whether ``cache`` is switched on and its libraries are supported (else, if only the
    versions stand in the way, the process's one warning)."""
    if not compile_cache_enabled():
        return False
    problems = unsupported_versions(cache)
    if problems:
        _warn_once("unsupported version(s): " + ", ".join(problems))
        return False
    return True


def attempt[T](cache: str, compile_: Callable[[], T]) -> T | None:
    """``compile_()`` through ``cache``, or None when the cache is off, unsupported or fails:
    the caller then compiles the ordinary way. Import the cache's module inside ``compile_``
    (an internal it imports may be gone) and sample outside it."""
    if not usable(cache):
        return None
    try:
        return compile_()
    # ImportError, AttributeError, TypeError from a moved internal are the expected ones; any
    # other failure, a numba error included, must not stop a fit either (an error of the model
    # itself is raised again by the ordinary compile).
    except Exception as exc:  # noqa: BLE001
        _warn_once(f"{type(exc).__name__} while compiling through it ({exc})")
        return None
