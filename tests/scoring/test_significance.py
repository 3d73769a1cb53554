"""Bootstrap intervals and the exact Wilcoxon signed-rank test against known small cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audiocs.scoring.metrics import equal_error_rate
from audiocs.significance import (bootstrap_ci, bootstrap_eer_ci, paired_comparison,
                                  wilcoxon_signed_rank)


def test_wilcoxon_all_positive_differences() -> None:
    # n = 6 differences, all positive: only 1 of the 2^6 sign patterns is as extreme on each
    # side, so p = 2 / 64
    assert wilcoxon_signed_rank([3, 4, 5, 6, 7, 8], [2, 2, 2, 2, 2, 2]) == pytest.approx(2 / 64)
    assert wilcoxon_signed_rank([1, 1, 1], [1, 1, 1]) == 1.0  # every difference is zero


def test_wilcoxon_hand_enumerated_case_with_a_tie_and_a_zero() -> None:
    d = np.array([0.5, -1.0, 2.0, 2.0, 0.0, 3.0])  # the zero is dropped; |2| twice -> ranks 3.5
    # brute force: the signed-rank sum T+ over all sign patterns of ranks (1, 2, 3.5, 3.5, 5)
    ranks = [1, 2, 3.5, 3.5, 5]
    observed = 1 + 3.5 + 3.5 + 5
    totals = [sum(r for r, s in zip(ranks, signs) if s) for signs in
              itertools.product([0, 1], repeat=5)]
    centre = sum(ranks) / 2
    expected = np.mean([abs(t - centre) >= abs(observed - centre) for t in totals])
    assert wilcoxon_signed_rank(d, np.zeros_like(d)) == pytest.approx(expected)
    assert expected == pytest.approx(6 / 32)


def test_wilcoxon_agrees_with_scipy_exact() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.normal(size=12), rng.normal(size=12) + 0.3
        ref = stats.wilcoxon(x, y, method="exact").pvalue
        assert wilcoxon_signed_rank(x, y) == pytest.approx(ref, rel=1e-9)


def test_paired_comparison_counts_and_verdict() -> None:
    a = [0.90, 0.85, 0.80, 0.88, 0.91, 0.87, 0.86, 0.89]
    b = [0.80, 0.85, 0.70, 0.78, 0.81, 0.77, 0.76, 0.79]
    r = paired_comparison(a, b)
    assert (r.wins, r.ties, r.losses) == (7, 1, 0)
    assert r.p_value == pytest.approx(2 / 128) and r.verdict == "better"
    assert r.mean_difference == pytest.approx(np.mean(np.subtract(a, b)))
    # lower is better (EER): a's higher values are losses
    r = paired_comparison(a, b, higher_is_better=False)
    assert (r.wins, r.losses) == (0, 7) and r.verdict == "worse"
    # a small sample cannot reach p < 0.05 however one-sided: reported as no difference
    r = paired_comparison([2, 3, 4], [1, 1, 1])
    assert r.wins == 3 and r.p_value == pytest.approx(0.25) and r.verdict == "no difference"


def test_bootstrap_ci_of_the_mean() -> None:
    assert bootstrap_ci([0.7, 0.7, 0.7]) == (pytest.approx(0.7), pytest.approx(0.7))
    rng = np.random.default_rng(1)
    x = rng.normal(0.8, 0.05, size=18)
    low, high = bootstrap_ci(x)
    # close to the normal-theory interval mean +- 1.96 * sd / sqrt(n) (sd with ddof = 0, as the
    # bootstrap uses the empirical distribution)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert low < x.mean() < high
    assert low == pytest.approx(x.mean() - half, abs=0.25 * half)
    assert high == pytest.approx(x.mean() + half, abs=0.25 * half)
    assert bootstrap_ci(x, seed=3) != bootstrap_ci(x, seed=4)  # seeded, not fixed
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_bootstrap_eer_ci_covers_the_eer_and_widens_with_fewer_trials() -> None:
    rng = np.random.default_rng(2)

    def run(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = (np.arange(n) % 2).astype(np.int8)
        return rng.normal(labels * 2.0, 1.0).astype(np.float32), labels

    many = [run(4000) for _ in range(3)]
    few = [run(200) for _ in range(3)]
    mean = np.mean([equal_error_rate(s, lab)[0] for s, lab in many])
    low, high = bootstrap_eer_ci(many, resamples=200)
    assert low < mean < high and 0.12 < low and high < 0.2  # EER of d' = 2 is 0.159
    low_few, high_few = bootstrap_eer_ci(few, resamples=200)
    assert high_few - low_few > 2 * (high - low)
