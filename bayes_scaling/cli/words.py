"""The command line's own words: argument types that reject bad values before any work, the
flag that spells each Python argument in advice (:data:`FLAGS`, used through
``bayes_scaling.errors.spoken_as``), and warnings printed once as ``warning:`` lines."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings


def count(text: str) -> float:
    """A count such as ``7e10``, ``70B`` or ``70b``."""
    from ..units import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _number(kind, what: str, ok, bound: str):
    """An argparse type: ``kind(text)`` that must satisfy ``ok``; each failure says why."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


positive_int = _number(int, "a whole number", lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
#: A probability strictly between 0 and 1.
open_unit = _number(float, "a number between 0 and 1", lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")
non_negative_float = _number(float, "a number", lambda v: v >= 0, "0 or more")
#: A fraction of the best loss (0.1 = within 10%); 1 or more is almost surely a percentage typed.
loss_fraction = _number(
    float, "a fraction such as 0.1", lambda v: 0 < v < 1, "a fraction above 0 and below 1 (0.1 = within 10%)"
)


def target(text: str):
    """A report target: a compute budget ("1e24") or an (N, D) pair ("70B,1.4T")."""
    if "," in text:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"a target pair is N,D (e.g. 70B,1.4T), got {text!r}")
        return (count(parts[0].strip()), count(parts[1].strip()))
    return count(text)


# ---------------------------------------------------------------------- the CLI's words
#: How this command spells the advice of the package's messages (``bayes_scaling.errors.option``):
#: a Python argument -> the flag that sets it here. ``{}`` takes the value (or an upper-case
#: placeholder); None: the CLI cannot set it (the message then says how in Python).
FLAGS = {
    "plausibility": "--no-plausibility",
    "loss_unit": "--loss-unit {}",
    "params": "--params-col {}",
    "tokens": "--tokens-col {}",
    "loss": "--loss-col {}",
    "flops": "--flops-col {}",
    "step": "--step-col {}",
    "run_id": "--run-id-col {}",
    "family": "--family {}",
    "flops_per_param_token": "--flops-per-param-token {}",
    "encoding": "--encoding {}",
    "overwrite": "--overwrite",
    "accept_unconverged": "--accept-unconverged",
    "target_accept": "--target-accept {}",
    "extrapolation_sd": "--extrapolation-drift {}",
    "allocation_sd": "--allocation-drift {}",
    "near_optimum": "--near-optimum {}",
    "own_drift": "--own-drift",
    "families": "--families",
    "pooling": "--pool {}",
    "family_noise": "--family-noise {}",
    "law": "--law {}",
    "likelihood": "--likelihood {}",
    "draws": "--draws {}",
    "tune": "--tune {}",
    "chains": "--chains {}",
    "init": "--init {}",
    "strict": "--strict",
    "random_seed": "--seed {}",
    "max_flops": "--max-flops {}",
    "priors": None,
    "target_loss": "--target-loss {}",
    "prob": "--prob {}",
    "given": "--given {}",
    "lr": "--lr-col {}",
    "unique_tokens": "--input-col unique_tokens={}",
    "parallel_streams": "--input-col parallel_streams={}",
    "average_params": "--input-col average_params={}",
    "encoder_share": "--input-col encoder_share={}",
    "schedules": None,
}
#: In the commands that answer from a saved fit, these name values, not the table's columns.
ANSWER_FLAGS = {"params": "--params {}", "tokens": "--tokens {}", "flops": "--flops {}"}
#: Commands that read a runs table (where ``params`` etc. name its columns).
TABLE_COMMANDS = ("fit", "backtest")


def named_columns(args, flags: dict) -> dict:
    """``{role: column}`` of the ``--*-col`` flags given (``flags``: role -> the args attribute)."""
    return {role: getattr(args, attr) for role, attr in flags.items() if getattr(args, attr)}


def sampling_options(args) -> dict:
    """fit()'s sampler settings from the flags every fitting command shares."""
    return {
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "sampler": args.sampler,
        "random_seed": args.seed,
        "progressbar": not args.quiet,
        "strict": args.strict,
        "target_accept": args.target_accept,
    }


def spell(name: str, value, command: str | None = None) -> str | None:
    """The flag that sets ``name`` to ``value`` in ``command`` (see ``errors.option``)."""
    if name == "law_options":
        items = value.items() if isinstance(value, dict) else [("KEY", "VALUE")]
        return " ".join(f"--law-option {k}={v}" for k, v in items)
    if name not in FLAGS and name not in ANSWER_FLAGS:
        return None
    flag = FLAGS[name] if command in TABLE_COMMANDS else ANSWER_FLAGS.get(name, FLAGS[name])
    if flag is None:
        return f"a Python fit (bs.fit(..., {name}=...); the command line has no flag for {name})"
    shown = name.upper() if value is ... else "none" if value is None else value
    return flag.format(shown)


@contextlib.contextmanager
def cli_warnings():
    """Each warning once, as ``warning: <message>`` on stderr (no Python source line)."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message).strip()
        if text in seen:
            return
        seen.add(text)
        first, *rest = text.splitlines() or [category.__name__]
        print(f"warning: {first}", file=sys.stderr)
        for extra in rest:
            print(f"  {extra.strip()}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.showwarning = show
        yield


def negative_value(argv) -> str | None:
    """A value such as ``-1B`` after a flag: argparse would read it as an unknown flag."""
    for i, token in enumerate(argv):
        if re.fullmatch(r"-\.?\d[\w.+-]*", token):
            flag = next((t for t in reversed(argv[:i]) if t.startswith("--")), "a flag")
            return (
                f"{flag} got the negative value {token!r}: sizes, token counts, budgets, losses and sampler "
                "settings are positive"
            )
    return None
