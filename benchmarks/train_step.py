"""Time of one training step per sample for each registered model, by memory format and autocast.

For every model (or ``--models``) and each of: float32 contiguous weights (the baseline),
float32 channels-last weights (``train.channels_last``, the default of ``audiocs train``), and
bf16 autocast with channels-last (``train.amp: bf16``), it times forward + CS-Softmax loss +
backward + SGD step on random (batch, frames, features) inputs. The settings are measured
interleaved, ``--rounds`` times, and the table gives the median time per sample and the
speed-up against the baseline measured in the same run.

    python benchmarks/train_step.py [--models vgg_small resnet18_thin] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _common import TrainStep

from audiocs.models import list_models

SETTINGS = {"float32": (False, "none"), "float32, channels_last": (True, "none"),
            "bf16 autocast, channels_last": (True, "bf16")}  # (channels_last, amp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list_models())
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    x = torch.randn(args.batch, args.frames, args.features)
    y = torch.randint(0, 10, (args.batch,))
    print(f"batch {args.batch} x {args.frames} frames x {args.features} features; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| model | " + " | ".join(f"{s} ms/sample" for s in SETTINGS) + " | "
          + " | ".join(f"{s} speed-up" for s in list(SETTINGS)[1:]) + " |")
    print("|---" * (2 * len(SETTINGS)) + "|")
    for name in args.models:
        steps = {s: TrainStep(args.features, 10, name=name, channels_last=cl, amp=amp)
                 for s, (cl, amp) in SETTINGS.items()}
        for step in steps.values():  # warm-up: oneDNN primitives
            step(x, y)
        times: dict[str, list[float]] = {s: [] for s in SETTINGS}
        for _ in range(args.rounds):
            for s, step in steps.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(x, y)
                times[s].append(1000 * (time.perf_counter() - start) / args.steps / args.batch)
        ms = {s: statistics.median(v) for s, v in times.items()}
        base = ms["float32"]
        print(f"| {name} | " + " | ".join(f"{ms[s]:.2f}" for s in SETTINGS) + " | "
              + " | ".join(f"{base / ms[s]:.2f}x" for s in list(SETTINGS)[1:]) + " |",
              flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
