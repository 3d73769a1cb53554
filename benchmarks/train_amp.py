"""Training throughput of `audiocs train` itself under each autocast setting (`train.amp`).

Generates an ESC-50-like corpus (``audiocs.synthetic``), builds its log-mel cache, then runs the
real training loop (``audiocs.train.loop.train``: DataLoader, SpecAugment, mixup, CS-Softmax,
margin ramp, checkpoints, validation) once per ``--amp`` setting on ``--device``, and reports
samples per second of the last epoch (training rows in full batches over the epoch's time,
which includes validating 10% of the rows; the first epoch includes warm-up: cuDNN/oneDNN
kernel choice, worker start), the final training loss and validation accuracy (a broken autocast path
shows as a NaN loss or a chance accuracy), and on CUDA the peak GPU memory. The ratios are
against ``none`` (float32) measured in the same run.

    python benchmarks/train_amp.py --device cuda --model vgg_large   # none, bf16, fp16
    python benchmarks/train_amp.py --device cpu --amp none bf16 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from _common import synthetic_cache

from audiocs.cache import FeatureCache
from audiocs.config import load_config
from audiocs.runner import resolve_device
from audiocs.splits import resolve_splits
from audiocs.train.loop import train


def run_one(cache: FeatureCache, exp: Path, args: argparse.Namespace, amp: str) -> dict:
    """Train once with ``train.amp = amp``; returns the measured numbers."""
    overrides = [f"data.cache_dir={cache.root}", "data.test_folds=[5]", "data.valid_split=fraction",
                 "data.valid_fraction=0.1", f"data.batch_size={args.batch_size}",
                 f"data.crop_frames={args.crop_frames}", f"data.num_workers={args.workers}",
                 f"model.name={args.model}", "loss.name=cs_softmax", "optim.name=sgd",
                 "optim.lr=0.05", "margin_schedule.ramp_epochs=1", "augment.mixup_alpha=0.2",
                 f"train.epochs={args.epochs}", f"train.amp={amp}", f"train.device={args.device}",
                 "train.progress=false"]
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cfg = load_config(None, overrides)
    rows = len(resolve_splits(cache.folds, cache.labels, cfg.data, cfg.train.seed).train)
    last = train(cfg, exp)  # the last epoch's record
    samples = rows // args.batch_size * args.batch_size  # full batches only
    result = {"amp": amp, "epoch_s": last["time_s"], "train_loss": last["train_loss"],
              "valid_acc": last.get("valid_acc", float("nan")),
              "samples_s": samples / last["time_s"]}
    if device.type == "cuda":
        result["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--amp", nargs="+", default=None,
                        help="settings to run (default: none bf16 fp16 on CUDA, none bf16 on CPU)")
    parser.add_argument("--model", default="vgg_small")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-frames", type=int, default=200)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--clips-per-class", type=int, default=40, help="10 classes of 5 s clips")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the corpus, cache and runs here (default: a temporary folder)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    amps = args.amp or (["none", "bf16", "fp16"] if device.type == "cuda" else ["none", "bf16"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        cache = synthetic_cache(work, args.clips_per_class, 16000, train_folds=[1, 2, 3, 4])
        rows = []
        for amp in amps:
            rows.append(run_one(cache, work / "runs" / f"{args.model}-{amp}", args, amp))
    print(f"{args.model}, batch {args.batch_size} x {args.crop_frames} frames, {args.epochs} "
          f"epochs on {name}; torch {torch.__version__}")
    base = rows[0]["samples_s"]
    print("| train.amp | last epoch, s | samples/s | vs " + rows[0]["amp"] + " | final train loss "
          "| valid accuracy |" + (" peak GPU memory, GiB |" if device.type == "cuda" else ""))
    print("|---|---|---|---|---|---|" + ("---|" if device.type == "cuda" else ""))
    for r in rows:
        print(f"| {r['amp']} | {r['epoch_s']:.2f} | {r['samples_s']:.1f} | "
              f"{r['samples_s'] / base:.2f}x | {r['train_loss']:.3f} | {r['valid_acc']:.3f} |"
              + (f" {r['peak_gib']:.2f} |" if "peak_gib" in r else ""))


if __name__ == "__main__":
    main()
