"""Verification and retrieval metrics: EER, minDCF (NIST/Kaldi convention), precision@1, mAP@R.

A trial is accepted when its score is >= the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audiocs.errors import AudiocsError
from audiocs.scoring.io import l2_normalize


@dataclass(frozen=True)
class ErrorRates:
    """Miss and false-alarm rates (P,) at increasing thresholds (P,); the last threshold is +inf (reject all)."""

    thresholds: np.ndarray
    fnr: np.ndarray
    fpr: np.ndarray


def error_rates(scores: np.ndarray, labels: np.ndarray) -> ErrorRates:
    """Miss/false-alarm rates at every distinct score used as a threshold, plus reject-all; labels 1 target, 0 not."""
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if len(s) != len(y):
        raise AudiocsError(f"{len(s)} scores but {len(y)} labels")
    if not np.isfinite(s).all():
        raise AudiocsError(f"{int((~np.isfinite(s)).sum())} score(s) are NaN or infinite")
    n_tgt, n_non = int(y.sum()), int((~y).sum())
    if n_tgt == 0 or n_non == 0:
        raise AudiocsError(f"need both target and non-target trials (have {n_tgt} target, {n_non} non-target)")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first position of each distinct score
    tgt_below = np.r_[0, np.cumsum(y)][first]
    non_below = np.r_[0, np.cumsum(~y)][first]
    thresholds = np.r_[s[first], np.inf]
    fnr = np.r_[tgt_below, n_tgt] / n_tgt
    fpr = (n_non - np.r_[non_below, n_non]) / n_non
    return ErrorRates(thresholds, fnr, fpr)


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where the miss rate crosses the false-alarm rate, linearly interpolated between points.

    The threshold is the lowest one whose miss rate is >= its false-alarm rate.
    """
    r = error_rates(scores, labels)
    i = int(np.argmax(r.fnr >= r.fpr))  # exists: the reject-all point has fnr 1, fpr 0
    d_prev, d_here = r.fnr[i - 1] - r.fpr[i - 1], r.fnr[i] - r.fpr[i]
    alpha = d_prev / (d_prev - d_here)
    eer = r.fpr[i - 1] + alpha * (r.fpr[i] - r.fpr[i - 1])
    threshold = r.thresholds[i] if np.isfinite(r.thresholds[i]) else r.thresholds[i - 1]
    return float(eer), float(threshold)


def min_dcf_point(scores: np.ndarray, labels: np.ndarray, p_target: float, c_miss: float = 1.0,
                  c_fa: float = 1.0) -> tuple[float, float]:
    """(normalized minimum detection cost, its threshold); cost divided by min(c_miss p, c_fa (1 - p))."""
    if not 0.0 < p_target < 1.0:
        raise AudiocsError(f"p_target must be in (0, 1), got {p_target}")
    r = error_rates(scores, labels)
    cost = c_miss * p_target * r.fnr + c_fa * (1.0 - p_target) * r.fpr
    i = int(np.argmin(cost))
    return float(cost[i] / min(c_miss * p_target, c_fa * (1.0 - p_target))), float(r.thresholds[i])


def min_dcf(scores: np.ndarray, labels: np.ndarray, p_target: float, c_miss: float = 1.0,
            c_fa: float = 1.0) -> float:
    """Normalized minimum detection cost at prior p_target (NIST SRE / Kaldi compute_min_dcf convention)."""
    return min_dcf_point(scores, labels, p_target, c_miss, c_fa)[0]


def verification_metrics(scores: np.ndarray, labels: np.ndarray,
                         p_targets: tuple[float, ...] = (0.01, 0.05)) -> dict[str, float]:
    """EER (+threshold) and minDCF (+threshold) at each p_target, as a flat JSON-ready dict."""
    eer, thr = equal_error_rate(scores, labels)
    out: dict[str, float] = {"eer": eer, "eer_threshold": thr}
    for p in p_targets:
        dcf, t = min_dcf_point(scores, labels, p)
        out[f"min_dcf_{p:g}"] = dcf
        out[f"min_dcf_{p:g}_threshold"] = t
    labels = np.asarray(labels)
    out.update(trials=int(len(labels)), targets=int((labels == 1).sum()), nontargets=int((labels == 0).sum()))
    return out


def retrieval_metrics(vectors: np.ndarray, labels: np.ndarray, chunk: int = 1024) -> dict[str, float]:
    """Precision@1 and mAP@R (Musgrave et al., 2020) of every row as a query against all others (itself left out).

    R is the number of other rows sharing the query's label; queries with R = 0 are not counted.
    """
    x = torch.from_numpy(l2_normalize(vectors))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    counts = torch.bincount(y - y.min())[y - y.min()] - 1  # R per row
    p1_sum, ap_sum, queries = 0.0, 0.0, 0
    for s in range(0, len(x), chunk):
        r = counts[s:s + chunk]
        q = torch.nonzero(r > 0).ravel() + s
        if not len(q):
            continue
        sims = x[q] @ x.T
        sims[torch.arange(len(q)), q] = -torch.inf
        k = int(counts[q].max())
        top = torch.topk(sims, k, dim=1).indices
        rel = (y[top] == y[q][:, None]).double()
        ranks = torch.arange(1, k + 1, dtype=torch.float64)
        within = ranks[None, :] <= counts[q][:, None]
        precision = torch.cumsum(rel, dim=1) / ranks
        ap = (precision * rel * within).sum(dim=1) / counts[q]
        p1_sum += float(rel[:, 0].sum())
        ap_sum += float(ap.sum())
        queries += len(q)
    if queries == 0:
        raise AudiocsError("retrieval metrics need at least one label with two or more embeddings")
    return {"precision_at_1": p1_sum / queries, "map_at_r": ap_sum / queries, "queries": queries}
