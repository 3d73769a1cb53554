"""`train.tensorboard`: per-epoch scalars equal to metrics.jsonl at step = epoch, the projector's
files from the best checkpoint, no step twice after a resume, and the missing-package error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_config

from audiocs.cache import FeatureCache
from audiocs.config import load_config
from audiocs.embed import embed_clips
from audiocs.errors import AudiocsError
from audiocs.experiment import LAST
from audiocs.runner import load_for_inference
from audiocs.train import loop
from audiocs.train.tensorboard import scalar_tag

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# 48 training clips / batch 8 = 6 batches an epoch; test fold 1 (16 clips), valid fold 5
SECTIONS = {"train": {"epochs": 2, "checkpoint_every_steps": 0, "tensorboard": True}}


def _config(tmp_path: Path, cache: Path):
    return load_config(write_config(tmp_path / "conf.yaml", cache, **SECTIONS),
                       ["data.test_folds=[1]"])


def _history(exp: Path) -> list[dict]:
    return [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]


def _scalars(exp: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(exp / "tensorboard"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def _assert_scalars_match(exp: Path) -> None:
    history, scalars = _history(exp), _scalars(exp)
    keys = [k for k in history[0] if k != "epoch"]
    assert {"train_loss", "train_acc", "lr", "margin", "valid_acc", "cos_target",
            "logit_gap"} <= set(keys)
    assert sorted(scalars) == sorted(scalar_tag(k) for k in keys)
    for key in keys:
        logged = scalars[scalar_tag(key)]
        assert [step for step, _ in logged] == [r["epoch"] for r in history] == [1, 2], key
        assert [v for _, v in logged] == pytest.approx([r[key] for r in history], rel=1e-6), key


def test_scalars_equal_metrics_and_projector_holds_best_test_embeddings(
        tmp_path: Path, tone_cache: Path) -> None:
    exp = tmp_path / "exp"
    loop.train(_config(tmp_path, tone_cache), exp)
    _assert_scalars_match(exp)
    assert (scalar_tag("train_acc"), scalar_tag("valid_macro_f1"), scalar_tag("cos_nontarget_max"),
            scalar_tag("margin")) == ("train/acc", "valid/macro_f1", "cosine/cos_nontarget_max",
                                      "schedule/margin")

    board = exp / "tensorboard"
    bundle = load_for_inference(exp)  # best.pt
    folder = board / f"{bundle.epoch:05d}" / "test"
    config = (board / "projector_config.pbtxt").read_text()
    assert f'tensor_path: "{bundle.epoch:05d}/test/tensors.tsv"' in config
    assert f'metadata_path: "{bundle.epoch:05d}/test/metadata.tsv"' in config
    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2)
    assert tensors.shape == (16, 32)  # 16 test clips x embed_dim
    cache = FeatureCache(tone_cache)
    rows = np.flatnonzero(cache.folds == 1)
    names = (folder / "metadata.tsv").read_text().splitlines()
    assert names == [cache.class_names[c] for c in cache.labels[rows]]
    expected = embed_clips(bundle.model, cache, rows, bundle.mean, bundle.std,
                           load_config(exp / "config.yaml").eval, torch.device("cpu"),
                           progress=False)  # what `audiocs embed` gives for the same clips
    np.testing.assert_allclose(tensors, expected, atol=1e-5)


class _Killed(Exception):
    pass


def test_a_resumed_run_logs_every_epoch_once(tmp_path: Path, tone_cache: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, exp = _config(tmp_path, tone_cache), tmp_path / "exp"
    save = loop.save_checkpoint

    def killed_before_last_of_epoch_2(state: dict, path: Path) -> None:
        if Path(path).name == LAST and state["epoch"] == 2:
            raise _Killed  # epoch 2 is in TensorBoard, but last.pt still says epoch 1
        save(state, path)

    monkeypatch.setattr(loop, "save_checkpoint", killed_before_last_of_epoch_2)
    with pytest.raises(_Killed):
        loop.train(cfg, exp)
    monkeypatch.setattr(loop, "save_checkpoint", save)
    assert [s for s, _ in _scalars(exp)["train/loss"]] == [1, 2]
    loop.train(cfg, exp, resume=True)  # runs epoch 2 again
    assert len(list((exp / "tensorboard").glob("events.out.tfevents.*"))) == 2
    _assert_scalars_match(exp)  # step 2 once, with the resumed run's values
    assert (exp / "tensorboard" / "projector_config.pbtxt").is_file()


def test_missing_tensorboard_package_names_the_extra(tmp_path: Path, tone_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises
    with pytest.raises(AudiocsError, match=r"pip install audiocs\[tensorboard\]"):
        loop.train(_config(tmp_path, tone_cache), tmp_path / "exp")
    assert not (tmp_path / "exp" / "tensorboard").exists()


def test_without_a_test_split_the_projector_holds_validation_clips(tmp_path: Path,
                                                                  tone_cache: Path) -> None:
    cfg = load_config(write_config(tmp_path / "conf.yaml", tone_cache, **SECTIONS),
                      ["data.valid_split=fraction", "data.valid_fraction=0.25", "train.epochs=1"])
    exp = tmp_path / "exp"
    loop.train(cfg, exp)
    loop.train(cfg, exp, resume=True)  # finished: only the projector is written again
    config = (exp / "tensorboard" / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 1 and 'tensor_name: "valid:00001"' in config
    names = (exp / "tensorboard" / "00001" / "valid" / "metadata.tsv").read_text().splitlines()
    assert len(names) == 20  # a quarter of each class's 20 clips
    assert [s for s, _ in _scalars(exp)["valid/acc"]] == [1]
