"""Clip-level evaluation: whole-clip or sliding-window scores, accuracy, per-class accuracy,
macro-F1, the confusion matrix and each clip's top classes, written with figures into
`exp_dir/eval/<split>/`."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score

from audiocs.adapt import adapt_batchnorm
from audiocs.cache import FeatureCache
from audiocs.errors import AudiocsError
from audiocs.experiment import (BEST, CURVES, EVAL_DIR, METRICS_JSON, PREDICTIONS, eval_dir,
                                read_history, resolve_exp_dir)
from audiocs.fileio import atomic_write
from audiocs.manifest import ManifestRow
from audiocs.plots import plot_confusion, plot_training_curves
from audiocs.runner import InferenceBundle, clip_outputs, load_for_inference, resolve_device

TOP_K = 3  # classes listed per clip in predictions.csv


def classification_metrics(labels: np.ndarray, predicted: np.ndarray,
                           num_classes: int) -> dict:
    """Accuracy, macro-F1, per-class accuracy (recall; NaN for absent classes), confusion (C, C)."""
    classes = list(range(num_classes))
    matrix = confusion_matrix(labels, predicted, labels=classes)
    support = matrix.sum(axis=1)
    per_class = np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)
    return {
        "accuracy": float(np.mean(labels == predicted)) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro",
                                   zero_division=0)),
        "per_class_accuracy": per_class.tolist(),
        "support": support.tolist(),
        "confusion": matrix,
    }


@dataclass(frozen=True)
class EvalResult:
    split: str
    accuracy: float
    macro_f1: float
    num_clips: int
    out_dir: Path


def evaluate_experiment(exp_dir: str | Path | Sequence[str | Path], *, split: str = "test",
                        fold: int | None = None, cache_dir: str | None = None,
                        device: str = "cpu", checkpoint: str = BEST,
                        adapt_bn: bool | None = None,
                        out_dir: str | Path | None = None) -> EvalResult:
    """Score one split with the best checkpoint (or `checkpoint`, e.g. last.pt); write metrics,
    confusion CSV/PNG, curves PNG to `out_dir` (default EXP/eval/<split>).

    Several experiment folders make an ensemble: each model scores the split with its own
    normalization and evaluation settings, and the class scores (cosines, or logits for the
    softmax baseline; every member must have the same loss, classes and split) are averaged
    before the argmax. Its default output folder is FIRST/eval/<split>_ensemble.

    `adapt_bn` (default: the config's `eval.adapt_bn`) first re-estimates the BatchNorm
    statistics on the split's own clips (:func:`audiocs.adapt.adapt_batchnorm`)."""
    dirs = [exp_dir] if isinstance(exp_dir, (str, Path)) else list(exp_dir)
    if not dirs:
        raise AudiocsError("evaluate: no experiment folder given")
    members = [_score_split(d, split, fold, cache_dir, device, checkpoint, adapt_bn)
               for d in dirs]
    first = members[0]
    for m in members[1:]:
        _check_same(first, m)
    scores = torch.stack([m.scores for m in members]).mean(dim=0)
    bundle, cache, indices = first.bundle, first.cache, first.indices
    labels = cache.labels[indices]
    predicted = bundle.loss.predict(scores).numpy()
    metrics = classification_metrics(labels, predicted, len(bundle.class_names))
    name = split if len(members) == 1 else f"{split}_ensemble"
    out = Path(out_dir) if out_dir is not None else eval_dir(first.exp, name)
    checkpoints = [str(m.bundle.checkpoint) for m in members]
    _write_outputs(out, metrics, bundle.class_names, split, len(indices), bundle.epoch,
                   checkpoints[0], first.adapt, ensemble=checkpoints if len(members) > 1 else None)
    write_predictions(out / PREDICTIONS, [cache.rows[i] for i in indices.tolist()], scores,
                      bundle.class_names)
    history = read_history(first.exp)
    if history and len(members) == 1:
        plot_training_curves(history, first.exp / EVAL_DIR / CURVES)
    return EvalResult(split, metrics["accuracy"], metrics["macro_f1"], len(indices), out)


@dataclass
class _MemberScores:
    """One model's class scores (N, C) on a split, with what produced them."""

    exp: Path
    bundle: InferenceBundle
    cache: FeatureCache
    indices: np.ndarray
    scores: torch.Tensor
    adapt: bool


def _score_split(exp_dir: str | Path, split: str, fold: int | None, cache_dir: str | None,
                 device: str, checkpoint: str, adapt_bn: bool | None) -> _MemberScores:
    exp = resolve_exp_dir(exp_dir, fold)
    bundle = load_for_inference(exp, prefer=checkpoint)
    cfg = bundle.config
    if cfg is None:
        raise AudiocsError(f"{bundle.checkpoint}: checkpoint holds no training config")
    cache = FeatureCache(cache_dir or cfg.data.cache_dir)
    if cache.class_names != bundle.class_names:
        raise AudiocsError(f"{cache.root}: the cache has classes {len(cache.class_names)} "
                           f"({cache.class_names[:3]}...), checkpoint {bundle.checkpoint} has "
                           f"{len(bundle.class_names)}")
    if cache.num_features != bundle.model.n_features:
        raise AudiocsError(f"{cache.root}: {cache.num_features} features per frame, the model "
                           f"of {bundle.checkpoint} takes {bundle.model.n_features}")
    indices = cache.splits(cfg.data, cfg.train.seed).get(split)
    if indices.size == 0:
        raise AudiocsError(f"{exp}: the {split} split is empty (data.test_folds = "
                           f"{cfg.data.test_folds}); train with --fold k to have a test fold")
    dev = resolve_device(str(device))
    adapt = cfg.eval.adapt_bn if adapt_bn is None else bool(adapt_bn)
    if adapt:
        adapt_batchnorm(bundle.model.to(dev), cache, indices, bundle.mean, bundle.std,
                        crop_frames=cfg.data.crop_frames, batch_size=cfg.data.batch_size, device=dev)
    scores = clip_outputs(bundle.model.to(dev), bundle.classifier.to(dev), cache, indices,
                          bundle.mean, bundle.std, cfg.eval, dev)
    return _MemberScores(exp, bundle, cache, indices, scores.cpu(), adapt)


def _check_same(first: _MemberScores, other: _MemberScores) -> None:
    """An ensemble member must score the same clips, classes and kind of score as the first."""
    a, b = first.bundle, other.bundle
    if b.loss_name != a.loss_name:
        raise AudiocsError(f"{b.checkpoint}: loss {b.loss_name}, but {a.checkpoint} has "
                           f"{a.loss_name}; an ensemble averages scores of one loss only")
    if b.class_names != a.class_names:
        raise AudiocsError(f"{b.checkpoint}: its {len(b.class_names)} classes are not those of "
                           f"{a.checkpoint} ({len(a.class_names)})")
    same_rows = (other.cache.root.resolve() == first.cache.root.resolve()
                 and np.array_equal(other.indices, first.indices))
    if not same_rows:
        raise AudiocsError(f"{other.exp}: its split is not the clips of {first.exp}'s "
                           f"({other.indices.size} against {first.indices.size} clips of "
                           f"{other.cache.root} and {first.cache.root})")


def write_predictions(path: Path, rows: Sequence[ManifestRow], scores: torch.Tensor,
                      class_names: list[str]) -> None:
    """One CSV row a clip: id, absolute audio path, true class, then the top classes by score
    (N, C) with their scores (cosines, or logits for the softmax baseline)."""
    k = min(TOP_K, len(class_names))
    values, classes = scores.topk(k, dim=1)
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "path", "label", *(f"{c}{i}" for i in range(1, k + 1)
                                                  for c in ("top", "score"))])
        for row, top, value in zip(rows, classes.tolist(), values.tolist()):
            cells = [c for j, v in zip(top, value) for c in (class_names[j], f"{v:.6f}")]
            writer.writerow([row.id, os.path.abspath(row.path), class_names[row.label], *cells])


def _write_outputs(out: Path, metrics: dict, class_names: list[str], split: str, n: int,
                   epoch: int, checkpoint: str, adapt_bn: bool = False,
                   ensemble: list[str] | None = None) -> None:
    matrix = metrics["confusion"]
    with atomic_write(out / "confusion.csv", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["true\\predicted", *class_names])
        for name, row in zip(class_names, matrix):
            writer.writerow([name, *row.tolist()])
    with atomic_write(out / "per_class.csv", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["class", "accuracy", "support"])
        for name, acc, sup in zip(class_names, metrics["per_class_accuracy"], metrics["support"]):
            writer.writerow([name, f"{acc:.6f}", sup])
    summary = {"split": split, "clips": n, "accuracy": metrics["accuracy"],
               "macro_f1": metrics["macro_f1"], "checkpoint": checkpoint, "epoch": epoch,
               "adapt_bn": adapt_bn, "per_class_accuracy": dict(zip(class_names, metrics["per_class_accuracy"]))}
    if ensemble:
        summary["ensemble"] = ensemble  # every member's checkpoint; their scores were averaged
    with atomic_write(out / METRICS_JSON) as f:
        json.dump(summary, f, indent=2)
    plot_confusion(matrix, class_names, out / "confusion.png",
                   title=f"{split}: accuracy {metrics['accuracy']:.3f}")
