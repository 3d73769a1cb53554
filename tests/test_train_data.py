"""The tiny generated corpus of the training tests: 4 classes of tones and noise, 5 folds.

`make_tone_cache(root)` writes the wavs, a manifest and a log-mel feature cache (8 kHz,
0.5 s clips, 32 mels, 51 frames per clip). Other test_train* modules import it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.features import FeatureSettings
from audiocs.manifest import ManifestRow

SR = 8000
CLASSES = ("low_tone", "high_tone", "noise", "clicks")
SETTINGS = FeatureSettings(kind="logmel", sample_rate=SR, n_fft=256, win_length=200,
                           hop_length=80, n_mels=32)


def tone_clip(label: int, rng: np.random.Generator, n: int = SR // 2) -> np.ndarray:
    """One 0.5 s clip (n,) float32 of class `label`, with random pitch jitter, level and noise."""
    t = np.arange(n) / SR
    if label == 0:
        x = np.sin(2 * np.pi * rng.uniform(250, 450) * t)
    elif label == 1:
        x = np.sin(2 * np.pi * rng.uniform(1800, 2600) * t)
    elif label == 2:
        x = rng.standard_normal(n)
    else:
        x = np.zeros(n)
        x[rng.integers(0, 400) :: int(rng.uniform(600, 1200))] = 4.0
    x = x + 0.05 * rng.standard_normal(n)
    return (0.3 * x / np.max(np.abs(x)) * rng.uniform(0.3, 1.0)).astype(np.float32)


def make_tone_cache(root: Path, per_class_per_fold: int = 4, seed: int = 0) -> Path:
    """Write wavs + a feature cache under `root`; returns the cache folder."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, 6):
        for label, name in enumerate(CLASSES):
            for j in range(per_class_per_fold):
                path = root / "wav" / f"{name}_{fold}_{j}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, tone_clip(label, rng), SR, subtype="PCM_16")
                rows.append(ManifestRow(id=path.stem, path=str(path), label=label,
                                        label_name=name, fold=fold, duration=0.5))
    build_cache(rows, root / "cache", SETTINGS, workers=1, progress=False)
    return root / "cache"


@pytest.fixture(scope="session")
def tone_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished cache of the tone corpus (80 clips), built once per session."""
    return make_tone_cache(tmp_path_factory.mktemp("tones"))


def test_tone_cache_layout(tone_cache: Path) -> None:
    cache = FeatureCache(tone_cache)
    assert len(cache) == 80 and cache.class_names == list(CLASSES)
    assert sorted(set(cache.folds.tolist())) == [1, 2, 3, 4, 5]
    assert cache[0].shape == (51, 32)


BASE_CONFIG = {
    "data": {"crop_frames": 32, "batch_size": 8, "valid_split": "previous_fold"},
    "model": {"name": "vgg_small", "embed_dim": 32, "kwargs": {"width": 8}},
    "loss": {"name": "cs_softmax", "scale": 20.0, "margin": 0.25},
    "optim": {"name": "sgd", "lr": 0.05},
    "schedule": {"warmup_epochs": 1, "warmup_start": 0.1},
    "margin_schedule": {"start_epoch": 1, "ramp_epochs": 2},
    "augment": {"time_width": 6, "freq_width": 4, "mixup_alpha": 0.2},
    "train": {"epochs": 4, "checkpoint_every_steps": 2, "grad_clip": 5.0, "progress": False},
}


def write_config(path: Path, cache_dir: Path, **sections: dict) -> Path:
    """BASE_CONFIG with `cache_dir` and per-section updates, written as YAML to `path`."""
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(BASE_CONFIG, {"data": {"cache_dir": str(cache_dir)}}, sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(merged))
    return path
