"""`audiocs embed`: L2-normalized embeddings of the clips of a feature cache from a checkpoint.

Inputs go through the evaluation path (`audiocs.runner.clip_outputs`: checkpoint
normalization, whole clips batched by length, or `sliding_windows` per clip) with the model's
`forward_features` and no classifier; a sliding-window clip embedding is the mean of its
window embeddings, then L2-normalized. Under torchrun every rank embeds a strided shard of the
clips and rank 0 writes them back in cache order, so the output does not depend on the rank count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from audiocs.cache import FeatureCache
from audiocs.config import EvalConfig
from audiocs.distributed import DistContext, distributed
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_write
from audiocs.progress import progress_bar
from audiocs.runner import clip_outputs
from audiocs.scoring.io import EmbeddingSet, l2_normalize, write_embeddings


def select_rows(cache: FeatureCache, *, folds: Sequence[int] | None = None,
                indices: Sequence[int] | None = None, originals: bool = False) -> np.ndarray:
    """Cache rows (K,) to embed: the given `indices` (in that order) or all, kept if their fold is in
    `folds`; with `originals`, augmented copies (speed, noise) are left out."""
    rows = np.arange(len(cache)) if indices is None else np.asarray(indices, np.int64)
    bad = rows[(rows < 0) | (rows >= len(cache))]
    if len(bad):
        raise AudiocsError(f"{cache.root}: indices {bad[:5].tolist()} out of range (cache has {len(cache)} clips)")
    if folds is not None:
        rows = rows[np.isin(cache.folds[rows], list(folds))]
    if originals:
        rows = rows[~np.asarray(cache.copies, bool)[rows]]
    if not len(rows):
        raise AudiocsError(f"{cache.root}: no clips selected (folds {list(folds or [])}, present "
                           f"{sorted(set(cache.folds.tolist()))}{', originals only' if originals else ''})")
    return rows


@torch.no_grad()
def embed_clips(model: nn.Module, cache: FeatureCache, rows: np.ndarray, mean: np.ndarray, std: np.ndarray,
                cfg: EvalConfig, device: torch.device, *, chunk: int = 256, progress: bool = True,
                partial_dir: Path | None = None) -> np.ndarray:
    """L2-normalized embeddings (K, D) float32 of cache rows `rows` (K,).

    With `partial_dir`, each finished chunk of clips is saved there and reused by a re-run.
    """
    parts = []
    for k, start in enumerate(progress_bar(range(0, len(rows), chunk), desc="embed",
                                                unit="chunk", enabled=progress)):
        done = partial_dir / f"chunk{k:06d}.npy" if partial_dir is not None else None
        if done is not None and done.is_file():
            parts.append(np.load(done))
            continue
        raw = clip_outputs(model, nn.Identity(), cache, rows[start:start + chunk], mean, std, cfg, device).numpy()
        if done is not None:
            with atomic_write(done, "wb") as f:
                np.save(f, raw)
        parts.append(raw)
    return l2_normalize(np.concatenate(parts)) if parts else np.zeros((0, model.embed_dim), np.float32)


def _partial_root(out_dir: Path, checkpoint: Path, cache: FeatureCache, rows: np.ndarray, cfg: EvalConfig,
                  chunk: int) -> Path:
    """Folder for finished chunks of this exact job (checkpoint file, cache, rows, windows) under `out_dir`."""
    stat = checkpoint.stat()
    key = json.dumps([str(checkpoint.resolve()), stat.st_size, stat.st_mtime_ns, str(cache.root.resolve()),
                      hashlib.sha1(rows.astype(np.int64).tobytes()).hexdigest(), asdict(cfg), chunk])
    return out_dir / f".partial-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _gather_to_main(ctx: DistContext, positions: np.ndarray, vectors: np.ndarray, total: int) -> np.ndarray | None:
    """Every rank's (positions, vectors) merged into cache order (total, D) on rank 0; None elsewhere."""
    if not ctx.distributed:
        return vectors
    shards: list = [None] * ctx.world_size
    dist.all_gather_object(shards, (positions, vectors))
    if not ctx.is_main:
        return None
    merged = np.zeros((total, vectors.shape[1]), np.float32)
    seen = np.zeros(total, bool)
    for pos, vec in shards:
        merged[pos] = vec
        seen[pos] = True
    if not seen.all():
        raise AudiocsError(f"embedding shards cover {int(seen.sum())} of {total} clips")
    return merged


def embed_cache(exp_dir: str | Path, cache_dir: str | Path, out_dir: str | Path, *,
                folds: Sequence[int] | None = None, indices: Sequence[int] | None = None,
                window: int | None = None, hop: int | None = None, batch_size: int = 16,
                device: str = "cpu", checkpoint: str = "best.pt", ark: bool = False,
                progress: bool = True, chunk: int = 256, originals: bool = False) -> EmbeddingSet | None:
    """Embed the selected clips of a cache with an experiment's checkpoint; rank 0 writes `out_dir`.

    Finished chunks are kept in `out_dir/.partial-*` until the end, so an interrupted run resumes.
    """
    from audiocs.runner import load_for_inference

    with distributed(device) as ctx:
        bundle = load_for_inference(exp_dir, prefer=checkpoint, device=ctx.device)
        cache = FeatureCache(cache_dir)
        if cache.settings != bundle.settings:
            raise AudiocsError(f"{cache.root}: feature settings {cache.settings.to_dict()} differ from those of "
                               f"{bundle.checkpoint} ({bundle.settings.to_dict()})")
        rows = select_rows(cache, folds=folds, indices=indices, originals=originals)
        if window is not None:
            cfg = EvalConfig(mode="sliding", window_frames=window, hop_frames=hop or max(window // 2, 1))
        else:
            cfg = EvalConfig(mode="whole", batch_size=batch_size)
        positions = np.arange(ctx.rank, len(rows), ctx.world_size)
        partial = _partial_root(Path(out_dir), bundle.checkpoint, cache, rows, cfg, chunk)
        mine = embed_clips(bundle.model, cache, rows[positions], bundle.mean, bundle.std, cfg, ctx.device,
                           chunk=chunk, progress=progress and ctx.is_main,
                           partial_dir=partial / f"rank{ctx.rank}of{ctx.world_size}")
        vectors = _gather_to_main(ctx, positions, mine, len(rows))
        if vectors is None:
            return None
        r = rows.tolist()
        es = EmbeddingSet([cache.rows[i].id for i in r], vectors, cache.labels[rows],
                          [cache.rows[i].label_name for i in r], [cache.speakers[i] for i in r],
                          source=str(out_dir))
        write_embeddings(out_dir, es, ark=ark)
        shutil.rmtree(partial, ignore_errors=True)
        return es
