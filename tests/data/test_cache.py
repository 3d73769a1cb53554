"""manifest.py (read/write/validate), cache_build.py (build, resume, reject) and cache.py (read)."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiocs.cache_build as cache_module
from audiocs.audio import load_audio
from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings, compute_features
from audiocs.manifest import ManifestRow, read_manifest, write_manifest

SETTINGS = FeatureSettings(n_mels=32)


def _corpus(folder: Path, n: int = 12, seed: int = 0) -> list[ManifestRow]:
    """n generated clips (mixed rates, stereo, lengths) in 3 classes and 4 folds."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        rate = (8000, 16000, 22050, 44100)[i % 4]
        t = np.arange(int(rate * rng.uniform(0.3, 1.2))) / rate
        y = 0.3 * np.sin(2 * np.pi * (200 + 150 * (i % 3)) * t) + 0.02 * rng.standard_normal(t.size)
        if i % 5 == 0:
            y = np.stack([y, 0.5 * y], 1)
        sf.write(folder / f"clip{i:03d}.wav", y.astype(np.float32), rate, subtype="PCM_16")
        rows.append(ManifestRow(f"clip{i:03d}", f"{folder.name}/clip{i:03d}.wav", i % 3,
                                f"class{i % 3}", i % 4 + 1, f"spk{i % 2}", len(t) / rate,
                                {"split": "train" if i % 4 else "test"}))
    return rows


def _bad_files(folder: Path) -> list[ManifestRow]:
    (folder / "text.wav").write_text("not audio at all\n")
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "silent.wav", np.zeros(4000, np.float32), 16000)
    sf.write(folder / "nan.wav", np.full(4000, np.nan, np.float32), 16000, subtype="FLOAT")
    sf.write(folder / "truncated.wav", np.ones(4000, np.float32), 16000)
    (folder / "truncated.wav").write_bytes((folder / "truncated.wav").read_bytes()[:30])
    names = ["text", "empty", "silent", "nan", "truncated", "missing"]
    return [ManifestRow(f"bad_{n}", f"{folder.name}/{n}.wav", 0, "class0", 1) for n in names]


@pytest.fixture()
def corpus(tmp_path) -> Path:
    rows = _corpus(tmp_path / "audio")
    rows[3:3] = _bad_files(tmp_path / "audio")
    write_manifest(rows, tmp_path / "manifest.csv")
    return tmp_path / "manifest.csv"


# --- manifest ----------------------------------------------------------------------------


def test_manifest_round_trip_resolves_relative_paths_and_keeps_extra(tmp_path) -> None:
    rows = _corpus(tmp_path / "audio", n=4)
    rows[0].extra["note"] = "a,b"
    write_manifest(rows, tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    assert [r.id for r in back] == [r.id for r in rows]
    assert back[1].path == str(tmp_path / "audio" / "clip001.wav")
    assert (back[2].label, back[2].fold, back[2].speaker) == (2, 3, "spk0")
    assert back[2].duration == rows[2].duration
    assert back[0].extra == {"split": "test", "note": "a,b"} and back[1].extra["note"] == ""
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(",fold,", ",fld,"), "missing columns fold"),
    (lambda t: t.replace("clip002,", "clip001,"), "line 4: duplicate id 'clip001' .first on line 3"),
    (lambda t: t.replace(",2,class2,3,", ",two,class2,3,"), "line 4: column 'label' must be int"),
    (lambda t: t.replace(",2,class2,3,", ",2,class2,x,"), "line 4: column 'fold' must be int"),
    (lambda t: t.replace(",0,class0,4,", ",0,classX,4,"),
     "line 5: label 0 is named 'classX' but 'class0' on line 2"),
])
def test_manifest_errors_name_file_and_line(tmp_path, edit, message) -> None:
    write_manifest(_corpus(tmp_path / "audio", n=4), tmp_path / "m.csv")
    path = tmp_path / "m.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(AudiocsError, match=message) as info:
        read_manifest(path)
    assert str(path) in str(info.value)


# --- building and reading ------------------------------------------------------------------


def test_cache_round_trips_exactly_and_rejects_bad_files(corpus, tmp_path) -> None:
    cache = build_cache(corpus, tmp_path / "cache", SETTINGS, workers=2, chunk_size=5,
                        train_folds=[2, 3, 4], progress=False)
    rows = read_manifest(corpus)
    good = [r for r in rows if not r.id.startswith("bad_")]
    assert len(cache) == 12 and [r.id for r in cache.rows] == [r.id for r in good]
    assert cache.class_names == ["class0", "class1", "class2"]
    assert cache.labels.dtype == np.int64 and cache.labels.tolist() == [r.label for r in good]
    assert cache.folds.tolist() == [r.fold for r in good]
    assert cache.speakers == [r.speaker for r in good] and cache.num_features == 32
    assert cache.settings == SETTINGS and cache.rows[0].extra == {"split": "test"}
    for i, row in enumerate(good):
        ref = compute_features(torch.from_numpy(load_audio(row.path, 16000)), SETTINGS).numpy()
        assert cache[i].dtype == np.float32 and np.array_equal(cache[i], ref)
    assert np.array_equal(cache[-1], cache[11])
    with pytest.raises(IndexError):
        cache[12]
    # Normalization statistics: the frames of folds 2-4 only.
    train = np.concatenate([cache[i] for i in range(12) if cache.folds[i] in (2, 3, 4)])
    np.testing.assert_allclose(cache.mean, train.mean(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(cache.std, train.std(0), rtol=1e-4, atol=1e-4)
    rejected = (tmp_path / "cache" / "rejected.csv").read_text().splitlines()
    assert rejected[0] == "path,reason,detail"
    reasons = {Path(line.split(",")[0]).stem: line.split(",")[1] for line in rejected[1:]}
    assert reasons == {"text": "not_audio", "empty": "empty", "silent": "silent",
                       "nan": "nonfinite", "truncated": "unreadable", "missing": "missing"}
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert names == ["cache.json", "clip_stats.npz", "features.npy", "manifest.csv",
                     "offsets.npy", "rejected.csv", "settings.json", "stats.json"]
    assert isinstance(cache[0], np.memmap)
    # Pickling (DataLoader workers) sends the folder name, not the arrays.
    blob = pickle.dumps(cache)
    assert len(blob) < 1000 and np.array_equal(pickle.loads(blob)[4], cache[4])


def test_statistics_of_any_subset_of_clips(corpus, tmp_path) -> None:
    cache = build_cache(corpus, tmp_path / "cache", SETTINGS, workers=1, chunk_size=5,
                        progress=False)
    subset = [i for i in range(len(cache)) if cache.folds[i] in (1, 3)]
    frames = np.concatenate([cache[i] for i in subset]).astype(np.float64)
    mean, std = cache.stats(subset)
    assert mean.dtype == std.dtype == np.float32 and mean.shape == (32,)
    np.testing.assert_allclose(mean, frames.mean(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(std, frames.std(0), rtol=1e-4, atol=1e-4)
    assert not np.allclose(mean, cache.mean, atol=1e-3)  # not the all-clips statistics
    # a cache built without clip_stats.npz computes the same numbers from its frames
    (cache.root / "clip_stats.npz").unlink()
    old = FeatureCache(cache.root)
    for a, b in zip(old.stats(subset), (mean, std)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    with pytest.raises(AudiocsError, match="no clips"):
        old.stats([])
    (cache.root / "clip_stats.npz").write_bytes(b"garbage")
    with pytest.raises(AudiocsError, match="clip_stats.npz: corrupt"):
        FeatureCache(cache.root).stats(subset)


def test_flushing_features_in_steps_writes_the_same_files(corpus, tmp_path, monkeypatch) -> None:
    whole = build_cache(corpus, tmp_path / "whole", SETTINGS, workers=1, chunk_size=3,
                        progress=False)
    monkeypatch.setattr(cache_module, "_SYNC_BYTES", 1)  # flush to disk after every chunk
    stepped = build_cache(corpus, tmp_path / "stepped", SETTINGS, workers=2, chunk_size=3,
                          progress=False)
    for name in ("features.npy", "offsets.npy", "stats.json", "manifest.csv", "rejected.csv"):
        assert (whole.root / name).read_bytes() == (stepped.root / name).read_bytes(), name
    header = (whole.root / "features.npy").read_bytes()[:128]
    assert header.startswith(b"\x93NUMPY\x01\x00") and header.endswith(b"\n")
    assert np.load(whole.root / "features.npy").shape == (int(whole.offsets[-1]), 32)


def test_rerun_is_a_noop_and_changes_are_refused(corpus, tmp_path) -> None:
    out = tmp_path / "cache"
    build_cache(corpus, out, SETTINGS, workers=1, progress=False)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    build_cache(corpus, out, SETTINGS, workers=1, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    with pytest.raises(AudiocsError, match="complete cache made with a different settings;"):
        build_cache(corpus, out, FeatureSettings(n_mels=40), workers=1, progress=False)
    with pytest.raises(AudiocsError, match="different manifest_sha256, num_rows"):
        build_cache(read_manifest(corpus)[:-1], out, SETTINGS, workers=1, progress=False)
    with pytest.raises(AudiocsError, match="different train_folds"):
        build_cache(corpus, out, SETTINGS, workers=1, train_folds=[1], progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(AudiocsError, match="not empty and is not a feature cache"):
        build_cache(corpus, tmp_path / "other", SETTINGS, progress=False)


def test_strict_fails_listing_rejections_and_leaves_no_cache(corpus, tmp_path) -> None:
    with pytest.raises(AudiocsError, match=r"6 of 18 clips rejected.*text\.wav: not_audio"):
        build_cache(corpus, tmp_path / "cache", SETTINGS, workers=1, strict=True,
                    progress=False)
    with pytest.raises(AudiocsError, match="unfinished build"):
        FeatureCache(tmp_path / "cache")
    # The non-strict re-run finishes from the finished chunks.
    cache = build_cache(corpus, tmp_path / "cache", SETTINGS, workers=1, progress=False)
    assert len(cache) == 12
    meta = json.loads((tmp_path / "cache" / "cache.json").read_text())
    assert meta["chunks_resumed"] == meta["chunks"] == 2  # 18 clips in chunks of 16


def test_opening_missing_or_corrupt_cache_names_it(corpus, tmp_path) -> None:
    with pytest.raises(AudiocsError, match="nowhere.*missing"):
        FeatureCache(tmp_path / "nowhere")
    out = tmp_path / "cache"
    build_cache(corpus, out, SETTINGS, workers=1, progress=False)
    np.save(out / "offsets.npy", np.array([0, 5, 3], np.int64))
    with pytest.raises(AudiocsError, match=f"{out}: corrupt feature cache.*offsets"):
        FeatureCache(out)
    (out / "features.npy").write_bytes(b"garbage")
    with pytest.raises(AudiocsError, match="corrupt feature cache"):
        FeatureCache(out)


def test_200_random_byte_files_are_all_rejected(tmp_path) -> None:
    rows = [dataclasses.replace(r, path=str(tmp_path / r.path))
            for r in _corpus(tmp_path / "audio", n=3)]
    rng = np.random.default_rng(7)
    for i in range(200):
        (tmp_path / "audio" / f"junk{i:03d}.wav").write_bytes(rng.bytes(int(rng.integers(0, 3000))))
        rows.append(ManifestRow(f"junk{i:03d}", str(tmp_path / "audio" / f"junk{i:03d}.wav"),
                                0, "class0", 1))
    cache = build_cache(rows, tmp_path / "cache", SETTINGS, workers=2, chunk_size=32,
                        progress=False)
    assert len(cache) == 3
    lines = (tmp_path / "cache" / "rejected.csv").read_text().splitlines()[1:]
    assert len(lines) == 200
    assert {line.split(",")[1] for line in lines} <= {"not_audio", "unreadable", "empty"}
    meta = json.loads((tmp_path / "cache" / "cache.json").read_text())
    assert sum(meta["rejected"].values()) == 200 and meta["kept"] == 3


_CHILD = """
import sys, time
import audiocs.cache_build as cache
from audiocs.features import FeatureSettings
real = cache.extract_clip
def slow(*args, **kw):  # slow the child down so that the kill lands mid-way
    time.sleep(0.1)
    return real(*args, **kw)
cache.extract_clip = slow
cache.build_cache(sys.argv[1], sys.argv[2], FeatureSettings(n_mels=32), workers=1,
                  chunk_size=2, progress=False)
"""


def test_killed_build_resumes_to_the_same_cache(tmp_path) -> None:
    rows = _corpus(tmp_path / "audio", n=30, seed=3)
    write_manifest(rows, tmp_path / "m.csv")
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD),
                              str(tmp_path / "m.csv"), str(out)])
    deadline = time.monotonic() + 120
    while len(list((out / "parts").glob("part-*.npz"))) < 3 and time.monotonic() < deadline:
        assert child.poll() is None, "the build finished before it could be killed"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = len(list((out / "parts").glob("part-*.npz")))
    assert 3 <= done < 15
    with pytest.raises(AudiocsError, match="unfinished build"):
        FeatureCache(out)
    # A damaged part (say, lost in a power cut) is recomputed, not trusted.
    (out / "parts" / "part-000001.npz").write_bytes(b"PK\x03\x04 garbage")
    resumed = build_cache(tmp_path / "m.csv", out, SETTINGS, workers=2, chunk_size=2,
                          progress=False)
    assert json.loads((out / "cache.json").read_text())["chunks_resumed"] == done - 1
    whole = build_cache(tmp_path / "m.csv", tmp_path / "whole", SETTINGS, workers=1,
                        chunk_size=2, progress=False)
    for name in ("features.npy", "offsets.npy", "manifest.csv", "stats.json", "rejected.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert len(resumed) == len(whole) == 30
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.root.iterdir())


def test_real_esc50_and_fsdd_cache(real_data, tmp_path) -> None:
    esc = sorted((real_data / "esc50-sample" / "audio").glob("*.wav"))
    fsdd = sorted((real_data / "fsdd" / "recordings").glob("[0-4]_jackson_0.wav"))
    rows = [ManifestRow(p.stem, str(p), i, f"c{i}", 1 + i % 2, "") for i, p in enumerate(esc)]
    rows += [ManifestRow(p.stem, str(p), int(p.name[0]) + 5, f"digit{p.name[0]}", 1, "jackson")
             for p in fsdd]
    settings = FeatureSettings(kind="fbank", n_mels=40)
    cache = build_cache(rows, tmp_path / "cache", settings, workers=2, strict=True,
                        progress=False)
    assert len(cache) == 10 and cache.class_names[5] == "digit0"
    assert cache.lengths[:5].tolist() == [498] * 5  # 5 s at 16 kHz, 25 ms / 10 ms frames
    for i, row in enumerate(cache.rows):
        ref = compute_features(torch.from_numpy(load_audio(row.path, 16000)), settings).numpy()
        assert np.array_equal(cache[i], ref)
