"""Verification plots: DET curve on probit axes and target / non-target score histograms (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import ndtri

from audiocs.fileio import atomic_path
from audiocs.scoring.metrics import equal_error_rate, error_rates

_TICKS = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6])
_LIMITS = (0.0005, 0.7)


def _save(fig, path: str | Path) -> Path:  # noqa: ANN001  (matplotlib Figure)
    """Write a figure to PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return Path(path)


def _figure():  # noqa: ANN202
    """A figure not attached to pyplot's global state, and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_det(scores: np.ndarray, labels: np.ndarray, path: str | Path, title: str = "DET curve") -> Path:
    """DET curve (miss vs false-alarm probability, probit axes) with the EER point, saved to `path`."""
    r = error_rates(scores, labels)
    eer, _ = equal_error_rate(scores, labels)

    def probit(p: np.ndarray | float) -> np.ndarray:
        return ndtri(np.clip(p, 1e-6, 1 - 1e-6))

    fig, ax = _figure()
    ax.plot(probit(r.fpr), probit(r.fnr), lw=1.5, label="DET")
    lim = probit(np.array(_LIMITS))
    ax.plot(lim, lim, ls=":", c="gray", lw=0.8)
    ax.plot(probit(eer), probit(eer), "o", c="C3", label=f"EER {100 * eer:.2f}%")
    ticks = probit(_TICKS)
    labels_pct = [f"{100 * t:g}" for t in _TICKS]
    ax.set_xticks(ticks, labels_pct)
    ax.set_yticks(ticks, labels_pct)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_xlabel("false-alarm probability (%)")
    ax.set_ylabel("miss probability (%)")
    ax.set_title(title)
    ax.grid(True, lw=0.4)
    ax.legend(loc="upper right")
    return _save(fig, path)


def plot_score_histograms(scores: np.ndarray, labels: np.ndarray, path: str | Path,
                          threshold: float | None = None, bins: int = 60) -> Path:
    """Target and non-target score histograms (densities on shared bins), with an optional threshold line."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels).astype(bool)
    edges = np.histogram_bin_edges(s, bins=bins)
    fig, ax = _figure()
    ax.hist(s[~y], bins=edges, density=True, alpha=0.55, label=f"non-target ({int((~y).sum())})")
    ax.hist(s[y], bins=edges, density=True, alpha=0.55, label=f"target ({int(y.sum())})")
    if threshold is not None:
        ax.axvline(threshold, c="k", ls="--", lw=1, label=f"EER threshold {threshold:.3f}")
    ax.set_xlabel("score")
    ax.set_ylabel("density")
    ax.legend()
    return _save(fig, path)
