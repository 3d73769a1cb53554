"""Figures of a trained model: the confusion matrix with class names and the training curves
(loss, accuracy and, when logged, the cosine statistics of `audiocs.train.stats`).

Every figure is written atomically as PNG with matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from audiocs.fileio import atomic_path


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write `fig` as PNG to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: str | Path,
                   title: str = "confusion matrix") -> Path:
    """Row-normalized (C, C) confusion matrix (rows: true class) with counts in each cell."""
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=8)
    ax.set_yticks(ticks, labels=list(class_names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(class_names) <= 30:
        for i, j in zip(*np.nonzero(counts)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    return save_figure(fig, path)


def plot_training_curves(history: Sequence[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch from metrics.jsonl records; when the records hold the
    cosine statistics (`audiocs.train.stats`), also the target / non-target cosines and the
    training logit gap."""
    epochs = [r["epoch"] for r in history]
    panels = [(("train_loss", "valid_loss"), "loss"), (("train_acc", "valid_acc"), "accuracy")]
    if any("cos_target" in r for r in history):
        panels += [(("cos_target", "cos_nontarget", "cos_nontarget_max"), "cosine"),
                   (("logit_gap",), "target logit - largest other logit")]
    rows = len(panels) // 2
    fig = Figure(figsize=(10, 4 * rows))
    for i, (keys, label) in enumerate(panels):
        ax = fig.add_subplot(rows, 2, i + 1)
        for key in keys:
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                name = key.split("_")[0] if label in ("loss", "accuracy") else key
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o",
                        markersize=3, label=name)
        if label.startswith("target logit"):
            ax.axhline(0.0, color="gray", linewidth=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("training curves")
    return save_figure(fig, path)
