"""Thin ResNet with statistics pooling for speaker embeddings (r-vector, Zeinali et al., 2019)."""

from __future__ import annotations

import torch
from torch import nn

from audiocs.models.base import (EmbeddingLayer, EmbeddingModel, conv_bn_relu, mask_padding,
                                 masked_mean)
from audiocs.models.registry import register_model


def strided_lengths(lengths: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """Frames left after a padded 3x3 convolution of ``stride``: ceil(lengths / stride)."""
    return None if lengths is None else (lengths - 1) // stride + 1


class BasicBlock(nn.Module):
    """Residual block of two 3x3 convs: (B, Cin, F, T) -> (B, Cout, F/stride, T/stride)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = conv_bn_relu(in_channels, out_channels, stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Cin, F, T) with ``lengths`` (B,) real frames -> (B, Cout, F', T')."""
        x = mask_padding(x, lengths)
        out = self.conv1(x)
        out = self.bn2(self.conv2(mask_padding(out, strided_lengths(lengths, self.stride))))
        return torch.relu(out + self.shortcut(x))


def statistics_pooling(maps: torch.Tensor, lengths: torch.Tensor | None = None,
                       eps: float = 1e-5) -> torch.Tensor:
    """Mean and standard deviation over the real frames: (B, C, F, T) -> (B, 2 * C * F)."""
    frames = maps.flatten(1, 2)  # (B, C*F, T)
    mean = masked_mean(frames, lengths)
    var = masked_mean((frames - mean[:, :, None]) ** 2, lengths)
    return torch.cat([mean, var.clamp_min(eps).sqrt()], dim=1)


class ThinResNet(EmbeddingModel):
    """Thin ResNet: (B, T, F) -> (B, embed_dim).

    Four stages of ``blocks_per_stage`` basic blocks with ``width``, 2, 4, 8 x ``width``
    channels (stages 2-4 halve frequency and time), statistics pooling over time of the last
    map flattened over channels x frequency, then Linear + BatchNorm. Needs ``T >= 16`` frames
    (at least 2 frames reach the pooling).
    """

    def __init__(self, n_features: int, blocks_per_stage: tuple[int, ...], embed_dim: int = 256,
                 width: int = 32) -> None:
        super().__init__()
        self.n_features = n_features
        self.embed_dim = embed_dim
        self.min_frames = 16
        self.stem = conv_bn_relu(1, width)
        self.blocks = nn.ModuleList()
        in_channels, freq = width, n_features
        for i, num_blocks in enumerate(blocks_per_stage):
            out_channels, stride = width * 2 ** i, 1 if i == 0 else 2
            freq = (freq - 1) // stride + 1
            for j in range(num_blocks):
                self.blocks.append(BasicBlock(in_channels, out_channels, stride if j == 0 else 1))
                in_channels = out_channels
        self.embedding = EmbeddingLayer(2 * in_channels * freq, embed_dim)

    def _embed(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(B, T, F) -> (B, embed_dim)."""
        x = self.stem(mask_padding(x.transpose(1, 2).unsqueeze(1), lengths))  # (B, C, F, T)
        for block in self.blocks:
            x = block(x, lengths)
            lengths = strided_lengths(lengths, block.stride)
        return self.embedding(statistics_pooling(x, lengths))


@register_model
def resnet18_thin(n_features: int, embed_dim: int = 256, width: int = 32,
                  **kwargs: object) -> ThinResNet:
    """ResNet-18 layout (2-2-2-2 blocks), base width 32 (16 for a smaller model), 256-d embedding."""
    return ThinResNet(n_features, (2, 2, 2, 2), embed_dim, width, **kwargs)


@register_model
def resnet34_thin(n_features: int, embed_dim: int = 256, width: int = 32,
                  **kwargs: object) -> ThinResNet:
    """ResNet-34 layout (3-4-6-3 blocks), base width 32 (16 for a smaller model), 256-d embedding."""
    return ThinResNet(n_features, (3, 4, 6, 3), embed_dim, width, **kwargs)
