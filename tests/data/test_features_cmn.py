"""Utterance-level mean normalization (FeatureSettings.cmn) in the feature front-end."""

from __future__ import annotations

import numpy as np
import torch

from audiocs.features import FeatureSettings, compute_features


def _tone_with_noise(seconds: float = 0.5, sr: int = 8000) -> torch.Tensor:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    return torch.from_numpy(wave.astype(np.float32))


def test_cmn_subtracts_the_per_bin_mean_over_time():
    wave = _tone_with_noise()
    plain = compute_features(wave, FeatureSettings(sample_rate=8000))
    normed = compute_features(wave, FeatureSettings(sample_rate=8000, cmn=True))
    torch.testing.assert_close(normed, plain - plain.mean(0, keepdim=True))
    assert normed.mean(0).abs().max() < 1e-4
    assert (plain.mean(0).abs() > 1).any()  # without CMN the means are far from 0


def test_cmn_features_do_not_depend_on_recording_gain():
    wave = _tone_with_noise()
    for kind in ("logmel", "fbank"):
        settings = FeatureSettings(kind=kind, sample_rate=8000, cmn=True)
        loud, quiet = compute_features(wave, settings), compute_features(wave * 0.05, settings)
        torch.testing.assert_close(quiet, loud, atol=1e-3, rtol=0)
        plain = FeatureSettings(kind=kind, sample_rate=8000)
        assert (compute_features(wave, plain) - compute_features(wave * 0.05, plain)).abs().mean() > 5  # 26 dB or 2 ln 20


def test_cmn_round_trips_through_settings_dict():
    settings = FeatureSettings(cmn=True)
    assert FeatureSettings.from_dict(settings.to_dict()) == settings
    assert FeatureSettings.from_dict({k: v for k, v in settings.to_dict().items() if k != "cmn"}).cmn is False
