"""Statistics for comparing trained models: bootstrap confidence intervals and paired tests.

- `bootstrap_ci`: percentile interval of the mean of per-run values (e.g. one value per fold x
  seed), resampling the runs with replacement.
- `bootstrap_eer_ci`: the same for EER, resampling the runs and, inside each drawn run, its
  trials (two-level bootstrap), so the interval holds both the run-to-run and the trial noise.
- `wilcoxon_signed_rank`: the exact two-sided Wilcoxon signed-rank test of paired values (zero
  differences dropped, tied magnitudes given their average rank), and `paired_comparison`
  with wins / ties / losses on the same folds and seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audiocs.scoring.metrics import equal_error_rate


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, level: float = 0.95,
                 resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of the mean of `values` (n,)."""
    x = np.asarray(values, float).reshape(-1)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_eer_ci(runs: Sequence[tuple[np.ndarray, np.ndarray]], *, level: float = 0.95,
                     resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Interval (low, high) of the mean EER over `runs`, each (scores (K,), labels (K,) of 1/0):
    every resample draws runs with replacement, then each drawn run's trials with replacement."""
    if not runs:
        raise ValueError("bootstrap_eer_ci needs at least one run")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for b in range(resamples):
        eers = []
        for r in rng.integers(0, len(runs), size=len(runs)):
            scores, labels = runs[r]
            pick = rng.integers(0, len(scores), size=len(scores))
            eers.append(equal_error_rate(scores[pick], labels[pick])[0])
        means[b] = np.mean(eers)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def wilcoxon_signed_rank(x: Sequence[float], y: Sequence[float]) -> float:
    """Exact two-sided p-value of the Wilcoxon signed-rank test of the paired differences x - y.

    Zero differences are dropped (Wilcoxon's convention); tied magnitudes share their average
    rank and the null distribution is enumerated with those ranks, so ties are exact too.
    Returns 1.0 when every difference is zero.
    """
    d = np.asarray(x, float) - np.asarray(y, float)
    if d.shape != np.asarray(y, float).shape:
        raise ValueError("wilcoxon_signed_rank needs two sequences of the same length")
    d = d[d != 0]
    n = d.size
    if n == 0:
        return 1.0
    magnitudes = np.abs(d)
    order = np.argsort(magnitudes, kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    for value in np.unique(magnitudes):  # average ranks of ties
        tied = magnitudes == value
        ranks[tied] = ranks[tied].mean()
    doubled = np.rint(2 * ranks).astype(np.int64)  # average ranks are multiples of 1/2
    # null distribution of the doubled positive-rank sum: each rank positive with probability 1/2
    counts = np.zeros(int(doubled.sum()) + 1)
    counts[0] = 1.0
    for r in doubled:
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[:-r] if r else counts
        counts = counts + shifted
    probs = counts / counts.sum()
    observed = int(doubled[d > 0].sum())
    centre = doubled.sum() / 2
    extreme = np.abs(np.arange(counts.size) - centre) >= abs(observed - centre) - 1e-9
    return float(min(1.0, probs[extreme].sum()))


@dataclass(frozen=True)
class PairedResult:
    """`a` against `b` on the same folds and seeds; a win is a better value of `a`."""

    wins: int
    ties: int
    losses: int
    mean_difference: float  # mean of a - b
    p_value: float  # exact two-sided Wilcoxon signed-rank
    verdict: str  # "better", "worse" or "no difference" (at the level `alpha`)


def paired_comparison(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True,
                      alpha: float = 0.05) -> PairedResult:
    """Wins / ties / losses of `a` over `b` (pairs in the same order) and the paired test; the
    verdict is "no difference" unless p < `alpha`."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("paired_comparison needs two non-empty sequences of the same length")
    better = x > y if higher_is_better else x < y
    ties = int((x == y).sum())
    p = wilcoxon_signed_rank(x, y)
    diff = float((x - y).mean())
    gain = diff if higher_is_better else -diff
    verdict = "no difference" if p >= alpha or gain == 0 else ("better" if gain > 0 else "worse")
    return PairedResult(int(better.sum()), ties, int(x.size - better.sum() - ties), diff, p,
                        verdict)
