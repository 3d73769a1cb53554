"""Parts shared by every backbone: input checks, the embedding layer, padding-aware pooling.

Batches of clips of different lengths are zero-padded at the end (``audiocs.data.collate_clips``).
Given ``lengths``, a backbone zeroes the padded frames before every convolution and pools over
the real frames only, so a clip's embedding does not depend on what it is batched with.
"""

from __future__ import annotations

import torch
from torch import nn


class EmbeddingModel(nn.Module):
    """Base of every backbone: ``forward_features(x (B, T, F), lengths=None) -> (B, embed_dim)``.

    Subclasses set ``n_features``, ``embed_dim`` and ``min_frames`` and implement ``_embed``.
    Models hold no classifier: the one from ``audiocs.losses`` goes on top in training.
    """

    n_features: int
    embed_dim: int
    min_frames: int

    def check_input(self, x: torch.Tensor, lengths: torch.Tensor | None) -> None:
        """Raise ValueError unless ``x`` is (B, T, n_features) with every clip >= min_frames."""
        name = type(self).__name__
        if x.dim() != 3:
            raise ValueError(f"{name} expects (batch, frames, features), got shape {tuple(x.shape)}")
        if x.shape[2] != self.n_features:
            raise ValueError(f"{name} was built for {self.n_features} features per frame, got "
                             f"{x.shape[2]}")
        shortest = x.shape[1] if lengths is None else int(lengths.min())
        if shortest < self.min_frames:
            raise ValueError(f"{name} needs at least {self.min_frames} frames, got {shortest}")
        if lengths is not None and (lengths.shape != (x.shape[0],) or int(lengths.max()) > x.shape[1]):
            raise ValueError(f"{name}: lengths must be (batch,) = ({x.shape[0]},) and at most "
                             f"{x.shape[1]} frames, got shape {tuple(lengths.shape)}, max "
                             f"{int(lengths.max())}")

    def _embed(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """The backbone proper: (B, T, F) -> (B, embed_dim); input already checked."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """Embeddings (B, embed_dim) of (B, T, F) features; ``lengths`` (B,) marks zero padding."""
        self.check_input(x, lengths)
        return self._embed(x, None if lengths is None else lengths.to(x.device))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Same as ``forward_features``: (B, T, F) -> (B, embed_dim)."""
        return self.forward_features(x, lengths)


class EmbeddingLayer(nn.Sequential):
    """Pooled features to the embedding: Dropout, Linear, BatchNorm1d; (B, in_dim) -> (B, embed_dim)."""

    def __init__(self, in_dim: int, embed_dim: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, embed_dim),
                         nn.BatchNorm1d(embed_dim))


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias), BatchNorm2d, ReLU: (B, Cin, F, T) -> (B, Cout, F/s, T/s)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def time_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, frames) bool, True on the first ``lengths[b]`` frames of row b."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def mask_padding(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero the frames of (B, ..., T) ``x`` at or past ``lengths`` (B,); ``x`` itself when None."""
    if lengths is None:
        return x
    mask = time_mask(lengths, x.shape[-1]).to(x.dtype)
    return x * mask.view(x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1])


def masked_mean(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean over the real frames: (B, C, T) -> (B, C)."""
    if lengths is None:
        return x.mean(dim=2)
    return mask_padding(x, lengths).sum(dim=2) / lengths[:, None].to(x.dtype)


def masked_max(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Maximum over the real frames: (B, C, T) -> (B, C)."""
    if lengths is None:
        return x.amax(dim=2)
    return x.masked_fill(~time_mask(lengths, x.shape[2])[:, None, :], float("-inf")).amax(dim=2)
