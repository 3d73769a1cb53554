"""Why CS-Softmax started slowly: the class weights' initial norm under Adam.

Trains the quickstart search config with CS-Softmax (spec defaults) twice per learning rate:
class weight rows rescaled at the start to the norm of the usual small-normal init (std 0.01,
norm 0.01 * sqrt(D)) and left at unit norm (the CosineClassifier's init). Both start from the
same directions; only the norm differs, which leaves every cosine unchanged. Writes a markdown
table of training / validation accuracy per epoch to --out. Resumable: finished runs are kept.

    python recipes/quickstart/local/classifier_init.py --cache QS/prep/features-logmel \
        --exp-dir exp/classifier_init --out recipes/quickstart/search/classifier_init.md
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from audiocs.config import load_config
from audiocs.experiment import read_history as read
from audiocs.fileio import atomic_write
from audiocs.losses import classifiers
from audiocs.train.loop import train

CONFIG = Path(__file__).resolve().parents[1] / "conf" / "search.yaml"


def run(cache: str, exp: Path, lr: float, norm: float | None, epochs: int) -> list[dict]:
    """One training run; `norm` rescales the initial class weight rows (None: unit rows)."""
    if not (exp / "metrics.jsonl").is_file() or len(read(exp)) < epochs:
        original = classifiers.CosineClassifier.__init__

        def init(self, embed_dim: int, num_classes: int) -> None:
            original(self, embed_dim, num_classes)
            if norm is not None:
                with torch.no_grad():
                    self.weight.mul_(norm)

        classifiers.CosineClassifier.__init__ = init
        try:
            cfg = load_config(CONFIG, [f"data.cache_dir={cache}", f"optim.lr={lr}",
                                       f"train.epochs={epochs}", "data.batch_size=32"])
            train(cfg, exp, resume=(exp / "checkpoints" / "last.pt").is_file())
        finally:
            classifiers.CosineClassifier.__init__ = original
    return read(exp)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", required=True)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lrs", type=float, nargs="+", default=[0.003, 0.01])
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    small = 0.01 * math.sqrt(load_config(CONFIG, ["data.cache_dir=x"]).model.embed_dim)
    marks = [e for e in (1, 3, 5, 10, 20, 30) if e <= args.epochs]
    lines = ["# CS-Softmax (s=30, m=0.25, lam=0.5) on the quickstart corpus: initial class weight norm",
             "", f"Command: `python recipes/quickstart/local/classifier_init.py --out {args.out.name} "
             f"--lrs {' '.join(map(str, args.lrs))} --epochs {args.epochs}` (AdamW, batch 32, "
             "the rest as `conf/search.yaml`; validation = fold 4)", "",
             "| lr | initial row norm | " + " | ".join(f"train acc ep {e}" for e in marks)
             + " | best valid acc |", "| ---: | ---: |" + " ---: |" * (len(marks) + 1)]
    for lr in args.lrs:
        for name, norm in ((f"{small:.2f} (std 0.01)", small), ("1 (unit rows)", None)):
            tag = "small" if norm else "unit"
            hist = run(args.cache, args.exp_dir / f"lr{lr:g}_{tag}", lr, norm, args.epochs)
            accs = " | ".join(f"{hist[e - 1]['train_acc']:.3f}" for e in marks)
            best = max(h["valid_acc"] for h in hist)
            lines.append(f"| {lr:g} | {name} | {accs} | {best:.4f} |")
            with atomic_write(args.out) as f:
                f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
