"""The training loop: `train(cfg, exp_dir)` from a feature cache to checkpoints and metrics.

Exact resume: every batch's random numbers (SpecAugment, mixup, dropout) come from a seed of
(train.seed, epoch, batch, rank), crops from (seed, epoch, clip) and the order from
(seed, epoch), so a run resumed from a mid-epoch checkpoint skips the batches already done
and computes the same weights as a run that was never stopped.
"""

from __future__ import annotations

import random
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from audiocs.cache import FeatureCache
from audiocs.checkpoint import (build_modules, check_compatible, find_checkpoint, load_checkpoint,
                                load_weights, model_meta, save_checkpoint, set_rng_state,
                                training_state)
from audiocs.config import Config, config_to_dict, config_to_yaml, load_config
from audiocs.data import ClipDataset, FreqWarp, SpecAugment, collate_clips, mixup
from audiocs.distributed import (DistContext, EpochBatchSampler, all_reduce_sum, barrier,
                                 distributed)
from audiocs.errors import AudiocsError
from audiocs.evaluate import classification_metrics
from audiocs.experiment import BEST, CONFIG, LAST, checkpoint_path, fold_dir, write_history
from audiocs.fileio import atomic_write
from audiocs.losses import ClassificationLoss
from audiocs.progress import progress_bar
from audiocs.runner import autocast, clip_outputs, cpu_has_native_bf16
from audiocs.splits import Splits, apply_fold
from audiocs.train.ema import WeightEMA
from audiocs.train.schedules import LRSchedule, MarginSchedule
from audiocs.train.stats import STAT_KEYS, cosine_sums, epoch_means, training_logits
from audiocs.train.tensorboard import open_tensorboard


class Network(nn.Module):
    """Backbone + classifier head: features (B, T, F) -> scores (B, C)."""

    def __init__(self, model: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.model, self.classifier = model, classifier

    def forward(self, x: torch.Tensor, with_embeddings: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Scores (B, C); with `with_embeddings` also the embeddings (B, D) they came from."""
        emb = self.model(x)
        scores = self.classifier(emb)
        return (scores, emb) if with_embeddings else scores


@dataclass
class Progress:
    """Where training is: `epoch` epochs done, `step` batches of the next one done; sums of the
    epoch so far (global over ranks); the best validation accuracy and the per-epoch history."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    stat_sums: list[float] = field(default_factory=lambda: [0.0] * len(STAT_KEYS))
    best_metric: float = float("-inf")
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def batch_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    """The seed of one batch's random numbers (augmentation, mixup, dropout)."""
    return int(np.random.SeedSequence([seed, epoch, step, rank]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(cfg: Config, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                               weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


@dataclass
class Trainer:
    """Everything one epoch needs; built by `train`."""

    cfg: Config
    ctx: DistContext
    net: nn.Module  # Network, or DDP(Network)
    loss: ClassificationLoss
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    lr_schedule: LRSchedule
    margin_schedule: MarginSchedule
    augment: SpecAugment | None
    loader: DataLoader
    sampler: EpochBatchSampler
    dataset: ClipDataset
    warp: FreqWarp | None = None
    ema: WeightEMA | None = None  # train.ema_decay > 0

    @property
    def network(self) -> Network:
        """The plain Network (unwrapped from DDP)."""
        return self.net.module if isinstance(self.net, DistributedDataParallel) else self.net

    def train_step(self, batch: dict[str, torch.Tensor], seed: int) -> list[float]:
        """One optimizer step on a batch; returns this rank's sums [loss * n, correct, n, and the
        `STAT_KEYS` cosine statistics of the first labels]."""
        cfg, device = self.cfg, self.ctx.device
        torch.manual_seed(seed)  # dropout
        gen = torch.Generator().manual_seed(seed)
        x, y = batch["features"].to(device), batch["labels"].to(device)
        if self.warp is not None:
            self.warp.generator = gen
            x = self.warp(x)
        if self.augment is not None:
            self.augment.generator = gen
            x = self.augment(x, batch["lengths"])
        y_b, lam = y, 1.0
        if cfg.augment.mixup_alpha > 0:
            x, y, y_b, lam = mixup(x, y, cfg.augment.mixup_alpha, gen)
        with autocast(device, cfg.train.amp):
            scores, emb = self.net(x, with_embeddings=True)
        stats = cosine_sums(emb.detach(), self.network.classifier.weight.detach(),
                            training_logits(self.loss, scores.detach(), y), y)
        loss = self.loss.mixup(scores, y, y_b, lam) if lam < 1 else self.loss(scores, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.network.parameters(), cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.network)
        pred = self.loss.predict(scores.detach())
        correct = lam * (pred == y).sum().item() + (1 - lam) * (pred == y_b).sum().item()
        return [float(loss.item()) * len(y), float(correct), len(y), *stats]

    def train_one_epoch(self, progress: Progress, save_last) -> dict[str, float]:
        """Finish epoch `progress.epoch` from batch `progress.step`; returns its train metrics."""
        cfg, ctx = self.cfg, self.ctx
        epoch, steps = progress.epoch, len(self.sampler)
        self.sampler.set_epoch(epoch, skip=progress.step)  # its keys carry the epoch
        self.net.train()
        local = [0.0] * (3 + len(STAT_KEYS))  # this rank's sums since the last save
        bar = progress_bar(self.loader, total=steps, initial=progress.step,
                           desc=f"epoch {epoch + 1}", enabled=cfg.train.progress and ctx.is_main,
                           leave=False)
        for batch in bar:
            t = epoch + progress.step / steps
            self.lr_schedule.step(t)
            self.margin_schedule.step(t)
            out = self.train_step(batch, batch_seed(cfg.train.seed, epoch, progress.step, ctx.rank))
            local = [a + b for a, b in zip(local, out)]
            progress.step += 1
            progress.global_step += 1
            bar.set_postfix(loss=f"{out[0] / out[2]:.3f}", acc=f"{out[1] / out[2]:.3f}")
            every = cfg.train.checkpoint_every_steps
            if every and progress.step % every == 0 and progress.step < steps:
                self._fold_in(progress, local)
                local = [0.0] * len(local)
                save_last(progress)
        bar.close()
        self._fold_in(progress, local)
        return {"train_loss": progress.loss_sum / max(progress.count, 1),
                "train_acc": progress.correct / max(progress.count, 1),
                **epoch_means(progress.stat_sums, progress.count)}

    def _fold_in(self, progress: Progress, local: list[float]) -> None:
        """Add every rank's sums since the last save into `progress` (a collective under DDP)."""
        total = all_reduce_sum(self.ctx, local)
        progress.loss_sum += total[0]
        progress.correct += total[1]
        progress.count += total[2]
        progress.stat_sums = [a + b for a, b in zip(progress.stat_sums, total[3:])]

    def validate(self, cache: FeatureCache, indices: np.ndarray, meta: dict) -> dict[str, float]:
        """Validation accuracy, macro-F1 and loss (at the current margin) of the network."""
        if indices.size == 0:
            return {}
        net = self.network
        with self.ema.applied(net) if self.ema is not None else nullcontext():
            scores = clip_outputs(net.model, net.classifier, cache, indices, meta["mean"].numpy(),
                                  meta["std"].numpy(), self.cfg.eval, self.ctx.device,
                                  self.cfg.train.amp)
        labels = torch.from_numpy(cache.labels[indices])
        m = classification_metrics(labels.numpy(), self.loss.predict(scores).numpy(),
                                   len(meta["class_names"]))
        self.loss.eval()  # no training-time state changes (A-Softmax counts training forwards)
        with torch.no_grad():
            loss = float(self.loss(scores, labels.to(scores.device)))
        self.loss.train()
        return {"valid_loss": loss, "valid_acc": m["accuracy"], "valid_macro_f1": m["macro_f1"]}

    def checkpoint(self, progress: Progress, meta: dict) -> dict[str, Any]:
        """The full training state as a weights_only-loadable dict; with `train.ema_decay`,
        `model` and `classifier` hold the averaged weights and `live` the trained ones."""
        net = self.network
        state = training_state(
            meta=meta, epoch=progress.epoch, step=progress.step, progress=progress.state_dict(),
            model=net.model, classifier=net.classifier, loss=self.loss,
            optimizer=self.optimizer, scaler=self.scaler, lr_schedule=self.lr_schedule,
            margin_schedule=self.margin_schedule,
            seeds={"train": self.cfg.train.seed, "sampler": self.sampler.seed,
                   "dataset": self.dataset.seed},
            config=config_to_dict(self.cfg))
        if self.ema is not None:
            state["live"] = {part: state[part] for part in ("model", "classifier")}
            for part in ("model", "classifier"):
                state[part] = {k[len(part) + 1:]: v.clone() for k, v in self.ema.shadow.items()
                               if k.startswith(part + ".")}
            state["ema"] = self.ema.state_dict()
        return state

    def initialize(self, state: dict[str, Any], path: Path) -> None:
        """Fine-tuning: the checkpoint's model and classifier (the averaged weights where it
        kept an average); loss, optimizer, schedules and the count of steps start afresh."""
        net = self.network
        load_weights(net.model, state["model"], path, "model")
        load_weights(net.classifier, state["classifier"], path, "classifier")
        if self.ema is not None:
            self.ema.load_state_dict({"updates": 0}, _network_state(state))

    def restore(self, state: dict[str, Any], path: Path) -> Progress:
        net = self.network
        live = state["live"] if self.ema is not None else state
        load_weights(net.model, live["model"], path, "model")
        load_weights(net.classifier, live["classifier"], path, "classifier")
        if self.ema is not None:  # the averaged weights are the checkpoint's model and classifier
            self.ema.load_state_dict(state["ema"], _network_state(state))
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.margin_schedule.load_state_dict(state["margin_schedule"])
        set_rng_state(state["rng"])
        return Progress(**state["progress"])


def _network_state(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A checkpoint's model and classifier weights as one Network state dict."""
    return {f"{part}.{k}": v for part in ("model", "classifier") for k, v in state[part].items()}


def _init_source(cfg: Config, cache: FeatureCache,
                 ctx: DistContext) -> tuple[Path, dict[str, Any]]:
    """`train.init_from`'s checkpoint file and state; its features must be this cache's."""
    path = find_checkpoint(cfg.train.init_from, BEST)
    state = load_checkpoint(path, map_location=ctx.device)
    ours, theirs = cache.settings.to_dict(), state["meta"]["feature_settings"]
    if ours != theirs:
        changed = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise AudiocsError(f"{path}: train.init_from was trained on other features than "
                           f"{cache.root} ({', '.join(changed)} differ)")
    return path, state


def _prepare_exp_dir(cfg: Config, exp: Path, resume: bool, ctx: DistContext) -> Path | None:
    """Check the folder against --resume; return last.pt to resume from (None: fresh start)."""
    last = checkpoint_path(exp, LAST)
    saved = exp / CONFIG
    if last.is_file() and not resume:
        raise AudiocsError(f"{exp}: already holds a training run ({last}); pass --resume to "
                           "continue it or choose another --exp-dir")
    if resume and saved.is_file():
        before = config_to_dict(load_config(saved))
        now = config_to_dict(cfg)
        changed = [f"{s}.{k}" for s in now for k in now[s] if before[s][k] != now[s][k]]
        if changed:
            raise AudiocsError(f"{saved}: --resume with a different config ({', '.join(changed)})")
    if ctx.is_main:
        with atomic_write(saved) as f:
            f.write(config_to_yaml(cfg))
    return last if resume and last.is_file() else None


def build_trainer(cfg: Config, ctx: DistContext, cache: FeatureCache, splits: Splits,
                  meta: dict) -> Trainer:
    """Modules, optimizer, schedules and the data pipeline for `cfg`."""
    model, classifier, loss = build_modules(meta, "config")
    net: nn.Module = Network(model, classifier).to(ctx.device)
    if cfg.train.channels_last:  # 4-D weights only; 1.2-1.4x faster CPU training steps
        net = net.to(memory_format=torch.channels_last)
    loss.to(ctx.device)
    ema = WeightEMA(net, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
    if ctx.distributed:
        if ctx.device.type == "cuda" and cfg.train.sync_batchnorm:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = DistributedDataParallel(net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if cfg.train.amp == "fp16" and ctx.device.type != "cuda":
        raise AudiocsError("train.amp = fp16 needs a CUDA device (use bf16 on the CPU)")
    if cfg.train.amp == "bf16" and ctx.device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn("train.amp = bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), so "
                      "autocast emulates it and usually trains slower than train.amp = none",
                      stacklevel=2)
    optimizer = make_optimizer(cfg, list(net.parameters()) + list(loss.parameters()))
    s = cfg.schedule
    lr_schedule = LRSchedule(optimizer, cfg.optim.lr, cfg.train.epochs,
                             warmup_epochs=s.warmup_epochs, warmup_start=s.warmup_start,
                             decay=s.decay, min_lr=s.min_lr, step_epochs=s.step_epochs,
                             gamma=s.gamma)
    margin_schedule = MarginSchedule(loss, start_epoch=cfg.margin_schedule.start_epoch,
                                     ramp_epochs=cfg.margin_schedule.ramp_epochs)
    a = cfg.augment
    augment = SpecAugment(a.freq_masks, a.freq_width, a.time_masks, a.time_width) \
        if a.specaugment else None
    warp = FreqWarp(a.freq_warp, cache.settings.band_centres()) if a.freq_warp > 0 else None
    dataset = ClipDataset(cache, splits.train, crop_frames=cfg.data.crop_frames, train=True,
                          seed=cfg.train.seed, mean=meta["mean"].numpy(), std=meta["std"].numpy())
    sampler = EpochBatchSampler(len(dataset), cfg.data.batch_size, seed=cfg.train.seed,
                                rank=ctx.rank, world_size=ctx.world_size, with_epoch=True)
    # workers live for the whole run (no start-up every epoch); the epoch travels in the keys
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_clips,
                        num_workers=cfg.data.num_workers,
                        persistent_workers=cfg.data.num_workers > 0,
                        pin_memory=ctx.device.type == "cuda")
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=cfg.train.amp == "fp16")
    return Trainer(cfg, ctx, net, loss, optimizer, scaler, lr_schedule, margin_schedule,
                   augment, loader, sampler, dataset, warp, ema)


def train(cfg: Config, exp_dir: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Train per `cfg` into `exp_dir` (see docs/training.md); returns the last history record."""
    with distributed(cfg.train.device) as ctx:
        return _train(cfg, Path(exp_dir), resume, ctx)


def _train(cfg: Config, exp: Path, resume: bool, ctx: DistContext) -> dict[str, Any]:
    cache = FeatureCache(cfg.data.cache_dir)
    splits = cache.splits(cfg.data, cfg.train.seed)
    seed_everything(cfg.train.seed)
    # input scaling from this run's training rows only: no validation or test frame shapes it
    mean, std = cache.stats(splits.train)
    init = _init_source(cfg, cache, ctx) if cfg.train.init_from else None
    if init is not None:  # fine-tuning keeps the input scaling that its weights were trained on
        mean, std = init[1]["meta"]["mean"].numpy(), init[1]["meta"]["std"].numpy()
    meta = model_meta(cfg, n_features=cache.num_features, class_names=cache.class_names,
                      settings=cache.settings, mean=mean, std=std)
    trainer = build_trainer(cfg, ctx, cache, splits, meta)
    resume_from = _prepare_exp_dir(cfg, exp, resume, ctx)
    progress = Progress()
    if resume_from is not None:
        state = load_checkpoint(resume_from, map_location=ctx.device)
        check_compatible(state["meta"], meta, resume_from)
        progress = trainer.restore(state, resume_from)
    elif init is not None:
        check_compatible(init[1]["meta"], meta, init[0])
        trainer.initialize(init[1], init[0])
    if ctx.is_main:
        print(f"{exp}: {splits.description}; {len(trainer.sampler)} batches per epoch"
              + (f"; resuming at epoch {progress.epoch + 1}, batch {progress.step}"
                 if resume_from else ""))
        write_history(exp, progress.history)
    board = open_tensorboard(cfg, exp, ctx, progress.epoch)  # None unless rank 0 and on

    def save_last(p: Progress) -> None:
        if ctx.is_main:
            save_checkpoint(trainer.checkpoint(p, meta), checkpoint_path(exp, LAST))

    while progress.epoch < cfg.train.epochs:
        start = time.perf_counter()
        record: dict[str, Any] = {"epoch": progress.epoch + 1}
        record.update(trainer.train_one_epoch(progress, save_last))
        record.update(lr=trainer.lr_schedule.last_value, margin=float(trainer.loss.margin))
        if ctx.is_main:
            record.update(trainer.validate(cache, splits.valid, meta))
        record["time_s"] = round(time.perf_counter() - start, 3)
        progress.history.append(record)
        if board is not None:  # before last.pt: a kill in between re-logs the epoch (purged)
            board.log_epoch(record)
        progress.epoch, progress.step = progress.epoch + 1, 0
        progress.loss_sum = progress.correct = progress.count = 0.0
        progress.stat_sums = [0.0] * len(STAT_KEYS)
        if ctx.is_main:
            metric = record.get("valid_acc", float("nan"))
            if splits.valid.size == 0 or metric > progress.best_metric:
                progress.best_metric = metric if splits.valid.size else progress.best_metric
                progress.best_epoch = progress.epoch
                save_checkpoint(trainer.checkpoint(progress, meta), checkpoint_path(exp, BEST))
            save_last(progress)
            write_history(exp, progress.history)
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in record.items()), flush=True)
        barrier(ctx)
    if board is not None:
        board.finish(cache, splits)  # the best checkpoint's embeddings for the projector
    return progress.history[-1] if progress.history else {}


def default_exp_dir(config_path: str | Path | None, fold: int | None) -> Path:
    """exp/<config name>[/fold<k>] when --exp-dir is not given."""
    base = Path("exp") / (Path(config_path).stem if config_path else "train")
    return fold_dir(base, fold) if fold is not None else base


def train_command(config_path: str | Path | None, overrides: list[str], *,
                  fold: int | None = None, exp_dir: str | Path | None = None,
                  resume: bool = False) -> dict[str, Any]:
    """`audiocs train`: load the config, apply --fold, train into the experiment folder."""
    cfg = load_config(config_path, overrides)
    if fold is not None:
        apply_fold(cfg, fold)
    return train(cfg, exp_dir or default_exp_dir(config_path, fold), resume=resume)
