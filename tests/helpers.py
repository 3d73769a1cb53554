"""What several test modules share (the fixtures built from it are in conftest.py): the tiny
generated tone corpus of the training tests (4 classes of tones and noise, 5 folds; `make_tone_cache`
writes the wavs, a manifest and a log-mel feature cache: 8 kHz, 0.5 s clips, 32 mels, 51 frames
per clip), the base training config, an untrained experiment folder, a tone wav writer, and a loader
for the data_prep scripts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.checkpoint import build_modules, model_meta, save_checkpoint
from audiocs.config import load_config
from audiocs.features import FeatureSettings
from audiocs.manifest import ManifestRow

ROOT = Path(__file__).resolve().parents[1]  # the repository
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


def make_experiment(tmp_path: Path, cache_dir: Path, **meta_updates) -> tuple[Path, torch.nn.Module]:
    """An experiment folder whose best.pt holds a seeded, untrained vgg_small (no training needed)."""
    cfg = load_config(write_config(tmp_path / "conf.yaml", cache_dir))
    cache = FeatureCache(cache_dir)
    torch.manual_seed(0)
    meta = model_meta(cfg, n_features=cache.num_features, class_names=cache.class_names,
                      settings=cache.settings, mean=cache.mean, std=cache.std)
    meta.update(meta_updates)
    model, classifier, _ = build_modules(meta)
    exp = tmp_path / "exp"
    save_checkpoint({"meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
                     "epoch": 0}, exp / "checkpoints" / "best.pt")
    return exp, model.eval()


def tone_wav(path: Path, seconds: float, sr: int = 16000, seed: int = 0) -> None:
    """A short 16-bit noisy tone, distinct per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * (200 + 37 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), sr, subtype="PCM_16")


def load_script(name: str):
    """Import data_prep/<name>.py (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"prep_{name}", ROOT / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
