"""The feature cache folder and its reader, ``FeatureCache`` (memory-mapped).

A finished cache folder holds::

    features.npy   (sum T, F) float32, every kept clip's frames one after another
    offsets.npy    (N + 1,) int64, clip i is features[offsets[i]:offsets[i + 1]]
    manifest.csv   the kept clips (same order), absolute paths
    settings.json  the FeatureSettings
    stats.json     per-dimension mean/std over the frames of the training part
    clip_stats.npz per-clip float64 frame sums and sums of squares (N, F), so that any subset
                   of clips (a fold's training rows) gets its statistics without reading frames
    rejected.csv   path,reason,detail of every clip that was not kept
    cache.json     the completion marker (written last): counts, class names, build fingerprint

``audiocs.cache_build.build_cache`` writes it (``build.json`` marks a build in progress).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings
from audiocs.manifest import read_manifest

MARKER = "cache.json"  # the completion marker, written last
BUILD_MARKER = "build.json"  # present while a build is unfinished
CLIP_STATS = "clip_stats.npz"
_STD_FLOOR = 1e-5


def frame_sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squares (F,) float64 over the frames of one clip (T, F)."""
    return x.sum(0, dtype=np.float64), np.square(x, dtype=np.float64).sum(0)


def stats_from_sums(sums: np.ndarray, squares: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (F,) float32 from per-clip frame sums and sums of squares (float64)."""
    mean = sums.sum(0) / max(frames, 1)
    std = np.sqrt(np.maximum(squares.sum(0) / max(frames, 1) - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, _STD_FLOOR).astype(np.float32)



class FeatureCache:
    """A finished cache folder: ``cache[i]`` is clip i's features (T, F) float32, memory-mapped."""

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path)
        marker = self.root / MARKER
        if not marker.is_file():
            state = "an unfinished build (re-run it to finish)" if (self.root / BUILD_MARKER).is_file() \
                else "missing" if not self.root.exists() else "not a feature cache"
            raise AudiocsError(f"{self.root}: no complete feature cache here ({state})")
        try:
            meta = json.loads(marker.read_text())
            self.settings = FeatureSettings.from_dict(
                json.loads((self.root / "settings.json").read_text()))
            stats = json.loads((self.root / "stats.json").read_text())
            self.mean = np.asarray(stats["mean"], np.float32)
            self.std = np.asarray(stats["std"], np.float32)
            self._features = np.load(self.root / "features.npy", mmap_mode="r")
            self.offsets = np.load(self.root / "offsets.npy")
            self.rows = read_manifest(self.root / "manifest.csv")
            self.class_names: list[str] = list(meta["class_names"])
        except (OSError, EOFError, ValueError, KeyError, TypeError) as err:
            raise AudiocsError(f"{self.root}: corrupt feature cache ({err})") from None
        F, n = self.settings.num_features, len(self.rows)
        problems = [msg for bad, msg in (
            (self._features.ndim != 2 or self._features.shape[1] != F
             or self._features.dtype != np.float32, f"features.npy is not float32 (frames, {F})"),
            (self.offsets.shape != (n + 1,), f"offsets.npy does not have {n + 1} entries"),
            (self.mean.shape != (F,) or self.std.shape != (F,), f"stats.json is not ({F},)"),
        ) if bad]
        if not problems and (self.offsets[0] != 0 or self.offsets[-1] != len(self._features)
                             or (np.diff(self.offsets) <= 0).any()):
            problems.append("offsets.npy does not index features.npy")
        if problems:
            raise AudiocsError(f"{self.root}: corrupt feature cache ({'; '.join(problems)})")
        self.labels = np.array([r.label for r in self.rows], np.int64)
        self.folds = np.array([r.fold for r in self.rows], np.int64)
        self.speakers = [r.speaker for r in self.rows]
        # augmented copies of other rows (data_prep --speed, --noise): training rows only
        self.copies = np.array([bool(r.extra.get("speed") or r.extra.get("noise"))
                                for r in self.rows], bool)
        # the row each copy was made from (manifest column copy_of), -1: none in this cache
        position = {r.id: i for i, r in enumerate(self.rows)}
        self.origins = np.array([position.get(r.extra.get("copy_of", ""), -1) for r in self.rows],
                                np.int64)
        self.lengths = np.diff(self.offsets)
        self._clip_sums: tuple[np.ndarray, np.ndarray] | None = None

    def splits(self, data, seed: int):
        """:func:`audiocs.splits.resolve_splits` over this cache's rows: their folds, labels,
        augmented copies and the rows those were made from (`data`: a DataConfig)."""
        from audiocs.splits import resolve_splits

        return resolve_splits(self.folds, self.labels, data, seed, self.copies, self.origins)

    @property
    def num_features(self) -> int:
        """Feature dimension F."""
        return self.settings.num_features

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        """Clip i's features (T, F) float32 (read-only memory map, not normalized)."""
        n = len(self.rows)
        if not -n <= i < n:
            raise IndexError(f"clip index {i} out of range for a cache of {n} clips")
        i %= n
        return self._features[self.offsets[i]:self.offsets[i + 1]]

    def __reduce__(self):
        return FeatureCache, (str(self.root),)

    def clip_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-clip frame sums and sums of squares, each (N, F) float64 (from clip_stats.npz;
        computed from the frames for a cache built without it)."""
        if self._clip_sums is None:
            path = self.root / CLIP_STATS
            n, F = len(self.rows), self.num_features
            if path.is_file():
                try:
                    with np.load(path) as z:
                        sums, squares = z["sums"], z["squares"]
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                    raise AudiocsError(f"{path}: corrupt per-clip statistics ({err})") from None
                if sums.shape != (n, F) or squares.shape != (n, F):
                    raise AudiocsError(f"{path}: per-clip statistics are not ({n}, {F})")
            else:
                sums, squares = np.zeros((n, F)), np.zeros((n, F))
                for i in range(n):
                    sums[i], squares[i] = frame_sums(self[i])
            self._clip_sums = (sums, squares)
        return self._clip_sums

    def stats(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (F,) float32 over the frames of the clips `indices` only (e.g. one
        fold's training rows, so that no test clip shapes the input scaling)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise AudiocsError(f"{self.root}: no clips to compute normalization statistics from")
        sums, squares = self.clip_sums()
        return stats_from_sums(sums[idx], squares[idx], int(self.lengths[idx].sum()))

    def __repr__(self) -> str:
        return (f"FeatureCache({str(self.root)!r}, clips={len(self)}, "
                f"classes={len(self.class_names)}, kind={self.settings.kind!r})")
