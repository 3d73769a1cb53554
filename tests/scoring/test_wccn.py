"""WCCN: the within-class covariance against a loop, whitening of the fitting set, shrinkage limits,
errors, and `audiocs score --wccn` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.scoring import EmbeddingSet, equal_error_rate, generate_trials, write_embeddings
from audiocs.scoring.io import l2_normalize
from audiocs.scoring.pipeline import score_trials
from audiocs.scoring.wccn import fit_wccn, within_class_covariance


def _speakers(n_spk: int = 20, per: int = 6, dim: int = 8, seed: int = 0) -> EmbeddingSet:
    """Speakers whose recordings vary mostly along dimension 0 (a 'channel' axis)."""
    rng = np.random.default_rng(seed)
    spk = np.repeat(np.arange(n_spk), per)
    noise = 0.05 * rng.standard_normal((len(spk), dim))
    noise[:, 0] *= 30.0
    x = (rng.standard_normal((n_spk, dim))[spk] + noise).astype(np.float32)
    return EmbeddingSet([f"u{i:03d}" for i in range(len(spk))], x, spk, [str(s) for s in spk],
                        [f"spk{s}" for s in spk])


def test_within_class_covariance_matches_loop():
    es = _speakers(n_spk=5, per=4)
    keys = es.keys("speaker")
    ref = np.zeros((8, 8))
    for k in set(keys):
        rows = es.vectors[[i for i, s in enumerate(keys) if s == k]].astype(np.float64)
        d = rows - rows.mean(axis=0)
        ref += d.T @ d
    np.testing.assert_allclose(within_class_covariance(es.vectors, keys), ref / len(es), rtol=1e-10)


def test_plain_wccn_whitens_the_fitting_set_and_full_shrinkage_only_centres():
    es = _speakers()
    keys = es.keys("speaker")
    w = fit_wccn(es.vectors, keys, shrink=0.0)
    x = l2_normalize(es.vectors).astype(np.float64)
    np.testing.assert_allclose(w.mean, x.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(w.transform, w.transform.T, atol=1e-4)  # symmetric
    moved = (x - w.mean) @ w.transform  # before the final normalization
    np.testing.assert_allclose(within_class_covariance(moved, keys), np.eye(8), atol=1e-3)
    centre = fit_wccn(es.vectors, keys, shrink=1.0)
    off = centre.transform - np.diag(np.diag(centre.transform))
    assert np.abs(off).max() < 1e-6 and np.ptp(np.diag(centre.transform)) < 1e-3
    np.testing.assert_allclose(centre.apply(es.vectors), l2_normalize(x - x.mean(axis=0)), atol=1e-5)


def test_wccn_scores_beat_plain_cosine_when_recordings_vary_along_one_axis():
    train, test = _speakers(seed=1), _speakers(seed=2)
    tr = generate_trials(test)
    y = tr.labels
    plain = score_trials(test, tr).scores
    w = score_trials(test, tr, wccn=fit_wccn(train.vectors, train.keys("speaker"), shrink=0.1)).scores
    assert equal_error_rate(w, y)[0] < 0.5 * equal_error_rate(plain, y)[0]


def test_wccn_errors_are_named():
    es = _speakers(n_spk=3, per=2, dim=8)
    with pytest.raises(AudiocsError, match=r"shrinkage must lie in \[0, 1\]"):
        fit_wccn(es.vectors, es.keys("speaker"), shrink=1.5)
    with pytest.raises(AudiocsError, match="cohort.*singular; use a shrinkage above 0"):
        fit_wccn(es.vectors, es.keys("speaker"), shrink=0.0, where="cohort")
    with pytest.raises(AudiocsError, match="at least 2 classes with 2 or more rows"):
        fit_wccn(es.vectors[:3], ["a", "b", "c"])
    w = fit_wccn(es.vectors, es.keys("speaker"))
    with pytest.raises(AudiocsError, match="fitted on dimension 8"):
        w.apply(np.ones((2, 4), np.float32))
    with pytest.raises(AudiocsError, match="WCCN centres on its own mean"):
        score_trials(es, generate_trials(es), mean=np.zeros(8), wccn=w)


def test_score_command_with_wccn_equals_mean_subtraction_at_full_shrinkage(tmp_path):
    write_embeddings(tmp_path / "eval", _speakers(seed=3))
    write_embeddings(tmp_path / "cohort", _speakers(seed=4))
    trials = tmp_path / "trials.txt"
    assert main(["trials", "--embeddings", str(tmp_path / "eval"), "--out", str(trials)]) == 0
    base = ["score", "--embeddings", str(tmp_path / "eval"), "--trials", str(trials), "--no-plots"]
    runs = {"mean": ["--mean-from", str(tmp_path / "cohort")],
            "centre": ["--wccn", str(tmp_path / "cohort"), "--wccn-shrink", "1"],
            "wccn": ["--wccn", str(tmp_path / "cohort"), "--cohort", str(tmp_path / "cohort"),
                     "--norm", "asnorm", "--top-k", "30"]}
    scores = {}
    for name, extra in runs.items():
        assert main(base + extra + ["--out", str(tmp_path / name)]) == 0
        lines = (tmp_path / name / "scores.txt").read_text().split("\n")
        scores[name] = np.array([float(line.split()[2]) for line in lines if line])
    np.testing.assert_allclose(scores["centre"], scores["mean"], atol=2e-5)
    m = json.loads((tmp_path / "wccn" / "metrics.json").read_text())
    assert m["wccn"] == {"from": str(tmp_path / "cohort"), "by": "speaker", "shrink": 0.5} and m["norm"] == "asnorm"
    assert m["eer"] < json.loads((tmp_path / "mean" / "metrics.json").read_text())["eer"]
