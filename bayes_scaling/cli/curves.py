"""The ``bayes-scaling`` commands of a curve fit: ``fit --law multipower`` on a table of training
curves, ``curve`` (a forecast of whole curves under schedules, and which reaches a target loss
first) and ``summary`` of a saved curve fit."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .output import emit, print_table
from .words import named_columns, sampling_options

#: Flags of ``fit`` that shape a fit of final losses, refused with a curve law.
FINAL_LOSS_FLAGS = {
    "pool": "--pool",
    "max_flops": "--max-flops",
    "near_optimum": "--near-optimum",
    "own_drift": "--own-drift",
    "families": "--families",
    "extrapolation_drift": "--extrapolation-drift",
    "allocation_drift": "--allocation-drift",
    "family": "--family",
    "tokens_col": "--tokens-col",
    "flops_col": "--flops-col",
}

SCHEDULE_HELP = (
    "a learning-rate schedule: NAME,key=value,... with NAME one of constant (peak, steps, warmup), "
    "cosine (peak, steps, final, warmup), wsd (peak, steps, decay, shape=linear|exp|sqrt, final, warmup), "
    "step (peak, steps, warmup, and drops as STEP=RATE), or run=RUN_ID (a fitted run's own schedule); "
    "e.g. wsd,peak=3e-4,steps=24000,decay=0.2,warmup=2000"
)


def parse_schedule(text: str, fit=None):
    """A schedule from its command-line form (see :data:`SCHEDULE_HELP`)."""
    from ..laws import schedules as S

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"--schedule: empty; {SCHEDULE_HELP}")
    if parts[0].startswith("run="):
        rid = parts[0][4:]
        if fit is None or rid not in fit.curves.schedules:
            known = ", ".join(fit.curves.run_ids[:6]) if fit is not None else ""
            raise ValueError(f"--schedule run={rid}: no fitted run of that name (runs: {known}, ...)")
        return S.from_array(fit.curves.schedules[rid].lr, rid)
    name, pairs = parts[0], {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"--schedule {text}: '{part}' is not key=value; {SCHEDULE_HELP}")
        pairs[key.strip()] = value.strip()
    makers = {"constant": S.constant, "cosine": S.cosine, "wsd": S.wsd, "step": S.step_down}
    if name not in makers:
        raise ValueError(f"--schedule {text}: unknown schedule '{name}'; {SCHEDULE_HELP}")
    if "peak" not in pairs or "steps" not in pairs:
        raise ValueError(f"--schedule {text}: give peak=RATE and steps=N (e.g. {name},peak=3e-4,steps=24000)")
    try:
        numbers = {k: (v if k == "shape" else float(v)) for k, v in pairs.items()}
    except ValueError:
        raise ValueError(f"--schedule {text}: every value but shape must be a number") from None
    peak, steps = numbers.pop("peak"), int(numbers.pop("steps"))
    warmup = int(numbers.pop("warmup", 0))
    if name == "step":
        try:
            drops = {int(float(k)): v for k, v in numbers.items()}
        except ValueError:
            raise ValueError(f"--schedule {text}: a step schedule's drops are STEP=RATE (e.g. 8000=9e-5)") from None
        return S.step_down(peak, steps, drops, warmup=warmup)
    allowed = {"constant": (), "cosine": ("final",), "wsd": ("decay", "shape", "final")}[name]
    unknown = sorted(set(numbers) - set(allowed))
    if unknown:
        raise ValueError(
            f"--schedule {text}: {name} takes peak, steps, warmup{''.join(', ' + a for a in allowed)}; not {unknown}"
        )
    return makers[name](peak, steps, warmup=warmup, **numbers)


def read_curves(args):
    from ..data.curves import Curves

    roles = ("run_id", "step", "loss", "params", "lr")
    columns = named_columns(args, {role: f"{role}_col" for role in roles})
    return Curves.from_csv(args.runs, encoding=args.encoding, **columns)


def cmd_fit_curves(args, out: Path) -> int:
    from ..errors import DiagnosticsWarning
    from ..forecast.fitting import fit

    given = [flag for attr, flag in FINAL_LOSS_FLAGS.items() if getattr(args, attr, None) not in (None, False, [], "")]
    given += ["--law-option"] if args.law_option else []
    defaults = {"loss_unit": "nats", "init": "auto", "family_noise": "shared", "flops_per_param_token": 6.0}
    given += [f"--{k.replace('_', '-')}" for k, v in defaults.items() if getattr(args, k) != v]
    from ..noise import DEFAULT_LIKELIHOOD

    given += ["--likelihood"] if args.likelihood != DEFAULT_LIKELIHOOD else []
    if given:
        raise ValueError(f"{', '.join(given)}: for laws of the final loss, not for the curve law '{args.law}'")
    curves = read_curves(args)
    print(f"Fitting curve law '{args.law}' to {curves!r}")
    if curves.branch_of:
        print(f"  {len(curves.branch_of)} run(s) branch off another run: their shared rows are counted once")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DiagnosticsWarning)  # listed below
        result = fit(curves, args.law, **sampling_options(args))
    result.save(out, overwrite=args.overwrite)
    print_curve_fit(result, out)
    return 0


def print_curve_fit(fit, out: Path | None = None, *, exact_loo: bool = False) -> None:
    from ..viz.typeset import plain_text

    verdict = fit.verdict
    print(f"Law: {fit.law.name}, {plain_text(fit.law.formula)}   ({fit.n_draws} posterior draws)")
    print(
        "Noise: a per-run offset and an Ornstein-Uhlenbeck path of log loss along each run "
        "(sigma: its sd, ell: its correlation length in steps, omega: the offset's sd); each run's loss drop "
        "departs from the law's by a factor exp(drop_sd z)"
    )
    print_table(fit.summary())
    print(f"Diagnostics: {verdict.headline()}")
    for p in verdict.problems:
        print(f"  - {p}")
    loo = fit.loo()
    high = int((np.asarray(loo.pareto_k) > loo.good_k).sum())
    print(
        f"PSIS-LOO, one run tree (a run and its cooldown branches) left out at a time: elpd {float(loo.elpd):.1f} "
        f"(se {float(loo.se):.1f}) over {loo.n_data_points} trees"
        + (
            f"; Pareto k above {loo.good_k:.2f} for {high}: that estimate is unreliable"
            + ("" if exact_loo else " (summary --exact-loo refits without each of them)")
            if high
            else ""
        )
    )
    if exact_loo and high:
        exact = fit.reloo()
        print(
            f"Exact leave-one-tree-out ({high} tree(s) refitted): elpd {float(exact.elpd):.1f} (se {float(exact.se):.1f})"
        )
    if out is not None:
        print(f"Saved posterior to {out}")


def cmd_curve(args) -> int:
    import pandas as pd

    from ..atomic import check_save_path
    from ..forecast.curves import CurveFit
    from ..forecast.loading import load
    from ..laws import schedules as S
    from ..planning.curves import schedule_race

    out = None if not args.report else check_save_path(args.report, overwrite=args.overwrite, suffix=".html")
    figure = None if not args.plot else check_save_path(args.plot, overwrite=args.overwrite, suffix=".png")
    fit = load(args.model)
    if not isinstance(fit, CurveFit):
        raise ValueError(f"'{args.model}' is a fit of final losses; `curve` answers from a fit of training curves")
    if args.accept_unconverged:
        fit = fit.accept_unconverged()
    given = None
    if args.given:
        run, sep, at = args.given.partition("@")
        if run not in fit.curves.schedules:
            raise ValueError(
                f"--given {args.given}: no fitted run '{run}' (runs: {', '.join(fit.curves.run_ids[:6])}, ...)"
            )
        try:
            given = (run, float(at)) if sep else run
        except ValueError:
            raise ValueError(f"--given {args.given}: after @ comes the step to branch at (e.g. {run}@20000)") from None
    if len(set(args.schedule)) != len(args.schedule):
        raise ValueError("--schedule: the same schedule is given twice")
    forecasts = {}
    for text in args.schedule:
        parsed = parse_schedule(text, fit)
        schedule = S.from_array(parsed.lr, text)  # named as typed: two schedules never share a name
        last = schedule.steps
        start = 1
        if given is not None:
            start = int(given[1]) + 1 if isinstance(given, tuple) else int(fit.curves.rows(given)["step"].max()) + 1
        steps = np.unique(np.linspace(start, last, args.points).round().astype(np.int64))
        forecasts[text] = fit.predict_curve(
            args.params,
            schedule,
            steps,
            kind=args.kind,
            given=given,
            random_seed=args.seed,
        )
    if out is not None:
        from ..viz.report import write_report

        targets = {
            name: (args.params, parse_schedule(text, fit)) for name, text in zip(forecasts, args.schedule, strict=True)
        }
        written = write_report(fit, out, schedules=targets, overwrite=args.overwrite)
        print(f"Wrote report to {written} ({written.stat().st_size / 1e6:.1f} MB, self-contained HTML)")
    if figure is not None:
        from ..atomic import atomic_write
        from ..viz import plots

        ax = plots.curves(fit, forecasts)
        atomic_write(figure, lambda tmp: ax.figure.savefig(tmp, format="png", dpi=150), overwrite=args.overwrite)
        plots.close(ax)
        print(f"Wrote figure to {figure}")
    table = pd.concat([f.to_frame(args.prob) for f in forecasts.values()], ignore_index=True)
    race = schedule_race(forecasts, args.target_loss, args.prob) if args.target_loss is not None else None
    if emit(args, table, fit, None if race is None else {"target": race.reset_index().to_dict(orient="records")}):
        return 0
    print(f"Loss along each schedule at N = {args.params:.3g} ({args.kind}; {args.prob:.0%} intervals)")
    for name, part in table.groupby("schedule", sort=False):
        print(f"\n{name}:")
        print_table(part[["step", "loss_median", "loss_lo", "loss_hi"]].set_index("step"))
    if race is not None:
        print(f"Reaching loss {args.target_loss:g}:")
        print_table(race)
    if not fit.verdict.ok:
        print(f"warning: the fit's diagnostics failed ({fit.verdict.headline()})")
    return 0
