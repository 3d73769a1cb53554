"""Training configuration: YAML of plain values checked against typed dataclasses (OmegaConf).

`load_config(path, overrides)` merges the defaults below, the YAML file and dotted
`key=value` overrides; an unknown key, a wrong type or a value outside its choices raises an
`AudiocsError` naming the key. The config holds values only: it never builds objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audiocs.errors import AudiocsError


@dataclass
class DataConfig:
    """Which cache and which rows; see `audiocs.splits` for how the splits are chosen."""

    cache_dir: str = ""
    train_folds: list[int] = field(default_factory=list)  # empty: every fold not test/valid
    valid_folds: list[int] = field(default_factory=list)  # used when valid_split == "folds"
    test_folds: list[int] = field(default_factory=list)  # `--fold k` sets [k]
    valid_split: str = "fraction"  # fraction | previous_fold | folds
    valid_fraction: float = 0.1  # share of the training rows held out (stratified, seeded)
    crop_frames: int = 200  # fixed-length random crops for training
    batch_size: int = 32  # global batch (split across ranks under torchrun)
    num_workers: int = 0


@dataclass
class ModelConfig:
    name: str = "vgg_small"
    embed_dim: int = 128
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """`create_loss(name, scale=..., margin=..., **params)`; None values are not passed."""

    name: str = "cs_softmax"
    scale: float | None = None
    margin: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Defaults from the recipes' searches: AdamW at 3e-3 beat 1e-2 and 2e-2 for softmax and
    CS-Softmax alike on the generated corpus, and trains FSDD digits in a few epochs."""

    name: str = "adamw"  # sgd | adamw
    lr: float = 0.003
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw only


@dataclass
class ScheduleConfig:
    """LR: linear warm-up from `warmup_start` x lr, then cosine to `min_lr` or step decay."""

    warmup_epochs: float = 1.0
    warmup_start: float = 0.1  # factor of lr at t = 0
    decay: str = "cosine"  # cosine | step | none
    min_lr: float = 1.0e-5  # cosine floor (absolute)
    step_epochs: list[int] = field(default_factory=list)  # step: multiply by gamma at these
    gamma: float = 0.1


@dataclass
class MarginScheduleConfig:
    """Margin 0 until `start_epoch`, then a linear ramp to the loss's target over `ramp_epochs`."""

    start_epoch: float = 0.0
    ramp_epochs: float = 0.0  # 0 with start_epoch 0: the full margin from the first step


@dataclass
class AugmentConfig:
    specaugment: bool = True
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 20
    mixup_alpha: float = 0.0  # 0: no mixup
    freq_warp: float = 0.0  # frequency axis scaled by U[1 - w, 1 + w] per clip (VTLP-like); 0: off


@dataclass
class TrainConfig:
    epochs: int = 30
    grad_clip: float = 0.0  # max global grad norm; 0: off
    ema_decay: float = 0.0  # moving average of the weights per step, evaluated and saved; 0: off
    seed: int = 0
    amp: str = "none"  # none | bf16 | fp16 (fp16 on CUDA only)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    checkpoint_every_steps: int = 0  # also save last.pt every N steps within an epoch; 0: off
    sync_batchnorm: bool = True  # under DDP on CUDA (SyncBatchNorm has no CPU kernel)
    channels_last: bool = True  # conv weights in NHWC order: same results, faster convolutions
    progress: bool = True  # tqdm bars
    tensorboard: bool = False  # EXP/tensorboard/ (pip install audiocs[tensorboard])
    # fine-tuning: start from the model and classifier weights (and input scaling) of this
    # checkpoint or experiment folder (its best.pt, else last.pt); optimizer and schedules fresh
    init_from: str | None = None


@dataclass
class EvalConfig:
    mode: str = "whole"  # whole | sliding
    window_frames: int = 200  # sliding: window length
    hop_frames: int = 100  # sliding: window hop
    batch_size: int = 16
    # re-estimate BatchNorm statistics on the evaluated clips themselves (unlabelled, all at once:
    # unsupervised adaptation to a held-out speaker or domain) before scoring them
    adapt_bn: bool = False


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    margin_schedule: MarginScheduleConfig = field(default_factory=MarginScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.valid_split": ("fraction", "previous_fold", "folds"),
    "optim.name": ("sgd", "adamw"),
    "schedule.decay": ("cosine", "step", "none"),
    "train.amp": ("none", "bf16", "fp16"),
    "eval.mode": ("whole", "sliding"),
}

_POSITIVE: tuple[str, ...] = (
    "data.crop_frames", "data.batch_size", "model.embed_dim", "optim.lr", "train.epochs",
    "eval.window_frames", "eval.hop_frames", "eval.batch_size",
)


def _get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def validate(cfg: Config, source: str = "config") -> None:
    """Check choices and ranges that types alone cannot express; raises AudiocsError."""
    for key, choices in _CHOICES.items():
        if _get(cfg, key) not in choices:
            raise AudiocsError(f"{source}: {key} = {_get(cfg, key)!r}, expected one of {choices}")
    for key in _POSITIVE:
        if _get(cfg, key) <= 0:
            raise AudiocsError(f"{source}: {key} = {_get(cfg, key)!r} must be > 0")
    if not 0.0 <= cfg.data.valid_fraction < 1.0:
        raise AudiocsError(f"{source}: data.valid_fraction must be in [0, 1)")
    if not 0.0 <= cfg.train.ema_decay < 1.0:
        raise AudiocsError(f"{source}: train.ema_decay = {cfg.train.ema_decay} must be in [0, 1)")
    if not 0.0 <= cfg.augment.freq_warp < 0.5:
        raise AudiocsError(f"{source}: augment.freq_warp = {cfg.augment.freq_warp} must be in [0, 0.5)")
    if not cfg.data.cache_dir:
        raise AudiocsError(f"{source}: data.cache_dir is not set")
    if cfg.data.num_workers < 0 or cfg.train.checkpoint_every_steps < 0:
        raise AudiocsError(f"{source}: data.num_workers / train.checkpoint_every_steps < 0")


def _merge(parts: list[tuple[str, Any]]) -> Config:
    merged = OmegaConf.structured(Config)
    for source, part in parts:
        try:
            merged = OmegaConf.merge(merged, part)
        except OmegaConfBaseException as err:
            key = getattr(err, "full_key", None) or "?"
            reason = str(err).splitlines()[0]
            raise AudiocsError(f"{source}: config key '{key}': {reason}") from None
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- YAML file <- dotted `key=value` overrides, type-checked and validated."""
    parts: list[tuple[str, Any]] = []
    source = "config"
    if path is not None:
        source = str(path)
        try:
            loaded = OmegaConf.load(path)
        except FileNotFoundError:
            raise AudiocsError(f"{path}: config file not found") from None
        except Exception as err:  # YAML syntax errors come in several types
            raise AudiocsError(f"{path}: not a readable YAML config ({err})") from None
        if not isinstance(loaded, type(OmegaConf.create({}))):
            raise AudiocsError(f"{path}: the config must be a mapping of sections")
        parts.append((source, loaded))
    for item in overrides or []:
        if "=" not in item:
            raise AudiocsError(f"--set {item!r}: expected key=value")
        try:
            parts.append((f"--set {item}", OmegaConf.from_dotlist([item])))
        except OmegaConfBaseException as err:
            raise AudiocsError(f"--set {item!r}: {str(err).splitlines()[0]}") from None
    cfg = _merge(parts)
    validate(cfg, source)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain nested dicts/lists (for checkpoints and comparisons)."""
    return asdict(cfg)


def config_from_dict(values: dict[str, Any], source: str = "config") -> Config:
    """Rebuild a Config from `config_to_dict` output (e.g. read back from a checkpoint)."""
    return _merge([(source, OmegaConf.create(values))])


def config_to_yaml(cfg: Config) -> str:
    """The merged config as YAML text (what `config.yaml` of an experiment holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
