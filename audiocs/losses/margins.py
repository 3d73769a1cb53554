"""Baselines: softmax, normalized softmax, AM-Softmax (CosFace), AAM-Softmax (ArcFace), A-Softmax."""

from __future__ import annotations

import math

import torch

from audiocs.losses.base import ClassificationLoss, at_least_float32, check_range


class Softmax(ClassificationLoss):
    """Plain cross-entropy on the raw logits (B x C) of a `LinearClassifier`."""

    def __init__(self) -> None:
        super().__init__(scale=1.0)

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return scores

    def inference_logits(self, scores: torch.Tensor) -> torch.Tensor:
        return at_least_float32(scores)

    def extra_repr(self) -> str:
        return ""


class NormSoftmax(ClassificationLoss):
    """Normalized softmax (NormFace): logits `s * cos` (B x C)."""

    def __init__(self, scale: float = 30.0) -> None:
        super().__init__(scale)

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return scores * self.scale


def _target_shift(scores: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`scores` with the target column replaced by `target` (B,), out of place, no one-hot."""
    return scores.scatter(1, labels.view(-1, 1), target.view(-1, 1))


class AMSoftmax(ClassificationLoss):
    """AM-Softmax / CosFace (Wang et al., 2018): z_y = s (cos_y - M), z_j = s cos_j."""

    margin_range = (0.0, 1.0)

    def __init__(self, scale: float = 30.0, margin: float = 0.2) -> None:
        super().__init__(scale, margin)

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c_y = scores.gather(1, labels.view(-1, 1))
        return _target_shift(scores, labels, c_y - self.margin) * self.scale


class AAMSoftmax(ClassificationLoss):
    """AAM-Softmax / ArcFace (Deng et al., 2019): z_y = s cos(theta_y + m) while theta_y + m <= pi.

    Beyond that point cos(theta + m) would rise again; there the logit continues as the
    monotonic `cos_y - m sin(m)` (the usual ArcFace handling).
    """

    margin_range = (0.0, math.pi / 2)

    def __init__(self, scale: float = 30.0, margin: float = 0.2) -> None:
        super().__init__(scale, margin)

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        m = self.margin
        c_y = scores.gather(1, labels.view(-1, 1)).clamp(-1.0, 1.0)
        sin_y = (1.0 - c_y * c_y).clamp(min=1e-12).sqrt()
        arc = c_y * math.cos(m) - sin_y * math.sin(m)  # cos(theta + m)
        fallback = c_y - m * math.sin(m)
        target = torch.where(c_y > math.cos(math.pi - m), arc, fallback)
        return _target_shift(scores, labels, target) * self.scale


class ASoftmax(ClassificationLoss):
    """A-Softmax / SphereFace (Liu et al., 2017) on normalized features, integer margin m.

    psi(theta) = (-1)^k cos(m theta) - 2k for theta in [k pi/m, (k+1) pi/m]; the target logit is
    s * (lam cos_y + psi) / (1 + lam) with lam annealed from `lambda_base` down to `lambda_min`
    as lam = max(lambda_min, lambda_base / (1 + gamma * iteration)), one iteration per training
    forward. The margin is an integer and cannot be ramped (the lambda annealing does that).
    """

    def __init__(
        self,
        scale: float = 30.0,
        margin: int = 4,
        lambda_base: float = 1000.0,
        lambda_min: float = 5.0,
        gamma: float = 0.12,
    ) -> None:
        super().__init__(scale)
        if int(margin) != margin or not 1 <= margin <= 8:
            raise ValueError(f"margin={margin} must be an integer in [1, 8] for A-Softmax")
        self.margin = self.target_margin = int(margin)
        self.lambda_base = check_range("lambda_base", lambda_base, 0.0, math.inf)
        self.lambda_min = check_range("lambda_min", lambda_min, 0.0, self.lambda_base)
        self.gamma = check_range("gamma", gamma, 0.0, math.inf)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def current_lambda(self) -> float:
        return max(self.lambda_min, self.lambda_base / (1.0 + self.gamma * int(self.iteration)))

    def psi(self, cos: torch.Tensor) -> torch.Tensor:
        """SphereFace's monotonic psi(theta) from cos(theta), element-wise."""
        m = self.margin
        cos = cos.clamp(-1.0, 1.0)
        theta = torch.acos(cos.detach())
        k = torch.floor(m * theta / math.pi)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
        # cos(m theta) as the Chebyshev polynomial T_m(cos): smooth where acos is not
        t_prev, t_cur = torch.ones_like(cos), cos
        for _ in range(m - 1):
            t_prev, t_cur = t_cur, 2.0 * cos * t_cur - t_prev
        return sign * t_cur - 2.0 * k

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        lam = self.current_lambda
        if self.training:
            self.iteration += 1
        c_y = scores.gather(1, labels.view(-1, 1))
        target = (lam * c_y + self.psi(c_y)) / (1.0 + lam)
        return _target_shift(scores, labels, target) * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}, margin={self.margin}, lambda={self.current_lambda:.3g}"
