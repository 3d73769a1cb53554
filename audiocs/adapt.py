"""Unsupervised adaptation of BatchNorm statistics to the clips being evaluated (AdaBN).

Li, Wang, Shi, Liu and Hou, "Revisiting batch normalization for practical domain adaptation"
(ICLR workshop 2017): a network's BatchNorm layers keep the mean and variance of the training
data; a held-out speaker's (or domain's) activations have other statistics. `adapt_batchnorm`
resets every BatchNorm layer's running statistics and re-estimates them as the plain average
over the evaluated clips (no labels, no gradient, no other weight changes), each clip fed as in
training: its centre crop of `crop_frames`, repeated when shorter. It is transductive: it needs
the clips of one speaker or domain together, as Kaldi's per-speaker CMVN does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from audiocs.data import ClipDataset, collate_clips
from audiocs.errors import AudiocsError


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of `model` (1d, 2d, 3d and SyncBatchNorm), in module order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, cache, indices: np.ndarray, mean: np.ndarray, std: np.ndarray,  # noqa: ANN001
                    *, crop_frames: int | None, batch_size: int, device: torch.device) -> int:
    """Replace the running statistics of `model`'s BatchNorm layers by those of the clips
    `indices` of `cache` (normalized with mean/std); returns the number of clips. The model is
    left in eval mode."""
    layers = batchnorm_layers(model)
    if not layers:
        raise AudiocsError(f"{type(model).__name__} has no BatchNorm layers to adapt")
    if len(indices) < 2:
        raise AudiocsError(f"BatchNorm adaptation needs at least 2 clips, got {len(indices)}")
    data = ClipDataset(cache, indices, crop_frames=crop_frames, mean=mean, std=std)
    loader = DataLoader(data, batch_size=max(int(batch_size), 2), collate_fn=collate_clips)
    model.eval()
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    try:
        for batch in loader:
            x = batch["features"].to(device)
            lengths = batch["lengths"].to(device)
            model(x, lengths if int(lengths.min()) < x.shape[1] else None)
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum
        model.eval()
    return len(indices)
