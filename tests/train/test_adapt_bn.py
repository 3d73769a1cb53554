"""BatchNorm adaptation (AdaBN): closed-form running statistics, nothing else changed, errors, and
`audiocs evaluate --adapt-bn` on a trained model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_config
from torch import nn

from audiocs.adapt import adapt_batchnorm, batchnorm_layers
from audiocs.cache import FeatureCache
from audiocs.cli import main
from audiocs.data import crop_clip
from audiocs.errors import AudiocsError
from audiocs.models.registry import create_model


def test_adapted_statistics_are_those_of_the_clips_and_nothing_else_changes(tone_cache: Path):
    cache = FeatureCache(tone_cache)
    torch.manual_seed(0)
    model = create_model("vgg_small", n_features=cache.num_features, embed_dim=8, width=4)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = batchnorm_layers(model)[0]
    momenta = [m.momentum for m in batchnorm_layers(model)]
    idx = np.flatnonzero(cache.folds == 2)[:12]
    mean, std = cache.mean + 0.5, cache.std * 2.0  # not the cache's own: they must be the ones used
    assert adapt_batchnorm(model, cache, idx, mean, std, crop_frames=40, batch_size=4,
                           device=torch.device("cpu")) == 12
    crops = np.stack([(crop_clip(np.asarray(cache[int(i)]), (cache.lengths[i] - 40) // 2, 40) - mean) / std
                      for i in idx])
    with torch.no_grad():  # the first BatchNorm follows the first convolution, which it cannot change
        conv = model.blocks[0].conv1[0](torch.from_numpy(crops).float().transpose(1, 2).unsqueeze(1))
    torch.testing.assert_close(first.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-4)
    assert int(first.num_batches_tracked) == 3 and not model.training
    assert [m.momentum for m in batchnorm_layers(model)] == momenta
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)


def test_adaptation_errors_are_named(tone_cache: Path):
    cache = FeatureCache(tone_cache)
    plain = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(AudiocsError, match="Sequential has no BatchNorm layers"):
        adapt_batchnorm(plain, cache, np.arange(4), cache.mean, cache.std, crop_frames=40, batch_size=2,
                        device=torch.device("cpu"))
    model = create_model("vgg_small", n_features=cache.num_features, embed_dim=8, width=4)
    with pytest.raises(AudiocsError, match="at least 2 clips, got 1"):
        adapt_batchnorm(model, cache, np.arange(1), cache.mean, cache.std, crop_frames=40, batch_size=2,
                        device=torch.device("cpu"))


@pytest.mark.slow
def test_evaluate_adapt_bn_writes_its_own_folder_and_leaves_the_checkpoint(tmp_path: Path, tone_cache: Path):
    config = write_config(tmp_path / "conf.yaml", tone_cache, train={"epochs": 2})
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    ckpt = exp / "checkpoints" / "last.pt"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    common = ["evaluate", "--exp-dir", str(exp), "--checkpoint", "last.pt"]
    assert main(common + ["--adapt-bn", "--out", str(tmp_path / "adapted")]) == 0
    assert main(common) == 0  # the config's eval.adapt_bn (false) into exp/eval/test
    adapted = json.loads((tmp_path / "adapted" / "metrics.json").read_text())
    plain = json.loads((exp / "eval" / "test" / "metrics.json").read_text())
    assert adapted["adapt_bn"] is True and plain["adapt_bn"] is False
    assert adapted["clips"] == plain["clips"] == 16 and adapted["checkpoint"] == plain["checkpoint"] == str(ckpt)
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == digest
    with_config = write_config(tmp_path / "conf2.yaml", tone_cache, train={"epochs": 2}, eval={"adapt_bn": True})
    exp2 = tmp_path / "exp2"
    assert main(["train", "--config", str(with_config), "--fold", "1", "--exp-dir", str(exp2)]) == 0
    assert main(["evaluate", "--exp-dir", str(exp2), "--checkpoint", "last.pt"]) == 0
    from_config = json.loads((exp2 / "eval" / "test" / "metrics.json").read_text())
    assert from_config["adapt_bn"] is True and from_config["accuracy"] == adapted["accuracy"]
