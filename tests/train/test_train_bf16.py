"""bf16 autocast in training on the CPU: it trains, keeps float32 weights, and warns where the CPU
would only emulate bf16."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from helpers import write_config

from audiocs import runner
from audiocs.checkpoint import load_checkpoint
from audiocs.config import load_config
from audiocs.train import loop
from audiocs.train.loop import train

SECTIONS = {"train": {"epochs": 3, "checkpoint_every_steps": 0, "amp": "bf16"},
            "augment": {"mixup_alpha": 0.0}, "margin_schedule": {"start_epoch": 0, "ramp_epochs": 0}}


@pytest.mark.parametrize("avx512_bf16, amx, native", [(True, False, True), (False, True, True),
                                                     (False, False, False)])
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, avx512_bf16, amx, native) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert runner.cpu_has_native_bf16() is native


def test_a_cpu_without_the_attribute_is_not_native(monkeypatch) -> None:
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert runner.cpu_has_native_bf16() is False


def _train(tmp_path: Path, cache: Path, name: str) -> list[dict]:
    config = write_config(tmp_path / "conf.yaml", cache, **SECTIONS)
    torch.set_num_threads(1)
    train(load_config(config, ["data.test_folds=[1]", "train.device=cpu"]), tmp_path / name)
    lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_bf16_training_learns_keeps_float32_weights_and_warns_only_when_emulated(
        tmp_path: Path, tone_cache: Path, monkeypatch) -> None:
    threads = torch.get_num_threads()
    try:
        monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: False)
        with pytest.warns(UserWarning, match="no native bf16"):
            history = _train(tmp_path, tone_cache, "emulated")
        monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _train(tmp_path, tone_cache, "native")
        assert not [w for w in caught if "bf16" in str(w.message)]
    finally:
        torch.set_num_threads(threads)
    # the tone corpus (4 classes, chance 0.25) is learnt under autocast
    assert history[-1]["train_acc"] > 0.6 and history[-1]["valid_acc"] > 0.6
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    state = load_checkpoint(tmp_path / "emulated" / "checkpoints" / "last.pt")
    floats = [v for part in ("model", "classifier") for v in state[part].values()
              if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)
