"""Running a trained model: the device, autocast, loading a checkpoint for inference, and the
model's outputs over the clips of a cache (class scores or embeddings).

Training (validation passes), ``audiocs evaluate``, ``audiocs embed``, ``audiocs predict``,
``audiocs export`` and ``audiocs.load`` all go through this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from audiocs.checkpoint import (build_modules, check_meta, find_checkpoint, load_checkpoint,
                                load_weights)
from audiocs.config import Config, EvalConfig, config_from_dict
from audiocs.data import crop_clip, sliding_windows
from audiocs.errors import AudiocsError
from audiocs.experiment import BEST
from audiocs.features import FeatureSettings
from audiocs.losses import ClassificationLoss

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class ClipSource(Protocol):
    """What the runner reads: ``[i]`` -> clip i's (T, F) frames, and ``lengths`` (N,)."""

    lengths: np.ndarray

    def __getitem__(self, index: int) -> np.ndarray: ...


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda:local_rank when available else cpu; otherwise torch.device(name)."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AudiocsError(f"device {name!r}: CUDA is not available")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 autocast trains
    about twice as fast as float32; elsewhere it is emulated and usually slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """torch.autocast for `amp` in none|bf16|fp16 (a no-op for none)."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class InferenceBundle:
    """A trained model ready for inference: model (eval mode), classifier, loss, and what the
    input must look like (feature settings, normalization mean/std (F,) float32)."""

    model: nn.Module
    classifier: nn.Module
    loss: ClassificationLoss
    loss_name: str
    class_names: list[str]
    settings: FeatureSettings
    mean: np.ndarray
    std: np.ndarray
    config: Config | None  # the training config saved in the checkpoint
    checkpoint: Path
    epoch: int


def load_for_inference(exp_dir_or_ckpt: str | Path, *, prefer: str = BEST,
                       device: str | torch.device = "cpu") -> InferenceBundle:
    """Load best.pt (else last.pt) of an experiment folder, or a given .pt file, onto ``device``
    (``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a torch.device)."""
    device = resolve_device(str(device))
    path = find_checkpoint(exp_dir_or_ckpt, prefer)
    state = load_checkpoint(path)
    check_meta(state, path)
    meta = state["meta"]
    model, classifier, loss = build_modules(meta, str(path))
    load_weights(model, state["model"], path, "model")
    load_weights(classifier, state["classifier"], path, "classifier")
    cfg = config_from_dict(state["config"], str(path)) if state.get("config") else None
    model.to(device, memory_format=torch.channels_last).eval()  # faster convolutions
    classifier.to(device).eval()
    return InferenceBundle(
        model=model, classifier=classifier, loss=loss, loss_name=meta["loss_name"],
        class_names=list(meta["class_names"]),
        settings=FeatureSettings.from_dict(meta["feature_settings"]),
        mean=meta["mean"].numpy(), std=meta["std"].numpy(), config=cfg, checkpoint=path,
        epoch=int(state["epoch"]))


def _clip_inputs(cache: ClipSource, index: int, mean: np.ndarray, std: np.ndarray,
                 cfg: EvalConfig, min_frames: int) -> torch.Tensor:
    """One clip as model input windows (N, T, F): one whole clip, or its sliding windows."""
    clip = cache[index]
    if clip.shape[0] < min_frames:
        clip = crop_clip(clip, 0, min_frames)  # repeat a very short clip to the model's minimum
    frames = torch.from_numpy((np.asarray(clip, np.float32) - mean) / std)
    if cfg.mode == "sliding":
        return sliding_windows(frames, max(cfg.window_frames, min_frames), cfg.hop_frames)
    return frames[None]


def _batches(cache: ClipSource, indices: np.ndarray, cfg: EvalConfig
             ) -> Iterator[list[int]]:
    """Positions into `indices`, grouped so a whole-clip batch holds clips of one length."""
    if cfg.mode == "sliding":
        for i in range(len(indices)):
            yield [i]
        return
    lengths = np.asarray(cache.lengths)[indices]
    for length in np.unique(lengths):
        same = np.flatnonzero(lengths == length).tolist()
        for start in range(0, len(same), cfg.batch_size):
            yield same[start:start + cfg.batch_size]


@torch.no_grad()
def clip_outputs(model: nn.Module, head: nn.Module, cache: ClipSource, indices: np.ndarray,
                 mean: np.ndarray, std: np.ndarray, cfg: EvalConfig, device: torch.device,
                 amp: str = "none") -> torch.Tensor:
    """``head(model(x))`` of each clip of `indices`, (N, D) float32, the mean over a clip's
    sliding windows in sliding mode: class scores (N, C) when ``head`` is the classifier,
    embeddings (N, E) when it is ``nn.Identity()``. Inputs are normalized with mean/std."""
    was_training = model.training, head.training
    model.eval()
    head.eval()
    out: list[torch.Tensor | None] = [None] * len(indices)
    for positions in _batches(cache, indices, cfg):
        windows = [_clip_inputs(cache, int(indices[p]), mean, std, cfg, model.min_frames)
                   for p in positions]
        with autocast(device, amp):
            outputs = head(model(torch.cat(windows).to(device))).float().cpu()
        for p, part in zip(positions, outputs.split([len(w) for w in windows])):
            out[p] = part.mean(dim=0)
    model.train(was_training[0])
    head.train(was_training[1])
    if not out:
        return torch.zeros(0, 0)
    return torch.stack(out)  # type: ignore[arg-type]
