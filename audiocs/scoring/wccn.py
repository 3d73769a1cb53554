"""Within-class covariance normalization (WCCN) of embeddings before cosine scoring.

As in Hatch, Kajarekar and Stolcke, "Within-class covariance normalization for SVM-based speaker
recognition" (Interspeech 2006), and the Kaldi x-vector back-ends that whiten before scoring: it is
fitted on labelled embeddings of other speakers (the training speakers' cohort). Their unit-length
rows are centred on their mean, and the within-class covariance W (the mean over rows of the outer
product of a row's deviation from its class mean) is shrunk towards the identity,
``W_a = (1 - a) W + a tr(W)/D I``. A vector x then maps to ``(x/|x| - mean) W_a^(-1/2)``, unit
length again: a cosine there gives less weight to the directions along which one speaker's
embeddings vary from recording to recording. ``a = 1`` only centres; ``a = 0`` is plain WCCN,
which needs more rows than dimensions to be stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.scoring.io import l2_normalize

SHRINK = 0.5  # the default shrinkage `a` (the speaker recipe's choice on its 3 s cohort segments)


@dataclass(frozen=True)
class Wccn:
    """A fitted normalization: the cohort mean (D,) and the symmetric transform W_a^(-1/2) (D, D)."""

    mean: np.ndarray
    transform: np.ndarray
    shrink: float

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Rows of `vectors` (N, D) normalized, centred, transformed and normalized again (float32)."""
        if np.shape(vectors)[1:] != self.mean.shape:
            raise AudiocsError(f"WCCN was fitted on dimension {self.mean.shape[0]}, the embeddings have "
                               f"{np.shape(vectors)[1:]}")
        return l2_normalize((l2_normalize(vectors) - self.mean) @ self.transform)


def within_class_covariance(vectors: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """Mean over rows (N, D) of the outer product of each row's deviation from its class mean (D, D)."""
    x = np.asarray(vectors, np.float64)
    _, group = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    sums = np.zeros((group.max() + 1, x.shape[1]))
    np.add.at(sums, group, x)
    dev = x - (sums / np.bincount(group)[:, None])[group]
    return dev.T @ dev / len(x)


def fit_wccn(vectors: np.ndarray, keys: Sequence[str], *, shrink: float | None = None,
             where: str = "<memory>") -> Wccn:
    """Fit WCCN on rows `vectors` (N, D) of classes `keys` (N,) with shrinkage `shrink` in [0, 1]
    (None: :data:`SHRINK`)."""
    shrink = SHRINK if shrink is None else shrink
    if not 0.0 <= shrink <= 1.0:
        raise AudiocsError(f"WCCN shrinkage must lie in [0, 1], got {shrink}")
    x = l2_normalize(vectors).astype(np.float64)
    counts = np.unique(np.asarray(keys, dtype=object), return_counts=True)[1]
    if len(x) != len(keys) or (counts >= 2).sum() < 2:
        raise AudiocsError(f"{where}: WCCN needs at least 2 classes with 2 or more rows each "
                           f"({len(counts)} classes, {(counts >= 2).sum()} with 2 or more rows)")
    within = within_class_covariance(x, keys)
    dim = within.shape[0]
    shrunk = (1.0 - shrink) * within + shrink * np.trace(within) / dim * np.eye(dim)
    values, vecs = np.linalg.eigh(shrunk)
    if values.min() <= 1e-10 * max(values.max(), 1e-30):
        raise AudiocsError(f"{where}: the within-class covariance of {len(x)} rows in {dim} dimensions is "
                           f"singular; use a shrinkage above {shrink}")
    transform = (vecs / np.sqrt(values)) @ vecs.T
    return Wccn(x.mean(axis=0).astype(np.float32), transform.astype(np.float32), float(shrink))
