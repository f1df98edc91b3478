"""Exceptions and warnings raised by bayes_scaling (each names the problem and the fix)."""


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
