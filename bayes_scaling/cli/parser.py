"""The ``bayes-scaling`` argument parser: every command, its flags and their checks."""

from __future__ import annotations

import argparse

from . import commands as c
from . import curves, families
from .words import count, loss_fraction, non_negative_float, non_negative_int, open_unit, positive_int, target


def build_parser() -> argparse.ArgumentParser:
    from ..inference import sampling as S
    from ..laws import DEFAULT_LAW
    from ..noise import DEFAULT_LIKELIHOOD, available_likelihoods

    large = f"from {S.LARGE_TABLE_CONFIGS:,} configurations"

    parser = argparse.ArgumentParser(prog="bayes-scaling", description="Calibrated Bayesian scaling-law forecasts.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def sampling_options(p, tune: bool = True):
        p.add_argument(
            "--draws",
            type=positive_int,
            help=f"posterior draws per chain (default {S.DEFAULT_DRAWS}; {S.LARGE_TABLE_DRAWS} {large}; ESS is checked)",
        )
        if tune:
            p.add_argument(
                "--tune",
                type=non_negative_int,
                help=f"tuning steps per chain (default {S.DEFAULT_TUNE}; {S.LARGE_TABLE_TUNE} {large})",
            )
        p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
        p.add_argument("--quiet", action="store_true", help="no progress output")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    def table_options(p):
        p.add_argument(
            "runs", help="CSV with columns params, tokens, loss (optional flops, seed, run_id, family, step)"
        )
        p.add_argument("--family", help="use only the runs of this family")
        p.add_argument("--params-col", help="column holding N (default 'params')")
        p.add_argument("--tokens-col", help="column holding D (default 'tokens')")
        p.add_argument("--loss-col", help="column holding the loss (default 'loss')")
        p.add_argument(
            "--flops-col", help="column holding the compute C (default 'flops' if present; 'none': C = k N D)"
        )
        p.add_argument(
            "--run-id-col", help="column naming each run (default 'run_id' if present; 'none': a row is a run)"
        )
        p.add_argument(
            "--step-col", help="column ordering a run's checkpoints (default 'step' if present; 'none': no steps)"
        )
        p.add_argument(
            "--input-col",
            action="append",
            default=[],
            metavar="INPUT=COLUMN",
            help="the column holding a law's input beyond N and D when it is not named so: unique_tokens, "
            "parallel_streams, average_params or encoder_share (e.g. --input-col parallel_streams=P); repeatable",
        )
        p.add_argument("--loss-unit", choices=["nats", "bits"], default="nats", help="unit of the loss column")
        p.add_argument("--encoding", help="text encoding of the CSV (default utf-8), e.g. latin-1")
        p.add_argument("--flops-per-param-token", type=float, default=6.0, help="k in C = k N D (default 6)")
        p.add_argument(
            "--no-plausibility",
            action="store_true",
            help="skip the checks for valid-looking mistakes (perplexity, bits, swapped columns, outliers)",
        )

    def family_option(p):
        p.add_argument(
            "--family",
            help="with a fit over families: the family to answer for (a name not in the fit: a new recipe, "
            "forecast from the population of families)",
        )

    def answer_options(p, machine: bool = True):
        p.add_argument("model", help="saved posterior (.nc)")
        family_option(p)
        p.add_argument(
            "--accept-unconverged",
            action="store_true",
            help="answer even from a fit whose sampler did not converge (R-hat > 1.1 or ESS < 50)",
        )
        p.add_argument(
            "--extrapolation-drift",
            type=non_negative_float,
            help="log-loss sd of the drift one decade beyond the fitted compute (default: the fit's own)",
        )
        p.add_argument(
            "--allocation-drift",
            type=non_negative_float,
            help="sd of log10 N* per decade of compute beyond the fitted range (default: the fit's own)",
        )
        if machine:
            fmt = p.add_mutually_exclusive_group()
            fmt.add_argument(
                "--json", action="store_true", help="print JSON (with the fit's verdict) instead of a table"
            )
            fmt.add_argument("--csv", action="store_true", help="print CSV (with a verdict column) instead of a table")

    p = sub.add_parser("fit", help="fit a law to a runs CSV and save the posterior")
    table_options(p)
    p.add_argument("--out", required=True, help="where to save the posterior (.nc)")
    p.add_argument(
        "--law",
        default=DEFAULT_LAW,
        help=f"a registered law (default {DEFAULT_LAW}; see --law-option), or a law of whole training curves "
        "(multipower, annealing) on a table with run_id, step, loss, params and lr",
    )
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
        help=f"distribution of the configuration means around the law (default {DEFAULT_LIKELIHOOD})",
    )
    p.add_argument("--max-flops", type=count, help="fit only the runs whose final compute is at most this")
    p.add_argument(
        "--extrapolation-drift",
        type=non_negative_float,
        help="log-loss sd of the forecast drift one decade beyond the fitted compute (default: calibrated; 0: off)",
    )
    p.add_argument(
        "--allocation-drift",
        type=non_negative_float,
        help="sd of log10 N* per decade of compute beyond the fitted range (default: calibrated; 0: off)",
    )
    p.add_argument(
        "--own-drift",
        action="store_true",
        help="size the drifts beyond the data from these runs: refit below an internal compute cutoff "
        "and see how far the losses (and IsoFLOP minima) above it miss; one more fit; instead of "
        "--extrapolation-drift and --allocation-drift",
    )
    p.add_argument(
        "--near-optimum",
        type=loss_fraction,
        metavar="FRACTION",
        help="fit only the runs within this fraction of their IsoFLOP budget's best loss (e.g. 0.2): "
        "the far arms a global law misfits are left out; for allocation questions",
    )
    p.add_argument(
        "--families",
        action="store_true",
        help="fit every family of the table in one model: each law parameter partially pooled across families "
        "(exponents tightly, E and amplitudes loosely), so a family with few runs borrows from the others",
    )
    p.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="PARAMETER=MODE",
        help="with --families: how a law parameter varies across families, MODE one of shared, pooled, free "
        "(e.g. alpha=shared); repeatable",
    )
    p.add_argument(
        "--family-noise",
        choices=["shared", "per_family"],
        default="shared",
        help="with --families: one noise model for all families (default), or each family its own noise scale",
    )
    p.add_argument(
        "--compare-params-col",
        metavar="COLUMN",
        help="fit the same runs again with N read from this column (e.g. params_nonembedding), save it beside "
        "--out, and print how far the forecast moves between the two parameter counts",
    )
    p.add_argument(
        "--compare-flops",
        type=count,
        nargs="+",
        metavar="C",
        help="with --compare-params-col: the budgets to compare at (default 10, 100 and 1000 times the largest "
        "fitted compute)",
    )
    p.add_argument(
        "--lr-col",
        help="with a curve law (--law multipower or annealing): the column of the learning rate at each "
        "logged step (default 'lr')",
    )
    p.add_argument("--chains", type=positive_int, default=4, help="chains (default 4)")
    p.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"], help="default: nutpie if installed")
    p.add_argument(
        "--target-accept",
        type=open_unit,
        default=None,
        help="NUTS target acceptance (default 0.9, or the law's own: 0.95 for farseer; 0.95-0.99 when the fit reports divergences)",
    )
    p.add_argument(
        "--init",
        default="auto",
        choices=["auto", "jitter", "multistart"],
        help="where chains start: multistart = best of a multi-start mode search (auto: for bnsl)",
    )
    p.add_argument("--strict", action="store_true", help="fail (exit 1) when sampling diagnostics fail")
    sampling_options(p)
    p.set_defaults(func=c.cmd_fit)

    p = sub.add_parser("predict", help="forecast loss at (params, tokens) from a saved posterior")
    answer_options(p)
    p.add_argument("--params", type=count, nargs="+", required=True, help="N, e.g. 7e10 or 70B (or 70b)")
    p.add_argument("--tokens", type=count, nargs="+", required=True, help="D, e.g. 1.4e12 or 1.4T")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="INPUT=VALUE[,VALUE...]",
        help="a law input beyond N and D at the points (e.g. --input parallel_streams=8, --input "
        "unique_tokens=200B); one value, or one per point; without it, its default (every token unique, "
        "one stream, a dense run, an even encoder/decoder split); repeatable",
    )
    p.add_argument("--kind", choices=["new_run", "mean"], default="new_run")
    p.add_argument("--prob", type=open_unit, default=0.9, help="interval probability (default 0.9)")
    p.set_defaults(func=c.cmd_predict)

    p = sub.add_parser("optimal", help="compute-optimal N*, D* at FLOP budgets from a saved posterior")
    answer_options(p)
    p.add_argument("--flops", type=count, nargs="+", required=True, help="budget(s) C, e.g. 1e24")
    p.add_argument("--prob", type=open_unit, default=0.9, help="interval probability (default 0.9)")
    p.set_defaults(func=c.cmd_optimal)

    p = sub.add_parser("plan", help="compute for a target loss, and how to split a budget, from a saved posterior")
    answer_options(p)
    p.add_argument("--target-loss", type=float, help="the loss to reach (nats/token)")
    p.add_argument("--prob", type=open_unit, default=0.9, help="required probability of reaching it (default 0.9)")
    p.add_argument("--flops", type=count, help="a compute budget C to allocate between N and D")
    p.set_defaults(func=c.cmd_plan)

    p = sub.add_parser("curve", help="loss along learning-rate schedules from a saved fit of training curves")
    p.add_argument("model", help="saved posterior of a curve fit (.nc; fit --law multipower)")
    p.add_argument("--params", type=count, required=True, help="model size N, e.g. 400M")
    p.add_argument("--schedule", nargs="+", required=True, help=curves.SCHEDULE_HELP)
    p.add_argument("--points", type=positive_int, default=12, help="steps shown per schedule (default 12)")
    p.add_argument("--kind", choices=["new_run", "mean"], default="new_run")
    p.add_argument(
        "--given",
        metavar="RUN[@STEP]",
        help="continue a fitted run past its last row (or branch off it at STEP), conditional on what it logged",
    )
    p.add_argument("--target-loss", type=float, help="also: P(each schedule reaches this loss), when, and which first")
    p.add_argument("--prob", type=open_unit, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the new-run paths (default 0)")
    p.add_argument("--accept-unconverged", action="store_true", help="answer even from an unconverged fit")
    p.add_argument("--report", metavar="FILE.html", help="also write the curve fit's HTML report, with these forecasts")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the curves with their 50/90%% bands")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report or figure")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (with the fit's verdict) instead of tables")
    fmt.add_argument("--csv", action="store_true", help="print CSV (with a verdict column) instead of tables")
    p.set_defaults(func=curves.cmd_curve)

    p = sub.add_parser("summary", help="parameter table and diagnostics of a saved posterior")
    p.add_argument("model", help="saved posterior (.nc)")
    family_option(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (with the fit's verdict) instead of a table")
    fmt.add_argument("--csv", action="store_true", help="print CSV (with a verdict column) instead of a table")
    p.add_argument(
        "--exact-loo",
        action="store_true",
        help="curve fits: refit without each run tree whose PSIS-LOO estimate is unreliable (one fit per tree) "
        "and print the exact leave-one-tree-out score",
    )
    p.set_defaults(func=c.cmd_summary)

    p = sub.add_parser("compare", help="is recipe A better than recipe B at a compute budget, and by how much compute?")
    p.add_argument("model", nargs="+", help="one saved fit over families, or two saved fits (A then B)")
    p.add_argument("--family", nargs="+", help="with a fit over families: families A and B")
    p.add_argument("--flops", type=count, required=True, help="the compute budget C, e.g. 1e24")
    p.add_argument("--prob", type=open_unit, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--accept-unconverged", action="store_true", help="answer even from an unconverged fit")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=families.cmd_compare)

    p = sub.add_parser("report", help="write a self-contained HTML forecast report of a saved posterior")
    answer_options(p, machine=False)
    p.add_argument("--out", required=True, help="where to write the report (.html)")
    p.add_argument(
        "--target",
        type=target,
        nargs="+",
        help="compute budget(s) to forecast at the compute-optimal allocation (e.g. 1e24), or N,D pairs "
        "(e.g. 70B,1.4T); default 10x, 100x, 1000x the largest fitted compute",
    )
    p.add_argument("--backtest", help="CSV of a backtest table (method, loss, lo_90, hi_90, pit, ...) to show")
    p.add_argument(
        "--laws",
        nargs="+",
        metavar="MODEL",
        help="saved posteriors of the same runs under other laws: the report tabulates N* under each",
    )
    p.add_argument("--title", help="title of the report")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=c.cmd_report)

    p = sub.add_parser("plot", help="save the figures of a saved posterior (PNG, SVG or PDF)")
    answer_options(p, machine=False)
    p.add_argument("--out", required=True, help="folder to write the figures to (created if missing)")
    p.add_argument("--figure", nargs="+", choices=list(c.PLOTS), help="which figures (default: all that apply)")
    p.add_argument("--format", choices=["png", "svg", "pdf"], default="png")
    p.add_argument("--dpi", type=positive_int, default=150)
    p.add_argument("--overwrite", action="store_true", help="replace existing figure files")
    p.set_defaults(func=c.cmd_plot)

    p = sub.add_parser("backtest", help="fit the runs up to a budget (or all but the largest sizes) and score the rest")
    table_options(p)
    p.add_argument("--max-flops", type=count, help="fit runs whose final compute is at most this; score the others")
    p.add_argument("--largest-sizes", type=positive_int, help="hold out the K largest model sizes instead")
    p.add_argument(
        "--new-family",
        metavar="NAME",
        help="a new recipe with few runs: fit its --keep smallest runs with every run of the other families "
        "and score its others (methods bayes_scaling_families, borrowed_exponents)",
    )
    p.add_argument("--keep", type=positive_int, default=3, help="with --new-family: its runs fitted (default 3)")
    p.add_argument("--law", nargs="+", default=[DEFAULT_LAW], help=f"law(s) to fit (default {DEFAULT_LAW})")
    p.add_argument(
        "--method",
        nargs="+",
        default=["bayes_scaling", "approach3"],
        help="methods to score (default: bayes_scaling approach3; also approach3_bootstrap, vpnls, bayes_scaling_stack; "
        "on several families bayes_scaling_families, borrowed_exponents)",
    )
    p.add_argument("--out", help="also save the per-run table here (.csv)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON")
    fmt.add_argument("--csv", action="store_true", help="print the summary as CSV")
    sampling_options(p)
    p.set_defaults(func=c.cmd_backtest)

    p = sub.add_parser("demo", help="fit synthetic runs from Chinchilla's published law and print forecasts")
    p.add_argument("--out", help="also save the posterior here (.nc)")
    sampling_options(p, tune=False)
    p.set_defaults(func=c.cmd_demo)
    return parser
