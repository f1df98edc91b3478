"""Parse and print counts the way people write them: 70B params, 1.4T tokens, 5.8e23 FLOPs."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np

#: Suffixes of counts, either case ("70b" = "70B"): counts have no milli, so "m" is a million.
_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_COUNT_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmMbBgGtTpP]?)\s*$")


def parse_count(value) -> float:
    """Parse ``7e10``, ``"7e10"``, ``"70B"``, ``"1.4T"`` or ``"500M"`` to a float.

    Raises ``ValueError`` with the offending text when the value is not a count.

    >>> parse_count("1.4T")
    1400000000000.0
    >>> parse_count("70B")
    70000000000.0
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # a Python int beyond float range, like float("1e400")
            return math.inf if value > 0 else -math.inf
    match = _COUNT_RE.match(str(value))
    if match is None:
        raise ValueError(f"cannot read {value!r} as a number; write e.g. 7e10, 70B (1e9), 1.4T (1e12) or 500M")
    number, suffix = match.groups()
    if not suffix:
        return float(number)
    # Exact decimal product, so that "8.2B" is the same float as 8.2e9.
    return float(Decimal(number) * Decimal(int(_SUFFIX[suffix.upper()])))


def format_count(value: float, digits: int = 3) -> str:
    """Engineering notation with the usual suffixes: 7.0e10 -> ``"70B"``, 1.4e12 -> ``"1.4T"``.

    >>> format_count(7e10)
    '70B'
    >>> format_count(1.4e12)
    '1.4T'
    """
    if value is None or not np.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    # Round first, so that 999.96e6 reads "1B", not "1e+03M".
    value = float(f"{value:.{digits}g}")
    if abs(value) >= 1e18:  # beyond P: scientific notation reads better
        return format_flops(value, digits)
    for suffix, scale in (("P", 1e15), ("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def format_flops(value: float, digits: int = 3) -> str:
    """Scientific notation for compute: 5.76e23 -> ``"5.76e23"``.

    >>> format_flops(5.76e23)
    '5.76e23'
    """
    if value is None or not np.isfinite(value) or value == 0:
        return str(value)
    if value < 0:
        return "-" + format_flops(-value, digits)
    exponent = math.floor(math.log10(value))
    mantissa = value / 10**exponent
    if round(mantissa, digits - 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{digits}g}e{exponent}"


def as_counts(values, name: str) -> np.ndarray:
    """Sizes or budgets as a 1-D float array: numbers or text such as "70B"; all finite and > 0.

    Raises ``ValueError`` naming ``name`` and the offending value otherwise.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        try:
            arr = np.vectorize(parse_count, otypes=[float])(arr)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    arr = np.atleast_1d(arr.astype(float))
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {values!r}")
    return arr
