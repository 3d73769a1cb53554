"""Cross-validation keeps the test fold out of training entirely, its input scaling included:
each run normalizes with the statistics of its own training rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import CLASSES, SETTINGS, SR, tone_clip, write_config

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.checkpoint import load_checkpoint
from audiocs.config import load_config
from audiocs.manifest import ManifestRow
from audiocs.splits import apply_fold
from audiocs.train.loop import train


def _corpus(root: Path, test_gain: float) -> Path:
    """The tone corpus (5 folds x 4 classes x 3 clips); fold 1's clips scaled by `test_gain`
    (and drawn from another seed when the gain is not 1), every other clip identical."""
    rows = []
    for fold in range(1, 6):
        rng = np.random.default_rng(fold if test_gain == 1 or fold != 1 else 99)
        for label, name in enumerate(CLASSES):
            for j in range(3):
                path = root / "wav" / f"{name}_{fold}_{j}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                x = tone_clip(label, rng) * (test_gain if fold == 1 else 1.0)
                sf.write(path, np.clip(x, -1, 1), SR, subtype="PCM_16")
                rows.append(ManifestRow(id=path.stem, path=str(path), label=label,
                                        label_name=name, fold=fold, duration=0.5))
    build_cache(rows, root / "cache", SETTINGS, workers=1, progress=False)
    return root / "cache"


def _train(root: Path, cache: Path) -> dict:
    config = write_config(root / "conf.yaml", cache, train={"epochs": 1, "progress": False,
                                                            "checkpoint_every_steps": 0})
    cfg = load_config(config)
    apply_fold(cfg, 1)
    train(cfg, root / "exp")
    return load_checkpoint(root / "exp" / "checkpoints" / "last.pt")


@pytest.mark.slow
def test_changing_only_the_test_folds_audio_leaves_training_unchanged(tmp_path: Path) -> None:
    same = _corpus(tmp_path / "a", test_gain=1.0)
    other = _corpus(tmp_path / "b", test_gain=3.0)
    a, b = FeatureCache(same), FeatureCache(other)
    test = a.folds == 1
    assert not np.allclose(np.concatenate([a[i] for i in np.flatnonzero(test)]),
                           np.concatenate([b[i] for i in np.flatnonzero(test)]))
    assert all(np.array_equal(a[i], b[i]) for i in np.flatnonzero(~test))
    assert not np.allclose(a.mean, b.mean, atol=1e-3)  # the whole-cache statistics differ
    ckpt_a, ckpt_b = _train(tmp_path / "a", same), _train(tmp_path / "b", other)
    # the run's statistics are those of its training rows (not the cache's) and equal in both
    for key in ("mean", "std"):
        assert torch.equal(ckpt_a["meta"][key], ckpt_b["meta"][key])
    assert not np.allclose(ckpt_a["meta"]["mean"].numpy(), a.mean, atol=1e-3)
    for part in ("model", "classifier"):
        for name, value in ckpt_a[part].items():
            assert torch.equal(value, ckpt_b[part][name]), f"{part}.{name} differs"
