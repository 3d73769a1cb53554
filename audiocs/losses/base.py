"""The base of every classification loss: one hook, `logits(scores, labels)`, and cross-entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FixedMarginError(RuntimeError):
    """Raised by `set_margin` on a loss whose margin cannot be changed."""


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return `value` as float, or raise ValueError naming `name` if it is outside [low, high]."""
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def check_scale(scale: float) -> float:
    """Return `scale` as float, or raise ValueError unless it is a finite positive number."""
    scale = float(scale)
    if not (scale > 0 and torch.isfinite(torch.tensor(scale))):
        raise ValueError(f"scale={scale} must be a finite number > 0")
    return scale


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """`x` in float32 when it is in a lower precision (float16/bfloat16); float64 stays."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class ClassificationLoss(nn.Module):
    """Cross-entropy over `logits(scores, labels)`; subclasses override only `logits`.

    `scores` are the classifier outputs (B x C): cosines for the margin losses, raw logits for
    `Softmax`. `forward` returns the batch-mean loss (a scalar) computed in float32.
    """

    #: margin value at which the loss has no margin (the start of a margin ramp)
    zero_margin: float = 0.0
    #: (low, high) accepted by `set_margin`; None when the margin cannot change
    margin_range: tuple[float, float] | None = None

    def __init__(self, scale: float = 1.0, margin: float = 0.0) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.margin = 0.0
        self.target_margin = 0.0
        if self.margin_range is not None:
            self.margin = self.target_margin = check_range("margin", margin, *self.margin_range)

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B x C) training logits from (B x C) scores and (B,) labels."""
        raise NotImplementedError

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Batch-mean cross-entropy of `logits(scores, labels)`; scalar."""
        with torch.autocast(device_type=scores.device.type, enabled=False):
            return F.cross_entropy(self.logits(at_least_float32(scores), labels), labels)

    def mixup(self, scores: torch.Tensor, labels_a: torch.Tensor, labels_b: torch.Tensor,
              lam: float) -> torch.Tensor:
        """Mixup loss ``lam * L(scores, a) + (1 - lam) * L(scores, b)`` as one training step: both
        terms see the loss's state (buffers, e.g. A-Softmax's annealing counter) as it was
        before the step, and the state advances once, as for an unmixed batch."""
        buffers = dict(self.named_buffers())
        before = {name: buf.detach().clone() for name, buf in buffers.items()}
        first = self(scores, labels_a)
        after = {name: buf.detach().clone() for name, buf in buffers.items()}
        with torch.no_grad():
            for name, buf in buffers.items():
                buf.copy_(before[name])
        second = self(scores, labels_b)
        with torch.no_grad():
            for name, buf in buffers.items():
                buf.copy_(after[name])
        return lam * first + (1.0 - lam) * second

    def set_margin(self, value: float) -> None:
        """Set the current margin (a margin scheduler calls this); raises if it cannot change."""
        if self.margin_range is None:
            raise FixedMarginError(f"{type(self).__name__} has no adjustable margin")
        self.margin = check_range("margin", value, *self.margin_range)

    def margin_at(self, progress: float) -> float:
        """The margin at ramp progress in [0, 1]: `zero_margin` at 0, `target_margin` at 1."""
        progress = check_range("progress", progress, 0.0, 1.0)
        return self.zero_margin + progress * (self.target_margin - self.zero_margin)

    def ramp_margin(self, progress: float) -> None:
        """`set_margin(margin_at(progress))`: what a margin scheduler calls once per step."""
        self.set_margin(self.margin_at(progress))

    def inference_logits(self, scores: torch.Tensor) -> torch.Tensor:
        """(B x C) label-free logits: `scale * cos` for cosine losses."""
        return self.scale * at_least_float32(scores)

    @torch.no_grad()
    def predict(self, scores: torch.Tensor) -> torch.Tensor:
        """(B,) predicted classes: argmax of the scores (cosines need no label)."""
        return scores.argmax(dim=1)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, margin={self.margin}"
