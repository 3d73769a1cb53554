"""Per-epoch geometry of the classifier: where the embeddings sit against the class weights.

For every loss (the softmax baseline included) the statistics use the cosine between each
embedding and each class weight vector, so the runs of different losses can be compared:

- ``cos_target``: mean cosine to the sample's own class weight;
- ``cos_nontarget``: mean cosine to the other classes' weights;
- ``cos_nontarget_max``: mean over samples of the largest cosine to another class;
- ``logit_gap``: mean of the target training logit minus the largest other training logit
  (the loss's own logits, margins included: > 0 means the sample is on the right side of the
  training decision boundary).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from audiocs.losses import ClassificationLoss

STAT_KEYS = ("cos_target", "cos_nontarget", "cos_nontarget_max", "logit_gap")


@torch.no_grad()
def cosine_sums(embeddings: torch.Tensor, weights: torch.Tensor, logits: torch.Tensor,
                labels: torch.Tensor) -> list[float]:
    """Batch sums of the `STAT_KEYS` statistics from (B, D) embeddings, (C, D) class weights,
    (B, C) training logits and (B,) labels; divide by the sample count for the means."""
    cos = F.normalize(embeddings.float(), dim=1) @ F.normalize(weights.float(), dim=1).T
    target = F.one_hot(labels, cos.shape[1]).bool()
    c_y = cos[target]
    others = cos.masked_fill(target, float("-inf"))
    nontarget_mean = cos.masked_fill(target, 0.0).sum(1) / (cos.shape[1] - 1)
    z = logits.float()
    gap = z[target] - z.masked_fill(target, float("-inf")).amax(1)
    return [float(c_y.sum()), float(nontarget_mean.sum()), float(others.amax(1).sum()),
            float(gap.sum())]


@torch.no_grad()
def training_logits(loss: ClassificationLoss, scores: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
    """The loss's training logits (B, C) without advancing its state (e.g. A-Softmax's counter)."""
    was_training = loss.training
    loss.eval()
    try:
        return loss.logits(scores.float(), labels)
    finally:
        loss.train(was_training)


def epoch_means(sums: list[float], count: float) -> dict[str, float]:
    """`STAT_KEYS` -> mean over `count` samples of the summed statistics."""
    return {key: value / max(count, 1.0) for key, value in zip(STAT_KEYS, sums)}
