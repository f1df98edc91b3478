"""What every posterior forecaster answers from its draws: :class:`Forecast` (draws of loss at
points) and :class:`Predictive` (``predict``, ``predict_summary``, ``compute_optimal``), shared
by a single fit and by a stacked mixture of fits."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .. import _constants as K
from .._threads import in_threads
from ..data.inputs import range_problems
from ..errors import ExtrapolationWarning, SamplingWarning, SpecError
from ..units import as_counts

#: Answers further than this many decades beyond the largest fitted compute warn
#: (:class:`~bayes_scaling.errors.ExtrapolationWarning`): 3 decades = 1000x, the far end of
#: what scaling studies extrapolate, and past the 1-2 decades the backtests behind the
#: calibrated bands cover (``benchmarks/results/calibration.md``).
FAR_BEYOND_DECADES = 3.0
#: ... and this many below the smallest fitted compute (10x): the law is a fit to the runs
#: given, and small models leave its power-law regime.
FAR_BELOW_DECADES = 1.0


def interval_quantiles(prob: float) -> tuple[float, float]:
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must be between 0 and 1, got {prob!r}")
    return (1 - prob) / 2, (1 + prob) / 2


def column_quantiles(x: np.ndarray, q) -> np.ndarray:
    """``np.quantile(x, q, axis=0)`` (linear interpolation) by one partial sort of the columns:
    about twice as fast, since only the order statistics the quantiles need are placed."""
    rows = np.ascontiguousarray(x.T)
    m = rows.shape[1]
    pos = np.asarray(q, dtype=float) * (m - 1)
    lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
    rows.partition(np.unique(np.concatenate([lo, hi])), axis=1)
    frac = (pos - lo)[:, None]
    return rows[:, lo].T * (1 - frac) + rows[:, hi].T * frac


#: Values (draws x points) per block of :meth:`Predictive.predict` and of :class:`Forecast`'s
#: quantiles: 4 MB of float64, which stays in cache while the law, the noise and the
#: exponential pass over it (whole-array passes went through memory, and np.median and
#: np.quantile each placed their order statistics on the whole strided array: 1e4 points x 4000
#: draws took 5.8 s for predict + median + interval, 1.8 s so on 2 cores, of which 0.8 s is
#: Student-t noise; ``benchmarks/results/predict_throughput.md``).
BLOCK_VALUES = 1 << 19


def _block_starts(n_draws: int, n_points: int) -> tuple[int, range]:
    """Points per block and the first point of each block."""
    width = max(1, BLOCK_VALUES // max(n_draws, 1))
    return width, range(0, n_points, width)


def _seed_sequence(random_seed) -> np.random.SeedSequence:
    """The root of predict's per-block streams: an int, None (fresh entropy), a SeedSequence,
    or a Generator (which draws the root once)."""
    if isinstance(random_seed, np.random.SeedSequence):
        return random_seed
    if isinstance(random_seed, np.random.Generator):
        return np.random.SeedSequence(int(random_seed.integers(2**63)))
    return np.random.SeedSequence(random_seed)


def draw_quantiles(draws: np.ndarray, q, workers: int | None = None) -> np.ndarray:
    """``np.quantile(draws, q, axis=0)`` (linear interpolation, NaN for a column with a NaN),
    shape ``(len(q), n_points)``, by a partial sort of cache-sized blocks of columns on
    ``workers`` threads: only the order statistics the quantiles need are placed (np.quantile
    and np.median place them on the whole strided array, and once per call). Positions and
    interpolation are numpy's (``n q + (1 - q) - 1`` and its two-sided lerp): the results agree
    with ``np.quantile`` to rounding (1e-14 relative), in the draws' float dtype."""
    draws = np.asarray(draws)
    q = np.asarray(q, dtype=float)
    m, n_points = draws.shape
    if m == 0:
        raise ValueError("quantiles of no draws")
    virtual = np.clip(m * q + (1 - q) - 1, 0, m - 1)  # numpy's "linear" virtual index
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, m - 1)
    t = (virtual - lo)[:, None]
    kth = np.unique(np.concatenate([lo, hi]))
    out = np.empty((q.size, n_points), dtype=draws.dtype if draws.dtype.kind == "f" else np.float64)
    width, starts = _block_starts(m, n_points)

    def work(start: int) -> None:
        sl = slice(start, start + width)
        rows = np.array(draws[:, sl].T, order="C")  # (points, draws): each column contiguous
        rows.partition(kth, axis=1)
        a, b = rows[:, lo].T, rows[:, hi].T
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, as np.quantile gives
            diff = b - a
            value = a + diff * t
            np.subtract(b, diff * (1 - t), out=value, where=np.broadcast_to(t >= 0.5, value.shape))
        if rows.dtype.kind == "f":  # np.quantile's answer for a column with a NaN
            value[:, np.isnan(rows).any(axis=1)] = np.nan
        out[:, sl] = value

    in_threads(work, starts, workers)
    return out


@dataclass(frozen=True, eq=False)
class Forecast:
    """Posterior (predictive) draws of loss at a set of (N, D) points.

    ``draws`` has shape ``(n_draws, n_points)`` (float64); ``kind`` is ``"mean"`` (the expected
    loss of the law: parameter uncertainty only) or ``"new_run"`` (a new training run: adds the
    configuration discrepancy and the seed noise at that N).

    ``median`` and ``interval(prob)`` are the quantiles of ``draws`` (``np.quantile``'s linear
    interpolation), computed in one partial sort per ``prob`` (median and interval together)
    and kept; ``predict`` hands out its draws read-only, so the kept summaries stay theirs.
    """

    params: np.ndarray
    tokens: np.ndarray
    draws: np.ndarray
    kind: str
    #: The law's other inputs given at the points, by name, in their units (e.g. ``parallel_streams``).
    inputs: dict = field(default_factory=dict)
    _summaries: dict = field(default_factory=dict, init=False, repr=False)

    def _summary(self, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(median, lo, hi)`` of the ``prob`` interval, computed once per ``prob``."""
        prob = float(prob)
        if prob not in self._summaries:
            median, lo, hi = draw_quantiles(self.draws, (0.5, *interval_quantiles(prob)))
            self._summaries[prob] = (median, lo, hi)
        return self._summaries[prob]

    @property
    def median(self) -> np.ndarray:
        """Posterior median loss per point (with the 90% interval in the same pass, unless an
        interval was asked for first)."""
        if not self._summaries:
            return self._summary(0.9)[0].copy()
        return next(iter(self._summaries.values()))[0].copy()

    @cached_property
    def mean(self) -> np.ndarray:
        return self.draws.mean(axis=0)

    def interval(self, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed ``prob`` interval per point: ``(lo, hi)`` arrays."""
        _, lo, hi = self._summary(prob)
        return lo.copy(), hi.copy()

    def to_frame(self, prob: float = 0.9) -> pd.DataFrame:
        lo, hi = self.interval(prob)
        return (
            pd.DataFrame(
                {
                    K.PARAMS: self.params,
                    K.TOKENS: self.tokens,
                    **self.inputs,
                    "loss_median": self.median,
                    "loss_lo": lo,
                    "loss_hi": hi,
                }
            )
            .assign(kind=self.kind)
            .rename_axis("point")
        )


class Predictive:
    """What every posterior forecaster answers from its draws (a :class:`ScalingFit` or a
    stacked mixture of fits, :class:`bayes_scaling.evaluation.stacking.StackedFit`): ``predict``,
    ``predict_summary`` and ``compute_optimal``. Subclasses give ``n_draws``,
    ``_forecast_log_loss`` and ``optimal_draws``.
    """

    def _check_answerable(self, stacklevel: int = 3) -> None:
        """Refuse or caveat an answer from draws whose diagnostics failed (a single fit's verdict;
        a mixture has none of its own)."""

    #: ``(smallest, largest)`` compute C of the fitted runs; None when unknown.
    fitted_compute: tuple[float, float] | None = None

    def decades_outside(self, flops) -> np.ndarray:
        """How far each compute ``flops`` lies outside the fitted runs, in decades:
        ``log10(C / largest fitted C)`` beyond them (> 0), ``log10(C / smallest fitted C)`` below
        them (< 0), 0 within (NaN when the fitted range is unknown)."""
        c = np.asarray(as_counts(flops, "flops"), dtype=float)
        if self.fitted_compute is None:
            return np.full(c.shape, np.nan)
        lo, hi = self.fitted_compute
        return np.where(c > hi, np.log10(c / hi), np.where(c < lo, np.log10(c / lo), 0.0))

    def _warn_far(self, flops, stacklevel: int = 3) -> None:
        """An :class:`~bayes_scaling.errors.ExtrapolationWarning` for answers more than
        :data:`FAR_BEYOND_DECADES` beyond the fitted compute or :data:`FAR_BELOW_DECADES` below it."""
        out = self.decades_outside(flops)
        if not np.isfinite(out).any():
            return
        beyond, below = float(np.nanmax(out)), float(np.nanmin(out))
        if beyond > FAR_BEYOND_DECADES + 0.01:  # 2% slack: a budget of exactly 1000x is at the edge
            warnings.warn(
                f"answer at {10**beyond:,.0f}x the largest fitted compute: past {10**FAR_BEYOND_DECADES:,.0f}x the "
                "bands rest on the extrapolation-drift model alone, beyond what backtests have checked",
                ExtrapolationWarning,
                stacklevel=stacklevel,
            )
        if below < -FAR_BELOW_DECADES - 0.01:
            warnings.warn(
                f"answer at 1/{10**-below:,.0f} of the smallest fitted compute: the law was not fitted there "
                "(small models leave the power-law regime); fit runs of that size instead",
                ExtrapolationWarning,
                stacklevel=stacklevel,
            )

    def predict(
        self, params, tokens, kind: str = "new_run", random_seed: int = 0, workers: int | None = None, **inputs
    ) -> Forecast:
        r"""Posterior predictive loss at ``(params, tokens)`` (arrays broadcast; "70B" accepted).

        kind="mean": :math:`L(N, D)` under parameter uncertainty (expected-loss band).
        kind="new_run": the loss a single new run would show (new-run band):
        :math:`\log L_{new} = \log L(N, D) + \delta + \varepsilon`, the configuration
        discrepancy (sd :math:`\tau`) plus seed noise (sd :math:`\sigma(N)`), with Student-t
        tails under the default likelihood. Its noise is drawn with ``random_seed``, a
        block of points at a time (:data:`BLOCK_VALUES` draws x points), each from its own
        stream, so the same seed gives the same draws whatever ``workers`` (threads; default:
        the CPUs this process may use).
        Both kinds include the extrapolation drift beyond the fitted range (see
        :meth:`ScalingFit.log_mean_draws`). ``inputs``: the law's other inputs by name, e.g.
        ``unique_tokens=`` (the distinct tokens behind D; default: every token unique).
        """
        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' or 'new_run', got {kind!r}")
        self._check_answerable()
        n, d, extra = points(params, tokens, inputs)
        self._warn_far(getattr(self, "flops_per_param_token", K.DEFAULT_FLOPS_PER_PARAM_TOKEN) * n * d)
        seed = _seed_sequence(random_seed)
        draws = np.empty((self.n_draws, n.size))
        width, starts = _block_starts(self.n_draws, n.size)

        def work(start: int) -> None:
            sl = slice(start, start + width)
            rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, start)))
            part = {name: v[None, sl] for name, v in extra.items()}
            log_loss = self._forecast_log_loss(n[None, sl], d[None, sl], part, kind, rng)
            np.exp(log_loss, out=draws[:, sl])  # the one exponential, into place

        in_threads(work, starts, workers)
        draws.flags.writeable = False  # its median and intervals are kept (see Forecast)
        return Forecast(params=n, tokens=d, draws=draws, kind=kind, inputs=extra)

    def predict_summary(
        self,
        params,
        tokens,
        *,
        kind: str = "new_run",
        probs=(0.9,),
        chunk_size: int | None = None,
        random_seed: int = 0,
        workers: int | None = None,
        **inputs,
    ) -> pd.DataFrame:
        """Median and central ``probs`` intervals of :meth:`predict`, without keeping the draws.

        Points are processed in chunks (about 80 MB of draws each, ``workers`` threads at a
        time, default: the number of cores), so memory stays bounded however many points are
        asked for. Quantiles are taken on log loss and exponentiated (the same quantiles, fewer
        exponentials). New-run noise is drawn for per-point summaries (see ``marginal_only`` in
        :func:`~bayes_scaling.noise.new_run_noise`); the same seed and chunk size give the same
        table. Columns: params, tokens, loss_median, loss_lo_XX / loss_hi_XX (XX = percent);
        ``attrs`` records ``kind`` and ``probs``. Memory: the draws of one chunk per thread plus
        the result (about 40 bytes per point).
        """

        if kind not in ("mean", "new_run"):
            raise ValueError(f"kind must be 'mean' or 'new_run', got {kind!r}")
        self._check_answerable()
        n, d, extra = points(params, tokens, inputs)
        self._warn_far(getattr(self, "flops_per_param_token", K.DEFAULT_FLOPS_PER_PARAM_TOKEN) * n * d)
        q = [0.5]
        for p in probs:
            q += list(interval_quantiles(p))
        chunk = chunk_size or max(1, 10_000_000 // self.n_draws)
        out = np.empty((len(q), n.size))

        def work(start: int) -> None:
            sl = slice(start, start + chunk)
            rng = np.random.default_rng([random_seed, start])
            part = {name: v[None, sl] for name, v in extra.items()}
            log_loss = self._forecast_log_loss(
                n[None, sl], d[None, sl], part, kind, rng, dtype=np.float32, marginal_only=True
            )
            out[:, sl] = column_quantiles(log_loss, q)

        in_threads(work, range(0, n.size, chunk), workers)
        table = {K.PARAMS: n, K.TOKENS: d, "loss_median": np.exp(out[0])}
        for i, p in enumerate(probs):
            pct = f"{100 * p:g}"
            table[f"loss_lo_{pct}"] = np.exp(out[1 + 2 * i])
            table[f"loss_hi_{pct}"] = np.exp(out[2 + 2 * i])
        frame = pd.DataFrame(table).rename_axis("point")
        frame.attrs.update(kind=kind, probs=tuple(probs))
        return frame

    def compute_optimal(self, flops, prob: float = 0.9) -> pd.DataFrame:
        r"""Compute-optimal N*, D*, D*/N* and expected loss per budget C: median and ``prob`` interval.

        For Chinchilla: :math:`N^* = G (C/k)^{\beta/(\alpha+\beta)}`,
        :math:`G = (\alpha A / \beta B)^{1/(\alpha+\beta)}`, :math:`D^* = C / (k N^*)`, per draw;
        beyond the fitted compute, N* is moved by the allocation drift (``allocation_sd``, see
        :mod:`bayes_scaling.noise.extrapolation`) and the loss carries the extrapolation drift.
        """
        q_lo, q_hi = interval_quantiles(prob)
        draws = self.optimal_draws(flops)
        self._warn_far(flops)
        table = {K.FLOPS: as_counts(flops, "flops"), "decades_outside": self.decades_outside(flops)}
        unbounded = np.isnan(draws["params"])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="All-NaN slice")
            for name, values in draws.items():
                table[f"{name}_median"] = np.nanmedian(values, axis=0)
                table[f"{name}_lo"] = np.nanquantile(values, q_lo, axis=0)
                table[f"{name}_hi"] = np.nanquantile(values, q_hi, axis=0)
        frame = pd.DataFrame(table).rename_axis("budget")
        frame.attrs["interval"] = prob
        if unbounded.any():
            share = unbounded.mean(axis=0)
            frame["share_without_optimum"] = share
            law = getattr(self, "_law", None)
            low, high = getattr(law, "allocation_ratios", None) or (0.01, 1e6)
            warnings.warn(
                f"{share.max():.1%} of draws (at worst) have no loss minimum between {low:g} and {high:g} tokens per "
                "parameter at some budget: the summary is over the others (column share_without_optimum)",
                SamplingWarning,
                stacklevel=2,
            )
        return frame


def points(params, tokens, inputs=None):
    """Flat float arrays of N and D, and a dict of the law's other inputs (``unique_tokens``...),
    broadcast together; "70B" accepted. An input no law reads is a SpecError."""
    inputs = {name: v for name, v in dict(inputs or {}).items() if v is not None}
    unknown = sorted(set(inputs) - set(K.LAW_INPUT_DEFAULTS))
    if unknown:
        raise SpecError(
            f"unknown forecast input(s) {unknown}: a law reads params, tokens and {sorted(K.LAW_INPUT_DEFAULTS)}"
        )
    names = list(inputs)
    arrays = [as_counts(params, "params"), as_counts(tokens, "tokens"), *(as_counts(inputs[k], k) for k in names)]
    flat = [a.ravel().astype(float) for a in np.broadcast_arrays(*arrays)]
    problems = [
        p
        for name, values in zip(names, flat[2:], strict=True)
        for p in range_problems(name, name, values, lambda at: "point(s) " + ", ".join(map(str, at[:10])), flat[0])
    ]
    if problems:
        raise SpecError("; ".join(problems).replace("column '", "input '"))
    return flat[0], flat[1], dict(zip(names, flat[2:], strict=True))
