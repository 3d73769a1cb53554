"""A tiny embedding network trained on generated clusters with each loss: accuracy and geometry."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from audiocs.losses import LOSSES, create_classifier, create_loss


@dataclass(frozen=True)
class DemoResult:
    loss: str
    accuracy: float  # held-out accuracy
    min_weight_angle: float  # smallest angle between two class weight vectors, degrees
    mean_margin: float  # mean over training embeddings of the angular gap (degrees) between the
    # nearest other-class centroid and the own-class centroid


def make_clusters(
    num_classes: int, per_class: int, dim: int = 16, spread: float = 3.0, seed: int = 0, draw: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian clusters: points (N x dim) around `seed`'s random centres; `draw` picks the sample."""
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed * 1000 + draw + 1)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    points = centres[labels] + spread * torch.randn(len(labels), dim, generator=g) / dim**0.5
    return points, labels


def _geometry(classifier: nn.Module, emb: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    w = F.normalize(classifier.weight.detach(), dim=1)
    gram = (w @ w.T).fill_diagonal_(-1.0)
    min_angle = torch.rad2deg(torch.acos(gram.max().clamp(-1, 1))).item()
    emb = F.normalize(emb, dim=1)
    centroids = F.normalize(torch.zeros_like(w).index_add_(0, labels, emb), dim=1)
    angles = torch.rad2deg(torch.acos((emb @ centroids.T).clamp(-1, 1)))
    own = angles.gather(1, labels.view(-1, 1)).squeeze(1)
    other = angles.scatter(1, labels.view(-1, 1), 360.0).min(dim=1).values
    return min_angle, (other - own).mean().item()


def train_on_clusters(
    loss_name: str,
    num_classes: int = 8,
    steps: int = 300,
    seed: int = 0,
    embed_dim: int = 8,
    **loss_params: float,
) -> DemoResult:
    """Train a 2-layer MLP (16 -> 32 -> embed_dim) with `loss_name` on generated clusters."""
    torch.manual_seed(seed)
    x_train, y_train = make_clusters(num_classes, 40, seed=seed, draw=0)
    x_test, y_test = make_clusters(num_classes, 20, seed=seed, draw=1)
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, embed_dim))
    classifier = create_classifier(loss_name, embed_dim, num_classes)
    loss_fn = create_loss(loss_name, **loss_params)
    opt = torch.optim.Adam([*net.parameters(), *classifier.parameters()], lr=1e-2)
    for step in range(steps):
        if loss_fn.margin_range is not None:  # ramp the margin in over the first third
            loss_fn.ramp_margin(min(1.0, 3 * step / steps))
        opt.zero_grad()
        loss_fn(classifier(net(x_train)), y_train).backward()
        opt.step()
    net.eval()
    loss_fn.eval()
    with torch.no_grad():
        accuracy = (loss_fn.predict(classifier(net(x_test))) == y_test).float().mean().item()
        angle, margin = _geometry(classifier, net(x_train), y_train)
    return DemoResult(loss_name, accuracy, angle, margin)


def run_demo(
    losses: list[str] | None = None, num_classes: int = 8, steps: int = 300, seed: int = 0
) -> list[DemoResult]:
    """Print a table of held-out accuracy and weight/embedding geometry for each loss."""
    results = [train_on_clusters(name, num_classes, steps, seed) for name in (losses or list(LOSSES))]
    print(f"{'loss':<14}{'accuracy':>10}{'min angle(deg)':>16}{'mean margin':>13}")
    for r in results:
        print(f"{r.loss:<14}{r.accuracy:>10.3f}{r.min_weight_angle:>16.1f}{r.mean_margin:>13.3f}")
    return results
