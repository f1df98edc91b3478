"""Sampler diagnostics of a posterior DataTree: R-hat, bulk/tail ESS and divergences, each failed
check in words with what to do (Vehtari et al. 2021 thresholds)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import SpecError, option

#: Diagnostic thresholds (Vehtari et al. 2021): R-hat above, bulk/tail ESS below (per chain x 4).
RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
#: A fit past these did not converge at all: its draws are not a posterior, and it refuses to
#: answer unless accepted explicitly (R-hat above, bulk or tail ESS below, for any parameter).
RHAT_FAIL = 1.1
ESS_FAIL = 50
#: Power-scaling sensitivity above which a posterior counts as sensitive (ArviZ's default).
PSENSE_THRESHOLD = 0.05


def diagnostics_table(idata, parameters) -> pd.DataFrame:
    import arviz as az

    if "posterior" not in idata:
        raise SpecError("diagnostics need posterior draws (this holds prior draws only)")
    post = idata["posterior"].to_dataset()[list(parameters)]
    n_chains = post.sizes[K.CHAIN]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    ess_min = ESS_MIN_PER_CHAIN * n_chains
    table = pd.DataFrame(
        {
            "r_hat": [float(rhat[p]) for p in parameters],
            "ess_bulk": [float(ess_bulk[p]) for p in parameters],
            "ess_tail": [float(ess_tail[p]) for p in parameters],
        },
        index=pd.Index(parameters, name="parameter"),
    )
    table["ok"] = (table["r_hat"] <= RHAT_MAX) & (table["ess_bulk"] >= ess_min) & (table["ess_tail"] >= ess_min)
    n_div = 0
    if "sample_stats" in idata and "diverging" in idata["sample_stats"].to_dataset():
        n_div = int(idata["sample_stats"].to_dataset()["diverging"].values.sum())
    problems = []
    if n_div:
        problems.append(
            f"{n_div} divergent transition(s): the posterior has regions NUTS cannot explore; "
            f"try {option('target_accept', 0.95)} to 0.99, tighter priors on the exponents, or check for outlier runs"
        )
    bad_rhat = table.index[table["r_hat"] > RHAT_MAX].tolist()
    if bad_rhat:
        problems.append(
            f"R-hat > {RHAT_MAX} for {bad_rhat}: chains disagree; run more tune/draws or check for "
            "multiple modes (e.g. an irreducible loss against the amplitudes when few runs approach convergence)"
        )
    undefined = table.index[~np.isfinite(table["r_hat"])].tolist()  # one chain, or constant draws
    if undefined:
        problems.append(
            f"R-hat is undefined for {undefined} ({n_chains} chain(s), or draws that never change): "
            "convergence cannot be checked; run 2 or more chains"
        )
    low_ess = table.index[(table["ess_bulk"] < ess_min) | (table["ess_tail"] < ess_min)].tolist()
    if low_ess:
        problems.append(f"effective sample size below {ess_min} for {low_ess}: intervals are imprecise; run more draws")
    table.attrs["n_divergences"] = n_div
    table.attrs["problems"] = problems
    table["why_not"] = ""
    for name in bad_rhat:
        table.loc[name, "why_not"] = f"R-hat {table.loc[name, 'r_hat']:.3f} > {RHAT_MAX}"
    for name in undefined:
        table.loc[name, "why_not"] = "R-hat undefined"
    for name in low_ess:
        table.loc[name, "why_not"] = _join(table.loc[name, "why_not"], f"ESS below {ess_min}")
    if n_div:
        flag_all(table, f"{n_div} divergence(s)")
    return table


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def flag_all(table: pd.DataFrame, reason: str, rows=None) -> None:
    """Mark ``rows`` (default: every parameter) of a diagnostics table not ok, for ``reason``: a
    failed check of the whole fit (divergences, influential runs) makes no estimate trustworthy."""
    rows = table.index if rows is None else list(rows)
    table.loc[rows, "ok"] = False
    table.loc[rows, "why_not"] = [_join(w, reason) for w in table.loc[rows, "why_not"]]


@dataclass(frozen=True)
class Verdict:
    """What a fit's diagnostics say, in one object.

    ``ok``: every check passed (sampler and model checks). ``converged``: the sampler converged
    at all (R-hat <= :data:`RHAT_FAIL` and ESS >= :data:`ESS_FAIL` for every parameter); a fit
    that did not refuses to answer unless accepted explicitly. ``problems``: each failed check
    in words, with what to do.
    """

    ok: bool
    converged: bool
    problems: tuple[str, ...] = ()
    max_r_hat: float = float("nan")
    min_ess: float = float("nan")

    @classmethod
    def recorded(cls, attrs) -> Verdict | None:
        """The verdict a fit recorded when it was made (its ``diagnostics`` attribute), or None
        (files written before verdicts without one: an OK fit converged)."""
        if not attrs.get("diagnostics"):
            return None
        stored = json.loads(attrs["diagnostics"])
        if "converged" not in stored and stored.get("ok") and not stored.get("problems"):
            stored["converged"] = True
        if "converged" not in stored:
            return None
        return cls(
            ok=bool(stored["ok"]) and not stored["problems"],
            converged=bool(stored["converged"]),
            problems=tuple(stored["problems"]),
            max_r_hat=float(stored.get("max_r_hat", np.nan)),
            min_ess=float(stored.get("min_ess", np.nan)),
        )

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Verdict:
        ess = table[["ess_bulk", "ess_tail"]].to_numpy(dtype=float)
        r_hat = table["r_hat"].to_numpy(dtype=float)
        # NaN where undefined (one chain, a constant): judged on what is defined
        max_r_hat = float(np.max(r_hat[np.isfinite(r_hat)])) if np.isfinite(r_hat).any() else np.nan
        min_ess = float(np.min(ess[np.isfinite(ess)])) if np.isfinite(ess).any() else np.nan
        converged = not (max_r_hat > RHAT_FAIL or min_ess < ESS_FAIL)
        problems = tuple(table.attrs.get("problems", ()))
        return cls(bool(table["ok"].all()) and not problems, converged, problems, max_r_hat, min_ess)

    @property
    def label(self) -> str:
        """``"OK"``, ``"NOT OK"`` or ``"NOT CONVERGED"``."""
        return "OK" if self.ok else ("NOT OK" if self.converged else "NOT CONVERGED")

    def headline(self) -> str:
        """One line: the label, and for a failed fit its worst numbers and number of failed checks."""
        if self.ok:
            return "OK"
        n = len(self.problems)
        return (
            f"{self.label}: max R-hat {self.max_r_hat:.3f}, min ESS {self.min_ess:.0f}, "
            f"{n} failed check{'s' if n != 1 else ''}"
        )

    def to_dict(self) -> dict:
        return {
            "verdict": self.label,
            "ok": self.ok,
            "converged": self.converged,
            "max_r_hat": self.max_r_hat,
            "min_ess": self.min_ess,
            "problems": list(self.problems),
        }
