"""What each ``bayes-scaling`` command does (``cmd_<name>(args) -> exit code``) and how its
answers are printed: tables with units, or ``--json`` / ``--csv`` with the fit's verdict."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from .conventions import check_compare_column, compare_conventions, other_path, read_raw_table, recounted
from .curves import cmd_fit_curves, print_curve_fit
from .families import family_options, one_family, print_families
from .output import emit, json_safe, print_table, scalars
from .words import named_columns, sampling_options

#: Runs people know, for the demo's forecast table (params, tokens).
KNOWN_RUNS = {
    "Chinchilla (70B, 1.4T)": (70e9, 1.4e12),
    "Gopher (280B, 300B)": (280e9, 300e9),
    "Llama-2-70B-like (70B, 2T)": (70e9, 2e12),
    "1B x 20 tok/param": (1e9, 20e9),
}
DEMO_BUDGETS = (1e21, 1e22, 5.76e23, 1e24, 1e25)


def _print_fit(fit, out: Path | None = None) -> None:
    from ..viz.tables import summary_table
    from ..viz.typeset import plain_text

    verdict = fit.verdict
    diag = fit.diagnostics()
    print(
        f"Law: {fit.law.name}, {plain_text(fit.law.formula)}   ({fit.n_draws} posterior draws, {fit.n_configs} configurations)"
    )
    print(f"Noise: {fit.noise.describe()}")
    print(f"Compute-optimal allocation: {plain_text(fit.law.allocation_rule)}")
    lo, hi = fit.fitted_compute or (float("nan"), float("nan"))
    print(f"Fitted compute: {lo:.3g} to {hi:.3g} FLOPs")
    print_table(summary_table(fit.summary()))
    if verdict.ok:
        print(
            f"Diagnostics: OK (0 divergences, R-hat <= 1.01, ESS >= {int(diag[['ess_bulk', 'ess_tail']].min().min())})"
        )
    else:
        print(f"Diagnostics: {verdict.label}")
        for p in verdict.problems:
            print(f"  - {p}")
        if not verdict.converged:
            print("  Answers from this fit are refused unless --accept-unconverged is given: refit it.")
    if out is not None:
        print(f"Saved posterior to {out}")
    print()


def _checked_out(path, overwrite: bool, suffix: str = ".nc") -> Path:
    from ..atomic import check_save_path

    return check_save_path(path, overwrite=overwrite, suffix=suffix)


def _load(args):
    """The saved fit named on the command line, with the answer options applied."""
    from ..forecast.curves import CurveFit
    from ..forecast.loading import load

    fit = load(args.model)
    if isinstance(fit, CurveFit):
        raise ValueError(
            f"'{args.model}' is a fit of training curves: ask it with `bayes-scaling curve {args.model} --params N "
            "--schedule ...` (--report FILE.html writes its report; `summary` its parameters)"
        )
    fit = one_family(fit, getattr(args, "family", None), args.model)
    if getattr(args, "extrapolation_drift", None) is not None:
        fit = fit.with_extrapolation_sd(args.extrapolation_drift)
    if getattr(args, "allocation_drift", None) is not None:
        fit = fit.with_allocation_sd(args.allocation_drift)
    if getattr(args, "accept_unconverged", False):
        fit = fit.accept_unconverged()
    return fit


def _input_pairs(pairs, flag: str, what: str, example: str) -> dict:
    """``{input: text}`` from ``FLAG INPUT=WHAT`` flags: an unknown input, a missing value or an
    input given twice refused in the flag's words."""
    from .. import _constants as K

    out = {}
    for pair in pairs:
        name, sep, text = (part.strip() for part in pair.partition("="))
        if not sep or not text or name not in K.LAW_INPUT_DEFAULTS:
            raise ValueError(
                f"{flag} {pair}: give INPUT={what} with INPUT one of {', '.join(K.LAW_INPUT_DEFAULTS)} "
                f"(e.g. {flag} {example})"
            )
        if name in out:
            raise ValueError(f"{flag} {name} is given twice: give it once")
        out[name] = text
    return out


def input_columns(pairs) -> dict:
    """``{input: column}`` from ``--input-col INPUT=COLUMN`` flags."""
    return _input_pairs(pairs, "--input-col", "COLUMN", "parallel_streams=P")


def input_values(pairs) -> dict:
    """``{input: values}`` from ``--input INPUT=VALUE[,VALUE...]`` flags ("200B" read as 2e11)."""
    import numpy as np

    from ..units import parse_count

    out = {}
    for name, text in _input_pairs(pairs, "--input", "VALUE[,VALUE...]", "parallel_streams=8").items():
        try:
            out[name] = [parse_count(v.strip()) for v in text.split(",")]
        except ValueError as exc:
            raise ValueError(f"--input {name}={text}: {exc}") from None
        if not all(np.isfinite(v) and v > 0 for v in out[name]):
            raise ValueError(f"--input {name}={text}: each value must be a positive number")
    return out


def _read_runs(args):
    """The runs table of ``args.runs``, read with the table flags (columns, unit, checks)."""
    from ..data.runs import Runs

    roles = ("params", "tokens", "loss", "flops", "run_id", "step")
    columns = named_columns(args, {role: f"{role}_col" for role in roles})
    for optional in ("flops", "run_id", "step"):  # 'none': the table has no such column
        if str(columns.get(optional, "")).lower() == "none":
            columns[optional] = None
    if args.encoding:
        columns["encoding"] = args.encoding
    columns |= input_columns(args.input_col)
    runs = Runs.from_csv(
        args.runs,
        flops_per_param_token=args.flops_per_param_token,
        loss_unit=args.loss_unit,
        plausibility=not args.no_plausibility,
        **columns,
    )
    if args.family and getattr(args, "families", False):
        raise ValueError(
            f"--family {args.family} fits one family and --families fits all of them together: give one of them"
        )
    if args.family:
        runs = runs.select(family=args.family)
    return runs


def cmd_fit(args) -> int:
    from ..errors import SamplingWarning
    from ..evaluation.holdout import ComputeCutoff
    from ..forecast.fitting import fit
    from ..laws import get_law
    from ..laws.curves import is_curve_law

    if args.compare_flops and not args.compare_params_col:
        raise ValueError("--compare-flops sets the budgets of --compare-params-col COLUMN: add it, or leave both out")
    if is_curve_law(args.law):  # a law of whole training curves: another table, another model
        if args.compare_params_col:
            raise ValueError("--compare-params-col compares fits of final losses; it is not available for a curve law")
        return cmd_fit_curves(args, _checked_out(args.out, args.overwrite))
    get_law(args.law)  # an unknown law is an error before anything is read or printed
    for flag, value in (
        ("--extrapolation-drift", args.extrapolation_drift),
        ("--allocation-drift", args.allocation_drift),
    ):
        if args.own_drift and value is not None:
            raise ValueError(f"--own-drift sizes the drifts from the runs and {flag} sets one: give one of them")
    law_options = _law_options(args.law_option)
    out = _checked_out(args.out, args.overwrite)  # refuse before spending minutes sampling
    other_out = None
    if args.compare_params_col:
        if args.own_drift:
            raise ValueError("--compare-params-col refits with another count; it is not available with --own-drift")
        check_compare_column(args, read_raw_table(args))
        other_out = _checked_out(other_path(out, args.compare_params_col), args.overwrite)
    runs = _read_runs(args)
    if args.max_flops is not None:
        held = ComputeCutoff(args.max_flops).held_out(runs)
        if held.all():
            raise ValueError(
                f"--max-flops {args.max_flops:g} leaves no runs (the smallest run uses {runs.flops.min():.3g} FLOPs)"
            )
        print(
            f"--max-flops {args.max_flops:g}: fitting {int((~held).sum())} of {len(runs)} rows; {int(held.sum())} held back"
        )
        runs = runs.subset(~held)
    if args.near_optimum is not None:
        near = runs.select(near_optimum=args.near_optimum)
        print(
            f"--near-optimum {args.near_optimum:g}: fitting the {len(near)} of {len(runs)} rows within "
            f"{100 * args.near_optimum:g}% of their budget's best loss"
        )
        runs = near
    by_family = family_options(args, runs)
    if other_out is not None:  # the same rows with the other count: refused now if it cannot be read
        runs_other = recounted(runs, read_raw_table(args), args.params_col or "params", args.compare_params_col)
    if args.own_drift:  # the internal cutoff must exist: refuse before sampling
        from ..evaluation.drift import internal_cutoff

        internal_cutoff(runs.final())
    print(f"Fitting law '{args.law}' to {runs!r}")
    settings = {
        "law": args.law,
        "law_options": law_options,
        "likelihood": args.likelihood,
        "init": args.init,
        **sampling_options(args),
        **({} if args.extrapolation_drift is None else {"extrapolation_sd": args.extrapolation_drift}),
        **({} if args.allocation_drift is None else {"allocation_sd": args.allocation_drift}),
        **by_family,
    }
    with warnings.catch_warnings():
        # the summary block below lists each failed check; do not print them twice
        warnings.filterwarnings("ignore", message="sampling diagnostics failed", category=SamplingWarning)
        result = fit(runs, **settings)
    if args.own_drift:
        from ..evaluation.drift import calibrate_drift

        print("--own-drift: refitting on the runs below an internal compute cutoff to size the drift beyond the data")
        settings = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "sampler": args.sampler}
        calibration = calibrate_drift(
            result, random_seed=args.seed, target_accept=args.target_accept, init=args.init, **settings
        )
        print(f"Own drift: {calibration.describe()}")  # (one line: scripts read it)
        result = calibration.apply(result)
    result.save(out, overwrite=args.overwrite)
    if by_family:
        print_families(result, out)
    else:
        _print_fit(result, out)
    if other_out is not None:
        compare_conventions(args, result, runs_other, settings, other_out)
    return 0


def _law_options(pairs) -> dict:
    """``["x=D", "breaks=2"]`` -> ``{"x": "D", "breaks": 2}`` (numbers read as numbers)."""
    from ..errors import SpecError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpecError(f"--law-option takes KEY=VALUE (e.g. x=D), got {pair!r}")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def cmd_predict(args) -> int:
    import numpy as np

    from ..viz.tables import forecast_table, outside_text

    fit = _load(args)
    inputs = input_values(args.input)
    try:
        params, tokens, *values = np.broadcast_arrays(
            np.asarray(args.params), np.asarray(args.tokens), *inputs.values()
        )
    except ValueError:
        given = "".join(f", --input {k} {len(v)}" for k, v in inputs.items())
        raise ValueError(
            f"--params gives {len(args.params)} values and --tokens {len(args.tokens)}{given}: give one of each per "
            "point, or a single value of any"
        ) from None
    unread = sorted(set(inputs) - set(fit.law.extra_inputs))
    if unread:
        raise ValueError(
            f"--input {unread[0]}: the {fit.law.name} law does not read it (it reads "
            f"{', '.join(fit.law.extra_inputs) or 'only N and D'})"
        )
    fc = fit.predict(params, tokens, kind=args.kind, **dict(zip(inputs, values, strict=True)))
    frame = fc.to_frame(args.prob)
    frame["decades_outside"] = fit.decades_outside(fit.flops_per_param_token * frame["params"] * frame["tokens"])
    if emit(args, frame, fit):
        return 0
    table = forecast_table(frame, args.prob, fit.flops_per_param_token)
    table["vs fitted compute"] = frame["decades_outside"].map(outside_text).to_numpy()
    print_table(table)
    return 0


def cmd_optimal(args) -> int:
    from ..viz.tables import optimal_table
    from ..viz.typeset import plain_text

    fit = _load(args)
    frame = fit.compute_optimal(args.flops, prob=args.prob)
    if emit(args, frame, fit):
        return 0
    if fit.law.allocates:
        print(f"Compute-optimal allocation of the {fit.law.name} law: {plain_text(fit.law.allocation_rule)}")
    print_table(optimal_table(frame))
    return 0


def cmd_summary(args) -> int:
    from ..forecast.curves import CurveFit
    from ..forecast.families import FamilyFit
    from ..forecast.loading import load

    fit = load(args.model)
    if args.exact_loo and not isinstance(fit, CurveFit):
        raise ValueError(
            "--exact-loo is for curve fits (fit --law multipower or annealing); this file holds a fit of final losses"
        )
    if isinstance(fit, CurveFit):
        if args.exact_loo and (args.json or args.csv):
            raise ValueError("--exact-loo prints a line beside the table: give it without --json or --csv")
        if not emit(args, fit.summary(), fit):
            print_curve_fit(fit, exact_loo=args.exact_loo)
        return 0
    if isinstance(fit, FamilyFit) and args.family is None:
        if emit(args, fit.summary(), fit):
            return 0
        print_families(fit)
        return 0
    fit = one_family(fit, args.family, args.model)
    if emit(args, fit.summary(), fit):
        return 0
    _print_fit(fit)
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from ..viz.report import write_report

    out = _checked_out(args.out, args.overwrite, suffix=".html")  # refuse before any work
    fit = _load(args)
    fit._check_answerable()  # refuse a fit that did not converge; a failed verdict warns once
    backtest = pd.read_csv(args.backtest) if args.backtest else None
    laws = None
    if args.laws:
        from ..forecast.loading import load

        laws = {fit.law.name: fit}
        for i, path in enumerate(args.laws):
            other = load(path)
            if args.extrapolation_drift is not None:  # the same answer options as the main fit
                other = other.with_extrapolation_sd(args.extrapolation_drift)
            if args.allocation_drift is not None:
                other = other.with_allocation_sd(args.allocation_drift)
            if args.accept_unconverged:
                other = other.accept_unconverged()
            name = next(n for n in (other.law.name, Path(path).stem, f"{Path(path).stem} ({i + 1})") if n not in laws)
            laws[name] = other
    path = write_report(
        fit, out, targets=args.target or None, backtest=backtest, title=args.title, laws=laws, overwrite=args.overwrite
    )
    print(f"Wrote report to {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained HTML)")
    return 0


#: The figures ``plot`` writes: file stem -> (function name in viz.plots, needs an allocation).
PLOTS = {
    "frontier": ("frontier", False),
    "slices": ("slices", False),
    "compute_optimal": ("compute_optimal", True),
    "isoflop_profiles": ("isoflop_profiles", True),
    "residuals": ("residuals", False),
    "pairs": ("pairs", False),
}


def cmd_plot(args) -> int:
    import matplotlib.pyplot as plt

    from ..atomic import atomic_write, check_save_path
    from ..viz import plots

    fit = _load(args)
    fit._check_answerable()
    wanted = args.figure or [name for name, (_, allocation) in PLOTS.items() if fit.law.allocates or not allocation]
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out '{out_dir}' is a file; give a folder for the figures")
    paths = {
        name: check_save_path(out_dir / f"{name}.{args.format}", overwrite=args.overwrite, suffix=f".{args.format}")
        for name in wanted
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        function, allocation = PLOTS[name]
        if allocation and not fit.law.allocates:
            print(f"skipped {name}: the {fit.law.name} law has no compute-optimal allocation")
            continue
        result = getattr(plots, function)(fit)
        figure = result if hasattr(result, "savefig") else result.figure
        atomic_write(
            path,
            lambda tmp, fig=figure: fig.savefig(tmp, dpi=args.dpi, format=args.format, bbox_inches="tight"),
            overwrite=args.overwrite,
        )
        plt.close(figure)
        print(f"Wrote {path}")
    return 0


def cmd_backtest(args) -> int:
    from ..evaluation.backtesting import backtest
    from ..evaluation.holdout import ComputeCutoff, LargestSizes, NewFamily

    given = [args.max_flops is not None, args.largest_sizes is not None, args.new_family is not None]
    if sum(given) != 1:
        raise ValueError(
            "backtest needs one of --max-flops C (fit runs up to C, score the rest), --largest-sizes K, or "
            "--new-family NAME (fit its --keep smallest runs with every other family's, score its others)"
        )
    out = _checked_out(args.out, args.overwrite, suffix=".csv") if args.out else None
    runs = _read_runs(args)
    if args.max_flops is not None:
        holdout, flag = ComputeCutoff(args.max_flops), "--max-flops"
    elif args.largest_sizes is not None:
        holdout, flag = LargestSizes(args.largest_sizes), "--largest-sizes"
    else:
        holdout, flag = NewFamily(args.new_family, args.keep), "--new-family"
    held = holdout.held_out(runs)
    if not held.any() or held.all():
        raise ValueError(
            f"{flag} leaves "
            f"{'no runs to score' if not held.any() else 'no runs to fit'}: runs span {runs.flops.min():.3g} to "
            f"{runs.flops.max():.3g} FLOPs"
        )
    print(f"Backtest: fitting {int((~held).sum())} rows ({holdout}), scoring {int(held.sum())} held-out rows")
    result = backtest(
        runs,
        args.law,
        holdout=holdout,
        methods=args.method,
        fit_options={k: v for k, v in {"draws": args.draws, "tune": args.tune}.items() if v is not None},
        random_seed=args.seed,
        executor=None,
    )
    summary = result.summary
    if emit(args, summary, None, {"failures": result.failures, "warnings": result.warnings}):
        pass
    else:
        shown = summary.copy()
        for col in shown.columns:
            if col.startswith("coverage"):
                shown[col] = shown[col].map(lambda v: f"{v:.0%}")
        shown.attrs["caption"] = "Held-out runs: coverage of the 50/80/90% intervals, mean CRPS of log loss, median APE"
        print_table(shown)
        for line in result.failures:
            print(f"failed: {line}")
        for line in result.warnings:
            print(f"flagged: {line}")
    if out is not None:
        from ..atomic import atomic_write

        atomic_write(out, lambda tmp: result.table.to_csv(tmp, index=False), overwrite=args.overwrite)
        print(f"Wrote the per-run table to {out}")
    return 0


def cmd_plan(args) -> int:
    from .. import planning
    from ..units import format_flops
    from ..viz.tables import outside_text

    if args.target_loss is None and args.flops is None:
        raise ValueError("plan needs --target-loss (how much compute?) and/or --flops (how to spend it?)")
    fit = _load(args)
    answers: dict = {}
    text: list[str] = []
    if args.target_loss is not None:
        ans = planning.compute_for_target(fit, args.target_loss, prob=args.prob)
        answers["target"] = scalars(ans)
        text += [
            f"Target loss {args.target_loss:g} with probability {args.prob:.0%}:",
            *(f"  {x}" for x in ans.lines()),
            "",
        ]
    if args.flops is not None:
        where = outside_text(float(fit.decades_outside([args.flops])[0]))
        text.append(f"Allocation of {format_flops(args.flops)} FLOPs ({where} the fitted compute):")
        allocations = []
        for risk in ("mean", ("cvar", 0.9)):
            a = planning.allocate(fit, args.flops, risk=risk)
            allocations.append(a)
            text += [f"  {x}" for x in a.lines()]
        if args.target_loss is not None:
            p = planning.prob_below(fit, args.target_loss, flops=[args.flops])[0]
            text.append(
                f"  P(a compute-optimal run at {format_flops(args.flops)} FLOPs beats {args.target_loss:g}) = {p:.2f}"
            )
            answers["prob_below_at_flops"] = float(p)
        answers["allocations"] = [scalars(a) for a in allocations]
        text.append("")
    if _emit_plan(args, fit, answers, text):
        return 0
    print("\n".join(text))
    return 0


def _emit_plan(args, fit, answers: dict, text: list[str]) -> bool:
    """``plan --json``: the labelled lines and the numbers behind them, with the verdict."""
    if args.csv:
        raise ValueError("plan answers in sentences: use --json for machine-readable output")
    if not args.json:
        return False
    payload = {"model": args.model, "verdict": fit.verdict.to_dict(), "lines": [t.strip() for t in text if t.strip()]}
    payload.update({k: v for k, v in answers.items() if v is not None})
    print(json.dumps(json_safe(payload), indent=2, allow_nan=False))
    return True


def cmd_demo(args) -> int:
    import numpy as np
    import pandas as pd

    from ..data import synthetic
    from ..forecast.fitting import fit
    from ..units import format_count
    from ..viz.tables import forecast_table, optimal_table, outside_text

    out = _checked_out(args.out, args.overwrite) if args.out else None
    runs = synthetic.chinchilla_runs(random_seed=args.seed)
    truth = synthetic.CHINCHILLA_PARAMS
    print("bayes_scaling demo: synthetic runs from Chinchilla's published law")
    print(
        f"  L = {truth['E']} + {truth['A']}/N^{truth['alpha']} + {truth['B']}/D^{truth['beta']}  (Hoffmann et al. 2022)"
    )
    print(f"  with heteroscedastic seed noise; {runs!r}\n")
    start = time.perf_counter()
    result = fit(runs, draws=args.draws, random_seed=args.seed, progressbar=not args.quiet)
    print(f"Fitted in {time.perf_counter() - start:.1f} s\n")
    if out is not None:
        result.save(out, overwrite=args.overwrite)
    _print_fit(result, out)

    names = list(KNOWN_RUNS)
    n, d = (np.array(v) for v in zip(*KNOWN_RUNS.values(), strict=True))
    fc = result.predict(n, d, kind="new_run")
    table = forecast_table(fc.to_frame(0.9), 0.9, result.flops_per_param_token)
    table["vs fitted compute"] = [outside_text(x) for x in result.decades_outside(result.flops_per_param_token * n * d)]
    table.insert(0, "run", names)
    table["true law"] = [f"{synthetic.laws.chinchilla_loss(a, b, **truth):.4f}" for a, b in zip(n, d, strict=True)]
    print_table(table)

    opt = result.compute_optimal(list(DEMO_BUDGETS))
    table = optimal_table(opt)
    n_true, d_true = synthetic.chinchilla_optimum(np.array(DEMO_BUDGETS))
    table["true N*, D*"] = [f"{format_count(a)}, {format_count(b)}" for a, b in zip(n_true, d_true, strict=True)]
    print_table(table)
    largest = runs.flops.max()
    print(
        f"Largest training run in the data: {largest:.2g} FLOPs; the forecasts above extrapolate "
        f"{pd.Series(DEMO_BUDGETS).max() / largest:.0f}x beyond it."
    )
    return 0
