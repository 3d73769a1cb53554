"""Free Spoken Digit Dataset: ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz, 6 speakers).

Every row keeps its speaker and the conventional split (``split`` = test for index 0-4, else
train). ``task="digits"``: label = digit, fold = speaker number 1..6 in name order, so that
leaving one fold out is a speaker-independent test. ``task="speakers"``: label = speaker index,
fold = 1 + index // 10 (five folds of ten takes, every speaker in every fold). ``speed``
adds speed-perturbed copies (:func:`audiocs.prep.common.perturb_speed`): the same digit for
``digits``, a new speaker for ``speakers``; copies are training rows only. ``extra_digits`` (a
Speech Commands corpus) adds its spoken digits, ``zero`` to ``nine``, as fold-0 rows of the
digits task: other voices that every fold trains on and none tests on (fold 0 is no fold).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from audiocs.audio import AudioError, read_audio, speech_span
from audiocs.errors import AudiocsError
from audiocs.fileio import atomic_path
from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    add_noise, group_folds, index_labels, perturb_speed, prepare_once, report_names,
    with_durations,
)
from audiocs.prep.download import download_and_extract
from audiocs.prep.speech_commands import parse_speech_commands

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
# A GitHub branch archive may change, so no digest is pinned (the download prints its digest).
FSDD_SHA256: str | None = None
TEST_INDICES = range(0, 5)
TASKS = ("digits", "speakers")
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
EXTRA_DIR = "extra"


def is_complete(corpus_dir: Path) -> bool:
    """True when ``recordings/`` holds at least one ``{digit}_{speaker}_{index}.wav``."""
    rec = Path(corpus_dir) / "recordings"
    return rec.is_dir() and any(_NAME.match(p.name) for p in rec.glob("*.wav"))


def download_fsdd(
    target_dir: Path, *, name: str = "free-spoken-digit-dataset-master", url: str = FSDD_URL,
    sha256: str | None = FSDD_SHA256,
) -> Path:
    """Download and unpack FSDD as ``target_dir/name``; returns the corpus folder."""
    return download_and_extract(url, Path(target_dir), name, sha256=sha256, is_complete=is_complete)


def parse_fsdd(corpus_dir: Path, *, task: str = "digits") -> tuple[list[ManifestRow], list[str]]:
    """Clips of FSDD for `task` and the names of ``.wav`` files that do not follow the scheme."""
    if task not in TASKS:
        raise AudiocsError(f"unknown FSDD task {task!r} (choose from {', '.join(TASKS)})")
    rec = Path(corpus_dir).resolve() / "recordings"
    if not rec.is_dir():
        raise AudiocsError(f"{rec}: folder not found (expected recordings/*.wav)")
    parsed, odd = [], []
    for p in sorted(rec.glob("*.wav")):
        m = _NAME.match(p.name)
        if m:
            parsed.append((p, int(m[1]), m[2], int(m[3])))
        else:
            odd.append(p.name)
    speakers = index_labels(s for _, _, s, _ in parsed)
    speaker_fold = group_folds(speakers)
    clips = []
    for p, digit, speaker, index in parsed:
        by_digit = task == "digits"
        clips.append(ManifestRow(
            id=p.stem, path=str(p), label=digit if by_digit else speakers[speaker],
            label_name=str(digit) if by_digit else speaker,
            fold=speaker_fold[speaker] if by_digit else 1 + index // 10, speaker=speaker,
            extra={"split": "test" if index in TEST_INDICES else "train", "digit": str(digit),
                   "take": str(index)},
        ))
    return with_durations(clips), odd


def parse_extra_digits(corpus_dir: Path) -> list[ManifestRow]:
    """The clips of the digit folders ``zero`` .. ``nine`` of a Speech Commands corpus as FSDD
    digit rows of fold 0 (training only); speaker ``sc-<hash>``, id ``sc/<word>/<name>``."""
    root = Path(corpus_dir).resolve()
    missing = [w for w in DIGIT_WORDS if not (root / w).is_dir()]
    if missing:
        raise AudiocsError(f"{root}: no digit folders {', '.join(missing)} (expected a Speech Commands "
                           "corpus with one folder per word)")
    clips, _ = parse_speech_commands(root)
    rows = []
    for c in clips:
        word = c.extra["word"]
        if word in DIGIT_WORDS:
            digit = DIGIT_WORDS.index(word)
            rows.append(ManifestRow(
                id=f"sc/{c.id}", path=c.path, label=digit, label_name=str(digit), fold=0,
                speaker=f"sc-{c.speaker}", duration=c.duration,
                extra={"split": "train", "digit": str(digit), "take": "", "source": c.path}))
    return rows


def trim_extra(rows: list[ManifestRow], out_dir: Path) -> list[ManifestRow]:
    """`rows` whose ``source`` is set, cut to their speech (:func:`audiocs.audio.speech_span`) as
    FSDD's recordings are and written once as ``out_dir/extra/<id>.wav``; other rows unchanged.

    A source that cannot be read keeps its path, so that the feature cache names its reason.
    """
    out = []
    for r in rows:
        if not r.extra.get("source"):
            out.append(r)
            continue
        rel = Path(EXTRA_DIR) / f"{r.id.removeprefix('sc/')}.wav"
        target = out_dir / rel
        if not target.is_file():  # cut once; a re-run only reads the cut file's length
            try:
                wave, rate = read_audio(r.extra["source"])
            except AudioError:
                out.append(r)
                continue
            start, stop = speech_span(wave, rate)
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                sf.write(tmp, wave[start:stop], rate, subtype="FLOAT", format="WAV")
        out.append(dataclasses.replace(r, path=rel.as_posix(), duration=sf.info(target).duration))
    return out


def prepare_fsdd(
    corpus_dir: Path, out_dir: Path, *, task: str = "digits", speed: list[float] | None = None,
    perturb_folds: list[int] | None = None, extra_digits: Path | None = None,
    noise: Sequence[float] | None = None, strict: bool = False, force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for FSDD; names off the scheme warn (error with `strict`).

    `speed` factors add copies of the clips of `perturb_folds` (None: all folds), and so does
    `noise` (an SNR range in dB: one noisy copy per clip, :func:`audiocs.prep.common.add_noise`);
    `extra_digits` (digits task only) adds the trimmed digit words of a Speech Commands corpus as
    fold 0.
    """
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir)
    options = {"corpus": str(corpus_dir), "name": "fsdd", "task": task}
    speed = sorted(set(speed or []))
    if speed or noise:
        options.update(speed=speed, perturb_folds=perturb_folds)
    if noise:
        options["noise"] = [float(x) for x in noise]
    clips, odd = parse_fsdd(corpus_dir, task=task)
    report_names(corpus_dir, odd, "files not named digit_speaker_index.wav", strict=strict)
    if extra_digits is not None:
        if task != "digits":
            raise AudiocsError(f"--extra-digits adds digit words: it needs --task digits, not {task}")
        options["extra_digits"] = str(Path(extra_digits).resolve())
        clips = clips + parse_extra_digits(extra_digits)

    def finish(rows: list[ManifestRow]) -> list[ManifestRow]:
        rows = trim_extra(rows, out_dir) if extra_digits is not None else rows
        rows = perturb_speed(rows, out_dir, speed, perturb_folds,
                             new_speakers=task == "speakers") if speed else rows
        return add_noise(rows, out_dir, noise, perturb_folds) if noise else rows

    return prepare_once(out_dir, options, clips, force=force, finish=finish)
