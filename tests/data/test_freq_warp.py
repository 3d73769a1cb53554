"""Frequency warping (augment.freq_warp): the bands' centre frequencies and FreqWarp."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as AF
from helpers import write_config

from audiocs.config import load_config
from audiocs.data import FreqWarp
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings


def test_logmel_band_centres_are_the_filterbank_peaks() -> None:
    s = FeatureSettings(sample_rate=8000, n_fft=2048, win_length=200, hop_length=80, n_mels=40)
    bank = AF.melscale_fbanks(s.n_fft // 2 + 1, 0.0, 4000.0, 40, 8000, norm="slaney",
                              mel_scale="slaney").numpy()
    bins = np.linspace(0, 4000, s.n_fft // 2 + 1)
    peaks = bins[bank.argmax(axis=0)]
    np.testing.assert_allclose(s.band_centres(), peaks, atol=4000 / (s.n_fft // 2) / 2 + 1e-6)


def test_fbank_band_centres_are_kaldis() -> None:
    s = FeatureSettings(kind="fbank", sample_rate=16000, n_mels=40, fmin=20.0, fmax=7600.0)
    _, centres = kaldi.get_mel_banks(40, 512, 16000.0, 20.0, 7600.0, 100.0, -500.0, 1.0)
    np.testing.assert_allclose(s.band_centres(), centres.numpy().ravel(), rtol=1e-5)


HZ = np.linspace(100.0, 4000.0, 40)  # evenly spaced bands make the expected shifts easy


def _bump(centre_hz: float, width: float = 150.0) -> torch.Tensor:
    """(1, 3, 40) features: a Gaussian bump over frequency, the same in each of 3 frames."""
    row = np.exp(-0.5 * ((HZ - centre_hz) / width) ** 2)
    return torch.tensor(np.tile(row, (1, 3, 1)), dtype=torch.float32)


@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.1, 1.2])
def test_content_at_f_moves_to_alpha_f(alpha: float) -> None:
    warp = FreqWarp(0.3, HZ)
    out = warp.warp(_bump(1500.0), torch.tensor([alpha]))
    peak = HZ[int(out[0, 1].argmax())]
    assert abs(peak - alpha * 1500.0) <= HZ[1] - HZ[0]
    assert torch.equal(out[0, 0], out[0, 2])  # every frame warped alike


def test_alpha_one_is_the_identity_and_edges_are_held() -> None:
    warp = FreqWarp(0.2, HZ)
    x = torch.randn(2, 5, 40)
    torch.testing.assert_close(warp.warp(x, torch.ones(2)), x)
    squeezed = warp.warp(x, torch.tensor([0.8, 0.8]))  # reads above the top band: held there
    torch.testing.assert_close(squeezed[..., -1], x[..., -1])
    stretched = warp.warp(x, torch.tensor([1.25, 1.25]))  # band 0 reads below 100 Hz: held
    torch.testing.assert_close(stretched[..., 0], x[..., 0])


def test_each_clip_gets_its_own_factor_from_the_generator() -> None:
    x = _bump(2000.0).repeat(4, 1, 1)
    warp = FreqWarp(0.2, HZ, generator=torch.Generator().manual_seed(3))
    warp.train()
    a = warp(x)
    assert len({int(a[i, 0].argmax()) for i in range(4)}) > 1
    warp.generator = torch.Generator().manual_seed(3)
    torch.testing.assert_close(warp(x), a)
    warp.eval()
    assert warp(x) is x


def test_padding_frames_stay_zero() -> None:
    x = torch.randn(2, 6, 40)
    x[:, 4:] = 0.0
    out = FreqWarp(0.2, HZ).warp(x, torch.tensor([0.85, 1.15]))
    assert torch.count_nonzero(out[:, 4:]) == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_warp"):
        FreqWarp(1.0, HZ)
    with pytest.raises(ValueError, match="increasing"):
        FreqWarp(0.1, HZ[::-1])
    with pytest.raises(ValueError, match="30 bands"):
        FreqWarp(0.1, HZ).warp(torch.zeros(1, 2, 30), torch.ones(1))


def test_config_range(tmp_path) -> None:
    with pytest.raises(AudiocsError, match="augment.freq_warp"):
        load_config(None, ["data.cache_dir=x", "augment.freq_warp=0.6"])
    assert load_config(None, ["data.cache_dir=x", "augment.freq_warp=0.1"]).augment.freq_warp == 0.1


def test_training_applies_the_warp_reproducibly(tmp_path, tone_cache) -> None:
    """Same seed: a warped run repeats itself exactly and differs from the unwarped run."""
    from audiocs.train.loop import train

    def weights(name: str, warp: float) -> dict:
        cfg = load_config(write_config(tmp_path / f"{name}.yaml", tone_cache,
                                       data={"test_folds": [5]},
                                       train={"epochs": 1, "checkpoint_every_steps": 0},
                                       augment={"freq_warp": warp, "mixup_alpha": 0.0}))
        train(cfg, tmp_path / name)
        state = torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=False)
        return state["model"]

    plain, warped, again = weights("plain", 0.0), weights("warped", 0.2), weights("again", 0.2)
    assert all(torch.equal(warped[k], again[k]) for k in warped)
    assert any(not torch.equal(warped[k], plain[k]) for k in warped)
