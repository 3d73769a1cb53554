"""End to end: train vgg_small on the generated tone corpus, evaluate, check the outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_config

from audiocs.cache import FeatureCache
from audiocs.checkpoint import build_modules, load_checkpoint, model_meta
from audiocs.cli import main
from audiocs.config import load_config
from audiocs.runner import clip_outputs, load_for_inference
from audiocs.splits import apply_fold

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _untrained_accuracy(config: Path, fold: int) -> float:
    """Test accuracy of the freshly initialised model (seed as in training) on fold `fold`."""
    cfg = load_config(config)
    apply_fold(cfg, fold)
    cache = FeatureCache(cfg.data.cache_dir)
    torch.manual_seed(cfg.train.seed)
    meta = model_meta(cfg, n_features=cache.num_features, class_names=cache.class_names,
                      settings=cache.settings, mean=cache.mean, std=cache.std)
    model, classifier, loss = build_modules(meta)
    test = cache.splits(cfg.data, cfg.train.seed).test
    scores = clip_outputs(model, classifier, cache, test, cache.mean, cache.std, cfg.eval,
                         torch.device("cpu"))
    return float((loss.predict(scores).numpy() == cache.labels[test]).mean())


@pytest.mark.slow
def test_train_then_evaluate_beats_an_untrained_model(tmp_path: Path, tone_cache: Path,
                                                      capsys) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache)
    exp = tmp_path / "exp"
    untrained = _untrained_accuracy(config, fold=1)
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    assert main(["evaluate", "--exp-dir", str(exp), "--device", "auto"]) == 0  # resolved
    result = json.loads((exp / "eval" / "test" / "metrics.json").read_text())
    print(f"test fold 1: untrained accuracy {untrained:.3f}, trained {result['accuracy']:.3f}")
    # measured: untrained 0.25 (chance, 4 classes), trained 1.0 after 4 epochs (48 train clips)
    assert untrained <= 0.5
    assert result["accuracy"] >= 0.9 and result["clips"] == 16
    assert result["macro_f1"] >= 0.85

    # the experiment folder: merged config, one metrics record per epoch, checkpoints, figures
    cfg = load_config(exp / "config.yaml")
    assert cfg.data.test_folds == [1] and cfg.train.epochs == 4
    history = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    # the margin grows from 0.5 to 0.25 (the loss grows with it); the accuracy rises all the same
    assert history[-1]["train_acc"] > history[0]["train_acc"] + 0.15
    assert history[0]["margin"] == 0.5 and history[-1]["margin"] == 0.25  # cs_softmax ramp
    bundle = load_for_inference(exp)
    best = max(range(4), key=lambda i: (history[i]["valid_acc"], -i))
    assert bundle.epoch == best + 1  # best.pt is the first epoch with the best valid accuracy
    with open(exp / "eval" / "test" / "confusion.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == ["low_tone", "high_tone", "noise", "clicks"]
    matrix = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    assert matrix.sum() == 16 and np.trace(matrix) == round(result["accuracy"] * 16)
    for png in (exp / "eval" / "test" / "confusion.png", exp / "eval" / "curves.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_sliding_window_evaluation(tmp_path: Path, tone_cache: Path) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache, train={"epochs": 2},
                          data={"valid_split": "fraction", "valid_fraction": 0.2})
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(config), "--fold", "2", "--exp-dir", str(exp)]) == 0
    bundle = load_for_inference(exp)
    cache = FeatureCache(tone_cache)
    idx = np.flatnonzero(cache.folds == 2)
    cfg = bundle.config.eval
    whole = clip_outputs(bundle.model, bundle.classifier, cache, idx, bundle.mean, bundle.std,
                        cfg, torch.device("cpu"))
    # one window covering the whole 51-frame clip is the whole-clip score
    cfg.mode, cfg.window_frames, cfg.hop_frames = "sliding", 51, 10
    same = clip_outputs(bundle.model, bundle.classifier, cache, idx, bundle.mean, bundle.std,
                       cfg, torch.device("cpu"))
    torch.testing.assert_close(same, whole, atol=1e-5, rtol=1e-5)
    # two windows (frames 0-31, 19-50): the mean of the two windows' scores
    cfg.window_frames, cfg.hop_frames = 32, 32
    two = clip_outputs(bundle.model, bundle.classifier, cache, idx[:1], bundle.mean, bundle.std,
                      cfg, torch.device("cpu"))
    clip = (torch.tensor(np.asarray(cache[int(idx[0])])) - torch.from_numpy(bundle.mean)) \
        / torch.from_numpy(bundle.std)
    with torch.no_grad():
        ref = bundle.classifier(bundle.model(torch.stack([clip[:32], clip[19:]]))).mean(0)
    torch.testing.assert_close(two[0], ref, atol=1e-5, rtol=1e-5)


def test_loss_state_counts_training_steps_only(tmp_path: Path, tone_cache: Path) -> None:
    """A-Softmax anneals per training forward: validation must not advance it."""
    config = write_config(tmp_path / "conf.yaml", tone_cache, train={"epochs": 2},
                          loss={"name": "a_softmax", "scale": 20.0, "margin": 2},
                          augment={"mixup_alpha": 0.0})
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    assert int(state["loss"]["iteration"]) == 2 * 6  # 48 training clips / batch 8, 2 epochs
    assert state["progress"]["global_step"] == 12
