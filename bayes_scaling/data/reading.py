"""Reading a runs file and naming its columns: the delimiter and the encoding of a CSV file, the
column names common exports use for each role (``eval/loss``, ``_step``, ``num_params``, ...),
and the final-checkpoint flag (``is_final_checkpoint``: true / false / blank)."""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import RunsValidationError, option
from ..units import parse_count

#: Canonical name of the column that flags a run's final checkpoint (true / false / blank).
FINAL = "is_final_checkpoint"
#: Delimiters a runs file may use; the one that splits the header into most fields wins (ties: ",").
DELIMITERS = (",", ";", "\t", "|")

#: Column names that common exports (wandb, TensorBoard, lm-eval, published tables) use for each
#: role, in order of preference (held-out losses before training losses). Matched ignoring case.
KNOWN_NAMES = {
    K.LOSS: (
        "eval/loss",
        "val_loss",
        "val/loss",
        "validation_loss",
        "validation/loss",
        "valid_loss",
        "eval_loss",
        "test_loss",
        "final_loss",
        "loss_nats",
        "lm_loss",
        "ce_loss",
        "cross_entropy",
        "train/loss",
        "train_loss",
        "training_loss",
        "L",
    ),
    K.PARAMS: (
        "N",
        "n_params",
        "num_params",
        "nparams",
        "n_parameters",
        "num_parameters",
        "parameters",
        "param_count",
        "model_params",
        "model_size",
        "params_total",
        "total_params",
        "params_nonembedding",
        "non_embedding_params",
        "active_params",
        "params_active",
    ),
    K.TOKENS: (
        "D",
        "n_tokens",
        "num_tokens",
        "tokens_seen",
        "num_tokens_seen",
        "train_tokens",
        "training_tokens",
        "tokens_trained",
        "total_tokens",
        "data_tokens",
        "dataset_size",
    ),
    K.STEP: ("_step", "global_step", "trainer/global_step", "train/global_step", "train/step", "iteration", "iter"),
    K.FLOPS: ("C", "compute", "total_flops", "train_flops", "training_flops", "flops_total"),
}


def column_suggestions(role: str, available, used) -> list[str]:
    """Columns of the table that may hold ``role`` (best first): the known export names of that
    role, then names close in spelling. A column in ``used`` (given for another role) is never
    suggested."""
    used = {str(u) for u in used}
    free = [str(c) for c in available if str(c) not in used]
    lower = {c.lower(): c for c in reversed(free)}  # the first of names differing only in case
    found = [lower[name.lower()] for name in KNOWN_NAMES.get(role, ()) if name.lower() in lower]
    close = difflib.get_close_matches(role, free, n=2, cutoff=0.6)
    return list(dict.fromkeys([*found, *close]))


def missing_column_hint(role: str, available, used) -> str:
    """The advice after "missing column ...": the likely column in the caller's words."""
    found = column_suggestions(role, available, used)
    if not found:
        return f"pass {option(role, '<your column>')} to name it"
    others = f" (or {', '.join(repr(c) for c in found[1:])})" if len(found) > 1 else ""
    return f"did you mean '{found[0]}'{others}? pass {option(role, found[0])}"


def wrong_delimiter(available) -> str | None:
    """A problem when the table's columns look like one line of a file split with the wrong
    delimiter (a column named ``'run_id;family;params;...'``), else None."""
    for name in map(str, available):
        for sep, shown in ((";", "';'"), ("\t", "TAB"), ("|", "'|'")):
            if name.count(sep) >= 2:
                return (
                    f"the column names look like one line of a file split with the wrong delimiter: "
                    f"{name[:60]!r}{'...' if len(name) > 60 else ''} holds {shown}; read the file with "
                    f"pd.read_csv(path, sep={sep!r}), or with Runs.from_csv(path), which detects the delimiter"
                )
    return None


def read_table(path, *, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """The table in the CSV file ``path``.

    ``sep=None`` detects the delimiter among ``, ; TAB |`` from the header line. ``encoding=None``
    reads UTF-8 (with or without a byte-order mark) and, when the file is not UTF-8, raises a
    :class:`RunsValidationError` naming the first byte that is not (its line and column) and
    suggesting ``encoding='latin-1'``: the file is not decoded by guess, since a wrong guess
    changes text silently.
    """
    path = Path(path)
    if not path.is_file():
        raise RunsValidationError([f"no runs file at '{path}'"])
    data = path.read_bytes()
    codec = "utf-8-sig" if encoding is None else encoding
    try:
        text = data.decode(codec)
    except LookupError:
        raise RunsValidationError(
            [f"unknown text encoding {encoding!r}: give one Python knows, e.g. {option('encoding', 'latin-1')}"]
        ) from None
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise RunsValidationError(
            [
                f"'{path}' is not a readable CSV file in {'UTF-8' if encoding is None else repr(encoding)}: byte "
                f"0x{data[start]:02x} at line {line}, column {column} is not valid there; give the file's "
                f"encoding, e.g. {option('encoding', 'latin-1')} (Western European) or "
                f"{option('encoding', 'cp1252')} (Windows)"
            ]
        ) from None
    if sep is None:
        sep = _detect_delimiter(text)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise RunsValidationError([f"'{path}' is not a readable CSV file: {exc}"]) from None


def _detect_delimiter(text: str) -> str:
    """The delimiter that splits the header (first non-empty line) into most fields; "," on ties."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {}
    for sep in DELIMITERS:
        try:
            counts[sep] = len(next(csv.reader([header], delimiter=sep)))
        except (csv.Error, StopIteration):
            counts[sep] = 0
    best = max(counts.values())
    return next(sep for sep in DELIMITERS if counts[sep] == best)


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def final_flags(column: pd.Series, name: str, problems: list[str], rows_text) -> np.ndarray:
    """The final-checkpoint flag as 1.0 (final), 0.0 (intermediate) or NaN (blank: unknown), from
    booleans, 0/1 or text such as "true" / "False"; anything else is named with its rows."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~np.isnan(values) & (values != 0) & (values != 1))
    else:
        values = np.full(len(column), np.nan)
        bad_list = []
        for pos, raw in enumerate(column.tolist()):
            if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NA:
                continue
            text = str(raw).strip().lower()
            if not text or text == "nan":
                continue
            if text in _TRUE or raw is True:
                values[pos] = 1.0
            elif text in _FALSE or raw is False:
                values[pos] = 0.0
            else:
                bad_list.append(pos)
        bad = np.asarray(bad_list, dtype=int)
    if bad.size:
        problems.append(
            f"column '{name}' (the final-checkpoint flag) holds values other than true/false/blank at "
            f"{rows_text(bad)}: write true for a run's last checkpoint, false for the others"
        )
        values[bad] = np.nan
    return values


def is_blank(raw) -> bool:
    """None, NaN, pd.NA, NaT or an empty string: a missing value, not text to parse."""
    if isinstance(raw, str):
        return not raw.strip()
    try:
        return bool(pd.isna(raw))
    except (TypeError, ValueError):  # list-like cells: not blank, reported as text
        return False


def numeric_column(column, name: str, problems: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A column as floats, read as the runs table reads it: numbers as they are, strings like
    "7B" / "1.4T" parsed, blanks NaN; anything else NaN and named with its rows in ``problems``.

    Returns the values and a mask of the rows already reported.
    """
    column = pd.Series(column)
    if pd.api.types.is_bool_dtype(column):
        problems.append(f"column '{name}' holds booleans, not numbers: give {name} as numbers")
        return np.full(len(column), np.nan), np.ones(len(column), dtype=bool)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan), np.zeros(len(column), dtype=bool)
    values = np.full(len(column), np.nan)
    bad: list[int] = []
    for pos, raw in enumerate(column.tolist()):
        if is_blank(raw):
            continue  # reported as missing below
        try:
            values[pos] = parse_count(raw)
        except ValueError:
            bad.append(pos)
    if bad:
        examples = ", ".join(repr(column.iloc[p]) for p in bad[:3])
        problems.append(
            f"column '{name}' has text that is not a number at {rows_text(bad)} (e.g. {examples}): "
            "write plain numbers such as 7e10, or 70B / 1.4T / 500M"
        )
    reported = np.zeros(len(column), dtype=bool)
    reported[bad] = True
    return values, reported


_MAX_ROWS_LISTED = 10


def rows_text(positions) -> str:
    """``"rows 3, 7, 9 (and 2 more)"``: the rows a message names (at most ten listed)."""
    positions = list(positions)
    shown = ", ".join(str(p) for p in positions[:_MAX_ROWS_LISTED])
    more = len(positions) - _MAX_ROWS_LISTED
    return f"row{'s' if len(positions) > 1 else ''} {shown}" + (f" (and {more} more)" if more > 0 else "")
