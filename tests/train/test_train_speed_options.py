"""Training options that change speed but not results: persistent DataLoader workers (the epoch
travels in the sampled keys) and channels-last convolution weights."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_config
from torch.utils.data import DataLoader

from audiocs.cache import FeatureCache
from audiocs.checkpoint import load_checkpoint
from audiocs.config import load_config
from audiocs.data import ClipDataset, collate_clips
from audiocs.distributed import EpochBatchSampler
from audiocs.models import create_model, list_models
from audiocs.runner import load_for_inference
from audiocs.train.loop import train

SECTIONS = {"train": {"epochs": 2, "checkpoint_every_steps": 0},
            "augment": {"mixup_alpha": 0.0}}


def _weights(exp: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    return {f"{part}.{k}": v for part in ("model", "classifier") for k, v in state[part].items()}


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_epoch_keys_give_the_crops_of_set_epoch(tone_cache: Path) -> None:
    cache = FeatureCache(tone_cache)
    ds = ClipDataset(cache, np.arange(10), crop_frames=16, train=True, seed=4)
    for epoch in (0, 3):
        keyed = [ds[(epoch, i)]["features"] for i in range(10)]
        ds.set_epoch(epoch)
        assert all(torch.equal(k, ds[i]["features"]) for i, k in enumerate(keyed))
    assert not all(torch.equal(ds[(0, i)]["features"], ds[(3, i)]["features"]) for i in range(10))


def test_persistent_workers_crop_each_epoch_like_the_main_process(tone_cache: Path) -> None:
    cache = FeatureCache(tone_cache)
    ds = ClipDataset(cache, np.arange(len(cache)), crop_frames=16, train=True, seed=1)
    sampler = EpochBatchSampler(len(ds), 8, seed=2, with_epoch=True)
    runs = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_clips,
                            num_workers=workers, persistent_workers=workers > 0)
        epochs = []
        for epoch in range(3):  # the same worker processes serve all three epochs
            sampler.set_epoch(epoch)
            epochs.append(torch.cat([b["features"] for b in loader]))
        runs.append(epochs)
    for main_process, workers in zip(*runs):
        assert torch.equal(main_process, workers)
    assert not torch.equal(runs[1][0], runs[1][1])  # new crops (and order) every epoch


@pytest.mark.parametrize("name", list_models())
def test_channels_last_model_computes_the_same_forward_and_backward(name: str) -> None:
    # in float64, so that the comparison sees the computation, not the rounding of the
    # convolution algorithm (in float32 the deep ResNets' first-layer gradients differ ~1e-3)
    torch.manual_seed(0)
    size = {"channels": 16, "scale": 4} if name.startswith("ecapa") else {"width": 8}
    model = create_model(name, n_features=32, embed_dim=16, **size).train().double()
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    conv = next((m for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1),
                None)
    if conv is None:  # 1-D convolutions only (ECAPA-TDNN): channels_last leaves every weight as is
        assert all(p.dim() < 4 and p.is_contiguous() for p in nhwc.parameters())
    else:
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()
    x = torch.randn(4, 40, 32, dtype=torch.float64)
    outputs = []
    for net in (model, nhwc):
        torch.manual_seed(1)  # dropout
        out = net(x)
        out.square().sum().backward()
        outputs.append(out.detach())
    assert torch.allclose(outputs[0], outputs[1], rtol=1e-10, atol=1e-10)
    for (key, a), b in zip(model.named_parameters(), nhwc.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-9, atol=1e-10), key


@pytest.mark.slow
def test_workers_and_channels_last_in_training(tmp_path: Path, tone_cache: Path) -> None:
    config = write_config(tmp_path / "conf.yaml", tone_cache, **SECTIONS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {}
        for name, overrides in {"plain": ["train.channels_last=false"],
                                "workers": ["train.channels_last=false", "data.num_workers=2"],
                                "channels_last": ["train.channels_last=true",
                                                  "train.epochs=1"]}.items():
            train(load_config(config, ["data.test_folds=[1]", *overrides]), tmp_path / name)
            runs[name] = _weights(tmp_path / name)
    finally:
        torch.set_num_threads(threads)
    # the same batches, crops and arithmetic whether 0 or 2 (persistent) workers load them
    assert _max_diff(runs["plain"], runs["workers"]) == 0.0
    bundle = load_for_inference(tmp_path / "channels_last")  # inference models are NHWC too
    conv = [m for m in bundle.model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
