"""`audiocs.load` / `Model` and `audiocs predict`: same path as `audiocs embed`, any input format,
sliding windows, bad files skipped with a reason; a trained model predicts held-out files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from helpers import CLASSES, SR, make_experiment, write_config

import audiocs
from audiocs.cache import FeatureCache
from audiocs.cli import main
from audiocs.data import sliding_windows
from audiocs.errors import AudiocsError
from audiocs.scoring import read_embeddings


def _cos_scores(model: audiocs.inference.Model, embeddings: np.ndarray) -> np.ndarray:
    """Closed form of a cosine classifier: normalized embeddings (N, D) x normalized class weights."""
    w = model.bundle.classifier.weight.detach().numpy()
    return embeddings @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T


def test_embed_equals_audiocs_embed_on_the_cache(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    cache = FeatureCache(tone_cache)
    rows = [3, 17, 40, 79]
    paths = [cache.rows[i].path for i in rows]
    model = audiocs.load(exp)
    for i, path in zip(rows, paths):  # what the comparison relies on: the same features
        np.testing.assert_array_equal(model.features(path), cache[i])
    for extra, kwargs in (([], {}), (["--window", "20", "--hop", "8"], {"window_seconds": 0.2, "hop_seconds": 0.08})):
        out = tmp_path / f"emb{len(extra)}"
        assert main(["embed", "--exp-dir", str(exp), "--cache", str(tone_cache), "--out", str(out),
                     "--indices", *map(str, rows), *extra]) == 0
        mine = model.embed(paths, **kwargs)
        assert mine.shape == (4, model.embed_dim) and mine.dtype == np.float32
        np.testing.assert_allclose(mine, read_embeddings(out).vectors, atol=1e-6)
        np.testing.assert_allclose(model.embed(paths[1], **kwargs), mine[1], atol=1e-6)  # one path: (D,)
    assert abs(np.linalg.norm(mine, axis=1) - 1).max() < 1e-5


def test_device_auto_is_resolved_for_inference(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    expected = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    model = audiocs.load(exp, device="auto")
    assert model.device == expected
    assert next(model.bundle.model.parameters()).device.type == expected.type
    assert main(["predict", "--exp-dir", str(exp), "--device", "auto",
                 FeatureCache(tone_cache).rows[0].path]) == 0


def test_waveforms_channels_and_sample_rates(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    model = audiocs.load(exp)
    path = FeatureCache(tone_cache).rows[5].path
    wave, rate = sf.read(path, dtype="float32")
    assert rate == SR == model.settings.sample_rate
    ref = model.features(path)
    np.testing.assert_array_equal(model.features(wave), ref)  # default rate: the model's
    np.testing.assert_array_equal(model.features(torch.from_numpy(wave), SR), ref)
    np.testing.assert_array_equal(model.features(np.stack([wave, wave])), ref)  # (channels, samples)
    other = np.roll(wave, 100)
    np.testing.assert_array_equal(model.features(np.stack([wave, other])), model.features((wave + other) / 2))

    # a 22.05 kHz stereo FLAC: decoded, downmixed, resampled to 8 kHz like the array path
    stereo = np.stack([soxr.resample(wave, SR, 22050), soxr.resample(other, SR, 22050)], axis=1)
    flac = tmp_path / "clip.flac"
    sf.write(flac, stereo, 22050)
    decoded, _ = sf.read(flac, dtype="float32")
    np.testing.assert_array_equal(model.features(flac), model.features(decoded.T, 22050))
    e = model.embed([flac, decoded.T], sample_rate=22050)
    np.testing.assert_allclose(e[0], e[1], atol=1e-6)
    with pytest.raises(AudiocsError, match="waveform: samples contain NaN"):
        model.embed(np.full(800, np.nan, np.float32))
    with pytest.raises(AudiocsError, match=r"waveform: expected \(samples,\)"):
        model.embed(np.zeros((1, 2, 3), np.float32))


def test_predict_scores_are_cosines_and_windows_average(tmp_path, tone_cache):
    exp, _ = make_experiment(tmp_path, tone_cache)
    model = audiocs.load(exp)
    assert model.classes == list(CLASSES) and model.score_kind == "cosine"
    cache = FeatureCache(tone_cache)
    paths = [cache.rows[i].path for i in (0, 30, 61)]
    preds = model.predict(paths, top_k=3)
    np.testing.assert_allclose(np.stack([p.scores for p in preds]), _cos_scores(model, model.embed(paths)),
                               atol=1e-5)
    for p in preds:
        assert [s for _, s in p.top] == sorted(p.scores, reverse=True)[:3] and len(p.top) == 3
        assert p.label == CLASSES[int(np.argmax(p.scores))] and p.windows == []
        assert p.duration == pytest.approx(51 * 80 / SR)

    # a 2 s file of four clips: windows of 0.5 s (50 frames) every 0.25 s, plus the whole-file row
    long = np.concatenate([sf.read(cache.rows[i].path, dtype="float32")[0] for i in (0, 21, 42, 63)])
    pred = model.predict(long, window_seconds=0.5, hop_seconds=0.25, top_k=2)
    feats = torch.from_numpy(model.features(long))
    windows = sliding_windows(feats, 50, 25).numpy()
    assert len(pred.windows) == len(windows) == 8  # 201 frames: starts 0, 25, ..., 150 and the tail at 151
    assert [w.start for w in pred.windows][-2:] == pytest.approx([150 * 0.01, 151 * 0.01])
    window_scores = np.stack([w.scores for w in pred.windows])
    np.testing.assert_allclose(window_scores, _cos_scores(model, model.embed_features(list(windows))), atol=1e-5)
    np.testing.assert_allclose(pred.scores, window_scores.mean(0), atol=1e-6)
    assert model.predict(long, window_seconds=3.0).windows == []  # shorter than one window: whole


def test_softmax_baseline_reports_logits(tmp_path, tone_cache, capsys):
    exp, _ = make_experiment(tmp_path, tone_cache, loss_name="softmax", loss_args={})
    model = audiocs.load(exp)
    assert model.score_kind == "logit"
    path = FeatureCache(tone_cache).rows[9].path
    clf = model.bundle.classifier
    raw = model.bundle.model(torch.from_numpy((model.features(path) - model.bundle.mean) / model.bundle.std)[None])
    np.testing.assert_allclose(model.predict(path).scores, clf(raw)[0].detach().numpy(), atol=1e-5)
    assert main(["predict", "--exp-dir", str(exp), path]) == 0
    assert "scores: logits (softmax baseline)" in capsys.readouterr().out


def test_predict_cli_skips_bad_files_and_writes_csv(tmp_path, tone_cache, capsys):
    exp, _ = make_experiment(tmp_path, tone_cache)
    model = audiocs.load(exp)
    cache = FeatureCache(tone_cache)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    good = [folder / "a.wav", folder / "sub" / "b.wav"]
    for i, p in zip((2, 50), good):
        p.write_bytes(Path(cache.rows[i].path).read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x01garbage")
    (folder / "notes.txt").write_text("not audio, not listed")
    sf.write(folder / "silent.flac", np.zeros(4000, np.float32), SR)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    out = tmp_path / "res" / "preds.csv"
    code = main(["predict", "--exp-dir", str(exp), str(folder), str(tmp_path / "missing.wav"), str(empty),
                 "--top-k", "2", "--out", str(out), "--window-seconds", "0"])
    assert code == 1
    err = capsys.readouterr().err
    for name, reason in (("broken.wav", "unreadable"), ("silent.flac", "silent"), ("missing.wav", "missing"),
                         ("empty_dir", "folder holds no .wav/.flac files")):
        assert f"{name}: {reason}" in err
    assert "4 input(s) failed, 2 scored" in err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["segment"], r["rank"]) for r in rows] == [
        (str(good[0]), "file", "1"), (str(good[0]), "file", "2"), (str(good[1]), "file", "1"), (str(good[1]), "file", "2")]
    expected = model.predict(good, top_k=2)
    assert [r["class"] for r in rows] == [name for p in expected for name, _ in p.top]
    np.testing.assert_allclose([float(r["score"]) for r in rows], [s for p in expected for _, s in p.top], atol=1e-6)
    assert {r["score_kind"] for r in rows} == {"cosine"} and sorted(p.name for p in out.parent.iterdir()) == ["preds.csv"]

    # all readable: exit 0; windows of 32 frames every 16 and the whole-file rows
    assert main(["predict", "--exp-dir", str(exp), *map(str, good), "--out", str(out), "--window-seconds", "0.32",
                 "--hop-seconds", "0.16"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    windows = [r for r in rows if r["segment"] == "window" and r["rank"] == "1"]
    assert len(windows) == 2 * len(sliding_windows(torch.zeros(51, 1), 32, 16))
    assert [r["start"] for r in windows[:3]] == ["0.000", "0.160", "0.190"]  # the last window ends at 0.51 s
    assert len([r for r in rows if r["segment"] == "file"]) == 2 * len(CLASSES)  # top-k 5 of 4 classes: all 4
    assert main(["predict", "--exp-dir", str(exp), str(good[0]), "--top-k", "0"]) == 2
    capsys.readouterr()
    # 36 windows of 16 frames every frame: the terminal shows 10, the CSV all of them
    assert main(["predict", "--exp-dir", str(exp), str(good[0]), "--window-seconds", "0.16", "--hop-seconds", "0.01",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(" s: ") == 10 and f"... 26 more windows (all in {out})" in printed
    with open(out, newline="") as f:
        assert sum(r["segment"] == "window" and r["rank"] == "1" for r in csv.DictReader(f)) == 36


@pytest.mark.slow
def test_trained_model_predicts_held_out_files(tmp_path, tone_cache, capsys):
    """Train on folds 2-5 of the tone corpus, then predict the fold-1 wavs, also as 16 kHz stereo FLAC."""
    config = write_config(tmp_path / "conf.yaml", tone_cache)
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(config), "--fold", "1", "--exp-dir", str(exp)]) == 0
    cache = FeatureCache(tone_cache)
    held_out = [r for r in cache.rows if r.fold == 1]
    folder = tmp_path / "flac"
    folder.mkdir()
    for r in held_out:
        wave = sf.read(r.path, dtype="float32")[0]
        up = soxr.resample(wave, SR, 16000)
        sf.write(folder / f"{r.id}.flac", np.stack([up, 0.5 * up], axis=1), 16000)
    out = tmp_path / "preds.csv"
    assert main(["predict", "--exp-dir", str(exp), *(r.path for r in held_out), str(folder),
                 "--top-k", "1", "--out", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    # default windows: the training crop (32 frames = 0.32 s), so 3 windows per 51-frame clip
    assert len([r for r in rows if r["segment"] == "window"]) == 3 * len(rows) // 4
    predicted = {Path(r["file"]).name: r["class"] for r in rows if r["segment"] == "file"}
    truth = {f"{r.id}{ext}": r.label_name for r in held_out for ext in (".wav", ".flac")}
    assert predicted.keys() == truth.keys()
    accuracy = np.mean([predicted[k] == truth[k] for k in truth])
    # measured: 1.0 on the 16 wavs and on their 16 kHz stereo FLAC copies
    assert accuracy >= 0.9, accuracy
