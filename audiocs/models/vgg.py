"""VGG-style CNN for log-mel classification (conv blocks of PANNs' CNN10/14, Kong et al., 2020)."""

from __future__ import annotations

import torch
from torch import nn

from audiocs.models.base import EmbeddingLayer, EmbeddingModel, conv_bn_relu
from audiocs.models.registry import register_model


class VGGBlock(nn.Sequential):
    """Two conv3x3-BN-ReLU then 2x2 average pooling: (B, Cin, T, F) -> (B, Cout, T/2, F/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(conv_bn_relu(in_channels, out_channels),
                         conv_bn_relu(out_channels, out_channels),
                         nn.AvgPool2d(2))


class VGGNet(EmbeddingModel):
    """VGG-style backbone: (B, T, F) -> (B, embed_dim).

    ``num_blocks`` blocks of ``width * 2**i`` channels each halve time and frequency; the last
    map is averaged over frequency, then mean + max over time (PANNs pooling) and a
    Linear + BatchNorm layer give the embedding. Needs ``T >= 2**num_blocks`` frames and
    ``n_features >= 2**num_blocks``. Padded frames (from batching) are treated as signal.
    """

    def __init__(self, n_features: int, embed_dim: int = 128, width: int = 16,
                 num_blocks: int = 4, dropout: float = 0.2) -> None:
        super().__init__()
        self.min_frames = 2 ** num_blocks
        if n_features < self.min_frames:
            raise ValueError(f"VGGNet with {num_blocks} blocks needs n_features >= "
                             f"{self.min_frames}, got {n_features}")
        self.n_features = n_features
        self.embed_dim = embed_dim
        channels = [1] + [width * 2 ** i for i in range(num_blocks)]
        self.blocks = nn.Sequential(*(VGGBlock(cin, cout)
                                      for cin, cout in zip(channels[:-1], channels[1:])))
        self.embedding = EmbeddingLayer(channels[-1], embed_dim, dropout)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, embed_dim)."""
        maps = self.blocks(x.unsqueeze(1)).mean(dim=3)  # (B, C, T')
        pooled = maps.mean(dim=2) + maps.amax(dim=2)
        return self.embedding(pooled)


@register_model
def vgg_small(n_features: int, embed_dim: int = 128, width: int = 16, **kwargs: object) -> VGGNet:
    """VGG with channels 16-32-64-128 and a 128-d embedding: trains in minutes on 2 CPU cores."""
    return VGGNet(n_features, embed_dim, width, **kwargs)


@register_model
def vgg_large(n_features: int, embed_dim: int = 512, width: int = 64, **kwargs: object) -> VGGNet:
    """VGG with channels 64-128-256-512 and a 512-d embedding, for a GPU."""
    return VGGNet(n_features, embed_dim, width, **kwargs)
