"""ECAPA-TDNN speaker embeddings (Desplanques et al., "ECAPA-TDNN: Emphasized Channel Attention,
Propagation and Aggregation in TDNN Based Speaker Verification", Interspeech 2020).

A 1-D convolutional stem, three SE-Res2Net blocks (dilations 2, 3, 4) whose inputs are the sums of
all earlier outputs, multi-layer feature aggregation (the blocks' outputs concatenated, 1x1 conv to
3 x ``channels``), attentive statistics pooling with global context, then BN, Linear and BN. Every
layer keeps the number of frames; with ``lengths`` every convolution sees zeros past the real
frames and every mean and softmax over time covers the real frames only.
"""

from __future__ import annotations

import torch
from torch import nn

from audiocs.models.base import EmbeddingLayer, EmbeddingModel, mask_padding, masked_mean, time_mask
from audiocs.models.registry import register_model


def masked_stats(x: torch.Tensor, lengths: torch.Tensor | None,
                 eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over the real frames: (B, C, T) -> (B, C), (B, C)."""
    mean = masked_mean(x, lengths)
    var = masked_mean((x - mean[:, :, None]) ** 2, lengths)
    return mean, var.clamp_min(eps).sqrt()


class ConvReluBn(nn.Module):
    """Conv1d (padding keeps T), ReLU, BatchNorm1d: (B, Cin, T) -> (B, Cout, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.bn = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Cin, T), padding past ``lengths`` (B,) zeroed first -> (B, Cout, T)."""
        return self.bn(torch.relu(self.conv(mask_padding(x, lengths))))


class SqueezeExcitation(nn.Module):
    """Squeeze-excitation gates from the mean over the real frames: (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, bottleneck: int) -> None:
        super().__init__()
        self.squeeze = nn.Linear(channels, bottleneck)
        self.excite = nn.Linear(bottleneck, channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T) scaled per channel."""
        gates = torch.sigmoid(self.excite(torch.relu(self.squeeze(masked_mean(x, lengths)))))
        return x * gates[:, :, None]


class SERes2NetBlock(nn.Module):
    """1x1 conv, Res2Net dilated convs, 1x1 conv, SE, residual: (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, dilation: int, scale: int = 8, se_channels: int = 128,
                 kernel_size: int = 3) -> None:
        super().__init__()
        if channels % scale:
            raise ValueError(f"ECAPA-TDNN channels ({channels}) must be a multiple of "
                             f"scale ({scale})")
        width = channels // scale
        self.scale = scale
        self.conv_in = ConvReluBn(channels, channels)
        self.res2 = nn.ModuleList(ConvReluBn(width, width, kernel_size, dilation)
                                  for _ in range(scale - 1))
        self.conv_out = ConvReluBn(channels, channels)
        self.se = SqueezeExcitation(channels, se_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T); split i > 0 plus conv i-1's output goes through conv i."""
        splits = torch.chunk(self.conv_in(x, lengths), self.scale, dim=1)
        outs, y = [splits[0]], None
        for part, conv in zip(splits[1:], self.res2):
            y = conv(part if y is None else part + y, lengths)
            outs.append(y)
        out = self.conv_out(torch.cat(outs, dim=1), lengths)
        return self.se(out, lengths) + x


class AttentiveStatsPool(nn.Module):
    """Channel-wise attentive mean and std with global context: (B, C, T) -> (B, 2C)."""

    def __init__(self, channels: int, attention_channels: int = 128, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.hidden = ConvReluBn(3 * channels, attention_channels)
        self.score = nn.Conv1d(attention_channels, channels, 1, bias=False)  # softmax: no bias

    def attention(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Weights (B, C, T), >= float32: sum 1 over each channel's real frames, 0 on padding."""
        mean, std = masked_stats(x, lengths, self.eps)  # global context: every frame sees the clip
        context = torch.cat([x, mean[:, :, None].expand_as(x), std[:, :, None].expand_as(x)], dim=1)
        scores = self.score(mask_padding(torch.tanh(self.hidden(context, lengths)), lengths))
        if lengths is not None:
            scores = scores.masked_fill(~time_mask(lengths, x.shape[2])[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=2, dtype=torch.promote_types(scores.dtype, torch.float32))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, 2C): attentive mean and standard deviation."""
        weights = self.attention(x, lengths)
        mean = (weights * x).sum(dim=2)
        var = (weights * (x - mean[:, :, None]) ** 2).sum(dim=2)
        return torch.cat([mean, var.clamp_min(self.eps).sqrt()], dim=1)


class ECAPATDNN(EmbeddingModel):
    """ECAPA-TDNN: (B, T, F) -> (B, embed_dim); ``channels`` C (512 in the paper), 3C aggregated.

    Needs ``T >= 2`` frames (a standard deviation over time); ``channels`` must be a multiple of
    ``scale``.
    """

    def __init__(self, n_features: int, embed_dim: int = 192, channels: int = 512, scale: int = 8,
                 se_channels: int = 128, attention_channels: int = 128,
                 dilations: tuple[int, ...] = (2, 3, 4)) -> None:
        super().__init__()
        self.n_features = n_features
        self.embed_dim = embed_dim
        self.min_frames = 2
        self.stem = ConvReluBn(n_features, channels, kernel_size=5)
        self.blocks = nn.ModuleList(SERes2NetBlock(channels, d, scale, se_channels)
                                    for d in dilations)
        aggregated = len(dilations) * channels
        self.aggregate = ConvReluBn(aggregated, aggregated)
        self.pool = AttentiveStatsPool(aggregated, attention_channels)
        self.pool_bn = nn.BatchNorm1d(2 * aggregated)
        self.embedding = EmbeddingLayer(2 * aggregated, embed_dim)

    def _embed(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(B, T, F) -> (B, embed_dim)."""
        x = self.stem(x.transpose(1, 2), lengths)  # (B, C, T)
        outs: list[torch.Tensor] = []
        for block in self.blocks:  # input: the sum of the stem's and all earlier blocks' outputs
            outs.append(block(x, lengths))
            x = x + outs[-1]
        maps = self.aggregate(torch.cat(outs, dim=1), lengths)  # (B, 3C, T)
        return self.embedding(self.pool_bn(self.pool(maps, lengths)))


@register_model
def ecapa_tdnn(n_features: int, embed_dim: int = 192, channels: int = 512,
               **kwargs: object) -> ECAPATDNN:
    """The paper's ECAPA-TDNN (C = 512, 1536 aggregated channels), 192-d embedding."""
    return ECAPATDNN(n_features, embed_dim, channels, **kwargs)


@register_model
def ecapa_tdnn_small(n_features: int, embed_dim: int = 192, channels: int = 256,
                     **kwargs: object) -> ECAPATDNN:
    """ECAPA-TDNN with C = 256 (768 aggregated channels) for CPU training, 192-d embedding."""
    return ECAPATDNN(n_features, embed_dim, channels, **kwargs)
