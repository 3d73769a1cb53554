"""Training on real audio: speaker identification on FSDD recordings (../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_config

from audiocs.cache_build import build_cache
from audiocs.cli import main
from audiocs.features import FeatureSettings
from audiocs.prep.fsdd import parse_fsdd

SETTINGS = FeatureSettings(kind="logmel", sample_rate=8000, n_fft=256, win_length=200,
                           hop_length=80, n_mels=32)


@pytest.mark.slow
def test_fsdd_speaker_identification(real_data: Path, tmp_path: Path) -> None:
    rows, _ = parse_fsdd(real_data / "fsdd", task="speakers")  # label = speaker, fold = take // 10
    rows = [r for r in rows if int(r.extra["take"]) < 30 and int(r.extra["digit"]) < 1]
    assert len(rows) == 180  # 6 speakers x digit 0 x takes 0-29: folds 1, 2, 3
    build_cache(rows, tmp_path / "cache", SETTINGS, workers=1, progress=False)
    # test fold 1, validation fold 3 (the fold before), training fold 2: 60 clips each
    config = write_config(tmp_path / "conf.yaml", tmp_path / "cache",
                          data={"batch_size": 8, "crop_frames": 40},
                          loss={"name": "am_softmax", "scale": 20.0, "margin": 0.2},
                          optim={"name": "adamw", "lr": 0.01, "weight_decay": 0.01},
                          augment={"mixup_alpha": 0.0}, train={"epochs": 6})
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    assert main(["evaluate", "--exp-dir", str(exp)]) == 0
    result = json.loads((exp / "eval" / "test" / "metrics.json").read_text())
    print(f"FSDD speaker identification (6 speakers): test accuracy {result['accuracy']:.3f}")
    assert result["clips"] == 60
    # measured 0.800 after 6 epochs (grad_clip 5, SpecAugment on); chance is 1/6
    assert result["accuracy"] >= 0.6
