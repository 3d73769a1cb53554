"""`train.init_from` (fine-tuning): the run starts from the checkpoint's weights and input scaling,
with a fresh optimizer; a checkpoint for other classes or other features is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SETTINGS, make_experiment, write_config

from audiocs.cache import FeatureCache
from audiocs.checkpoint import load_checkpoint
from audiocs.cli import main
from audiocs.config import load_config
from audiocs.errors import AudiocsError
from audiocs.splits import apply_fold
from audiocs.train.loop import train


def _parameters(state: dict) -> dict[str, torch.Tensor]:
    """Trainable weights only (BatchNorm running statistics move in any training step)."""
    return {f"{part}.{k}": v for part in ("model", "classifier") for k, v in state[part].items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


@pytest.mark.slow
@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_fine_tuning_starts_from_the_checkpoint(tmp_path: Path, tone_cache: Path, ema: float):
    source = tmp_path / "source"
    config = write_config(tmp_path / "source.yaml", tone_cache, train={"epochs": 2})
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(source)]) == 0
    # a learning rate of 1e-12: the steps leave the weights where they started (the source's)
    tuned = tmp_path / "tuned"
    config = write_config(tmp_path / "tuned.yaml", tone_cache, optim={"lr": 1e-12},
                          train={"epochs": 1, "init_from": str(source), "ema_decay": ema,
                                 "seed": 3})
    assert main(["train", "--config", str(config), "--fold", "2", "--exp-dir", str(tuned)]) == 0
    before = load_checkpoint(source / "checkpoints" / "best.pt")
    after = load_checkpoint(tuned / "checkpoints" / "last.pt")
    a, b = _parameters(before), _parameters(after)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-9, rtol=0)
    torch.testing.assert_close(after["meta"]["mean"], before["meta"]["mean"])
    torch.testing.assert_close(after["meta"]["std"], before["meta"]["std"])
    # ... which are not what fold 2's own training rows would have given
    cfg = load_config(config)
    apply_fold(cfg, 2)
    cache = FeatureCache(tone_cache)
    own_mean, _ = cache.stats(cache.splits(cfg.data, 3).train)
    assert not np.allclose(own_mean, before["meta"]["mean"].numpy())
    assert after["progress"]["epoch"] == 1 and after["optimizer"]["state"]  # a fresh optimizer


def test_init_from_refuses_other_classes_and_features(tmp_path: Path, tone_cache: Path):
    other_classes, _ = make_experiment(tmp_path / "a", tone_cache, class_names=["x", "y", "z"])
    features = {**SETTINGS.to_dict(), "n_mels": 40, "hop_length": 160}
    other_features, _ = make_experiment(tmp_path / "b", tone_cache, feature_settings=features)
    for source, message in ((other_classes, r"best\.pt: checkpoint has 3 classes, the data has 4"),
                            (other_features, r"best\.pt: train.init_from was trained on other "
                                             r"features than .*cache \(hop_length, n_mels differ\)")):
        config = write_config(tmp_path / "c.yaml", tone_cache,
                              train={"epochs": 1, "init_from": str(source)})
        cfg = load_config(config)
        apply_fold(cfg, 1)
        with pytest.raises(AudiocsError, match=message):
            train(cfg, tmp_path / "run")
    cfg = load_config(write_config(tmp_path / "d.yaml", tone_cache,
                                   train={"epochs": 1, "init_from": str(tmp_path / "none")}))
    apply_fold(cfg, 1)
    with pytest.raises(AudiocsError, match="none: no checkpoint found"):
        train(cfg, tmp_path / "run2")
