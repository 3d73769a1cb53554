"""CS-Softmax (Zhang et al., 2022) as defined in docs/losses.md ("CS-Softmax: the definition"),
and Circle loss.

The paper's full equations are not public; this is the definition audiocs implements:

    a_p = (1 - lam) + lam * max(1 + m - s_p, 0),   z_y = s * a_p * (s_p - (1 - m))
    a_n = (1 - lam) + lam * max(s_n + m, 0),       z_j = s * a_n * (s_n - m)     (j != y)

with the weights a treated as constants in back-propagation. `cs_softmax_terms` is the one
place where the formula lives.
"""

from __future__ import annotations

import torch

from audiocs.losses.base import ClassificationLoss, check_range


def cs_softmax_terms(
    cos: torch.Tensor,
    labels: torch.Tensor,
    scale: float,
    margin: float,
    weight_update: float,
    weights_from: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CS-Softmax logits z and their gradient weights s*a (both B x C) from cosines (B x C).

    The weights a are computed from `weights_from` (default: `cos` itself); they are constants
    of back-propagation, so passing them a frozen copy makes the logits linear in `cos`.
    """
    s, m, lam = scale, margin, weight_update
    y = labels.view(-1, 1)
    src = cos if weights_from is None else weights_from
    # negatives everywhere: s*a_n = s*(1-lam) + s*lam*relu(c + m)
    #                             = s*lam*max(c, -m) + s*(lam*m + 1 - lam);   z = s*a_n * (c - m)
    weight = torch.clamp_min(src, -m).mul_(s * lam).add_(s * (lam * m + 1.0 - lam))
    z = torch.sub(cos, m).mul_(weight)
    # the target column: s*a_p = s*(1-lam) + s*lam*relu(1 + m - c_y);  z_y = s*a_p * (c_y - 1 + m)
    w_y = (1.0 + m - src.gather(1, y)).clamp_(min=0).mul_(s * lam).add_(s * (1.0 - lam))
    weight.scatter_(1, y, w_y)
    z.scatter_(1, y, (cos.gather(1, y) - (1.0 - m)).mul_(w_y))
    return z, weight


class CSSoftmaxLogits(torch.autograd.Function):
    """z = s*a*(c - D) with a constant: dz/dc = s*a, one element-wise product in backward.

    `apply(cos, labels, scale, margin, weight_update, weights_from=None)`.
    """

    @staticmethod
    def forward(ctx, cos, labels, scale, margin, weight_update, weights_from=None):  # type: ignore[override]
        source = None if weights_from is None else weights_from.detach()
        z, weight = cs_softmax_terms(cos.detach(), labels, scale, margin, weight_update, source)
        ctx.save_for_backward(weight)
        return z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_z):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        return grad_z * weight, None, None, None, None, None


class CSSoftmax(ClassificationLoss):
    """CS-Softmax on cosines (B x C): scale s, margin factor m in [0, 0.5], weight update lam in [0, 1]."""

    zero_margin = 0.5  # with lam = 0, m = 0.5 is normalized softmax: no decision margin
    margin_range = (0.0, 0.5)

    def __init__(self, scale: float = 30.0, margin: float = 0.25, weight_update: float = 0.5) -> None:
        super().__init__(scale, margin)
        self.weight_update = self.target_weight_update = check_range(
            "weight_update", weight_update, 0.0, 1.0)

    def ramp_margin(self, progress: float) -> None:
        """Move (m, lam) together from (0.5, 0), normalized softmax with no decision margin, to
        the target (m, lam). With lam > 0, m = 0.5 alone still has a margin: a_p > a_n wherever
        c < 0.5, so z_y < z_j at c_y = c_j (the logit gap at zero cosines is -s lam / 2)."""
        super().ramp_margin(progress)
        self.weight_update = check_range("progress", progress, 0.0, 1.0) * self.target_weight_update

    def logits(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return CSSoftmaxLogits.apply(scores, labels, self.scale, self.margin, self.weight_update)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_update={self.weight_update}"


class CircleClassLoss(CSSoftmax):
    """Class-level Circle loss (Sun et al., CVPR 2020): gamma = scale, relaxation = margin.

    It is CS-Softmax with weight_update = 1 (the spec's end point), so it shares its code.
    """

    def __init__(self, scale: float = 64.0, margin: float = 0.25) -> None:
        super().__init__(scale, margin, weight_update=1.0)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, margin={self.margin}"
