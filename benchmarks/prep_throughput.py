"""Clips per second of the feature-cache build against single-process baselines, in one run.

Generates ``--clips`` 5-second 44.1 kHz wav clips, then times each method ``--repeats`` times,
interleaved, and reports the best time of each:

- ``librosa loop``: ``librosa.load(sr=...)`` + ``librosa.feature.melspectrogram`` +
  ``power_to_db``, one process (the baseline);
- ``decode+resample``: soundfile decode + soxr resampling only, one process (the floor);
- ``decode+resample+STFT``: the floor plus a torch STFT with the same parameters;
- ``build_cache``: ``audiocs.cache_build.build_cache`` with ``--workers`` processes into a fresh
  folder, end to end (pool start, features, consolidation, stats, manifest).

Run: ``python benchmarks/prep_throughput.py --clips 500 --workers 2``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

from audiocs.audio import load_audio
from audiocs.cache_build import build_cache
from audiocs.features import FeatureSettings
from audiocs.manifest import ManifestRow


def make_clips(folder: Path, n: int, seconds: float = 5.0, rate: int = 44100) -> list[ManifestRow]:
    """Write n clips of tones + noise (16-bit wav) and return their manifest rows."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    rows = []
    for i in range(n):
        y = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / f"clip{i:04d}.wav"
        sf.write(path, y.astype(np.float32), rate, subtype="PCM_16")
        rows.append(ManifestRow(f"clip{i:04d}", str(path), i % 10, f"class{i % 10}", i % 5 + 1,
                                "", seconds))
    return rows


def librosa_loop(paths: list[str], s: FeatureSettings) -> None:
    for p in paths:
        y, _ = librosa.load(p, sr=s.sample_rate)
        m = librosa.feature.melspectrogram(y=y, sr=s.sample_rate, n_fft=s.n_fft,
                                           hop_length=s.hop_length, win_length=s.win_length,
                                           n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
        librosa.power_to_db(m, top_db=s.top_db)


def decode_resample(paths: list[str], s: FeatureSettings) -> None:
    for p in paths:
        load_audio(p, s.sample_rate)


def decode_resample_stft(paths: list[str], s: FeatureSettings) -> None:
    window = torch.hann_window(s.win_length)
    for p in paths:
        wave = torch.from_numpy(load_audio(p, s.sample_rate))
        spec = torch.stft(wave, s.n_fft, s.hop_length, s.win_length, window, return_complex=True)
        spec.real.square() + spec.imag.square()


def best_times(methods: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Best wall time of each method over ``repeats`` rounds (methods interleaved per round)."""
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="report the best of this many runs")
    ap.add_argument("--kind", choices=("logmel", "fbank"), default="logmel")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the single-process baselines use one core, as librosa does
    settings = FeatureSettings(kind=args.kind)
    with tempfile.TemporaryDirectory(prefix="prep_bench_") as tmp:
        root = Path(tmp)
        (root / "audio").mkdir()
        rows = make_clips(root / "audio", args.clips)
        paths = [r.path for r in rows]
        decode_resample(paths, settings)  # warm the page cache for every method alike
        load_before = os.getloadavg()[0]

        def cache_build() -> None:
            shutil.rmtree(root / "cache", ignore_errors=True)
            build_cache(rows, root / "cache", settings, workers=args.workers, progress=False)

        results = best_times({
            "librosa loop (1 process)": lambda: librosa_loop(paths, settings),
            "decode+resample (1 process)": lambda: decode_resample(paths, settings),
            "decode+resample+STFT (1 process)": lambda: decode_resample_stft(paths, settings),
            f"build_cache ({args.workers} workers)": cache_build,
        }, args.repeats)
    base, floor = results["librosa loop (1 process)"], results["decode+resample+STFT (1 process)"]
    print(f"{args.clips} clips of 5 s at 44.1 kHz -> {args.kind} {settings.sample_rate} Hz, "
          f"n_fft {settings.n_fft}, hop {settings.hop_length}, {settings.n_mels} mels; "
          f"best of {args.repeats}; {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print("| method | seconds | clips/s | vs librosa loop | vs decode+resample+STFT |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, sec in results.items():
        print(f"| {name} | {sec:.2f} | {args.clips / sec:.0f} | {base / sec:.2f}x | "
              f"{floor / sec:.2f}x |")


if __name__ == "__main__":
    main()
