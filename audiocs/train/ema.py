"""Exponential moving average (EMA) of the network's weights (`train.ema_decay`).

After every optimizer step each floating-point entry `s` of the averaged state follows the live
one `w` as `s <- d * s + (1 - d) * w`, with `d = min(decay, 1 - 1 / n)` at the n-th update: for
the first 1 / (1 - decay) updates the plain mean of the weights after each step so far (the
random initial weights take no part), an exponential average over about 1 / (1 - decay) steps
from then on. Integer buffers (BatchNorm's batch counter) are copied. Validation, `best.pt` and
everything read from a checkpoint (embeddings, predictions, export) use the averaged weights;
the live weights travel in the checkpoint too, so that `--resume` continues the same run.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


def ema_decay(decay: float, updates: int) -> float:
    """The decay used at update number `updates` (1-based): `1 - 1 / n` (a running mean) until
    that reaches `decay`."""
    return min(decay, 1.0 - 1.0 / updates)


class WeightEMA:
    """The moving average of `module`'s state dict (parameters and buffers)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema_decay must be in (0, 1) to average, got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold the module's current weights into the average."""
        self.updates += 1
        d = ema_decay(self.decay, self.updates)
        for key, value in module.state_dict().items():
            avg = self.shadow[key]
            if avg.is_floating_point():
                avg.lerp_(value.detach(), 1.0 - d)
            else:
                avg.copy_(value)

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """`module` holds the averaged weights inside the block, its own ones again after."""
        live = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield module
        finally:
            module.load_state_dict(live)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any], shadow: dict[str, torch.Tensor]) -> None:
        """Restore the counter from `state` and the averaged weights from `shadow`."""
        self.updates = int(state["updates"])
        for key, value in shadow.items():
            self.shadow[key].copy_(value)
