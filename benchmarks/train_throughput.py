"""Training throughput from the feature cache against tensors in memory and librosa on the fly.

Generates an ESC-50-like corpus (``audiocs.synthetic``, 5 s clips) in a temporary folder, builds
the feature cache with ``audiocs.cache_build.build_cache`` and times the same training step
(``vgg_small`` + CS-Softmax classifier and loss: forward, backward, SGD step; channels-last
weights as ``audiocs train`` uses by default; ``--amp bf16`` for CPU bfloat16 autocast) fed by:

* tensors already in memory (the same batches, pre-loaded): the ceiling;
* the cache through ``ClipDataset`` + ``collate_clips`` in a DataLoader (0 and 2 workers);
* a hand-written Dataset that runs ``librosa.load`` + ``melspectrogram`` + ``power_to_db``
  per item (the usual approach), in a DataLoader with the same workers (each limited to one
  BLAS thread, see ``one_blas_thread``; ``--worker-blas-threads 0`` keeps numpy's default).

DataLoader workers persist across measurements, as they do across epochs in ``audiocs train``
(their start-up is not timed; the warm-up round starts them).

The CPU is usually shared, so the pipelines are measured side by side: those without workers
(and the in-memory ceiling) train one batch each in turn; those with workers, which prefetch
in the background, are timed one after another. Every pipeline runs ``--rounds`` times; the
table gives the medians and the ratios.

    python benchmarks/train_throughput.py [--clips-per-class 30] [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import librosa
import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, Dataset, RandomSampler

from _common import TrainStep, synthetic_cache

from audiocs.cache import FeatureCache
from audiocs.data import ClipDataset, collate_clips, crop_clip

Batch = dict[str, torch.Tensor]


class LibrosaClips(Dataset):
    """The hand-written baseline: decode, resample and log-mel every clip when it is read."""

    def __init__(self, cache: FeatureCache, crop_frames: int, seed: int = 0) -> None:
        self.paths = [row.path for row in cache.rows]
        self.labels = cache.labels
        self.settings = cache.settings
        self.mean, self.std = cache.mean, cache.std
        self.crop_frames, self.seed = crop_frames, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        """{"features": (crop_frames, F) float32, "label": int, "index": int}."""
        s = self.settings
        wave, _ = librosa.load(self.paths[index], sr=s.sample_rate)
        mel = librosa.feature.melspectrogram(
            y=wave, sr=s.sample_rate, n_fft=s.n_fft, hop_length=s.hop_length,
            win_length=s.win_length, n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax, power=s.power)
        frames = librosa.power_to_db(mel, top_db=s.top_db).T.astype(np.float32)
        room = max(frames.shape[0] - self.crop_frames, 0)
        start = int(np.random.default_rng([self.seed, index]).integers(0, room + 1))
        frames = (crop_clip(frames, start, self.crop_frames) - self.mean) / self.std
        return {"features": torch.from_numpy(frames), "label": int(self.labels[index]),
                "index": index}


def one_blas_thread(_worker_id: int) -> None:
    """DataLoader worker set-up: one BLAS thread per worker. librosa's mel projection is a BLAS
    product; with numpy's default (one BLAS thread per core in every worker) two librosa workers
    on 2 cores loaded 3x slower than with this limit, which makes the baseline fair."""
    threadpool_limits(1)


def _live_children_seconds() -> float:
    """CPU time of this process's running children (persistent DataLoader workers), Linux."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for tasks in Path("/proc/self/task").glob("*/children"):
        for pid in tasks.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile: counted with the reaped children
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children, running or reaped."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + _live_children_seconds())


def measure(batches: Callable[[], Iterable[Batch]], step: TrainStep | None,
            steps: int) -> tuple[float, float]:
    """(samples/s, CPU ms per sample) of ``steps`` batches, trained on unless ``step`` is None.

    Wall time runs from the creation of the iterator (persistent workers are already up, as
    from the second epoch of real training on); CPU time counts the DataLoader workers too.
    """
    cpu, start, seen = cpu_seconds(), time.perf_counter(), 0
    it: Iterator[Batch] = iter(batches())
    for _ in range(steps):
        batch = next(it)
        seen += step(batch["features"], batch["labels"]) if step is not None \
            else len(batch["labels"])
    wall = time.perf_counter() - start
    del it
    gc.collect()
    return seen / wall, 1000 * (cpu_seconds() - cpu) / seen


def measure_in_turn(batches: dict[str, Callable[[], Iterable[Batch]]],
                    steps: dict[str, TrainStep], num_steps: int) -> dict[str, tuple[float, float]]:
    """(samples/s, CPU ms per sample) of pipelines without workers, trained one batch each in
    turn, so that bursts of load from other processes fall on all of them alike."""
    names = list(batches)
    iterators = {name: iter(make()) for name, make in batches.items()}
    wall, cpu, seen = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0), dict.fromkeys(names, 0)
    for i in range(num_steps):
        for name in names[i % len(names):] + names[:i % len(names)]:  # rotate who goes first
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            batch = next(iterators[name])
            seen[name] += steps[name](batch["features"], batch["labels"])
            wall[name] += time.perf_counter() - wall_start
            cpu[name] += time.process_time() - cpu_start
    return {name: (seen[name] / wall[name], 1000 * cpu[name] / seen[name]) for name in names}


def run(args: argparse.Namespace, cache: FeatureCache) -> tuple[dict, dict]:
    """(samples/s, CPU ms/sample) of every pipeline in training and in loading alone, one pair
    a round."""
    cached = ClipDataset(cache, np.arange(len(cache)), crop_frames=args.crop_frames, train=True)
    on_the_fly = LibrosaClips(cache, args.crop_frames)

    def loader(dataset: Dataset, workers: int) -> Callable[[], DataLoader]:
        sampler = RandomSampler(dataset, replacement=True, num_samples=args.steps * args.batch_size,
                                generator=torch.Generator().manual_seed(0))
        init = one_blas_thread if args.worker_blas_threads else None
        persistent = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler,
                                collate_fn=collate_clips, num_workers=workers,
                                persistent_workers=workers > 0, worker_init_fn=init)
        return lambda: persistent

    in_memory = list(loader(cached, 0)())
    pipelines: dict[str, Callable[[], Iterable[Batch]]] = {"in-memory tensors": lambda: in_memory}
    workers_of = {"in-memory tensors": 0}
    for dataset, label in ((cached, "cache + ClipDataset"), (on_the_fly, "librosa on the fly")):
        for workers in args.workers:
            name = f"{label}, {workers} workers"
            pipelines[name], workers_of[name] = loader(dataset, workers), workers
    num_classes = len(cache.class_names)
    for batches in pipelines.values():  # warm-up: librosa's numba kernels, oneDNN primitives
        measure(batches, TrainStep(cache.num_features, num_classes, amp=args.amp), 1)
    train: dict[str, list[tuple[float, float]]] = {name: [] for name in pipelines}
    load: dict[str, list[tuple[float, float]]] = {name: [] for name in pipelines
                                                  if name != "in-memory tensors"}
    in_process = [name for name in pipelines if workers_of[name] == 0]
    with_workers = [name for name in pipelines if workers_of[name] > 0]
    for r in range(args.rounds):
        steps = {name: TrainStep(cache.num_features, num_classes, seed=r, amp=args.amp)
                 for name in in_process}
        for name, result in measure_in_turn({n: pipelines[n] for n in in_process}, steps,
                                            args.steps).items():
            train[name].append(result)
        for name in with_workers if r % 2 == 0 else with_workers[::-1]:  # even out load drifts
            step = TrainStep(cache.num_features, num_classes, seed=r, amp=args.amp)
            train[name].append(measure(pipelines[name], step, args.steps))
        for name in load:
            load[name].append(measure(pipelines[name], None, args.steps))
        for name in pipelines:
            loading = f", loading alone {load[name][-1][0]:7.1f}" if name in load else ""
            print(f"round {r + 1}/{args.rounds}  {name:<36} training {train[name][-1][0]:5.1f}"
                  f"{loading} samples/s, training CPU {train[name][-1][1]:5.1f} ms/sample "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return train, load


def report(train: dict[str, list[tuple[float, float]]],
           load: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> str:
    """The markdown table of medians and ratios, and the two target checks."""
    speed = {name: statistics.median(v[0] for v in values) for name, values in train.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in train.items()}
    loading = {name: statistics.median(v[0] for v in values) for name, values in load.items()}
    base, base_cpu = speed["in-memory tensors"], cpu["in-memory tensors"]
    lines = ["| pipeline | training samples/s | min-max | vs in-memory | training CPU ms/sample "
             "| vs in-memory | loading alone, samples/s |", "|---|---|---|---|---|---|---|"]
    for name, values in train.items():
        speeds = [v[0] for v in values]
        lines.append(f"| {name} | {speed[name]:.1f} | {min(speeds):.1f}-{max(speeds):.1f} | "
                     f"{speed[name] / base:.2f}x | {cpu[name]:.0f} | {base_cpu / cpu[name]:.2f}x | "
                     f"{loading[name]:.1f} |" if name in loading else
                     f"| {name} | {speed[name]:.1f} | {min(speeds):.1f}-{max(speeds):.1f} | "
                     f"1.00x | {cpu[name]:.0f} | 1.00x | - |")
    lines.append("")
    for workers in args.workers:
        cached, on_the_fly = (f"cache + ClipDataset, {workers} workers",
                              f"librosa on the fly, {workers} workers")
        lines.append(
            f"- {workers} workers: cache / in-memory = {speed[cached] / base:.2f} by wall "
            f"clock, {base_cpu / cpu[cached]:.2f} by CPU (target >= 0.9); cache / librosa = "
            f"{speed[cached] / speed[on_the_fly]:.2f} by wall clock, "
            f"{cpu[on_the_fly] / cpu[cached]:.2f} by CPU (target >= 3); loading alone "
            f"{loading[cached] / loading[on_the_fly]:.0f}x faster")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips-per-class", type=int, default=30, help="10 classes of 5 s clips")
    parser.add_argument("--source-rate", type=int, default=44100, help="sample rate of the wavs")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop-frames", type=int, default=200, help="training crop (10 ms frames)")
    parser.add_argument("--steps", type=int, default=10, help="batches per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--worker-blas-threads", type=int, choices=(0, 1), default=1,
                        help="1: one BLAS thread per DataLoader worker; 0: numpy's default")
    parser.add_argument("--amp", choices=("none", "bf16"), default="none",
                        help="autocast of the training step (bf16: CPU bfloat16)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the training process (default: torch's choice)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the corpus and cache here (default: a temporary folder)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        cache = synthetic_cache(work, args.clips_per_class, args.source_rate)
        print(f"{len(cache)} clips of 5 s at {args.source_rate} Hz; batch {args.batch_size}, "
              f"crop {args.crop_frames} frames; amp {args.amp}; torch {torch.__version__} with "
              f"{torch.get_num_threads()} threads on {os.cpu_count()} CPUs; load average "
              f"{load_before[0]:.1f}", flush=True)
        train, load = run(args, cache)
    print()
    print(report(train, load, args))
    print(f"\nload average (1 min) {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
