"""Scheduled sampling: the fuser scale beta over the sampling steps (Li et al. 2023, sec. 4.4).

Grounding sets the layout during the first steps; later steps run the untouched base model,
which restores detail. All schedules are functions of (step index, number of steps), where a
model call's step index comes from its sigma's place in the run's sigma schedule, so any
sampler (multi-evaluation ones included) and any scheduler gets the same beta per step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import GligenInputError

EPS = 1e-9
# Largest beta value and strength: 1 is the fuser scale as trained, 0 the plain base model; the Schedule node's
# strength widget goes to 2, and a curve value is a beta before strength, so it gets the same range.
MAX_BETA = 2.0
MAX_CURVE_VALUES = 10_000  # one per step; ComfyUI's KSampler runs at most 10,000 steps


@dataclass(frozen=True)
class BetaSchedule:
    """beta(step) = strength * shape(step). Build with the class methods, not the constructor.

    kind "phases": the official `alpha_type = [on, decay, off]`: scale 1 for the first
    int(on * T) steps (at least one when on > 0), then a linear decay over int(decay * T) steps with values
    (n-1)/n, ..., 1/n, 0, then 0. A hard cut at tau (diffusers) is phases(tau, 0).
    kind "curve": `values` spread evenly over the steps (one value per step when len == T).
    """

    kind: str
    on_fraction: float = 1.0
    decay_fraction: float = 0.0
    values: tuple[float, ...] = ()
    strength: float = 1.0

    @classmethod
    def constant(cls, strength: float = 1.0) -> BetaSchedule:
        return cls.phases(1.0, 0.0, strength)

    @classmethod
    def hard_cut(cls, tau: float, strength: float = 1.0) -> BetaSchedule:
        return cls.phases(tau, 0.0, strength)

    @classmethod
    def phases(cls, on_fraction: float, decay_fraction: float, strength: float = 1.0) -> BetaSchedule:
        for label, value in (("grounding fraction", on_fraction), ("decay fraction", decay_fraction)):
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise GligenInputError(f"The schedule's {label} is {value}; it must be between 0 and 1.")
        if on_fraction + decay_fraction > 1.0 + EPS:
            raise GligenInputError(
                f"Grounding fraction {on_fraction} + decay fraction {decay_fraction} exceed 1: lower one of them.")
        return cls("phases", on_fraction, decay_fraction, (), _checked_strength(strength))

    @classmethod
    def curve(cls, values: Sequence[float], strength: float = 1.0) -> BetaSchedule:
        if len(values) > MAX_CURVE_VALUES:
            raise GligenInputError(f"The beta curve has {len(values):,} values; the limit is {MAX_CURVE_VALUES:,} "
                                   "(one per step): give fewer, they are spread evenly over the steps.")
        values = tuple(float(v) for v in values)
        if not values:
            raise GligenInputError("The beta curve is empty: give at least one value, e.g. '1, 1, 0.5, 0'.")
        bad = [v for v in values if not math.isfinite(v) or not 0.0 <= v <= MAX_BETA]
        if bad:
            raise GligenInputError(f"The beta curve has invalid values {bad[:3]}: use numbers from 0 to {MAX_BETA:g} "
                                   "(1 = as trained, 0 = no grounding).")
        return cls("curve", values=values, strength=_checked_strength(strength))

    def beta_at(self, step: int, total_steps: int) -> float:
        """beta for 0-based `step` of a run of `total_steps` steps."""
        total_steps = max(int(total_steps), 1)
        step = min(max(int(step), 0), total_steps - 1)
        if self.kind == "curve":
            return self.strength * self.values[min(step * len(self.values) // total_steps, len(self.values) - 1)]
        n_on = int(self.on_fraction * total_steps + EPS)
        if self.on_fraction > 0.0:
            n_on = max(n_on, 1)  # the official rounding gives short runs (e.g. 3 steps at 0.3) no grounding
        n_decay = int(self.decay_fraction * total_steps + EPS)
        if step < n_on:
            return self.strength
        if step < n_on + n_decay:
            return self.strength * (n_decay - 1 - (step - n_on)) / n_decay
        return 0.0

    @property
    def constant_value(self) -> float | None:
        """beta when it is the same on every step of every run (then no step needs locating), else None."""
        if self.kind == "curve":
            return self.strength * self.values[0] if len(set(self.values)) == 1 else None
        if self.on_fraction >= 1.0 - EPS:
            return self.strength
        if self.on_fraction == 0.0 and self.decay_fraction == 0.0:
            return 0.0
        return None

    def steps_with_grounding(self, total_steps: int) -> int:
        """How many of `total_steps` steps run the fusers at all."""
        return sum(self.beta_at(i, total_steps) != 0.0 for i in range(total_steps))


def _checked_strength(strength: float) -> float:
    if not math.isfinite(strength) or not 0.0 <= strength <= MAX_BETA:
        raise GligenInputError(f"Grounding strength {strength} is invalid: use a number from 0 to {MAX_BETA:g} "
                               "(1 = as trained).")
    return float(strength)


def step_of_sigma(sigma: float, sample_sigmas: Sequence[float]) -> int:
    """0-based step a model call at `sigma` belongs to, given the run's decreasing sigma schedule
    (T steps -> T + 1 sigmas). Calls between two schedule sigmas (Heun, DPM++ 2S...) belong to the
    step that started at the higher one; a call exactly at sigma_k belongs to step k."""
    descending = [-s for s in sample_sigmas]
    # index of the first schedule sigma <= sigma (with a small relative tolerance)
    k = bisect.bisect_left(descending, -sigma * (1 + 1e-6) - 1e-12)
    if k < len(sample_sigmas) and sample_sigmas[k] >= sigma * (1 - 1e-6) - 1e-12:
        return min(k, len(sample_sigmas) - 2) if len(sample_sigmas) > 1 else 0
    return max(k - 1, 0)
