"""TensorBoard logging of a training run (`train.tensorboard: true`), by rank 0 into EXP/tensorboard/.

Every finished epoch adds the numbers of its metrics.jsonl record as scalars at step = epoch
(1-based, as in the record): `train_loss` -> `train/loss`, `valid_acc` -> `valid/acc`, the cosine
statistics under `cosine/`, `lr` and `margin` under `schedule/`, anything else under `epoch/`.
A run (fresh or resumed) opens its writer with `purge_step` = the first epoch it will log, so
TensorBoard drops whatever an interrupted run wrote from that epoch on and no step appears twice.
At the end the best checkpoint embeds the test clips (the validation clips when there is no
test split) for the projector, L2-normalized, with their class names as metadata.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiocs.cache import FeatureCache
from audiocs.config import Config
from audiocs.distributed import DistContext
from audiocs.errors import AudiocsError
from audiocs.experiment import BEST, TENSORBOARD
from audiocs.runner import clip_outputs, load_for_inference
from audiocs.splits import Splits
from audiocs.train.stats import STAT_KEYS

LOG_DIR = TENSORBOARD


def scalar_tag(key: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key (`train_acc` -> `train/acc`, `lr` -> `schedule/lr`)."""
    prefix, _, rest = key.partition("_")
    if prefix in ("train", "valid") and rest:
        return f"{prefix}/{rest}"
    if key in STAT_KEYS:
        return f"cosine/{key}"
    if key in ("lr", "margin"):
        return f"schedule/{key}"
    return f"epoch/{key}"


def summary_writer_class() -> type:
    """torch's SummaryWriter; an AudiocsError naming the extra when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AudiocsError("train.tensorboard = true needs the tensorboard package: "
                           "pip install audiocs[tensorboard]") from None
    return SummaryWriter


class TensorBoardLog:
    """Rank 0's writer: per-epoch scalars, then the projector's embeddings; see the module doc."""

    def __init__(self, exp: Path, first_epoch: int, cfg: Config, device: torch.device) -> None:
        self.exp, self.log_dir = exp, exp / LOG_DIR
        self.cfg, self.device = cfg, device
        self.writer = summary_writer_class()(str(self.log_dir), purge_step=first_epoch)

    def log_epoch(self, record: dict[str, Any]) -> None:
        """The record's numbers (all but `epoch`) as scalars at step `record["epoch"]`."""
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(scalar_tag(key), value, step)
        self.writer.flush()

    def finish(self, cache: FeatureCache, splits: Splits) -> None:
        """Write the best checkpoint's test (else validation) embeddings for the projector; close."""
        split, rows = ("test", splits.test) if splits.test.size else ("valid", splits.valid)
        if rows.size:
            bundle = load_for_inference(self.exp, prefer=BEST, device=self.device)
            emb = clip_outputs(bundle.model, nn.Identity(), cache, rows, bundle.mean, bundle.std,
                              self.cfg.eval, self.device, self.cfg.train.amp)
            names = [bundle.class_names[int(c)] for c in cache.labels[rows]]
            # the writer's own folder for (step, tag); a resume of a finished run rewrites it
            shutil.rmtree(self.log_dir / f"{bundle.epoch:05d}" / split, ignore_errors=True)
            self.writer.add_embedding(F.normalize(emb, dim=1), metadata=names, tag=split,
                                      global_step=bundle.epoch)
        self.writer.close()


def open_tensorboard(cfg: Config, exp: Path, ctx: DistContext,
                     epochs_done: int) -> TensorBoardLog | None:
    """Rank 0's log when `train.tensorboard` is on, else None; every rank checks the package."""
    if not cfg.train.tensorboard:
        return None
    summary_writer_class()
    return TensorBoardLog(exp, epochs_done + 1, cfg, ctx.device) if ctx.is_main else None
