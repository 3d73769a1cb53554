"""VGG-style CNN for log-mel classification (conv blocks of PANNs' CNN10/14, Kong et al., 2020)."""

from __future__ import annotations

import torch
from torch import nn

from audiocs.models.base import (EmbeddingLayer, EmbeddingModel, conv_bn_relu, mask_padding,
                                 masked_max, masked_mean)
from audiocs.models.registry import register_model


class VGGBlock(nn.Module):
    """Two conv3x3-BN-ReLU then 2x2 average pooling: (B, Cin, F, T) -> (B, Cout, F/2, T/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels)
        self.conv2 = conv_bn_relu(out_channels, out_channels)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Cin, F, T) with ``lengths`` (B,) real frames -> (B, Cout, F // 2, T // 2)."""
        x = self.conv1(mask_padding(x, lengths))
        return self.pool(self.conv2(mask_padding(x, lengths)))


class VGGNet(EmbeddingModel):
    """VGG-style backbone: (B, T, F) -> (B, embed_dim).

    ``num_blocks`` blocks of ``width * 2**i`` channels each halve frequency and time; the last
    map is averaged over frequency, then mean + max over time (PANNs pooling) and
    Dropout + Linear + BatchNorm give the embedding. Needs ``T >= 2**num_blocks`` frames
    (16 by default) and ``n_features >= 2**num_blocks``.
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
        self.blocks = nn.ModuleList(VGGBlock(cin, cout)
                                    for cin, cout in zip(channels[:-1], channels[1:]))
        self.embedding = EmbeddingLayer(channels[-1], embed_dim, dropout)

    def _embed(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(B, T, F) -> (B, embed_dim)."""
        x = x.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        for block in self.blocks:
            x = block(x, lengths)
            lengths = None if lengths is None else lengths // 2
        maps = x.mean(dim=2)  # (B, C, T')
        return self.embedding(masked_mean(maps, lengths) + masked_max(maps, lengths))


@register_model
def vgg_small(n_features: int, embed_dim: int = 128, width: int = 16, **kwargs: object) -> VGGNet:
    """VGG with channels 16-32-64-128 and a 128-d embedding: trains in minutes on 2 CPU cores."""
    return VGGNet(n_features, embed_dim, width, **kwargs)


@register_model
def vgg_large(n_features: int, embed_dim: int = 512, width: int = 64, **kwargs: object) -> VGGNet:
    """VGG with channels 64-128-256-512 and a 512-d embedding, for a GPU."""
    return VGGNet(n_features, embed_dim, width, **kwargs)
