"""Speech Commands (Warden, 2018): ``<word>/<speakerhash>_nohash_<n>.wav``, one folder a word.

``_background_noise_`` (and any folder starting with ``_``) is skipped. The split comes from
``validation_list.txt`` / ``testing_list.txt`` when present, else from the corpus's own rule
(SHA-1 of the speaker hash, 10 % validation, 10 % test), so a speaker never crosses splits.
fold = 1 train, 2 validation, 3 test (also in the ``split`` column).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from audiocs.errors import AudiocsError
from audiocs.manifest import ManifestRow
from audiocs.prep.common import index_labels, prepare_once, report_names, with_durations

TASKS = ("words", "speakers")
SPLIT_FOLDS = {"train": 1, "validation": 2, "test": 3}
FILE_NAME = re.compile(r"^([0-9a-fA-F]+)_nohash_(\d+)\.wav$")
_MAX_PER_CLASS = 2**27 - 1


def hash_split(speaker: str, validation_pct: float = 10.0, test_pct: float = 10.0) -> str:
    """The split a speaker hash falls in under the corpus's SHA-1 rule."""
    value = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % (_MAX_PER_CLASS + 1)
    pct = value * (100.0 / _MAX_PER_CLASS)
    if pct < validation_pct:
        return "validation"
    return "test" if pct < validation_pct + test_pct else "train"


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def parse_speech_commands(
    corpus_dir: Path, *, task: str = "words"
) -> tuple[list[ManifestRow], list[str]]:
    """Clips (label = word, or speaker with ``task="speakers"``) and off-scheme file names."""
    if task not in TASKS:
        raise AudiocsError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    root = Path(corpus_dir).resolve()
    if not root.is_dir():
        raise AudiocsError(f"{root}: corpus folder not found")
    val, test = _read_list(root / "validation_list.txt"), _read_list(root / "testing_list.txt")
    use_lists = bool(val or test)
    found, odd = [], []
    for word_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("_")):
        for p in sorted(word_dir.glob("*.wav")):
            m = FILE_NAME.match(p.name)
            if m:
                found.append((p, word_dir.name, m[1]))
            else:
                odd.append(f"{word_dir.name}/{p.name}")
    words = index_labels(w for _, w, _ in found)
    speakers = index_labels(s for _, _, s in found)
    clips = []
    for p, word, speaker in found:
        rel = f"{word}/{p.name}"
        if use_lists:
            split = "validation" if rel in val else "test" if rel in test else "train"
        else:
            split = hash_split(speaker)
        by_word = task == "words"
        clips.append(ManifestRow(
            id=f"{word}/{p.stem}", path=str(p), label=words[word] if by_word else speakers[speaker],
            label_name=word if by_word else speaker, fold=SPLIT_FOLDS[split], speaker=speaker,
            extra={"split": split, "word": word},
        ))
    return with_durations(clips), odd


def prepare_speech_commands(
    corpus_dir: Path, out_dir: Path, *, task: str = "words", strict: bool = False,
    force: bool = False,
) -> Path:
    """Write ``out_dir/manifest.csv`` for Speech Commands; off-scheme names warn (or fail)."""
    corpus_dir = Path(corpus_dir).resolve()
    options = {"corpus": str(corpus_dir), "name": "speech_commands", "task": task}
    clips, odd = parse_speech_commands(corpus_dir, task=task)
    report_names(corpus_dir, odd, "files not named <hash>_nohash_<n>.wav", strict=strict)
    return prepare_once(out_dir, options, clips, force=force)
