"""Checkpoints: RNG states round-trip through weights_only loads; atomic files; clear errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from audiocs.checkpoint import (build_modules, check_compatible, load_checkpoint, model_meta,
                                rng_state, save_checkpoint, set_rng_state)
from audiocs.config import Config, config_to_dict
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings
from audiocs.runner import load_for_inference

N_FEATURES = 16


def _draws() -> tuple:
    return (random.random(), np.random.rand(), torch.rand(3).tolist())


def test_rng_states_round_trip_through_weights_only_load(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_checkpoint({"meta": {}, "model": {}, "rng": rng_state()}, tmp_path / "c.pt")
    expected = _draws()
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    assert _draws() != expected
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert _draws() == expected


def test_atomic_save_leaves_only_the_file(tmp_path: Path) -> None:
    save_checkpoint({"meta": {}, "model": {"w": torch.ones(2)}}, tmp_path / "ck" / "a.pt")
    save_checkpoint({"meta": {}, "model": {"w": torch.zeros(2)}}, tmp_path / "ck" / "a.pt")
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["a.pt"]
    assert load_checkpoint(tmp_path / "ck" / "a.pt")["model"]["w"].sum() == 0


def test_missing_corrupt_or_foreign_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AudiocsError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(AudiocsError, match=f"{bad}: not a readable checkpoint"):
        load_checkpoint(bad)
    torch.save({"x": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(AudiocsError, match="not an audiocs training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def _meta(classes: int = 3, name: str = "vgg_small") -> dict:
    cfg = Config()
    cfg.model.name, cfg.model.embed_dim, cfg.model.kwargs = name, 8, {"width": 4}
    cfg.loss.name, cfg.loss.margin = "am_softmax", 0.3
    return model_meta(cfg, n_features=N_FEATURES, class_names=[f"c{i}" for i in range(classes)],
                      settings=FeatureSettings(n_mels=N_FEATURES), mean=np.zeros(N_FEATURES),
                      std=np.ones(N_FEATURES))


def test_load_for_inference_rebuilds_the_same_function(tmp_path: Path) -> None:
    torch.manual_seed(0)
    meta = _meta()
    model, classifier, loss = build_modules(meta)
    assert loss.target_margin == pytest.approx(0.3)
    state = {"meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
             "epoch": 4, "config": config_to_dict(Config())}
    save_checkpoint(state, tmp_path / "checkpoints" / "best.pt")
    bundle = load_for_inference(tmp_path)
    x = torch.randn(2, 32, N_FEATURES)
    model.eval()
    assert torch.equal(bundle.classifier(bundle.model(x)), classifier(model(x)))
    assert not bundle.model.training and bundle.epoch == 4
    assert bundle.class_names == ["c0", "c1", "c2"] and bundle.settings.n_mels == N_FEATURES
    assert bundle.mean.shape == (N_FEATURES,) and bundle.loss_name == "am_softmax"


def test_incompatible_checkpoints_are_refused(tmp_path: Path) -> None:
    meta = _meta()
    with pytest.raises(AudiocsError, match="checkpoint has 3 classes, the data has 5"):
        check_compatible(meta, _meta(classes=5), "x.pt")
    with pytest.raises(AudiocsError, match="model name is 'vgg_small', expected 'vgg_large'"):
        check_compatible(meta, _meta(name="vgg_large"), "x.pt")
    model, classifier, _ = build_modules(_meta(classes=5))
    bad = {"meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
           "epoch": 1, "config": None}
    save_checkpoint(bad, tmp_path / "b.pt")
    with pytest.raises(AudiocsError, match="b.pt: classifier weights do not fit"):
        load_for_inference(tmp_path / "b.pt")
    with pytest.raises(AudiocsError, match="no checkpoint found"):
        load_for_inference(tmp_path / "empty")
