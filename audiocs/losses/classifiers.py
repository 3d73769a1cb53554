"""Classifier heads: cosine similarities to class weights, or a plain linear layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocs.losses.base import at_least_float32

EPS = 1e-12


class CosineClassifier(nn.Module):
    """(B x D) embeddings -> (B x C) cosines to the class weights W (C x D), in float32."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        if embed_dim < 1 or num_classes < 2:
            raise ValueError(f"need embed_dim >= 1 and num_classes >= 2, got {embed_dim}, {num_classes}")
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.normal_(self.weight, std=0.01)

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=emb.device.type, enabled=False):
            x = F.normalize(at_least_float32(emb), dim=1, eps=EPS)
            w = F.normalize(at_least_float32(self.weight).to(x.dtype), dim=1, eps=EPS)
            return F.linear(x, w)


class LinearClassifier(nn.Linear):
    """(B x D) embeddings -> (B x C) logits `x W^T + b`, for the plain softmax baseline."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__(embed_dim, num_classes, bias=True)

    @property
    def num_classes(self) -> int:
        return self.out_features
