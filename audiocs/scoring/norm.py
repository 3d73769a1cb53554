"""Score normalization against a cohort: S-norm and adaptive S-norm (AS-norm, top-k cohort).

AS-norm as in Matejka et al., "Analysis of score normalization in multilingual speaker
recognition" (Interspeech 2017): each side of a trial is normalized by the mean and standard
deviation of its scores against its own top-k most similar cohort embeddings; S-norm uses
the whole cohort. The normalized score is the average of the two sides. A cohort member is one
embedding, or one speaker (the mean of the unit-length embeddings of that speaker's segments,
:func:`class_means`), as in WeSpeaker's score normalization.
"""

from __future__ import annotations

import numpy as np
import torch

from audiocs.scoring.io import l2_normalize


def class_means(vectors: np.ndarray, keys: list[str]) -> np.ndarray:
    """The mean (C, D) of the unit-length rows of `vectors` (N, D) of each key, in sorted key order."""
    names, index = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    sums = np.zeros((len(names), vectors.shape[1]), np.float64)
    np.add.at(sums, index, l2_normalize(vectors).astype(np.float64))
    return (sums / np.bincount(index, minlength=len(names))[:, None]).astype(np.float32)


def cohort_stats(vectors: np.ndarray, cohort: np.ndarray, top_k: int | None = None,
                 chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (N,) of each row's cosines against `cohort` (C, D): its top_k largest, or all when None."""
    x = torch.from_numpy(l2_normalize(vectors))
    c = torch.from_numpy(l2_normalize(cohort)).T.contiguous()
    k = c.shape[1] if top_k is None else min(int(top_k), c.shape[1])
    mean = np.empty(len(x), np.float32)
    std = np.empty(len(x), np.float32)
    for s in range(0, len(x), chunk):
        scores = x[s:s + chunk] @ c
        if k < c.shape[1]:
            scores = torch.topk(scores, k, dim=1, sorted=False).values
        mean[s:s + chunk] = scores.mean(dim=1).numpy()
        std[s:s + chunk] = scores.std(dim=1, correction=0).numpy()
    return mean, std


def snorm_scores(scores: np.ndarray, vectors: np.ndarray, enroll: np.ndarray, test: np.ndarray,
                 cohort: np.ndarray, top_k: int | None = None, eps: float = 1e-6) -> np.ndarray:
    """S-norm (top_k=None) or AS-norm (top_k=k) of raw `scores` (K,) of row pairs (enroll, test) of `vectors` (N, D).

    Cohort statistics are computed once per unique row used by the trials.
    """
    used = np.flatnonzero(np.bincount(np.concatenate([enroll, test]), minlength=len(vectors)))
    mean_used, std_used = cohort_stats(vectors[used], cohort, top_k)
    mean = np.zeros(len(vectors), np.float32)
    std = np.ones(len(vectors), np.float32)
    mean[used] = mean_used
    std[used] = np.maximum(std_used, eps)
    s = np.asarray(scores, np.float32)
    return 0.5 * ((s - mean[enroll]) / std[enroll] + (s - mean[test]) / std[test])
