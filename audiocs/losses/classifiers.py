"""Classifier heads: cosine similarities to class weights, or a plain linear layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocs.losses.base import at_least_float32

EPS = 1e-12


def _inverse_norms(v: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1) inverse row norms 1 / max(|v|, eps), and the (N, 1) mask of rows with |v| > eps."""
    norms = torch.linalg.vector_norm(v, dim=1, keepdim=True)
    return norms.clamp(min=eps).reciprocal(), norms > eps


class NormalizedLinear(torch.autograd.Function):
    """cos = (x / |x|) (W / |W|)^T with an analytic backward: two matmuls and (B + C) x D work.

    The projection terms use x_hat_i . (g W_hat)_i = sum_j g_ij cos_ij (and the same for W), so
    the backward never makes a B x C temporary besides the incoming gradient.
    `apply(x (B x D), weight (C x D), eps) -> (B x C)`.
    """

    @staticmethod
    def forward(ctx, x, weight, eps):  # type: ignore[override]
        rx, x_ok = _inverse_norms(x, eps)
        rw, w_ok = _inverse_norms(weight, eps)
        x_hat, w_hat = x * rx, weight * rw
        ctx.save_for_backward(x_hat, w_hat, rx, rw, x_ok, w_ok)
        return x_hat @ w_hat.T

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        x_hat, w_hat, rx, rw, x_ok, w_ok = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            g_xhat = grad @ w_hat
            radial = (g_xhat * x_hat).sum(1, keepdim=True) * x_ok  # rows below eps: no projection
            grad_x = g_xhat.addcmul_(x_hat, radial, value=-1.0).mul_(rx)
        if ctx.needs_input_grad[1]:
            g_what = grad.T @ x_hat
            radial = (g_what * w_hat).sum(1, keepdim=True) * w_ok
            grad_w = g_what.addcmul_(w_hat, radial, value=-1.0).mul_(rw)
        return grad_x, grad_w, None


class CosineClassifier(nn.Module):
    """(B x D) embeddings -> (B x C) cosines to the class weights W (C x D), in float32.

    Rows of W start as random unit vectors. The cosines do not depend on the row norms, but the
    optimizer does: Adam moves every element by about `lr` a step, so a row of norm r turns by
    about lr * sqrt(D) / r radians. With lr 1e-2 and D = 64 that is about 5 degrees for unit
    rows, and about 60 degrees with the small-normal init common for linear layers (std 0.01,
    r = 0.08): the class directions would be scrambled at every step (tested).
    """

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        if embed_dim < 1 or num_classes < 2:
            raise ValueError(f"need embed_dim >= 1 and num_classes >= 2, got {embed_dim}, {num_classes}")
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        with torch.no_grad():
            self.weight.copy_(F.normalize(torch.randn(num_classes, embed_dim), dim=1))

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=emb.device.type, enabled=False):
            x = at_least_float32(emb)
            return NormalizedLinear.apply(x, self.weight.to(x.dtype), EPS)


class LinearClassifier(nn.Linear):
    """(B x D) embeddings -> (B x C) logits `x W^T + b`, for the plain softmax baseline."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__(embed_dim, num_classes, bias=True)

    @property
    def num_classes(self) -> int:
        return self.out_features
