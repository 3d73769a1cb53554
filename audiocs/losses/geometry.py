"""Margin geometry: where each loss puts the decision boundary between a target class and one
other class, in the plane of (non-target cosine, target cosine).

`logit_gap` evaluates a loss's own training logits (`loss.logits`) on a grid of cosine pairs, so
the figure shows exactly what the implementation does: the boundary is the zero line of
z_target - z_other. Below it the training loss still pushes (the sample is inside the margin),
above it the sample is classified with margin. Where a loss has no such point (Circle and
CS-Softmax near a non-target cosine of 1), the line stops. Softmax (a linear head) is drawn as the
equal-norm case, where its logits are proportional to the cosines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from audiocs.losses import create_loss
from audiocs.losses.base import ClassificationLoss


def logit_gap(loss: ClassificationLoss, nontarget: np.ndarray, target: np.ndarray) -> np.ndarray:
    """z_target - z_other of `loss` (training logits, 2 classes) at cosine pairs of any shape."""
    y = torch.as_tensor(np.asarray(target, np.float64)).reshape(-1)
    x = torch.as_tensor(np.asarray(nontarget, np.float64)).reshape(-1)
    scores = torch.stack([y, x], dim=1)
    labels = torch.zeros(len(y), dtype=torch.long)
    was_training = loss.training
    loss.eval()  # no training-time state changes (A-Softmax's iteration counter)
    with torch.no_grad():
        z = loss.logits(scores, labels)
    loss.train(was_training)
    return (z[:, 0] - z[:, 1]).numpy().reshape(np.shape(target))


def boundary(loss: ClassificationLoss, nontarget: np.ndarray, steps: int = 4001) -> np.ndarray:
    """For each non-target cosine x, the smallest target cosine y in [-1, 1] with a
    non-negative logit gap (NaN where none is); the gap must be increasing in y."""
    x = np.asarray(nontarget, np.float64).reshape(-1)
    ys = np.linspace(-1.0, 1.0, steps)
    gap = logit_gap(loss, np.repeat(x, steps), np.tile(ys, len(x))).reshape(len(x), steps)
    ok = gap >= 0
    first = ok.argmax(axis=1)
    out = ys[first]
    out[~ok.any(axis=1)] = np.nan
    return out


def final_state(loss: ClassificationLoss) -> ClassificationLoss:
    """A-Softmax at the end of its lambda annealing (the others have no such state)."""
    if hasattr(loss, "iteration"):
        loss.iteration.fill_(10**9)
    return loss


def parse_loss_spec(spec: str) -> tuple[str, ClassificationLoss]:
    """`name` or `name:key=value,key=value` -> (label, loss at those parameters)."""
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{spec!r}: expected name:key=value,...")
        params[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
    return (name + (f" ({rest})" if rest else "")), final_state(create_loss(name, **params))


def plot_margins(losses: Sequence[tuple[str, ClassificationLoss]], path: str | Path,
                 title: str = "decision boundaries (target vs one other class)") -> Path:
    """One panel: each loss's boundary in the (non-target cosine, target cosine) plane."""
    from matplotlib.figure import Figure

    from audiocs.plots import save_figure

    fig = Figure(figsize=(6.2, 6))
    ax = fig.add_subplot()
    x = np.linspace(-1.0, 1.0, 401)
    ax.plot(x, x, color="0.6", lw=1, ls=":", label="cos target = cos other")
    styles = ("-", "--", "-.", (0, (1, 1)))  # lines that coincide stay visible
    for i, (label, loss) in enumerate(losses):
        ax.plot(x, boundary(loss, x, steps=2001), lw=2, ls=styles[i % len(styles)], label=label)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("cosine to the other class")
    ax.set_ylabel("cosine to the target class")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def plot_cosine_distributions(groups: Sequence[tuple[str, np.ndarray, np.ndarray]],
                              path: str | Path, title: str = "") -> Path:
    """One small panel per (label, target cosines, non-target cosines): the two histograms."""
    from matplotlib.figure import Figure

    from audiocs.plots import save_figure

    n = max(len(groups), 1)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    bins = np.linspace(-1, 1, 81)
    for i, (label, target, nontarget) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(nontarget, bins=bins, density=True, alpha=0.6, color="tab:red", label="non-target")
        ax.hist(target, bins=bins, density=True, alpha=0.6, color="tab:blue", label="target")
        ax.set_title(label, fontsize=9)
        ax.set_xlim(-1, 1)
        ax.set_yticks([])
        if i == 0:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
