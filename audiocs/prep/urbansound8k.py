"""UrbanSound8K (Salamon et al., 2014): ``audio/fold1..10/*.wav``, ``metadata/UrbanSound8K.csv``.

8732 slices of at most 4 s, 10 classes, 10 official folds. Pad/crop policy: the manifest and
the feature cache keep every slice at its true length (no padding is stored); batches are padded
by ``collate_clips`` and training crops or pads to a fixed number of frames (``crop_frames``),
so a recipe that wants 4 s inputs sets ``crop_frames`` to 4 s of frames.
"""

from __future__ import annotations

from pathlib import Path

from audiocs.manifest import ManifestRow
from audiocs.prep.common import (
    Expected, as_int, completeness, listing, prepare_once, read_table, report, with_durations,
)

META_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
MAX_SECONDS = 4.0


def parse_urbansound8k(corpus_dir: Path) -> list[ManifestRow]:
    """Clips of UrbanSound8K (label = classID, fold = official fold 1..10)."""
    corpus_dir = Path(corpus_dir)
    meta = corpus_dir / "metadata" / "UrbanSound8K.csv"
    clips = []
    for i, r in enumerate(read_table(meta, META_COLUMNS)):
        fold = as_int(meta, i + 2, r, "fold")
        path = (corpus_dir / "audio" / f"fold{fold}" / r["slice_file_name"]).resolve()
        clips.append(ManifestRow(
            id=Path(r["slice_file_name"]).stem, path=str(path),
            label=as_int(meta, i + 2, r, "classID"), label_name=r["class"], fold=fold,
            # times of the slice inside its freesound recording (not offsets into this file)
            extra={"fsID": r["fsID"], "src_start": r["start"], "src_end": r["end"],
                   "salience": r["salience"]},
        ))
    return with_durations(clips)


def prepare_urbansound8k(
    corpus_dir: Path, out_dir: Path, *, strict: bool = False, force: bool = False
) -> Path:
    """Write ``out_dir/manifest.csv`` for UrbanSound8K after a completeness check.

    The check (8732 rows, 10 classes, folds 1-10, every file present, no slice over 4 s) warns,
    or raises AudiocsError with ``strict``.
    """
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir)
    options = {"corpus": str(corpus_dir), "name": "urbansound8k"}
    clips = parse_urbansound8k(corpus_dir)
    problems = completeness(clips, Expected(8732, 10, None, tuple(range(1, 11))))
    long = [c.id for c in clips if c.duration > MAX_SECONDS + 0.01]
    if long:
        problems.append(f"{len(long)} slices longer than {MAX_SECONDS} s: {listing(long)}")
    report(corpus_dir, problems, strict=strict)
    return prepare_once(out_dir, options, clips, force=force)
