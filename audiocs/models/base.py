"""Parts shared by every backbone: the (B, T, F) input check and the embedding layer."""

from __future__ import annotations

import torch
from torch import nn


class EmbeddingModel(nn.Module):
    """Base of every backbone: ``forward_features(x (B, T, F)) -> (B, embed_dim)``; no classifier.

    Subclasses set ``n_features``, ``embed_dim`` and ``min_frames`` and implement ``_embed``.
    """

    n_features: int
    embed_dim: int
    min_frames: int

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is (B, T >= min_frames, n_features)."""
        if x.dim() != 3:
            raise ValueError(f"{type(self).__name__} expects (batch, frames, features), got shape "
                             f"{tuple(x.shape)}")
        if x.shape[2] != self.n_features:
            raise ValueError(f"{type(self).__name__} was built for {self.n_features} features per "
                             f"frame, got {x.shape[2]}")
        if x.shape[1] < self.min_frames:
            raise ValueError(f"{type(self).__name__} needs at least {self.min_frames} frames, got "
                             f"{x.shape[1]}")

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone proper: (B, T, F) -> (B, embed_dim); input already checked."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding of a batch of feature sequences: (B, T, F) -> (B, embed_dim)."""
        self.check_input(x)
        return self._embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as ``forward_features``: (B, T, F) -> (B, embed_dim)."""
        return self.forward_features(x)


class EmbeddingLayer(nn.Sequential):
    """Pooled features to the embedding: Linear then BatchNorm1d, (B, in_dim) -> (B, embed_dim)."""

    def __init__(self, in_dim: int, embed_dim: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, embed_dim),
                         nn.BatchNorm1d(embed_dim))


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias), BatchNorm2d, ReLU: (B, Cin, H, W) -> (B, Cout, H/stride, W/stride)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
