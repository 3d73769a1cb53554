"""Schedules over training time t (fractional epochs): one hook, `_get_value(t)`, per schedule.

`Scheduler.step(t)` evaluates the hook and hands the value to `_apply`: the LR schedule writes
it into the optimizer's parameter groups, the margin schedule calls `loss.set_margin`. Both are
pure functions of t, so resuming only needs t (their `state_dict` records the last value).
"""

from __future__ import annotations

import bisect
import math

import torch

from audiocs.losses import ClassificationLoss


class Scheduler:
    """A value as a function of t (epochs, fractional); `step(t)` sets it and returns it."""

    def __init__(self) -> None:
        self.last_t = 0.0
        self.last_value = float("nan")

    def _get_value(self, t: float) -> float:
        """The scheduled value at time t (epochs)."""
        raise NotImplementedError

    def _apply(self, value: float) -> None:
        """Hand the value to what the schedule drives."""
        raise NotImplementedError

    def step(self, t: float) -> float:
        """Evaluate at t, apply, and remember; returns the value."""
        self.last_t, self.last_value = float(t), float(self._get_value(t))
        self._apply(self.last_value)
        return self.last_value

    def state_dict(self) -> dict[str, float]:
        return {"last_t": self.last_t, "last_value": self.last_value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore and re-apply the value at the stored t."""
        self.step(state["last_t"])


class LRSchedule(Scheduler):
    """Linear warm-up from `warmup_start * base_lr` to `base_lr` over `warmup_epochs`, then
    cosine decay to `min_lr` at `total_epochs`, step decay (x `gamma` at each of
    `step_epochs`), or constant ('none')."""

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, total_epochs: float, *,
                 warmup_epochs: float = 0.0, warmup_start: float = 0.0, decay: str = "cosine",
                 min_lr: float = 0.0, step_epochs: list[int] | None = None,
                 gamma: float = 0.1) -> None:
        super().__init__()
        if decay not in ("cosine", "step", "none"):
            raise ValueError(f"decay={decay!r}: expected cosine, step or none")
        self.optimizer = optimizer
        self.base_lr, self.total, self.min_lr = base_lr, float(total_epochs), min_lr
        self.warmup, self.warmup_start = float(warmup_epochs), warmup_start
        self.decay, self.gamma = decay, gamma
        self.step_epochs = sorted(step_epochs or [])

    def _get_value(self, t: float) -> float:
        if t < self.warmup:
            return self.base_lr * (self.warmup_start + (1 - self.warmup_start) * t / self.warmup)
        if self.decay == "cosine":
            span = max(self.total - self.warmup, 1e-12)
            progress = min(max((t - self.warmup) / span, 0.0), 1.0)
            return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))
        if self.decay == "step":
            return self.base_lr * self.gamma ** bisect.bisect_right(self.step_epochs, t)
        return self.base_lr

    def _apply(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = value


class MarginSchedule(Scheduler):
    """Ramp progress 0 until `start_epoch`, then linear to 1 over `ramp_epochs`; drives
    `loss.ramp_margin(progress)`, from the loss's no-margin point to its target (CS-Softmax
    moves its weight update factor with the margin, see `CSSoftmax.ramp_margin`)."""

    def __init__(self, loss: ClassificationLoss, *, start_epoch: float = 0.0,
                 ramp_epochs: float = 0.0) -> None:
        super().__init__()
        self.loss, self.start, self.ramp = loss, float(start_epoch), float(ramp_epochs)

    def _get_value(self, t: float) -> float:
        if t < self.start:
            return 0.0
        if self.ramp <= 0:
            return 1.0
        return min((t - self.start) / self.ramp, 1.0)

    def _apply(self, value: float) -> None:
        if self.loss.margin_range is not None:  # losses without a margin ignore the schedule
            self.loss.ramp_margin(value)
