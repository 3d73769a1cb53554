"""The experiment folder: every file name that training, evaluation, embedding and the reports
read or write inside it, and the functions that find them.

    EXP/
      config.yaml              the resolved training config (written when training starts)
      metrics.jsonl            one JSON record per finished epoch
      checkpoints/last.pt      the full training state after the last save (resume)
      checkpoints/best.pt      the epoch with the best validation accuracy
      eval/curves.png          training curves
      eval/<split>/            `audiocs evaluate`: metrics.json, confusion.csv/png,
                               per_class.csv, predictions.csv
      embeddings/              `audiocs embed` (the quickstart's and the recipes' choice)
      scores/                  `audiocs score` of those embeddings
      tensorboard/             event files when train.tensorboard is on
      fold<k>/                 one such folder per fold of `audiocs crossval`
"""

from __future__ import annotations

import json
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
LAST, BEST = "last.pt", "best.pt"
EVAL_DIR = "eval"
CURVES = "curves.png"
METRICS_JSON = "metrics.json"  # of eval/<split>/ and of a scores folder
PREDICTIONS = "predictions.csv"
EMBEDDINGS = "embeddings"
SCORES = "scores"
TENSORBOARD = "tensorboard"


def fold_dir(exp_dir: str | Path, fold: int) -> Path:
    """The folder of fold k of a cross-validation run."""
    return Path(exp_dir) / f"fold{fold}"


def checkpoint_path(exp_dir: str | Path, name: str = LAST) -> Path:
    """EXP/checkpoints/<name>."""
    return Path(exp_dir) / CHECKPOINT_DIR / name


def can_resume(exp_dir: str | Path) -> bool:
    """True when a training state to resume from (last.pt) exists."""
    return checkpoint_path(exp_dir, LAST).is_file()


def eval_dir(exp_dir: str | Path, split: str) -> Path:
    """EXP/eval/<split>, where `audiocs evaluate` writes."""
    return Path(exp_dir) / EVAL_DIR / split


def eval_metrics_path(exp_dir: str | Path, split: str = "test") -> Path:
    """EXP/eval/<split>/metrics.json."""
    return eval_dir(exp_dir, split) / METRICS_JSON


def read_history(exp_dir: str | Path) -> list[dict]:
    """The records of EXP/metrics.jsonl (empty when absent)."""
    path = Path(exp_dir) / METRICS
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as err:
        raise AudiocsError(f"{path}: unreadable ({err})") from None


def write_history(exp_dir: str | Path, history: list[dict]) -> None:
    """Rewrite EXP/metrics.jsonl (one JSON record per finished epoch) atomically."""
    with atomic_write(Path(exp_dir) / METRICS) as f:
        for record in history:
            f.write(json.dumps(record) + "\n")


def resolve_exp_dir(exp_dir: str | Path, fold: int | None) -> Path:
    """exp_dir, or exp_dir/fold<k> of a cross-validation run when `fold` is given; it must exist."""
    path = Path(exp_dir) if fold is None else fold_dir(exp_dir, fold)
    if not path.is_dir():
        raise AudiocsError(f"{path}: experiment folder not found")
    return path
