"""The built-in generated corpus: ESC-50 layout, balance, reproducibility, resume, difficulty."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiocs import synthetic
from audiocs.audio import SILENCE_RMS
from audiocs.features import extract_clip
from audiocs.cli import main
from audiocs.errors import AudiocsError
from audiocs.features import FeatureSettings
from audiocs.synthetic import CLASS_NAMES, ESC50_COLUMNS, generate_esc50_like, synth_clip

SR = 8000
_FILENAME = re.compile(r"^([1-5])-(\d+)-([A-Z])-(\d+)\.wav$")


def _rows(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "meta" / "esc50.csv", newline="") as f:
        return list(csv.DictReader(f))


def _digest(corpus: Path) -> dict[str, str]:
    files = sorted((corpus / "audio").glob("*.wav")) + [corpus / "meta" / "esc50.csv"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 classes x 10 clips of 1 s at 8 kHz."""
    out = tmp_path_factory.mktemp("synth") / "corpus"
    return generate_esc50_like(out, clips_per_class=10, sample_rate=SR, duration=1.0,
                               progress=False)


def test_layout_matches_real_esc50(corpus: Path, real_data: Path) -> None:
    real_csv = real_data / "esc50-meta" / "esc50.csv"
    ours, real = (corpus / "meta" / "esc50.csv").read_bytes(), real_csv.read_bytes()
    assert ours.split(b"\n")[0] == real.split(b"\n")[0]  # same header, same LF line ends
    with open(real_csv, newline="") as f:
        real_rows = list(csv.DictReader(f))
    rows = _rows(corpus)
    assert tuple(rows[0]) == ESC50_COLUMNS
    assert [r["filename"] for r in rows] == sorted(r["filename"] for r in rows)  # as real
    for r in real_rows[:50] + rows:  # the same checks hold for the real metadata and ours
        m = _FILENAME.match(r["filename"])
        assert m, r["filename"]
        assert m.groups() == (r["fold"], r["src_file"], r["take"], r["target"])
        assert r["esc10"] in ("True", "False") and r["take"] in "ABCDEFGH"
    names = {int(r["target"]): r["category"] for r in rows}
    assert names == dict(enumerate(CLASS_NAMES))
    assert {r["category"] for r in rows if r["esc10"] == "True"} == {"dog", "rain", "clock_tick"}
    assert sorted(p.name for p in (corpus / "audio").iterdir()) == [r["filename"] for r in rows]
    sources = {}
    for r in rows:  # takes of one source share fold and class; takes are A, B, ... in order
        sources.setdefault(r["src_file"], []).append((r["fold"], r["target"], r["take"]))
    for takes in sources.values():
        assert len({t[:2] for t in takes}) == 1
        assert sorted(t[2] for t in takes) == list("ABC"[: len(takes)])


def test_folds_balanced_per_class(corpus: Path) -> None:
    counts = Counter((r["category"], r["fold"]) for r in _rows(corpus))
    assert counts == {(c, str(f)): 2 for c in CLASS_NAMES for f in range(1, 6)}
    uneven = synthetic.corpus_rows(synthetic.SynthSettings(7, 0, SR, 1.0, ["dog", "wind"]))
    per_fold = Counter((r["category"], r["fold"]) for r in uneven)
    assert sorted(per_fold.values()) == [1] * 6 + [2] * 4  # 7 = 2+2+1+1+1 per class


def test_clips_are_valid_audio(corpus: Path) -> None:
    for p in sorted((corpus / "audio").glob("*.wav")):
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            SR, 1, SR, "PCM_16"), p.name
        x, _ = sf.read(p, dtype="float32")
        assert np.isfinite(x).all() and np.abs(x).max() <= 1.0
        assert np.abs(x).max() > 10 ** (-25 / 20), p.name  # peak gain is >= -24 dBFS
        assert np.sqrt(np.mean(x**2)) > 100 * SILENCE_RMS, p.name  # far from the pipeline's floor


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_each_class_at_odd_sizes(name: str) -> None:
    for n_seconds in (0.06, 0.37):
        x = synth_clip(name, np.random.default_rng(3), 11025, n_seconds)
        assert x.dtype == np.float32 and x.shape == (round(n_seconds * 11025),)
        assert np.isfinite(x).all() and 0 < np.abs(x).max() <= 1.0


def test_reproducible_and_seed_dependent(corpus: Path, tmp_path: Path) -> None:
    again = generate_esc50_like(tmp_path / "a", clips_per_class=10, sample_rate=SR,
                                duration=1.0, progress=False, workers=2)
    assert _digest(again) == _digest(corpus)  # byte for byte, also when made in parallel
    other = generate_esc50_like(tmp_path / "b", clips_per_class=10, sample_rate=SR,
                                duration=1.0, seed=1, progress=False)
    assert [r["filename"] for r in _rows(other)] != [r["filename"] for r in _rows(corpus)]
    a = sf.read(corpus / "audio" / _rows(corpus)[0]["filename"])[0]
    b = sf.read(other / "audio" / _rows(other)[0]["filename"])[0]
    assert not np.array_equal(a, b)
    # a class subset holds the same audio for each clip of a class (seeded per class and index)
    sub = generate_esc50_like(tmp_path / "c", clips_per_class=10, sample_rate=SR, duration=1.0,
                              classes=["wind"], progress=False)
    full = _digest(corpus)
    wind = sorted(full[r["filename"]] for r in _rows(corpus) if r["category"] == "wind")
    assert sorted(h for n, h in _digest(sub).items() if n.endswith(".wav")) == wind


def test_resume_skips_finished_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "c"
    kw = dict(clips_per_class=5, sample_rate=SR, duration=0.5, classes=["siren", "dog"],
              progress=False)
    calls = []
    real_write = synthetic._write_clip

    def failing_write(job):  # simulate a crash after 4 clips
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(job[0].name)
        real_write(job)

    monkeypatch.setattr(synthetic, "_write_clip", failing_write)
    with pytest.raises(KeyboardInterrupt):
        generate_esc50_like(out, **kw)
    assert not (out / synthetic.COMPLETE_FILE).exists()
    assert len(list((out / "audio").iterdir())) == 4  # finished clips only, no temp files
    (out / "audio" / ".1-9-A-0.wav.x.tmp").write_bytes(b"half")  # a stale temp file
    calls.clear()
    monkeypatch.setattr(synthetic, "_write_clip", lambda job: (calls.append(job[0].name),
                                                               real_write(job)))
    generate_esc50_like(out, **kw)
    assert len(calls) == 6 and (out / synthetic.COMPLETE_FILE).exists()
    assert not list((out / "audio").glob(".*"))
    fresh = generate_esc50_like(tmp_path / "fresh", **kw)
    assert _digest(out) == _digest(fresh)
    calls.clear()
    generate_esc50_like(out, **kw)  # complete: nothing to do
    assert calls == []


def test_refuses_foreign_or_mismatched_folder(tmp_path: Path) -> None:
    made = generate_esc50_like(tmp_path / "m", clips_per_class=1, sample_rate=SR, duration=0.2,
                               progress=False)
    with pytest.raises(AudiocsError, match="other settings"):
        generate_esc50_like(made, clips_per_class=1, sample_rate=SR, duration=0.2, seed=5,
                            progress=False)
    foreign = tmp_path / "esc50"
    foreign.mkdir()
    (foreign / "README.md").write_text("real corpus")
    with pytest.raises(AudiocsError, match="not made by audiocs synth"):
        generate_esc50_like(foreign, progress=False)
    with pytest.raises(AudiocsError, match="one of"):
        generate_esc50_like(tmp_path / "x", classes=["siren", "tuba"], progress=False)
    with pytest.raises(AudiocsError, match="clips_per_class"):
        generate_esc50_like(tmp_path / "x", clips_per_class=0, progress=False)


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--clips-per-class", "1", "--seed", "2",
            "--sample-rate", str(SR), "--duration", "0.25"]
    assert main(args) == 0
    assert len(_rows(out)) == len(CLASS_NAMES)
    assert sf.info(next((out / "audio").iterdir())).frames == SR // 4
    assert main(args[:-1] + ["0.5"]) == 2  # other settings into the same folder
    assert "other settings" in capsys.readouterr().err


def _mean_std_logmel(path: Path, settings: FeatureSettings) -> np.ndarray:
    """(2 * n_mels,) mean and std over time of the pipeline's log-mel features of one clip."""
    features = extract_clip(str(path), settings)
    return np.concatenate([features.mean(0), features.std(0)])


def test_classes_learnable_but_not_trivial(tmp_path: Path) -> None:
    """A linear baseline on clip-level log-mel statistics, folds 1-4 -> fold 5.

    Measured (seed 0, 20 clips/class, 2 s, 16 kHz, default 64-band log-mel): accuracy 0.70
    (chance 0.10); seeds 1-3 gave 0.725, 0.725, 0.75; 40 clips of 5 s (seed 0) gave 0.80.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    corpus = generate_esc50_like(tmp_path / "d", clips_per_class=20, duration=2.0,
                                 progress=False)
    rows = _rows(corpus)
    settings = FeatureSettings()
    x = np.stack([_mean_std_logmel(corpus / "audio" / r["filename"], settings) for r in rows])
    y = np.array([int(r["target"]) for r in rows])
    test = np.array([r["fold"] == "5" for r in rows])
    scaler = StandardScaler().fit(x[~test])
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(x[~test]), y[~test])
    accuracy = float(np.mean(model.predict(scaler.transform(x[test])) == y[test]))
    print(f"log-mel mean+std logistic regression, fold 5 accuracy: {accuracy:.3f}")
    assert 0.5 <= accuracy <= 0.9, accuracy


def test_esc50_parser_reads_corpus(corpus: Path, tmp_path: Path) -> None:
    esc50 = pytest.importorskip("audiocs.prep.esc50", reason="ESC-50 parser not there yet")
    from audiocs.manifest import read_manifest

    manifest = read_manifest(esc50.prepare_esc50(corpus, tmp_path / "prep"))
    rows = {r["filename"]: r for r in _rows(corpus)}
    assert sorted(Path(m.path).name for m in manifest) == sorted(rows)
    for m in manifest:
        r = rows[Path(m.path).name]
        assert (m.label, m.label_name, m.fold) == (int(r["target"]), r["category"],
                                                   int(r["fold"]))
        assert m.duration == pytest.approx(1.0)
