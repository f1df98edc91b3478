"""What planning checks before it answers: its arguments (every problem at once, in one
:class:`~bayes_scaling.errors.SpecError` naming each argument), a target loss against the fitted
losses, the fit's answer guard, and the fitted compute an answer extrapolates from."""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..errors import SpecError, option
from ..units import parse_count


def _number(value) -> float | None:
    """``value`` as one float ("1e24" and "70B" read too), or None if it is not one number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return parse_count(value)
        except ValueError:
            return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything numpy cannot read is "not a number"
        return None
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        return None
    return float(arr.reshape(()))


def fitted_range(fit) -> tuple[float, float]:
    """(largest fitted loss, largest fitted compute C = kND) of the runs behind ``fit`` (over
    every member of a mixture); NaN where the fit keeps no record of its data."""
    members = list(getattr(fit, "fits", {}).values()) or [fit]
    losses, flops = [], []
    for member in members:
        compute = getattr(member, "fitted_compute", None)
        if compute is not None:
            flops.append(float(compute[1]))
        runs = getattr(member, "runs", None)
        if runs is not None and len(runs):
            losses.append(float(np.max(runs.loss)))
            if compute is None:
                flops.append(float(np.max(runs.flops)))
            continue
        idata = getattr(member, "idata", None)
        if idata is not None and "observed_data" in idata:  # files written without the runs
            losses.append(float(np.exp(np.max(idata["observed_data"]["mean_log_loss"].values))))
    return (max(losses) if losses else math.nan), (max(flops) if flops else math.nan)


def extrapolation_factor(fit, flops) -> float | np.ndarray:
    """How far a budget lies beyond the data: ``flops`` / the largest fitted compute (1 at the
    largest fitted run, 100 two decades beyond it; NaN if the fit keeps no record of its data)."""
    largest = fitted_range(fit)[1]
    out = np.asarray(flops, dtype=float) / largest
    return float(out) if out.ndim == 0 else out


def _answer_guard(fit, stacklevel: int = 4):
    """Ask the fit whether it may answer (``fit._check_answerable()``: an unconverged fit that
    was not accepted raises UnconvergedFitError; a fit whose verdict is NOT OK warns once, at the
    caller of the planning function), then return the fit to compute with: a copy that does not
    repeat the warning on each of the many forecasts a planning answer makes. A fit without the
    guard (an object of the caller's own) is returned as it is."""
    from ..forecast.families import FamilyFit

    if isinstance(fit, FamilyFit):
        raise SpecError(
            f"this fit covers the families {list(fit.families)}: plan for one of them, e.g. fit.family({fit.families[0]!r})"
        )
    check = getattr(fit, "_check_answerable", None)
    if check is None:
        return fit
    if "stacklevel" in inspect.signature(check).parameters:
        check(stacklevel=stacklevel)  # warn -> check -> _answer_guard -> planning function -> its caller
    else:
        check()
    quiet = getattr(fit, "accept_unconverged", None)
    return quiet(warn=False) if quiet is not None else fit


class Arguments:
    """The problems of one call's arguments, collected to be raised together (:meth:`check`).

    Each method returns the argument as a float (or array) when it is valid, else records the
    problem (naming the argument) and returns NaN."""

    def __init__(self):
        self.problems: list[str] = []

    def positive(self, name: str, value, what: str = "") -> float:
        """One finite number > 0 (``what`` says what it is, e.g. "a compute budget in FLOPs")."""
        x = _number(value)
        if x is None or not (math.isfinite(x) and x > 0):
            self.problems.append(f"{name} must be {what or 'a number'}: finite and > 0, got {value!r}")
            return math.nan
        return x

    def counts(self, name: str, values, what: str = "compute budgets in FLOPs") -> np.ndarray:
        """One or more counts ("70B" reads too), each finite and > 0, as a flat array."""
        try:
            arr = np.atleast_1d(np.asarray(values))
            arr = np.vectorize(parse_count, otypes=[float])(arr) if arr.dtype.kind in "OUS" else arr.astype(float)
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
            self.problems.append(f"{name} must be {what}, each finite and > 0, got {values!r}")
            return np.array([math.nan])
        return arr.reshape(-1)

    def pairs(self, name: str, values) -> np.ndarray | None:
        """A non-empty list of (params, tokens) pairs ("70B" reads too) as an ``(n, 2)`` array;
        None (with the problem named, by column) if it is not one."""
        table = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)
        if table.ndim != 2 or table.shape[1] != 2 or len(table) == 0:
            self.problems.append(f"{name}s must be a non-empty list of (params, tokens) pairs")
            return None
        before = len(self.problems)
        columns = [self.counts(f"{name} params", table[:, 0], "parameter counts"),
                   self.counts(f"{name} tokens", table[:, 1], "token counts")]  # fmt: skip
        return np.stack(columns, axis=1) if len(self.problems) == before else None

    def probability(self, name: str, value) -> float:
        """A probability strictly between 0 and 1."""
        x = _number(value)
        if x is None or not 0 < x < 1:
            self.problems.append(f"{name} must be a probability strictly between 0 and 1, got {value!r}")
            return math.nan
        return x

    def count(self, name: str, value, minimum: int = 1) -> int:
        """A whole number >= ``minimum``."""
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            self.problems.append(f"{name} must be a whole number >= {minimum}, got {value!r}")
            return minimum
        return int(value)

    def choice(self, name: str, value, options) -> None:
        if value not in options:
            self.problems.append(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")

    def target_loss(self, name: str, value, fit) -> float:
        """A loss in nats: finite, > 0 and not above every fitted loss (such a target is met by the
        smallest run already: almost surely a perplexity, bits, or another mistake)."""
        x = _number(value)
        if x is None or not (math.isfinite(x) and x > 0):
            self.problems.append(f"{name} must be a positive loss in nats (finite, > 0), got {value!r}")
            return math.nan
        largest = fitted_range(fit)[0]
        if x > largest:  # False when the fit keeps no record of its losses (NaN)
            hints = []
            if 0 < math.log(x) <= largest:
                hints.append(f"perplexity? ln({x:g}) = {math.log(x):.3g} nats")
            if x * math.log(2) <= largest:
                hints.append(f"bits? {x:g} bits = {x * math.log(2):.3g} nats")
            self.problems.append(
                f"{option(name, int(x) if x.is_integer() else x)} is above every fitted loss (max {largest:.3g}): "
                f"already met by the smallest run; {'; '.join(hints) or 'perplexity or bits?'}; give a loss in nats (mean "
                "cross-entropy per token)"
            )
        return x

    def check(self) -> None:
        """Raise one SpecError listing every problem found (nothing if there is none)."""
        if len(self.problems) == 1:
            raise SpecError(self.problems[0])
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            raise SpecError(f"{len(self.problems)} problems with the arguments:\n{lines}")
