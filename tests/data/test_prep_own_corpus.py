"""The user's own corpus: class folders and a table (CSV/TSV), folds dealt or given, bad input."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from helpers import load_script, tone_wav, write_config

from audiocs.errors import AudiocsError
from audiocs.manifest import ManifestRow, read_manifest
from audiocs.prep import parse_folders, parse_table, prepare_folders, prepare_table
from audiocs.prep.common import deal_folds, fold_summary, natural_key

WORDS = ("bed", "bird", "cat", "dog", "down", "eight")
SPEAKER = r"_([a-z]+)_"  # FSDD: {digit}_{speaker}_{take}.wav


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def _sc_folders(real_data: Path, root: Path) -> Path:
    """Six Speech Commands words as class folders (10 real clips each)."""
    for w in WORDS:
        for p in sorted((real_data / "speech-commands-mini" / w).glob("*.wav")):
            _link(p, root / w / p.name)
    return root


def _fsdd_folders(real_data: Path, root: Path, digits: int = 10, takes: int = 5) -> Path:
    """FSDD digits as class folders: root/<digit>/{digit}_{speaker}_{take}.wav, 6 speakers."""
    for p in sorted((real_data / "fsdd" / "recordings").glob("*.wav")):
        digit, _, take = p.stem.split("_")
        if int(digit) < digits and int(take) < takes:
            _link(p, root / digit / p.name)
    return root


def _write(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _per_fold(rows, key) -> dict[int, set]:
    out = defaultdict(set)
    for r in rows:
        out[r.fold].add(key(r))
    return out


# --- shared pieces: dealing folds and the count table ----------------------------------------


def test_deal_folds_stratified_and_seeded():
    labels = ["a"] * 7 + ["b"] * 5 + ["c"] * 2
    folds = deal_folds(labels, 3, seed=0)
    per = Counter(zip(labels, folds))
    assert sorted(per[("a", f)] for f in (1, 2, 3)) == [2, 2, 3]
    assert sorted(per[("b", f)] for f in (1, 2, 3)) == [1, 2, 2]
    assert sorted(per[("c", f)] for f in (1, 2, 3)) == [0, 1, 1]
    assert sorted(Counter(folds).values()) == [4, 5, 5]  # folds differ by at most one clip
    assert deal_folds(labels, 3, seed=0) == folds
    many = [str(i % 4) for i in range(80)]
    assert deal_folds(many, 5, seed=1) != deal_folds(many, 5, seed=2)
    assert deal_folds(labels, 0) == [0] * len(labels)


def test_deal_folds_keeps_groups_whole_and_balances_them():
    # one class, groups of 4, 3, 3, 2, 2, 2: the largest go first to the smallest fold
    groups = [g for g, n in zip("uvwxyz", (4, 3, 3, 2, 2, 2)) for _ in range(n)]
    folds = deal_folds(["a"] * len(groups), 3, groups=groups, seed=0)
    assert all(len(fs) == 1 for fs in _group_folds(groups, folds).values())
    assert sorted(Counter(folds).values()) == [5, 5, 6]
    # groups of one class each: every fold gets one group of each class
    groups = [f"{c}{k}" for c in "ab" for k in range(3) for _ in range(2)]
    labels = [g[0] for g in groups]
    folds = deal_folds(labels, 3, groups=groups, seed=5)
    assert Counter(zip(labels, folds)) == {(c, f): 2 for c in "ab" for f in (1, 2, 3)}
    # mixed groups: a later group goes where its classes are fewest, not only to the smaller
    # fold (by size alone, the folds would hold 4 a + 1 b and 1 a + 4 b)
    groups = ["g1"] * 3 + ["g2"] * 3 + ["g3"] * 2 + ["g4"] * 2
    labels = list("aab" "abb" "aa" "bb")
    folds = deal_folds(labels, 2, groups=groups)
    assert Counter(zip(labels, folds)) == {("a", 1): 2, ("b", 1): 3, ("a", 2): 3, ("b", 2): 2}


def _group_folds(groups, folds) -> dict[str, set[int]]:
    out = defaultdict(set)
    for g, f in zip(groups, folds):
        out[g].add(f)
    return out


def test_fold_summary_table_and_warnings():
    rows = [ManifestRow(id=f"{c}{i}", path="x", label=0, label_name=c, fold=f)
            for i, (c, f) in enumerate([("dog", 1), ("dog", 3), ("dog", 3), ("rain", 1)])]
    table, warnings = fold_summary(rows)
    assert table.splitlines() == [
        "class  fold 1  fold 3  total",
        "dog         1       2      3",
        "rain        1       0      1",
        "total       2       2      4",
    ]
    assert warnings == ["1 folds with no clips: 2",
                        "1 classes with fewer clips than the 3 folds (missing from some folds): "
                        "rain (1)"]


# --- class folders -----------------------------------------------------------------------------


def test_speech_commands_words_as_class_folders(real_data, tmp_path, capsys):
    corpus = _sc_folders(real_data, tmp_path / "corpus")
    out = tmp_path / "out"
    assert load_script("folders").main(["--corpus", str(corpus), "--out", str(out), "--folds", "5",
                                    "--no-features"]) == 0
    printed = capsys.readouterr()
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 60 and [r.label_name for r in rows[::10]] == list(WORDS)
    assert all(r.label == WORDS.index(r.label_name) for r in rows)
    bed = sorted((f"bed/{p.stem}" for p in (corpus / "bed").iterdir()), key=natural_key)
    assert [r.id for r in rows[:10]] == bed  # natural order: 6d8.. before 625..
    # stratified: every word twice in every fold
    assert Counter((r.label_name, r.fold) for r in rows) == {(w, f): 2 for w in WORDS
                                                             for f in range(1, 6)}
    assert "class  fold 1  fold 2  fold 3  fold 4  fold 5  total" in printed.out
    assert "bed         2       2       2       2       2     10" in printed.out
    assert "fewer clips" not in printed.err
    # deterministic, and the seed changes which clips go together
    again = read_manifest(prepare_folders(corpus, tmp_path / "again", n_folds=5))
    assert [r.fold for r in again] == [r.fold for r in rows]
    other = parse_folders(corpus, n_folds=5, seed=1)
    assert [r.fold for r in other] != [r.fold for r in rows]
    assert Counter((r.label_name, r.fold) for r in other) == Counter(
        (r.label_name, r.fold) for r in rows)
    # the speaker hash as the group: no speaker in two folds
    grouped = parse_folders(corpus, n_folds=3, group_regex=r"/(?P<group>[0-9a-f]+)_nohash_")
    assert all(r.speaker and r.speaker in r.id for r in grouped)
    assert all(len(fs) == 1 for fs in _group_folds([r.speaker for r in grouped],
                                                   [r.fold for r in grouped]).values())
    assert max(Counter(r.fold for r in grouped).values()) <= 24


def test_fsdd_digits_folds_by_speaker(real_data, tmp_path, capsys):
    corpus = _fsdd_folders(real_data, tmp_path / "fsdd")
    rows = read_manifest(prepare_folders(corpus, tmp_path / "out", n_folds=3,
                                         group_regex=SPEAKER))
    assert len(rows) == 300 and {r.speaker for r in rows} == {
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    speakers = _per_fold(rows, lambda r: r.speaker)
    assert sorted(speakers) == [1, 2, 3] and all(len(s) == 2 for s in speakers.values())
    assert sum(len(s) for s in speakers.values()) == 6  # no speaker in two folds
    assert Counter((r.label, r.fold) for r in rows) == {(d, f): 10 for d in range(10)
                                                        for f in (1, 2, 3)}
    assert "total     100     100     100    300" in capsys.readouterr().out
    # four folds for six speakers: still speaker-disjoint, two folds of two speakers
    rows4 = parse_folders(corpus, n_folds=4, group_regex=SPEAKER)
    speakers = _per_fold(rows4, lambda r: r.speaker)
    assert sum(len(s) for s in speakers.values()) == 6
    assert sorted(Counter(r.fold for r in rows4).values()) == [50, 50, 100, 100]


def test_few_clips_warned_and_unreadable_or_stray_files_reported(real_data, tmp_path, capsys):
    corpus = _fsdd_folders(real_data, tmp_path / "c", digits=2, takes=1)  # 2 digits x 6 speakers
    _link(real_data / "fsdd" / "recordings" / "7_theo_0.wav", corpus / "7" / "7_theo_0.wav")
    (corpus / "1" / "notes.wav").write_text("not audio")
    tone_wav(corpus / "stray.wav", 0.1)
    (corpus / "1" / "README.txt").write_text("ignored: not an audio suffix")
    rows = read_manifest(prepare_folders(corpus, tmp_path / "out", n_folds=3))
    err = capsys.readouterr().err
    assert "1 unreadable audio files: 1/notes.wav: not_audio (not an audio file" in err
    assert "1 files outside a class folder: stray.wav" in err
    assert "classes with fewer clips than the 3 folds (missing from some folds): 7 (1)" in err
    assert len(rows) == 13 and "1/notes" not in {r.id for r in rows}
    with pytest.raises(AudiocsError, match=r"corpus check failed: 1 files outside a class folder"):
        prepare_folders(corpus, tmp_path / "o2", strict=True)
    (corpus / "stray.wav").unlink()
    with pytest.raises(AudiocsError, match=r"c: corpus check failed: 1 unreadable audio files: "
                                           r"1/notes\.wav: not_audio"):
        prepare_folders(corpus, tmp_path / "o2", strict=True)
    with pytest.raises(AudiocsError, match="needs one capture group"):
        parse_folders(corpus, group_regex=r"_[a-z]+_")
    (corpus / "1" / "notes.wav").unlink()
    pattern = r"^[01]/\d_(?P<group>[a-z]+)_(\d)"  # a named group among others
    assert {r.speaker for r in parse_folders(corpus, group_regex=pattern)} == {
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    with pytest.raises(AudiocsError, match=re.escape(
            f"1 files whose path --group-regex {pattern} does not match: 7/7_theo_0.wav")):
        parse_folders(corpus, group_regex=pattern, strict=True)


def test_fold_file(real_data, tmp_path, capsys):
    corpus = _fsdd_folders(real_data, tmp_path / "c", digits=3, takes=2)  # 36 clips
    rels = sorted((p.relative_to(corpus).as_posix() for p in corpus.rglob("*.wav")),
                  key=natural_key)
    folds = _write(tmp_path / "folds.csv", ["path", "fold"],
                   [[rel, str(1 + int(rel[-5]))] for rel in rels])
    rows = read_manifest(prepare_folders(corpus, tmp_path / "out", fold_file=folds))
    assert [(r.id, r.fold) for r in rows] == [(rel[:-4], 1 + int(rel[-5])) for rel in rels]
    # a TSV with split names, a duplicate, an unknown fold, a stranger and an unlisted file
    bad = _write(tmp_path / "folds.tsv", ["path", "fold"],
                 [[rel, "test" if rel[-5] == "0" else "train"] for rel in rels[:-1]]
                 + [[rels[0], "valid"], [rels[1], "7"], ["9/9_theo_0.wav", "1"]],
                 delimiter="\t")
    rows = parse_folders(corpus, fold_file=bad, n_folds=3)
    err = capsys.readouterr().err
    assert f"folds.tsv: line 37: duplicate path {rels[0]} (first on line 2) (row skipped)" in err
    assert f"folds.tsv: line 38: duplicate path {rels[1]}" in err
    assert "folds.tsv: line 39: 9/9_theo_0.wav: not an audio file of the corpus" in err
    assert f"1 files not listed in {bad}: {rels[-1]}" in err
    assert len(rows) == 35 and {r.extra["split"] for r in rows} == {"test", "train"}
    assert all(r.fold == (3 if r.extra["split"] == "test" else 1) for r in rows)
    unknown = _write(tmp_path / "u.csv", ["path", "fold"], [[rels[0], "4"], [rels[1], "fold2"]])
    with pytest.raises(AudiocsError, match=r"u\.csv: 2 bad rows: line 2: .*unknown fold '4' "
                                           r"\(expected 1\.\.3 or train/valid/test\); line 3: "
                                           r".*unknown fold 'fold2'"):
        parse_folders(corpus, fold_file=unknown, n_folds=3, strict=True)


# --- a table -------------------------------------------------------------------------------------


def test_table_matches_class_folders(real_data, tmp_path, capsys):
    corpus = _sc_folders(real_data, tmp_path / "corpus")
    by_folders = parse_folders(corpus, n_folds=4)
    rels = sorted((p.relative_to(corpus).as_posix() for p in corpus.rglob("*.wav")),
                  key=natural_key)
    sc = real_data / "speech-commands-mini"
    table = _write(tmp_path / "meta" / "clips.csv", ["file", "word", "speaker", "note"],
                   [[rel, rel.split("/")[0], rel.split("/")[1].split("_")[0], f"n{k}"]
                    for k, rel in enumerate(rels)])
    out = tmp_path / "out"
    assert load_script("table").main(["--corpus", str(table), "--root", str(sc), "--out", str(out),
                                  "--path-column", "file", "--label-column", "word", "--folds",
                                  "4", "--no-features"]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert [(r.id, r.label, r.label_name, r.fold) for r in rows] == [
        (r.id, r.label, r.label_name, r.fold) for r in by_folders]
    assert [Path(r.path) for r in rows] == [sc / rel for rel in rels]
    assert rows[3].extra == {"note": "n3"}  # other columns are kept (speaker only as a group)
    assert "class  fold 1  fold 2  fold 3  fold 4  total" in capsys.readouterr().out
    # TSV beside the clips (the default root), the speaker column as the group
    tsv = _write(tmp_path / "corpus" / "clips.tsv", ["path", "label", "spk"],
                 [[rel, rel.split("/")[0], rel.split("/")[1][:8]] for rel in rels],
                 delimiter="\t")
    grouped = parse_table(tsv, group_column="spk", n_folds=3)
    assert [Path(r.path) for r in grouped] == [corpus / rel for rel in rels]
    assert all(len(fs) == 1 for fs in _group_folds([r.speaker for r in grouped],
                                                   [r.fold for r in grouped]).values())
    # a given fold column, with split names
    split = _write(tmp_path / "corpus" / "split.csv", ["path", "label", "split"],
                   [[rel, rel.split("/")[0], "test" if k % 5 == 0 else "train"]
                    for k, rel in enumerate(rels)])
    given = read_manifest(prepare_table(split, tmp_path / "o3", fold_column="split"))
    assert Counter(r.fold for r in given) == {1: 48, 3: 12}
    assert all(r.extra["split"] == {1: "train", 3: "test"}[r.fold] for r in given)


def test_table_bad_rows(real_data, tmp_path, capsys):
    rec = real_data / "fsdd" / "recordings"
    root = tmp_path / "clips"
    for name in ("0_theo_0.wav", "0_theo_1.wav", "1_theo_0.wav", "1_theo_1.wav"):
        _link(rec / name, root / name)
    (root / "text.wav").write_text("a text file named like audio")
    table = _write(tmp_path / "clips" / "table.csv", ["path", "label", "fold"], [
        ["0_theo_0.wav", "zero", "1"],      # line 2: good
        ["gone.wav", "zero", "1"],          # line 3: missing file
        ["text.wav", "zero", "2"],          # line 4: not audio
        ["0_theo_1.wav", "", "2"],          # line 5: empty label
        ["./0_theo_0.wav", "zero", "2"],    # line 6: duplicate of line 2
        ["1_theo_0.wav", "one", "x"],       # line 7: unknown fold
        ["1_theo_1.wav", "one", "2"],       # line 8: good
    ])
    out = tmp_path / "out"
    args = ["--corpus", str(table), "--out", str(out), "--fold-column", "fold", "--no-features"]
    assert load_script("table").main(args) == 0
    err = capsys.readouterr().err
    for line, why in [(3, "gone.wav: missing (file does not exist)"),
                      (4, "text.wav: not_audio (not an audio file (unknown format))"),
                      (5, "0_theo_1.wav: empty label"),
                      (6, "duplicate path 0_theo_0.wav (first on line 2)"),
                      (7, "1_theo_0.wav: unknown fold 'x'")]:
        assert f"warning: {table}: line {line}: {why}" in err
    assert err.count("(row skipped)") == 5
    rows = read_manifest(out / "manifest.csv")
    assert [(r.id, r.label_name, r.fold) for r in rows] == [("0_theo_0", "zero", 1),
                                                            ("1_theo_1", "one", 2)]
    assert load_script("table").main([*args, "--strict", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert f"error: {table}: 5 bad rows: line 3: gone.wav: missing" in err
    assert "line 4: text.wav: not_audio" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o2" / "manifest.csv").exists()
    with pytest.raises(AudiocsError, match=r"table\.csv: missing column\(s\) class"):
        parse_table(table, label_column="class")
    # dealing by a group column: a row without a group is a bad row
    speakers = _write(root / "speakers.csv", ["path", "label", "speaker"],
                      [["0_theo_0.wav", "zero", "theo"], ["1_theo_0.wav", "one", ""]])
    with pytest.raises(AudiocsError, match=r"speakers\.csv: 1 bad rows: line 3: 1_theo_0\.wav: "
                                           r"no group \(empty speaker\)"):
        parse_table(speakers, group_column="speaker", strict=True)
    assert [(r.id, r.speaker, r.fold) for r in parse_table(speakers, group_column="speaker")] == [
        ("0_theo_0", "theo", 1)]
    with pytest.raises(AudiocsError, match="not both"):
        parse_table(table, group_column="label", group_regex="(x)")


# --- end to end: class folders or a table -> prepare -> crossval -> report ----------------


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["folders", "table"])
def test_own_corpus_prepare_crossval_report(real_data, tmp_path, layout):
    """The three documented steps on real FSDD clips: prepare (class folders, or a CSV with a
    speaker column), crossval over speaker-disjoint folds, report.html."""
    from audiocs.cli import main

    corpus = _fsdd_folders(real_data, tmp_path / "digits", digits=4, takes=4)  # 96 clips
    features = ["--sample-rate", "8000", "--n-fft", "256", "--win-length", "200",
                "--hop-length", "80", "--n-mels", "32", "--workers", "1"]
    out = tmp_path / "prep"
    if layout == "folders":
        args = ["--corpus", str(corpus), "--group-regex", SPEAKER]
    else:
        clips = sorted(corpus.rglob("*.wav"))
        table = _write(tmp_path / "clips.csv", ["file", "digit", "speaker"],
                       [[str(c.relative_to(corpus)), c.parent.name, c.stem.split("_")[1]]
                        for c in clips])
        args = ["--corpus", str(table), "--root", str(corpus), "--path-column", "file",
                "--label-column", "digit", "--group-column", "speaker"]
    assert load_script(layout).main([*args, "--out", str(out), "--folds", "3", *features]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 96
    for fold in (1, 2, 3):  # two whole speakers per fold
        assert len({r.speaker for r in rows if r.fold == fold}) == 2
    config = write_config(tmp_path / "conf.yaml", out / "features-logmel",
                          data={"crop_frames": 24, "batch_size": 8, "valid_split": "folds"},
                          train={"epochs": 1})
    exp = tmp_path / "exp"
    assert main(["crossval", "--config", str(config), "--exp-dir", str(exp)]) == 0
    summary = json.loads((exp / "crossval.json").read_text())
    assert [f["clips"] for f in summary["folds"]] == [32, 32, 32]
    assert main(["report", str(exp), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    for fold, result in zip((1, 2, 3), summary["folds"]):
        assert f"fold{fold}" in page and f"{result['accuracy']:.4f}" in page
