"""Free Spoken Digit Dataset: ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz, 6 speakers).

Every row keeps its speaker and the conventional split (``split`` = test for index 0-4, else
train). ``task="digits"``: label = digit, fold = speaker number 1..6 in name order, so that
leaving one fold out is a speaker-independent test. ``task="speakers"``: label = speaker index,
fold = 1 + index // 10 (five folds of ten takes, every speaker in every fold). ``speed``
adds speed-perturbed copies (:func:`audiocs.prep.common.perturb_speed`): the same digit for
``digits``, a new speaker for ``speakers``; copies are training rows only.
"""

from __future__ import annotations

import re
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    group_folds, index_labels, perturb_speed, prepare_once, report_names, with_durations,
)
from audiocs.prep.download import download_and_extract

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
# A GitHub branch archive may change, so no digest is pinned (the download prints its digest).
FSDD_SHA256: str | None = None
TEST_INDICES = range(0, 5)
TASKS = ("digits", "speakers")
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


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


def prepare_fsdd(
    corpus_dir: Path, out_dir: Path, *, task: str = "digits", speed: list[float] | None = None,
    perturb_folds: list[int] | None = None, strict: bool = False, force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for FSDD; names off the scheme warn (error with `strict`).

    `speed` factors add copies of the clips of `perturb_folds` (None: all folds).
    """
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir)
    options = {"corpus": str(corpus_dir), "name": "fsdd", "task": task}
    speed = sorted(set(speed or []))
    if speed:
        options.update(speed=speed, perturb_folds=perturb_folds)
    clips, odd = parse_fsdd(corpus_dir, task=task)
    report_names(corpus_dir, odd, "files not named digit_speaker_index.wav", strict=strict)

    def finish(rows: list[ManifestRow]) -> list[ManifestRow]:
        return perturb_speed(rows, out_dir, speed, perturb_folds,
                             new_speakers=task == "speakers") if speed else rows

    return prepare_once(out_dir, options, clips, force=force, finish=finish)
