"""Exceptions and warnings raised by bayes_scaling (each names the problem and the fix), and the
spelling of the fix in the words of the interface that was called (:func:`option`)."""

import contextlib
import contextvars
from collections.abc import Callable, Iterator


class BayesScalingError(Exception):
    """Base class of every error this package raises on purpose."""


class RunsValidationError(BayesScalingError, ValueError):
    """The runs table has problems; ``problems`` lists every one (column, rows, hint)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"the runs table has {n} problem{'s' if n != 1 else ''}:\n{lines}")


class SpecError(BayesScalingError, ValueError):
    """A model specification (law, priors, options) is invalid."""


class IncompatibleFileError(BayesScalingError):
    """A saved file cannot be loaded as a bayes_scaling fit."""


class ForeignFileError(IncompatibleFileError):
    """The file is not a bayes_scaling fit (not netCDF, or written by something else)."""


class FormatVersionError(IncompatibleFileError):
    """The file was written in a format version this package cannot read."""


class IdentityError(IncompatibleFileError):
    """The file's stored spec does not match its stored id (edited or corrupted)."""


class FitFileNotFoundError(BayesScalingError, FileNotFoundError):
    """No file at the given path."""


class FileExistsNoOverwriteError(BayesScalingError, FileExistsError):
    """Refused to replace an existing file without ``overwrite=True``."""


class SamplingWarning(UserWarning):
    """The sampler's diagnostics (divergences, R-hat, ESS) suggest the posterior is unreliable."""


class SamplingError(BayesScalingError, RuntimeError):
    """Raised instead of :class:`SamplingWarning` when fitting with ``strict=True``."""


class CompileCacheWarning(UserWarning):
    """The private compile cache could not be used (an unsupported nutpie, numba, PyTensor or PyMC
    version, or an internal of theirs that moved): the fit compiled the ordinary way, slower to
    start. ``BAYES_SCALING_COMPILE_CACHE=0`` switches the cache off and silences it."""


class UnconvergedFitError(BayesScalingError, RuntimeError):
    """A forecast was asked of a fit whose sampler did not converge at all (R-hat above 1.1 or an
    effective sample size below 50): its numbers are not a posterior. Refit, or accept it
    explicitly (``fit.accept_unconverged()``; the CLI's ``--accept-unconverged``)."""


class DiagnosticsWarning(SamplingWarning):
    """An answer comes from a fit whose verdict is NOT OK (its diagnostics failed a check)."""


class ExtrapolationWarning(UserWarning):
    """An answer lies far outside the fitted range (beyond or below the fitted compute)."""


class RunsWarning(UserWarning):
    """fit() uses the runs table other than as given, or it will be slow: only each run's final
    checkpoint for a law of the final loss; a table so large the fit takes minutes."""


# ---------------------------------------------------------------------- the interface's words
# Messages advise the user to change an argument. A Python caller passes ``plausibility=False``;
# a command-line user passes ``--no-plausibility``. Messages spell the advice with
# :func:`option`, and the interface that called the package (the CLI) installs its own spelling
# for the duration of a command with :func:`spoken_as`.
def _python_spelling(name: str, value) -> str:
    if value is ...:
        return f"{name}=..."
    return f"{name}={value!r}"


_SPELLING: contextvars.ContextVar[Callable[[str, object], str | None] | None] = contextvars.ContextVar(
    "bayes_scaling_spelling", default=None
)


def option(name: str, value=..., *, python: str | None = None) -> str:
    """How the current interface spells "set argument ``name`` to ``value``" in advice:
    ``plausibility=False`` in Python, ``--no-plausibility`` on the command line. ``value=...``
    means "some value" (``params=...``); ``python``: the Python spelling when it is not an
    argument (``"fit.accept_unconverged()"``)."""
    spelling = _SPELLING.get()
    text = spelling(name, value) if spelling is not None else None
    if text is not None:
        return text
    return python if python is not None else _python_spelling(name, value)


def in_python() -> bool:
    """Whether messages are spelled for a Python caller (no :func:`spoken_as` block is active):
    for advice that only Python can follow, e.g. a method to call."""
    return _SPELLING.get() is None


@contextlib.contextmanager
def spoken_as(spelling: Callable[[str, object], str | None]) -> Iterator[None]:
    """Spell the advice of every message raised inside the block with ``spelling(name, value)``
    (a function returning text, e.g. ``"--loss-unit bits"``, or ``None`` for the Python
    spelling)."""
    token = _SPELLING.set(spelling)
    try:
        yield
    finally:
        _SPELLING.reset(token)
