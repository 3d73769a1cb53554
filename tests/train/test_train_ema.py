"""train.ema_decay: the weight average against its closed form, swapping it in and out, what
validation reads and the checkpoints hold, and an exact resume of an averaged run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import write_config
from torch import nn

from audiocs.checkpoint import load_checkpoint
from audiocs.config import load_config
from audiocs.errors import AudiocsError
from audiocs.train import loop
from audiocs.train.ema import WeightEMA, ema_decay


def test_average_matches_its_closed_form_and_copies_integer_buffers() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = WeightEMA(net, decay=0.9)
    ref = {k: v.double().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
    history = []
    for n in range(1, 31):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()
        net(torch.randn(8, 3))  # moves BatchNorm's running statistics and its batch counter
        ema.update(net)
        history.append({k: v.double().clone() for k, v in net.state_dict().items()})
        if n == 10:  # the first 1 / (1 - decay) updates: the plain mean of the weights so far
            for k in ref:
                mean = sum(h[k] for h in history) / 10
                assert torch.allclose(ema.shadow[k].double(), mean, atol=1e-6), k
        d = min(0.9, 1 - 1 / n)
        for k in ref:
            ref[k] = d * ref[k] + (1 - d) * net.state_dict()[k].double()
    for k in ref:
        assert torch.allclose(ema.shadow[k].double(), ref[k], atol=1e-6), k
    assert int(ema.shadow["1.num_batches_tracked"]) == 30
    assert not torch.allclose(ema.shadow["0.weight"], net[0].weight)  # an average, not a copy
    assert ema_decay(0.9, 1) == 0.0  # the first update copies the weights
    assert ema_decay(0.9, 5) == pytest.approx(0.8)
    assert ema_decay(0.9, 1000) == 0.9


def test_applied_swaps_the_average_in_and_the_live_weights_back_even_on_error() -> None:
    net = nn.Linear(3, 2)
    ema = WeightEMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)  # the first update copies
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    with ema.applied(net):
        assert torch.equal(net.weight, start)
    assert torch.equal(net.weight, start + 1.0)
    with pytest.raises(RuntimeError), ema.applied(net):
        raise RuntimeError("inside")
    assert torch.equal(net.weight, start + 1.0)


def test_decay_outside_the_open_interval_is_refused(tmp_path: Path, tone_cache: Path) -> None:
    with pytest.raises(ValueError, match="ema_decay"):
        WeightEMA(nn.Linear(2, 2), decay=1.0)
    config = write_config(tmp_path / "conf.yaml", tone_cache, train={"ema_decay": 1.0})
    with pytest.raises(AudiocsError, match=r"train.ema_decay = 1.0 must be in \[0, 1\)"):
        load_config(config)


SECTIONS = {"data": {"batch_size": 4},
            "train": {"epochs": 2, "checkpoint_every_steps": 3, "ema_decay": 0.9}}
STEPS = 12  # 48 training clips of the tone corpus (previous_fold validation) / batch 4


def test_validation_and_checkpoints_use_the_average_and_resume_is_exact(
        tmp_path: Path, tone_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write_config(tmp_path / "conf.yaml", tone_cache, **SECTIONS),
                      ["data.test_folds=[1]"])
    seen: list[dict[str, torch.Tensor]] = []
    outputs = loop.clip_outputs

    def spy(model, head, *args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return outputs(model, head, *args, **kwargs)

    monkeypatch.setattr(loop, "clip_outputs", spy)
    loop.train(cfg, tmp_path / "straight")
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert a["ema"] == {"decay": 0.9, "updates": 2 * STEPS}
    assert len(seen) == 2  # one validation per epoch, on the averaged weights of that epoch
    for k, v in a["model"].items():
        assert torch.equal(seen[-1][k], v), k
    assert any(not torch.equal(v, a["live"]["model"][k]) for k, v in a["model"].items()
               if v.is_floating_point())

    step = loop.Trainer.train_step
    calls = {"n": 0}

    def crash(self, batch, seed):
        calls["n"] += 1
        if calls["n"] == STEPS + 5:  # in epoch 2, after last.pt was saved at its batch 3
            raise KeyboardInterrupt
        return step(self, batch, seed)

    monkeypatch.setattr(loop.Trainer, "train_step", crash)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, tmp_path / "crashed")
    mid = load_checkpoint(tmp_path / "crashed" / "checkpoints" / "last.pt")
    assert (mid["epoch"], mid["step"], mid["ema"]["updates"]) == (1, 3, STEPS + 3)
    monkeypatch.setattr(loop.Trainer, "train_step", step)
    loop.train(cfg, tmp_path / "crashed", resume=True)
    b = load_checkpoint(tmp_path / "crashed" / "checkpoints" / "last.pt")
    assert b["ema"] == a["ema"]
    for x, y in ((a, b), (a["live"], b["live"])):
        for part in ("model", "classifier"):
            for k in x[part]:
                assert torch.allclose(x[part][k].double(), y[part][k].double(), atol=1e-5), k
