"""Fit speed on Epoch's Chinchilla data: bayes-scaling fit vs the Approach-3 bootstrap.

    .venv/bin/python benchmarks/fit_speed.py [--repeats 3] [--with-pymc]

Data: ../shared/data/chinchilla_epoch.csv without its 5 highest losses (240 runs), copied to a
temporary CSV (never into the repository). Measures, each as the median of ``--repeats`` runs:

- ``bayes-scaling fit`` as a whole process (4 chains x 1000 draws, the default nutpie sampler)
  with a warm PyTensor/numba compile cache; with this package's compile caches switched off
  (``BAYES_SCALING_COMPILE_CACHE=0``: ``pm.sample(nuts_sampler="nutpie")``); with a cold one (fresh ``base_compiledir``, where
  PyTensor keeps its numba cache, and ``NUMBA_CACHE_DIR``); and with a warm cache on data it
  has not seen (5 other runs left out each time, so other losses, priors and row count);
- per phase, in one process: imports, validation + reference sizes + model build, sampling
  (nutpie's own clock), everything else in ``fit`` (prior draws, log prior, diagnostics incl.
  PSIS-LOO and power-scaling sensitivity), and ``save``;
- R-hat, minimum bulk ESS and ESS per second of whole-process time; peak memory (max RSS);
- the Approach-3 bootstrap with 1000 resamples done as Epoch did (grid fit once, each resample
  warm-started from it, L-BFGS-B with tight tolerances), in the same run: in this process
  (the bootstrap alone), and as a whole process like the fit (Python start-up, imports of
  numpy/scipy/pandas, reading the CSV, the bootstrap).

Writes benchmarks/results/fit_speed.md. Targets: whole process <= 10 s warm, ESS bulk >= 1000,
R-hat <= 1.01, and at least 2x (goal 5x) faster than the bootstrap.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "chinchilla_epoch.csv"
RESULTS = REPO / "benchmarks" / "results"
CLI = [sys.executable, "-m", "bayes_scaling.cli"]


def run(cmd, env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    subprocess.run(
        cmd, check=True, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


BOOTSTRAP = r"""
import sys
import bayes_scaling as bs
from bayes_scaling.evaluation.baselines import approach3_bootstrap
approach3_bootstrap(bs.Runs.from_csv(sys.argv[1]), n_resamples=1000, random_seed=0)
"""

PHASES = r"""
import gc, json, sys, time, warnings
from bayes_scaling import _constants
gc.set_threshold(*_constants.GC_THRESHOLDS)  # as in the bayes-scaling command
t0 = time.perf_counter()
import bayes_scaling as bs, pymc, arviz  # noqa
t_import = time.perf_counter() - t0
import pandas as pd
from bayes_scaling.inference.model import ScalingModel, data_scale
t0 = time.perf_counter()
runs = bs.Runs.from_csv(sys.argv[1])
scale = data_scale(runs); ScalingModel().build(runs, scale)
t_build = time.perf_counter() - t0
fit_module = sys.modules["bayes_scaling.forecast.fitting"]
run_nuts, nuts_time = fit_module.run_nuts, []
def timed_nuts(**kw):
    t = time.perf_counter(); out = run_nuts(**kw); nuts_time.append(time.perf_counter() - t); return out
fit_module.run_nuts = timed_nuts
t0 = time.perf_counter()
fit = bs.fit(runs, random_seed=0, progressbar=False)
t_fit = time.perf_counter() - t0
sampling = float(fit.idata["posterior"].attrs.get("sampling_time", float("nan")))
t0 = time.perf_counter(); fit.save(sys.argv[2], overwrite=True); t_save = time.perf_counter() - t0
s = fit.summary()
print(json.dumps({"import": t_import, "validate+scale+build": t_build, "fit (all)": t_fit, "sampling": sampling,
                  "run_nuts": nuts_time[0],
                  "save": t_save, "max_rhat": float(s["r_hat"].max()), "min_ess_bulk": float(s["ess_bulk"].min())}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--with-pymc", action="store_true", help="also time PyMC's own NUTS (about 1 min per fit)")
    args = ap.parse_args(argv)
    if not DATA.is_file():
        sys.exit(f"error: {DATA} not found (the benchmark needs ../shared/data beside the repository)")
    import bayes_scaling as bs
    from bayes_scaling.evaluation.baselines import approach3_bootstrap

    tmp = Path(tempfile.mkdtemp(prefix="bs-fit-speed-"))
    df = pd.read_csv(DATA)
    df = df.drop(df.nlargest(5, "loss").index)
    csv = tmp / "chinchilla_epoch_240.csv"
    df[["run_id", "params", "tokens", "loss", "flops"]].to_csv(csv, index=False)
    out = tmp / "fit.nc"

    def fit_command(path):
        return [*CLI, "fit", str(path), "--out", str(out), "--overwrite", "--quiet", "--seed", "0"]

    fit_cmd = fit_command(csv)

    rows = []
    run(fit_cmd)  # warm the compile cache
    warm = [run(fit_cmd) for _ in range(args.repeats)]
    rows.append(
        {
            "what": "bayes-scaling fit, whole process, warm cache",
            "median s": np.median([w for w, _ in warm]),
            "runs": args.repeats,
        }
    )
    off = [run(fit_cmd, {"BAYES_SCALING_COMPILE_CACHE": "0"})[0] for _ in range(args.repeats)]
    rows.append(
        {
            "what": "bayes-scaling fit, whole process, our compile caches off (BAYES_SCALING_COMPILE_CACHE=0)",
            "median s": np.median(off),
            "runs": args.repeats,
        }
    )
    cold = []
    for i in range(args.repeats):
        env = {"PYTENSOR_FLAGS": f"base_compiledir={tmp / f'pt{i}'}", "NUMBA_CACHE_DIR": str(tmp / f"nb{i}")}
        cold.append(run(fit_cmd, env)[0])
    rows.append(
        {"what": "bayes-scaling fit, whole process, cold cache", "median s": np.median(cold), "runs": args.repeats}
    )
    new_data = []
    for i in range(args.repeats):
        other = tmp / f"chinchilla_epoch_235_{i}.csv"
        df.drop(df.sample(5, random_state=100 + i).index)[["run_id", "params", "tokens", "loss", "flops"]].to_csv(
            other, index=False
        )
        new_data.append(run(fit_command(other))[0])
    rows.append(
        {
            "what": "bayes-scaling fit, whole process, warm cache, new data (235 runs, other 5 left out each time)",
            "median s": np.median(new_data),
            "runs": args.repeats,
        }
    )

    phases = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PHASES, str(csv), str(out)], check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(args.repeats)
    ]
    ph = pd.DataFrame(phases).median()
    for key in ("import", "validate+scale+build", "fit (all)", "sampling", "save"):
        rows.append({"what": f"phase: {key}", "median s": ph[key], "runs": args.repeats})
    rows.append(
        {
            "what": "phase: inside fit, run_nuts minus sampling (graphs, nutpie callbacks from numba's cache)",
            "median s": ph["run_nuts"] - ph["sampling"],
            "runs": args.repeats,
        }
    )
    rows.append(
        {
            "what": "phase: inside fit, the rest (scale, build, prior draws, log prior, diagnostics, LOO, psense)",
            "median s": ph["fit (all)"] - ph["run_nuts"],
            "runs": args.repeats,
        }
    )

    runs = bs.Runs.from_csv(csv)
    boot = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        approach3_bootstrap(runs, n_resamples=1000, random_seed=0)
        boot.append(time.perf_counter() - t0)
    rows.append(
        {
            "what": "Approach-3 bootstrap, 1000 resamples (Epoch-style, in-process)",
            "median s": np.median(boot),
            "runs": args.repeats,
        }
    )
    boot_process = [run([sys.executable, "-c", BOOTSTRAP, str(csv)])[0] for _ in range(args.repeats)]
    rows.append(
        {
            "what": "Approach-3 bootstrap, 1000 resamples, whole process (start-up, imports, CSV, bootstrap)",
            "median s": np.median(boot_process),
            "runs": args.repeats,
        }
    )
    if args.with_pymc:
        t0 = time.perf_counter()
        subprocess.run(
            [
                *CLI,
                "fit",
                str(csv),
                "--out",
                str(tmp / "pymc.nc"),
                "--overwrite",
                "--quiet",
                "--seed",
                "0",
                "--sampler",
                "pymc",
            ],
            check=True,
            capture_output=True,
        )
        rows.append(
            {"what": "bayes-scaling fit --sampler pymc, whole process", "median s": time.perf_counter() - t0, "runs": 1}
        )

    warm_s = np.median([w for w, _ in warm])
    peak = max(m for _, m in warm)
    table = pd.DataFrame(rows)
    table["median s"] = table["median s"].round(2)
    lines = [
        "# Fit speed: Epoch's Chinchilla data (240 runs), 4 chains x 1000 draws",
        "",
        f"`benchmarks/fit_speed.py`, {bs.__version__}, 2-core machine, sampler nutpie (low-rank mass matrix).",
        "",
        table.to_markdown(index=False),
        "",
        f"- Diagnostics (median over runs): max R-hat {ph['max_rhat']:.3f}, min bulk ESS {ph['min_ess_bulk']:.0f}, "
        f"ESS per second of whole process {ph['min_ess_bulk'] / warm_s:.0f}.",
        f"- Peak memory of a fit process (max RSS): {peak:.0f} MB.",
        f"- Bootstrap / warm whole-process fit (target >= 2x, goal 5x): {np.median(boot_process) / warm_s:.2f}x "
        f"with both timed as whole processes; {np.median(boot) / warm_s:.2f}x against the bootstrap alone "
        "(no Python start-up or imports).",
        f"- Warm whole process {warm_s:.1f} s (target <= 10 s): {'met' if warm_s <= 10 else 'NOT met'}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (RESULTS / "fit_speed.md").write_text(text)


if __name__ == "__main__":
    main()
