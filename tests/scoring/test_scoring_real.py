"""Scoring on real speech (FSDD, 6 speakers): a feature-statistics embedding, speaker trials, EER."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiocs.audio import load_audio
from audiocs.features import FeatureSettings, compute_features
from audiocs.scoring import (EmbeddingSet, equal_error_rate, few_shot_accuracy, generate_trials, min_dcf,
                             retrieval_metrics)
from audiocs.scoring.pipeline import score_trials

SETTINGS = FeatureSettings(kind="fbank", sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=40)


def _stats_embeddings(files: list[Path]) -> np.ndarray:
    """Per-clip mean and std of fbank frames (N, 80), centred on the set mean: a training-free embedding."""
    feats = [compute_features(torch.from_numpy(load_audio(f, 8000)), SETTINGS).numpy() for f in files]
    x = np.stack([np.r_[f.mean(0), f.std(0)] for f in feats])
    return (x - x.mean(0)) / x.std(0)


def test_speaker_verification_on_fsdd_beats_chance(real_data):
    # the conventional FSDD test takes (index 0-4): 6 speakers x 10 digits x 5 takes = 300 clips
    files = sorted(f for f in (real_data / "fsdd" / "recordings").glob("*.wav") if int(f.stem.split("_")[2]) < 5)
    assert len(files) == 300
    speakers = [f.stem.split("_")[1] for f in files]
    digits = np.array([int(f.stem.split("_")[0]) for f in files])
    es = EmbeddingSet([f.stem for f in files], _stats_embeddings(files), digits, [str(d) for d in digits], speakers)
    trials = generate_trials(es, by="speaker")  # all 44,850 pairs, 7,350 of them same-speaker
    assert len(trials) == 300 * 299 // 2 and int(trials.labels.sum()) == 6 * 50 * 49 // 2
    scored = score_trials(es, trials)
    eer, _ = equal_error_rate(scored.scores, scored.labels)
    # measured: EER 0.177, minDCF(0.05) 0.86, speaker P@1 0.97, 3-shot accuracy 0.82
    # (chance: EER 0.5, minDCF 1.0, P@1 and few-shot accuracy about 1/6)
    assert eer < 0.25
    assert min_dcf(scored.scores, scored.labels, 0.05) < 0.95
    _, spk = np.unique(speakers, return_inverse=True)
    assert retrieval_metrics(es.vectors, spk)["precision_at_1"] > 0.8
    assert few_shot_accuracy(es.vectors, spk, shots=3).accuracy > 0.6
