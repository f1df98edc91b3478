"""The ``bayes-scaling`` commands' handling of a fit over several families: the --families,
--pool and --family-noise options of ``fit``, ``--family`` of the answering commands, the
summary of every family, and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path

from .output import json_safe, print_table, scalars


def one_family(fit, family, path):
    """A fit over families answers for one (``--family``); a fit of one family as it is."""
    from ..forecast.families import FamilyFit

    if not isinstance(fit, FamilyFit):
        if family is not None:
            raise ValueError(
                f"--family {family}: '{path}' is a fit of one family; --family picks a family of a fit made with --families"
            )
        return fit
    if family is None:
        raise ValueError(
            f"'{path}' is a fit over the families {', '.join(fit.families)}: say which to answer for with --family NAME "
            "(a name not among them forecasts a new recipe from the population)"
        )
    return fit.family(family)


def family_options(args, runs) -> dict:
    """The fit's family options from --families, --pool and --family-noise (checked first)."""
    if not args.families:
        if args.pool or args.family_noise != "shared":
            raise ValueError("--pool and --family-noise shape a fit over families: add --families")
        return {}
    if args.own_drift:
        raise ValueError("--own-drift sizes the drift of one family's fit; it is not available with --families yet")
    if len(runs.families) < 2:
        found = f"only the family {runs.families[0]!r}" if runs.families else "no 'family' column"
        raise ValueError(f"--families fits several families together, but the table has {found}")
    pooling = {}
    for pair in args.pool:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--pool takes PARAMETER=MODE (e.g. alpha=shared), got {pair!r}")
        pooling[key] = value
    print(f"--families: one model over {len(runs.families)} families ({', '.join(runs.families)})")
    return {"families": "family", "pooling": pooling, "family_noise": args.family_noise}


def print_families(fit, out: Path | None = None) -> None:
    from ..viz.tables import summary_table

    verdict = fit.verdict
    print(f"Law: {fit.spec.law} over {len(fit.families)} families: {', '.join(fit.families)}")
    for family in (*fit.families, "(population)"):
        print(f"\n{family}:")
        print_table(summary_table(fit.summary().loc[family]))
    print(f"Diagnostics: {verdict.label}")
    for p in verdict.problems:
        print(f"  - {p}")
    if out is not None:
        print(f"Saved posterior to {out}")
    print(
        "Answers per family: add --family NAME to predict, optimal, plan, report, plot; compare: bayes-scaling compare"
    )
    print()


def cmd_compare(args) -> int:
    from ..forecast.loading import load
    from ..planning import compare_fits

    if len(args.model) > 2:
        raise ValueError(f"compare takes one fit over families or two fits, got {len(args.model)} files")
    if len(args.model) == 1:
        if not args.family or len(args.family) != 2:
            raise ValueError("compare with one fit over families needs two families: --family A B")
        fit = load(args.model[0])
        fits = [one_family(fit, name, args.model[0]) for name in args.family]
        names = list(args.family)
    else:
        if args.family:
            raise ValueError("--family picks families of one fit over families; with two files give no --family")
        fits = [load(path) for path in args.model]
        names = [Path(path).stem for path in args.model]
    if args.accept_unconverged:
        fits = [f.accept_unconverged() for f in fits]
    answer = compare_fits(fits[0], fits[1], args.flops, prob=args.prob)
    if args.json:
        print(json.dumps(json_safe({"a": names[0], "b": names[1], **scalars(answer)}), indent=2, allow_nan=False))
        return 0
    print(f"A = {names[0]}, B = {names[1]}")
    print("\n".join(answer.lines()))
    return 0
