"""Few-shot / open-set classification: enroll unseen classes from k examples each, classify the rest by cosine."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.scoring.io import l2_normalize


@dataclass(frozen=True)
class FewShotResult:
    """Top-1 accuracy (mean and std over episodes) of nearest-centroid classification."""

    accuracy: float
    accuracy_std: float
    shots: int
    episodes: int
    classes: int
    queries_per_episode: int

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def few_shot_accuracy(vectors: np.ndarray, labels: np.ndarray, *, shots: int = 1, episodes: int = 10,
                      seed: int = 0) -> FewShotResult:
    """Nearest-centroid top-1 accuracy over `episodes` seeded draws of `shots` enrollment rows per class.

    vectors (N, D), labels (N,); classes with <= shots rows are left out (they would have no query).
    """
    if shots < 1 or episodes < 1:
        raise AudiocsError(f"shots and episodes must be >= 1, got {shots} and {episodes}")
    _, y, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    keep = counts[y] > shots
    if len(np.unique(y[keep])) < 2:
        raise AudiocsError(f"few-shot needs >= 2 classes with more than {shots} embeddings each")
    x = l2_normalize(np.asarray(vectors)[keep])
    _, y = np.unique(y[keep], return_inverse=True)
    n_classes = int(y.max()) + 1
    rng = np.random.default_rng(seed)
    accs = []
    for _ in range(episodes):
        order = np.lexsort((rng.random(len(y)), y))  # rows grouped by class, random within class
        starts = np.searchsorted(y[order], np.arange(n_classes))
        rank = np.empty(len(y), np.int64)
        rank[order] = np.arange(len(y)) - starts[y[order]]
        support = rank < shots
        centroids = np.zeros((n_classes, x.shape[1]), np.float32)
        np.add.at(centroids, y[support], x[support])
        pred = np.argmax(x[~support] @ l2_normalize(centroids).T, axis=1)
        accs.append(float(np.mean(pred == y[~support])))
    return FewShotResult(float(np.mean(accs)), float(np.std(accs)), shots, episodes, n_classes,
                         int((~support).sum()))
