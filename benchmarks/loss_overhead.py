"""Forward+backward time of each classifier+loss, as a ratio to nn.Linear + F.cross_entropy.

Also against pytorch-metric-learning's CosFaceLoss and ArcFaceLoss (the `bench` extra).
Methods are timed round-robin (one call of each per round) so that background load falls on
all of them alike; the table reports medians over rounds.

    python benchmarks/loss_overhead.py [--rounds 30] [--sizes 256,256,50 256,256,1000 256,256,10000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from audiocs.losses import LOSSES, create_classifier, create_loss

Step = Callable[[], None]


def _step(params: list[torch.Tensor], forward: Callable[[], torch.Tensor]) -> Step:
    def run() -> None:
        for p in params:
            p.grad = None
        forward().backward()

    return run


def make_steps(b: int, d: int, c: int, seed: int = 0) -> dict[str, Step]:
    """One forward+backward closure per method, all on the same (B x D) embeddings and labels."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(b, d, generator=g, requires_grad=True)
    labels = torch.randint(0, c, (b,), generator=g)
    steps: dict[str, Step] = {}
    linear = nn.Linear(d, c)
    steps["linear+ce"] = _step([emb, *linear.parameters()], lambda: F.cross_entropy(linear(emb), labels))
    for name in LOSSES:
        head, loss = create_classifier(name, d, c), create_loss(name)
        steps[name] = _step([emb, *head.parameters()], lambda h=head, l=loss: l(h(emb), labels))
    try:
        from pytorch_metric_learning import losses as pml
    except ImportError:
        print("pytorch-metric-learning not installed (pip install -e '.[bench]'): skipping it")
        return steps
    for key, cls in (("pml CosFace", pml.CosFaceLoss), ("pml ArcFace", pml.ArcFaceLoss)):
        loss = cls(num_classes=c, embedding_size=d)
        steps[key] = _step([emb, *loss.parameters()], lambda l=loss: l(emb, labels))
    return steps


def measure(steps: dict[str, Step], rounds: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each step, timed round-robin."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(warmup + rounds):
        for key, run in steps.items():
            t0 = time.perf_counter()
            run()
            if r >= warmup:
                times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--sizes", nargs="+", default=["256,256,50", "256,256,1000", "256,256,10000"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes]
    results = {}
    for b, d, c in sizes:
        results[(b, d, c)] = measure(make_steps(b, d, c), args.rounds)
    keys = list(next(iter(results.values())))
    head = "| method | " + " | ".join(f"B,D,C={b},{d},{c}" for b, d, c in sizes) + " |"
    print(f"torch {torch.__version__}, {args.threads} threads, float32, CPU, median of {args.rounds} rounds")
    print("forward+backward time as a ratio to nn.Linear + F.cross_entropy (ms of the baseline in brackets)\n")
    print(head)
    print("|" + " --- |" * (len(sizes) + 1))
    for key in keys:
        cells = []
        for size in sizes:
            base = results[size]["linear+ce"]
            cell = f"{results[size][key] / base:.2f}x"
            if key == "linear+ce":
                cell = f"1.00x ({base * 1e3:.2f} ms)"
            cells.append(cell)
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
