"""``fit --compare-params-col COL``: the same runs fitted again with N counted by another
column (e.g. non-embedding parameters), and how far the forecast moves between the two."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..planning.conventions import read_counts
from .output import print_table


def read_raw_table(args) -> pd.DataFrame:
    """The runs file as read (its own column names), the rows of ``--family`` only if given."""
    from ..data.reading import read_table

    raw = read_table(args.runs, encoding=args.encoding)
    if args.family and "family" in raw.columns:
        raw = raw[raw["family"].astype(str) == args.family]
    return raw


def _keys(frame: pd.DataFrame, counts: np.ndarray, by_family: bool) -> list:
    """Each row's key for the count lookup: its size, or (family, size) in a fit over families
    (two families may share a total count with different embeddings)."""
    if by_family and "family" in frame.columns:
        return list(zip(frame["family"].astype(str), counts, strict=True))
    return counts.tolist()


def _lookup(raw: pd.DataFrame, first: str, other: str, by_family: bool) -> dict:
    """{key: the other count} from the rows giving both counts; refused (naming the size) when
    one key has several other counts."""
    a, b = read_counts(raw[first]), read_counts(raw[other])
    both = np.isfinite(a) & np.isfinite(b)
    lookup = {}
    for key, value in zip(_keys(raw[both], a[both], by_family), b[both], strict=True):
        if lookup.setdefault(key, value) != value:
            size = key[1] if isinstance(key, tuple) else key
            where = f" in family '{key[0]}'" if isinstance(key, tuple) else ""
            raise ValueError(
                f"--compare-params-col {other}: rows with {first} = {size:.6g}{where} give different '{other}' values "
                f"({lookup[key]:.6g} and {value:.6g}); each model size needs one count in each column"
            )
    return lookup


def check_compare_column(args, raw: pd.DataFrame) -> None:
    """Refuse before sampling: both columns must exist and differ, give one count per size, and
    map one onto the other (``count_map``)."""
    from ..planning.conventions import count_map

    first, other = args.params_col or "params", args.compare_params_col
    for column, flag in ((first, "--params-col"), (other, "--compare-params-col")):
        if column not in raw.columns:
            raise ValueError(
                f"{flag} {column}: the table has no column '{column}' (its columns: {', '.join(map(str, raw.columns))})"
            )
    if other == first:
        raise ValueError(f"--compare-params-col {other} is the column N is already read from: name the other count")
    _lookup(raw, first, other, bool(getattr(args, "families", False)))
    count_map(raw, first, other)


def recounted(runs, raw: pd.DataFrame, first: str, other: str):
    """``runs`` (already filtered) with N read from ``other`` instead: each size's count looked
    up from the table's pairs (per family in a table of several), compute recomputed as k N D
    in that count."""
    from ..data.runs import Runs

    if "average_params" in runs.frame:
        raise ValueError(
            f"--compare-params-col {other}: the table has an average_params column, counted like '{first}'; "
            "the comparison would mix the two counts: drop the column, or count it in the other convention and fit that"
        )
    by_family = len(runs.families) > 1
    lookup = _lookup(raw, first, other, by_family)
    frame = runs.to_frame()
    new = np.array([lookup.get(key, np.nan) for key in _keys(frame, runs.params, by_family)])
    if np.isnan(new).any():
        sizes = sorted(set(runs.params[np.isnan(new)].tolist()))
        raise ValueError(
            f"--compare-params-col {other}: no '{other}' value for {first} = "
            f"{', '.join(f'{s:.6g}' for s in sizes[:5])}; give both counts for every run"
        )
    frame = frame.assign(params=new)
    frame = frame.drop(columns=[c for c in ("flops",) if c in frame.columns])
    return Runs.from_frame(frame, flops=None, plausibility=False, flops_per_param_token=runs.flops_per_param_token)


def other_path(out: Path, other: str) -> Path:
    """Where the second convention's fit is saved: beside ``out``, named after its column
    (characters other than letters, digits, ``-``, ``_`` and ``.`` written as ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", other)
    return out.with_name(f"{out.stem}.{safe}{out.suffix}")


def compare_conventions(args, result, runs_other, fit_settings: dict, other_out: Path) -> None:
    """Fit ``runs_other`` (the fitted rows with N from ``--compare-params-col``, see
    :func:`recounted`), save it at ``other_out``, and print how far the forecast moves (per
    family for a fit over families)."""
    from ..errors import SamplingWarning, UnconvergedFitError
    from ..forecast.fitting import fit
    from ..planning.conventions import convention_shift
    from ..planning.inputs import fitted_range
    from ..viz.tables import convention_table

    first, other = args.params_col or "params", args.compare_params_col
    raw = read_raw_table(args)
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
        try:
            shift = convention_shift({first: a, other: b}, rows, flops)
        except UnconvergedFitError:
            labels = f"'{first}': {result.verdict.label}, '{other}': {result_other.verdict.label}"
            raise ValueError(
                f"both posteriors are saved, but the comparison needs converged fits ({labels}): refit with more "
                "--tune and --draws, or --target-accept 0.95"
            ) from None
        print()
        if name is not None:
            print(f"{name}:")
        for line in shift.lines():
            print(line)
        print_table(convention_table(shift.budgets, first))
    print()
