r"""Learning-rate schedules and what the curve laws read from them.

A :class:`Schedule` is the learning rate at every step from 0: ``lr[t]`` is the rate of the
update that produces step ``t``'s weights. Build one with :func:`constant`, :func:`cosine`,
:func:`wsd` (warmup-stable-decay with a linear, exponential or 1-sqrt cooldown),
:func:`step_down` or :func:`from_array`.

:func:`curve_features` turns a schedule and the steps at which loss is observed into the inputs
of the curve laws (:mod:`bayes_scaling.laws.curves`), all numpy, computed once per run:

- the LR area :math:`S(t) = \sum_{\tau=1}^{t} \eta_\tau` (warmup included: :math:`S_1 + S_W` of
  the Multi-Power Law), in units of ``area_unit`` (1,000 steps at the peak rate by default);
- the **decrement blocks** of the loss-drop term
  :math:`\mathrm{LD}(t) = B \sum_{k \le t} (\eta_{k-1} - \eta_k)\, G(\eta_k^{-\gamma} S_k(t))`,
  :math:`S_k(t) = S(t) - S(k-1)`. Every step after the peak with a change of rate is a term; the
  terms are grouped into blocks of equal total decrement (``blocks`` per run), split at the
  observed steps so that each block lies wholly before or wholly after every observation. A
  block is represented by its decrement ``w`` (sum), its rate and its start area (decrement-
  weighted means): the sum is then one ``(observations x blocks)`` product, no scan. With 64
  blocks the error against the step-by-step sum is below 1e-3 nats (tested);
- the momentum-decayed annealing area :math:`S_2(t) = \sum_{i \le t} m_i`,
  :math:`m_i = \lambda m_{i-1} + (\eta_{i-1} - \eta_i)` of Tissue et al. (2024).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import SpecError

__all__ = [
    "Schedule",
    "CurveFeatures",
    "SparseCurveFeatures",
    "constant",
    "cosine",
    "wsd",
    "step_down",
    "from_array",
    "curve_features",
    "stack_features",
    "COOLDOWN_SHAPES",
    "DEFAULT_BLOCKS",
    "AREA_STEPS",
]

#: Decrement blocks per run (the error of the blocked loss-drop sum is below 1e-3 nats at 64).
DEFAULT_BLOCKS = 64
#: The unit of LR area: this many steps at the peak rate.
AREA_STEPS = 1000.0
COOLDOWN_SHAPES = ("linear", "exp", "sqrt")


@dataclass(frozen=True, eq=False)
class Schedule:
    """A learning-rate schedule: ``lr[t]`` for every step ``t = 0 .. steps``."""

    name: str
    lr: np.ndarray

    def __post_init__(self):
        lr = np.array(self.lr, dtype=float, copy=True).ravel()
        if lr.size < 2:
            raise SpecError(f"schedule '{self.name}' needs the learning rate at two steps or more, got {lr.size}")
        bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
        if bad.size:
            raise SpecError(
                f"schedule '{self.name}': the learning rate must be finite and >= 0; steps {bad[:5].tolist()} are not"
            )
        if not lr.max() > 0:
            raise SpecError(f"schedule '{self.name}': the learning rate is 0 at every step")
        lr.setflags(write=False)
        object.__setattr__(self, "lr", lr)

    @property
    def steps(self) -> int:
        """The last step of the schedule."""
        return self.lr.size - 1

    @property
    def peak(self) -> float:
        return float(self.lr.max())

    def area(self, steps) -> np.ndarray:
        r""":math:`\sum_{\tau=1}^{t} \eta_\tau` at each step ``t`` (raw units of LR x steps)."""
        steps = self._check_steps(steps)
        cum = np.concatenate([[0.0], np.cumsum(self.lr[1:])])
        return cum[steps]

    def _check_steps(self, steps) -> np.ndarray:
        steps = np.asarray(steps)
        if steps.size and (np.any(steps != np.round(steps)) or steps.min() < 0 or steps.max() > self.steps):
            raise SpecError(
                f"schedule '{self.name}' runs from step 0 to {self.steps}: the steps asked for must be whole "
                f"numbers in that range (got {np.min(steps):g} to {np.max(steps):g})"
            )
        return steps.astype(np.int64)

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, steps={self.steps}, peak={self.peak:.3g}, final={self.lr[-1]:.3g})"


def _warmed(name: str, peak: float, steps: int, warmup: int, body) -> Schedule:
    """``body(t)`` after a linear warmup from 0 at step 0 to ``peak`` at step ``warmup``."""
    if not (np.isfinite(peak) and peak > 0):
        raise SpecError(f"schedule '{name}': the peak learning rate must be > 0, got {peak!r}")
    steps, warmup = int(steps), int(warmup)
    if steps < 1 or not 0 <= warmup < steps:
        raise SpecError(
            f"schedule '{name}': need steps >= 1 and 0 <= warmup < steps, got steps={steps}, warmup={warmup}"
        )
    t = np.arange(steps + 1, dtype=float)
    lr = body(t)
    if warmup:
        lr = np.where(t < warmup, peak * t / warmup, lr)
    return Schedule(name, lr)


def constant(peak: float, steps: int, *, warmup: int = 0) -> Schedule:
    """The peak rate to the end (after a linear warmup of ``warmup`` steps)."""
    return _warmed(f"constant_{steps}", peak, steps, warmup, lambda t: np.full_like(t, peak))


def cosine(peak: float, steps: int, *, warmup: int = 0, final: float = 0.0) -> Schedule:
    """Cosine decay from ``peak`` after the warmup to ``final`` at the last step."""

    def body(t):
        s = np.clip((t - warmup) / max(steps - warmup, 1), 0.0, 1.0)
        return final + (peak - final) * 0.5 * (1 + np.cos(np.pi * s))

    return _warmed(f"cosine_{steps}", peak, steps, warmup, body)


def wsd(
    peak: float, steps: int, *, decay: float = 0.2, final: float = 0.0, shape: str = "linear", warmup: int = 0
) -> Schedule:
    """Warmup-stable-decay: the peak rate, then a cooldown over the last ``decay`` steps (a
    fraction of ``steps`` when below 1) to ``final``, ``linear``, ``exp`` (geometric; needs
    ``final > 0``) or ``sqrt`` (the 1-sqrt cooldown of Hägele et al. 2024)."""
    if shape not in COOLDOWN_SHAPES:
        raise SpecError(f"wsd: shape must be one of {list(COOLDOWN_SHAPES)}, got {shape!r}")
    decay_steps = int(round(decay * steps)) if decay < 1 else int(decay)
    if not 1 <= decay_steps <= steps - warmup:
        raise SpecError(f"wsd: the cooldown must last 1 to {steps - warmup} steps, got {decay_steps}")
    if shape == "exp" and not final > 0:
        raise SpecError("wsd: an exponential cooldown needs final > 0 (e.g. final=0.01 * peak)")
    start = steps - decay_steps

    def body(t):
        s = np.clip((t - start) / decay_steps, 0.0, 1.0)
        if shape == "linear":
            return peak + (final - peak) * s
        if shape == "sqrt":
            return peak + (final - peak) * np.sqrt(s)
        return peak * (final / peak) ** s

    return _warmed(f"wsd_{shape}_{start}_{steps}", peak, steps, warmup, body)


def step_down(peak: float, steps: int, drops: dict, *, warmup: int = 0) -> Schedule:
    """The peak rate, then the rate ``drops[s]`` from step ``s`` on, for each ``s``."""
    drops = {int(s): float(v) for s, v in dict(drops).items()}
    if any(not 0 < s <= steps for s in drops):
        raise SpecError(f"step_down: every drop must be at a step in 1..{steps}, got {sorted(drops)}")

    def body(t):
        lr = np.full_like(t, peak)
        for s in sorted(drops):
            lr[t >= s] = drops[s]
        return lr

    return _warmed("step_down_" + "_".join(str(s) for s in sorted(drops)), peak, steps, warmup, body)


def from_array(lr, name: str = "array") -> Schedule:
    """A schedule from the rate at every step from 0 (``lr[t]`` for t = 0, 1, ...)."""
    return Schedule(name, np.asarray(lr, dtype=float))


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class _BlockFeatures:
    """What both feature layouts hold: ``area`` and ``s2`` per observation and the blocks'
    ``block_w``, ``block_lr``, ``block_gap`` (see :class:`CurveFeatures`)."""

    area: np.ndarray
    s2: np.ndarray
    block_w: np.ndarray
    block_lr: np.ndarray
    block_gap: np.ndarray

    def __len__(self) -> int:
        return self.area.size

    def as_tensors(self):
        """The same features with the five arrays as pytensor constants (for a model's graph)."""
        import pytensor.tensor as pt

        return replace(self, **{name: pt.as_tensor_variable(getattr(self, name)) for name in TENSOR_FIELDS})


#: The features that enter a model's graph as tensors (a sparse layout's block_row stays an index).
TENSOR_FIELDS = ("area", "s2", "block_w", "block_lr", "block_gap")


@dataclass(frozen=True)
class CurveFeatures(_BlockFeatures):
    """The curve laws' inputs at a set of observations (of one or several runs).

    ``area`` (n,): LR area at each observation, in area units; ``s2`` (n,): the annealing area
    (Tissue et al.), same units; blocks, ``(n, K)`` each (zero weight where a block lies after
    the observation or is padding): ``block_w`` decrement / peak rate, ``block_lr`` rate / peak
    rate, ``block_gap`` area since the block's start.
    """

    def take(self, index) -> CurveFeatures:
        return CurveFeatures(*(getattr(self, f)[index] for f in TENSOR_FIELDS))

    def sparse(self) -> SparseCurveFeatures:
        """The same features with the blocks kept only where their weight is non-zero, flat."""
        row, col = np.nonzero(self.block_w)
        return SparseCurveFeatures(
            self.area, self.s2, self.block_w[row, col], self.block_lr[row, col], self.block_gap[row, col], row
        )


@dataclass(frozen=True)
class SparseCurveFeatures(_BlockFeatures):
    """:class:`CurveFeatures` whose blocks are flat ``(m,)`` arrays of the non-zero (observation,
    block) pairs, ``block_row`` naming each one's observation: in a fit most pairs are zero (a
    block after the observation, padding, a run at a constant rate), and the loss drop's
    transcendental functions then run on about a third of the entries."""

    block_row: np.ndarray


def _blocks(lr: np.ndarray, cum: np.ndarray, steps: np.ndarray, blocks: int):
    """Per block: (decrement, rate, start area, last step), or empty arrays."""
    peak_at = int(np.argmax(lr))
    k = np.arange(peak_at + 1, lr.size)
    d = lr[k - 1] - lr[k]
    keep = d != 0
    k, d = k[keep], d[keep]
    if not k.size:
        return (np.zeros(0),) * 3 + (np.zeros(0, dtype=np.int64),)
    size = np.abs(d)
    budget = size.sum() / blocks
    chunk = np.minimum(np.floor((np.cumsum(size) - size) / budget), blocks - 1).astype(np.int64)
    segment = np.searchsorted(steps, k, side="left")
    key = chunk * (steps.size + 1) + segment
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    w = np.add.reduceat(d, starts)
    weight = np.add.reduceat(size, starts)
    rate = np.add.reduceat(size * lr[k], starts) / weight
    start_area = np.add.reduceat(size * cum[k - 1], starts) / weight
    last = k[np.r_[starts[1:], k.size] - 1]
    return w, rate, start_area, last


def curve_features(
    schedule: Schedule,
    steps,
    *,
    lr_unit: float,
    blocks: int = DEFAULT_BLOCKS,
    momentum: float = 0.999,
    area_ref: float = 1.0,
    lr_drop_ref: float = 1.0,
) -> CurveFeatures:
    """The features of one run observed at ``steps`` (see the module doc); ``lr_unit`` is the
    peak rate the areas and rates are measured in (the fit's, so that runs share units).
    ``area`` is then divided by ``area_ref`` and ``block_lr`` by ``lr_drop_ref`` (a fit's
    reference area and rate, :class:`bayes_scaling.laws.curves.CurveScale`)."""
    steps = schedule._check_steps(steps)
    lr = schedule.lr / lr_unit
    cum = np.concatenate([[0.0], np.cumsum(lr[1:])])
    w, rate, start_area, last = _blocks(lr, cum, np.unique(steps), blocks)
    before = last[None, :] <= steps[:, None]
    area = cum[steps]
    gap = np.where(before, area[:, None] - start_area[None, :], 1.0)
    # Tissue et al.'s momentum form: m_i = lambda m_{i-1} + (eta_{i-1} - eta_i), S2 = sum m.
    drop = np.concatenate([[0.0], lr[:-1] - lr[1:]])
    drop[: int(np.argmax(lr)) + 1] = 0.0
    m = _momentum(drop, momentum)
    s2 = np.cumsum(m)[steps]
    scale = 1.0 / AREA_STEPS
    return CurveFeatures(
        area=area * scale / area_ref,
        s2=s2 * scale,
        block_w=np.where(before, w[None, :], 0.0),
        block_lr=np.broadcast_to(np.maximum(rate, 1e-6) / lr_drop_ref, before.shape).copy(),
        block_gap=np.maximum(gap * scale, 1e-12),
    )


def _momentum(drop: np.ndarray, momentum: float) -> np.ndarray:
    """``m_i = momentum * m_{i-1} + drop_i`` as a linear filter (no Python loop)."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -momentum], drop)


def stack_features(parts: list[CurveFeatures]) -> CurveFeatures:
    """Features of several runs in one set of arrays (blocks padded with zero weight)."""
    width = max((p.block_w.shape[1] for p in parts), default=0)

    def pad(x, fill):
        return np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=fill)

    return CurveFeatures(
        area=np.concatenate([p.area for p in parts]),
        s2=np.concatenate([p.s2 for p in parts]),
        block_w=np.concatenate([pad(p.block_w, 0.0) for p in parts]),
        block_lr=np.concatenate([pad(p.block_lr, 1.0) for p in parts]),
        block_gap=np.concatenate([pad(p.block_gap, 1.0) for p in parts]),
    )
