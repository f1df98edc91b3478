"""The validated runs table: *observations* that belong to *runs* that belong to *configurations*.

- An **observation** is one row: a loss measured at N parameters after D tokens (a checkpoint,
  or the end of a run).
- A **run** is one training job: the rows that share a ``run_id`` (its checkpoints, ordered by
  ``step`` or D). Without a ``run_id`` every row is its own run, so a final-checkpoint table
  (one row per run) works unchanged.
- A **configuration** is a recipe at one point: observations with identical
  ``(family, N, D[, law inputs such as unique tokens])``, i.e. replicate seeds of the same run
  at the same D. The model pools them through per-configuration sufficient statistics (see
  :mod:`bayes_scaling.noise`), and PSIS-LOO leaves one configuration out at a time.

Laws of the final loss read :meth:`Runs.configs`; :meth:`Runs.final` keeps the last observation
of each run; holdout rules act on whole runs (:meth:`Runs.run_index`), so no checkpoint of a
held-out run is fitted.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import RunsValidationError, RunsWarning, option
from . import inputs as law_input
from .plausibility import plausibility_problems
from .reading import (
    FINAL,
    column_suggestions,
    final_flags,
    missing_column_hint,
    numeric_column,
    read_table,
    rows_text,
    wrong_delimiter,
)

_POSITIVE_NUMERIC = (K.PARAMS, K.TOKENS, K.LOSS, K.FLOPS, *K.LAW_INPUT_DEFAULTS)


@dataclass(frozen=True, eq=False)
class Runs:
    """A validated table of training runs.

    Columns: ``params`` (N), ``tokens`` (D), ``loss`` (final loss, nats/token), ``flops``
    (C; ``k N D`` when not given), and ``seed``, ``run_id``, ``family``, ``step`` when known;
    the inputs some laws read (:mod:`.inputs`): ``unique_tokens`` (U, the distinct tokens
    behind D: D/U epochs), ``parallel_streams`` (P), ``average_params``, ``encoder_share``;
    ``is_final_checkpoint`` (1 / 0 / NaN: a run's last checkpoint, an intermediate one, unknown)
    when the source flags its runs' final checkpoints (used by :meth:`final`).
    Runs that differ only in such an input are different configurations.
    Build it with :meth:`from_frame` or :meth:`from_csv`; every problem in the input is
    reported at once in one :class:`~bayes_scaling.errors.RunsValidationError`.
    """

    frame: pd.DataFrame
    flops_per_param_token: float = K.DEFAULT_FLOPS_PER_PARAM_TOKEN

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        params: str = K.PARAMS,
        tokens: str = K.TOKENS,
        loss: str = K.LOSS,
        flops: str | None = K.FLOPS,
        seed: str | None = K.SEED,
        run_id: str | None = K.RUN_ID,
        family: str | None = K.FAMILY,
        step: str | None = K.STEP,
        unique_tokens: str | None = K.UNIQUE_TOKENS,
        parallel_streams: str | None = K.PARALLEL_STREAMS,
        average_params: str | None = K.AVERAGE_PARAMS,
        encoder_share: str | None = K.ENCODER_SHARE,
        final: str | None = FINAL,
        flops_per_param_token: float = K.DEFAULT_FLOPS_PER_PARAM_TOKEN,
        loss_unit: str = "nats",
        plausibility: bool = True,
    ) -> Runs:
        """Validate ``df`` and map its columns onto the canonical names.

        Required columns are named by ``params``, ``tokens`` and ``loss``; optional ones are
        used when present (pass ``None`` to ignore a column). Text such as ``"7B"`` or
        ``"1.4T"`` in numeric columns is read as 7e9 and 1.4e12. ``loss_unit="bits"`` converts
        a loss in bits/token to nats (x ln 2). ``final`` names the column that flags each run's
        final checkpoint (true / false / blank), read by :meth:`final`. A missing required
        column is reported with the columns that may hold it (common export names such as
        ``eval/loss``, ``num_params`` or ``tokens_seen``; never one given for another role).

        With ``plausibility=True`` (default) the table is also checked for what is valid but
        almost surely a mistake (see :func:`plausibility_problems`): perplexity or percent in
        the loss column, a mix of bits and nats, one loss in every row, values decades away
        from the rest of their column, swapped N/D columns, a flops column off k N D, loss
        rising with compute, one run id reused for different runs. Pass
        ``plausibility=False`` to skip these.
        """
        if loss_unit not in ("nats", "bits"):
            raise RunsValidationError([f"loss_unit must be 'nats' or 'bits', got {loss_unit!r}"])
        if not isinstance(df, pd.DataFrame):
            raise RunsValidationError([f"expected a pandas DataFrame, got {type(df).__name__}"])
        if not (np.isfinite(flops_per_param_token) and flops_per_param_token > 0):
            raise RunsValidationError(
                [f"flops_per_param_token must be a positive number (6 for C = 6ND), got {flops_per_param_token!r}"]
            )
        problems: list[str] = []
        required = {K.PARAMS: params, K.TOKENS: tokens, K.LOSS: loss}
        optional = {
            K.FLOPS: flops,
            K.SEED: seed,
            K.RUN_ID: run_id,
            K.FAMILY: family,
            K.STEP: step,
            K.UNIQUE_TOKENS: unique_tokens,
            K.PARALLEL_STREAMS: parallel_streams,
            K.AVERAGE_PARAMS: average_params,
            K.ENCODER_SHARE: encoder_share,
            FINAL: final,
        }
        available = [str(c) for c in df.columns]
        absent = [canonical for canonical, source in required.items() if source not in df.columns]
        delimiter = wrong_delimiter(available) if absent else None
        if delimiter:
            problems.append(delimiter)
        for canonical in [] if delimiter else absent:
            source = required[canonical]
            used = [
                v for k, v in {**required, **optional}.items() if k != canonical and v is not None and v in df.columns
            ]
            problems.append(
                f"missing column '{source}' ({canonical}, required); columns present: {available}; "
                + missing_column_hint(canonical, available, used)
            )
        for canonical, source in optional.items():
            if source is not None and source not in df.columns and source != canonical:
                problems.append(
                    f"column '{source}' given for {canonical} is not in the table; columns present: {available}"
                )
        if len(df) == 0:
            problems.append("the table has no rows")
        if problems:
            raise RunsValidationError(problems)

        df = df.reset_index(drop=True)
        out = pd.DataFrame(index=df.index)
        reported = {}
        for canonical, source in {**required, **optional}.items():
            if source is None or source not in df.columns:
                continue
            if canonical in (K.SEED, K.RUN_ID, K.FAMILY):
                out[canonical] = df[source]
            elif canonical == FINAL:
                out[canonical] = final_flags(df[source], str(source), problems, rows_text)
            else:
                out[canonical], reported[canonical] = numeric_column(df[source], str(source), problems)

        names = {**required, **{k: v for k, v in optional.items() if v is not None}}
        for canonical in (K.PARAMS, K.TOKENS, K.LOSS, K.FLOPS, K.STEP, *K.LAW_INPUT_DEFAULTS):
            if canonical not in out:
                continue
            values = out[canonical].to_numpy()
            name = names[canonical]
            missing = np.flatnonzero(np.isnan(values) & ~reported[canonical])
            if canonical in required and missing.size:
                problems.append(
                    f"column '{name}' is empty or NaN at {rows_text(missing)}: fill it in or drop those rows"
                )
            infinite = np.flatnonzero(np.isinf(values))
            if infinite.size:
                problems.append(
                    f"column '{name}' is infinite at {rows_text(infinite)}: drop those rows (diverged runs?)"
                )
            if canonical in _POSITIVE_NUMERIC:
                nonpositive = np.flatnonzero(values <= 0)
                if nonpositive.size:
                    problems.append(
                        f"column '{name}' must be > 0 but is zero or negative at {rows_text(nonpositive)}"
                        + (": give loss in nats/token (a positive cross-entropy)" if canonical == K.LOSS else "")
                    )
            problems += law_input.range_problems(
                name, canonical, values, rows_text, out[K.PARAMS].to_numpy() if K.PARAMS in out else None
            )
        if problems:
            raise RunsValidationError(problems)

        if K.FLOPS not in out or out[K.FLOPS].isna().all():
            out[K.FLOPS] = flops_per_param_token * out[K.PARAMS] * out[K.TOKENS]
        else:
            derived = flops_per_param_token * out[K.PARAMS] * out[K.TOKENS]
            out[K.FLOPS] = out[K.FLOPS].fillna(derived)
        overflow = np.flatnonzero(~np.isfinite(out[K.FLOPS].to_numpy()))
        if overflow.size:
            raise RunsValidationError(
                [f"compute k*N*D overflows at {rows_text(overflow)}: check the units of '{params}' and '{tokens}'"]
            )
        if K.FAMILY in out:
            out[K.FAMILY] = out[K.FAMILY].astype("string").fillna("")
        if loss_unit == "bits":
            out[K.LOSS] = out[K.LOSS] * np.log(2.0)
        if plausibility:
            used = {v for v in {**required, **optional}.values() if v is not None}
            problems = plausibility_problems(
                out,
                {**required, **optional},
                flops_per_param_token=float(flops_per_param_token),
                step_candidates=column_suggestions(K.STEP, available, used) if step not in df.columns else (),
            )
            if problems:
                raise RunsValidationError(
                    [
                        *problems,
                        f"(if the table is right as it is, pass {option('plausibility', False)} to skip these checks)",
                    ]
                )
        runs = cls(out, float(flops_per_param_token))
        if plausibility:
            runs._check_replicates()  # exact ties can be honest when losses are rounded
        return runs

    @classmethod
    def from_csv(cls, path: str | Path, *, sep: str | None = None, encoding: str | None = None, **columns) -> Runs:
        """Read a CSV file and validate it (see :meth:`from_frame` for ``columns``).

        ``sep``: the delimiter (default: detected among ``, ; TAB |`` from the header line).
        ``encoding``: the file's text encoding (default UTF-8; a file that is not UTF-8 is an
        error naming the first byte that is not, with its line: pass e.g. ``encoding="latin-1"``).
        """
        return cls.from_frame(read_table(path, sep=sep, encoding=encoding), **columns)

    def _check_replicates(self) -> None:
        """Replicates (same config) whose losses are all identical are almost surely duplicated rows."""
        table = self.configs
        distinct = pd.Series(self.loss).groupby(self.config_index).nunique().to_numpy()
        dup = table[(table["n_seeds"] > 1) & (distinct == 1)]
        if len(dup):
            rows = np.flatnonzero(np.isin(self.config_index, dup.index.to_numpy()))
            raise RunsValidationError(
                [
                    f"{rows_text(rows)} repeat the same (N, D) with exactly the same loss: duplicated rows? "
                    "Drop the copies (replicate seeds should differ in loss)"
                ]
            )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        """Number of observations (rows)."""
        return len(self.frame)

    @property
    def run_index(self) -> np.ndarray:
        """For each observation, the position of its run in :attr:`run_table` (runs are the rows
        sharing a ``run_id``; a row without one is a run of its own)."""
        return self._runs()[0]

    @property
    def run_table(self) -> pd.DataFrame:
        """One row per run: its ``run_id`` (may be empty), family, N, final D, final loss, final
        compute and number of observations, in order of first appearance."""
        return self._runs()[1]

    @property
    def n_runs(self) -> int:
        return len(self.run_table)

    @property
    def has_checkpoints(self) -> bool:
        """Whether some run has more than one observation."""
        return bool((self.run_table["n_observations"] > 1).any())

    def _runs(self):
        cached = self.__dict__.get("_runs_cache")
        if cached is not None:
            return cached
        n = len(self.frame)
        if K.RUN_ID in self.frame:
            ids = self.frame[K.RUN_ID].astype("string").fillna("").to_numpy(dtype=object)
        else:
            ids = np.full(n, "", dtype=object)
        # rows without an id are runs of their own: give them a key no real id can take
        keys = np.where(ids == "", np.array([f"\x00row{i}" for i in range(n)], dtype=object), ids)
        codes, first = pd.factorize(pd.Series(keys), sort=False)
        order = self._checkpoint_order()
        last = np.empty(len(first), dtype=int)
        last[codes[order]] = order  # the last observation of each run in checkpoint order
        table = pd.DataFrame(
            {
                K.RUN_ID: [k if not str(k).startswith("\x00row") else "" for k in first],
                K.PARAMS: self.params[last],
                K.TOKENS: self.tokens[last],
                K.LOSS: self.loss[last],
                K.FLOPS: self.flops[last],
                "n_observations": np.bincount(codes, minlength=len(first)),
                "final_row": last,
            }
        )
        if K.FAMILY in self.frame:
            table.insert(1, K.FAMILY, self.frame[K.FAMILY].to_numpy()[last])
        table.index.name = K.RUN
        object.__setattr__(self, "_runs_cache", (codes, table))
        return codes, table

    def _checkpoint_order(self) -> np.ndarray:
        """Row positions ordered by step (where given), then tokens: a run's last is its final."""
        step = self.frame[K.STEP].to_numpy(dtype=float) if K.STEP in self.frame else np.zeros(len(self))
        step = np.where(np.isnan(step), -np.inf, step)
        return np.lexsort((self.tokens, step))

    def final(self) -> Runs:
        """The final checkpoint of each run: a final-checkpoint table.

        Without an ``is_final_checkpoint`` column, or for a run whose rows it leaves blank, that
        is the run's last observation (by step, then D). Where the column flags a row true, that
        row (the last such row of the run); a run whose every row is flagged false never reached
        its final checkpoint (stopped early) and is left out. Returns ``self`` when nothing is
        left out.
        """
        keep = self._final_mask()
        if keep.all():
            return self
        return self.subset(keep)

    def _final_mask(self) -> np.ndarray:
        """Rows that are their run's final checkpoint (see :meth:`final`)."""
        keep = np.zeros(len(self), dtype=bool)
        keep[self.run_table["final_row"].to_numpy()] = True
        if FINAL in self.frame and (self.frame[FINAL] == 1).any():
            flag = self.frame[FINAL].to_numpy(dtype=float)
            codes = self.run_index
            order = self._checkpoint_order()
            flagged = order[flag[order] == 1]
            last_flagged = np.full(self.n_runs, -1)
            last_flagged[codes[flagged]] = flagged  # the last row flagged final, in checkpoint order
            unfinished = np.bincount(codes, weights=(flag != 0).astype(float), minlength=self.n_runs) == 0
            has_flag = last_flagged >= 0
            keep[:] = False
            keep[last_flagged[has_flag]] = True
            keep[self.run_table["final_row"].to_numpy()[~has_flag & ~unfinished]] = True
        return keep

    def runs_held_out(self, run_mask) -> np.ndarray:
        """Observation mask of the runs selected by ``run_mask`` (boolean over :attr:`run_table`)."""
        return np.asarray(run_mask, dtype=bool)[self.run_index]

    def __repr__(self) -> str:
        c = self.configs
        what = f"{len(self)} observations of {self.n_runs} runs" if self.has_checkpoints else f"{len(self)} runs"
        return (
            f"Runs({what} in {len(c)} configurations; N {self.params.min():.3g}-{self.params.max():.3g}, "
            f"D {self.tokens.min():.3g}-{self.tokens.max():.3g}, loss {self.loss.min():.4g}-{self.loss.max():.4g})"
        )

    @property
    def params(self) -> np.ndarray:
        return self.frame[K.PARAMS].to_numpy(dtype=float)

    @property
    def tokens(self) -> np.ndarray:
        return self.frame[K.TOKENS].to_numpy(dtype=float)

    @property
    def loss(self) -> np.ndarray:
        return self.frame[K.LOSS].to_numpy(dtype=float)

    @property
    def flops(self) -> np.ndarray:
        return self.frame[K.FLOPS].to_numpy(dtype=float)

    @property
    def families(self) -> list[str]:
        if K.FAMILY not in self.frame:
            return []
        return sorted(set(self.frame[K.FAMILY].tolist()) - {""})

    @property
    def config_index(self) -> np.ndarray:
        """For each observation, the position of its configuration in :attr:`configs`."""
        return self._grouping()[0]

    @property
    def configs(self) -> pd.DataFrame:
        """One row per configuration (replicate seeds at one point): family, N, D (and unique
        tokens), the number of observations ``n_seeds``, and the mean and within sum of squares
        of their log loss."""
        return self._grouping()[1]

    def _grouping(self):
        cached = self.__dict__.get("_grouping_cache")
        if cached is not None:
            return cached
        keys = [K.PARAMS, K.TOKENS]
        keys += [c for c in K.LAW_INPUT_DEFAULTS if c in self.frame and self.frame[c].notna().any()]
        if K.FAMILY in self.frame:
            keys = [K.FAMILY, *keys]
        frame = self.frame[keys].copy()
        for name in K.LAW_INPUT_DEFAULTS:  # a blank is its default: the same configuration as one given so
            if name in frame:
                frame[name] = frame[name].fillna(K.law_input_default(name, self.frame))
        frame["log_loss"] = np.log(self.loss)
        grouped = frame.groupby(keys, sort=True, dropna=False)
        index = grouped.ngroup().to_numpy()
        table = grouped["log_loss"].agg(n_seeds="size", mean_log_loss="mean").reset_index()
        deviation = frame["log_loss"].to_numpy() - table["mean_log_loss"].to_numpy()[index]
        table["within_ss"] = np.bincount(index, weights=deviation**2, minlength=len(table))
        table[K.FLOPS] = self.flops_per_param_token * table[K.PARAMS] * table[K.TOKENS]
        table.index.name = K.CONFIG
        object.__setattr__(self, "_grouping_cache", (index, table))
        return index, table

    def law_inputs(self, names) -> dict[str, np.ndarray]:
        """Log values of a law's extra inputs (``Law.extra_inputs``, e.g. ``unique_tokens``) per
        configuration: the one path by which a column reaches a law's model. A missing column
        or value takes its default (U = D: every token unique; P = 1; ...)."""
        return law_input.law_inputs(self.configs, names)

    def input_columns(self) -> dict[str, np.ndarray]:
        """The extra law inputs this table gives, per observation, in their units (for a
        forecast of these runs: ``fit.predict(runs.params, runs.tokens, **runs.input_columns())``)."""
        return law_input.input_columns(self.frame)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the canonical table."""
        return self.frame.copy()

    def to_dataset(self):
        """The canonical table as an xarray Dataset (dim ``run``), strings kept as text: the
        ``runs`` group of a saved fit."""
        import xarray as xr

        frame = self.to_frame()
        for column in (K.SEED, K.RUN_ID, K.FAMILY):
            if column in frame:
                frame[column] = frame[column].astype("string").fillna("").astype(str)
        return xr.Dataset({c: (K.RUN, frame[c].to_numpy()) for c in frame.columns})

    def subset(self, mask) -> Runs:
        """The runs where ``mask`` (boolean array over rows) is true, re-validated."""
        mask = np.asarray(mask, dtype=bool)
        return Runs.from_frame(
            self.frame.loc[mask].reset_index(drop=True),
            flops_per_param_token=self.flops_per_param_token,
            plausibility=False,  # these runs were accepted already
        )

    def select(
        self, family: str | None = None, max_flops: float | None = None, near_optimum: float | None = None
    ) -> Runs:
        """Runs of one ``family`` and/or with compute at most ``max_flops``, and/or (IsoFLOP
        designs) with loss within ``near_optimum`` (a fraction: 0.15 = 15%) of the best loss at
        their compute budget (:mod:`bayes_scaling.data.isoflop`: the far arms a global law
        misfits are left out; for allocation questions)."""

        mask = np.ones(len(self), dtype=bool)
        if family is not None:
            if family not in self.families:
                raise RunsValidationError([f"no runs of family '{family}'; families present: {self.families}"])
            mask &= (self.frame[K.FAMILY] == family).to_numpy()
        if max_flops is not None:
            mask &= self.flops <= max_flops
        if near_optimum is not None:
            if isinstance(near_optimum, bool) or not isinstance(near_optimum, (int, float)) or not 0 < near_optimum < 1:
                raise RunsValidationError(
                    [
                        "the near-optimum fraction must lie between 0 and 1 (a fraction of the best loss), e.g. "
                        f"{option('near_optimum', 0.15)} for 15%; got {near_optimum!r}"
                    ]
                )
            picked = self.subset(mask) if not mask.all() else self
            mask[np.flatnonzero(mask)[~picked._near_optimum_rows(near_optimum)]] = False
        return self.subset(mask)

    def _near_optimum_rows(self, within: float) -> np.ndarray:
        """Rows of the runs whose final configuration lies within ``within`` of the best at its
        IsoFLOP budget (per family; a configuration's loss is the mean of its seeds); every row
        of a kept run is kept. Budgets whose compute is not shared exactly are kept whole, with
        a :class:`~bayes_scaling.errors.RunsWarning`."""
        from .isoflop import near_optimum_mask, spread_budgets

        final_rows = np.flatnonzero(self._final_mask())
        config = self.config_index[final_rows]
        final_cfg, at = np.unique(config, return_inverse=True)  # (seeds of a config: its mean log loss)
        cfg_loss = np.exp(pd.Series(np.log(self.loss[final_rows])).groupby(at).mean().to_numpy())
        cfg_flops = self.configs[K.FLOPS].to_numpy()[final_cfg]
        family = (
            self.configs[K.FAMILY].to_numpy()[final_cfg] if K.FAMILY in self.configs else np.full(final_cfg.size, "")
        )
        keep_cfg = np.ones(final_cfg.size, dtype=bool)
        for fam in pd.unique(family):
            sel = np.flatnonzero(family == fam)
            keep_cfg[sel] = near_optimum_mask(cfg_flops[sel], cfg_loss[sel], within)
            spread = spread_budgets(cfg_flops[sel])
            if spread:
                warnings.warn(
                    f"near_optimum: {spread}; their runs were all kept. The selection needs an IsoFLOP design "
                    "(runs sharing exact compute budgets)",
                    RunsWarning,
                    stacklevel=4,
                )
        kept_runs = np.zeros(self.n_runs, dtype=bool)
        kept_runs[self.run_index[final_rows[keep_cfg[at]]]] = True
        return kept_runs[self.run_index]

    def data_hash(self) -> str:
        """SHA-256 of the canonical table (provenance of a fit)."""
        cols = [c for c in (K.PARAMS, K.TOKENS, K.LOSS, K.FLOPS, *K.LAW_INPUT_DEFAULTS) if c in self.frame]
        payload = np.ascontiguousarray(self.frame[cols].to_numpy(dtype=float)).tobytes()
        return hashlib.sha256(payload).hexdigest()

    def check_fittable(self, n_parameters: int, law_name: str, axes=("N", "D"), inputs=(), families=False) -> None:
        """Raise one RunsValidationError if these runs cannot identify a law with ``n_parameters``
        whose exponents act along ``axes`` (some of "N", "D", "C") and that reads the columns
        ``inputs`` besides N and D (``Law.extra_inputs``). ``families``: one model over several
        families, which the table as a whole must identify (every row needs a family)."""
        problems = []
        n_configs = len(self.configs)
        if families and (K.FAMILY not in self.frame or (self.frame[K.FAMILY].astype(str) == "").any()):
            missing = np.arange(len(self)) if K.FAMILY not in self.frame else np.flatnonzero(self.frame[K.FAMILY] == "")
            problems.append(
                f"a fit over families needs the family of every run: {rows_text(missing)} have none (a 'family' column)"
            )
        if len(self.families) > 1 and not families:
            problems.append(
                f"the runs mix {len(self.families)} families {self.families}: one law per family; "
                f"use {option('family', ..., python='runs.select(family=...)')}"
            )
        if n_configs <= n_parameters:
            problems.append(
                f"only {n_configs} distinct (N, D) configuration{'s' if n_configs != 1 else ''} for law "
                f"'{law_name}' with {n_parameters} parameters plus noise: add runs at more sizes"
            )
        if len(self) > 1 and np.ptp(self.loss) == 0:
            problems.append(
                f"every row has the same loss ({self.loss[0]:.6g}): there is no scaling to fit; give the loss of each run"
            )
        ties = self.configs[(self.configs["n_seeds"] > 1) & (self.configs["within_ss"] <= 1e-24)]
        if len(ties):
            rows = np.flatnonzero(np.isin(self.config_index, ties.index.to_numpy()))
            problems.append(
                f"replicate seeds at {rows_text(rows)} have exactly equal losses, which leaves the seed noise at zero: "
                "give the losses with more digits, or keep one row per configuration"
            )
        if "C" in axes and np.unique(self.flops).size < 3:
            problems.append(
                f"runs span only {np.unique(self.flops).size} distinct compute budget(s) C: law '{law_name}' "
                "needs 3 or more"
            )
        problems += law_input.input_problems(self.frame, law_name, inputs)
        if "N" in axes and np.unique(self.params).size < 3:
            problems.append(
                f"runs span only {np.unique(self.params).size} distinct model size(s) N: the N exponent cannot be "
                "identified; add runs at 3 or more sizes"
            )
        if "D" in axes and np.unique(self.tokens).size < 3:
            problems.append(
                f"runs span only {np.unique(self.tokens).size} distinct token count(s) D: the D exponent cannot be "
                "identified; add runs at 3 or more token counts"
            )
        if problems:
            raise RunsValidationError(problems)
