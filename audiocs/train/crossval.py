"""Cross-validation: train and test every fold of a corpus, then the mean +- std table.

Fold k trains in exp_dir/fold{k} (validation per `data.valid_split`, never fold k) and is
tested on fold k with its best checkpoint. A fold whose test metrics exist is skipped, an
interrupted fold resumes, so re-running the command after a kill finishes the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiocs.cache import FeatureCache
from audiocs.config import load_config
from audiocs.errors import AudiocsError
from audiocs.evaluate import evaluate_experiment
from audiocs.experiment import can_resume, eval_metrics_path, fold_dir
from audiocs.fileio import atomic_write
from audiocs.splits import apply_fold
from audiocs.train.loop import train


@dataclass(frozen=True)
class FoldResult:
    fold: int
    accuracy: float
    macro_f1: float
    clips: int


def _finished(folder: Path) -> FoldResult | None:
    """The stored test result of a finished fold, or None."""
    path = eval_metrics_path(folder, "test")
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return FoldResult(int(folder.name[4:]), data["accuracy"], data["macro_f1"], data["clips"])


def crossval_table(results: list[FoldResult]) -> tuple[str, dict]:
    """Markdown table (one row a fold, then mean +- std) and the same numbers as a dict."""
    acc = np.array([r.accuracy for r in results])
    f1 = np.array([r.macro_f1 for r in results])
    lines = ["| fold | test clips | accuracy | macro-F1 |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r.fold} | {r.clips} | {r.accuracy:.4f} | {r.macro_f1:.4f} |" for r in results]
    lines.append(f"| mean +- std | {sum(r.clips for r in results)} | "
                 f"{acc.mean():.4f} +- {acc.std(ddof=0):.4f} | "
                 f"{f1.mean():.4f} +- {f1.std(ddof=0):.4f} |")
    summary = {"folds": [vars(r) for r in results],
               "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=0)),
               "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std(ddof=0))}
    return "\n".join(lines) + "\n", summary


def run_crossval(config_path: str | Path | None, overrides: list[str], exp_dir: str | Path, *,
                 folds: list[int] | None = None) -> dict:
    """Train + test each fold (default: every fold of the cache); writes crossval.md/.json."""
    base_cfg = load_config(config_path, overrides)
    present = sorted(int(f) for f in set(FeatureCache(base_cfg.data.cache_dir).folds.tolist())
                     if f != 0)
    folds = folds or present
    if len(present) < 2 or not set(folds) <= set(present):
        raise AudiocsError(f"{base_cfg.data.cache_dir}: folds {folds} requested, the cache has "
                           f"folds {present} (cross-validation needs at least 2)")
    exp = Path(exp_dir)
    results = []
    for k in folds:
        folder = fold_dir(exp, k)
        done = _finished(folder)
        if done is None:
            cfg = load_config(config_path, overrides)
            apply_fold(cfg, k)
            print(f"== fold {k}: training in {folder}", flush=True)
            train(cfg, folder, resume=can_resume(folder))
            evaluate_experiment(folder, split="test", device=cfg.train.device)
            done = _finished(folder)
        else:
            print(f"== fold {k}: finished earlier (accuracy {done.accuracy:.4f})", flush=True)
        results.append(done)
    table, summary = crossval_table(results)
    with atomic_write(exp / "crossval.md") as f:
        f.write(table)
    with atomic_write(exp / "crossval.json") as f:
        json.dump(summary, f, indent=2)
    print(table, end="")
    return summary
