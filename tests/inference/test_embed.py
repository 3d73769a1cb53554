"""`audiocs embed`: embeddings equal the model's forward_features on normalized clips; sharding."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import make_experiment

from audiocs.cache import FeatureCache
from audiocs.cli import main
from audiocs.data import sliding_windows
from audiocs.scoring import read_embeddings


def _direct(model: torch.nn.Module, cache: FeatureCache, i: int, window: int | None = None,
            hop: int | None = None) -> np.ndarray:
    """Reference: one clip through forward_features, normalized features, L2-normalized output."""
    x = torch.from_numpy((np.asarray(cache[i]) - cache.mean) / cache.std)
    with torch.no_grad():
        emb = model.forward_features(x[None] if window is None else sliding_windows(x, window, hop)).mean(0)
    return (emb / emb.norm()).numpy()


def test_whole_clip_embeddings_match_forward_features(tmp_path, tone_cache):
    exp, model = make_experiment(tmp_path, tone_cache)
    out = tmp_path / "emb"
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(out),
                 "--folds", "2", "3", "--batch-size", "5", "--ark"]) == 0
    es = read_embeddings(out)
    cache = FeatureCache(tone_cache)
    rows = np.flatnonzero(np.isin(cache.folds, [2, 3]))
    assert es.ids == [cache.rows[i].id for i in rows] and len(es) == 32
    assert es.label_names == [cache.class_names[k] for k in cache.labels[rows]]
    ref = np.stack([_direct(model, cache, i) for i in rows])
    np.testing.assert_allclose(es.vectors, ref, atol=1e-5)
    import kaldiio

    np.testing.assert_allclose(kaldiio.load_scp(str(out / "embeddings.scp"))[es.ids[3]], es.vectors[3])


def test_sliding_window_embeddings_average_windows(tmp_path, tone_cache):
    exp, model = make_experiment(tmp_path, tone_cache)
    out = tmp_path / "emb"
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(out),
                 "--indices", "7", "3", "40", "--window", "20", "--hop", "8"]) == 0
    es = read_embeddings(out)
    cache = FeatureCache(tone_cache)
    assert es.ids == [cache.rows[i].id for i in (7, 3, 40)]
    ref = np.stack([_direct(model, cache, i, 20, 8) for i in (7, 3, 40)])
    np.testing.assert_allclose(es.vectors, ref, atol=1e-5)
    assert np.abs(es.vectors[0] - _direct(model, cache, 7)).max() > 1e-4  # windows differ from the whole clip


def test_embed_refuses_other_feature_settings_and_bad_rows(tmp_path, tone_cache, capsys):
    cache = FeatureCache(tone_cache)
    other = {**cache.settings.to_dict(), "n_fft": 512}
    exp, _ = make_experiment(tmp_path, tone_cache, feature_settings=other)
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(tmp_path / "e")]) == 2
    assert "feature settings" in capsys.readouterr().err
    exp, _ = make_experiment(tmp_path / "ok", tone_cache)
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(tmp_path / "e"),
                 "--indices", "5", "999"]) == 2
    assert "indices [999] out of range" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_embed_then_trials_then_score(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    emb, trials, scores = tmp_path / "emb", tmp_path / "trials.txt", tmp_path / "scores"
    assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(emb)]) == 0
    assert main(["trials", "--embeddings", str(emb), "--out", str(trials), "--by", "label"]) == 0
    assert main(["score", "--embeddings", str(emb), "--trials", str(trials), "--out", str(scores),
                 "--no-plots"]) == 0
    es = read_embeddings(emb)
    row = es.row_of()
    lines = [line.split() for line in (scores / "scores.txt").read_text().splitlines()]
    assert len(lines) == 80 * 79 // 2
    got = np.array([float(s) for _, _, s, _ in lines])
    ref = np.array([es.vectors[row[a]] @ es.vectors[row[b]] for a, b, _, _ in lines])
    np.testing.assert_allclose(got, ref, atol=2e-6)


def test_interrupted_embedding_resumes_from_finished_chunks(tmp_path, tone_cache, monkeypatch):
    import audiocs.embed as embed_module

    exp, _ = make_experiment(tmp_path, tone_cache)
    job = {"indices": list(range(40)), "chunk": 8, "progress": False}  # 5 chunks
    clean = embed_module.embed_cache(exp, tone_cache, tmp_path / "clean", **job)
    calls, kill_at = [], [3]
    original = embed_module.clip_outputs

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) in kill_at:
            raise RuntimeError("simulated kill")
        return original(*args, **kwargs)

    monkeypatch.setattr(embed_module, "clip_outputs", flaky)
    out = tmp_path / "emb"
    with pytest.raises(RuntimeError, match="simulated kill"):
        embed_module.embed_cache(exp, tone_cache, out, **job)
    assert len(list(out.glob(".partial-*/rank0of1/chunk*.npy"))) == 2 and not (out / "index.csv").exists()
    calls.clear()
    kill_at.clear()
    resumed = embed_module.embed_cache(exp, tone_cache, out, **job)
    assert len(calls) == 5 - 2  # only the chunks not finished before the interruption
    np.testing.assert_array_equal(resumed.vectors, clean.vectors)
    assert not list(out.glob(".partial-*"))


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    args = ["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--batch-size", "3"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "audiocs", *args, "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = read_embeddings(tmp_path / "one"), read_embeddings(tmp_path / "two")
    assert two.ids == one.ids and two.speakers == one.speakers
    np.testing.assert_allclose(two.vectors, one.vectors, atol=1e-5)


def test_select_rows_keeps_folds_order_and_leaves_out_copies():
    from pathlib import Path

    from audiocs.embed import select_rows
    from audiocs.errors import AudiocsError

    class Cache:  # what select_rows reads of a FeatureCache: 6 clips, rows 2, 4 and 5 speed copies
        folds, copies, root = np.array([1, 2, 2, 3, 2, 1]), np.array([0, 0, 1, 0, 1, 1], bool), Path("c")

        def __len__(self) -> int:
            return 6

    cache = Cache()
    assert select_rows(cache, folds=[2]).tolist() == [1, 2, 4]
    assert select_rows(cache, folds=[2], originals=True).tolist() == [1]
    assert select_rows(cache, indices=[5, 3, 0], originals=True).tolist() == [3, 0]
    with pytest.raises(AudiocsError, match="no clips selected.*originals only"):
        select_rows(cache, folds=[1], indices=[5], originals=True)
