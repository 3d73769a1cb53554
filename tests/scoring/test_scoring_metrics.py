"""EER / minDCF against hand-computed values and scikit-learn's ROC; retrieval and few-shot metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from audiocs.errors import AudiocsError
from audiocs.scoring import equal_error_rate, few_shot_accuracy, min_dcf, min_dcf_point, retrieval_metrics
from audiocs.scoring.metrics import error_rates


def _scores(targets: list[float], nontargets: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(targets + nontargets), np.array([1] * len(targets) + [0] * len(nontargets))


def test_eer_on_a_point():
    # T = .9 .8 .6, N = .7 .4 .3; accept score >= thr.
    # thr .6: miss 0/3, fa 1/3 (miss < fa); thr .7: miss 1/3 (.6), fa 1/3 (.7) -> crossing at 1/3, thr .7
    eer, thr = equal_error_rate(*_scores([0.9, 0.8, 0.6], [0.7, 0.4, 0.3]))
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.7)


def test_eer_interpolated_between_points():
    # T = .9 .8 .7 .2, N = .6 .5 .4 .3 .1
    # thr .5: miss 1/4, fa 2/5 (d = -3/20); thr .6: miss 1/4, fa 1/5 (d = +1/20)
    # alpha = (3/20) / (4/20) = 3/4; EER = 2/5 + 3/4 (1/5 - 2/5) = 1/4, threshold .6
    eer, thr = equal_error_rate(*_scores([0.9, 0.8, 0.7, 0.2], [0.6, 0.5, 0.4, 0.3, 0.1]))
    assert eer == pytest.approx(0.25)
    assert thr == pytest.approx(0.6)


def test_eer_with_tied_target_and_nontarget():
    # T = .9 .5, N = .5 .1; thr .5: miss 0, fa 1/2; thr .9: miss 1/2, fa 0 (the tie moves both rates)
    # segment from (fa 1/2, miss 0) to (fa 0, miss 1/2) crosses the diagonal at 1/4
    eer, thr = equal_error_rate(*_scores([0.9, 0.5], [0.5, 0.1]))
    assert eer == pytest.approx(0.25)
    assert thr == pytest.approx(0.9)


def test_min_dcf_hand_values():
    s, y = _scores([0.9, 0.8, 0.7, 0.2], [0.6, 0.5, 0.4, 0.3, 0.1])
    # p = 0.01: cost .01 miss + .99 fa; best is thr .7 (miss 1/4, fa 0): .0025 / min(.01, .99) = 0.25
    assert min_dcf_point(s, y, 0.01) == pytest.approx((0.25, 0.7))
    # p = 0.05: thr .7 again: .05 * 1/4 / .05 = 0.25 (any fa > 0 costs >= .95 / 5 = .19 / .05 > 1)
    assert min_dcf(s, y, 0.05) == pytest.approx(0.25)
    # p = 0.9: cost .9 miss + .1 fa, normalized by .1: thr .2 gives miss 0, fa 4/5 -> 0.8
    # (thr .7: 9 * 1/4 = 2.25; thr .1: fa 1 -> 1.0)
    assert min_dcf_point(s, y, 0.9) == pytest.approx((0.8, 0.2))
    # c_miss = 10 at p = 0.01: cost .1 miss + .99 fa, normalized by min(.1, .99) = .1: thr .7 -> 0.25
    assert min_dcf(s, y, 0.01, c_miss=10) == pytest.approx(0.25)


def test_perfect_separation():
    s, y = _scores([0.9, 0.8], [0.1, 0.2])
    assert equal_error_rate(s, y)[0] == 0.0
    assert min_dcf(s, y, 0.01) == 0.0


def _sklearn_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER where FNR crosses FPR on scikit-learn's ROC points, linearly interpolated."""
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    d = (1 - tpr) - fpr  # decreasing from 1 to -1 along sklearn's decreasing thresholds
    j = int(np.argmax(d <= 0))
    a = d[j - 1] / (d[j - 1] - d[j])
    return float(fpr[j - 1] + a * (fpr[j] - fpr[j - 1]))


@pytest.mark.parametrize("seed", range(5))
def test_eer_and_min_dcf_match_sklearn_roc(seed):
    rng = np.random.default_rng(seed)
    n_t, n_n = rng.integers(20, 300, size=2)
    s = np.r_[rng.normal(1.0, 1.0, n_t), rng.normal(0.0, 1.0, n_n)]
    s = np.round(s, 1 if seed % 2 else 6)  # odd seeds: many ties
    y = np.r_[np.ones(n_t, int), np.zeros(n_n, int)]
    eer, thr = equal_error_rate(s, y)
    assert eer == pytest.approx(_sklearn_eer(s, y), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    for p in (0.01, 0.05):
        ref = np.min(p * (1 - tpr) + (1 - p) * fpr) / min(p, 1 - p)
        assert min_dcf(s, y, p) == pytest.approx(ref, abs=1e-12)
    # the reported threshold is where the miss rate first reaches the false-alarm rate
    miss, fa = np.mean(s[y == 1] < thr), np.mean(s[y == 0] >= thr)
    assert miss >= fa


def test_error_rates_shapes_and_bad_input():
    r = error_rates(np.array([0.1, 0.1, 0.5]), np.array([0, 1, 1]))
    np.testing.assert_allclose(r.thresholds, [0.1, 0.5, np.inf])
    np.testing.assert_allclose(r.fnr, [0, 0.5, 1])
    np.testing.assert_allclose(r.fpr, [1, 0, 0])
    with pytest.raises(AudiocsError, match="both target and non-target"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(AudiocsError, match="NaN"):
        equal_error_rate(np.array([np.nan, 0.2]), np.array([1, 0]))


def _unit(degrees: list[float]) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_map_at_r_hand_example():
    # class 0 at 0, 10, 30, 60 degrees; class 1 at 22 and 200 degrees
    x = _unit([0, 10, 30, 60, 22, 200])
    y = np.array([0, 0, 0, 0, 1, 1])
    # query 0deg  (R=3): 10(+) 22(-) 30(+) -> (1/1 + 2/3) / 3 = 5/9, P@1 = 1
    # query 10deg (R=3): 0(+) 22(-) 30(+) -> 5/9, P@1 = 1
    # query 30deg (R=3): 22(-) 10(+) then 0/60 tie (both +) -> (1/2 + 2/3) / 3 = 7/18, P@1 = 0
    # query 60deg (R=3): 30(+) 22(-) 10(+) -> 5/9, P@1 = 1
    # query 22deg (R=1): 30(-) -> 0; query 200deg (R=1): 60(-) -> 0
    m = retrieval_metrics(x, y, chunk=4)  # chunk < N exercises the chunking
    assert m["map_at_r"] == pytest.approx((5 / 9 * 3 + 7 / 18) / 6)
    assert m["precision_at_1"] == pytest.approx(0.5)
    assert m["queries"] == 6


def test_retrieval_leaves_out_singletons_and_self():
    x = _unit([0, 1, 90])
    m = retrieval_metrics(x, np.array([0, 0, 1]))  # row 2 has no other row of its class
    assert m["queries"] == 2
    assert m["precision_at_1"] == 1.0 and m["map_at_r"] == 1.0


def _clusters(n_classes: int, per_class: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_classes, 32))
    y = np.repeat(np.arange(n_classes), per_class)
    return (centers[y] + spread * rng.standard_normal((len(y), 32))).astype(np.float32), y


def test_few_shot_separated_clusters_near_perfect():
    x, y = _clusters(10, 30, 0.1, seed=0)
    r = few_shot_accuracy(x, y, shots=1, episodes=5, seed=0)
    assert r.accuracy > 0.99
    assert (r.classes, r.queries_per_episode, r.episodes) == (10, 290, 5)


def test_few_shot_random_embeddings_near_chance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    y = rng.integers(0, 10, 2000)
    r = few_shot_accuracy(x, y, shots=5, episodes=10, seed=0)
    assert abs(r.accuracy - 0.1) < 0.03


def test_few_shot_more_shots_help_and_seed_is_reproducible():
    x, y = _clusters(8, 40, 1.3, seed=2)
    one = few_shot_accuracy(x, y, shots=1, episodes=20, seed=3)
    ten = few_shot_accuracy(x, y, shots=10, episodes=20, seed=3)
    assert ten.accuracy > one.accuracy
    assert few_shot_accuracy(x, y, shots=1, episodes=20, seed=3) == one


def test_few_shot_leaves_out_classes_without_queries():
    x, y = _clusters(3, 4, 0.1, seed=4)
    y[-1] = 7  # a class with a single row: no query left after 1 shot
    assert few_shot_accuracy(x, y, shots=1, episodes=2).classes == 3
    with pytest.raises(AudiocsError, match="few-shot needs"):
        few_shot_accuracy(x, y, shots=4)
