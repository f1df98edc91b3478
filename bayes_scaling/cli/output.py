"""How the ``bayes-scaling`` commands print answers: tables with units, or ``--json`` /
``--csv`` with the fit's verdict."""

from __future__ import annotations

import json


def print_table(table) -> None:
    from ..viz.tables import to_text

    print(to_text(table))
    print()


def emit(args, table, fit=None, extra: dict | None = None) -> bool:
    """Print ``table`` (numeric) as JSON or CSV when asked; True when done. Both carry the
    fit's verdict (JSON: a ``verdict`` object; CSV: a ``verdict`` column)."""
    if not (getattr(args, "json", False) or getattr(args, "csv", False)):
        return False
    verdict = fit.verdict if fit is not None else None
    if args.json:
        payload = {"model": getattr(args, "model", None)}
        if verdict is not None:
            payload["verdict"] = verdict.to_dict()
        payload.update(extra or {})
        if table is not None:
            payload["rows"] = json.loads(table.reset_index().to_json(orient="records", double_precision=15))
        print(json.dumps(json_safe(payload), indent=2, allow_nan=False))
    else:
        out = table.reset_index()
        if verdict is not None:
            out["verdict"] = verdict.label
        print(out.to_csv(index=False), end="")
    return True


def json_safe(value):
    """Standard JSON: numpy scalars as numbers, NaN and infinities (e.g. "not reached below
    1e30 FLOPs") as null."""
    import math

    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scalars(answer) -> dict:
    """The numbers, flags and words of a planning answer (a dataclass), without its arrays."""
    import dataclasses

    import numpy as np

    out = {}
    for f in dataclasses.fields(answer):
        value = getattr(answer, f.name)
        if isinstance(value, (bool, int, float, str, np.floating, np.integer, np.bool_)) or value is None:
            out[f.name] = value.item() if hasattr(value, "item") else value
        elif isinstance(value, tuple) and all(isinstance(v, (int, float, str)) for v in value):
            out[f.name] = list(value)
    if hasattr(answer, "extrapolation_factor"):
        out["extrapolation_factor"] = float(answer.extrapolation_factor)
    return out
