"""Building a feature cache (the format: ``audiocs.cache``) from a manifest: parallel, atomic,
resumable.

While building, a worker writes each chunk of clips as ``parts/part-<k>.npy`` (its frames) and
then ``parts/part-<k>.npz`` (frames per clip, rejection reasons, per-clip sums for the
statistics), each by atomic rename; the ``.npz`` marks the chunk done. The main process copies
finished chunks, in order, into a temporary ``features.npy`` while later ones are extracted; the
parts are deleted once the cache is complete, so a re-run after a kill skips the chunks already
there. Re-running on a complete cache with the same manifest, settings and training folds does
nothing; with different ones it raises an error (build into a new folder instead, or delete the
old one).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing as mp
import os
import shutil
import zipfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from audiocs.audio import SILENCE_RMS, AudioError
from audiocs.cache import (BUILD_MARKER, CLIP_STATS, MARKER, FeatureCache, frame_sums,
                           stats_from_sums)
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings, extract_clip
from audiocs.fileio import atomic_path, atomic_write, remove_temp_files
from audiocs.manifest import (ManifestRow, class_names, read_manifest, rows_digest,
                              validate_rows, write_manifest)
from audiocs.progress import progress_bar

_SYNC_BYTES = 16 << 20  # features.npy is flushed to disk in steps of this size


# --- extraction of one chunk (runs in a worker process) ---------------------------------


def _worker_init() -> None:
    torch.set_num_threads(1)


def _extract_chunk(paths: list[str], settings: FeatureSettings, min_rms: float,
                   part: Path) -> dict[str, np.ndarray]:
    """Featurize ``paths`` into the chunk ``part`` (.npy frames, then .npz meta; atomic).

    Returns the meta arrays (see ``_META``): frames per clip (-1 = rejected), the rejection
    reason and detail, and per-clip float64 sums and sums of squares for the statistics.
    """
    F = settings.num_features
    feats = [np.zeros((0, F), np.float32)]
    lengths, reasons, details = [], [], []
    sums, squares = np.zeros((len(paths), F)), np.zeros((len(paths), F))
    for i, path in enumerate(paths):
        try:
            x = extract_clip(path, settings, min_rms)
        except AudioError as err:
            x, reason, detail = None, err.reason, err.detail
        else:
            feats.append(x)
            sums[i], squares[i] = frame_sums(x)
            reason, detail = "", ""
        lengths.append(-1 if x is None else len(x))
        reasons.append(reason)
        details.append(detail)
    meta = {"lengths": np.array(lengths, np.int64), "reasons": np.array(reasons, dtype=str),
            "details": np.array(details, dtype=str), "sums": sums, "squares": squares}
    # fsync=False: a part lost in a power cut fails its check on the re-run and is recomputed
    with atomic_write(part.with_suffix(".npy"), "wb", fsync=False) as f:
        np.save(f, np.concatenate(feats))
    with atomic_write(part, "wb", fsync=False) as f:
        np.savez(f, **meta)
    return meta


def _load_rows(manifest: str | Path | Sequence[ManifestRow]) -> list[ManifestRow]:
    """Rows of a manifest file or list, with absolute clip paths."""
    rows = read_manifest(manifest) if isinstance(manifest, (str, Path)) else list(manifest)
    if not isinstance(manifest, (str, Path)):
        validate_rows(rows, "manifest rows")
    return [dataclasses.replace(r, path=os.path.abspath(r.path)) for r in rows]


def _fingerprint(rows, settings, train_folds, chunk_size, min_rms) -> dict:
    return {"manifest_sha256": rows_digest(rows), "num_rows": len(rows),
            "settings": settings.to_dict(), "chunk_size": chunk_size, "min_rms": min_rms,
            "train_folds": None if train_folds is None else sorted(set(train_folds))}


def _start_or_resume(out: Path, fingerprint: dict) -> bool:
    """Check ``out`` against ``fingerprint``; True when a complete matching cache is there."""
    for name, state in ((MARKER, "a complete cache"), (BUILD_MARKER, "an unfinished build")):
        f = out / name
        if f.is_file():
            try:
                old = json.loads(f.read_text())["fingerprint"]
            except (ValueError, KeyError, TypeError) as err:
                raise AudiocsError(f"{f}: corrupt ({err}); delete {out} and rebuild") from None
            if old != fingerprint:
                changed = [k for k in fingerprint if old.get(k) != fingerprint[k]]
                raise AudiocsError(f"{out}: holds {state} made with a different "
                                   f"{', '.join(changed)}; build into a new folder or delete it")
            return name == MARKER
    if out.exists() and any(out.iterdir()):
        raise AudiocsError(f"{out}: folder is not empty and is not a feature cache; "
                           "choose an empty or new folder")
    with atomic_write(out / BUILD_MARKER) as f:
        json.dump({"fingerprint": fingerprint}, f, indent=1)
    return False


def _chunk_results(todo: list[tuple[list[str], Path]], settings, min_rms, workers):
    """Extract the ``todo`` chunks (here, or in a pool of ``workers`` processes) and yield
    each one's meta arrays in order, as soon as it and the chunks before it are done."""
    if workers <= 1:
        for paths, part in todo:
            yield _extract_chunk(paths, settings, min_rms, part)
        return
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        futures = [pool.submit(_extract_chunk, paths, settings, min_rms, part)
                   for paths, part in todo]
        try:
            for fut in futures:
                yield fut.result()
        except BaseException:  # Ctrl-C, a failed worker or the reader gave up: finished parts
            pool.shutdown(wait=True, cancel_futures=True)  # stay for a re-run
            raise


_META = ("lengths", "reasons", "details", "sums", "squares")


def _open_frames(part: Path, frames: int, F: int):
    """Open the .npy frames of ``part`` positioned at its data; checks it holds (frames, F) float32."""
    path = part.with_suffix(".npy")
    try:
        f = open(path, "rb")
    except OSError as err:
        raise AudiocsError(f"{path}: unreadable part file ({err}); delete it and re-run") from None
    try:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        size = os.fstat(f.fileno()).st_size - f.tell()
        if shape != (frames, F) or fortran or dtype != np.dtype("<f4") or size != frames * F * 4:
            raise ValueError(f"holds {shape} {dtype} in {size} bytes, expected ({frames}, {F}) "
                             "float32")
    except (OSError, ValueError) as err:
        f.close()
        raise AudiocsError(f"{path}: bad part file ({err}); delete it and re-run") from None
    return f


def _read_part(part: Path, n: int, F: int) -> dict[str, np.ndarray]:
    """The meta arrays of a finished chunk of n clips; checks them and its frames file."""
    try:
        with np.load(part) as z:
            data = {k: z[k] for k in _META}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise AudiocsError(f"{part}: unreadable part file ({err}); delete it and re-run") from None
    if any(len(v) != n for v in data.values()) or data["sums"].shape != (n, F):
        raise AudiocsError(f"{part}: does not hold {n} clips of {F} features; delete it and re-run")
    _open_frames(part, _kept_frames(data["lengths"]), F).close()
    return data


def _finished_part(part: Path, n: int, F: int) -> dict[str, np.ndarray] | None:
    """The meta of ``part`` when it holds n finished clips, else None; an unreadable part is
    deleted (recomputed)."""
    if not part.is_file():
        return None
    try:
        return _read_part(part, n, F)
    except AudiocsError:
        part.unlink()
        part.with_suffix(".npy").unlink(missing_ok=True)
        return None


def _kept_frames(lengths: np.ndarray) -> int:
    """Frames of the kept clips (rejected clips have length -1)."""
    return int(lengths[lengths >= 0].sum())


def _npy_header(frames: int, F: int) -> bytes:
    """The .npy (version 1.0) header of a C-order float32 (frames, F) array."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(
        np.dtype("<f4")), "fortran_order": False, "shape": (frames, F)})
    return buf.getvalue()


def _gather_frames(dst, chunks: list[tuple[list[int], Path]], results,
                   done: dict[int, dict[str, np.ndarray]], F: int, bar) -> dict[str, np.ndarray]:
    """Append every chunk's frames to the open file ``dst`` (a .npy: header written last) in
    manifest order: those ``done`` before this run, the others from ``results`` as they are
    extracted; returns the joined meta."""
    # numpy pads a version 1.0 header to 64 bytes; any 2-D float32 shape needs 128 of them
    reserved = len(_npy_header(2**62, F))
    dst.seek(reserved)
    metas, unsynced = [], 0
    for k, (idx, part) in enumerate(chunks):
        if k in done:
            meta = done[k]
        else:
            meta = next(results)
            bar.update(len(idx))
        frames = _kept_frames(meta["lengths"])
        with _open_frames(part, frames, F) as src:
            shutil.copyfileobj(src, dst, 1 << 22)
        metas.append(meta)
        unsynced += frames * F * 4
        if unsynced > _SYNC_BYTES:  # flush to disk while the workers run, not all at the end
            dst.flush()
            getattr(os, "fdatasync", os.fsync)(dst.fileno())  # macOS has no fdatasync
            unsynced = 0
    joined = {k: np.concatenate([m[k] for m in metas]) for k in _META}
    header = _npy_header(_kept_frames(joined["lengths"]), F)
    if len(header) != reserved:  # cannot happen for a 2-D shape; never write a bad file
        raise AudiocsError(f"{dst.name}: .npy header of {len(header)} bytes, reserved {reserved}")
    dst.seek(0)
    dst.write(header)
    dst.flush()
    os.fsync(dst.fileno())
    return joined


def _write_csv(path: Path, header: Sequence[str], records) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)


def _write_json(path: Path, data: dict) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def _check_rejections(out: Path, rows: list[ManifestRow], meta: dict[str, np.ndarray],
                      strict: bool) -> list[tuple[str, str, str]]:
    """Write rejected.csv (path, reason, detail); ``strict`` raises on any rejection."""
    rejected = [(rows[i].path, str(meta["reasons"][i]), str(meta["details"][i]))
                for i in np.flatnonzero(meta["lengths"] < 0)]
    _write_csv(out / "rejected.csv", ("path", "reason", "detail"), rejected)
    if strict and rejected:
        listing = "; ".join(f"{p}: {r} ({d})" for p, r, d in rejected[:20])
        more = f"; and {len(rejected) - 20} more" if len(rejected) > 20 else ""
        raise AudiocsError(f"{len(rejected)} of {len(rows)} clips rejected (strict): {listing}"
                           f"{more}; see {out / 'rejected.csv'}")
    return rejected


def build_cache(manifest: str | Path | Sequence[ManifestRow], out_dir: str | Path,
                settings: FeatureSettings, *, workers: int = 2, strict: bool = False,
                train_folds: Sequence[int] | None = None, chunk_size: int = 16,
                min_rms: float = SILENCE_RMS, progress: bool = True) -> FeatureCache:
    """Extract features of every manifest clip into the cache folder ``out_dir`` (see module doc).

    Bad clips are skipped and listed in rejected.csv (``strict=True`` raises instead);
    normalization stats use the rows whose fold is in ``train_folds`` (all rows when None).
    """
    rows = _load_rows(manifest)
    if not rows:
        raise AudiocsError(f"{manifest if isinstance(manifest, (str, Path)) else 'manifest'}: "
                           "no rows")
    out = Path(out_dir)
    fingerprint = _fingerprint(rows, settings, train_folds, chunk_size, min_rms)
    if _start_or_resume(out, fingerprint):
        shutil.rmtree(out / "parts", ignore_errors=True)
        if progress:
            print(f"{out}: feature cache is complete and up to date")
        return FeatureCache(out)
    F = settings.num_features
    part_dir = out / "parts"
    part_dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(part_dir)
    remove_temp_files(out)
    chunks = [(list(range(a, min(a + chunk_size, len(rows)))), part_dir / f"part-{k:06d}.npz")
              for k, a in enumerate(range(0, len(rows), chunk_size))]
    done = {k: meta for k, (idx, part) in enumerate(chunks)
            if (meta := _finished_part(part, len(idx), F)) is not None}
    todo = [k for k in range(len(chunks)) if k not in done]
    results = _chunk_results([([rows[i].path for i in chunks[k][0]], chunks[k][1]) for k in todo],
                             settings, min_rms, workers)
    bar = progress_bar(total=len(rows), initial=sum(len(chunks[k][0]) for k in done),
                       unit="clip", desc="features", enabled=progress)
    # features.npy appears (atomic rename) only once every check below has passed
    with atomic_path(out / "features.npy") as tmp:
        with closing(results), bar, open(tmp, "wb") as dst:  # closing: stops the pool on error
            meta = _gather_frames(dst, chunks, results, done, F, bar)
        lengths = meta["lengths"]
        rejected = _check_rejections(out, rows, meta, strict)
        kept = [r for r, n in zip(rows, lengths) if n >= 0]
        if not kept:
            raise AudiocsError(f"{out}: every clip was rejected ({_summary(rejected)}); "
                               f"see {out / 'rejected.csv'}")
        folds = None if train_folds is None else set(train_folds)
        train = (lengths >= 0) & np.array([folds is None or r.fold in folds for r in rows])
        if not train.any():
            raise AudiocsError(f"{out}: no kept clip is in train_folds {sorted(folds or [])}; "
                               "cannot compute normalization statistics")

    offsets = np.concatenate([[0], np.cumsum(lengths[lengths >= 0])]).astype(np.int64)
    with atomic_write(out / "offsets.npy", "wb") as f:
        np.save(f, offsets)
    frames = int(lengths[train].sum())
    mean, std = stats_from_sums(meta["sums"][train], meta["squares"][train], frames)
    keep = lengths >= 0
    with atomic_write(out / CLIP_STATS, "wb") as f:
        np.savez(f, sums=meta["sums"][keep], squares=meta["squares"][keep])
    write_manifest(kept, out / "manifest.csv")
    _write_json(out / "settings.json", settings.to_dict())
    _write_json(out / "stats.json", {"mean": mean.tolist(), "std": std.tolist(),
                                     "frames": frames, "train_folds": fingerprint["train_folds"]})
    _write_json(out / MARKER, {
        "fingerprint": fingerprint, "class_names": class_names(rows), "kept": len(kept),
        "rejected": dict(Counter(r for _, r, _ in rejected)), "frames": int(offsets[-1]),
        "chunks": len(chunks), "chunks_resumed": len(done)})
    (out / BUILD_MARKER).unlink(missing_ok=True)
    shutil.rmtree(part_dir, ignore_errors=True)
    if progress:
        print(f"{out}: kept {len(kept)} of {len(rows)} clips; rejected {_summary(rejected)}"
              + (f" (see {out / 'rejected.csv'})" if rejected else ""))
    return FeatureCache(out)


def _summary(rejected: list) -> str:
    counts = Counter(r for _, r, _ in rejected)
    return ", ".join(f"{n} {r}" for r, n in counts.most_common()) or "none"
