"""DDP: `torchrun --nproc_per_node=2` (gloo, CPU) matches one process on the same global batch.

BatchNorm would make the two differ (each rank normalizes its half batch; SyncBatchNorm, which
`train.sync_batchnorm` turns on under DDP, has no CPU kernel), so this test registers a
BatchNorm-free model in the launched script; augmentation is off because SpecAugment and mixup
draw per-rank random numbers. Everything else (order, crops, gradients averaged over ranks)
must agree to float tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_config

from audiocs.checkpoint import load_checkpoint

SCRIPT = '''
import sys
import torch
from torch import nn
from audiocs.cli import main
from audiocs.models import EmbeddingModel, register_model


class FrameMLP(EmbeddingModel):
    """Per-frame MLP, then mean and max over time: (B, T, F) -> (B, embed_dim); no BatchNorm."""

    def __init__(self, n_features: int, embed_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.n_features, self.embed_dim, self.min_frames = n_features, embed_dim, 1
        self.frame = nn.Sequential(nn.Linear(n_features, width), nn.ReLU())
        self.out = nn.Linear(2 * width, embed_dim)

    def _embed(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        h = self.frame(x)  # the training crops are never padded
        return self.out(torch.cat([h.mean(1), h.amax(1)], 1))


@register_model
def frame_mlp(n_features: int, embed_dim: int = 16, width: int = 32) -> FrameMLP:
    return FrameMLP(n_features, embed_dim, width)


sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path: Path, tone_cache: Path) -> None:
    script = tmp_path / "run_train.py"
    script.write_text(SCRIPT)
    config = write_config(tmp_path / "conf.yaml", tone_cache,
                          model={"name": "frame_mlp", "embed_dim": 16},
                          augment={"specaugment": False, "mixup_alpha": 0.0},
                          data={"batch_size": 8}, optim={"lr": 0.1},
                          train={"epochs": 2, "checkpoint_every_steps": 2})
    args = ["train", "--config", str(config), "--fold", "1", "--exp-dir"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # stacks on a crash
    one = subprocess.run([sys.executable, str(script), *args, str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", str(script), *args, str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("epoch=") == 2  # only rank 0 reports (and writes)

    a = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["progress"]["global_step"] == 12
    assert b["progress"]["global_step"] == 12  # 6 global batches of 8 per epoch in both
    for part in ("model", "classifier"):
        for key in a[part]:
            assert (a[part][key] - b[part][key]).abs().max() < 1e-5, key
    assert a["progress"]["best_epoch"] == b["progress"]["best_epoch"]
    ha = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    for ra, rb in zip(ha, hb, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)
        assert ra["train_acc"] == pytest.approx(rb["train_acc"], abs=1e-9)
        assert ra["valid_acc"] == pytest.approx(rb["valid_acc"], abs=1e-9)
