"""Training curves: many checkpoints per run, each run with its learning-rate schedule.

:class:`Curves` is the validated long table of a curve fit: one row per logged step, with
``run_id``, ``step``, ``loss``, ``params`` and the learning rate, either as an ``lr`` column
(the rate at each logged step; between rows it is interpolated linearly, before the first row it
is taken to rise linearly from 0 at step 0, the usual warmup) or as schedule objects
(``schedules={run_id: bs.schedules.wsd(...)}``).

Runs that **branch** off another run (a cooldown started from its checkpoint, recognisable as
identical first rows: same steps, losses and rates) share its path up to the branch: the shared
rows are counted once, and the branch continues the run's residual there (see
:mod:`bayes_scaling.noise.along_run`). Counting them once per branch would tell the model it has
seen the same stretch of training several times, independently.

:meth:`Curves.observations` gives what the model reads, thinned for speed: at most
``max_points`` rows per run (plus the first and last rows and the rows other runs branch off
at), evenly in log step while the rate is at its peak, dense early in each cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _constants as K
from ..errors import RunsValidationError, option
from ..laws.schedules import Schedule, from_array
from .reading import missing_column_hint, read_table

LR = "lr"
#: Rows kept per run for the model (see :meth:`Curves.observations`).
DEFAULT_MAX_POINTS = 48
#: The ``lr`` column must be logged densely enough: where the rate changes between two rows more
#: than this share of the run's steps apart, the schedule between them is a guess (an error).
MAX_LR_GAP = 0.05
#: Rows a branch must share with a run to count as branching off it.
MIN_SHARED_ROWS = 2


def _rows_text(index) -> str:
    rows = [int(i) + 2 for i in index[:6]]  # + header, 1-based: the line in the CSV file
    more = f" and {len(index) - 6} more" if len(index) > 6 else ""
    return f"line{'s' if len(index) != 1 else ''} {', '.join(map(str, rows))}{more}"


@dataclass(frozen=True)
class Observations:
    """What a curve model reads (see :meth:`Curves.observations`), one entry per kept row.

    ``run``: index into ``run_ids``; ``parent``: the row before on the same trajectory (-1 for a
    tree's first row), ``dt`` the steps since it; ``tree``: the run tree (a run and its
    branches), ``n_trees`` of them.
    """

    run_ids: tuple[str, ...]
    run: np.ndarray
    step: np.ndarray
    loss: np.ndarray
    params: np.ndarray
    parent: np.ndarray
    dt: np.ndarray
    tree: np.ndarray
    n_trees: int

    def __len__(self) -> int:
        return self.step.size


class Curves:
    """The validated table of training curves (see the module doc)."""

    def __init__(self, frame: pd.DataFrame, schedules: dict[str, Schedule], branch_of: dict):
        self.frame = frame
        self.schedules = schedules
        #: ``{run_id: (trunk run_id, last shared step)}``
        self.branch_of = branch_of

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_csv(cls, path: str | Path, *, encoding: str | None = None, **kwargs) -> Curves:
        """Read a curves file (delimiter detected; ``encoding`` default utf-8); see :meth:`from_frame`."""
        return cls.from_frame(read_table(path, encoding=encoding), **kwargs)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        schedules: dict | None = None,
        run_id: str = K.RUN_ID,
        step: str = K.STEP,
        loss: str = K.LOSS,
        params: str = K.PARAMS,
        lr: str = LR,
    ) -> Curves:
        """Validate a long table of curves; every problem is named at once (column, lines, what to do)."""
        problems: list[str] = []
        roles = {K.RUN_ID: run_id, K.STEP: step, K.LOSS: loss, K.PARAMS: params}
        used = list(roles.values())
        for role, name in roles.items():
            if name not in df.columns:
                problems.append(
                    f"column '{name}' ({role}) is missing; a curve table needs one row per logged step with "
                    f"run_id, step, loss, params and the learning rate{missing_column_hint(role, df.columns, used)}"
                )
        has_lr = lr in df.columns
        schedules = dict(schedules or {})
        if not has_lr and not schedules:
            problems.append(
                f"no learning rate: add an '{lr}' column, the rate at each logged step (another name: "
                f"{option('lr', 'NAME')}), or give each run's schedule "
                f"({option('schedules', python='schedules={run_id: bs.schedules.wsd(...)}')})"
            )
        if problems:
            raise RunsValidationError(problems)
        out = pd.DataFrame({K.RUN_ID: df[run_id].astype(str), "_line": np.arange(len(df))})
        for role, name in ((K.STEP, step), (K.LOSS, loss), (K.PARAMS, params)) + (((LR, lr),) if has_lr else ()):
            values = pd.to_numeric(df[name], errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy())
            if bad.size and not (role == LR and schedules):  # the schedules give the rates
                problems.append(f"column '{name}' is blank or not a number on {_rows_text(bad)}")
            out[role] = values.to_numpy(dtype=float)
        if problems:
            raise RunsValidationError(problems)
        checks = (
            (K.LOSS, out[K.LOSS] <= 0, "the loss must be > 0 (nats per token)"),
            (K.PARAMS, out[K.PARAMS] <= 0, "the parameter count must be > 0"),
            (K.STEP, (out[K.STEP] < 0) | (out[K.STEP] != np.round(out[K.STEP])), "steps must be whole numbers >= 0"),
            (K.STEP, out[K.STEP] == 0, "a loss at step 0 comes before any training (no LR area yet): drop those rows"),
        )
        for role, bad, what in checks:
            if bad.any():
                problems.append(f"column '{roles[role]}': {what}; not so on {_rows_text(np.flatnonzero(bad))}")
        if has_lr and (out[LR] < 0).any():
            problems.append(
                f"column '{lr}': the learning rate must be >= 0; not so on {_rows_text(np.flatnonzero(out[LR] < 0))}"
            )
        dup = out.duplicated([K.RUN_ID, K.STEP], keep=False)
        if dup.any():
            problems.append(
                f"runs log the same step twice on {_rows_text(np.flatnonzero(dup))}: keep one row per (run_id, step)"
            )
        sizes = out.groupby(K.RUN_ID)[K.PARAMS].nunique()
        if (sizes > 1).any():
            problems.append(
                f"column '{params}' changes within run(s) {sorted(sizes.index[sizes > 1])[:5]}: one model size per run"
            )
        unknown = sorted(set(schedules) - set(out[K.RUN_ID]))
        if unknown:
            problems.append(f"schedules given for run(s) not in the table: {unknown[:5]}")
        if problems:
            raise RunsValidationError(problems)
        out = out.sort_values([K.RUN_ID, K.STEP], kind="stable").reset_index(drop=True)
        built = {}
        for rid, rows in out.groupby(K.RUN_ID, sort=True):
            if rid in schedules:
                built[rid] = _checked_schedule(rid, schedules[rid], rows, problems)
            elif not has_lr:
                problems.append(f"run '{rid}' has no schedule: give schedules[{rid!r}] or an '{lr}' column")
            else:
                built[rid] = _schedule_from_rows(rid, rows, lr, problems)
        if problems:
            raise RunsValidationError(problems)
        return cls(out, built, _branches(out))

    # ------------------------------------------------------------------ views
    @property
    def run_ids(self) -> list[str]:
        return list(self.schedules)

    def run_table(self) -> pd.DataFrame:
        """One row per run: size, steps, last loss, and the run it branches off (if any)."""
        g = self.frame.groupby(K.RUN_ID, sort=True)
        table = g.agg(
            params=(K.PARAMS, "first"), first_step=(K.STEP, "min"), last_step=(K.STEP, "max"), rows=(K.STEP, "size")
        )
        table["final_loss"] = g[K.LOSS].last()
        table["branch_of"] = [self.branch_of.get(r, (None, None))[0] for r in table.index]
        return table

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        n_sizes = self.frame[K.PARAMS].nunique()
        return f"Curves({len(self.schedules)} runs, {n_sizes} model sizes, {len(self)} rows, {len(self.branch_of)} branches)"

    def subset(self, run_ids) -> Curves:
        """The curves of ``run_ids`` only (a branch whose trunk is dropped stands alone)."""
        keep = set(run_ids)
        frame = self.frame[self.frame[K.RUN_ID].isin(keep)].reset_index(drop=True)
        return Curves(frame, {r: s for r, s in self.schedules.items() if r in keep}, _branches(frame))

    def truncate(self, run_id: str, last_step: float) -> Curves:
        """The table with ``run_id`` cut after ``last_step`` (a run in progress)."""
        drop = (self.frame[K.RUN_ID] == run_id) & (self.frame[K.STEP] > last_step)
        frame = self.frame[~drop].reset_index(drop=True)
        return Curves(frame, dict(self.schedules), _branches(frame))

    def rows(self, run_id: str) -> pd.DataFrame:
        return self.frame[self.frame[K.RUN_ID] == run_id]

    def path(self, run_id: str, upto: float | None = None) -> pd.DataFrame:
        """Every logged row on ``run_id``'s trajectory up to step ``upto``: the rows of the run it
        branches off (recursively) up to the branch, then its own."""
        rows = self.rows(run_id)
        if run_id in self.branch_of:
            trunk, at = self.branch_of[run_id]
            rows = pd.concat([self.path(trunk, at), rows[rows[K.STEP] > at]])
        return rows if upto is None else rows[rows[K.STEP] <= upto]

    def shared_until(self, rows: pd.DataFrame, others) -> float:
        """The last step up to which ``rows`` (a run's, from this table or another) are the rows
        this table logged on the trajectory of one of ``others`` (NaN if none shares its start):
        what a fit of this table has seen of that run."""
        cols = [K.STEP, K.LOSS] + ([LR] if LR in self.frame and LR in rows else [])
        x = rows[cols].to_numpy()
        best = np.nan
        for other in others:
            y = self.path(other)[cols].to_numpy()
            n = min(len(x), len(y))
            same = np.all(x[:n] == y[:n], axis=1)
            shared = n if same.all() else int(np.argmin(same))
            if shared and not best >= x[shared - 1, 0]:
                best = float(x[shared - 1, 0])
        return best

    # ------------------------------------------------------------------ the model's view
    def observations(self, max_points: int | None = DEFAULT_MAX_POINTS) -> Observations:
        """Rows the model reads: shared rows of a branch dropped, each run thinned to at most
        ``max_points`` (None keeps all), with each row's parent on its trajectory."""
        run_ids = self.run_ids
        index = {r: i for i, r in enumerate(run_ids)}
        anchors: dict[str, set] = {}
        for trunk, at in self.branch_of.values():
            anchors.setdefault(trunk, set()).add(at)
        kept: dict[str, pd.DataFrame] = {}
        for rid in run_ids:
            rows = self.rows(rid)
            if rid in self.branch_of:
                rows = rows[rows[K.STEP] > self.branch_of[rid][1]]
            if max_points and len(rows):
                rows = rows.iloc[_thin(rows, self.schedules[rid], max_points, anchors.get(rid, ()))]
            kept[rid] = rows
        order = _trunks_first(run_ids, self.branch_of)
        parts, offset, position = [], 0, {}
        trees: dict[str, int] = {}
        for rid in order:
            rows = kept[rid]
            n = len(rows)
            steps = rows[K.STEP].to_numpy()
            parent = np.arange(offset - 1, offset + n - 1)
            dt = np.diff(steps, prepend=steps[:1]).astype(float)
            if rid in self.branch_of:
                trunk, at = self.branch_of[rid]
                trees[rid] = trees[trunk]
                t_steps, t_pos = position[trunk]
                j = np.searchsorted(t_steps, at, side="right") - 1
                if n:
                    parent[0] = t_pos[j] if j >= 0 else -1
                    dt[0] = steps[0] - t_steps[j] if j >= 0 else 0.0
                # (its path: the trunk's rows up to the branch, then its own)
                position[rid] = (np.r_[t_steps[: j + 1], steps], np.r_[t_pos[: j + 1], np.arange(offset, offset + n)])
            else:
                trees[rid] = len(set(trees.values()))
                if n:
                    parent[0] = -1
                position[rid] = (steps, np.arange(offset, offset + n))
            if n:
                parts.append((rid, rows, parent, dt))
            offset += n
        return Observations(
            run_ids=tuple(run_ids),
            run=np.concatenate([np.full(len(r), index[rid]) for rid, r, _, _ in parts]),
            step=np.concatenate([r[K.STEP].to_numpy() for _, r, _, _ in parts]),
            loss=np.concatenate([r[K.LOSS].to_numpy() for _, r, _, _ in parts]),
            params=np.concatenate([r[K.PARAMS].to_numpy() for _, r, _, _ in parts]),
            parent=np.concatenate([p for _, _, p, _ in parts]),
            dt=np.concatenate([d for _, _, _, d in parts]),
            tree=np.concatenate([np.full(len(r), trees[rid]) for rid, r, _, _ in parts]),
            n_trees=len(set(trees.values())),
        )


# --------------------------------------------------------------------------- helpers
def _schedule_from_rows(rid: str, rows: pd.DataFrame, lr: str, problems: list[str]) -> Schedule | None:
    steps = rows[K.STEP].to_numpy()
    rates = rows[LR].to_numpy()
    span = max(steps[-1], 1.0)
    gaps = np.diff(steps)
    bad = np.flatnonzero((gaps > MAX_LR_GAP * span) & (np.diff(rates) != 0))
    if bad.size:
        i = bad[0]
        problems.append(
            f"run '{rid}': the '{lr}' column changes from {rates[i]:.3g} at step {steps[i]:.0f} to {rates[i + 1]:.3g} "
            f"at step {steps[i + 1]:.0f}, {gaps[i]:.0f} steps later: too far apart to know the schedule between; "
            "log the rate more often, or give the rate at every step "
            f"({option('schedules', python=f'schedules[{rid!r}] = bs.schedules.from_array(lr_at_every_step)')})"
        )
        return None
    t = np.arange(int(steps[-1]) + 1, dtype=float)
    # Before the first logged row: a linear warmup from 0 at step 0 (the usual start).
    curve = np.interp(t, np.r_[0.0, steps], np.r_[0.0, rates]) if steps[0] > 0 else np.interp(t, steps, rates)
    return from_array(curve, name=f"{rid} (from the {lr} column)")


def _checked_schedule(rid: str, schedule, rows: pd.DataFrame, problems: list[str]) -> Schedule | None:
    if not isinstance(schedule, Schedule):
        problems.append(
            f"schedules[{rid!r}] must be a schedule such as bs.schedules.wsd(...), got {type(schedule).__name__}"
        )
        return None
    last = rows[K.STEP].max()
    if last > schedule.steps:
        problems.append(f"run '{rid}' logs step {last:.0f} but its schedule ends at step {schedule.steps}")
        return None
    return schedule


def _branches(frame: pd.DataFrame) -> dict:
    """``{branch: (trunk, last shared step)}``: a run whose first rows equal another run's
    (steps, losses and rates) branches off the run ranked above it (more rows, then more LR
    area, then name: no cycles) with which it shares most, then off that run's own trunk if the
    rows it shares are the trunk's too (sibling cooldowns from one checkpoint hang off the run
    they came from). A run whose every row is another's (a copy of its start) is a branch with no
    rows of its own."""
    cols = [K.STEP, K.LOSS] + ([LR] if LR in frame else [])
    runs = {rid: rows[cols].to_numpy() for rid, rows in frame.groupby(K.RUN_ID, sort=True)}
    # The trunk of runs that share a start: the longest, then the one with the most LR area.
    rank = {rid: (len(x), float(np.nansum(x[:, -1])) if LR in frame else 0.0, rid) for rid, x in runs.items()}
    out = {}
    for rid, x in runs.items():
        best = (0, None)
        for other, y in runs.items():
            if rank[other] <= rank[rid]:
                continue
            n = min(len(x), len(y))
            same = np.all((x[:n] == y[:n]) | (np.isnan(x[:n]) & np.isnan(y[:n])), axis=1)
            shared = n if same.all() else int(np.argmin(same))
            if shared > best[0]:
                best = (shared, other)
        if best[0] >= MIN_SHARED_ROWS:
            out[rid] = (best[1], float(x[best[0] - 1, 0]))
    changed = True
    while changed:  # terminates: each step moves to a run ranked higher
        changed = False
        for rid, (trunk, at) in list(out.items()):
            if trunk in out and out[trunk][1] >= at:
                out[rid] = (out[trunk][0], at)
                changed = True
    return out


def _trunks_first(run_ids, branch_of) -> list[str]:
    order, done = [], set()

    def visit(rid):
        if rid in done:
            return
        if rid in branch_of:
            visit(branch_of[rid][0])
        done.add(rid)
        order.append(rid)

    for rid in run_ids:
        visit(rid)
    return order


def _thin(rows: pd.DataFrame, schedule: Schedule, max_points: int, anchors=()) -> np.ndarray:
    """Positions of about ``max_points`` rows: evenly in log step at the peak rate, evenly in the
    square root of the steps since the cooldown began after it; the first and last rows and the
    rows other runs branch off at (``anchors``) are kept besides."""
    n = len(rows)
    if n <= max_points:
        return np.arange(n)
    steps = rows[K.STEP].to_numpy()
    extra = np.flatnonzero(np.isin(steps, list(anchors)))
    rate = schedule.lr[steps.astype(np.int64)]
    peak_at = int(np.argmax(schedule.lr))
    cooling = (steps > peak_at) & (rate < schedule.peak * (1 - 1e-9))
    picks = [0, n - 1]
    phases = [pos for pos in (np.flatnonzero(~cooling), np.flatnonzero(cooling)) if pos.size]
    for pos in phases:
        is_cooldown = cooling[pos[0]]
        coord = np.sqrt(steps[pos] - steps[pos[0]] + 1.0) if is_cooldown else np.log1p(steps[pos])
        targets = np.linspace(coord[0], coord[-1], min(pos.size, max_points // len(phases)))
        picks.extend(pos[np.clip(np.searchsorted(coord, targets), 0, pos.size - 1)])
    return np.unique(np.r_[picks, extra].astype(np.int64))
