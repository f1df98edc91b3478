"""The ``bayes-scaling`` command: fit, predict, optimal, plan, summary, report, demo.

Every failure exits non-zero with a one-line ``error:`` message; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from . import _constants as K

# Headless: never try to open a display.
os.environ.setdefault("MPLBACKEND", "Agg")

#: Runs people know, for the demo's forecast table (params, tokens).
KNOWN_RUNS = {
    "Chinchilla (70B, 1.4T)": (70e9, 1.4e12),
    "Gopher (280B, 300B)": (280e9, 300e9),
    "Llama-2-70B-like (70B, 2T)": (70e9, 2e12),
    "1B x 20 tok/param": (1e9, 20e9),
}
DEMO_BUDGETS = (1e21, 1e22, 5.76e23, 1e24, 1e25)


def _count(text: str) -> float:
    from .units import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target(text: str):
    """A report target: a compute budget ("1e24") or an (N, D) pair ("70B,1.4T")."""
    if "," in text:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"a target pair is N,D (e.g. 70B,1.4T), got {text!r}")
        return (_count(parts[0].strip()), _count(parts[1].strip()))
    return _count(text)


def _print_table(table) -> None:
    from .viz.tables import to_text

    print(to_text(table))
    print()


def _print_fit(fit, out: Path | None = None) -> None:
    from .viz.tables import summary_table
    from .viz.typeset import plain_text

    diag = fit.diagnostics()
    print(
        f"Law: {fit.law.name}, {plain_text(fit.law.formula)}   ({fit.n_draws} posterior draws, {fit.n_configs} configurations)"
    )
    print(f"Noise: {fit.noise.describe()}")
    print(f"Compute-optimal allocation: {plain_text(fit.law.allocation_rule)}")
    _print_table(summary_table(fit.summary()))
    problems = diag.attrs["problems"]
    if problems:
        print("Diagnostics: NOT OK")
        for p in problems:
            print(f"  - {p}")
    else:
        print(
            f"Diagnostics: OK (0 divergences, R-hat <= 1.01, ESS >= {int(diag[['ess_bulk', 'ess_tail']].min().min())})"
        )
    if out is not None:
        print(f"Saved posterior to {out}")
    print()


def _checked_out(path, overwrite: bool, suffix: str = ".nc") -> Path:
    from .atomic import check_save_path
    from .errors import FileExistsNoOverwriteError

    try:
        return check_save_path(path, overwrite=overwrite, suffix=suffix)
    except FileExistsNoOverwriteError:
        raise FileExistsNoOverwriteError(f"'{path}' exists; pass --overwrite to replace it") from None


def _cmd_fit(args) -> int:
    from .data.runs import Runs
    from .forecast.fitting import fit

    columns = {
        k: v for k, v in {"params": args.params_col, "tokens": args.tokens_col, "loss": args.loss_col}.items() if v
    }
    runs = Runs.from_csv(args.runs, flops_per_param_token=args.flops_per_param_token, **columns)
    if args.family:
        runs = runs.select(family=args.family)
    out = _checked_out(args.out, args.overwrite)  # refuse before spending minutes sampling
    law_options = _law_options(args.law_option)
    print(f"Fitting law '{args.law}' to {runs!r}")
    result = fit(
        runs,
        args.law,
        law_options=law_options,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        sampler=args.sampler,
        random_seed=args.seed,
        progressbar=not args.quiet,
        strict=args.strict,
        likelihood=args.likelihood,
        init=args.init,
        target_accept=args.target_accept,
    )
    result.save(out, overwrite=args.overwrite)
    _print_fit(result, out)
    return 0


def _law_options(pairs) -> dict:
    """``["x=D", "breaks=2"]`` -> ``{"x": "D", "breaks": 2}`` (numbers read as numbers)."""
    from .errors import SpecError

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


def _cmd_predict(args) -> int:
    import numpy as np

    from .forecast.result import load
    from .viz.tables import forecast_table

    fit = load(args.model)
    params, tokens = np.broadcast_arrays(np.asarray(args.params), np.asarray(args.tokens))
    fc = fit.predict(params, tokens, kind=args.kind)
    _print_table(forecast_table(fc.to_frame(args.prob), args.prob, fit.flops_per_param_token))
    return 0


def _cmd_optimal(args) -> int:
    from .forecast.result import load
    from .viz.tables import optimal_table
    from .viz.typeset import plain_text

    fit = load(args.model)
    if fit.law.allocates:
        print(f"Compute-optimal allocation of the {fit.law.name} law: {plain_text(fit.law.allocation_rule)}")
    _print_table(optimal_table(fit.compute_optimal(args.flops, prob=args.prob)))
    return 0


def _cmd_plan(args) -> int:
    import numpy as np

    from . import planning
    from .forecast.result import load
    from .units import format_count, format_flops

    if args.target_loss is None and args.flops is None:
        raise ValueError("plan needs --target-loss (how much compute?) and/or --flops (how to spend it?)")
    fit = load(args.model)
    if args.target_loss is not None:
        ans = planning.compute_for_target(fit, args.target_loss, prob=args.prob)
        lo, hi = ans.needed_interval(0.9)
        print(f"Target loss {args.target_loss:g} with probability {args.prob:.0%} (one compute-optimal training run):")
        if np.isfinite(ans.flops):
            print(
                f"  compute needed: {format_flops(ans.flops)} FLOPs  (N* {format_count(ans.params)}, D* {format_count(ans.tokens)})"
            )
        else:
            print(f"  not reachable below 1e30 FLOPs (P = {ans.achieved_prob:.2f} there)")
        if ans.note and np.isfinite(ans.flops):
            print(f"  note: {ans.note}")
        print(
            f"  compute at which the expected loss reaches it: median {format_flops(float(np.median(ans.needed_flops)))}, "
            f"90% interval [{format_flops(lo)}, {format_flops(hi)}]; P(never: E above target) = {ans.prob_unreachable:.2f}\n"
        )
    if args.flops is not None:
        for risk in ("mean", ("cvar", 0.9)):
            a = planning.allocate(fit, args.flops, risk=risk)
            name = "expected loss" if risk == "mean" else "CVaR 90% (mean of the worst 10%)"
            print(f"Allocation of {format_flops(args.flops)} FLOPs minimising {name}:")
            print(
                f"  N {format_count(a.params)}, D {format_count(a.tokens)} (plug-in point fit: N {format_count(a.plugin_params)}, "
                f"D {format_count(a.plugin_tokens)}); expected excess loss {a.penalty:.2g} vs {a.plugin_penalty:.2g} for the "
                f"plug-in plan, which wastes {a.plugin_deadweight:.1%} of the budget"
            )
        if args.target_loss is not None:
            p = planning.prob_below(fit, args.target_loss, flops=[args.flops])[0]
            print(
                f"  P(a compute-optimal run at {format_flops(args.flops)} FLOPs beats {args.target_loss:g}) = {p:.2f}"
            )
        print()
    return 0


def _cmd_summary(args) -> int:
    from .forecast.result import load

    _print_fit(load(args.model))
    return 0


def _cmd_report(args) -> int:
    import pandas as pd

    from .forecast.result import load
    from .viz.report import write_report

    out = _checked_out(args.out, args.overwrite, suffix=".html")  # refuse before any work
    fit = load(args.model)
    backtest = pd.read_csv(args.backtest) if args.backtest else None
    path = write_report(
        fit, out, targets=args.target or None, backtest=backtest, title=args.title, overwrite=args.overwrite
    )
    print(f"Wrote report to {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained HTML)")
    return 0


def _cmd_demo(args) -> int:
    import numpy as np
    import pandas as pd

    from .data import synthetic
    from .forecast.fitting import fit
    from .units import format_count
    from .viz.tables import forecast_table, optimal_table

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
    table.insert(0, "run", names)
    table["true law"] = [f"{synthetic.laws.chinchilla_loss(a, b, **truth):.4f}" for a, b in zip(n, d, strict=True)]
    _print_table(table)

    opt = result.compute_optimal(list(DEMO_BUDGETS))
    table = optimal_table(opt)
    n_true, d_true = synthetic.chinchilla_optimum(np.array(DEMO_BUDGETS))
    table["true N*, D*"] = [f"{format_count(a)}, {format_count(b)}" for a, b in zip(n_true, d_true, strict=True)]
    _print_table(table)
    largest = runs.flops.max()
    print(
        f"Largest training run in the data: {largest:.2g} FLOPs; the forecasts above extrapolate "
        f"{pd.Series(DEMO_BUDGETS).max() / largest:.0f}x beyond it."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .laws import DEFAULT_LAW
    from .noise import DEFAULT_LIKELIHOOD, available_likelihoods

    parser = argparse.ArgumentParser(prog="bayes-scaling", description="Calibrated Bayesian scaling-law forecasts.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def sampling_options(p):
        p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    p = sub.add_parser("fit", help="fit a law to a runs CSV and save the posterior")
    p.add_argument("runs", help="CSV with columns params, tokens, loss (optional flops, seed, run_id, family)")
    p.add_argument("--out", required=True, help="where to save the posterior (.nc)")
    p.add_argument("--law", default=DEFAULT_LAW, help=f"a registered law (default {DEFAULT_LAW}); see --law-option")
    p.add_argument(
        "--law-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the law, e.g. x=D or breaks=2 (bnsl), E=1.69 (chinchilla_fixed_e); repeatable",
    )
    p.add_argument(
        "--likelihood",
        default=DEFAULT_LIKELIHOOD,
        choices=available_likelihoods(),
        help="distribution of the configuration means around the law (default student_t)",
    )
    p.add_argument("--family", help="fit only the runs of this family")
    p.add_argument("--params-col", help="column holding N (default 'params')")
    p.add_argument("--tokens-col", help="column holding D (default 'tokens')")
    p.add_argument("--loss-col", help="column holding the loss (default 'loss')")
    p.add_argument("--flops-per-param-token", type=float, default=6.0, help="k in C = k N D (default 6)")
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"], help="default: nutpie if installed")
    p.add_argument(
        "--target-accept",
        type=float,
        default=0.9,
        help="NUTS target acceptance (default 0.9; 0.95-0.99 when the fit reports divergences)",
    )
    p.add_argument(
        "--init",
        default="auto",
        choices=["auto", "jitter", "multistart"],
        help="where chains start: multistart = best of a multi-start mode search (auto: for bnsl)",
    )
    p.add_argument("--strict", action="store_true", help="fail (exit 1) when sampling diagnostics fail")
    sampling_options(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="forecast loss at (params, tokens) from a saved posterior")
    p.add_argument("model", help="saved posterior (.nc)")
    p.add_argument("--params", type=_count, nargs="+", required=True, help="N, e.g. 7e10 or 70B")
    p.add_argument("--tokens", type=_count, nargs="+", required=True, help="D, e.g. 1.4e12 or 1.4T")
    p.add_argument("--kind", choices=["new_run", "mean"], default="new_run")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("optimal", help="compute-optimal N*, D* at FLOP budgets from a saved posterior")
    p.add_argument("model", help="saved posterior (.nc)")
    p.add_argument("--flops", type=_count, nargs="+", required=True, help="budget(s) C, e.g. 1e24")
    p.add_argument("--prob", type=float, default=0.9)
    p.set_defaults(func=_cmd_optimal)

    p = sub.add_parser("plan", help="compute for a target loss, and how to split a budget, from a saved posterior")
    p.add_argument("model", help="saved posterior (.nc)")
    p.add_argument("--target-loss", type=float, help="the loss to reach")
    p.add_argument("--prob", type=float, default=0.9, help="required probability of reaching it (default 0.9)")
    p.add_argument("--flops", type=_count, help="a compute budget C to allocate between N and D")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("summary", help="parameter table and diagnostics of a saved posterior")
    p.add_argument("model")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("report", help="write a self-contained HTML forecast report of a saved posterior")
    p.add_argument("model", help="saved posterior (.nc)")
    p.add_argument("--out", required=True, help="where to write the report (.html)")
    p.add_argument(
        "--target",
        type=_target,
        nargs="+",
        help="compute budget(s) to forecast at the compute-optimal allocation (e.g. 1e24), or N,D pairs "
        "(e.g. 70B,1.4T); default 10x, 100x, 1000x the largest fitted compute",
    )
    p.add_argument("--backtest", help="CSV of a backtest table (method, loss, lo_90, hi_90, pit, ...) to show")
    p.add_argument("--title", help="title of the report")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("demo", help="fit synthetic runs from Chinchilla's published law and print forecasts")
    p.add_argument("--out", help="also save the posterior here (.nc)")
    sampling_options(p)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was saved", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message = str(exc).strip().splitlines()
        first = message[0] if message else type(exc).__name__
        rest = message[1:]
        print(f"error: {first}", file=sys.stderr)
        for line in rest:  # multi-problem validation errors list one problem per line
            print(f"  {line.strip()}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return 1


def run() -> None:
    """The ``bayes-scaling`` command: :func:`main`, then exit.

    A fit makes millions of objects (PyTensor graphs, numba's types and compiled code), most of
    which live to the end: the garbage collector runs at ``GC_THRESHOLDS`` (see
    ``bayes_scaling._constants``; 0.4 s of a 5.5 s fit saved). Its last collection at exit
    spent about 1 s on the same objects: frozen objects are skipped by it and the OS frees the
    memory; everything the command writes is closed before ``main`` returns.
    """
    gc.set_threshold(*K.GC_THRESHOLDS)
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
