"""``fit --compare-params-col COL``: the same runs fitted again with N counted by another
column (e.g. non-embedding parameters), and how far the forecast moves between the two."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .output import print_table


def _counts(column: pd.Series) -> np.ndarray:
    """A count column as floats ("7B" read as 7e9; blanks and text as NaN)."""
    from ..units import parse_count

    def one(value):
        if isinstance(value, str):
            try:
                return parse_count(value)
            except ValueError:
                return np.nan
        return value

    return pd.to_numeric(column.map(one), errors="coerce").to_numpy(dtype=float)


def read_raw_table(args) -> pd.DataFrame:
    """The runs file as read (its own column names), the rows of ``--family`` only if given."""
    from ..data.reading import read_table

    raw = read_table(args.runs, encoding=args.encoding)
    if args.family and "family" in raw.columns:
        raw = raw[raw["family"].astype(str) == args.family]
    return raw


def check_compare_column(args, raw: pd.DataFrame) -> None:
    """Refuse before sampling: the other column must exist, differ from N's, and give one count
    per size."""
    first, other = args.params_col or "params", args.compare_params_col
    if other not in raw.columns:
        raise ValueError(
            f"--compare-params-col {other}: the table has no column '{other}' (its columns: {', '.join(map(str, raw.columns))})"
        )
    if other == first:
        raise ValueError(f"--compare-params-col {other} is the column N is already read from: name the other count")
    pairs = pd.DataFrame({"a": _counts(raw[first]), "b": _counts(raw[other])}).dropna().drop_duplicates()
    several = pairs[pairs["a"].duplicated(keep=False)]
    if len(several):
        size = several["a"].iloc[0]
        raise ValueError(
            f"--compare-params-col {other}: rows with {first} = {size:.6g} give {int((several['a'] == size).sum())} "
            f"different '{other}' values; each model size needs one count in each column"
        )


def recounted(runs, raw: pd.DataFrame, first: str, other: str):
    """``runs`` (already filtered) with N read from ``other`` instead: each size's count looked
    up from the table's pairs, compute recomputed as k N D in that count."""
    from ..data.runs import Runs

    pairs = pd.DataFrame({"a": _counts(raw[first]), "b": _counts(raw[other])}).dropna().drop_duplicates()
    lookup = dict(zip(pairs["a"], pairs["b"], strict=True))
    new = np.array([lookup.get(n, np.nan) for n in runs.params])
    if np.isnan(new).any():
        sizes = sorted(set(runs.params[np.isnan(new)].tolist()))
        raise ValueError(
            f"--compare-params-col {other}: no '{other}' value for {first} = "
            f"{', '.join(f'{s:.6g}' for s in sizes[:5])}; give both counts for every run"
        )
    frame = runs.to_frame().assign(params=new)
    frame = frame.drop(columns=[c for c in ("flops",) if c in frame.columns])
    return Runs.from_frame(frame, flops=None, plausibility=False, flops_per_param_token=runs.flops_per_param_token)


def other_path(out: Path, other: str) -> Path:
    """Where the second convention's fit is saved: beside ``out``, named after its column."""
    return out.with_name(f"{out.stem}.{other}{out.suffix}")


def compare_conventions(args, result, runs, fit_settings: dict, other_out: Path) -> None:
    """Fit ``runs`` again with N from ``--compare-params-col``, save it at ``other_out``, and
    print how far the forecast moves (per family for a fit over families)."""
    from ..errors import SamplingWarning
    from ..forecast.fitting import fit
    from ..planning.conventions import convention_shift
    from ..planning.inputs import fitted_range

    first, other = args.params_col or "params", args.compare_params_col
    raw = read_raw_table(args)
    runs_other = recounted(runs, raw, first, other)
    print(f"--compare-params-col {other}: fitting the same {len(runs_other)} rows with N = '{other}'")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="sampling diagnostics failed", category=SamplingWarning)
        result_other = fit(runs_other, **fit_settings)
    result_other.save(other_out, overwrite=args.overwrite)
    print(f"Saved the '{other}' posterior to {other_out}; diagnostics: {result_other.verdict.label}")
    families = getattr(result, "families", None)
    names = list(families) if families and hasattr(result, "family") else [None]
    for name in names:
        a = result if name is None else result.family(name)
        b = result_other if name is None else result_other.family(name)
        rows = raw if name is None or "family" not in raw.columns else raw[raw["family"].astype(str) == name]
        flops = args.compare_flops or [fitted_range(a)[1] * f for f in (10, 100, 1000)]
        shift = convention_shift({first: a, other: b}, rows, flops)
        print()
        if name is not None:
            print(f"{name}:")
        for line in shift.lines():
            print(line)
        table = shift.budgets[
            ["flops", "convention", "params_median", "tokens_median", "loss_median", "loss_lower", "loss_upper"]
        ]
        print_table(table.rename(columns={"params_median": f"N* ({first})"}))
    print()
