"""`audiocs evaluate` with several experiment folders: an ensemble whose class scores are the mean
of its members', checked against each member scored on its own; members that do not agree are
named."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_config

from audiocs.cache import FeatureCache
from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.evaluate import evaluate_experiment
from audiocs.runner import clip_outputs, load_for_inference


def _train(tmp_path: Path, cache: Path, name: str, **sections) -> Path:
    train = {"epochs": 1, **sections.pop("train", {})}
    config = write_config(tmp_path / f"{name}.yaml", cache, train=train, **sections)
    exp = tmp_path / name
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    return exp


def _scores(exp: Path) -> tuple[torch.Tensor, np.ndarray]:
    """One member's test scores, computed here without `evaluate`: (N, C) scores, (N,) labels."""
    b = load_for_inference(exp, prefer="last.pt")
    cache = FeatureCache(b.config.data.cache_dir)
    idx = cache.splits(b.config.data, b.config.train.seed).get("test")
    return (clip_outputs(b.model, b.classifier, cache, idx, b.mean, b.std, b.config.eval,
                         torch.device("cpu")), cache.labels[idx])


@pytest.mark.slow
def test_ensemble_averages_the_members_scores(tmp_path: Path, tone_cache: Path):
    members = [_train(tmp_path, tone_cache, f"seed{s}", train={"seed": s}) for s in (0, 1, 2)]
    out = tmp_path / "ensemble"
    assert main(["evaluate", "--exp-dir", *map(str, members), "--checkpoint", "last.pt",
                 "--out", str(out)]) == 0
    each = [_scores(m) for m in members]
    labels = each[0][1]
    mean = torch.stack([s for s, _ in each]).mean(dim=0)
    assert not torch.equal(each[0][0], each[1][0])  # different seeds, different models
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(float(np.mean(mean.argmax(1).numpy() == labels)))
    assert metrics["ensemble"] == [str(m / "checkpoints" / "last.pt") for m in members]
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(labels) == metrics["clips"]
    top = mean.max(dim=1).values.numpy()
    np.testing.assert_allclose([float(r["score1"]) for r in rows], top, atol=2e-6)
    # one folder is the plain evaluation, written where it always was
    single = evaluate_experiment(members[0], checkpoint="last.pt")
    assert single.out_dir == members[0] / "eval" / "test"
    assert single.accuracy == pytest.approx(float(np.mean(each[0][0].argmax(1).numpy() == labels)))
    assert "ensemble" not in json.loads((single.out_dir / "metrics.json").read_text())
    # without --out an ensemble goes beside the first member's own evaluation
    default = evaluate_experiment(members[:2], checkpoint="last.pt")
    assert default.out_dir == members[0] / "eval" / "test_ensemble"


@pytest.mark.slow
def test_ensemble_members_must_agree(tmp_path: Path, tone_cache: Path):
    base = _train(tmp_path, tone_cache, "base")
    softmax = _train(tmp_path, tone_cache, "softmax",
                     loss={"name": "softmax", "scale": None, "margin": None})
    other_fold = tmp_path / "fold2"
    config = write_config(tmp_path / "fold2.yaml", tone_cache, train={"epochs": 1})
    assert main(["train", "--config", str(config), "--fold", "2", "--exp-dir", str(other_fold)]) == 0
    with pytest.raises(AudiocsError, match=r"softmax.*loss softmax, but .*base.* has cs_softmax"):
        evaluate_experiment([base, softmax], checkpoint="last.pt")
    with pytest.raises(AudiocsError, match=r"fold2: its split is not the clips of .*base"):
        evaluate_experiment([base, other_fold], checkpoint="last.pt")
    with pytest.raises(AudiocsError, match="no experiment folder"):
        evaluate_experiment([], checkpoint="last.pt")
