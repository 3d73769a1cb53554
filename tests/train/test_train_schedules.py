"""LR and margin schedules against closed-form values; the deterministic batch sampler."""

from __future__ import annotations

import math

import pytest
import torch

from audiocs.distributed import EpochBatchSampler
from audiocs.errors import AudiocsError
from audiocs.losses import create_loss
from audiocs.train.schedules import LRSchedule, MarginSchedule


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=123.0)


def test_warmup_then_cosine() -> None:
    opt = _opt()
    s = LRSchedule(opt, 0.1, 10, warmup_epochs=2, warmup_start=0.1, decay="cosine", min_lr=0.01)
    assert s.step(0) == pytest.approx(0.01)
    assert s.step(1) == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert s.step(2) == pytest.approx(0.1)
    assert s.step(6) == pytest.approx(0.01 + 0.045 * (1 + math.cos(math.pi * 0.5)))
    assert s.step(10) == pytest.approx(0.01)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_step_decay_and_state() -> None:
    opt = _opt()
    s = LRSchedule(opt, 1.0, 10, decay="step", step_epochs=[3, 6], gamma=0.5)
    assert [s.step(t) for t in (0, 2.9, 3, 5.5, 6, 9)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    s.step(4.0)
    other = LRSchedule(_opt(), 1.0, 10, decay="step", step_epochs=[3, 6], gamma=0.5)
    other.load_state_dict(s.state_dict())
    assert other.optimizer.param_groups[0]["lr"] == pytest.approx(0.5)


def test_margin_ramp_drives_set_margin() -> None:
    loss = create_loss("am_softmax", margin=0.4)
    s = MarginSchedule(loss, start_epoch=1, ramp_epochs=2)
    values = []
    for t in (0, 1, 1.5, 2, 3, 5):
        s.step(t)
        values.append(loss.margin)
    assert values == pytest.approx([0, 0, 0.1, 0.2, 0.4, 0.4])
    cs = create_loss("cs_softmax", margin=0.2)  # its "no margin" point is m = 0.5
    MarginSchedule(cs, ramp_epochs=4).step(2)
    assert cs.margin == pytest.approx(0.35)
    plain = create_loss("softmax")
    MarginSchedule(plain, ramp_epochs=4).step(1)  # no margin to schedule: ignored
    assert plain.margin == 0


def test_sampler_ranks_partition_the_global_batches_and_skip() -> None:
    full = EpochBatchSampler(10, 4, seed=3)
    full.set_epoch(2)
    batches = list(full)
    assert len(batches) == 2 and all(len(b) == 4 for b in batches)
    assert len(set(sum(batches, []))) == 8
    ranks = [EpochBatchSampler(10, 4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(2)
    assert [a + b for a, b in zip(*ranks)] == batches
    full.set_epoch(2, skip=1)
    assert list(full) == batches[1:]
    full.set_epoch(3)
    assert list(full) != batches
    with pytest.raises(AudiocsError, match="divisible"):
        EpochBatchSampler(10, 3, seed=0, world_size=2)
