"""Curve laws side by side by PSIS-LOO, leaving out one run tree at a time (a run with the
cooldowns branched off it), on the 18 curves of ../shared/data/multipowerlaw_schedules.csv.

Fits every curve law (``multipower``, ``annealing``) to all the curves and prints
``bs.compare``'s table (elpd, its standard error, the stacking weight, Pareto k above ArviZ's
threshold) with each fit's sampler verdict. Writes benchmarks/results/curves_loo.md.

    .venv/bin/python benchmarks/curves_loo.py [--chains 4] [--draws 1000] [--exact annealing ...]

``--exact LAW``: also the exact leave-one-tree-out score of that law (``CurveFit.reloo``: one
refit without each tree whose Pareto k is above ArviZ's threshold), tree by tree beside PSIS.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import bayes_scaling as bs
from bayes_scaling.laws.curves import available_curve_laws

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multipowerlaw_schedules.csv"
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000, help="draws (and tuning steps) per chain")
    parser.add_argument("--exact", nargs="+", default=[], help="laws to score by exact refits where PSIS is unreliable")
    args = parser.parse_args(argv)
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found (the benchmarks read ../shared/data)")
    warnings.simplefilter("ignore")
    curves = bs.Curves.from_csv(DATA)
    options = {"chains": args.chains, "draws": args.draws, "tune": args.draws, "progressbar": False}
    fits, lines = {}, []
    for law in available_curve_laws():
        start = time.perf_counter()
        fits[law] = bs.fit(curves, law=law, random_seed=20261207, **options).accept_unconverged()
        lines.append(f"- {law}: {time.perf_counter() - start:.0f} s, {fits[law].verdict.headline()}")
        print(lines[-1], flush=True)
    table = bs.compare(fits)
    n_trees = fits[next(iter(fits))].inputs.obs.n_trees
    text = [
        "# Curve laws by PSIS-LOO (one run tree left out at a time)",
        "",
        f"`benchmarks/curves_loo.py --chains {args.chains} --draws {args.draws}`: every curve law fitted to the "
        f"{len(curves.run_ids)} curves of multipowerlaw_schedules.csv ({n_trees} run trees: a run with the cooldowns "
        "branched off it is one tree, its paths being one), compared by `bs.compare` (ArviZ's estimator; higher "
        "elpd is better).",
        "",
        *lines,
        "",
        table.round(2).to_markdown(),
        "",
        *[f"- {w}" for w in table.attrs.get("warnings", [])],
        "",
        f"With {n_trees} trees, each one is much of the data: the standard errors are rough and high Pareto k "
        "values expected (above 0.7, PSIS cannot stand in for refitting without the tree: exact leave-one-tree-out "
        "refits, `--exact LAW`, replace those trees' scores); the leave-future-out splits of `benchmarks/curves.py` "
        "are the test of forecasts.",
    ]
    exacts = {}
    for law in args.exact:
        start = time.perf_counter()
        psis = fits[law].loo()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", bs.DiagnosticsWarning)
            exact = exacts[law] = fits[law].reloo(random_seed=20261207, **options)
        refit_warnings = [str(w.message) for w in caught if issubclass(w.category, bs.DiagnosticsWarning)]
        refitted = int((exact.pareto_k.values == 0).sum() - (psis.pareto_k.values == 0).sum())
        rows = pd.DataFrame(
            {
                "runs": [", ".join(fits[law].tree_runs(t)) for t in range(n_trees)],
                "pareto_k": psis.pareto_k.values,
                "elpd_psis": psis.elpd_i.values,
                "elpd_exact": exact.elpd_i.values,
            }
        )
        text += [
            "",
            f"## `{law}`: exact leave-one-tree-out where PSIS is unreliable",
            "",
            f"{refitted} tree(s) refitted in {time.perf_counter() - start:.0f} s (`fit.reloo()`; the others keep PSIS). "
            f"elpd {float(exact.elpd):.1f} (se {float(exact.se):.1f}) against PSIS's {float(psis.elpd):.1f} "
            f"(se {float(psis.se):.1f}).",
            "",
            rows.round(2).to_markdown(index=False),
            "",
            *([f"- {w}" for w in refit_warnings] or ["Every refit converged."]),
        ]
    if len(exacts) >= 2:
        import arviz as az

        exact_table = az.compare(exacts, round_to="none")
        text += [
            "",
            "## The laws compared by the exact scores",
            "",
            "ArviZ's `compare` on the scores above (PSIS where k was low, exact refits elsewhere): "
            "`dse` is the standard error of the difference, paired over the trees.",
            "",
            exact_table[["rank", "elpd", "se", "elpd_diff", "dse", "weight"]].round(2).to_markdown(),
        ]
    print("\n".join(text))
    (RESULTS / "curves_loo.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
