"""Corpus parsers on their real layouts: real metadata, real clips, generated audio, the CLIs."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import tone_wav, load_script
from audiocs.errors import AudiocsError
from audiocs.manifest import read_manifest
from audiocs.prep import (
    parse_esc50, parse_fsdd, parse_speakers, parse_speech_commands, parse_urbansound8k,
    prepare_esc50, prepare_speakers, prepare_speech_commands, prepare_urbansound8k,
)
from audiocs.prep.common import group_folds, index_labels
from audiocs.prep.speakers import segment_bounds
from audiocs.prep.speech_commands import hash_split



def _subset(rows: list[dict], key: str, per_class: int) -> list[dict]:
    """The first `per_class` rows of each class (in file order)."""
    taken: dict[str, int] = Counter()
    out = []
    for r in rows:
        if taken[r[key]] < per_class:
            taken[r[key]] += 1
            out.append(r)
    return out


def _write_table(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _read_table(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- shared helpers --------------------------------------------------------------------------


def test_labels_and_group_folds_closed_form():
    assert index_labels(["b", "a10", "a2", "b"]) == {"a2": 0, "a10": 1, "b": 2}
    assert group_folds(["s3", "s1", "s2", "s1"]) == {"s1": 1, "s2": 2, "s3": 3}
    assert group_folds(["a", "b", "c", "d", "e"], 2) == {"a": 1, "b": 2, "c": 1, "d": 2, "e": 1}


def test_segment_bounds_closed_form():
    sr = 100
    assert segment_bounds(1000, sr, 3.0, 3.0, 1.5) == [(0, 300), (300, 600), (600, 900)]
    assert segment_bounds(1050, sr, 3.0, 3.0, 1.5) == [(0, 300), (300, 600), (600, 900),
                                                        (900, 1050)]
    assert segment_bounds(200, sr, 3.0, 3.0, 1.5) == [(0, 200)]
    assert segment_bounds(500, sr, 3.0, 1.0, 1.5) == [(0, 300), (100, 400), (200, 500)]


def test_hash_split_proportions_and_stability():
    hashes = [hashlib.md5(str(i).encode()).hexdigest()[:8] for i in range(4000)]
    counts = Counter(hash_split(h) for h in hashes)
    assert abs(counts["validation"] / 4000 - 0.10) < 0.02
    assert abs(counts["test"] / 4000 - 0.10) < 0.02
    assert [hash_split(h) for h in hashes[:50]] == [hash_split(h) for h in hashes[:50]]


def test_bad_metadata_names_file_and_column(tmp_path):
    _write_table(tmp_path / "meta" / "esc50.csv", [{"filename": "a.wav", "fold": "1"}])
    with pytest.raises(AudiocsError, match=r"esc50\.csv: missing column\(s\) target"):
        parse_esc50(tmp_path)
    row = {"filename": "a.wav", "fold": "one", "target": "0", "category": "dog", "esc10": "True",
           "src_file": "1", "take": "A"}
    _write_table(tmp_path / "meta" / "esc50.csv", [row])
    with pytest.raises(AudiocsError, match=r"esc50\.csv:2: column fold is not an integer"):
        parse_esc50(tmp_path)


# --- ESC-50 ----------------------------------------------------------------------------------


def test_esc50_real_metadata_facts(real_data, tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").symlink_to(real_data / "esc50-meta" / "esc50.csv")
    clips = parse_esc50(tmp_path)
    assert len(clips) == 2000
    assert Counter(c.fold for c in clips) == {f: 400 for f in range(1, 6)}
    assert Counter(c.label for c in clips) == {k: 40 for k in range(50)}
    assert len({(c.label, c.label_name) for c in clips}) == 50
    esc10 = parse_esc50(tmp_path, esc10=True)
    assert len(esc10) == 400 and Counter(c.label for c in esc10) == {k: 40 for k in range(10)}
    assert {c.label_name for c in esc10} >= {"dog", "rain", "crying_baby", "chainsaw"}
    # no audio at all: the check names the missing files; strict turns it into an error
    with pytest.raises(AudiocsError, match="2000 listed files missing"):
        prepare_esc50(tmp_path, tmp_path / "out", strict=True)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_esc50_generated_audio_shaped_by_real_metadata(real_data, tmp_path, capsys):
    rows = _subset(_read_table(real_data / "esc50-meta" / "esc50.csv"), "target", 2)
    corpus = tmp_path / "ESC-50"
    _write_table(corpus / "meta" / "esc50.csv", rows)
    for i, r in enumerate(rows):
        tone_wav(corpus / "audio" / r["filename"], 0.25, seed=i)
    manifest = prepare_esc50(corpus, tmp_path / "out")
    err = capsys.readouterr().err
    assert "100 rows listed, expected 2000" in err and "classes without 40 clips" in err
    got = read_manifest(manifest)
    assert len(got) == 100
    assert [(g.id + ".wav", g.label, g.fold, g.label_name) for g in got] == [
        (r["filename"], int(r["target"]), int(r["fold"]), r["category"]) for r in rows]
    assert all(g.duration == pytest.approx(0.25) for g in got)
    assert all(Path(g.path).is_file() for g in got)
    esc10 = read_manifest(prepare_esc50(corpus, tmp_path / "out10", esc10=True))
    assert sorted({g.label for g in esc10}) == list(range(10)) and len(esc10) == 20


def test_esc50_real_clips_end_to_end_with_features(real_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = load_script("esc50").main(["--corpus", str(real_data / "esc50-sample"), "--out", str(out),
                                  "--n-mels", "40"])
    assert code == 0
    assert "5 rows listed, expected 2000" in capsys.readouterr().err
    rows = read_manifest(out / "manifest.csv")
    assert [r.fold for r in rows] == [1, 2, 3, 4, 5]
    assert [r.label for r in rows] == [0, 43, 19, 19, 19]
    assert all(r.duration == pytest.approx(5.0) for r in rows)
    from audiocs.cache import FeatureCache

    cache = FeatureCache(out / "features-logmel")
    assert len(cache) == 5 and cache.num_features == 40 and cache.settings.sample_rate == 16000
    assert cache.labels.tolist() == [0, 43, 19, 19, 19]
    assert cache[0].shape == (1 + 5 * 16000 // 160, 40)
    # strict: the sample is incomplete, so the run fails with a one-line error
    code = load_script("esc50").main(["--corpus", str(real_data / "esc50-sample"), "--out",
                                  str(tmp_path / "o2"), "--strict", "--no-features"])
    assert code == 2 and "corpus check failed: 5 rows listed" in capsys.readouterr().err


def test_esc50_missing_file_listed_then_rejected_by_cache(real_data, tmp_path, capsys):
    corpus = tmp_path / "c"
    (corpus / "audio").mkdir(parents=True)
    rows = _read_table(real_data / "esc50-sample" / "meta" / "esc50.csv")
    for r in rows[:2]:
        (corpus / "audio" / r["filename"]).symlink_to(real_data / "esc50-sample" / "audio" / r["filename"])
    _write_table(corpus / "meta" / "esc50.csv", rows[:3])
    out = tmp_path / "out"
    assert load_script("esc50").main(["--corpus", str(corpus), "--out", str(out)]) == 0
    assert f"1 listed files missing: {corpus / 'audio' / rows[2]['filename']}" in capsys.readouterr().err
    rejected = _read_table(out / "features-logmel" / "rejected.csv")
    assert [(Path(r["path"]).name, r["reason"]) for r in rejected] == [(rows[2]["filename"], "missing")]


def test_prepare_skips_finished_work_and_redoes_on_new_options(real_data, tmp_path, capsys):
    corpus = real_data / "esc50-sample"
    manifest = prepare_esc50(corpus, tmp_path)
    stamp = manifest.stat().st_mtime_ns
    assert prepare_esc50(corpus, tmp_path) == manifest
    assert manifest.stat().st_mtime_ns == stamp and "up to date" in capsys.readouterr().out
    prepare_esc50(corpus, tmp_path, esc10=True)  # other options: redone (only the dog is ESC-10)
    assert [r.label_name for r in read_manifest(manifest)] == ["dog"]
    prepare_esc50(corpus, tmp_path, esc10=True, force=True)
    assert "up to date" not in capsys.readouterr().out


def test_changed_corpus_is_prepared_again(tmp_path):
    root = tmp_path / "sc"
    tone_wav(root / "yes" / "aa11_nohash_0.wav", 0.1)
    manifest = prepare_speech_commands(root, tmp_path / "out")
    assert len(read_manifest(manifest)) == 1
    tone_wav(root / "no" / "bb22_nohash_0.wav", 0.1)
    assert [r.id for r in read_manifest(prepare_speech_commands(root, tmp_path / "out"))] == [
        "no/bb22_nohash_0", "yes/aa11_nohash_0"]


def test_segments_recut_when_settings_change(tmp_path):
    root = tmp_path / "spk"
    tone_wav(root / "s1" / "u.wav", 1.0)
    out = tmp_path / "out"
    first = read_manifest(prepare_speakers(root, out, segment=0.5))
    second = read_manifest(prepare_speakers(root, out, segment=0.25))
    assert [r.duration for r in first] == [0.5, 0.5] and [r.duration for r in second] == [0.25] * 4
    assert [sf.info(r.path).duration for r in second] == [0.25] * 4


# --- UrbanSound8K ------------------------------------------------------------------------------


def test_urbansound8k_real_metadata_and_generated_audio(real_data, tmp_path, capsys):
    meta = _read_table(real_data / "urbansound8k-meta" / "UrbanSound8K.csv")
    corpus = tmp_path / "UrbanSound8K"
    (corpus / "metadata").mkdir(parents=True)
    (corpus / "metadata" / "UrbanSound8K.csv").symlink_to(real_data / "urbansound8k-meta" / "UrbanSound8K.csv")
    clips = parse_urbansound8k(corpus)
    assert len(clips) == 8732 and len(meta) == 8732
    assert sorted(Counter(c.fold for c in clips)) == list(range(1, 11))
    assert len({(c.label, c.label_name) for c in clips}) == 10
    assert clips[0].path.endswith(f"audio/fold{meta[0]['fold']}/{meta[0]['slice_file_name']}")

    rows = _subset(meta, "classID", 2)
    gen = tmp_path / "gen"
    _write_table(gen / "metadata" / "UrbanSound8K.csv", rows)
    for i, r in enumerate(rows):
        seconds = min(float(r["end"]) - float(r["start"]), 0.3)
        tone_wav(gen / "audio" / f"fold{r['fold']}" / r["slice_file_name"], seconds, 22050, seed=i)
    tone_wav(gen / "audio" / f"fold{rows[0]['fold']}" / rows[0]["slice_file_name"], 4.5, 8000)
    got = read_manifest(prepare_urbansound8k(gen, tmp_path / "out"))
    err = capsys.readouterr().err
    assert "20 rows listed, expected 8732" in err and "1 slices longer than 4.0 s" in err
    assert [(g.label, g.fold, g.label_name, g.extra["fsID"]) for g in got] == [
        (int(r["classID"]), int(r["fold"]), r["class"], r["fsID"]) for r in rows]
    assert got[0].duration == pytest.approx(4.5)
    assert got[1].duration == pytest.approx(min(float(rows[1]["end"]) - float(rows[1]["start"]), 0.3), abs=1e-4)


# --- FSDD --------------------------------------------------------------------------------------


def test_fsdd_real_corpus_facts(real_data):
    clips, odd = parse_fsdd(real_data / "fsdd")
    assert len(clips) == 3000 and odd == []
    assert len({c.speaker for c in clips}) == 6 and sorted({c.label for c in clips}) == list(range(10))
    assert sum(c.extra["split"] == "test" for c in clips) == 300
    assert all(c.extra["split"] == ("test" if int(c.extra["take"]) < 5 else "train") for c in clips)
    speakers_of_fold = defaultdict(set)
    for c in clips:
        speakers_of_fold[c.fold].add(c.speaker)
    assert sorted(speakers_of_fold) == list(range(1, 7))
    assert all(len(s) == 1 for s in speakers_of_fold.values())  # leave one speaker out
    assert Counter(c.fold for c in clips) == {f: 500 for f in range(1, 7)}
    assert all(c.label == int(c.id.split("_")[0]) for c in clips)
    by_speaker, _ = parse_fsdd(real_data / "fsdd", task="speakers")
    assert sorted({c.label_name for c in by_speaker}) == sorted({c.speaker for c in clips})
    assert Counter(c.fold for c in by_speaker) == {f: 600 for f in range(1, 6)}


def _fsdd_subset(real_data: Path, tmp_path: Path, pattern: str, limit: int | None = None
                 ) -> tuple[Path, list[str]]:
    """tmp_path/fsdd/recordings/ linking the real recordings matching `pattern` (the first `limit`)."""
    corpus = tmp_path / "fsdd"
    (corpus / "recordings").mkdir(parents=True)
    names = sorted(p.name for p in (real_data / "fsdd" / "recordings").glob(pattern))[:limit]
    for n in names:
        (corpus / "recordings" / n).symlink_to(real_data / "fsdd" / "recordings" / n)
    return corpus, names


def test_fsdd_subset_cli_with_features_at_8k(real_data, tmp_path):
    corpus, names = _fsdd_subset(real_data, tmp_path, "*_1.wav", 12)
    (corpus / "recordings" / "README.wav").write_bytes(b"not a recording")
    out = tmp_path / "out"
    assert load_script("fsdd").main(["--corpus", str(corpus), "--out", str(out), "--n-mels", "32",
                                 "--kind", "fbank"]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert [r.id + ".wav" for r in rows] == names
    assert all(r.extra["split"] == "test" for r in rows)
    from audiocs.cache import FeatureCache

    cache = FeatureCache(out / "features-fbank")
    assert len(cache) == 12 and cache.settings.sample_rate == 8000 and cache.num_features == 32
    assert load_script("fsdd").main(["--corpus", str(corpus), "--out", str(tmp_path / "o"), "--strict",
                                 "--no-features"]) == 2


def test_fsdd_speed_copies_keep_the_digit_and_are_training_rows_only(real_data, tmp_path):
    corpus, names = _fsdd_subset(real_data, tmp_path, "[01]_*_1.wav")
    out = tmp_path / "out"
    assert load_script("fsdd").main(["--corpus", str(corpus), "--out", str(out), "--n-mels", "32",
                                     "--speed", "1.1", "--workers", "1"]) == 0
    from audiocs.cache import FeatureCache
    from audiocs.config import DataConfig
    from audiocs.splits import resolve_splits

    cache = FeatureCache(out / "features-logmel")
    originals = [r for r in cache.rows if not r.extra.get("speed")]
    copies = {r.id: r for r in cache.rows if r.extra.get("speed")}
    assert len(originals) == len(copies) == len(names) == 12 and cache.copies.sum() == 12
    for r in originals:  # same digit, speaker and fold; about 1/1.1 as many frames
        c = copies[r.id + "-sp1.1"]
        assert (c.label, c.speaker, c.fold) == (r.label, r.speaker, r.fold)
        assert cache.lengths[cache.rows.index(c)] == pytest.approx(cache.lengths[cache.rows.index(r)] / 1.1, abs=2)
    s = resolve_splits(cache.folds, cache.labels, DataConfig(test_folds=[1]), 0, cache.copies)
    assert {cache.rows[i].id for i in s.test} == {r.id for r in originals if r.fold == 1}
    assert not any(cache.rows[i].fold == 1 for i in s.train) and cache.copies[s.train].sum() == 10
    # a copy names its source: when the source is drawn for validation, the copy is not trained on
    assert all(c.extra["copy_of"] + "-sp1.1" == i for i, c in copies.items())
    frac = cache.splits(DataConfig(test_folds=[1], valid_split="fraction", valid_fraction=0.3), 0)
    valid = {cache.rows[i].id for i in frac.valid}
    assert valid and not any(cache.rows[i].extra.get("copy_of") in valid for i in frac.train)
    assert cache.copies[frac.train].sum() == 10 - len(valid)


def test_coloured_noise_has_unit_power_and_its_spectral_slope():
    from audiocs.prep.common import coloured_noise

    n = 2 ** 16
    for colour, slope in (("white", 0.0), ("pink", -1.0), ("brown", -2.0)):
        noise = coloured_noise(n, colour, np.random.default_rng(0))
        assert noise.shape == (n,) and np.mean(noise ** 2) == pytest.approx(1.0)
        power = np.abs(np.fft.rfft(noise)) ** 2
        f = np.arange(power.size)
        bands = np.unique(np.geomspace(8, power.size - 1, 24).astype(int))  # log-spaced bins
        means = [power[a:b].mean() for a, b in zip(bands[:-1], bands[1:])]
        centres = [np.sqrt(f[a] * f[b - 1]) for a, b in zip(bands[:-1], bands[1:])]
        fitted = np.polyfit(np.log10(centres), np.log10(means), 1)[0]
        assert fitted == pytest.approx(slope, abs=0.15)


def test_fsdd_noisy_copies_at_the_drawn_snr_are_training_rows_only(real_data, tmp_path):
    corpus, names = _fsdd_subset(real_data, tmp_path, "[01]_*_1.wav")
    out = tmp_path / "out"
    args = ["--corpus", str(corpus), "--n-mels", "32", "--noise", "5", "20", "--workers", "1"]
    assert load_script("fsdd").main(args + ["--out", str(out)]) == 0
    from audiocs.cache import FeatureCache
    from audiocs.config import DataConfig
    from audiocs.splits import resolve_splits

    cache = FeatureCache(out / "features-logmel")
    originals = [r for r in cache.rows if not r.extra.get("noise")]
    copies = {r.id: r for r in cache.rows if r.extra.get("noise")}
    assert len(originals) == len(copies) == len(names) == 12 and cache.copies.sum() == 12
    colours = set()
    for r in originals:  # same digit, speaker, fold and length; noise = copy - source at the SNR
        c = copies[r.id + "-noise"]
        assert (c.label, c.speaker, c.fold) == (r.label, r.speaker, r.fold)
        colour, snr = c.extra["noise"].split(":")
        colours.add(colour)
        source, _ = sf.read(r.path, dtype="float64")
        noisy, _ = sf.read(c.path, dtype="float64")
        assert noisy.shape == source.shape
        measured = 10 * np.log10(np.mean(source ** 2) / np.mean((noisy - source) ** 2))
        assert 5 <= float(snr) <= 20 and measured == pytest.approx(float(snr), abs=0.06)
    assert len(colours) >= 2
    s = resolve_splits(cache.folds, cache.labels, DataConfig(test_folds=[1]), 0, cache.copies)
    assert {cache.rows[i].id for i in s.test} == {r.id for r in originals if r.fold == 1}
    assert not any(cache.rows[i].fold == 1 for i in s.train) and cache.copies[s.train].sum() == 10
    # the draws depend on the clip, not on the run: a second folder gets the same copies
    assert load_script("fsdd").main(args + ["--out", str(tmp_path / "again"), "--no-features"]) == 0
    again = {r.id: r.extra["noise"] for r in read_manifest(tmp_path / "again" / "manifest.csv")
             if r.extra.get("noise")}
    assert again == {i: r.extra["noise"] for i, r in copies.items()}
    with pytest.raises(AudiocsError, match="LOW <= HIGH"):
        from audiocs.prep.common import add_noise
        add_noise(originals, tmp_path, [20, 5], None)


def test_fsdd_copies_of_the_trimmed_extra_digits_are_made_from_the_cut_files(real_data, tmp_path):
    """The extra digits' rows point into the output folder (their cut files): speed and noise
    copies read them there, whatever the working folder."""
    corpus, _ = _fsdd_subset(real_data, tmp_path, "0_*_1.wav")
    words = tmp_path / "sc"
    for word in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"):
        (words / word).mkdir(parents=True)
        for p in sorted((real_data / "speech-commands-mini" / word).glob("*.wav"))[:1]:
            (words / word / p.name).symlink_to(p)
    from audiocs.prep.fsdd import prepare_fsdd

    rows = read_manifest(prepare_fsdd(corpus, tmp_path / "out", speed=[1.1], noise=[5, 20],
                                      extra_digits=words))
    extra = {r.id for r in rows if r.id.startswith("sc/") and not r.extra.get("speed") and not r.extra.get("noise")}
    sped = {r.id for r in rows if r.extra.get("speed")}
    noisy = {r.id for r in rows if r.extra.get("noise")}
    assert len(extra) == 10 and {i + "-sp1.1" for i in extra} <= sped
    assert {i + "-noise" for i in extra} <= noisy and {i + "-sp1.1-noise" for i in extra} <= noisy


def test_speech_span_closed_form():
    from audiocs.audio import speech_span

    rate = 8000
    wave = np.zeros(rate, np.float32)
    wave[3000:5000] = 0.5 * np.sin(np.arange(2000) * 0.3)  # loud from frame 37.5 to 62.5 of 100
    wave[::7] += 1e-4  # noise floor 70 dB down: not speech
    start, stop = speech_span(wave, rate, top_db=30, pad=0.05)
    assert (start, stop) == (37 * 80 - 400, 63 * 80 + 400)  # whole 10 ms frames 37..62, 50 ms each side
    assert speech_span(wave, rate, pad=1.0) == (0, rate)  # clipped to the clip
    assert speech_span(np.zeros(100, np.float32), rate) == (0, 100)  # silence: nothing to cut


def test_fsdd_extra_digits_are_trimmed_training_rows_of_every_fold(real_data, tmp_path):
    corpus, names = _fsdd_subset(real_data, tmp_path, "[01]_*_1.wav")
    sc = real_data / "speech-commands-mini"
    out = tmp_path / "out"
    assert load_script("fsdd").main(["--corpus", str(corpus), "--out", str(out), "--n-mels", "32",
                                     "--extra-digits", str(sc), "--workers", "1"]) == 0
    from audiocs.cache import FeatureCache
    from audiocs.config import DataConfig
    from audiocs.splits import resolve_splits

    cache = FeatureCache(out / "features-logmel")
    extra = [r for r in cache.rows if r.id.startswith("sc/")]
    assert len(extra) == 100 and len(cache) == 112  # zero..nine, 10 clips each, none rejected
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    for r in extra:
        word = r.id.split("/")[1]
        assert (r.label, r.fold, r.speaker) == (words.index(word), 0, "sc-" + r.id.split("/")[2].split("_")[0])
        cut, rate = sf.read(out / r.path)
        source = sf.read(r.extra["source"])[0]
        assert rate == 16000 and len(cut) <= len(source) and r.duration == pytest.approx(len(cut) / rate)
        at = int(np.argmax(np.abs(source)))
        assert np.abs(cut).max() == pytest.approx(np.abs(source[at]), abs=1e-4)  # the loudest sample kept
    assert sum(r.duration for r in extra) < 0.8 * len(extra)  # 1 s clips, mostly silence cut
    for k in (1, 2):  # every fold trains on every extra clip; validation and test: one FSDD speaker each
        data = DataConfig(test_folds=[k], valid_split="previous_fold")
        s = resolve_splits(cache.folds, cache.labels, data, 0, cache.copies)
        assert {cache.rows[i].id for i in s.train} >= {r.id for r in extra}
        assert {cache.rows[i].fold for i in s.test} == {k} and {cache.rows[i].fold for i in s.valid} == {k - 1 or 6}
    with pytest.raises(AudiocsError, match="needs --task digits"):
        from audiocs.prep.fsdd import prepare_fsdd
        prepare_fsdd(corpus, tmp_path / "o", task="speakers", extra_digits=sc)
    with pytest.raises(AudiocsError, match="no digit folders zero"):
        prepare_fsdd(corpus, tmp_path / "o", extra_digits=real_data / "fsdd")


# --- speaker corpora ----------------------------------------------------------------------------


def test_librispeech_mini_real_names(real_data):
    clips, unknown = parse_speakers(real_data / "librispeech-mini", n_folds=4)
    assert len(clips) == 251 and unknown == []
    assert sorted(c.label for c in clips) == list(range(251))
    listed = {line.split("|")[0].strip() for line in
              (real_data / "librispeech-mini" / "train-clean-100" / "SPEAKERS.TXT").read_text().splitlines()
              if line and not line.startswith(";")}
    assert {c.speaker for c in clips} <= listed
    assert all(c.id.startswith(c.speaker + "-") for c in clips)
    assert Counter(c.fold for c in clips) == {1: 63, 2: 63, 3: 63, 4: 62}
    assert all(1.5 < c.duration < 17.5 for c in clips)


def _libri_subset(real_data: Path, tmp_path: Path, n: int = 3) -> tuple[Path, list[Path]]:
    """A corpus folder of links to the first `n` LibriSpeech-mini utterances, and their paths."""
    corpus = tmp_path / "libri"
    corpus.mkdir()
    sources = sorted((real_data / "librispeech-mini" / "train-clean-100").glob("*.flac"))[:n]
    for p in sources:
        (corpus / p.name).symlink_to(p)
    return corpus, sources


def test_librispeech_chopped_segments_cached(real_data, tmp_path):
    corpus, sources = _libri_subset(real_data, tmp_path)
    out = tmp_path / "out"
    assert load_script("speakers").main(["--corpus", str(corpus), "--out", str(out), "--segment", "2.0",
                                     "--hop", "1.5", "--n-mels", "32"]) == 0
    rows = read_manifest(out / "manifest.csv")
    expected = []
    for p in sources:
        info = sf.info(p)
        expected += [(p.stem, a, b) for a, b in segment_bounds(info.frames, info.samplerate, 2.0, 1.5, 1.0)]
    assert len(rows) == len(expected) > 10
    for row, (stem, a, b) in zip(rows, expected):
        assert row.extra["source"].endswith(stem + ".flac") and row.speaker == stem.split("-")[0]
        seg, sr = sf.read(row.path, dtype="int16")
        src, _ = sf.read(corpus / f"{stem}.flac", start=a, stop=b, dtype="int16")
        assert np.array_equal(seg, src)
        assert float(row.extra["start"]) == pytest.approx(a / sr) and row.duration == pytest.approx((b - a) / sr)
    from audiocs.cache import FeatureCache

    cache = FeatureCache(out / "features-logmel")
    assert len(cache) == len(rows) and sorted(set(cache.labels.tolist())) == [0, 1, 2]
    assert cache[0].shape == (1 + 32000 // 160, 32)


def test_speaker_folders_layout(tmp_path, capsys):
    root = tmp_path / "vox"
    for k, (spk, video, utt) in enumerate([("id10002", "vA", "00001"), ("id10001", "vB", "00001"),
                                           ("id10001", "vC", "00002"), ("id10010", "vA", "00001")]):
        tone_wav(root / spk / video / f"{utt}.wav", 0.2, seed=k)
    tone_wav(root / "stray.wav", 0.2)
    manifest = prepare_speakers(root, tmp_path / "out")
    assert "1 files outside a speaker folder: stray.wav" in capsys.readouterr().err
    rows = read_manifest(manifest)
    assert [(r.id, r.label, r.speaker) for r in rows] == [
        ("id10001/vB/00001", 0, "id10001"), ("id10001/vC/00002", 0, "id10001"),
        ("id10002/vA/00001", 1, "id10002"), ("id10010/vA/00001", 2, "id10010")]
    with pytest.raises(AudiocsError, match="outside a speaker folder"):
        prepare_speakers(root, tmp_path / "o2", strict=True)
    # chopped: an undecodable file stays one whole row, for the cache to reject with a reason
    (root / "id10002" / "vA" / "bad.wav").write_bytes(b"RIFF" + bytes(range(200)))
    rows = read_manifest(prepare_speakers(root, tmp_path / "o3", segment=0.1))
    assert [r.id for r in rows if r.speaker == "id10002"] == [
        "id10002/vA/00001-seg0000", "id10002/vA/00001-seg0001", "id10002/vA/bad"]
    assert Path(rows[0].path) == tmp_path / "o3" / "segments" / "id10001" / "vB" / "00001-seg0000.wav"


def test_speed_perturbation_closed_form(tmp_path):
    """A copy at speed f of a 500 Hz tone lasts 1/f as long and peaks at 500 f Hz."""
    root, sr = tmp_path / "spk", 16000
    for k, spk in enumerate(["s1", "s2", "s3"]):
        t = np.arange(sr) / sr
        root.joinpath(spk).mkdir(parents=True)
        sf.write(root / spk / "u.wav", (0.3 * np.sin(2 * np.pi * 500 * (k + 1) * t)).astype(np.float32), sr)
    (root / "s3" / "bad.wav").write_bytes(b"RIFF" + bytes(range(200)))  # undecodable: no copy
    rows = read_manifest(prepare_speakers(root, tmp_path / "out", n_folds=3, speed=[1.1, 0.9],
                                          perturb_folds=[1, 3]))
    folds = {r.speaker: r.fold for r in rows}
    assert folds["s1"] == 1 and folds["s3"] == 3  # speakers of fold 2 get no copies
    copies = [(r.id, r.label, r.label_name, r.fold, r.extra["speed"]) for r in rows if r.extra.get("speed")]
    assert copies == [("s1/u-sp0.9", 3, "sp0.9-s1", 1, "0.9"), ("s3/u-sp0.9", 4, "sp0.9-s3", 3, "0.9"),
                      ("s1/u-sp1.1", 5, "sp1.1-s1", 1, "1.1"), ("s3/u-sp1.1", 6, "sp1.1-s3", 3, "1.1")]
    for r in rows:
        if not r.extra.get("speed"):
            continue
        factor, source = float(r.extra["speed"]), int(r.speaker[-1])
        wave, rate = sf.read(r.path)
        assert rate == sr and len(wave) == pytest.approx(sr / factor, abs=2)
        assert r.duration == pytest.approx(1 / factor)
        peak = np.argmax(np.abs(np.fft.rfft(wave))) * rate / len(wave)
        assert peak == pytest.approx(500 * source * factor, abs=2)
    with pytest.raises(AudiocsError, match="differ from 1"):
        prepare_speakers(root, tmp_path / "o2", speed=[1.0])


def test_librispeech_speed_copies_of_training_folds_cut_and_cached(real_data, tmp_path):
    corpus, sources = _libri_subset(real_data, tmp_path)
    out = tmp_path / "out"
    assert load_script("speakers").main(["--corpus", str(corpus), "--out", str(out), "--folds", "3",
                                         "--train-folds", "2", "3", "--speed", "0.9", "--segment", "2.0",
                                         "--n-mels", "32", "--workers", "1"]) == 0
    rows = read_manifest(out / "manifest.csv")
    originals = {r.speaker: r.fold for r in rows if not r.extra.get("speed")}
    copied = {r.speaker for r in rows if r.extra.get("speed")}
    assert copied == {f"sp0.9-{s}" for s, f in originals.items() if f in (2, 3)} and len(copied) == 2
    for spk in copied:  # the copy is 1/0.9 as long as its source: cut into as many 2 s pieces
        source = next(p for p in sources if p.stem.startswith(spk.split("-")[1] + "-"))
        info = sf.info(source)
        bounds = segment_bounds(round(info.frames / 0.9), info.samplerate, 2.0, 2.0, 1.0)
        pieces = [r for r in rows if r.speaker == spk]
        assert len(pieces) == len(bounds) and all(sf.info(r.path).samplerate == 16000 for r in pieces)
    from audiocs.cache import FeatureCache

    cache = FeatureCache(out / "features-logmel")
    assert len(cache) == len(rows) and sorted(set(cache.labels.tolist())) == [0, 1, 2, 3, 4]


def test_speaker_noise_copies_of_training_segments_never_train_beside_their_validated_source(tmp_path):
    root = tmp_path / "spk"
    for k, spk in enumerate(["s1", "s2", "s3", "s4", "s5", "s6"]):
        tone_wav(root / spk / "u.wav", 1.0, seed=k)
    out = tmp_path / "out"
    assert load_script("speakers").main([
        "--corpus", str(root), "--out", str(out), "--folds", "3", "--train-folds", "2", "3",
        "--segment", "0.4", "--hop", "0.2", "--speed", "0.9", "--noise", "5", "20",
        "--n-mels", "16", "--workers", "1"]) == 0
    from audiocs.cache import FeatureCache
    from audiocs.config import DataConfig
    from audiocs.splits import resolve_splits

    cache = FeatureCache(out / "features-logmel")
    rows = {r.id: r for r in cache.rows}
    plain = [r for r in cache.rows if not r.extra.get("speed") and not r.extra.get("noise")]
    noisy = [r for r in cache.rows if r.extra.get("noise")]
    # one copy of each original segment of folds 2-3, none of fold 1's or of the speed copies
    assert sorted(r.extra["copy_of"] for r in noisy) == sorted(r.id for r in plain if r.fold > 1)
    assert len(noisy) == 16  # 4 speakers x 4 segments of 0.4 s every 0.2 s in 1 s
    for r in noisy:
        source = rows[r.extra["copy_of"]]
        assert r.id == source.id + "-noise" and not source.extra.get("speed")
        assert (r.label, r.speaker, r.fold) == (source.label, source.speaker, source.fold)
        clean, _ = sf.read(source.path, dtype="float64")
        dirty, _ = sf.read(r.path, dtype="float64")
        snr = 10 * np.log10(np.mean(clean ** 2) / np.mean((dirty - clean) ** 2))
        assert snr == pytest.approx(float(r.extra["noise"].split(":")[1]), abs=0.06)
    assert [cache.rows[i].id for i in cache.origins if i >= 0] == [r.extra["copy_of"] for r in noisy]
    # a validation segment drawn from the training folds has no noisy twin in training
    s = resolve_splits(cache.folds, cache.labels, DataConfig(test_folds=[1], valid_split="fraction",
                       valid_fraction=0.25), 0, cache.copies, cache.origins)
    valid = {cache.rows[i].id for i in s.valid}
    trained = [cache.rows[i] for i in s.train]
    assert len(valid) == 4 and not any(r.extra.get("copy_of") in valid for r in trained)
    assert sum(bool(r.extra.get("noise")) for r in trained) == 12


def test_extra_speakers_are_fold_0_training_speakers_after_the_corpus_labels(tmp_path):
    root, extra = tmp_path / "spk", tmp_path / "commands"
    for k, spk in enumerate(["s1", "s2"]):
        tone_wav(root / spk / "u.wav", 0.2, seed=k)
    for k, (word, name) in enumerate([("yes", "aa11bb22_nohash_0"), ("no", "aa11bb22_nohash_1"),
                                      ("no", "0c0c0c0c_nohash_0")]):
        tone_wav(extra / word / f"{name}.wav", 0.2, seed=10 + k)
    rows = read_manifest(prepare_speakers(root, tmp_path / "out", n_folds=2, speed=[0.9],
                                          perturb_folds=[1], extra_speakers=extra))
    originals = [(r.id, r.label, r.label_name, r.fold) for r in rows if not r.extra.get("speed")]
    assert originals == [("s1/u", 0, "s1", 1), ("s2/u", 1, "s2", 2),
                         ("extra/no/0c0c0c0c_nohash_0", 2, "extra-0c0c0c0c", 0),
                         ("extra/no/aa11bb22_nohash_1", 3, "extra-aa11bb22", 0),
                         ("extra/yes/aa11bb22_nohash_0", 3, "extra-aa11bb22", 0)]
    # the extra speakers are perturbed with the training folds' (fold 1), not fold 2's
    copies = sorted((r.label_name, r.fold) for r in rows if r.extra.get("speed"))
    assert copies == [("sp0.9-extra-0c0c0c0c", 0), ("sp0.9-extra-aa11bb22", 0),
                      ("sp0.9-extra-aa11bb22", 0), ("sp0.9-s1", 1)]
    from audiocs.config import DataConfig
    from audiocs.splits import resolve_splits

    folds = np.array([r.fold for r in rows])
    splits = resolve_splits(folds, np.array([r.label for r in rows]),
                            DataConfig(test_folds=[2], valid_split="fraction", valid_fraction=0.0),
                            0, np.array([bool(r.extra.get("speed")) for r in rows]))
    assert set(folds[splits.train]) == {0, 1} and set(folds[splits.test]) == {2}
    # another corpus of speaker folders: its folder names; no audio at all: a named error
    rows = read_manifest(prepare_speakers(extra, tmp_path / "o2", n_folds=1, extra_speakers=root))
    assert {r.speaker for r in rows if r.fold == 0} == {"extra-s1", "extra-s2"}
    (extra / "yes" / "loop").symlink_to(extra)  # a link back up: each real folder read once
    (root / "s3").symlink_to(extra / "no")  # a linked speaker folder is read through
    rows = read_manifest(prepare_speakers(root, tmp_path / "o4", n_folds=1, extra_speakers=extra))
    assert sorted(r.id for r in rows) == [
        "extra/no/0c0c0c0c_nohash_0", "extra/no/aa11bb22_nohash_1", "extra/yes/aa11bb22_nohash_0",
        "s1/u", "s2/u", "s3/0c0c0c0c_nohash_0", "s3/aa11bb22_nohash_1"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudiocsError, match="empty: no speaker's audio"):
        prepare_speakers(root, tmp_path / "o3", extra_speakers=tmp_path / "empty")


def test_speech_commands_speakers_join_librispeech_training(real_data, tmp_path):
    corpus, _ = _libri_subset(real_data, tmp_path)
    out = tmp_path / "out"
    assert load_script("speakers").main(["--corpus", str(corpus), "--out", str(out), "--folds", "3",
                                         "--train-folds", "2", "3", "--segment", "1.5",
                                         "--extra-speakers", str(real_data / "speech-commands-mini"),
                                         "--n-mels", "32", "--workers", "1"]) == 0
    from audiocs.cache import FeatureCache

    cache = FeatureCache(out / "features-logmel")
    extra = [r for r in cache.rows if r.fold == 0]
    assert len(extra) == 300 and len({r.speaker for r in extra}) == 41  # 1 s clips: kept whole
    assert all(r.speaker.startswith("extra-") and r.label >= 3 for r in extra)
    assert sorted(set(cache.labels.tolist())) == list(range(3 + 41))


# --- Speech Commands -----------------------------------------------------------------------------


def test_speech_commands_real_mini(real_data):
    clips, odd = parse_speech_commands(real_data / "speech-commands-mini")
    assert len(clips) == 300 and odd == []
    assert Counter(c.label_name for c in clips) == {w: 10 for w in {c.label_name for c in clips}}
    assert len({c.label for c in clips}) == 30 and len({c.speaker for c in clips}) == 41
    split_of = defaultdict(set)
    for c in clips:
        split_of[c.speaker].add(c.extra["split"])
        assert c.fold == {"train": 1, "validation": 2, "test": 3}[c.extra["split"]]
    assert all(len(s) == 1 for s in split_of.values())  # a speaker never crosses splits
    by_speaker, _ = parse_speech_commands(real_data / "speech-commands-mini", task="speakers")
    assert sorted({c.label for c in by_speaker}) == list(range(41))


def test_speech_commands_lists_and_background_noise(tmp_path):
    root = tmp_path / "sc"
    for k, rel in enumerate(["yes/aa11_nohash_0.wav", "yes/bb22_nohash_0.wav", "no/aa11_nohash_1.wav",
                             "no/cc33_nohash_0.wav", "_background_noise_/white_noise.wav"]):
        tone_wav(root / rel, 0.1, seed=k)
    (root / "validation_list.txt").write_text("yes/bb22_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/cc33_nohash_0.wav\n")
    rows = read_manifest(prepare_speech_commands(root, tmp_path / "out"))
    assert [(r.id, r.label, r.speaker, r.extra["split"], r.fold) for r in rows] == [
        ("no/aa11_nohash_1", 0, "aa11", "train", 1), ("no/cc33_nohash_0", 0, "cc33", "test", 3),
        ("yes/aa11_nohash_0", 1, "aa11", "train", 1), ("yes/bb22_nohash_0", 1, "bb22", "validation", 2)]
