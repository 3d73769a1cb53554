"""The checkpoint file: what it holds (written by `training_state`, checked by `check_meta`,
side by side), atomic save, `weights_only` load, RNG states, and the modules rebuilt from it.

A checkpoint is a dict of tensors and plain values (so `torch.load(weights_only=True)` reads
it): weights of model, classifier and loss; optimizer, scaler and schedule states; the position
`epoch` (epochs finished) and `step` (batches done within that epoch); RNG states; the training
config as a plain dict; and `meta`, what is needed to rebuild the model without the config
(names, arguments, classes, feature settings, normalization stats). With `train.ema_decay`
the model and classifier weights are the moving average, and `live` and `ema` hold the trained
weights and the average's counter (`Trainer.checkpoint`). `audiocs.runner` loads one for
inference.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiocs import __version__
from audiocs.config import Config
from audiocs.errors import AudiocsError
from audiocs.experiment import BEST, CHECKPOINT_DIR, LAST
from audiocs.features import FeatureSettings
from audiocs.fileio import atomic_path
from audiocs.losses import ClassificationLoss, create_classifier, create_loss
from audiocs.models import create_model

# Layout of `meta` and of the weights; bump when a checkpoint of the old layout cannot be read.
CHECKPOINT_FORMAT = 1
META_FIELDS = ("format", "audiocs_version", "model_name", "model_args", "loss_name", "loss_args",
               "class_names", "feature_settings", "mean", "std")


# --- RNG states as tensors / plain values ------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, numpy (legacy global) and torch (CPU and CUDA) RNG states, weights_only-safe."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- save / load ---------------------------------------------------------------------------


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` atomically (temporary sibling, then rename): a kill never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; a missing or corrupt file is an AudiocsError."""
    path = Path(path)
    if not path.is_file():
        raise AudiocsError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile,
            pickle.UnpicklingError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AudiocsError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict) or "meta" not in state or "model" not in state:
        raise AudiocsError(f"{path}: not an audiocs training checkpoint")
    return state


def find_checkpoint(exp_dir_or_ckpt: str | Path, prefer: str = BEST) -> Path:
    """A .pt file as given, or exp_dir/checkpoints/{prefer} (falling back to last.pt)."""
    path = Path(exp_dir_or_ckpt)
    if path.is_file():
        return path
    folder = path / CHECKPOINT_DIR
    for name in (prefer, LAST):
        if (folder / name).is_file():
            return folder / name
    raise AudiocsError(f"{path}: no checkpoint found (expected {folder / prefer})")


# --- the model from a checkpoint's meta ------------------------------------------------------


def model_meta(cfg: Config, *, n_features: int, class_names: list[str],
               settings: FeatureSettings, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """What a checkpoint must hold to rebuild model and classifier without the cache."""
    return {
        "format": CHECKPOINT_FORMAT,
        "audiocs_version": __version__,
        "model_name": cfg.model.name,
        "model_args": {"n_features": int(n_features), "embed_dim": int(cfg.model.embed_dim),
                       **dict(cfg.model.kwargs)},
        "loss_name": cfg.loss.name,
        "loss_args": loss_args(cfg),
        "class_names": list(class_names),
        "feature_settings": settings.to_dict(),
        "mean": torch.as_tensor(np.asarray(mean, dtype=np.float32)),
        "std": torch.as_tensor(np.asarray(std, dtype=np.float32)),
    }


def loss_args(cfg: Config) -> dict[str, Any]:
    """Keyword arguments for `create_loss` from the loss section (None values left out)."""
    args = {k: v for k, v in (("scale", cfg.loss.scale), ("margin", cfg.loss.margin))
            if v is not None}
    return {**args, **dict(cfg.loss.params)}


def build_modules(meta: dict[str, Any], source: str = "config"
                  ) -> tuple[nn.Module, nn.Module, ClassificationLoss]:
    """Model, classifier and loss from `meta`; bad names or arguments name `source`."""
    try:
        model = create_model(meta["model_name"], **meta["model_args"])
    except (KeyError, ValueError, TypeError) as err:
        raise AudiocsError(f"{source}: model {meta['model_name']!r} with {meta['model_args']} "
                           f"(model.name / model.kwargs): {str(err).strip(chr(34))}") from None
    try:
        loss = create_loss(meta["loss_name"], **meta["loss_args"])
        classifier = create_classifier(meta["loss_name"], int(meta["model_args"]["embed_dim"]),
                                       len(meta["class_names"]))
    except (KeyError, ValueError, TypeError) as err:
        raise AudiocsError(f"{source}: loss {meta['loss_name']!r} with {meta['loss_args']} "
                           f"(loss section): {str(err).strip(chr(34))}") from None
    return model, classifier, loss


def training_state(*, meta: dict[str, Any], epoch: int, step: int, progress: dict[str, Any],
                   model: nn.Module, classifier: nn.Module, loss: ClassificationLoss,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   lr_schedule: Any, margin_schedule: Any, seeds: dict[str, int],
                   config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict of a training run (the RNG states are taken now); `check_meta` is
    what a reader requires of it."""
    return {
        "format": CHECKPOINT_FORMAT, "epoch": epoch, "step": step, "progress": progress,
        "meta": meta, "model": model.state_dict(), "classifier": classifier.state_dict(),
        "loss": loss.state_dict(), "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(), "lr_schedule": lr_schedule.state_dict(),
        "margin_schedule": margin_schedule.state_dict(), "rng": rng_state(), "seeds": seeds,
        "config": config,
    }


def check_meta(state: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint with missing fields or another format than this audiocs reads."""
    missing = [k for k in ("model", "classifier", "epoch") if k not in state]
    missing += [f"meta.{k}" for k in META_FIELDS if k not in state["meta"]]
    if missing:
        raise AudiocsError(f"{path}: checkpoint lacks {', '.join(missing)} (damaged, or not "
                           f"written by audiocs {__version__})")
    meta = state["meta"]
    if meta["format"] != CHECKPOINT_FORMAT:
        raise AudiocsError(f"{path}: checkpoint format {meta['format']!r} (written by audiocs "
                           f"{meta['audiocs_version']}), this audiocs {__version__} reads format "
                           f"{CHECKPOINT_FORMAT}")
    n = meta["model_args"].get("n_features")
    shapes = {k: tuple(meta[k].shape) for k in ("mean", "std") if isinstance(meta[k], torch.Tensor)}
    if shapes != {"mean": (n,), "std": (n,)}:
        raise AudiocsError(f"{path}: normalization stats {shapes} do not fit {n} features")


def check_compatible(meta: dict[str, Any], expected: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint made for another model, loss, feature size or class list."""
    for key in ("model_name", "model_args", "loss_name", "class_names"):
        if meta[key] != expected[key]:
            what = key.replace("_", " ")
            if key == "class_names" and len(meta[key]) != len(expected[key]):
                raise AudiocsError(f"{path}: checkpoint has {len(meta[key])} classes, the data "
                                   f"has {len(expected[key])}")
            raise AudiocsError(f"{path}: checkpoint {what} is {meta[key]!r}, expected "
                               f"{expected[key]!r}")


def load_weights(module: nn.Module, weights: dict[str, torch.Tensor], path: str | Path,
                 what: str) -> None:
    """`load_state_dict(strict=True)`; a mismatch is an AudiocsError naming the file."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise AudiocsError(f"{path}: {what} weights do not fit the model ({detail})") from None
